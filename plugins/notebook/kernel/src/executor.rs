//! The synchronous face of the kernel client, for a converter: one tokio
//! runtime per worker, and a warm kernel per kernelspec started ahead of
//! time, so a deck never waits for a kernel start while the pool is busy.
//!
//! Each deck gets a fresh kernel (module state, cwd and threads would leak
//! between decks otherwise). Python kernels that ipykernel runs are forked
//! from a fork server per kernelspec ([`crate::forkserver`]), in the deck's
//! directory; when that server cannot be used, and for the other languages,
//! the next kernel is already starting while the current deck runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;

use std::sync::Arc;

use crate::forkserver::{ForkServer, IpykernelLaunch};
use crate::kernel::{CellRun, Kernel};
use crate::kernelspec::{self, Kernelspec};
use crate::KernelError;

type Starting = JoinHandle<Result<Kernel, KernelError>>;

/// Whether Python kernels fork from a pre-started server, and what it
/// imports besides ipykernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkOptions {
    pub enabled: bool,
    /// Modules the server imports once, so that every deck finds them
    /// loaded (`numpy`, `pandas`).
    pub preload: Vec<String>,
}

impl Default for ForkOptions {
    fn default() -> Self {
        ForkOptions { enabled: true, preload: Vec::new() }
    }
}

/// What a build's log should say about the fork servers: each is said once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForkNote {
    Started {
        kernel: String,
        interpreter: String,
        pid: i32,
        preload: Vec<String>,
    },
    /// A preload module the server could not import; decks import it themselves.
    PreloadFailed {
        kernel: String,
        module: String,
        error: String,
    },
    /// Kernels of `kernel` start without a fork server from now on.
    Fallback {
        kernel: String,
        reason: String,
    },
}

impl ForkNote {
    pub fn is_warning(&self) -> bool {
        matches!(self, ForkNote::PreloadFailed { .. })
    }
}

impl std::fmt::Display for ForkNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForkNote::Started { kernel, interpreter, pid, preload } => {
                write!(f, "kernel {kernel}: forking kernels from a server (pid {pid}) running {interpreter}")?;
                if !preload.is_empty() {
                    write!(f, " with {} preloaded", preload.join(", "))?;
                }
                Ok(())
            }
            ForkNote::PreloadFailed { kernel, module, error } => write!(
                f,
                "kernel {kernel}: the fork server cannot preload `{module}` ({error}); decks that use it import it themselves"
            ),
            ForkNote::Fallback { kernel, reason } => {
                write!(f, "kernel {kernel}: starting kernels without the fork server: {reason}")
            }
        }
    }
}

/// A kernelspec's fork server, or why it has none.
enum ServerSlot {
    Ready(Arc<ForkServer>),
    Off,
}

pub struct Executor {
    // Dropped first: its tasks' kernels go before the fork servers do.
    rt: tokio::runtime::Runtime,
    dirs: Vec<PathBuf>,
    /// Where kernels start before a deck claims them.
    neutral: tempfile::TempDir,
    warm: Mutex<HashMap<String, Warm>>,
    fork: ForkOptions,
    /// Per kernelspec name.
    servers: Mutex<HashMap<String, ServerSlot>>,
    notes: Mutex<Vec<ForkNote>>,
}

impl Executor {
    /// `env_prefixes`: Python environments whose kernelspecs come first
    /// (the project's tools venv). Python kernels fork from a fork server.
    pub fn new(env_prefixes: &[PathBuf]) -> Result<Executor, KernelError> {
        Executor::with_fork(env_prefixes, ForkOptions::default())
    }

    /// [`Executor::new`] with a choice about the fork server.
    pub fn with_fork(env_prefixes: &[PathBuf], fork: ForkOptions) -> Result<Executor, KernelError> {
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
        Ok(Executor {
            rt,
            dirs: kernelspec::data_dirs(env_prefixes),
            neutral,
            warm: Mutex::new(HashMap::new()),
            fork,
            servers: Mutex::new(HashMap::new()),
            notes: Mutex::new(Vec::new()),
        })
    }

    /// What happened to the fork servers since the last call, for the log.
    pub fn take_notes(&self) -> Vec<ForkNote> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The process id of kernelspec `name`'s fork server, while it runs.
    pub fn fork_server_pid(&self, name: &str) -> Option<i32> {
        match self.servers.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            Some(ServerSlot::Ready(server)) if server.is_alive() => Some(server.pid()),
            _ => None,
        }
    }

    fn note(&self, note: ForkNote) {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(note);
    }

    /// The fork server for `spec`, started on first use; `None` when its
    /// kernels start without one (not an ipykernel kernelspec, turned off,
    /// or the server failed, which is noted once).
    fn fork_server(&self, spec: &Kernelspec) -> Option<Arc<ForkServer>> {
        if !self.fork.enabled || !spec.spec.language.eq_ignore_ascii_case("python") {
            return None;
        }
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        let fallback = |servers: &mut HashMap<String, ServerSlot>, reason: String| {
            servers.insert(spec.name.clone(), ServerSlot::Off);
            self.note(ForkNote::Fallback { kernel: spec.name.clone(), reason });
            None
        };
        // The server runs what the kernelspec would: its interpreter with
        // its options and environment.
        let argv = spec.argv(Path::new("{connection_file}"));
        let Some(launch) = IpykernelLaunch::parse(&argv) else {
            if matches!(servers.get(&spec.name), Some(ServerSlot::Off)) {
                return None;
            }
            let reason = format!("its kernelspec does not run `python -m ipykernel_launcher` ({})", argv.join(" "));
            return fallback(&mut servers, reason);
        };
        match servers.get(&spec.name) {
            Some(ServerSlot::Off) => return None,
            Some(ServerSlot::Ready(server)) if !server.is_alive() => {
                let reason = format!("its fork server (pid {}) died", server.pid());
                return fallback(&mut servers, reason);
            }
            Some(ServerSlot::Ready(server)) if server.interpreter() == launch.interpreter.as_slice() => {
                return Some(Arc::clone(server));
            }
            // The kernelspec changed: a server for its new interpreter.
            Some(ServerSlot::Ready(_)) | None => {}
        }
        match ForkServer::start(spec, &launch, &self.fork.preload) {
            Ok(server) => {
                let failed: Vec<&str> = server.failed_preloads.iter().map(|(m, _)| m.as_str()).collect();
                self.note(ForkNote::Started {
                    kernel: spec.name.clone(),
                    interpreter: launch.interpreter.join(" "),
                    pid: server.pid(),
                    preload: self.fork.preload.iter().filter(|m| !failed.contains(&m.as_str())).cloned().collect(),
                });
                for (module, error) in &server.failed_preloads {
                    self.note(ForkNote::PreloadFailed {
                        kernel: spec.name.clone(),
                        module: module.clone(),
                        error: error.clone(),
                    });
                }
                let server = Arc::new(server);
                servers.insert(spec.name.clone(), ServerSlot::Ready(Arc::clone(&server)));
                Some(server)
            }
            Err(e) => fallback(&mut servers, format!("the fork server could not start: {e}")),
        }
    }

    /// Stop forking kernels of `name` (a forked kernel failed to start).
    fn give_up_forking(&self, name: &str, reason: String) {
        self.servers.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned(), ServerSlot::Off);
        self.note(ForkNote::Fallback { kernel: name.to_owned(), reason });
    }

    /// Start kernelspec `name`'s fork server now, before a deck asks for
    /// it, so the first deck forks at once. A server that cannot start is
    /// noted as when a deck asks, and the deck then starts its kernel
    /// plainly.
    pub fn start_fork_server(&self, name: &str) {
        if let Ok(spec) = self.kernelspec(name) {
            self.fork_server(&spec);
        }
    }

    pub fn kernelspec(&self, name: &str) -> Result<Kernelspec, KernelError> {
        kernelspec::find(name, &self.dirs)
    }

    /// Start a kernel of `spec` in the background: in the shared neutral
    /// directory, or in a home of its own under it when the kernel will be
    /// moved by renaming that home.
    fn start_in_background(&self, spec: Kernelspec, own_home: bool) -> Result<Warm, KernelError> {
        let home = if own_home {
            let home = tempfile::Builder::new()
                .prefix("home-")
                .tempdir_in(self.neutral.path())
                .map_err(|e| KernelError::Io("cannot create a kernel dir".into(), e))?;
            Some(home)
        } else {
            None
        };
        let dir = home.as_ref().map(|h| h.path()).unwrap_or(self.neutral.path()).to_owned();
        let task = self.rt.spawn(async move { Kernel::start(&spec, &dir).await });
        Ok(Warm { task, home })
    }

    /// [`Executor::session`] for a deck language: a missing kernelspec
    /// names the language and its install command.
    pub fn session_for(&self, prog_lang: &str, name: &str, work_dir: &Path) -> Result<Session<'_>, KernelError> {
        self.session(name, work_dir).map_err(|e| e.for_language(prog_lang))
    }

    /// A fresh kernel for one deck, working in `work_dir`. A Python kernel
    /// is forked from its kernelspec's fork server when it has one. Where the kernel
    /// can be moved into `work_dir` after starting, it was started ahead of
    /// time and the next one starts at once in the background; otherwise it
    /// starts now, in `work_dir`.
    pub fn session(&self, name: &str, work_dir: &Path) -> Result<Session<'_>, KernelError> {
        let spec = self.kernelspec(name)?;
        if let Some(server) = self.fork_server(&spec) {
            match self.rt.block_on(Kernel::start_forked(&spec, work_dir, &server)) {
                Ok(kernel) => return Ok(Session { exec: self, kernel: Some(kernel), started_in: None }),
                Err(e) => self.give_up_forking(name, format!("a forked kernel did not start: {e}")),
            }
        }
        let move_in = Relocation::for_spec(&spec, work_dir, self.neutral.path());
        let (setup, own_home) = match &move_in {
            Relocation::Chdir(setup) => (setup, false),
            Relocation::Adopt(setup) => (setup, true),
            Relocation::StartThere => {
                let kernel = self.rt.block_on(Kernel::start(&spec, work_dir))?;
                return Ok(Session { exec: self, kernel: Some(kernel), started_in: None });
            }
        };
        let starting = {
            let mut warm = self.warm.lock().unwrap_or_else(|e| e.into_inner());
            let current = match warm.remove(name) {
                Some(current) => current,
                None => self.start_in_background(spec.clone(), own_home)?,
            };
            if let Ok(next) = self.start_in_background(spec.clone(), own_home) {
                warm.insert(name.to_owned(), next);
            }
            current
        };
        let mut kernel = match self.rt.block_on(starting.task) {
            Ok(Ok(k)) => k,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(KernelError::Protocol(format!("kernel start task failed: {e}"))),
        };
        let mut started_in = None;
        if let Some(home) = starting.home {
            started_in = Some(home.path().to_owned());
            adopt(home, work_dir)?;
        }
        self.rt.block_on(kernel.run_silent(setup))?;
        Ok(Session { exec: self, kernel: Some(kernel), started_in })
    }
}

/// A kernel being started ahead, and the home it starts in when it has one.
struct Warm {
    task: Starting,
    /// Removed with the kernel unless a deck adopts it.
    home: Option<tempfile::TempDir>,
}

/// How a kernel started ahead of time comes to work in a deck's directory.
enum Relocation {
    /// It runs code that changes its working directory (and, for Python,
    /// its import path).
    Chdir(String),
    /// Its process cannot change directory (a JVM): it starts in a home of
    /// its own, which then becomes the deck's directory by rename (the
    /// deck's files moved in), and the code tells it the new path.
    Adopt(String),
    /// Neither is known to work: it starts in the deck's directory.
    StartThere,
}

impl Relocation {
    fn for_spec(spec: &Kernelspec, work_dir: &Path, homes: &Path) -> Relocation {
        let dir = work_dir.to_string_lossy();
        // A JSON string is a valid Python, TypeScript and Java literal, and
        // (debug-escaped) a Rust one.
        let Ok(quoted) = serde_json::to_string(dir.as_ref()) else { return Relocation::StartThere };
        match spec.spec.language.to_ascii_lowercase().as_str() {
            "python" => Relocation::Chdir(format!(
                "import os as __o, sys as __s, importlib as __i\n__o.chdir({quoted})\n__s.path.insert(0, {quoted})\n__i.invalidate_caches()\ndel __o, __s, __i"
            )),
            // Deno resolves relative imports against the current directory.
            "typescript" | "javascript" => Relocation::Chdir(format!("Deno.chdir({quoted});")),
            // evcxr loads each cell into its one runtime process.
            "rust" => Relocation::Chdir(format!("std::env::set_current_dir({:?}).unwrap();", dir.as_ref())),
            // A rename works within one file system only.
            "java" if same_file_system(work_dir, homes) => {
                Relocation::Adopt(format!("System.setProperty(\"user.dir\", {quoted});"))
            }
            _ => Relocation::StartThere,
        }
    }
}

fn same_file_system(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

/// Make `home` (where a kernel runs) the deck's directory `work_dir`: the
/// deck's files move into it, then it takes `work_dir`'s place. A process's
/// working directory follows its directory through a rename.
fn adopt(home: tempfile::TempDir, work_dir: &Path) -> Result<(), KernelError> {
    let io = |what: &str, path: &Path| {
        let message = format!("{what} {}", path.display());
        move |e| KernelError::Io(message, e)
    };
    let entries = std::fs::read_dir(work_dir).map_err(io("cannot read", work_dir))?;
    for entry in entries {
        let entry = entry.map_err(io("cannot read", work_dir))?;
        let to = home.path().join(entry.file_name());
        std::fs::rename(entry.path(), &to).map_err(io("cannot move a deck file to", &to))?;
    }
    std::fs::remove_dir(work_dir).map_err(io("cannot replace", work_dir))?;
    let home = home.keep();
    std::fs::rename(&home, work_dir).map_err(io("cannot move the kernel's directory to", work_dir))
}

/// One deck's kernel. Dropping it shuts the kernel down in the background
/// (a forked one is killed).
pub struct Session<'e> {
    exec: &'e Executor,
    kernel: Option<Kernel>,
    /// Where the kernel started, when that is not the deck's directory but
    /// became it by rename: absolute paths the kernel computes from its
    /// start (a JVM's `File.getAbsolutePath()`) still name it.
    started_in: Option<PathBuf>,
}

impl Session<'_> {
    /// The kernel's process id, while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.kernel.as_ref().map(Kernel::pid)
    }

    /// The directory the kernel started in, when it was renamed to the
    /// deck's directory afterwards.
    pub fn started_in(&self) -> Option<&Path> {
        self.started_in.as_deref()
    }

    /// Whether the kernel was forked from a fork server.
    pub fn is_forked(&self) -> bool {
        self.kernel.as_ref().is_some_and(Kernel::is_forked)
    }

    pub fn run(&mut self, code: &str, limit: Duration) -> Result<CellRun, KernelError> {
        self.run_until(code, limit, &|| false)
    }

    /// [`Session::run`], stopped when `stop` turns true
    /// ([`Kernel::execute_until`]).
    pub fn run_until(&mut self, code: &str, limit: Duration, stop: &dyn Fn() -> bool) -> Result<CellRun, KernelError> {
        let kernel = self.kernel.as_mut().ok_or_else(|| KernelError::Protocol("the kernel is gone".into()))?;
        let result = self.exec.rt.block_on(kernel.execute_until(code, limit, stop));
        if matches!(
            result,
            Err(KernelError::Died { .. }) | Err(KernelError::CellTimeout { .. }) | Err(KernelError::Stopped)
        ) {
            // Dead or stuck: nothing more can run in it.
            self.kernel = None;
        }
        result
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Some(kernel) = self.kernel.take() {
            if kernel.is_forked() {
                // A deck's outputs are all in; what ipykernel does on its way
                // out (history to a temp dir, tearing down every module) has
                // no reader and costs more CPU than the forked start did.
                self.exec.rt.spawn(kernel.kill());
            } else {
                self.exec.rt.spawn(kernel.shutdown());
            }
        }
    }
}
