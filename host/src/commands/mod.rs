//! One module per command. Each returns the process exit code; errors bubble up
//! to `main`, which prints them.

/// `println!` for command output: a reader that went away (`clx status |
/// head -1`) or a full disk is an error the command returns, never a panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::out(format_args!($($arg)*))?
    };
}

mod build;
pub mod completions;
mod doctor;
mod env;
mod init;
mod inspect;
mod plugins;
mod serve;
mod worker;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clx::config::{self, Config};
use clx::plugin::{Registry, SearchPath};

use crate::cli::{Cli, Command, GlobalArgs, QueueArgs};

/// Writing to stdout failed: the reader closed the pipe, or the disk is full.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutError(#[source] std::io::Error);

/// One line of command output; see `outln!`.
pub fn out(args: std::fmt::Arguments) -> Result<(), StdoutError> {
    writeln!(std::io::stdout().lock(), "{args}").map_err(StdoutError)
}

/// Run a command. A reader that stops reading early (`| head`) has all it
/// wanted, so a closed pipe ends the command quietly with success, like
/// other tools that ignore SIGPIPE. SIGPIPE stays ignored rather than reset
/// to its default: the build writes to its workers' pipes, and a worker that
/// died must not take the host down with a signal.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let outcome =
        dispatch(cli).and_then(|code| std::io::stdout().flush().map(|()| code).map_err(|e| StdoutError(e).into()));
    match outcome {
        Err(e) if e.chain().any(is_closed_pipe) => Ok(ExitCode::SUCCESS),
        other => other,
    }
}

fn is_closed_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<StdoutError>().is_some_and(|StdoutError(io)| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Plugins(cmd) => plugins::run(&global, cmd),
        Command::Build(args) => build::run(&global, args),
        Command::Status { json, queue } => inspect::status(&queue, json),
        Command::Workers(args) => inspect::workers(&args.queue, args.command),
        Command::Jobs(args) => inspect::jobs(&args.queue, args.command),
        Command::Cache(args) => inspect::cache(&args.queue, args.command),
        Command::Doctor => doctor::run(&global),
        Command::Env(cmd) => env::run(cmd),
        Command::Init(args) => init::run(args),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
        Command::Worker(args) => worker::run(&global, args),
        Command::Serve(args) => serve::run(&global, args),
    }
}

/// Where the queue and cache are: `--queue`/`CLX_QUEUE_URL`, else
/// `[queue] url` of the configuration, else the state dir.
pub fn store_location(queue: &QueueArgs, config: &Config) -> Result<clx::store::StoreLocation> {
    let state = clx::config::StateDir::from_env();
    let url = queue.queue_url.as_deref().or(config.queue_url.as_deref());
    let store = clx::store::StoreLocation::resolve(url, &state.queue(), &state.cache())?;
    if store.is_shared() {
        // This process holds the password from now on: decks run as the
        // same user must not read it from its memory.
        clx::sys::hide_memory();
    }
    Ok(store)
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
    let mut search = SearchPath::new(&global.plugin_dirs, &config.plugin_dirs, exe.as_deref(), user.as_deref());
    // clap merges the flag and the variable; the variable's own value tells them apart.
    let from_env = std::env::var_os("CLX_PLUGIN_PATH")
        .is_some_and(|v| std::env::split_paths(&v).collect::<Vec<_>>() == global.plugin_dirs);
    for dir in &global.plugin_dirs {
        search = search.added_by(dir, if from_env { "CLX_PLUGIN_PATH" } else { "--plugin-dir" });
    }
    for (dir, origin) in &config.plugin_dir_origins {
        search = search.added_by(dir, origin.clone());
    }
    Ok((Registry::discover(&search), config))
}

/// The plugin search path and who added each directory, for `plugins list`
/// and `doctor`.
pub fn print_search_path(registry: &Registry) -> Result<()> {
    outln!("plugin directories, searched in this order:");
    for dir in &registry.dirs {
        outln!("  {}  (from {})", dir.path.display(), dir.added_by);
    }
    Ok(())
}
