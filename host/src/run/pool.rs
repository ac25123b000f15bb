//! The host's pool of worker processes for one build session.
//!
//! Each worker is `clx worker` in its own process group, so killing the group
//! also kills whatever the plugin started (kernels, JVMs, browsers). The pool
//! notices finished jobs from the workers' stdout, dead workers from EOF on
//! that pipe, and hung ones from a stale heartbeat or a job past its deadline;
//! it kills them, requeues their job and starts a replacement. Each worker
//! gets a scratch folder as its temp dir, removed once its group is gone.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::{group_alive, Group};
use crate::run::protocol::{Event, LogLevel};
use crate::run::scratch::Scratch;
use crate::signals::Interrupt;
use crate::store::{JobError, JobId, Queue, QueueError, Requeued, SessionId, StoreLocation, WorkerId};

/// A worker whose heartbeat is this old is hung (the heartbeat runs on its
/// own thread, so a busy converter does not delay it).
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(15);
/// Workers of one kind that die this many times before becoming ready mean
/// the plugin cannot start here; their jobs fail instead of looping forever.
const MAX_START_FAILURES: usize = 3;
const STDERR_LINES_KEPT: usize = 20;

/// How many jobs of one type this machine runs side by side when nothing
/// says otherwise, in a build's own pool and in `clx worker serve` alike: one
/// per core for slides, one for every other role. With kernels forked in
/// milliseconds a deck keeps its core busy: on one core a second worker no
/// longer helps (7.6 s against 7.5 s for the bench course under
/// `taskset -c 0`) and only adds a worker and its kernels; on two cores two
/// workers beat one and four (4.1 s against 6.7 and 4.1 s). One per core
/// beyond that follows from those points, not from a measurement. A diagram
/// tool (a JVM, a browser) is started once and serves its jobs in
/// milliseconds each. A printer keeps a browser's page busy for a whole
/// page, so prints get one worker per core like decks.
pub fn default_workers(role: clx_plugin_api::Role) -> usize {
    match role {
        clx_plugin_api::Role::Slides | clx_plugin_api::Role::Print => {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        }
        _ => 1,
    }
}

/// Workers to run for some job types of one plugin.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The plugin's name, as messages and events name it.
    pub plugin: String,
    /// The plugin's library file, which each worker loads.
    pub plugin_path: PathBuf,
    /// The job types these workers claim from the queue.
    pub job_types: Vec<String>,
    /// How many workers to start (again, after they all died).
    pub count: usize,
    /// The plugin's `clx.toml` section as JSON.
    pub plugin_config: String,
}

/// What every worker of a pool shares.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The `clx` executable workers are started from (`clx worker`).
    pub exe: PathBuf,
    /// Where the workers' queue and cache are.
    pub store: StoreLocation,
    /// Where workers' scratch folders go (`<state dir>/tmp`).
    pub scratch: PathBuf,
    /// The queue session whose jobs the workers claim.
    pub session: SessionId,
    /// How long one job may run before its worker is killed and the job
    /// fails without a retry.
    pub job_deadline: Duration,
    /// The `--log-level` workers are started with.
    pub log_level: String,
    /// Set by Ctrl-C or SIGTERM.
    pub interrupted: Interrupt,
    /// Whether the workers get a folder to hand work to each other in
    /// (`clx_plugin_api::shared_dir`); off when the build reuses nothing.
    pub share: bool,
}

/// What the build loop hears from the pool.
#[derive(Debug)]
pub enum PoolEvent {
    /// The job reached a terminal state in the queue (done or failed).
    Finished(JobId),
    /// A worker died or was killed while running the job, which was requeued
    /// or, with its attempts used up, failed.
    Lost {
        /// The job the worker was running.
        job: JobId,
        /// Whether the job went back to the queue (`false`: it failed).
        requeued: bool,
        /// What happened to the worker (exit status, signal, time-out).
        reason: String,
    },
    /// Workers of this spec could not start; its pending jobs were failed.
    CannotStart {
        /// The plugin whose workers keep dying before they are ready.
        plugin: String,
        /// Why, from the last worker's stderr when it said anything.
        reason: String,
        /// The jobs failed because of it.
        failed: Vec<JobId>,
    },
    /// The plugin logged while converting the job.
    Log {
        /// The job being converted.
        job: JobId,
        /// The severity the plugin gave.
        level: LogLevel,
        /// The plugin's text.
        message: String,
    },
    /// The plugin reported how far the job is.
    Progress {
        /// The job being converted.
        job: JobId,
        /// The plugin's text, led by `done/total` when it gave a total.
        message: String,
    },
    /// The user pressed Ctrl-C (or sent SIGTERM).
    Interrupted,
}

/// What reaches the pool's channel.
enum Message {
    /// News from the worker in this slot.
    Worker(usize, News),
    /// A job finished by a worker that is not ours (another machine's).
    Remote(JobId),
}

/// What a worker's pipes say.
enum News {
    Event(Event),
    Stderr(String),
    Closed,
}

/// Tells the pool about jobs that workers outside it finished, so the build
/// loop hears of them as quickly as of its own workers' jobs.
#[derive(Clone)]
pub struct Announcer(mpsc::Sender<Message>);

impl Announcer {
    /// `false` once the pool is gone.
    pub fn finished(&self, job: JobId) -> bool {
        self.0.send(Message::Remote(job)).is_ok()
    }
}

struct Slot {
    spec: usize,
    child: Group,
    stdin: Option<ChildStdin>,
    ready: bool,
    current: Option<(JobId, Instant)>,
    worker_id: Option<WorkerId>,
    stderr: VecDeque<String>,
    alive: bool,
    /// The worker's `TMPDIR`.
    scratch: PathBuf,
}

/// The local worker processes of one build: starts them per [`WorkerSpec`],
/// watches their pipes and heartbeats, replaces hung or dead ones and turns
/// what they say into [`PoolEvent`]s.
pub struct Pool {
    config: PoolConfig,
    specs: Vec<WorkerSpec>,
    start_failures: Vec<usize>,
    slots: Vec<Slot>,
    tx: mpsc::Sender<Message>,
    rx: mpsc::Receiver<Message>,
    queue: Box<dyn Queue>,
    pending_events: VecDeque<PoolEvent>,
    interrupted: Interrupt,
    last_check: Instant,
    scratch: Scratch,
    /// Scratch folders of lost workers, removed once nothing in the
    /// worker's process group can write to them any more.
    to_remove: Vec<(u32, PathBuf)>,
    /// The folder every worker of this pool shares, when asked for.
    shared: Option<PathBuf>,
}

/// Why the pool could not go on; a worker that dies is not one (its job is
/// requeued or failed).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// A worker process could not be started: the plugin's name and why.
    #[error("cannot start a worker ({0}): {1}")]
    Spawn(String, std::io::Error),
    /// The queue could not be read or written.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A worker's scratch folder could not be made: the parent folder and why.
    #[error("cannot create a scratch folder for workers in {0}: {1}; check that the state dir (CLX_HOME) is writable")]
    Scratch(PathBuf, std::io::Error),
}

impl Pool {
    /// A pool with no workers yet; [`Pool::ensure`] starts them.
    pub fn new(config: PoolConfig) -> Result<Pool, PoolError> {
        let (tx, rx) = mpsc::channel();
        let interrupted = config.interrupted.clone();
        let queue = config.store.open_queue()?;
        let mut scratch =
            Scratch::new(config.scratch.clone()).map_err(|e| PoolError::Scratch(config.scratch.clone(), e))?;
        let shared = match config.share {
            true => Some(scratch.create().map_err(|e| PoolError::Scratch(config.scratch.clone(), e))?),
            false => None,
        };
        Ok(Pool {
            scratch,
            shared,
            to_remove: Vec::new(),
            start_failures: Vec::new(),
            config,
            specs: Vec::new(),
            slots: Vec::new(),
            tx,
            rx,
            queue,
            pending_events: VecDeque::new(),
            interrupted,
            last_check: Instant::now(),
        })
    }

    /// Empty the workers' shared folder: what one build handed between its
    /// jobs is not for the next (the tools may have changed in between).
    pub fn start_build(&mut self) {
        if let Some(dir) = &self.shared {
            crate::run::scratch::remove(dir);
            if let Err(e) = std::fs::create_dir(dir) {
                tracing::debug!("cannot recreate the workers' shared folder {}: {e}", dir.display());
            }
        }
    }

    /// Make sure the workers of `spec` run (started once; a later call for
    /// the same job types only wakes them), and tell idle workers there is
    /// new work.
    pub fn ensure(&mut self, spec: WorkerSpec) -> Result<(), PoolError> {
        let known = self.specs.iter().position(|s| s.job_types == spec.job_types && s.plugin == spec.plugin);
        let index = match known {
            Some(i) => i,
            None => {
                self.specs.push(spec);
                self.start_failures.push(0);
                self.specs.len() - 1
            }
        };
        if !self.slots.iter().any(|s| s.alive && s.spec == index) {
            if self.start_failures[index] >= MAX_START_FAILURES {
                // This plugin cannot start here; fail the new jobs at once
                // instead of leaving them pending forever.
                let plugin = self.specs[index].plugin.clone();
                let reason = format!("the {plugin} worker cannot start (see the earlier error)");
                let failed = self.queue.fail_pending(
                    self.config.session,
                    &self.specs[index].job_types,
                    &JobError::tool(reason.clone()),
                )?;
                self.pending_events.push_back(PoolEvent::CannotStart { plugin, reason, failed });
            } else {
                for _ in 0..self.specs[index].count {
                    self.spawn(index)?;
                }
            }
        }
        self.wake();
        Ok(())
    }

    fn spawn(&mut self, spec_index: usize) -> Result<(), PoolError> {
        let scratch = self.scratch.create().map_err(|e| PoolError::Scratch(self.config.scratch.clone(), e))?;
        let spec = &self.specs[spec_index];
        let mut cmd = Command::new(&self.config.exe);
        cmd.arg("--log-level").arg(&self.config.log_level).arg("worker").arg("--plugin").arg(&spec.plugin_path);
        self.config.store.pass_to(&mut cmd);
        cmd.arg("--session")
            .arg(self.config.session.0.to_string())
            .env("CLX_PLUGIN_CONFIG", &spec.plugin_config)
            .env("TMPDIR", &scratch)
            .env(clx_plugin_api::SHARED_DIR_ENV, self.shared.as_deref().unwrap_or(Path::new("")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for t in &spec.job_types {
            cmd.arg("--job-type").arg(t);
        }
        let mut child = Group::spawn(&mut cmd).map_err(|e| PoolError::Spawn(spec.plugin.clone(), e))?;
        let index = self.slots.len();
        if let Some(stdout) = child.take_stdout() {
            let tx = self.tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(event) = Event::parse(&line) {
                        if tx.send(Message::Worker(index, News::Event(event))).is_err() {
                            return;
                        }
                    }
                }
                let _ = tx.send(Message::Worker(index, News::Closed));
            });
        }
        if let Some(stderr) = child.take_stderr() {
            let tx = self.tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if tx.send(Message::Worker(index, News::Stderr(line))).is_err() {
                        return;
                    }
                }
            });
        }
        self.slots.push(Slot {
            spec: spec_index,
            stdin: child.take_stdin(),
            child,
            ready: false,
            current: None,
            worker_id: None,
            stderr: VecDeque::new(),
            alive: true,
            scratch,
        });
        Ok(())
    }

    /// A handle for announcing jobs finished outside the pool.
    pub fn announcer(&self) -> Announcer {
        Announcer(self.tx.clone())
    }

    /// Stop the workers of `plugin` for `job_types` now: workers started
    /// ahead of jobs that never came. Their process groups are killed (a
    /// browser still starting included); nothing is requeued, as they hold no
    /// job, and no replacement starts until [`Pool::ensure`] asks again.
    pub fn stop(&mut self, plugin: &str, job_types: &[String]) {
        let Some(index) = self.specs.iter().position(|s| s.plugin == plugin && s.job_types == job_types) else {
            return;
        };
        for slot in self.slots.iter_mut().filter(|s| s.alive && s.spec == index && s.current.is_none()) {
            slot.alive = false;
            slot.stdin = None;
            slot.child.kill();
            if let Some(id) = slot.worker_id {
                let _ = self.queue.mark_worker_stopped(id);
            }
            self.to_remove.push((slot.child.id(), slot.scratch.clone()));
        }
    }

    /// Tell idle workers there is new work (watch mode submits after start).
    pub fn wake(&mut self) {
        for slot in self.slots.iter_mut().filter(|s| s.alive) {
            if let Some(stdin) = slot.stdin.as_mut() {
                let _ = stdin.write_all(b"jobs\n").and_then(|_| stdin.flush());
            }
        }
    }

    /// Wait up to `timeout` for the next event that matters to the build.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<PoolEvent>, PoolError> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(e) = self.pending_events.pop_front() {
                return Ok(Some(e));
            }
            if self.interrupted.take() {
                return Ok(Some(PoolEvent::Interrupted));
            }
            if self.last_check.elapsed() >= Duration::from_millis(250) {
                self.last_check = Instant::now();
                self.check_hung()?;
                self.remove_dead_scratch();
                continue;
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            let wait = (until - now).min(Duration::from_millis(250));
            match self.rx.recv_timeout(wait) {
                Ok(Message::Worker(index, news)) => self.handle(index, news)?,
                Ok(Message::Remote(job)) => self.pending_events.push_back(PoolEvent::Finished(job)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }

    fn handle(&mut self, index: usize, news: News) -> Result<(), PoolError> {
        let Some(slot) = self.slots.get_mut(index) else { return Ok(()) };
        match news {
            News::Event(Event::Ready(id)) => {
                slot.ready = true;
                slot.worker_id = Some(id);
            }
            News::Event(Event::Started(job)) => slot.current = Some((job, Instant::now())),
            News::Event(Event::Done(job)) => {
                slot.current = None;
                self.pending_events.push_back(PoolEvent::Finished(job));
            }
            // Not this worker's to finish any more: should the worker die
            // now, the job is not its to requeue.
            News::Event(Event::Dropped(job)) => {
                if slot.current.is_some_and(|(current, _)| current == job) {
                    slot.current = None;
                }
                tracing::debug!("job {}: its worker let go of it; waiting for its outcome", job.0);
            }
            News::Event(Event::Idle) => slot.current = None,
            News::Event(Event::Log { job, level, message }) => {
                self.pending_events.push_back(PoolEvent::Log { job, level, message })
            }
            News::Event(Event::Progress { job, done, total, message }) => {
                let message = crate::run::protocol::progress_text(done, total, &message);
                self.pending_events.push_back(PoolEvent::Progress { job, message })
            }
            News::Stderr(line) => {
                tracing::debug!(plugin = %self.specs[slot.spec].plugin, "worker: {line}");
                if slot.stderr.len() == STDERR_LINES_KEPT {
                    slot.stderr.pop_front();
                }
                slot.stderr.push_back(line);
            }
            News::Closed => {
                if slot.alive {
                    let status = slot.child.wait().ok();
                    let plugin = &self.specs[slot.spec].plugin;
                    let reason = match status.as_ref().and_then(describe_exit) {
                        Some(how) => format!("worker of plugin `{plugin}` {how}"),
                        None => format!("worker of plugin `{plugin}` exited"),
                    };
                    // abort() is the plugin's own verdict on the job (a failed
                    // assertion, panic = "abort"): it would abort again. Other
                    // deaths (killed, out of memory) may be the machine's.
                    let aborted =
                        status.as_ref().and_then(std::os::unix::process::ExitStatusExt::signal) == Some(libc::SIGABRT);
                    let retry = if aborted { Retry::No } else { Retry::Once };
                    self.lost(index, reason, retry)?;
                }
            }
        }
        Ok(())
    }

    /// Find workers that are hung (stale heartbeat) or whose job is past its
    /// deadline, and replace them.
    fn check_hung(&mut self) -> Result<(), PoolError> {
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if !slot.alive {
                continue;
            }
            if let Some((job, since)) = slot.current {
                if since.elapsed() > self.config.job_deadline {
                    let secs = self.config.job_deadline.as_secs();
                    tracing::warn!("job {} passed its {secs} s deadline; killing its worker", job.0);
                    self.kill(index);
                    // A job that ran out of time would do so again: it fails
                    // at once instead of hanging a second worker.
                    let reason = format!("timed out after {secs} s (--job-timeout); not retried");
                    self.lost(index, reason, Retry::No)?;
                    continue;
                }
            }
            if let Some(id) = slot.worker_id {
                if let Some(age) = self.queue.heartbeat_age(id)? {
                    if age > HEARTBEAT_TIMEOUT {
                        self.kill(index);
                        self.lost(index, format!("hung: no heartbeat for {} s", age.as_secs()), Retry::Once)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn kill(&mut self, index: usize) {
        self.slots[index].child.kill();
    }

    /// A worker is gone: requeue or fail its job, record it, start a
    /// replacement.
    fn lost(&mut self, index: usize, reason: String, retry: Retry) -> Result<(), PoolError> {
        let slot = &mut self.slots[index];
        slot.alive = false;
        slot.stdin = None;
        crate::process::kill_group(slot.child.id());
        self.to_remove.push((slot.child.id(), slot.scratch.clone()));
        let worker = slot.worker_id;
        if let Some(id) = worker {
            self.queue.mark_worker_dead(id)?;
        }
        let spec = slot.spec;
        let was_ready = slot.ready;
        let detail = slot.stderr.iter().rev().find(|l| !l.trim().is_empty()).cloned();
        let current = slot.current.take();
        // A worker records an outcome and claims its next job in one commit,
        // so it can die holding a job it never announced: that one never
        // started converting and goes back to the queue as well.
        //
        // Each job goes back only while this worker still holds it: a job
        // whose heartbeat lapsed may have been taken over by another worker
        // (a remote one, with PostgreSQL), and that claim must stand.
        let give_back = |queue: &dyn Queue, job: JobId, error: &JobError| match worker {
            Some(id) => queue.release(job, id, error),
            None => queue.requeue(job, error),
        };
        if let Some(id) = worker {
            for job in self.queue.jobs_held_by(id)? {
                if current.is_some_and(|(c, _)| c == job) {
                    continue;
                }
                let error = JobError::worker(reason.clone());
                let requeued = give_back(&*self.queue, job, &error)? != Requeued::Terminal;
                self.pending_events.push_back(PoolEvent::Lost { job, requeued, reason: reason.clone() });
            }
        }
        if let Some((job, _)) = current {
            let error = JobError::worker(reason.clone());
            let requeued = match retry {
                Retry::Once => give_back(&*self.queue, job, &error)? != Requeued::Terminal,
                Retry::No => {
                    self.queue.fail_running(job, &error)?;
                    false
                }
            };
            self.pending_events.push_back(PoolEvent::Lost { job, requeued, reason: reason.clone() });
        }
        if !was_ready {
            self.start_failures[spec] += 1;
        }
        if self.start_failures[spec] >= MAX_START_FAILURES {
            if self.slots.iter().any(|s| s.alive && s.spec == spec) {
                return Ok(());
            }
            let plugin = self.specs[spec].plugin.clone();
            let reason = detail.unwrap_or(reason);
            let error = JobError::tool(format!("the {plugin} worker cannot start: {reason}"));
            let failed = self.queue.fail_pending(self.config.session, &self.specs[spec].job_types, &error)?;
            self.pending_events.push_back(PoolEvent::CannotStart { plugin, reason, failed });
            return Ok(());
        }
        self.spawn(spec)
    }

    fn remove_dead_scratch(&mut self) {
        self.to_remove.retain(|(group, dir)| {
            if group_alive(*group) {
                return true;
            }
            crate::run::scratch::remove(dir);
            false
        });
    }

    /// Stop every worker: close their stdin (they exit when idle), then kill
    /// whatever is left, process groups included, and remove their scratch.
    pub fn shutdown(mut self) {
        for slot in &mut self.slots {
            slot.stdin = None;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for slot in &mut self.slots {
            while slot.alive && Instant::now() < deadline {
                match slot.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            slot.child.kill();
            if let Some(id) = slot.worker_id {
                let _ = self.queue.mark_worker_stopped(id);
            }
        }
        // SIGKILL is delivered at once but dying takes a moment; a browser
        // still writing its profile would defeat the removal.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.slots.iter().any(|s| group_running(s.child.id())) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.scratch.clear();
    }
}

/// Whether a process of the group still runs. A killed browser's helpers
/// are orphans of a dead worker: they stay zombies, still members of the
/// group, until whoever adopted them reaps them, which a container's init
/// may do only seconds later. A zombie writes nothing, so it does not count.
/// Without a process table the group's existence is all there is to go by.
fn group_running(group: u32) -> bool {
    if !group_alive(group) {
        return false;
    }
    clx_sys::process::group_has_running_member(group).unwrap_or(true)
}

/// Whether a lost worker's job gets another attempt: yes after a crash or a
/// lost heartbeat (the machine may be at fault), no after a time-out or an
/// abort (the job itself hangs or aborts, and would again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Once,
    No,
}

/// How a child process ended, for messages: `exited with code 3`,
/// `killed by signal 6`.
pub fn describe_exit(status: &std::process::ExitStatus) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return Some(format!("killed by signal {signal}"));
    }
    status.code().map(|c| format!("exited with code {c}"))
}
