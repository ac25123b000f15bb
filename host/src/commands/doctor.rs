//! `clx doctor`: is every converter ready to run here? Each plugin answers for
//! itself through `tool_identity`, so a third-party plugin's missing tool is
//! reported the same way as ours.

use std::process::ExitCode;

use abi_stable::std_types::RResult;
use anyhow::Result;
use clx::plugin::CandidateStatus;

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
                outln!("MISSING  {}: {e}", plugin.name());
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
    outln!("");
    super::print_search_path(&registry)?;
    if problems > 0 {
        outln!("\n{problems} converter(s) not ready; `scripts/setup` installs every external tool clx uses");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
