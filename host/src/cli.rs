//! Command-line interface definition (clap). Parsing only; `commands/` acts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "clx", version, about = "Build course material: slides, notebooks, HTML pages and diagrams")]
#[command(propagate_version = true, arg_required_else_help = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command: they may come before the command's name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory with converter plugins; searched first (repeatable)
    #[arg(long = "plugin-dir", global = true, env = "CLX_PLUGIN_PATH", value_delimiter = ':', value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Log level: error, warn, info, debug, trace
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
}

/// Where the commands that read or write the job queue and the cache find
/// them. Only those commands take it, so `--queue` given to another one is
/// a usage error instead of being silently ignored.
#[derive(Debug, Default, Args)]
pub struct QueueArgs {
    /// A PostgreSQL database for the job queue and the cache, shared by machines [default: the state dir's SQLite files, or `[queue] url` in clx.toml]
    #[arg(long = "queue", global = true, env = "CLX_QUEUE_URL", value_name = "postgres://…", hide_env_values = true)]
    pub queue_url: Option<String>,
}

/// A group of subcommands that all work on the queue or the cache.
#[derive(Debug, Args)]
pub struct OnQueue<C: Subcommand> {
    #[command(flatten)]
    pub queue: QueueArgs,
    #[command(subcommand)]
    pub command: C,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a course from its spec file
    Build(BuildArgs),
    /// List and inspect converter plugins
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Show the state of builds: workers, queue, recent failures
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        queue: QueueArgs,
    },
    /// Inspect worker processes
    Workers(OnQueue<WorkersCommand>),
    /// Inspect, cancel and retry jobs
    Jobs(OnQueue<JobsCommand>),
    /// Inspect and trim the result cache
    Cache(OnQueue<CacheCommand>),
    /// Check which converters are ready and which external tools are missing
    Doctor,
    /// The course's Python environment: `clx env update` re-resolves requirements.lock
    #[command(subcommand)]
    Env(EnvCommand),
    /// Start a new course: spec, a deck, a diagram, data and settings that build at once
    Init(InitArgs),
    /// Print a shell completion script (e.g. `clx completions bash > ~/.local/share/bash-completion/completions/clx`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout
    #[command(hide = true)]
    Man,
    /// Run workers for builds on other machines (`clx worker serve`)
    Worker(WorkerArgs),
    /// Build, serve the output on loopback, rebuild on every change and reload the open page
    Serve(PreviewArgs),
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Port to serve on [default: a free one]
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to listen on; anything but loopback lets other machines read the course
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub host: std::net::IpAddr,
    /// Open the course home page in the default browser
    #[arg(long)]
    pub open: bool,
    /// Every option of `clx build` (`--watch` is implied)
    #[command(flatten)]
    pub build: BuildArgs,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The course spec (XML) [default: the one course-specs/*.xml of the course around the current directory]
    pub spec: Option<PathBuf>,
    /// Output directory [default: <data dir>/output]
    #[arg(short, long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Course root with slides/ [default: the spec's grandparent]
    #[arg(short, long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep building on every change
    #[arg(long)]
    pub watch: bool,
    /// With --watch: look for changes every MS milliseconds instead of waiting for file-system
    /// events [default: only on file systems that miss other systems' writes: a Windows drive
    /// under WSL2, a network share]
    #[arg(long, env = "CLX_WATCH_POLL", value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub poll: Option<u64>,
    /// Do not remove outputs the build no longer produces
    #[arg(long)]
    pub keep_directory: bool,
    /// Empty the output course roots first (keeps .git directories)
    #[arg(long, conflicts_with = "keep_directory")]
    pub clean: bool,
    /// Ignore cached results (results are still stored)
    #[arg(long)]
    pub no_cache: bool,
    /// Workers per job type, e.g. notebook=4 (repeatable)
    #[arg(long, value_name = "TYPE=N", value_parser = parse_workers)]
    pub workers: Vec<(String, usize)>,
    /// At most N workers per job type on this machine; 0: only workers started with `clx worker serve`
    #[arg(long, value_name = "N")]
    pub local_workers: Option<usize>,
    /// Kill a job's worker when one job runs longer than this
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub job_timeout: u64,
    /// How diagnostics are printed: `human`, or `json` (one object per line on stdout, a summary last)
    #[arg(long, value_enum, value_name = "FMT", default_value = "human")]
    pub message_format: clx::report::MessageFormat,
    /// Treat every warning as an error (also `[build] strict = true` in clx.toml)
    #[arg(long)]
    pub strict: bool,
    /// Write a report of where the build's time went (phases, each job on its worker's lane,
    /// cache hits) as HTML and JSON into the state dir, and print where
    #[arg(long)]
    pub timings: bool,
    /// Also build every deck as reveal.js slides (also `[output] slides = true` in clx.toml)
    #[arg(long)]
    pub slides: bool,
    /// Also print every deck's completed HTML page to PDF (also `[output] pdf = true` in clx.toml)
    #[arg(long)]
    pub pdf: bool,
    #[command(flatten)]
    pub queue: QueueArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where the course goes (created when missing)
    pub dir: PathBuf,
    /// Programming language of the slides
    #[arg(long, value_enum, default_value = "python")]
    pub lang: InitLang,
    /// Course name (German and English alike; edit the spec to differ)
    #[arg(long)]
    pub name: Option<String>,
    /// Write into a non-empty directory, replacing files of the same name
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InitLang {
    Python,
    Typescript,
    Cpp,
    Csharp,
    Java,
    Rust,
}

fn parse_workers(s: &str) -> Result<(String, usize), String> {
    let (t, n) = s.split_once('=').ok_or_else(|| format!("expected TYPE=N, got `{s}`"))?;
    let n: usize = n.parse().map_err(|_| format!("`{n}` is not a number of workers"))?;
    if n == 0 {
        return Err("a job type needs at least one worker".into());
    }
    Ok((t.to_owned(), n))
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List every plugin found on the search path, with its status
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin's job types and claimed files
    Info { name: String },
    /// Create a plugin crate: Cargo.toml, src/lib.rs implementing `Plugin` with a test, README
    New {
        /// The plugin's name (a-z, 0-9, `-`, `_`); also its job type and the suffix it claims
        name: String,
        /// Where to create the crate (default: ./clx-plugin-NAME)
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// A copy of the plugin-api crate to build against (default: the one installed with this clx)
        #[arg(long)]
        api_path: Option<std::path::PathBuf>,
        /// What the plugin's job type does: a deck (slides), an image in img/ (diagram) or a standalone page
        #[arg(long, value_enum, default_value_t = ScaffoldRole::Page)]
        role: ScaffoldRole,
        /// The file suffix it claims, with its dot; may be compound (`.handout.txt`). Default: `.NAME`
        #[arg(long)]
        suffix: Option<String>,
    },
    /// Copy a built plugin library into the user plugin dir, after checking it loads
    Install {
        /// The library (`target/release/libclx_plugin_NAME.so`)
        path: std::path::PathBuf,
    },
}

/// The role of a scaffolded plugin's job type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScaffoldRole {
    /// One deck in, HTML variants out, numbered in its section.
    Slides,
    /// One source in, one SVG image in the topic's img/ folder.
    Diagram,
    /// One source in, one HTML page per language in the section's Pages folder.
    Page,
}

#[derive(Debug, Subcommand)]
pub enum WorkersCommand {
    /// List workers of recent builds
    List,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs
    List {
        /// Only jobs with this status (pending, running, done, failed, cancelled)
        #[arg(long)]
        status: Option<String>,
    },
    /// Cancel jobs (all pending and running ones when no id is given)
    Cancel { ids: Vec<i64> },
    /// Put failed or cancelled jobs back in the queue
    Retry { ids: Vec<i64> },
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Resolve requirements.txt anew into requirements.lock (newest allowed versions) and print what changed
    Update {
        /// The course root holding requirements.txt [default: the current directory]
        #[arg(value_name = "DIR")]
        course: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, blobs and bytes in the cache
    Stats,
    /// Remove entries not used for a while
    Prune {
        /// Remove entries unused for this many days
        #[arg(long, default_value_t = 30)]
        older_than_days: u64,
    },
    /// Read every blob and drop those whose bytes do not match their hash (the rest stays)
    Verify,
    /// Remove everything from the cache
    Clear,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WorkerArgs {
    #[command(subcommand)]
    pub command: Option<WorkerCommand>,
    /// The plugin library this worker loads (a build's own worker)
    #[arg(long, required = true, hide = true)]
    pub plugin: Option<PathBuf>,
    /// The SQLite queue (without it: the PostgreSQL database of --queue)
    #[arg(long, hide = true, requires = "cache_dir")]
    pub queue_db: Option<PathBuf>,
    /// The cache directory beside the SQLite queue
    #[arg(long, hide = true)]
    pub cache_dir: Option<PathBuf>,
    /// The build session whose jobs this worker takes
    #[arg(long, hide = true, required_unless_present = "probe")]
    pub session: Option<i64>,
    /// Job types to claim (or, with --probe, to identify)
    #[arg(long = "job-type", required = true, hide = true)]
    pub job_types: Vec<String>,
    /// Start the plugin, print its tool identities as JSON and exit
    #[arg(long, hide = true)]
    pub probe: bool,
    #[command(flatten)]
    pub queue: QueueArgs,
}

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Serve jobs from a PostgreSQL queue (--queue or CLX_QUEUE_URL) until stopped by SIGTERM or Ctrl-C
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Only these job types, comma-separated [default: every type of every plugin found]
    #[arg(long, value_delimiter = ',', value_name = "TYPE,…")]
    pub types: Vec<String>,
    /// At most this many jobs of one type at the same time [default: as a build on this machine runs
    /// them: one per core for slide decks, one for each other type]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..256))]
    pub jobs: Option<u64>,
    /// Run every notebook kernel under bubblewrap, whatever the course's clx.toml says:
    /// no home directory, config, queue or cache in sight
    #[arg(long)]
    pub sandbox: bool,
}
