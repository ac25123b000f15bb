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
//! a process group + parent-death signal so a kernel and the processes it
//! starts (Deno and evcxr run children of their own) go as one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jupyter_protocol::{
    ConnectionInfo, ExecuteRequest, ExecutionState, InterruptRequest, JupyterMessage, JupyterMessageContent,
    KernelInfoRequest, ReplyError, ReplyStatus, ShutdownRequest, Transport,
};
use jupyter_zmq_client::{ClientControlConnection, ClientIoPubConnection, ClientShellConnection};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

use crate::forkserver::{ForkServer, ForkedChild, IpykernelLaunch};
use crate::kernelspec::Kernelspec;
use crate::launch::{self, LaunchEnv, Wire, SPAWN_LOCK};
use crate::message;
use crate::KernelError;

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
    /// The process group signals go to: the kernel and what it starts.
    group: i32,
    shell: ClientShellConnection,
    control: ClientControlConnection,
    iopub: mpsc::UnboundedReceiver<JupyterMessage>,
    pump: tokio::task::JoinHandle<()>,
    /// Connection file, IPC sockets and the kernel's log.
    files: RuntimeFiles,
    interrupt_by_message: bool,
    exited: bool,
    wire: Wire,
    /// Executions the kernel counted that were not the deck's: JJava counts
    /// silent setup code, ipykernel and Deno do not.
    uncounted: u64,
    /// How to print a line in this kernel's language, for kernels that
    /// forward console output from a queue of their own (Deno): printing a
    /// marker after a cell and waiting for it drains that queue.
    print_line: Option<fn(&str) -> String>,
}

/// The code that prints `marker` on stdout in kernels whose console output
/// reaches iopub through a queue that may lag behind the cell's idle status.
fn print_line_for(language: &str) -> Option<fn(&str) -> String> {
    match language.to_ascii_lowercase().as_str() {
        "typescript" | "javascript" => Some(|marker: &str| format!("console.log({marker:?});")),
        _ => None,
    }
}

/// How long a kernel may take to publish what a cell printed after it
/// reported idle before the outputs count as incomplete.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// The kernel process: a child of ours, or of a fork server.
enum Process {
    /// Started from its kernelspec's command, its group guarded: a
    /// launcher may fork the kernel itself (JJava's launcher JVM does),
    /// which the parent-death signal would not reach.
    Spawned {
        child: tokio::process::Child,
        /// Leads the kernel's group.
        guard: clx_sys::process::GroupGuard,
    },
    Forked(ForkedChild),
}

impl Process {
    /// Wait for the process to exit; its exit status as text. Cancel-safe.
    async fn wait(&mut self) -> String {
        match self {
            Process::Spawned { child, .. } => match child.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("no exit status ({e})"),
            },
            Process::Forked(child) => child.wait().await,
        }
    }

    fn pid(&self) -> i32 {
        match self {
            Process::Spawned { child, .. } => child.id().map(|p| p as i32).unwrap_or(0),
            Process::Forked(child) => child.pid,
        }
    }

    /// The process group the kernel and what it starts run in: its
    /// guard's, or, forked, its own (it called setsid).
    fn group(&self) -> i32 {
        match self {
            Process::Spawned { guard, .. } => guard.group(),
            Process::Forked(child) => child.pid,
        }
    }
}

impl Drop for Process {
    /// A kernel given up while it starts (the warm one started ahead, when
    /// the worker stops) goes with its whole group: `kill_on_drop` reaches
    /// only the process clx started, and a launcher such as JJava's has by
    /// then started the kernel's own JVM, which would live on. The group's
    /// number stays taken while its guard is unreaped, so no other group is
    /// touched.
    fn drop(&mut self) {
        if let Process::Spawned { guard, .. } = self {
            // SAFETY: only signals the kernel's process group, which its
            // guard leads and keeps until the guard is reaped below.
            unsafe {
                libc::killpg(guard.group(), libc::SIGKILL);
            }
        }
    }
}

/// A kernel's private directory: its connection file, its IPC sockets and
/// the log its stdout and stderr go to.
struct RuntimeFiles {
    dir: tempfile::TempDir,
    connection: PathBuf,
    log: PathBuf,
}

impl RuntimeFiles {
    fn create() -> Result<RuntimeFiles, KernelError> {
        let dir = tempfile::Builder::new()
            .prefix("clx-kernel-")
            .tempdir()
            .map_err(|e| KernelError::Io("cannot create a kernel runtime dir".into(), e))?;
        let (connection, log) = (dir.path().join("connection.json"), dir.path().join("kernel.log"));
        Ok(RuntimeFiles { dir, connection, log })
    }

    /// Connection info for IPC sockets in this directory, with a fresh key;
    /// a TCP start replaces address and ports when it reserves them.
    fn ipc_connection(&self, spec: &Kernelspec) -> ConnectionInfo {
        ConnectionInfo {
            ip: self.dir.path().join("k").to_string_lossy().into_owned(),
            transport: Transport::IPC,
            shell_port: 1,
            iopub_port: 2,
            stdin_port: 3,
            control_port: 4,
            hb_port: 5,
            key: uuid::Uuid::new_v4().to_string(),
            signature_scheme: "hmac-sha256".into(),
            kernel_name: Some(spec.name.clone()),
        }
    }

    fn write_connection(&self, info: &ConnectionInfo) -> Result<(), KernelError> {
        let json = serde_json::to_vec(info).map_err(|e| KernelError::Protocol(e.to_string()))?;
        std::fs::write(&self.connection, json)
            .map_err(|e| KernelError::Io("cannot write the connection file".into(), e))
    }

    fn log_tail(&self) -> String {
        launch::log_tail(&self.log)
    }
}

type Connections = (ClientIoPubConnection, ClientShellConnection, ClientControlConnection);

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
                Err(e) if wire == Wire::Tcp && attempt < TCP_ATTEMPTS && launch::lost_a_port(&e) => attempt += 1,
                other => return other,
            }
        }
    }

    /// Start an ipykernel kernel by fork from `server` (which runs `spec`'s
    /// interpreter), in `cwd`.
    pub async fn start_forked(spec: &Kernelspec, cwd: &Path, server: &ForkServer) -> Result<Kernel, KernelError> {
        Kernel::start_once(spec, cwd, Wire::Ipc, Some(server)).await
    }

    /// One start: files, process, sockets, then the first answer.
    async fn start_once(
        spec: &Kernelspec,
        cwd: &Path,
        wire: Wire,
        server: Option<&ForkServer>,
    ) -> Result<Kernel, KernelError> {
        let files = RuntimeFiles::create()?;
        let mut info = files.ipc_connection(spec);
        // Other clx workers start kernels at the same time: until this
        // kernel listens on its ports, another process could be handed one
        // of them by the OS (released reservation, not yet bound) and this
        // client would connect to the wrong socket. The lock spans processes.
        let port_lock = match wire {
            Wire::Tcp => tokio::task::spawn_blocking(launch::port_lock).await.ok().flatten(),
            Wire::Ipc => None,
        };
        let mut child = match server {
            Some(server) => fork(spec, cwd, &files, &info, server).await?,
            None => spawn(spec, cwd, wire, &files, &mut info)?,
        };
        let connected = connect(&info, wire, &mut child, spec, &files).await;
        drop(port_lock);
        let (mut iopub, shell, control) = connected?;
        let (tx, rx) = mpsc::unbounded_channel();
        let pump = tokio::spawn(async move {
            while let Ok(msg) = message::read(&mut iopub).await {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let mut kernel = Kernel {
            name: spec.name.clone(),
            pid: child.pid(),
            group: child.group(),
            child,
            shell,
            control,
            iopub: rx,
            pump,
            files,
            interrupt_by_message: spec.interrupt_by_message(),
            exited: false,
            wire,
            uncounted: 0,
            print_line: print_line_for(&spec.spec.language),
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
                    msg = message::read(&mut self.shell) => {
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

    /// Send an execute request; its message id, which its replies and
    /// outputs name as their parent.
    async fn send_execute(&mut self, code: String, silent: bool, store_history: bool) -> Result<String, KernelError> {
        let request: JupyterMessage = ExecuteRequest {
            code,
            silent,
            store_history,
            user_expressions: None,
            allow_stdin: false,
            stop_on_error: true,
        }
        .into();
        let id = request.header.msg_id.clone();
        self.send_shell(request).await?;
        Ok(id)
    }

    async fn send_shell(&mut self, msg: JupyterMessage) -> Result<(), KernelError> {
        self.shell.send(msg).await.map_err(|e| KernelError::Protocol(e.to_string()))
    }

    /// Whether a fork server started the kernel.
    pub fn is_forked(&self) -> bool {
        matches!(self.child, Process::Forked(_))
    }

    /// Run code without output or history (setup between decks). A kernel
    /// that counts it anyway has its later execution counts lowered to match,
    /// so a deck's first cell is `[1]` in every kernel.
    pub async fn run_silent(&mut self, code: &str) -> Result<(), KernelError> {
        let run = self.execute_inner(code, true, Duration::from_secs(30), &|| false).await?;
        // The reply's count is the last one the kernel used: unchanged by a
        // silent run in kernels that keep silent runs out of the count.
        self.uncounted = run.execution_count.unwrap_or(0);
        match run.error {
            Some(e) => Err(KernelError::Protocol(format!("kernel setup failed: {}: {}", e.ename, e.evalue))),
            None => Ok(()),
        }
    }

    /// Run one cell. A cell that raises is a normal result (`error` set); a
    /// kernel that dies or a cell that passes `limit` is an `Err`.
    pub async fn execute(&mut self, code: &str, limit: Duration) -> Result<CellRun, KernelError> {
        self.execute_until(code, limit, &|| false).await
    }

    /// [`Kernel::execute`], stopped early when `stop` turns true (checked
    /// every 100 ms): the kernel and what its cells started are killed, as
    /// for a job cancelled or past its time limit.
    pub async fn execute_until(
        &mut self,
        code: &str,
        limit: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<CellRun, KernelError> {
        // Counted before the run: a drain after the cell may count itself.
        let uncounted = self.uncounted;
        let mut run = self.execute_inner(code, false, limit, stop).await?;
        if uncounted > 0 {
            let lower = |count: u64| count.saturating_sub(uncounted);
            run.execution_count = run.execution_count.map(lower);
            for output in &mut run.outputs {
                if let Some(count) = output.get("execution_count").and_then(Value::as_u64) {
                    output["execution_count"] = Value::from(lower(count));
                }
            }
        }
        Ok(run)
    }

    async fn execute_inner(
        &mut self,
        code: &str,
        silent: bool,
        limit: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<CellRun, KernelError> {
        let id = self.send_execute(code.to_owned(), silent, !silent).await?;
        let mut collector = Collector::default();
        let (mut idle, mut reply) = (false, None::<ReplyStatus>);
        let deadline = Instant::now() + limit;
        let mut interrupted_at: Option<Instant> = None;
        let mut look_at_stop = tokio::time::interval(Duration::from_millis(100));
        while !(idle && reply.is_some()) {
            let wake = interrupted_at.map(|t| t + INTERRUPT_GRACE).unwrap_or(deadline);
            tokio::select! {
                msg = message::read(&mut self.shell) => {
                    let msg = msg.map_err(|e| KernelError::Protocol(e.to_string()))?;
                    if is_child_of(&msg, &id) {
                        if let JupyterMessageContent::ExecuteReply(r) = msg.content {
                            collector.execution_count = Some(r.execution_count.0 as u64);
                            reply = Some(r.status.clone());
                            collector.reply_error = r.error.map(|e| *e);
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
                _ = look_at_stop.tick() => {
                    if stop() {
                        self.kill_group(libc::SIGKILL);
                        let _ = timeout(Duration::from_secs(2), self.child.wait()).await;
                        self.exited = true;
                        return Err(KernelError::Stopped);
                    }
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
        if let (Some(print_line), false) = (self.print_line, silent) {
            self.drain_console(&id, print_line, &mut collector).await?;
        } else if self.wire == Wire::Tcp && !silent {
            self.collect_late_outputs(&id, &mut collector).await;
        }
        Ok(collector.finish(reply.unwrap_or(ReplyStatus::Ok)))
    }

    /// Deno forwards what a cell prints from a queue of its own, which on a
    /// busy machine publishes long after the cell's idle status (a
    /// 2,000-line output lost half its lines). A marker printed by a second
    /// request goes through the same queue: once it arrives, everything the
    /// cell printed before it has too. Output that arrives under either
    /// request before the marker is the cell's. A kernel that does not get
    /// there within [`DRAIN_LIMIT`] fails the deck rather than let a page be
    /// published cut short.
    async fn drain_console(
        &mut self,
        id: &str,
        print_line: fn(&str) -> String,
        collector: &mut Collector,
    ) -> Result<(), KernelError> {
        let marker = format!("clx-drained-{}", uuid::Uuid::new_v4().simple());
        let drain_id = self.send_execute(print_line(&marker), false, false).await?;
        let deadline = Instant::now() + DRAIN_LIMIT;
        let (mut drained, mut idle, mut counted) = (false, false, None::<u64>);
        while !(drained && idle && counted.is_some()) {
            tokio::select! {
                msg = message::read(&mut self.shell) => {
                    let msg = msg.map_err(|e| KernelError::Protocol(e.to_string()))?;
                    if let (true, JupyterMessageContent::ExecuteReply(r)) = (is_child_of(&msg, &drain_id), &msg.content) {
                        counted = Some(r.execution_count.0 as u64);
                    }
                }
                msg = self.iopub.recv() => {
                    let Some(msg) = msg else { return Err(self.died().await) };
                    let (cell, drain) = (is_child_of(&msg, id), is_child_of(&msg, &drain_id));
                    match msg.content {
                        JupyterMessageContent::Status(s) if drain => idle |= s.execution_state == ExecutionState::Idle,
                        JupyterMessageContent::StreamContent(mut s) if (cell || drain) && !drained => {
                            if let Some(at) = s.text.find(&marker) {
                                s.text.truncate(at);
                                drained = true;
                            }
                            if !s.text.is_empty() {
                                collector.add(JupyterMessageContent::StreamContent(s));
                            }
                        }
                        JupyterMessageContent::Status(_) | JupyterMessageContent::ExecuteInput(_) => {}
                        other if cell => collector.add(other),
                        _ => {}
                    }
                }
                _ = self.child.wait() => return Err(self.died().await),
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(KernelError::OutputIncomplete { secs: DRAIN_LIMIT.as_secs() });
                }
            }
        }
        // A kernel that counts the marker's run: later cells keep the
        // numbers the deck shows.
        if let (Some(marker_count), Some(cell_count)) = (counted, collector.execution_count) {
            self.uncounted += marker_count.saturating_sub(cell_count);
        }
        Ok(())
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
                msg = message::read(&mut self.shell) => {
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
        } else if self.group > 0 {
            // SAFETY: signals the kernel's own process group.
            unsafe {
                libc::killpg(self.group, libc::SIGINT);
            }
        }
    }

    async fn died(&mut self) -> KernelError {
        let status = match timeout(Duration::from_millis(500), self.child.wait()).await {
            Ok(status) => status,
            Err(_) => "no exit status".into(),
        };
        self.exited = true;
        KernelError::Died { name: self.name.clone(), status, log: self.files.log_tail() }
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
        if self.group > 0 {
            // SAFETY: only signals the kernel's own process group.
            unsafe {
                libc::killpg(self.group, signal);
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

/// Ask `server` for a kernel running `spec`'s ipykernel module in `cwd`.
async fn fork(
    spec: &Kernelspec,
    cwd: &Path,
    files: &RuntimeFiles,
    info: &ConnectionInfo,
    server: &ForkServer,
) -> Result<Process, KernelError> {
    let launch = IpykernelLaunch::parse(&spec.argv(&files.connection))
        .ok_or_else(|| KernelError::Protocol(format!("kernelspec {} does not start ipykernel", spec.name)))?;
    files.write_connection(info)?;
    let forked = server.fork(&launch, cwd, &files.log).await.map_err(|e| KernelError::Fork(e.to_string()))?;
    Ok(Process::Forked(forked))
}

/// Spawn `spec`'s command in `cwd`, in a process group its guard leads, its
/// output to the log; over TCP with loopback ports reserved until the spawn.
fn spawn(
    spec: &Kernelspec,
    cwd: &Path,
    wire: Wire,
    files: &RuntimeFiles,
    info: &mut ConnectionInfo,
) -> Result<Process, KernelError> {
    let argv = spec.argv(&files.connection);
    let log =
        std::fs::File::create(&files.log).map_err(|e| KernelError::Io("cannot create the kernel log".into(), e))?;
    let log2 = log.try_clone().map_err(|e| KernelError::Io("cannot create the kernel log".into(), e))?;
    if wire == Wire::Tcp && clx_sys::sandbox::without_network() {
        let why = "network = false cuts the sandbox off from loopback, where this kernel talks to clx over TCP; \
                   only kernels speaking over Unix sockets (ipykernel) run without network";
        return Err(KernelError::Spawn { argv: argv.join(" "), source: std::io::Error::other(why) });
    }
    // The guard first: from the moment the kernel exists, a worker killed
    // however and whenever takes the kernel's group with it.
    let guard = clx_sys::process::GroupGuard::lead().map_err(|e| KernelError::Spawn {
        argv: argv.join(" "),
        source: std::io::Error::new(e.kind(), format!("cannot fork the guard that kills it with clx: {e}")),
    })?;
    let (program, sandbox) = clx_sys::sandbox::wrap(&argv[0]);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(sandbox);
    LaunchEnv::for_spec(spec).apply(cmd.as_std_mut());
    clx_sys::process::join_group_dying_with_parent(cmd.as_std_mut(), &guard);
    cmd.args(&argv[1..])
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(true);
    let _lock = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Held until the child is spawned, so no other kernel can be handed
    // these ports in between.
    let reserved = if wire == Wire::Tcp {
        let (ports, listeners) = launch::reserve_ports()?;
        info.transport = Transport::TCP;
        info.ip = "127.0.0.1".into();
        [info.shell_port, info.iopub_port, info.stdin_port, info.control_port, info.hb_port] = ports;
        listeners
    } else {
        Vec::new()
    };
    files.write_connection(info)?;
    let child = cmd.spawn().map_err(|e| KernelError::Spawn { argv: argv.join(" "), source: e })?;
    drop(reserved);
    Ok(Process::Spawned { child, guard })
}

/// Connect to the kernel's sockets once it listens, racing its exit and
/// the start-up time-out.
async fn connect(
    info: &ConnectionInfo,
    wire: Wire,
    child: &mut Process,
    spec: &Kernelspec,
    files: &RuntimeFiles,
) -> Result<Connections, KernelError> {
    let session = uuid::Uuid::new_v4().to_string();
    let connect = async {
        // zeromq's connect backs off exponentially (50, 100, 200 ms…);
        // polling for the kernel's listening sockets is much quicker. All
        // three: ipykernel binds control and iopub after shell, often 5 to
        // 40 ms later on a loaded machine, and a connect that comes too
        // early waits out the first 50 ms back-off.
        let ports = [info.shell_port, info.iopub_port, info.control_port];
        match wire {
            Wire::Ipc => {
                let paths = ports.map(|port| PathBuf::from(format!("{}-{}", info.ip, port)));
                while !paths.iter().all(|path| path.exists()) {
                    sleep(Duration::from_millis(5)).await;
                }
            }
            Wire::Tcp => {
                while !clx_sys::net::listening(&ports) {
                    sleep(Duration::from_millis(5)).await;
                }
            }
        }
        let identity = jupyter_zmq_client::peer_identity_for_session(&session)?;
        tokio::try_join!(
            jupyter_zmq_client::create_client_iopub_connection(info, "", &session),
            jupyter_zmq_client::create_client_shell_connection_with_identity(info, &session, identity),
            jupyter_zmq_client::create_client_control_connection(info, &session),
        )
    };
    let connected = tokio::select! {
        c = timeout(STARTUP_TIMEOUT, connect) => c,
        status = child.wait() => {
            return Err(KernelError::DiedAtStart { name: spec.name.clone(), status, log: files.log_tail() });
        }
    };
    match connected {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(KernelError::Protocol(format!("cannot connect to kernel {}: {e}", spec.name))),
        Err(_) => Err(KernelError::StartTimeout { name: spec.name.clone(), secs: STARTUP_TIMEOUT.as_secs() }),
    }
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
    /// What the execute reply said about an error, if anything.
    reply_error: Option<ReplyError>,
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

    /// The cell's run, failed when the reply says so even if no `error`
    /// message came on iopub: a kernel can fail while publishing the
    /// traceback (a `MemoryError` in IPython's formatting), or abort a cell
    /// it never ran.
    fn finish(self, status: ReplyStatus) -> CellRun {
        let error = match (self.error, status) {
            (Some(error), _) => Some(error),
            (None, ReplyStatus::Ok) => None,
            (None, ReplyStatus::Error) => Some(match self.reply_error {
                Some(e) => CellError { ename: e.ename, evalue: e.evalue, traceback: e.traceback },
                None => CellError {
                    ename: "KernelError".into(),
                    evalue: "the kernel reported an error for this cell without saying which".into(),
                    traceback: Vec::new(),
                },
            }),
            (None, ReplyStatus::Aborted) => Some(CellError {
                ename: "Aborted".into(),
                evalue: "the kernel aborted this cell without running it".into(),
                traceback: Vec::new(),
            }),
        };
        CellRun { outputs: self.outputs, execution_count: self.execution_count, error }
    }
}
