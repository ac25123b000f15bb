//! What the binary says about itself: shell completions, the man page and
//! the long `--version` text, which names the plugin ABI and the plugins it
//! finds (a bug report then carries everything that decides a build).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clx::config;
use clx::plugin::{Registry, SearchPath};

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "clx", &mut out);
    out.flush().context("cannot write the completion script")?;
    Ok(ExitCode::SUCCESS)
}

pub fn man() -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out).context("cannot write the man page")?;
    out.flush().context("cannot write the man page")?;
    Ok(ExitCode::SUCCESS)
}

/// Whether the command line asks for the version (`-V`/`--version` before
/// any `--`). Only then are plugins loaded before parsing.
pub fn wants_version(args: &[std::ffi::OsString]) -> bool {
    args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--version" || a == "-V")
}

/// `clx 0.1.0`, then the plugin API version and every plugin in use with its
/// version and where it was found.
pub fn version_text() -> String {
    let mut text = format!("{}\nplugin-api {}", env!("CARGO_PKG_VERSION"), clx_plugin_api::API_VERSION);
    let explicit: Vec<PathBuf> = std::env::var_os("CLX_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    let exe = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok());
    let user = config::user_data_dir();
    let registry = Registry::discover(&SearchPath::new(&explicit, &[], exe.as_deref(), user.as_deref()));
    let mut any = false;
    for candidate in registry.ready() {
        if let Some(plugin) = &candidate.plugin {
            any = true;
            text.push_str(&format!(
                "\nplugin {} {} ({})",
                plugin.name(),
                plugin.manifest.version,
                candidate.path.display()
            ));
        }
    }
    if !any {
        text.push_str("\nno plugins found; see `clx plugins list`");
    }
    text
}
