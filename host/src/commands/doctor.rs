//! `clx doctor`: is every converter ready to run here? Each plugin answers for
//! itself through `tool_identity`, so a third-party plugin's missing tool is
//! reported the same way as ours. Run inside a course, it also names the
//! topics no course spec lists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use abi_stable::std_types::RResult;
use anyhow::Result;
use clx::course::paths::display;
use clx::course::scan::TopicMap;
use clx::course::spec;
use clx::plugin::{CandidateStatus, Registry};
use clx::report::{Diagnostic, Location};

use crate::cli::GlobalArgs;

pub fn run(global: &GlobalArgs) -> Result<ExitCode> {
    let (registry, config) = super::discover_plugins(global, std::env::current_dir().ok().as_deref())?;
    let mut problems = 0;
    for candidate in &registry.candidates {
        let Some(plugin) = &candidate.plugin else {
            if let Some(reason) = candidate.status.reason() {
                outln!("skipped  {} (from {}): {reason}", candidate.path.display(), candidate.added_by);
            }
            continue;
        };
        if !matches!(candidate.status, CandidateStatus::Ok) {
            outln!(
                "skipped  {} ({}): {}",
                plugin.name(),
                candidate.path.display(),
                candidate.status.reason().unwrap_or_default()
            );
            continue;
        }
        let converter = match plugin.new_converter(&config.converter_json(plugin.name())) {
            Ok(c) => c,
            Err(e) => {
                problems += 1;
                // A refused `[converters.NAME]` table is shown at its line.
                match config.converter_error(plugin.name(), &e.to_string()) {
                    Some(at) => outln!("CONFIG   {}: {at}", plugin.name()),
                    None => outln!("MISSING  {}: {e}", plugin.name()),
                }
                continue;
            }
        };
        if let Some(course) = std::env::current_dir().ok().filter(|d| d.join("slides").is_dir()) {
            for line in converter.doctor(course.to_string_lossy().as_ref().into()) {
                outln!("course   {}: {line}", plugin.name());
            }
        }
        for jt in plugin.manifest.job_types.iter() {
            match converter.tool_identity(jt.name.as_str().into()) {
                RResult::ROk(id) if id.is_empty() => outln!("ready    {} ({})", jt.name, plugin.name()),
                // An identity of several parts (the notebook plugin's: one
                // per course language) reads best one part a line.
                RResult::ROk(id) if id.contains("; ") => {
                    outln!("ready    {} ({}):", jt.name, plugin.name());
                    for part in id.split("; ") {
                        outln!("           {part}");
                    }
                }
                RResult::ROk(id) => outln!("ready    {} ({}): {id}", jt.name, plugin.name()),
                RResult::RErr(e) => {
                    problems += 1;
                    outln!("MISSING  {} ({}): {e}", jt.name, plugin.name());
                }
            }
        }
    }
    // Every unmet requirement of the course, not only the first a build stops at.
    let unmet = registry.unmet_requirements(&config.required_plugins);
    for requirement in &unmet {
        outln!("UNMET    {requirement}");
    }
    if let Some(root) = std::env::current_dir().ok().and_then(|d| course_root(&d)) {
        report_unlisted_topics(&root, &registry);
    }
    outln!("");
    super::print_search_path(&registry)?;
    if problems > 0 {
        outln!("\n{problems} converter(s) not ready; `scripts/setup` installs every external tool clx uses");
    }
    if !unmet.is_empty() {
        outln!("\n{} plugin requirement(s) of clx.toml not met; a build stops at the first", unmet.len());
    }
    if problems > 0 || !unmet.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The course around `here`: the nearest folder (this one or above) with
/// `slides/` and `course-specs/`.
fn course_root(here: &Path) -> Option<PathBuf> {
    here.ancestors().find(|d| d.join("slides").is_dir() && d.join("course-specs").is_dir()).map(Path::to_owned)
}

/// Topics below `slides/` that no spec in `course-specs/` lists, one
/// warning each: a build only reads what its spec lists, so such a deck is
/// never published, and saying so on every build would drown the rest.
fn report_unlisted_topics(root: &Path, registry: &Registry) {
    let Ok(map) = TopicMap::scan(root, registry) else { return };
    let mut listed = BTreeSet::new();
    let specs = std::fs::read_dir(root.join("course-specs")).into_iter().flatten().flatten().map(|e| e.path());
    for spec in specs.filter(|p| p.extension().is_some_and(|e| e == "xml")) {
        match spec::parse_file(&spec) {
            Ok(spec) => listed.extend(spec.sections.into_iter().flat_map(|s| s.topics).map(|t| t.id)),
            // A spec that does not parse may list anything: claim nothing.
            Err(_) => return,
        }
    }
    for (id, path) in map.topics.iter().filter(|(id, _)| !listed.contains(*id)) {
        let d = Diagnostic::warning(
            display(root, path),
            Location::NONE,
            format!(
                "topic `{id}` is in no course spec, so no build publishes it; add <topic>{id}</topic> to a \
                 section of a spec in course-specs/, or rename its folder to start with `_` to keep it as a draft"
            ),
        );
        eprintln!("{d}");
    }
}
