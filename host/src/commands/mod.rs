//! One module per command. Each returns the process exit code; errors bubble up
//! to `main`, which prints them.

mod doctor;
mod plugins;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clx::config::{self, Config};
use clx::plugin::{Registry, SearchPath};

use crate::cli::{Cli, Command, GlobalArgs};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Plugins(cmd) => plugins::run(&global, cmd),
        Command::Build(_) => not_yet("build"),
        Command::Status { .. } => not_yet("status"),
        Command::Workers(_) => not_yet("workers"),
        Command::Jobs(_) => not_yet("jobs"),
        Command::Cache(_) => not_yet("cache"),
        Command::Doctor => doctor::run(&global),
        Command::Worker(_) => not_yet("worker"),
    }
}

fn not_yet(command: &str) -> Result<ExitCode> {
    anyhow::bail!("`clx {command}` is not yet available in this version of clx")
}

/// Find and load every plugin, with the course's `clx.toml` (if any) applied.
pub fn discover_plugins(global: &GlobalArgs, course_root: Option<&Path>) -> Result<(Registry, Config)> {
    let config = Config::load(course_root)?;
    let exe = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok());
    let user = config::user_data_dir();
    let search = SearchPath::new(&global.plugin_dirs, &config.plugin_dirs, exe.as_deref(), user.as_deref());
    Ok((Registry::discover(&search), config))
}
