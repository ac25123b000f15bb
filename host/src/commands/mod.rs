//! One module per command. Each returns the process exit code; errors bubble up
//! to `main`, which prints them.

mod build;
pub mod completions;
mod doctor;
mod init;
mod inspect;
mod plugins;
mod worker;

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
        Command::Build(args) => build::run(&global, args),
        Command::Status { json } => inspect::status(json),
        Command::Workers(cmd) => inspect::workers(cmd),
        Command::Jobs(cmd) => inspect::jobs(cmd),
        Command::Cache(cmd) => inspect::cache(cmd),
        Command::Doctor => doctor::run(&global),
        Command::Init(args) => init::run(args),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
        Command::Worker(args) => worker::run(args),
    }
}

/// Find and load every plugin, with the course's `clx.toml` (if any) applied.
pub fn discover_plugins(global: &GlobalArgs, course_root: Option<&Path>) -> Result<(Registry, Config)> {
    if let Some(missing) = global.plugin_dirs.iter().find(|d| !d.is_dir()) {
        anyhow::bail!(
            "plugin directory {} (from --plugin-dir or CLX_PLUGIN_PATH) is not a directory; fix the path",
            missing.display()
        );
    }
    let config = Config::load(course_root)?;
    let exe = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok());
    let user = config::user_data_dir();
    let search = SearchPath::new(&global.plugin_dirs, &config.plugin_dirs, exe.as_deref(), user.as_deref());
    Ok((Registry::discover(&search), config))
}
