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

    /// Make sure a kernel of this spec is starting, without waiting for it.
    pub fn prewarm(&self, name: &str) -> Result<(), KernelError> {
        let spec = self.kernelspec(name)?;
        let mut warm = self.warm.lock().unwrap_or_else(|e| e.into_inner());
        if !warm.contains_key(name) {
            warm.insert(name.to_owned(), self.start_in_background(spec));
        }
        Ok(())
    }

    /// A fresh kernel for one deck, working in `work_dir`. The next kernel of
    /// this spec starts at once in the background.
    pub fn session(&self, name: &str, work_dir: &Path) -> Result<Session<'_>, KernelError> {
        let spec = self.kernelspec(name)?;
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
        if spec.spec.language.eq_ignore_ascii_case("python") {
            let dir = work_dir.to_string_lossy().replace('\\', "\\\\").replace('\'', "\\'");
            let setup = format!(
                "import os as __o, sys as __s, importlib as __i\n__o.chdir('{dir}')\n__s.path.insert(0, '{dir}')\n__i.invalidate_caches()\ndel __o, __s, __i"
            );
            self.rt.block_on(kernel.run_silent(&setup))?;
        }
        Ok(Session { exec: self, kernel: Some(kernel) })
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
