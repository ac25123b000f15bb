//! Runs notebook cells in real Jupyter kernels over the Jupyter messaging
//! protocol: kernelspec discovery ([`kernelspec`]), one kernel's lifecycle
//! ([`kernel`]), Python kernels forked from a pre-started server
//! ([`forkserver`]) and warm kernels behind a synchronous API ([`executor`]).

pub mod executor;
pub mod forkserver;
pub mod kernel;
pub mod kernelspec;
pub mod languages;
pub mod launch;
mod message;
pub mod notebook;
pub mod rundir;
pub use clx_sys::sandbox;

use std::path::PathBuf;

pub use clx_sys::sandbox::{run_kernels_sandboxed, Sandbox};
pub use executor::{Executor, ForkNote, ForkOptions, Session};
pub use forkserver::{ForkServer, ForkServerError, IpykernelLaunch};
pub use kernel::{CellError, CellRun, Kernel};
pub use kernelspec::Kernelspec;
pub use languages::{kernel_for, language, survey, KernelChoice, Language, LanguageStatus, LANGUAGES};
pub use launch::{cache_without_home_in, pass_only_env, Wire};
pub use notebook::{copy_outputs, execute, execute_until, strip_ansi, ExecuteError};
pub use rundir::RunDir;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// An environment error: nothing in the deck can fix it, installing can.
    #[error("{}no Jupyter kernelspec `{name}` found (searched {}); install it with: {}",
        language.map(|l| format!("cannot run {} decks: ", l.display)).unwrap_or_default(),
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        language.map(|l| l.install).unwrap_or("the kernel's own installer, which writes kernels/<name>/kernel.json"))]
    NoKernelspec { name: String, searched: Vec<PathBuf>, language: Option<&'static languages::Language> },
    #[error("kernelspec {path} is invalid: {message}")]
    BadKernelspec { path: PathBuf, message: String },
    #[error("cannot start kernel `{argv}`: {source}")]
    Spawn { argv: String, source: std::io::Error },
    #[error("kernel {name} died while starting ({status}); its log ends with:\n{log}")]
    DiedAtStart { name: String, status: String, log: String },
    #[error("kernel {name} did not answer within {secs} s of starting")]
    StartTimeout { name: String, secs: u64 },
    #[error("kernel {name} died ({status}); its log ends with:\n{log}")]
    Died { name: String, status: String, log: String },
    #[error("cell did not finish within {secs} s (interrupted, then the kernel was stopped)")]
    CellTimeout { secs: u64 },
    #[error(
        "the kernel was still publishing the cell's output {secs} s after the cell finished; its outputs may be \
         incomplete, so the deck fails rather than be published cut short"
    )]
    OutputIncomplete { secs: u64 },
    #[error("stopped: the job was cancelled or passed its time limit (the kernel was killed)")]
    Stopped,
    #[error("cannot fork a kernel from the fork server: {0}")]
    Fork(String),
    #[error("kernel protocol error: {0}")]
    Protocol(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

impl KernelError {
    /// Whether the error lies in the machine's setup (a kernel missing, broken
    /// or not startable) rather than in the deck: such a result must not be
    /// remembered as the deck's outcome.
    pub fn is_environment(&self) -> bool {
        matches!(self, KernelError::NoKernelspec { .. } | KernelError::BadKernelspec { .. } | KernelError::Spawn { .. })
    }

    /// Attach the deck language a missing kernelspec was looked up for, so
    /// the message names the language and its install command.
    pub fn for_language(self, prog_lang: &str) -> KernelError {
        match self {
            KernelError::NoKernelspec { name, searched, .. } => {
                KernelError::NoKernelspec { name, searched, language: languages::language(prog_lang) }
            }
            other => other,
        }
    }

    /// Whether a fresh kernel could succeed where this one failed.
    pub fn is_kernel_death(&self) -> bool {
        matches!(self, KernelError::Died { .. })
    }
}
