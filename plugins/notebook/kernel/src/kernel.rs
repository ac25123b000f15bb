//! One running Jupyter kernel: launch, handshake, execute, interrupt, shutdown.
//!
//! The protocol (signing, framing, sockets, message types) is
//! `jupyter-zmq-client` + `jupyter-protocol`; launch and lifecycle are ours,
//! because the crates' helpers have pitfalls: IPC where the kernel accepts it
//! and TCP with ports reserved under a spawn lock otherwise (concurrent
//! launches must not inherit each other's reserved sockets), polling for the
//! kernel's listening sockets instead of zeromq's connect backoff, racing
//! every wait against the child's exit (a kernel that dies at start fails in
//! milliseconds, not after 30 s), a log file for the kernel's own output, and
//! `setsid` + parent-death signal so a kernel and the processes it starts
//! (Deno and evcxr run children of their own) go as one process group.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jupyter_protocol::{
    ConnectionInfo, ExecuteRequest, ExecutionState, InterruptRequest, JupyterMessage, JupyterMessageContent,
    KernelInfoRequest, ReplyStatus, ShutdownRequest, Transport,
};
use jupyter_zmq_client::{ClientControlConnection, ClientShellConnection};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

use crate::forkserver::{ForkServer, ForkedChild, IpykernelLaunch};
use crate::kernelspec::Kernelspec;
use crate::KernelError;

/// The environment variables kernels may see, when the course restricts
/// them; unset, kernels inherit clx's whole environment.
static ENV_ALLOWLIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Start every later kernel of this process with only these variables of
/// clx's own environment (plus its kernelspec's `env` and the few that clx
/// sets for every kernel), so tokens in the shell that ran `clx build` do not
/// reach the decks. Set once per process; later calls are ignored.
pub fn pass_only_env(names: Vec<String>) {
    let _ = ENV_ALLOWLIST.set(names);
}

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an interrupted cell may take to come back before the kernel is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// The outcome of one cell.
#[derive(Debug, Clone, Default)]
pub struct CellRun {
    /// nbformat 4 output objects.
    pub outputs: Vec<Value>,
    pub execution_count: Option<u64>,
    /// Set when the cell raised.
    pub error: Option<CellError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
}

pub struct Kernel {
    name: String,
    child: Process,
    pid: i32,
    shell: ClientShellConnection,
    control: ClientControlConnection,
    iopub: mpsc::UnboundedReceiver<JupyterMessage>,
    pump: tokio::task::JoinHandle<()>,
    /// Connection file, IPC sockets and the kernel's log.
    runtime_dir: tempfile::TempDir,
    interrupt_by_message: bool,
    exited: bool,
    wire: Wire,
}

/// The kernel process: a child of ours, or of a fork server.
enum Process {
    Spawned(tokio::process::Child),
    Forked(ForkedChild),
}

impl Process {
    /// Wait for the process to exit; its exit status as text. Cancel-safe.
    async fn wait(&mut self) -> String {
        match self {
            Process::Spawned(child) => match child.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("no exit status ({e})"),
            },
            Process::Forked(child) => child.wait().await,
        }
    }
}

/// The environment a kernel of a kernelspec starts with: clx's own (or only
/// its allowlisted part), the variables clx sets for every kernel, then the
/// kernelspec's `env`. A fork server starts with the same, so a forked
/// kernel sees exactly what a plainly started one would.
pub(crate) struct LaunchEnv {
    clear: bool,
    vars: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

impl LaunchEnv {
    pub(crate) fn for_spec(spec: &Kernelspec) -> LaunchEnv {
        let mut vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = Vec::new();
        let clear = match ENV_ALLOWLIST.get() {
            Some(names) => {
                vars.extend(names.iter().filter_map(|n| Some((n.into(), std::env::var_os(n)?))));
                true
            }
            None => false,
        };
        vars.push(("JPY_PARENT_PID".into(), std::process::id().to_string().into()));
        vars.push(("PYDEVD_DISABLE_FILE_VALIDATION".into(), "1".into()));
        vars.push(("IPYTHONDIR".into(), std::env::temp_dir().join("clx-ipython").into()));
        vars.push(("DENO_NO_UPDATE_CHECK".into(), "1".into()));
        if Wire::for_spec(spec) == Wire::Tcp {
            // Deno styles values for a terminal unless told not to; the
            // escape codes would end up in the pages.
            vars.push(("NO_COLOR".into(), "1".into()));
        }
        if let Some(env) = &spec.spec.env {
            vars.extend(env.iter().map(|(k, v)| (k.into(), v.into())));
        }
        LaunchEnv { clear, vars }
    }

    pub(crate) fn apply(&self, cmd: &mut std::process::Command) {
        if self.clear {
            cmd.env_clear();
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
    }
}

/// How the client reaches the kernel's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Unix sockets in the kernel's runtime dir: no ports to race for, but
    /// only kernels built on libzmq/pyzmq accept it.
    Ipc,
    /// Loopback ports: every kernel speaks it (Deno, evcxr, the JeroMQ and
    /// NetMQ kernels of Java and .NET accept nothing else).
    Tcp,
}

impl Wire {
    /// IPC only where the kernel is known to accept it: ipykernel.
    pub fn for_spec(spec: &Kernelspec) -> Wire {
        if spec.spec.argv.iter().any(|a| a.starts_with("ipykernel")) {
            Wire::Ipc
        } else {
            Wire::Tcp
        }
    }
}

/// Forking while another launch still holds its reserved listening sockets
/// would hand them to our child until it execs, and the other kernel's
/// client would then connect to a socket nobody accepts on. Reserving,
/// spawning and releasing happen under this lock.
pub(crate) static SPAWN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Attempts per start when a port was taken between release and the
/// kernel's bind (another process can grab it in that gap).
const TCP_ATTEMPTS: usize = 4;

impl Kernel {
    /// Start a kernel in `cwd` and wait until it answers, over the transport
    /// its kernelspec supports.
    pub async fn start(spec: &Kernelspec, cwd: &Path) -> Result<Kernel, KernelError> {
        Kernel::start_with(spec, cwd, Wire::for_spec(spec)).await
    }

    /// Start a kernel over a chosen transport.
    pub async fn start_with(spec: &Kernelspec, cwd: &Path, wire: Wire) -> Result<Kernel, KernelError> {
        let mut attempt = 1;
        loop {
            match Kernel::start_once(spec, cwd, wire, None).await {
                Err(e) if wire == Wire::Tcp && attempt < TCP_ATTEMPTS && lost_a_port(&e) => attempt += 1,
                other => return other,
            }
        }
    }

    /// Start an ipykernel kernel by fork from `server` (which runs `spec`'s
    /// interpreter), in `cwd`.
    pub async fn start_forked(spec: &Kernelspec, cwd: &Path, server: &ForkServer) -> Result<Kernel, KernelError> {
        Kernel::start_once(spec, cwd, Wire::Ipc, Some(server)).await
    }

    async fn start_once(
        spec: &Kernelspec,
        cwd: &Path,
        wire: Wire,
        server: Option<&ForkServer>,
    ) -> Result<Kernel, KernelError> {
        let runtime_dir = tempfile::Builder::new()
            .prefix("clx-kernel-")
            .tempdir()
            .map_err(|e| KernelError::Io("cannot create a kernel runtime dir".into(), e))?;
        let key = uuid::Uuid::new_v4().to_string();
        let mut info = ConnectionInfo {
            ip: runtime_dir.path().join("k").to_string_lossy().into_owned(),
            transport: Transport::IPC,
            shell_port: 1,
            iopub_port: 2,
            stdin_port: 3,
            control_port: 4,
            hb_port: 5,
            key,
            signature_scheme: "hmac-sha256".into(),
            kernel_name: Some(spec.name.clone()),
        };
        let conn_file = runtime_dir.path().join("connection.json");
        let log_path = runtime_dir.path().join("kernel.log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| KernelError::Io("cannot create the kernel log".into(), e))?;
        let log2 = log.try_clone().map_err(|e| KernelError::Io("cannot create the kernel log".into(), e))?;

        let argv = spec.argv(&conn_file);
        let mut cmd = tokio::process::Command::new(&argv[0]);
        LaunchEnv::for_spec(spec).apply(cmd.as_std_mut());
        cmd.args(&argv[1..])
            .current_dir(cwd)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true);
        // SAFETY: setsid and prctl are async-signal-safe and touch only the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // Other clx workers start kernels at the same time: until this
        // kernel listens on its ports, another process could be handed one
        // of them by the OS (released reservation, not yet bound) and this
        // client would connect to the wrong socket. The lock spans processes.
        let port_lock = match wire {
            Wire::Tcp => tokio::task::spawn_blocking(port_lock).await.ok().flatten(),
            Wire::Ipc => None,
        };
        let mut child = if let Some(server) = server {
            let launch = IpykernelLaunch::parse(&argv)
                .ok_or_else(|| KernelError::Protocol(format!("kernelspec {} does not start ipykernel", spec.name)))?;
            let conn_json = serde_json::to_vec(&info).map_err(|e| KernelError::Protocol(e.to_string()))?;
            std::fs::write(&conn_file, conn_json)
                .map_err(|e| KernelError::Io("cannot write the connection file".into(), e))?;
            let forked = server.fork(&launch, cwd, &log_path).await.map_err(|e| KernelError::Fork(e.to_string()))?;
            Process::Forked(forked)
        } else {
            let _guard = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            // Held until the child is spawned, so no other kernel can be
            // handed these ports in between.
            let _reserved = if wire == Wire::Tcp {
                let (ports, listeners) = reserve_ports()?;
                info.transport = Transport::TCP;
                info.ip = "127.0.0.1".into();
                [info.shell_port, info.iopub_port, info.stdin_port, info.control_port, info.hb_port] = ports;
                listeners
            } else {
                Vec::new()
            };
            let conn_json = serde_json::to_vec(&info).map_err(|e| KernelError::Protocol(e.to_string()))?;
            std::fs::write(&conn_file, conn_json)
                .map_err(|e| KernelError::Io("cannot write the connection file".into(), e))?;
            Process::Spawned(cmd.spawn().map_err(|e| KernelError::Spawn { argv: argv.join(" "), source: e })?)
        };
        let pid = match &child {
            Process::Spawned(child) => child.id().map(|p| p as i32).unwrap_or(0),
            Process::Forked(child) => child.pid,
        };

        let session = uuid::Uuid::new_v4().to_string();
        let connect = async {
            // zeromq's connect backs off exponentially (50, 100, 200 ms…);
            // polling for the kernel's listening sockets is much quicker.
            match wire {
                Wire::Ipc => {
                    let shell_path = PathBuf::from(format!("{}-{}", info.ip, info.shell_port));
                    while !shell_path.exists() {
                        sleep(Duration::from_millis(5)).await;
                    }
                }
                Wire::Tcp => {
                    let ports = [info.shell_port, info.iopub_port, info.control_port];
                    while !listening(&ports) {
                        sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            let identity = jupyter_zmq_client::peer_identity_for_session(&session)?;
            tokio::try_join!(
                jupyter_zmq_client::create_client_iopub_connection(&info, "", &session),
                jupyter_zmq_client::create_client_shell_connection_with_identity(&info, &session, identity),
                jupyter_zmq_client::create_client_control_connection(&info, &session),
            )
        };
        let connected = tokio::select! {
            c = timeout(STARTUP_TIMEOUT, connect) => c,
            status = child.wait() => {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(KernelError::DiedAtStart { name: spec.name.clone(), status, log: tail(&log) });
            }
        };
        drop(port_lock);
        let (mut iopub_conn, shell, control) = match connected {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(KernelError::Protocol(format!("cannot connect to kernel {}: {e}", spec.name))),
            Err(_) => {
                return Err(KernelError::StartTimeout { name: spec.name.clone(), secs: STARTUP_TIMEOUT.as_secs() })
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let pump = tokio::spawn(async move {
            while let Ok(msg) = iopub_conn.read().await {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let mut kernel = Kernel {
            name: spec.name.clone(),
            child,
            pid,
            shell,
            control,
            iopub: rx,
            pump,
            runtime_dir,
            interrupt_by_message: spec.interrupt_by_message(),
            exited: false,
            wire,
        };
        match timeout(STARTUP_TIMEOUT, kernel.handshake()).await {
            Ok(Ok(())) => Ok(kernel),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(KernelError::StartTimeout { name: spec.name.clone(), secs: STARTUP_TIMEOUT.as_secs() }),
        }
    }

    /// The transport this kernel was started with.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// `kernel_info` until both its reply and an iopub message for it have
    /// arrived: the second proves the SUB socket is subscribed, so no output
    /// of the first cell is lost (ZeroMQ's slow joiner).
    async fn handshake(&mut self) -> Result<(), KernelError> {
        loop {
            let request: JupyterMessage = KernelInfoRequest {}.into();
            let id = request.header.msg_id.clone();
            self.send_shell(request).await?;
            let (mut replied, mut published) = (false, false);
            let round = Instant::now() + Duration::from_secs(1);
            while !(replied && published) {
                tokio::select! {
                    msg = self.shell.read() => {
                        let msg = msg.map_err(|e| KernelError::Protocol(e.to_string()))?;
                        replied |= is_child_of(&msg, &id) && matches!(msg.content, JupyterMessageContent::KernelInfoReply(_));
                    }
                    msg = self.iopub.recv() => {
                        let Some(msg) = msg else { return Err(self.died().await) };
                        published |= is_child_of(&msg, &id);
                    }
                    _ = self.child.wait() => return Err(self.died().await),
                    _ = tokio::time::sleep_until(round) => break,
                }
            }
            if replied && published {
                // Drain what is left of this request on iopub (its idle status).
                return Ok(());
            }
        }
    }

    async fn send_shell(&mut self, msg: JupyterMessage) -> Result<(), KernelError> {
        self.shell.send(msg).await.map_err(|e| KernelError::Protocol(e.to_string()))
    }

    /// Whether a fork server started the kernel.
    pub fn is_forked(&self) -> bool {
        matches!(self.child, Process::Forked(_))
    }

    /// Run code without output or history (setup between decks).
    pub async fn run_silent(&mut self, code: &str) -> Result<(), KernelError> {
        let run = self.execute_inner(code, true, Duration::from_secs(30)).await?;
        match run.error {
            Some(e) => Err(KernelError::Protocol(format!("kernel setup failed: {}: {}", e.ename, e.evalue))),
            None => Ok(()),
        }
    }

    /// Run one cell. A cell that raises is a normal result (`error` set); a
    /// kernel that dies or a cell that passes `limit` is an `Err`.
    pub async fn execute(&mut self, code: &str, limit: Duration) -> Result<CellRun, KernelError> {
        self.execute_inner(code, false, limit).await
    }

    async fn execute_inner(&mut self, code: &str, silent: bool, limit: Duration) -> Result<CellRun, KernelError> {
        let request: JupyterMessage = ExecuteRequest {
            code: code.to_owned(),
            silent,
            store_history: !silent,
            user_expressions: None,
            allow_stdin: false,
            stop_on_error: true,
        }
        .into();
        let id = request.header.msg_id.clone();
        self.send_shell(request).await?;
        let mut collector = Collector::default();
        let (mut idle, mut reply) = (false, None::<ReplyStatus>);
        let deadline = Instant::now() + limit;
        let mut interrupted_at: Option<Instant> = None;
        while !(idle && reply.is_some()) {
            let wake = interrupted_at.map(|t| t + INTERRUPT_GRACE).unwrap_or(deadline);
            tokio::select! {
                msg = self.shell.read() => {
                    let msg = msg.map_err(|e| KernelError::Protocol(e.to_string()))?;
                    if is_child_of(&msg, &id) {
                        if let JupyterMessageContent::ExecuteReply(r) = &msg.content {
                            collector.execution_count = Some(r.execution_count.0 as u64);
                            reply = Some(r.status.clone());
                        }
                    }
                }
                msg = self.iopub.recv() => {
                    let Some(msg) = msg else { return Err(self.died().await) };
                    if !is_child_of(&msg, &id) {
                        continue;
                    }
                    if let JupyterMessageContent::Status(s) = &msg.content {
                        idle |= s.execution_state == ExecutionState::Idle;
                    } else if !silent {
                        collector.add(msg.content);
                    }
                }
                _ = self.child.wait() => {
                    // Deno and others take SIGINT as "exit": stopped for its timeout.
                    if interrupted_at.is_some() {
                        self.exited = true;
                        return Err(KernelError::CellTimeout { secs: limit.as_secs() });
                    }
                    return Err(self.died().await);
                }
                _ = tokio::time::sleep_until(wake) => {
                    if interrupted_at.is_some() {
                        return Err(KernelError::CellTimeout { secs: limit.as_secs() });
                    }
                    self.interrupt().await;
                    interrupted_at = Some(Instant::now());
                }
            }
        }
        if interrupted_at.is_some() {
            return Err(KernelError::CellTimeout { secs: limit.as_secs() });
        }
        if self.wire == Wire::Tcp && !silent {
            self.collect_late_outputs(&id, &mut collector).await;
        }
        Ok(collector.finish())
    }

    /// Kernels other than ipykernel (Deno's, for one) forward a cell's
    /// console output from a task of their own, which on a busy machine
    /// publishes after the cell's idle status. Collect what still arrives for
    /// the cell: a kernel_info round trip (the kernel's main loop has moved
    /// on by its idle status), then a short quiet period that every late
    /// message extends.
    async fn collect_late_outputs(&mut self, id: &str, collector: &mut Collector) {
        const QUIET: Duration = Duration::from_millis(25);
        let request: JupyterMessage = KernelInfoRequest {}.into();
        let info_id = request.header.msg_id.clone();
        if self.send_shell(request).await.is_err() {
            return;
        }
        let (mut replied, mut idle) = (false, false);
        let mut quiet_until: Option<Instant> = None;
        let give_up = Instant::now() + Duration::from_secs(2);
        loop {
            let wake = quiet_until.unwrap_or(give_up).min(give_up);
            tokio::select! {
                msg = self.shell.read() => {
                    let Ok(msg) = msg else { return };
                    replied |= is_child_of(&msg, &info_id);
                }
                msg = self.iopub.recv() => {
                    let Some(msg) = msg else { return };
                    if is_child_of(&msg, id) {
                        if !matches!(msg.content, JupyterMessageContent::Status(_)) {
                            collector.add(msg.content);
                        }
                        if quiet_until.is_some() {
                            quiet_until = Some(Instant::now() + QUIET);
                        }
                    } else if is_child_of(&msg, &info_id) {
                        if let JupyterMessageContent::Status(s) = &msg.content {
                            idle |= s.execution_state == ExecutionState::Idle;
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if quiet_until.is_some() || Instant::now() >= give_up {
                        return;
                    }
                }
            }
            if replied && idle && quiet_until.is_none() {
                quiet_until = Some(Instant::now() + QUIET);
            }
        }
    }

    async fn interrupt(&mut self) {
        if self.interrupt_by_message {
            let _ = self.control.send(InterruptRequest {}.into()).await;
        } else if self.pid > 0 {
            // SAFETY: signals the kernel's own process group (it called setsid).
            unsafe {
                libc::killpg(self.pid, libc::SIGINT);
            }
        }
    }

    async fn died(&mut self) -> KernelError {
        let status = match timeout(Duration::from_millis(500), self.child.wait()).await {
            Ok(status) => status,
            Err(_) => "no exit status".into(),
        };
        self.exited = true;
        let log = std::fs::read_to_string(self.runtime_dir.path().join("kernel.log")).unwrap_or_default();
        KernelError::Died { name: self.name.clone(), status, log: tail(&log) }
    }

    /// Ask the kernel to stop, then make sure it and its children are gone:
    /// ipykernel can take 30 s to exit when a cell left a zombie child.
    pub async fn shutdown(mut self) {
        if !self.exited {
            let _ =
                timeout(Duration::from_millis(500), self.control.send(ShutdownRequest { restart: false }.into())).await;
            if timeout(Duration::from_secs(2), self.child.wait()).await.is_err() {
                self.kill_group(libc::SIGTERM);
                if timeout(Duration::from_secs(2), self.child.wait()).await.is_err() {
                    self.kill_group(libc::SIGKILL);
                    let _ = self.child.wait().await;
                }
            }
            self.exited = true;
        }
        self.kill_group(libc::SIGKILL);
    }

    /// Kill the kernel and whatever its cells started, without asking: for
    /// a kernel whose exit work (saving history, finalising every module)
    /// nothing needs, and which costs more CPU than a forked start.
    pub async fn kill(mut self) {
        self.kill_group(libc::SIGKILL);
        let _ = timeout(Duration::from_secs(2), self.child.wait()).await;
        self.exited = true;
    }

    fn kill_group(&self, signal: i32) {
        if self.pid > 0 {
            // SAFETY: only signals the kernel's own process group.
            unsafe {
                libc::killpg(self.pid, signal);
            }
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        self.pump.abort();
        // Cells may have started processes in the kernel's group; they go too.
        self.kill_group(libc::SIGKILL);
    }
}

fn is_child_of(msg: &JupyterMessage, id: &str) -> bool {
    msg.parent_header.as_ref().is_some_and(|h| h.msg_id == id)
}

/// Five free loopback ports, each still bound so no one else gets it
/// before the kernel is spawned.
/// An exclusive lock, shared by every process of this user, held while a TCP
/// kernel goes from reserved ports to listening on them. `None` when the
/// lock file cannot be used (then starts are only serialised in-process).
fn port_lock() -> Option<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    // Not TMPDIR: every worker has a private one, and the lock must be shared.
    let path = format!("/tmp/clx-kernel-ports-{uid}.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path).ok()?;
    // SAFETY: flock on a descriptor this function owns; released on close.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0;
    locked.then_some(file)
}

fn reserve_ports() -> Result<([u16; 5], Vec<std::net::TcpListener>), KernelError> {
    let mut ports = [0u16; 5];
    let mut listeners = Vec::with_capacity(5);
    for port in &mut ports {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| KernelError::Io("cannot reserve a loopback port".into(), e))?;
        *port = listener.local_addr().map_err(|e| KernelError::Io("cannot reserve a loopback port".into(), e))?.port();
        listeners.push(listener);
    }
    Ok((ports, listeners))
}

/// Whether a failed start looks like a port taken by another process in
/// the moment between our release and the kernel's bind.
fn lost_a_port(error: &KernelError) -> bool {
    match error {
        KernelError::DiedAtStart { log, .. } | KernelError::Died { log, .. } => {
            let log = log.to_ascii_lowercase();
            log.contains("address already in use") || log.contains("addrinuse") || log.contains("address in use")
        }
        // Another kernel answered on the port: its replies fail our signature.
        KernelError::Protocol(_) => true,
        _ => false,
    }
}

/// Whether every port has a listening socket, read from the kernel's
/// socket tables rather than by connecting: a bare TCP connect without a
/// ZMTP greeting is noise some kernels log or choke on.
fn listening(ports: &[u16]) -> bool {
    let mut found = vec![false; ports.len()];
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace();
            let (Some(_), Some(local), Some(_), Some(state)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            // State 0A is LISTEN; the local address ends in `:PORT` (hex).
            if state != "0A" {
                continue;
            }
            let Some(port) = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) else { continue };
            for (seen, wanted) in found.iter_mut().zip(ports) {
                *seen |= port == *wanted;
            }
        }
    }
    found.iter().all(|f| *f)
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Turns iopub messages into nbformat outputs, the way nbclient does: one
/// output per stream message, `clear_output(wait)` deferred to the next
/// output, `update_display_data` replacing outputs with the same display id.
#[derive(Default)]
struct Collector {
    outputs: Vec<Value>,
    display_ids: Vec<Option<String>>,
    clear_pending: bool,
    execution_count: Option<u64>,
    error: Option<CellError>,
}

impl Collector {
    fn push(&mut self, output: Value, display_id: Option<String>) {
        if self.clear_pending {
            self.outputs.clear();
            self.display_ids.clear();
            self.clear_pending = false;
        }
        self.outputs.push(output);
        self.display_ids.push(display_id);
    }

    fn add(&mut self, content: JupyterMessageContent) {
        match content {
            JupyterMessageContent::StreamContent(s) => {
                let name = serde_json::to_value(&s.name).unwrap_or(json!("stdout"));
                self.push(json!({"output_type": "stream", "name": name, "text": s.text}), None);
            }
            JupyterMessageContent::ExecuteResult(r) => {
                let out = json!({
                    "output_type": "execute_result",
                    "execution_count": r.execution_count.0,
                    "data": serde_json::to_value(&r.data).unwrap_or(json!({})),
                    "metadata": r.metadata,
                });
                self.push(out, None);
            }
            JupyterMessageContent::DisplayData(d) => {
                let id = d.transient.as_ref().and_then(|t| t.display_id.clone());
                let out = json!({
                    "output_type": "display_data",
                    "data": serde_json::to_value(&d.data).unwrap_or(json!({})),
                    "metadata": d.metadata,
                });
                self.push(out, id);
            }
            JupyterMessageContent::UpdateDisplayData(u) => {
                let Some(id) = u.transient.display_id.clone() else { return };
                let data = serde_json::to_value(&u.data).unwrap_or(json!({}));
                for (out, did) in self.outputs.iter_mut().zip(&self.display_ids) {
                    if did.as_deref() == Some(id.as_str()) {
                        out["data"] = data.clone();
                        out["metadata"] = Value::Object(u.metadata.clone());
                    }
                }
            }
            JupyterMessageContent::ErrorOutput(e) => {
                self.error = Some(CellError {
                    ename: e.ename.clone(),
                    evalue: e.evalue.clone(),
                    traceback: e.traceback.clone(),
                });
                let out =
                    json!({"output_type": "error", "ename": e.ename, "evalue": e.evalue, "traceback": e.traceback});
                self.push(out, None);
            }
            JupyterMessageContent::ClearOutput(c) => {
                if c.wait {
                    self.clear_pending = true;
                } else {
                    self.outputs.clear();
                    self.display_ids.clear();
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> CellRun {
        CellRun { outputs: self.outputs, execution_count: self.execution_count, error: self.error }
    }
}
