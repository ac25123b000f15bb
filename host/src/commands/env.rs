//! `clx env update`: resolve a course's Python packages anew, on purpose,
//! and say what changed. Builds keep the lock they find.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clx::lockfile::{self, Locked};

use crate::cli::EnvCommand;

pub fn run(cmd: EnvCommand) -> Result<ExitCode> {
    match cmd {
        EnvCommand::Update { course } => {
            let root = match course {
                Some(dir) => dir,
                None => std::env::current_dir().context("cannot tell the current directory")?,
            };
            match lockfile::update(&root)? {
                None => anyhow::bail!(
                    "{}: no {} here, so nothing to lock; run `clx env update` in the course root or pass it: \
                     clx env update DIR",
                    root.display(),
                    lockfile::REQUIREMENTS
                ),
                Some(Locked::Current) => Ok(ExitCode::SUCCESS),
                Some(Locked::Resolved { changes, .. }) => {
                    if changes.is_empty() {
                        outln!("{}: unchanged", lockfile::LOCK);
                    } else {
                        outln!("{}: {} change(s)", lockfile::LOCK, changes.len());
                        for change in changes {
                            outln!("  {change}");
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
    }
}

/// The line a build prints when it locked the course's packages.
pub fn resolved_line(locked: &Locked) -> Option<String> {
    let Locked::Resolved { direct, changes, replaced } = locked else { return None };
    let versions: Vec<String> = direct.iter().map(|(name, version)| format!("{name} {version}")).collect();
    let what = if *replaced {
        format!(
            "{} changed since {} was made: resolved again ({} change(s))",
            lockfile::REQUIREMENTS,
            lockfile::LOCK,
            changes.len()
        )
    } else {
        format!("locked {} into {}", lockfile::REQUIREMENTS, lockfile::LOCK)
    };
    Some(format!("{what}: {}; `clx env update` resolves anew", versions.join(", ")))
}
