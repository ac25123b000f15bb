//! Runs notebook cells in real Jupyter kernels over the Jupyter messaging
//! protocol: kernelspec discovery ([`kernelspec`]), one kernel's lifecycle
//! ([`kernel`]) and warm kernels behind a synchronous API ([`executor`]).

pub mod executor;
pub mod kernel;
pub mod kernelspec;
pub mod notebook;

use std::path::PathBuf;

pub use executor::{Executor, Session};
pub use kernel::{CellError, CellRun, Kernel, Wire};
pub use kernelspec::Kernelspec;
pub use notebook::{copy_outputs, execute, kernel_for, strip_ansi, ExecuteError};

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("no Jupyter kernelspec `{name}` found (searched {}); install it, e.g. run scripts/setup for python3", searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoKernelspec { name: String, searched: Vec<PathBuf> },
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
    #[error("kernel protocol error: {0}")]
    Protocol(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

impl KernelError {
    /// Whether a fresh kernel could succeed where this one failed.
    pub fn is_kernel_death(&self) -> bool {
        matches!(self, KernelError::Died { .. })
    }
}
