//! `clx plugins list|info`.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clx::plugin::{Candidate, Registry};
use serde_json::json;

use crate::cli::{GlobalArgs, PluginsCommand};

pub fn run(global: &GlobalArgs, cmd: PluginsCommand) -> Result<ExitCode> {
    // The current folder's clx.toml counts, as it does for `clx build` there.
    let (registry, _) = super::discover_plugins(global, std::env::current_dir().ok().as_deref())?;
    match cmd {
        PluginsCommand::List { json: true } => {
            let list: Vec<_> = registry.candidates.iter().map(candidate_json).collect();
            let dirs: Vec<_> =
                registry.dirs.iter().map(|d| json!({ "path": d.path, "added_by": d.added_by })).collect();
            outln!("{}", serde_json::to_string_pretty(&json!({ "plugins": list, "directories": dirs }))?);
        }
        PluginsCommand::List { json: false } => {
            print_table(&registry)?;
            outln!("");
            super::print_search_path(&registry)?;
        }
        PluginsCommand::Info { name } => {
            let Some(c) = registry.candidates.iter().find(|c| c.plugin.as_ref().is_some_and(|p| p.name() == name))
            else {
                bail!("no plugin named `{name}` found; `clx plugins list` shows what is installed");
            };
            print_info(c)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn job_types_json(c: &Candidate) -> Vec<serde_json::Value> {
    let Some(p) = &c.plugin else { return Vec::new() };
    p.manifest
        .job_types
        .iter()
        .map(|jt| {
            json!({
                "name": jt.name.as_str(),
                "role": jt.role.as_str(),
                "description": jt.description.as_str(),
                "suffixes": jt.suffixes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "name_prefixes": jt.name_prefixes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "formats": jt.formats.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn candidate_json(c: &Candidate) -> serde_json::Value {
    json!({
        "name": c.plugin.as_ref().map(|p| p.name()),
        "version": c.plugin.as_ref().map(|p| p.manifest.version.as_str()),
        "description": c.plugin.as_ref().map(|p| p.manifest.description.as_str()),
        "api_version": c.plugin.as_ref().map(|p| p.api_version.as_str()),
        "path": c.path,
        "found_via": c.origin,
        "added_by": c.added_by,
        "status": c.status.label(),
        "reason": c.status.reason(),
        "job_types": job_types_json(c),
    })
}

/// What files a job type claims, e.g. `slides_*|topic_* .py .cpp`.
fn claims(c: &Candidate) -> String {
    let Some(p) = &c.plugin else { return "-".into() };
    p.manifest
        .job_types
        .iter()
        .map(|jt| {
            let prefixes: Vec<_> = jt.name_prefixes.iter().map(|s| format!("{s}*")).collect();
            let suffixes: Vec<_> = jt.suffixes.iter().map(|s| s.as_str()).collect();
            let files = if prefixes.is_empty() {
                suffixes.join(" ")
            } else {
                format!("{} {}", prefixes.join("|"), suffixes.join(" "))
            };
            format!("{} ({files})", jt.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_table(registry: &Registry) -> Result<()> {
    let rows: Vec<[String; 5]> = registry
        .candidates
        .iter()
        .map(|c| {
            let status = match c.status.reason() {
                Some(reason) => format!("{}: {reason}", c.status.label()),
                None => c.status.label().to_owned(),
            };
            [
                c.plugin.as_ref().map(|p| p.name().to_owned()).unwrap_or_else(|| "-".into()),
                c.plugin.as_ref().map(|p| p.manifest.version.to_string()).unwrap_or_else(|| "-".into()),
                claims(c),
                c.path.display().to_string(),
                status,
            ]
        })
        .collect();
    if rows.is_empty() {
        outln!(
            "no plugins found; put plugin libraries beside clx, in ~/.local/share/clx/plugins, or pass --plugin-dir"
        );
        return Ok(());
    }
    let header = ["NAME", "VERSION", "JOB TYPES (FILES)", "PATH", "STATUS"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| -> Result<()> {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 4 {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        outln!("{}", s.trim_end());
        Ok(())
    };
    line(header)?;
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]])?;
    }
    Ok(())
}

fn print_info(c: &Candidate) -> Result<()> {
    let Some(p) = &c.plugin else { return Ok(()) };
    outln!("{} {}", p.name(), p.manifest.version);
    if !p.manifest.description.is_empty() {
        outln!("  {}", p.manifest.description);
    }
    outln!("  path:        {}", c.path.display());
    outln!("  plugin-api:  {}", p.api_version);
    match c.status.reason() {
        Some(reason) => outln!("  status:      {}: {reason}", c.status.label()),
        None => outln!("  status:      {}", c.status.label()),
    }
    for jt in p.manifest.job_types.iter() {
        outln!("  job type `{}` ({})", jt.name, jt.role.as_str());
        if !jt.description.is_empty() {
            outln!("    {}", jt.description);
        }
        let list = |v: &abi_stable::std_types::RVec<abi_stable::std_types::RString>| {
            v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
        };
        outln!("    suffixes:      {}", list(&jt.suffixes));
        if !jt.name_prefixes.is_empty() {
            outln!("    name prefixes: {}", list(&jt.name_prefixes));
        }
        outln!("    formats:       {}", list(&jt.formats));
    }
    Ok(())
}
