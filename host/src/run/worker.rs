//! The worker process (`clx worker`): loads one plugin, claims that plugin's
//! jobs from the queue, converts them, stores results in the cache.
//!
//! SQLite is the record of every job; the pipes to the host only make things
//! fast. The host writes `jobs` on the worker's stdin when there is new work
//! and closes stdin to stop it; the worker writes one line per event on stdout
//! (`ready`, `started`, `done`, `dropped`, `idle`), so the host learns of a
//! finished job within milliseconds instead of polling the database.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::sabi_types::RRef;
use abi_stable::std_types::{RResult, RStr};
use clx_plugin_api::{
    ConverterBox, HostServices, HostServices_TO, InputFile, IssueKind, Job, JobResult, LogLevel, OutputRequest,
    Severity,
};

use crate::plugin::loader;
use crate::report::Location;
use crate::run::protocol::Event;
use crate::store::job::JobPayload;
use crate::store::{
    Cache, CacheEntry, CacheError, CacheKey, JobError, JobId, JobOutcome, Queue, QueueError, Requeued, SessionId,
    StoreLocation, StoredIssue, StoredOutput, WorkerId,
};

/// How often a worker proves it is alive, also while a job runs.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);

/// Why a worker stopped; a failed job is not one (it is recorded in the
/// queue and the worker goes on).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The plugin library could not be loaded.
    #[error("cannot load plugin {path}: {source}")]
    Load {
        /// The library file.
        path: PathBuf,
        /// Why it is not a usable plugin.
        source: loader::LoadError,
    },
    /// The plugin refused to create its converter.
    #[error("plugin {plugin} refused to start: {message}")]
    Start {
        /// The plugin's name.
        plugin: String,
        /// The plugin's own account, typically about its settings or tools.
        message: String,
    },
    /// The queue could not be opened, read or written.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The cache could not be opened, read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Reading stdin or writing stdout failed: the host is gone.
    #[error("lost the connection to the host: {0}")]
    Pipe(#[from] std::io::Error),
}

/// What `clx worker` is started with: one plugin, one session, its types.
pub struct WorkerConfig {
    /// The plugin library file to load.
    pub plugin: PathBuf,
    /// Where the queue and the cache are.
    pub store: StoreLocation,
    /// The queue session whose jobs this worker claims.
    pub session: SessionId,
    /// The job types it claims from the queue.
    pub job_types: Vec<String>,
    /// The plugin's `clx.toml` section as JSON.
    pub plugin_config: String,
}

/// The worker's stdout, shared by the job loop and the plugin's log and
/// progress calls (which may come from the plugin's own threads). Each event
/// is written whole under the lock, so lines never interleave.
pub(crate) struct Channel(std::sync::Mutex<std::io::Stdout>);

impl Channel {
    fn send(&self, event: &Event) -> std::io::Result<()> {
        let mut out = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        out.write_all(event.line().as_bytes())?;
        out.flush()
    }
}

/// One claim of a job by this worker, numbered by the worker: what a stop
/// is about. A job id alone would not do: a retried job comes back under
/// its id, and may come back to the same worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    number: u64,
    /// The job claimed.
    pub job: JobId,
}

/// The job a worker runs, shared by its job loop, its heartbeat and the
/// time-limit watch, which may stop it, and the plugin, which asks whether
/// it is stopped. A stop names the claim it is for: the heartbeat asks the
/// queue about the job it saw running, and when the answer ("no longer
/// yours") comes back after the worker finished that job and claimed the
/// next, it must not stop the next one.
#[derive(Default)]
pub struct JobSlot {
    current: Mutex<Option<Claim>>,
    claims: AtomicU64,
    /// The number of the claim to stop; 0 for none (claims count from 1).
    stopped: AtomicU64,
}

impl JobSlot {
    /// The worker begins running `job`.
    pub fn start(&self, job: JobId) -> Claim {
        let claim = Claim { number: self.claims.fetch_add(1, Ordering::Relaxed) + 1, job };
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(claim);
        claim
    }

    /// The worker is done with its job, whatever became of it.
    pub fn end(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The claim the worker is running now, if any.
    pub fn current(&self) -> Option<Claim> {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stop the job of `claim` (its plugin sees itself cancelled); a stop
    /// for a claim that already ended touches nothing.
    pub fn stop(&self, claim: Claim) {
        self.stopped.store(claim.number, Ordering::Relaxed);
    }

    /// Whether the job of `claim` was stopped.
    pub fn is_stopped(&self, claim: Claim) -> bool {
        self.stopped.load(Ordering::Relaxed) == claim.number
    }

    /// What the heartbeat heard about the claim it asked for: `held`
    /// false stops that claim's job, never a later one.
    pub fn heard(&self, asked: Option<Claim>, held: bool) {
        if let (Some(claim), false) = (asked, held) {
            self.stop(claim);
        }
    }
}

/// Host services for one job: logs and progress go to the host as events
/// (it shows them at their level), a stop comes through the job's slot.
/// A worker serving other machines' builds has no host to tell: it logs,
/// and leaves progress in `progress` for the queue.
pub(crate) struct Services<'a> {
    pub(crate) claim: Claim,
    pub(crate) slot: &'a JobSlot,
    pub(crate) channel: Option<&'a Channel>,
    pub(crate) progress: Option<&'a LatestProgress>,
}

/// The last progress a plugin reported on a worker that serves other
/// machines' builds, on its way to the queue, where `clx jobs list` and the
/// build's host read it. The plugin only leaves it here (a call may come
/// often, from any of its threads, and must not wait for the database);
/// the heartbeat writes it once per beat and the worker once more as the
/// job ends.
#[derive(Default)]
pub(crate) struct LatestProgress {
    latest: std::sync::Mutex<Option<(JobId, String)>>,
    /// Held over a write, so an older message never lands after a newer one.
    writing: std::sync::Mutex<()>,
}

impl LatestProgress {
    fn set(&self, job: JobId, message: String) {
        *self.latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((job, message));
    }

    /// Record what was reported since the last write, if anything.
    pub(crate) fn write(&self, queue: &dyn crate::store::Queue) -> Result<(), QueueError> {
        let _writing = self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let latest = self.latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match latest {
            Some((job, message)) => queue.set_progress(job, &message),
            None => Ok(()),
        }
    }
}

impl HostServices for Services<'_> {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let Some(channel) = self.channel else {
            let job = self.claim.job.0;
            match level {
                LogLevel::Error => tracing::error!(job, "{message}"),
                LogLevel::Warn => tracing::warn!(job, "{message}"),
                LogLevel::Info => tracing::info!(job, "{message}"),
                LogLevel::Debug => tracing::debug!(job, "{message}"),
                LogLevel::Trace => tracing::trace!(job, "{message}"),
            }
            return;
        };
        let event = Event::Log { job: self.claim.job, level, message: message.to_string() };
        // A host that stopped listening ends the worker at the next job anyway.
        let _ = channel.send(&event);
    }

    fn progress(&self, done: u32, total: u32, message: RStr<'_>) {
        if let Some(channel) = self.channel {
            let _ = channel.send(&Event::Progress { job: self.claim.job, done, total, message: message.to_string() });
        } else if let Some(progress) = self.progress {
            progress.set(self.claim.job, crate::run::protocol::progress_text(done, total, &message));
        }
    }

    fn is_cancelled(&self) -> bool {
        self.slot.is_stopped(self.claim)
    }
}

/// Run the worker until the host closes our stdin. Returns on EOF.
pub fn run(config: WorkerConfig) -> Result<(), WorkerError> {
    // No worker outlives its build, even when the host dies by `kill -9`.
    // Children a plugin starts are in our process group, which the host
    // kills as a whole.
    if !crate::sys::die_with_parent() {
        std::process::exit(1);
    }
    start_guarded(&config.store);
    let plugin =
        loader::load(&config.plugin).map_err(|source| WorkerError::Load { path: config.plugin.clone(), source })?;
    let converter = plugin
        .new_converter(&config.plugin_config)
        .map_err(|message| WorkerError::Start { plugin: plugin.name().to_owned(), message })?;
    let queue = config.store.open_queue()?;
    let cache = config.store.open_cache()?;
    let worker = queue.register_worker(config.session, &config.job_types, std::process::id())?;

    let slot = Arc::new(JobSlot::default());
    spawn_heartbeat(&config.store, worker, Arc::clone(&slot), None)?;

    let channel = Channel(std::sync::Mutex::new(std::io::stdout()));
    let send = |e: Event| channel.send(&e);
    send(Event::Ready(worker))?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        let mut next = queue.claim(config.session, worker, &config.job_types)?;
        while let Some(job) = next {
            let claim = slot.start(job.id);
            send(Event::Started(job.id))?;
            let services = Services { claim, slot: &slot, channel: Some(&channel), progress: None };
            let converted = match &job.payload {
                Ok(payload) => run_job(plugin.name(), &converter, &*cache, payload, &job.cache_key, &services),
                Err(error) => Err(error.clone()),
            };
            slot.end();
            if slot.is_stopped(claim) {
                // Its job is not this worker's any more (or not wanted):
                // the stopped converter's output is nobody's result.
                let ended = release(&*queue, worker, claim)?;
                next = queue.claim(config.session, worker, &config.job_types)?;
                send(told(job.id, ended))?;
                kill_leftovers();
                continue;
            }
            // The outcome and the next claim share one commit.
            let outcome = outcome_of(&converted);
            let handover = queue.hand_over(config.session, worker, job.id, outcome, &config.job_types)?;
            next = handover.next;
            send(told(job.id, handover.ended))?;
            kill_leftovers();
        }
        send(Event::Idle)?;
        // Block until the host has more work (or is gone: EOF).
        match lines.next() {
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => {
                // Its kernels and servers go first; what they leave comes to us.
                drop(converter);
                kill_leftovers_at_exit();
                return Ok(());
            }
        }
    }
}

/// What the worker tells its host about a job it let go of: `done` when
/// the job has ended, so the host lands it; `dropped` when its outcome was
/// not recorded and the job has not ended (another worker took it over
/// before this one's heartbeat noticed, or it is back in the queue), so the
/// host waits for its real outcome instead of landing a job still running.
pub fn told(job: JobId, ended: bool) -> Event {
    if ended {
        Event::Done(job)
    } else {
        Event::Dropped(job)
    }
}

/// Give back the job of a claim the worker stopped; whether the job has
/// ended (cancelled, failed for good), so its host may land it now. A job
/// the worker still held goes back to pending; one another worker holds,
/// or that ended, is left as it is.
pub fn release(queue: &dyn Queue, worker: WorkerId, claim: Claim) -> Result<bool, QueueError> {
    let why = JobError::worker("its worker stopped it before it finished");
    let released = queue.release(claim.job, worker, &why)?;
    if released == Requeued::Pending {
        tracing::info!("job {}: stopped while this worker still held it; back in the queue", claim.job.0);
    }
    Ok(released == Requeued::Terminal)
}

/// Before the worker starts anything: a worker holding a database's
/// password hides its memory from the decks it runs (they run as the same
/// user), and every worker adopts what its decks detach, so
/// [`kill_leftovers`] can end it.
pub(crate) fn start_guarded(store: &StoreLocation) {
    if store.is_shared() {
        crate::sys::hide_memory();
    }
    if !crate::sys::adopt_orphans() {
        tracing::debug!("this system cannot hand a worker the processes its decks detach");
    }
}

/// End whatever the last job started and detached from its kernel
/// (`setsid`, a double fork): nothing a deck starts outlives it.
pub(crate) fn kill_leftovers() {
    let killed = crate::sys::kill_escaped_children();
    if killed > 0 {
        tracing::info!("killed {killed} process(es) a job left running");
    }
}

/// When the worker stops, after its converters are gone: everything their
/// processes left behind, waiting for them to finish dying.
pub(crate) fn kill_leftovers_at_exit() {
    let killed = crate::sys::kill_escaped_children_at_exit(Duration::from_secs(1));
    if killed > 0 {
        tracing::info!("killed {killed} process(es) jobs left running");
    }
}

/// What `clx worker --probe` prints: the plugin's tool identity per job type,
/// or why the plugin could not start. The host runs the probe in a process
/// of its own, so a plugin that aborts or hangs in `new()` or
/// `tool_identity()` takes down the probe, never the build.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeAnswer {
    /// Job type -> its tool identity, or the plugin's error asking it.
    Identities(std::collections::BTreeMap<String, Result<String, String>>),
    /// The plugin could not be loaded or its converter not created; says why.
    CannotStart(String),
}

/// Load the plugin, create its converter and ask each job type's tool
/// identity.
pub fn probe(plugin_path: &std::path::Path, plugin_config: &str, job_types: &[String]) -> ProbeAnswer {
    let plugin = match loader::load(plugin_path) {
        Ok(p) => p,
        Err(e) => return ProbeAnswer::CannotStart(format!("cannot load {}: {e}", plugin_path.display())),
    };
    let converter = match plugin.new_converter(plugin_config) {
        Ok(c) => c,
        Err(e) => return ProbeAnswer::CannotStart(format!("the {} plugin cannot start: {e}", plugin.name())),
    };
    let identities = job_types
        .iter()
        .map(|t| {
            (
                t.clone(),
                converter
                    .tool_identity(t.as_str().into())
                    .into_result()
                    .map(|s| s.to_string())
                    .map_err(|e| e.to_string()),
            )
        })
        .collect();
    ProbeAnswer::Identities(identities)
}

/// A job the converter ran: its result as the cache stores it (JSON), and
/// the error that fails the job, if any.
pub(crate) struct Converted {
    pub(crate) result: String,
    pub(crate) error: Option<JobError>,
}

/// How a job ended, as the queue records it: what its converter returned,
/// or why it could not run.
pub(crate) fn outcome_of(converted: &Result<Converted, JobError>) -> JobOutcome<'_> {
    match converted {
        Ok(Converted { result, error: None }) => JobOutcome::Done { result },
        Ok(Converted { result, error: Some(error) }) => JobOutcome::Failed { error, result: Some(result) },
        Err(error) => JobOutcome::Failed { error, result: None },
    }
}

/// Convert one job. The result is cached only when it depends on nothing but
/// the job's inputs: an error of the input (a syntax error, a cell that
/// raises) is replayed by an unchanged rebuild, while a missing tool, a
/// plugin panic or a cancelled run is not, so the next build tries again.
/// Time-outs and crashes never get here: the pool fails or requeues those.
pub(crate) fn run_job(
    plugin: &str,
    converter: &ConverterBox,
    cache: &dyn Cache,
    payload: &JobPayload,
    cache_key: &CacheKey,
    services: &Services<'_>,
) -> Result<Converted, JobError> {
    let work_dir = tempfile::Builder::new()
        .prefix("clx-job-")
        .tempdir()
        .map_err(|e| JobError::internal(format!("cannot create a work dir: {e}")))?;
    let job = abi_job(payload, cache, work_dir.path())
        .map_err(|e| JobError::internal(format!("cannot read job inputs from the cache: {e}")))?;
    let host = HostServices_TO::from_ptr(RRef::new(services), TD_Opaque);
    let result = converter.convert(&job, host);
    let mut entry = store_result(cache, payload, &result)
        .map_err(|e| JobError::internal(format!("cannot store the result: {e}")))?;
    for (stored, issue) in entry.issues.iter_mut().zip(result.issues.iter()) {
        if issue.kind == IssueKind::Plugin {
            stored.message = format!("plugin `{plugin}` failed: {}", stored.message);
        }
    }
    let input_only = result.issues.iter().all(|i| i.kind == IssueKind::Input);
    let stopped = services.is_cancelled();
    let error = if stopped {
        Some(JobError::cancelled("cancelled while it ran"))
    } else {
        first_error(plugin, payload, &result)
    };
    if input_only && !stopped {
        cache.put(cache_key, &entry).map_err(|e| JobError::internal(format!("cannot store the result: {e}")))?;
    }
    let result =
        serde_json::to_string(&entry).map_err(|e| JobError::internal(format!("cannot record the result: {e}")))?;
    Ok(Converted { result, error })
}

/// The ABI job a plugin converts, its inputs read from the cache.
fn abi_job(payload: &JobPayload, cache: &dyn Cache, work_dir: &std::path::Path) -> Result<Job, CacheError> {
    let mut siblings = abi_stable::std_types::RVec::new();
    for s in &payload.siblings {
        siblings.push(InputFile { path: s.path.as_str().into(), bytes: cache.get_blob(&s.blob)?.into() });
    }
    Ok(Job {
        job_type: payload.job_type.as_str().into(),
        source_path: payload.source_path.as_str().into(),
        source: cache.get_blob(&payload.source)?.into(),
        siblings,
        outputs: payload
            .outputs
            .iter()
            .map(|o| OutputRequest {
                id: o.id.as_str().into(),
                format: o.format.as_str().into(),
                params: o.params.to_string().into(),
            })
            .collect(),
        options: payload.options.to_string().into(),
        work_dir: work_dir.to_string_lossy().as_ref().into(),
    })
}

fn store_result(cache: &dyn Cache, payload: &JobPayload, result: &JobResult) -> Result<CacheEntry, CacheError> {
    let mut outputs = Vec::new();
    for spec in &payload.outputs {
        let produced = result.outputs.iter().find(|o| o.id.as_str() == spec.id);
        let stored = match produced.map(|o| &o.result) {
            Some(RResult::ROk(bytes)) => StoredOutput::Blob(cache.put_blob(bytes)?),
            Some(RResult::RErr(message)) => StoredOutput::Error(message.to_string()),
            None => StoredOutput::Error(format!("the {} converter returned no `{}` output", payload.plugin, spec.id)),
        };
        outputs.push((spec.id.clone(), stored));
    }
    let issues = result.issues.iter().map(StoredIssue::from).collect();
    Ok(CacheEntry { outputs, issues })
}

/// The error that fails the job, filed by what caused it: the course's
/// input, the machine (a missing tool) or the plugin itself.
fn first_error(plugin: &str, payload: &JobPayload, result: &JobResult) -> Option<JobError> {
    if let Some(issue) = result.issues.iter().find(|i| i.severity == Severity::Error) {
        let location = match (issue.line.into_option(), issue.cell.into_option()) {
            (Some(line), _) => Some(Location::line(line)),
            (None, Some(cell)) => Some(Location::cell(Some(cell), None)),
            _ => None,
        };
        let message = issue.message.to_string();
        return Some(match issue.kind {
            IssueKind::Input => JobError::input(message, location),
            IssueKind::Environment => JobError::tool(message),
            IssueKind::Plugin => JobError::plugin(format!("plugin `{plugin}` failed: {message}")),
        });
    }
    let failed = payload
        .outputs
        .iter()
        .find(|spec| !result.outputs.iter().any(|o| o.id.as_str() == spec.id && o.result.is_ok()))?;
    Some(JobError::input(format!("output `{}` failed", failed.id), None))
}

/// Beat for the worker, from a thread of its own, until the worker lets go
/// of its slot; its job is stopped when the queue says it is no longer the
/// worker's (see [`JobSlot::heard`]).
pub(crate) fn spawn_heartbeat(
    store: &StoreLocation,
    worker: WorkerId,
    slot: Arc<JobSlot>,
    progress: Option<Arc<LatestProgress>>,
) -> Result<(), WorkerError> {
    // A connection of its own: SQLite connections are per thread.
    let queue = store.open_queue()?;
    std::thread::Builder::new().name("heartbeat".into()).spawn(move || loop {
        // The worker let go of its job slot: it stopped, or a worker serving
        // a shared queue registers anew after a database outage.
        if Arc::strong_count(&slot) == 1 {
            return;
        }
        let asked = slot.current();
        match queue.heartbeat(worker, asked.map(|c| c.job)) {
            Ok(held) => slot.heard(asked, held),
            Err(e) => tracing::warn!("heartbeat failed: {e}"),
        }
        if let Some(Err(e)) = progress.as_deref().map(|p| p.write(&*queue)) {
            tracing::warn!("cannot record a job's progress: {e}");
        }
        std::thread::sleep(HEARTBEAT_INTERVAL);
    })?;
    Ok(())
}
