//! The synchronous face of the kernel client, for a converter: one tokio
//! runtime per worker, and a warm kernel per kernelspec started ahead of
//! time, so a deck never waits for a kernel start while the pool is busy.
//!
//! Each deck gets a fresh kernel (module state, cwd and threads would leak
//! between decks otherwise); the next one is already starting while the
//! current deck runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::kernel::{CellRun, Kernel};
use crate::kernelspec::{self, Kernelspec};
use crate::KernelError;

type Starting = JoinHandle<Result<Kernel, KernelError>>;

pub struct Executor {
    rt: tokio::runtime::Runtime,
    dirs: Vec<PathBuf>,
    /// Where kernels start before a deck claims them.
    neutral: tempfile::TempDir,
    warm: Mutex<HashMap<String, Starting>>,
}

impl Executor {
    /// `env_prefixes`: Python environments whose kernelspecs come first
    /// (the project's tools venv).
    pub fn new(env_prefixes: &[PathBuf]) -> Result<Executor, KernelError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            // Kernels get a parent-death signal tied to the thread that
            // spawned them; runtime worker threads live as long as we do.
            .worker_threads(1)
            .enable_all()
            .thread_name("clx-kernels")
            .build()
            .map_err(|e| KernelError::Io("cannot start the kernel runtime".into(), e))?;
        let neutral = tempfile::Builder::new()
            .prefix("clx-kernel-home-")
            .tempdir()
            .map_err(|e| KernelError::Io("cannot create a kernel dir".into(), e))?;
        Ok(Executor { rt, dirs: kernelspec::data_dirs(env_prefixes), neutral, warm: Mutex::new(HashMap::new()) })
    }

    pub fn kernelspec(&self, name: &str) -> Result<Kernelspec, KernelError> {
        kernelspec::find(name, &self.dirs)
    }

    fn start_in_background(&self, spec: Kernelspec) -> Starting {
        let dir = self.neutral.path().to_owned();
        self.rt.spawn(async move { Kernel::start(&spec, &dir).await })
    }

    /// [`Executor::session`] for a deck language: a missing kernelspec
    /// names the language and its install command.
    pub fn session_for(&self, prog_lang: &str, name: &str, work_dir: &Path) -> Result<Session<'_>, KernelError> {
        self.session(name, work_dir).map_err(|e| e.for_language(prog_lang))
    }

    /// A fresh kernel for one deck, working in `work_dir`. Where the kernel
    /// can be moved into `work_dir` after starting, it was started ahead of
    /// time and the next one starts at once in the background; otherwise it
    /// starts now, in `work_dir`.
    pub fn session(&self, name: &str, work_dir: &Path) -> Result<Session<'_>, KernelError> {
        let spec = self.kernelspec(name)?;
        let Some(setup) = chdir_code(&spec, work_dir) else {
            let kernel = self.rt.block_on(Kernel::start(&spec, work_dir))?;
            return Ok(Session { exec: self, kernel: Some(kernel) });
        };
        let starting = {
            let mut warm = self.warm.lock().unwrap_or_else(|e| e.into_inner());
            let current = warm.remove(name).unwrap_or_else(|| self.start_in_background(spec.clone()));
            warm.insert(name.to_owned(), self.start_in_background(spec.clone()));
            current
        };
        let mut kernel = match self.rt.block_on(starting) {
            Ok(Ok(k)) => k,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(KernelError::Protocol(format!("kernel start task failed: {e}"))),
        };
        self.rt.block_on(kernel.run_silent(&setup))?;
        Ok(Session { exec: self, kernel: Some(kernel) })
    }
}

/// Code that moves a running kernel into `dir` (and, for Python, makes
/// modules there importable), for the languages where that is known to
/// work; `None` means the kernel has to be started in `dir`.
fn chdir_code(spec: &Kernelspec, dir: &Path) -> Option<String> {
    let dir = dir.to_string_lossy();
    // A JSON string is a valid Python, TypeScript and (debug-escaped) Rust literal.
    let quoted = serde_json::to_string(dir.as_ref()).ok()?;
    match spec.spec.language.to_ascii_lowercase().as_str() {
        "python" => Some(format!(
            "import os as __o, sys as __s, importlib as __i\n__o.chdir({quoted})\n__s.path.insert(0, {quoted})\n__i.invalidate_caches()\ndel __o, __s, __i"
        )),
        // Deno resolves relative imports against the current directory.
        "typescript" | "javascript" => Some(format!("Deno.chdir({quoted});")),
        // evcxr loads each cell into its one runtime process.
        "rust" => Some(format!("std::env::set_current_dir({:?}).unwrap();", dir.as_ref())),
        _ => None,
    }
}

/// One deck's kernel. Dropping it shuts the kernel down in the background.
pub struct Session<'e> {
    exec: &'e Executor,
    kernel: Option<Kernel>,
}

impl Session<'_> {
    pub fn run(&mut self, code: &str, limit: Duration) -> Result<CellRun, KernelError> {
        let kernel = self.kernel.as_mut().ok_or_else(|| KernelError::Protocol("the kernel is gone".into()))?;
        let result = self.exec.rt.block_on(kernel.execute(code, limit));
        if matches!(result, Err(KernelError::Died { .. }) | Err(KernelError::CellTimeout { .. })) {
            // Dead or stuck: nothing more can run in it.
            self.kernel = None;
        }
        result
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Some(kernel) = self.kernel.take() {
            self.exec.rt.spawn(kernel.shutdown());
        }
    }
}
