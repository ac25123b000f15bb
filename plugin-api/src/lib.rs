//! The contract between the `clx` host and its converter plugins.
//!
//! `clx` builds course material: it reads a course spec, finds the files of
//! every topic and hands each file some plugin claims to that plugin as a
//! *job*. The host knows no file type of its own; everything it converts, it
//! converts through a plugin built against this crate. A plugin is a Rust
//! `cdylib` that depends on `clx-plugin-api` only, implements [`Plugin`] and
//! calls [`export_plugin!`] once at its crate root. The types that cross the
//! library boundary are `#[repr(C)]` and checked with [`abi_stable`] when the
//! host loads the library, so host and plugin may be built by different
//! compilers at different times.
//!
//! # A complete plugin
//!
//! ```toml
//! # Cargo.toml
//! [package]
//! name = "clx-plugin-upper"
//! version = "0.1.0"
//! edition = "2021"
//!
//! [lib]
//! crate-type = ["cdylib", "rlib"]   # rlib: so `cargo test` can link it
//!
//! [dependencies]
//! clx-plugin-api = "0.3"
//!
//! # Until clx-plugin-api is on crates.io: the copy installed with clx
//! # (`scripts/install` puts it under PREFIX/share/clx/plugin-api).
//! [patch.crates-io]
//! clx-plugin-api = { path = "/home/me/.local/share/clx/plugin-api" }
//! ```
//!
//! `clx plugins new NAME` writes exactly this, with the path of the copy
//! installed beside the `clx` that runs it. Instead of the patch, a plugin
//! may depend on a release tag of the clx repository:
//! `clx-plugin-api = { git = "<clx repository>", tag = "v0.3.0" }`.
//!
//! ```
//! // src/lib.rs
//! use clx_plugin_api::*;
//!
//! pub struct Upper;
//!
//! impl Plugin for Upper {
//!     fn manifest() -> Manifest {
//!         Manifest::new("upper", env!("CARGO_PKG_VERSION")).job_type(
//!             JobTypeDecl::new("upper", Role::Diagram) // one source -> one file in img/
//!                 .suffixes(&[".up"])                  // the files it claims
//!                 .formats(&["txt"]),                  // what it can produce
//!         )
//!     }
//!
//!     fn new(_config: &str) -> Result<Self, String> {
//!         Ok(Upper) // `config` is the plugin's [converters.upper] table as JSON
//!     }
//!
//!     fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
//!         let text = job.source_text()?.to_uppercase();
//!         let mut result = JobResult::new();
//!         for out in job.outputs.iter() {
//!             result.output(&out.id, text.clone().into_bytes());
//!         }
//!         Ok(result)
//!     }
//! }
//!
//! export_plugin!(Upper);
//! # fn main() {}
//! ```
//!
//! `cargo build --release` produces `target/release/libclx_plugin_upper.so`;
//! copy it into `~/.local/share/clx/plugins/` (or pass `--plugin-dir`) and
//! `clx plugins list` shows it. From then on every `.up` file in a course is
//! rendered. The Graphviz plugin in the clx repository (`plugins/graphviz`) is
//! a complete real-world example: configuration, an external program, its
//! identity in the cache key, and errors that point at a line.
//!
//! # The `Plugin` trait
//!
//! * [`Plugin::manifest`] says who the plugin is and which **job types** it
//!   registers. The host calls it each time it loads the library, so it must be
//!   cheap and must not fail. Names are 1-64 characters of `a-z`, `0-9`, `-`,
//!   `_`; every job type claims at least one suffix (`.dot`) and offers at
//!   least one format. A job type name is unique among all loaded plugins:
//!   when two plugins register the same one, the first in the search path
//!   wins and `clx plugins list` reports the conflict.
//! * [`Plugin::new`] creates the converter from the plugin's configuration.
//!   `config` is the `[converters.<plugin name>]` table of `clx.toml`,
//!   converted to a JSON object, `{}` when there is none. Read it with
//!   [`config`]`::<YourSettings>(config)?` (a `serde::Deserialize` struct with
//!   `#[serde(deny_unknown_fields)]`): a wrong table is then reported once,
//!   at its line in `clx.toml`, and stops the build with exit code 2. The host calls `new` in every
//!   worker process and also in a short-lived probe process (`clx worker
//!   --probe`, never the host's own) to ask [`Plugin::tool_identity`]: do not
//!   start an expensive tool here; start it on the first `convert` and keep
//!   it in `self`.
//! * [`Plugin::tool_identity`] names the external tool behind a job type and
//!   its version (see [the cache](#tool-identity-and-the-cache)).
//! * [`Plugin::convert`] does one job. One converter value serves every job of
//!   its worker process, one job at a time, so a JVM, a browser or a kernel
//!   started once is reused for the next job.
//!
//! # Roles, outputs and where they land
//!
//! A [`JobTypeDecl`] claims files by suffix (and, optionally, name prefix) and
//! has a [`Role`] that decides what the host asks for and where the results go.
//! Each requested output is an [`OutputRequest`]: an `id` to answer under, a
//! `format` from the declared formats, and `params` as a JSON object. Answer
//! every requested id with [`JobResult::output`] or
//! [`JobResult::failed_output`]; an id left unanswered fails that output.
//!
//! **[`Role::Diagram`]**: one source, one image per format. The host asks for
//! the formats listed in `clx.toml`'s `diagram-formats` (default `png`) that
//! the job type declares, or for its first declared format when it declares
//! none of them. Each output's `id` equals its `format` and its `params` are
//! `{}`. The job's `options` are `{}` and it has no siblings. A source
//! `diagrams/classes.dot` becomes `img/classes.png` (and `img/classes.svg`)
//! in the topic's folder of every output variant, next to the topic's
//! notebooks, where the slides reference it. A diagram used by several topics
//! is converted once.
//!
//! **[`Role::Slides`]**: one deck in, many variants out. The host sends one
//! job per deck and language. Its `options` are
//!
//! ```json
//! {"lang": "de", "prog_lang": "python", "author": "…", "macros": "…", "execute": true}
//! ```
//!
//! where `lang` is `de` or `en`, `prog_lang` the course's programming language,
//! `author` the spec's author, `macros` the text of the course's
//! `templates/<prog_lang>/macros.j2` or `null`, and `execute` whether code
//! cells should run. The outputs are the declared formats among `html`,
//! `ipynb` and `code`, with ids `<format>-<kind>` (`html-code-along`,
//! `ipynb-speaker`, `code-completed`, …) and `params` of `{"kind": K}`,
//! where `K` is `code-along`, `completed` or `speaker` (`code` comes only as
//! `completed`; topics marked `html="no"` ask for no `html`). Each output is
//! written to its own variant folder under the course's public or speaker
//! tree; the host names the file after the deck's number and title.
//!
//! **[`Role::Page`]**: a standalone document (a hand-out, an exercise sheet)
//! that is neither a deck nor an image. One job per source; its `options` are `{}`, its
//! siblings are the topic's other files (as for a deck), and it is asked for
//! one output per language in its first declared format, with ids
//! `de-<format>` and `en-<format>` and `params` of `{"lang": "de"}` or
//! `{"lang": "en"}`. Each lands under the source's own name in the section's
//! `Pages` folder (`Seiten` in German) of the public and the speaker tree:
//! `…/<Course>/Slides/Pages/<Section>/handout.html`. The name is the stem
//! before the suffix the type claimed the file by, kept as written (only
//! characters a file system refuses become `_`): a type declaring
//! `.handout.txt` turns `cheat_sheet.v2.handout.txt` into
//! `cheat_sheet.v2.html`. The same holds for a diagram's image.
//!
//! A page links its topic's files as a deck does, by their path relative to
//! the topic: the host copies the topic's data files and writes its diagram
//! images (`img/<stem>.<format>`) into the `Pages/<Section>` folder beside
//! the page, so `<img src="img/flow.png">` or `[data](data/table.csv)`
//! resolve from disk, from a web server and after the folder is moved. The
//! siblings hold the same files under the same paths, so a plugin can check
//! a link before it writes it.
//!
//! The course's home page links every page, under the title the page
//! proposes: the text of its HTML `<title>` element (`<title>Cheat sheet
//! &amp; tips</title>`), entities decoded, white space collapsed, cut at 100
//! characters and escaped again by the host. A page without a non-empty
//! `<title>` (or not in HTML) is listed under its file name. The file name
//! itself is not the plugin's to choose: the host fixes every output path
//! before any job runs, so links, collisions and stale outputs are known up
//! front. A page type declared
//! with [`JobTypeDecl::numbered`]`(true)` gets `01 handout.html`, `02 …`,
//! counted among the section's pages; pages never count as decks.
//!
//! A raster format drawn at more than one pixel per CSS pixel is declared
//! with [`JobTypeDecl::density`] (`.density("png", 3)` for a diagram rendered
//! at scale 3): the host's pages then show such an image at its drawn size.
//!
//! Roles are one-byte codes ([`Role::code`]): a later plugin-api can add
//! roles without changing any layout, and a clx that meets a role it does not
//! know reports that job type's files as errors ("upgrade clx") instead of
//! refusing the plugin.
//!
//! Read `options` and `params` with any JSON parser and ignore keys you do
//! not know: the host may add some.
//!
//! # Sibling files
//!
//! [`Job::siblings`] holds the files a job may read besides its source, with
//! their bytes: for a deck, every other file of its topic that is neither a
//! deck nor a diagram source (helper modules, data files, images), each with a
//! `/`-separated path relative to the source's directory (`data/table.csv`,
//! `../shared.py`). They are part of the cache key, so read files through
//! `siblings`, not from disk: a file read behind the host's back does not
//! invalidate the cache when it changes. To run a tool that expects the files
//! on disk, write them below [`Job::work_dir`], a scratch directory that
//! exists for the job and is deleted after it.
//!
//! # Issues and their file paths
//!
//! An [`Issue`] is a diagnostic for the course author: severity, message and
//! where. The host prints it as `file:location: message`. [`Issue::file`] is
//! shown as given: leave it `None` to mean the job's source (shown as
//! [`Job::source_path`], relative to the course root); to point at another file
//! give a path in the same form, for a sibling [`Job::path_of_sibling`].
//! [`Issue::line`] and [`Issue::cell`] are 1-based. An error issue fails the job
//! even if every output was produced; warnings are shown and the job succeeds.
//! Say what to do, not only what is wrong: "syntax error in line 3 near `->`"
//! helps; "dot failed" does not.
//!
//! The result of `convert`, issues included, is stored in the cache and
//! replayed on every build whose inputs are unchanged, so an issue must depend
//! on the inputs only. A problem of the machine (the tool is not installed)
//! belongs in `tool_identity`, which the host asks before a job is queued and
//! whose failure is never cached.
//!
//! # Logs, progress and cancellation
//!
//! [`Host`] is the host's side of a running job. [`Host::log`] (and
//! [`Host::info`], [`Host::warn`]) go through the host's logger and are shown
//! with `--log-level`; do not print to stdout, which the worker uses to talk to
//! the host. [`Host::progress`] reports how far a long job is: `clx` shows
//! it on its progress line, logs it at `--log-level debug` and keeps the
//! last report of each job for `clx jobs list`.
//! [`Host::is_cancelled`] turns true when the host no longer wants the job
//! (the build was interrupted or the job was given to another worker); check
//! it between expensive steps and return early, with any error: the host does
//! not use the result of a cancelled job.
//!
//! # Panics, crashes and child processes
//!
//! A panic in `manifest`, `new`, `tool_identity` or `convert` is caught at the
//! library boundary and becomes an error for that call only (build plugins
//! with the default `panic = "unwind"`; with `panic = "abort"` nothing can be
//! caught). A panic in a thread you started is yours to handle. A crash, an
//! abort or a hang takes down only the worker process, which the host
//! replaces, and the error names the plugin: worker of plugin `bob` killed
//! by signal 6. A job whose worker was killed or stopped its heartbeat is
//! tried once more in a fresh worker; a job that aborts or runs past
//! `--job-timeout` fails at once (it would abort or hang again). Programs you start run in the worker's process
//! group and are killed with it, so kill a tool that hangs rather than waiting
//! forever.
//!
//! # Tool identity and the cache
//!
//! The host caches every result under a key made of the plugin's name and
//! [`Manifest::version`], a hash of the plugin library file, the plugin's
//! `[converters.<name>]` configuration, the job type, the job (source bytes,
//! siblings, requested outputs and options) and the string
//! [`Plugin::tool_identity`] returns for the job type. An unchanged rebuild
//! converts nothing; a rebuilt library or a changed configuration converts
//! again. Hence:
//!
//! * return the external tool's name and version (`dot - graphviz version
//!   2.43.0`); upgrading the tool then re-renders, and a different tool on
//!   another machine never shares results. Plugins without an external tool
//!   keep the default, the empty string;
//! * raise the plugin's version whenever its output changes for the same
//!   input;
//! * return `Err` when the tool is missing, saying how to install it: the
//!   job fails before it is queued, and nothing is cached.
//!
//! [`tools_dir`] is where `clx`'s setup script installs external tools; look
//! there after your own configuration and environment variables.
//!
//! # Testing without clx
//!
//! A plugin's own tests need no host: build a [`Job`] with [`Job::new`] and
//! [`Job::with_output`] and run `convert` inside [`Host::standalone`], whose
//! host never cancels and drops logs (set `CLX_PLUGIN_TEST_LOG=1` to see them
//! on stderr). With `crate-type = ["cdylib", "rlib"]` this is an ordinary
//! `#[test]`:
//!
//! ```
//! # use clx_plugin_api::*;
//! # struct Upper;
//! # impl Plugin for Upper {
//! #     fn manifest() -> Manifest { Manifest::new("upper", "0.1.0") }
//! #     fn new(_config: &str) -> Result<Self, String> { Ok(Upper) }
//! #     fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
//! #         let text = job.source_text()?.to_uppercase();
//! #         let mut result = JobResult::new();
//! #         for out in job.outputs.iter() { result.output(&out.id, text.clone().into_bytes()); }
//! #         Ok(result)
//! #     }
//! # }
//! let upper = Upper::new("{}").expect("starts");
//! let job = Job::new("upper", "slides/intro/hello.up", "hello").with_output("txt", "txt", "{}");
//! let result = Host::standalone(|host| upper.convert(&job, host)).expect("converts");
//! assert_eq!(result.bytes("txt"), Some(&b"HELLO"[..]));
//! assert!(result.issues.is_empty());
//! ```
//!
//! To see the plugin in a real build, put it into a plugin directory and run
//! `clx --plugin-dir DIR plugins info NAME`, then `clx --plugin-dir DIR build`.
//!
//! # Versions
//!
//! This crate's version is the plugin ABI version, [`API_VERSION`]. Cargo's
//! semver rules decide compatibility, and this is the policy behind them:
//!
//! * a **patch** release (0.3.0 to 0.3.1) changes no type's layout and
//!   removes nothing: it adds helper functions, methods at the end of the
//!   prefix types below, and documentation. A plugin built against 0.3.0
//!   loads into any 0.3.x clx, and one built against 0.3.1 into a 0.3.0 clx
//!   as long as it does not rely on what 0.3.1 added;
//! * a new **0.x minor** (0.3 to 0.4), or later a new major, may change
//!   layouts: every plugin is rebuilt against it. State the requirement as
//!   `"0.3"` (which cargo reads as `>=0.3.0, <0.4`).
//!
//! Before `abi_stable` compares type layouts, the host reads the version the plugin was built against
//! ([`API_VERSION_SYMBOL`], exported by [`export_plugin!`]) and refuses a
//! mismatch with a message naming both versions (see [`check_api_version`]):
//!
//! ```text
//! built against plugin-api 0.4.0; this clx speaks 0.3.x: rebuild against 0.3
//! ```
//!
//! Then `abi_stable` checks the layout of every type reachable from
//! [`PluginMod`], so a plugin whose types disagree with the host's is refused
//! instead of crashing it. The root module and the trait objects are prefix
//! types: a later patch release can add functions at their end, and a host
//! reading an older plugin sees them as absent.

#![deny(missing_docs)]

mod module;
pub mod notebook;
mod plugin;
pub mod suggest;
pub mod text;
mod types;
mod version;

pub use abi_stable;
pub use abi_stable::std_types::{RResult, RStr, RString, RVec};
pub use module::{
    AbiConverter, AbiConverter_TO, ConverterBox, HostServices, HostServicesRef, HostServices_TO, PluginMod,
    PluginModRef,
};
pub use plugin::{root_module, Host, Plugin, StandaloneHost};
pub use types::{
    FormatDensity, InputFile, Issue, IssueKind, Job, JobOutput, JobResult, JobTypeDecl, LogLevel, Manifest,
    OutputRequest, Role, Severity,
};
#[doc(hidden)]
pub use version::API_VERSION_C;
pub use version::{check_api_version, ApiVersionFn, API_VERSION_SYMBOL};

/// Version of this crate, which is the plugin ABI version. A plugin's copy is
/// what its [`API_VERSION_SYMBOL`] reports; compare with [`check_api_version`].
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Symbol under which `abi_stable` looks for a library's root module. Written
/// out because `macro_rules!` cannot compute symbol names; a unit test keeps it
/// equal to `abi_stable::library::ROOT_MODULE_LOADER_NAME`.
#[doc(hidden)]
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Export `$plugin` (a type implementing [`Plugin`]) as this library's root
/// module. Invoke exactly once, at the plugin crate's root.
///
/// It defines two symbols: the `abi_stable` root module the host loads the
/// plugin through, and `clx_plugin_api_version` ([`API_VERSION_SYMBOL`]), a
/// plain C function returning the plugin-api version the plugin is built
/// against, so a host can refuse a version mismatch with a clear message
/// before comparing layouts.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The plugin-api version this plugin was built against, readable
        /// without any layout agreement (see `clx_plugin_api::API_VERSION_SYMBOL`).
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn clx_plugin_api_version() -> *const ::std::ffi::c_char {
            $crate::API_VERSION_C.as_ptr()
        }

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::abi_stable::library::LibHeader = {
            extern "C" fn __clx_root_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(|| -> $crate::PluginModRef {
                    use $crate::abi_stable::prefix_type::PrefixTypeTrait;
                    $crate::root_module::<$plugin>().leak_into_prefix()
                })
            }
            // SAFETY: `from_constructor` requires that the constructor return
            // the root module of exactly the type it is given (`root_module`
            // builds a `PluginModRef`) and that the header be exported under
            // abi_stable's root-module symbol, which this static's name is; the
            // host still checks the layout before it uses the module.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::PluginModRef>(
                    __clx_root_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

/// How an error of [`config`] begins, so the host can tell a refused
/// configuration from any other failure of [`Plugin::new`].
pub const CONFIG_ERROR_PREFIX: &str = "invalid configuration: ";

/// The plugin's `[converters.<name>]` table (the `config` that
/// [`Plugin::new`] receives) as a typed value. Call it first in `new` and
/// return its error as it is: the host then reports the problem once,
/// against `clx.toml` and the line of the offending key (an unknown setting
/// with the nearest known one, a wrong type in words), and stops the build
/// with exit code 2 before any job runs.
///
/// ```
/// #[derive(serde::Deserialize, Default)]
/// #[serde(deny_unknown_fields)] // a misspelt key is an error, not ignored
/// struct Settings {
///     #[serde(default)]
///     width: Option<u32>,
/// }
///
/// let settings: Settings = clx_plugin_api::config(r#"{"width": 80}"#).unwrap();
/// assert_eq!(settings.width, Some(80));
/// let wrong = clx_plugin_api::config::<Settings>(r#"{"widht": 80}"#).err().unwrap();
/// assert!(wrong.starts_with(clx_plugin_api::CONFIG_ERROR_PREFIX) && wrong.contains("unknown field `widht`"));
/// ```
pub fn config<T: serde::de::DeserializeOwned>(config: &str) -> Result<T, String> {
    serde_json::from_str(config).map_err(|e| format!("{CONFIG_ERROR_PREFIX}{e}"))
}

/// Where clx keeps its state (queue, cache, workers' scratch folders, and
/// whatever a plugin needs to keep between builds, such as an environment
/// it provisions): `$CLX_HOME`, else `$XDG_CACHE_HOME/clx`, else
/// `~/.cache/clx`. Host and plugins agree on it through this function.
pub fn state_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(dir) = std::env::var_os("CLX_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("clx")
}

/// Where a tool clx runs keeps its cache (`uv`, `pip`, and the tools
/// kernels run when the user has no home directory): `tool-cache/<tool>`
/// in the state dir, so a worker running as a system user, a container's
/// `nobody` or a systemd `DynamicUser` works, and one `CLX_HOME` holds all
/// a worker writes.
pub fn tool_cache_dir(tool: &str) -> std::path::PathBuf {
    state_dir().join("tool-cache").join(tool)
}

/// The variables that send uv's and pip's caches to [`tool_cache_dir`]:
/// those clx sets for every uv or pip it runs, leaving one the user set.
pub fn installer_cache_env() -> Vec<(&'static str, std::path::PathBuf)> {
    [("UV_CACHE_DIR", "uv"), ("PIP_CACHE_DIR", "pip")]
        .into_iter()
        .filter(|(var, _)| std::env::var_os(var).is_none_or(|v| v.is_empty()))
        .map(|(var, tool)| (var, tool_cache_dir(tool)))
        .collect()
}

/// The last `max` non-blank lines of a tool's output, stderr after stdout,
/// for an error that says why the tool failed; when it printed nothing,
/// that and how it ended, so the message never ends in an empty quote.
pub fn output_tail(output: &std::process::Output, max: usize) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return format!("(it printed nothing; {})", output.status);
    }
    lines[lines.len().saturating_sub(max)..].join("\n")
}

/// The environment variable [`serving`] reads; `clx worker serve` sets it
/// to `1` in its own environment before it makes a converter.
pub const SERVING_ENV: &str = "CLX_SERVING";

/// Whether the converters of this process serve builds as a daemon
/// (`clx worker serve`) rather than work for one build. A daemon's
/// converter may start ahead what the builds it served before will need
/// again (the notebook plugin starts the kernel server of the course
/// environment it built last), which a build's own worker, gone with its
/// build and perhaps working for another course, should not.
pub fn serving() -> bool {
    std::env::var_os(SERVING_ENV).is_some_and(|v| v == "1")
}

/// The environment variable [`shared_dir`] reads; the host sets it for the
/// workers it starts.
pub const SHARED_DIR_ENV: &str = "CLX_SHARED_DIR";

/// A folder the workers one `clx build` starts on this machine share, every
/// plugin's: for work one job may hand to another job of the same build
/// (the notebook plugin keeps a deck's execution there for the deck's other
/// language). It is emptied when a build starts and removed when it ends,
/// so nothing in it outlives the build that wrote it. `None` under
/// `clx worker serve` and when the build reuses nothing (`--no-cache`).
/// Write into it by renaming a finished file into place: another worker
/// may read it at any moment.
pub fn shared_dir() -> Option<std::path::PathBuf> {
    std::env::var_os(SHARED_DIR_ENV).filter(|d| !d.is_empty()).map(std::path::PathBuf::from)
}

/// Where `scripts/setup` installs external tools: `$CLX_TOOLS_DIR`, else
/// `$XDG_DATA_HOME/clx/tools`, else `~/.local/share/clx/tools`. Plugins look
/// for their tools here after their own config and environment variables.
pub fn tools_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(d) = std::env::var_os("CLX_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return Some(d.into());
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("clx/tools"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(ROOT_MODULE_SYMBOL, abi_stable::library::ROOT_MODULE_LOADER_NAME);
    }

    /// A plugin as the macro exports it, so the test can call what a host reads.
    mod exported {
        use crate::*;

        pub struct Nothing;

        impl Plugin for Nothing {
            fn manifest() -> Manifest {
                Manifest::new("nothing", "0.0.0")
            }
            fn new(_config: &str) -> Result<Self, String> {
                Ok(Nothing)
            }
            fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
                Ok(JobResult::failed(job, Issue::error("nothing")))
            }
        }

        export_plugin!(Nothing);
    }

    #[test]
    fn export_plugin_exports_the_api_version_under_the_documented_symbol() {
        assert_eq!(API_VERSION_SYMBOL, "clx_plugin_api_version");
        let read: ApiVersionFn = exported::clx_plugin_api_version;
        // SAFETY: the function returns a pointer to a static NUL-terminated string.
        let version = unsafe { std::ffi::CStr::from_ptr(read()) };
        assert_eq!(version.to_str(), Ok(API_VERSION));
    }

    #[test]
    fn claims_needs_suffix_and_prefix_when_prefixes_given() {
        let decl =
            JobTypeDecl::new("notebook", Role::Slides).suffixes(&[".py", ".cpp"]).name_prefixes(&["slides_", "topic_"]);
        assert!(decl.claims("slides_intro.py"));
        assert!(decl.claims("topic_10_x.cpp"));
        assert!(!decl.claims("helper.py"));
        assert!(!decl.claims("slides_intro.txt"));
        let diagram = JobTypeDecl::new("plantuml", Role::Diagram).suffixes(&[".puml"]);
        assert!(diagram.claims("classes.puml"));
    }

    #[test]
    fn the_longest_declared_suffix_claims_a_file() {
        let page = JobTypeDecl::new("handout", Role::Page).suffixes(&[".md", ".handout.md"]);
        assert_eq!(page.claimed_suffix("cheat_sheet.v2.handout.md"), Some(".handout.md"));
        assert_eq!(page.claimed_suffix("notes.md"), Some(".md"));
        assert_eq!(page.claimed_suffix("notes.txt"), None);
    }
}
