//! Python kernels forked from a pre-started interpreter.
//!
//! Starting ipykernel costs about half a CPU-second of imports before the
//! kernel answers. A fork server (`forkserver.py`, run by the kernelspec's
//! own interpreter, flags and environment) does those imports once, plus the
//! modules a course asks to preload, and forks a kernel per deck. Each fork
//! comes from the untouched server, never from a used kernel, so decks start
//! from the same fresh state a plain start gives.
//!
//! The server is this process's child; its kernels are the server's. The
//! server reaps them and reports their pids and exits; it dies with the
//! thread that started it (parent-death signal), its kernels die with it,
//! and it kills them and exits when its stdin closes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

use crate::kernelspec::Kernelspec;
use crate::launch::{self, LaunchEnv};

const SCRIPT: &str = include_str!("forkserver.py");

/// How long the server may take to import ipykernel and the preloads
/// (pandas alone can take seconds on a loaded machine).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a fork request may take to be answered.
const FORK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a closed server may take to kill its kernels and exit before it
/// is killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Why a fork server cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ForkServerError {
    #[error("cannot start {interpreter}: {source}")]
    Spawn { interpreter: String, source: std::io::Error },
    #[error("{0}")]
    Unfit(String),
    #[error("it exited before it was ready; its log ends with:\n{log}")]
    Exited { log: String },
    #[error("it was not ready within {secs} s")]
    Timeout { secs: u64 },
    #[error("it is gone (exited or killed)")]
    Gone,
    #[error("cannot send it a request: {0}")]
    Io(std::io::Error),
    #[error("it could not fork: {0}")]
    Refused(String),
    #[error("it did not answer a fork request within {secs} s")]
    ForkTimeout { secs: u64 },
}

/// A kernelspec's argv split where the fork server needs it: what starts
/// the interpreter (run once, for the server) and what the kernel module
/// gets (per fork).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpykernelLaunch {
    /// The interpreter and its options, up to `-m`.
    pub interpreter: Vec<String>,
    /// `ipykernel_launcher` or `ipykernel`.
    pub module: String,
    /// The module's arguments (`-f <connection file>`, …).
    pub args: Vec<String>,
}

impl IpykernelLaunch {
    /// `python [options] -m ipykernel_launcher|ipykernel args…`, and `None`
    /// for any other command: only that shape is known to mean "import
    /// ipykernel, then run its launcher", which the server can do by fork.
    pub fn parse(argv: &[String]) -> Option<IpykernelLaunch> {
        let (program, rest) = argv.split_first()?;
        let name = Path::new(program).file_name()?.to_str()?;
        if !name.starts_with("python") {
            return None;
        }
        let mut interpreter = vec![program.clone()];
        let mut i = 0;
        while i < rest.len() {
            let arg = &rest[i];
            if arg == "-m" {
                let module = rest.get(i + 1)?;
                if module != "ipykernel_launcher" && module != "ipykernel" {
                    return None;
                }
                return Some(IpykernelLaunch { interpreter, module: module.clone(), args: rest[i + 2..].to_vec() });
            }
            // `-c`, a script or `-` would run something else than ipykernel.
            if !arg.starts_with('-') || arg == "-" || arg.starts_with("-c") || arg == "--" {
                return None;
            }
            interpreter.push(arg.clone());
            // The two options whose value may be the next argument.
            if arg == "-X" || arg == "-W" {
                interpreter.push(rest.get(i + 1)?.clone());
                i += 1;
            }
            i += 1;
        }
        None
    }
}

/// A kernel the fork server started.
#[derive(Debug)]
pub struct ForkedChild {
    pub pid: i32,
    exit: watch::Receiver<Option<String>>,
}

impl ForkedChild {
    /// Wait for the kernel's exit, as the server reported it. Cancel-safe.
    pub async fn wait(&mut self) -> String {
        match self.exit.wait_for(Option::is_some).await {
            Ok(status) => status.clone().unwrap_or_default(),
            Err(_) => "no exit status (the fork server is gone)".to_owned(),
        }
    }
}

/// What the server's reader shares with the requesters.
#[derive(Default)]
struct State {
    next_id: u64,
    pending: HashMap<u64, oneshot::Sender<Result<ForkedChild, String>>>,
    exits: HashMap<i32, watch::Sender<Option<String>>>,
    /// Set once the server's output ended: it is gone.
    gone: bool,
}

pub struct ForkServer {
    pid: i32,
    /// The interpreter command line the server runs, for messages and to
    /// tell whether a kernelspec still matches it.
    interpreter: Vec<String>,
    /// `None` once closed.
    requests: Mutex<Option<ChildStdin>>,
    state: Arc<Mutex<State>>,
    /// The server process, shared with the reader thread, which reaps it.
    child: Arc<Mutex<Option<Child>>>,
    /// Ends when the reader thread has reaped the server.
    reaped: Mutex<std_mpsc::Receiver<()>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Preload modules that could not be imported, with the error.
    pub failed_preloads: Vec<(String, String)>,
    /// The server's own log (stderr).
    _dir: tempfile::TempDir,
}

impl ForkServer {
    /// Start a server for `launch`'s interpreter with `spec`'s environment,
    /// importing `preload` after ipykernel, and wait until it is ready.
    pub fn start(
        spec: &Kernelspec,
        launch: &IpykernelLaunch,
        preload: &[String],
    ) -> Result<ForkServer, ForkServerError> {
        let dir = tempfile::Builder::new().prefix("clx-forkserver-").tempdir().map_err(ForkServerError::Io)?;
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).map_err(ForkServerError::Io)?;
        let (program, sandbox) = clx_sys::sandbox::wrap(&launch.interpreter[0]);
        let mut cmd = Command::new(program);
        cmd.args(sandbox);
        LaunchEnv::for_spec(spec).apply(&mut cmd);
        clx_sys::process::own_group_dying_with_parent(&mut cmd);
        cmd.args(&launch.interpreter[1..])
            .arg("-c")
            .arg(SCRIPT)
            .args(preload)
            // An empty directory of its own: the server's `sys.path` starts
            // with its cwd while it imports.
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);

        let state = Arc::new(Mutex::new(State::default()));
        let child_slot: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
        let (started_tx, started_rx) = std_mpsc::channel::<Result<(i32, ChildStdin), std::io::Error>>();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<Value, String>>();
        let (reaped_tx, reaped_rx) = std_mpsc::channel::<()>();
        // The reader thread starts the server: the parent-death signal fires
        // when the thread that forked exits, and this one lives exactly as
        // long as the server's output is open.
        let reader = {
            let (state, child_slot) = (Arc::clone(&state), Arc::clone(&child_slot));
            std::thread::Builder::new()
                .name("clx-forkserver".into())
                .spawn(move || {
                    let spawned = {
                        let _guard = launch::SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                        cmd.spawn()
                    };
                    let mut child = match spawned {
                        Ok(child) => child,
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                            return;
                        }
                    };
                    let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
                    let pid = child.id() as i32;
                    *child_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
                    if let Some(stdin) = stdin {
                        let _ = started_tx.send(Ok((pid, stdin)));
                    }
                    if let Some(stdout) = stdout {
                        read_replies(BufReader::new(stdout), &state, ready_tx);
                    }
                    server_gone(&state);
                    if let Some(mut child) = child_slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        let _ = child.wait();
                    }
                    drop(reaped_tx);
                })
                .map_err(ForkServerError::Io)?
        };
        let interpreter = launch.interpreter.clone();
        let (pid, stdin) = match started_rx.recv() {
            Ok(Ok(started)) => started,
            Ok(Err(source)) => {
                let _ = reader.join();
                return Err(ForkServerError::Spawn { interpreter: interpreter.join(" "), source });
            }
            Err(_) => {
                let _ = reader.join();
                return Err(ForkServerError::Gone);
            }
        };
        let mut server = ForkServer {
            pid,
            interpreter,
            requests: Mutex::new(Some(stdin)),
            state,
            child: child_slot,
            reaped: Mutex::new(reaped_rx),
            reader: Some(reader),
            failed_preloads: Vec::new(),
            _dir: dir,
        };
        // On an error `server` is dropped, which stops the process.
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(ready)) => {
                server.failed_preloads = ready["failed"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| Some((f.get(0)?.as_str()?.to_owned(), f.get(1)?.as_str()?.to_owned())))
                    .collect();
                Ok(server)
            }
            Ok(Err(unfit)) => Err(ForkServerError::Unfit(unfit)),
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(ForkServerError::Timeout { secs: READY_TIMEOUT.as_secs() }),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                server.close();
                Err(ForkServerError::Exited { log: launch::log_tail(&log_path) })
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The interpreter command line the server runs.
    pub fn interpreter(&self) -> &[String] {
        &self.interpreter
    }

    /// Whether the server still takes requests.
    pub fn is_alive(&self) -> bool {
        !self.state.lock().unwrap_or_else(|e| e.into_inner()).gone
    }

    /// Fork a kernel running `launch.module` with `launch.args`, working in
    /// `cwd`, its stdout and stderr appended to `log`.
    pub async fn fork(&self, launch: &IpykernelLaunch, cwd: &Path, log: &Path) -> Result<ForkedChild, ForkServerError> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.gone {
                return Err(ForkServerError::Gone);
            }
            state.next_id += 1;
            let id = state.next_id;
            state.pending.insert(id, tx);
            id
        };
        let request = json!({"fork": {
            "id": id,
            "module": launch.module,
            "args": launch.args,
            "cwd": cwd,
            "log": log,
        }});
        let mut line = request.to_string();
        line.push('\n');
        let sent = {
            let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            match requests.as_mut() {
                // A few hundred bytes into an empty pipe: never blocks for long.
                Some(stdin) => stdin.write_all(line.as_bytes()).and_then(|()| stdin.flush()),
                None => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
            }
        };
        if let Err(e) = sent {
            self.state.lock().unwrap_or_else(|e| e.into_inner()).pending.remove(&id);
            return Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe => ForkServerError::Gone,
                _ => ForkServerError::Io(e),
            });
        }
        match tokio::time::timeout(FORK_TIMEOUT, rx).await {
            Ok(Ok(Ok(child))) => Ok(child),
            Ok(Ok(Err(message))) => Err(ForkServerError::Refused(message)),
            Ok(Err(_)) => Err(ForkServerError::Gone),
            Err(_) => {
                self.state.lock().unwrap_or_else(|e| e.into_inner()).pending.remove(&id);
                Err(ForkServerError::ForkTimeout { secs: FORK_TIMEOUT.as_secs() })
            }
        }
    }

    /// Close the server's stdin (it kills its kernels and exits), wait for
    /// it to be reaped, and kill it if it does not go.
    fn close(&mut self) {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).take();
        let reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(EXIT_GRACE);
        if let Err(std_mpsc::RecvTimeoutError::Timeout) = reaped {
            // Still running, so not reaped: the pid is still the server's.
            if let Some(child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                let _ = child.kill();
            }
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Dispatch the server's replies until its output ends.
fn read_replies(stdout: impl BufRead, state: &Mutex<State>, ready: std_mpsc::Sender<Result<Value, String>>) {
    let mut ready = Some(ready);
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        let Ok(reply) = serde_json::from_str::<Value>(&line) else { continue };
        if let Some(info) = reply.get("ready") {
            if let Some(ready) = ready.take() {
                let _ = ready.send(Ok(info.clone()));
            }
        } else if let Some(reason) = reply.get("unfit") {
            if let Some(ready) = ready.take() {
                let _ = ready.send(Err(reason.as_str().unwrap_or("unfit").to_owned()));
            }
        } else if let Some(forked) = reply.get("forked") {
            let (Some(id), Some(pid)) = (forked["id"].as_u64(), forked["pid"].as_i64()) else { continue };
            let pid = pid as i32;
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            // Registered here, before any later line is read, so the
            // kernel's exit cannot be reported to no one.
            let (exit_tx, exit_rx) = watch::channel(None);
            state.exits.insert(pid, exit_tx);
            match state.pending.remove(&id) {
                Some(reply) => {
                    if let Err(Ok(orphan)) = reply.send(Ok(ForkedChild { pid, exit: exit_rx })) {
                        // The requester gave up: nobody will use this kernel.
                        // SAFETY: signals the kernel's own process group.
                        unsafe {
                            libc::killpg(orphan.pid, libc::SIGKILL);
                        }
                    }
                }
                // SAFETY: as above; a kernel no request waits for.
                None => unsafe {
                    libc::killpg(pid, libc::SIGKILL);
                },
            }
        } else if let Some(error) = reply.get("error") {
            let message = error["message"].as_str().unwrap_or("unknown error").to_owned();
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(reply) = error["id"].as_u64().and_then(|id| state.pending.remove(&id)) {
                let _ = reply.send(Err(message));
            }
        } else if let Some(exited) = reply.get("exited") {
            let (Some(pid), Some(code)) = (exited["pid"].as_i64(), exited["status"].as_i64()) else { continue };
            let status = if code < 0 { format!("signal: {}", -code) } else { format!("exit status: {code}") };
            if let Some(exit) = state.lock().unwrap_or_else(|e| e.into_inner()).exits.remove(&(pid as i32)) {
                let _ = exit.send(Some(status));
            }
        }
    }
}

/// The server's output ended: fail what waits on it. Its kernels die with
/// it (parent-death signal).
fn server_gone(state: &Mutex<State>) {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state.gone = true;
    state.pending.clear();
    for (_, exit) in state.exits.drain() {
        let _ = exit.send(Some("killed with its fork server".to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn only_python_running_the_ipykernel_module_can_be_forked() {
        let launch = IpykernelLaunch::parse(&argv(&[
            "/v/bin/python",
            "-Xfrozen_modules=off",
            "-m",
            "ipykernel_launcher",
            "-f",
            "c.json",
        ]))
        .expect("the tools venv's kernelspec");
        assert_eq!(launch.interpreter, argv(&["/v/bin/python", "-Xfrozen_modules=off"]));
        assert_eq!((launch.module.as_str(), launch.args.clone()), ("ipykernel_launcher", argv(&["-f", "c.json"])));
        let spaced = IpykernelLaunch::parse(&argv(&["python3", "-X", "dev", "-m", "ipykernel", "-f", "c"])).unwrap();
        assert_eq!(spaced.interpreter, argv(&["python3", "-X", "dev"]));
        for other in [
            &["/bin/deno", "jupyter", "--kernel", "--conn", "c"][..],
            &["python3", "-c", "import ipykernel", "-f", "c"],
            &["python3", "launch.py", "-m", "ipykernel_launcher"],
            &["python3", "-m", "other_kernel", "-f", "c"],
            &["python3", "-Xfrozen_modules=off"],
        ] {
            assert_eq!(IpykernelLaunch::parse(&argv(other)), None, "{other:?}");
        }
    }
}
