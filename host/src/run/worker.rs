//! The worker process (`clx worker`): loads one plugin, claims that plugin's
//! jobs from the queue, converts them, stores results in the cache.
//!
//! SQLite is the record of every job; the pipes to the host only make things
//! fast. The host writes `jobs` on the worker's stdin when there is new work
//! and closes stdin to stop it; the worker writes one line per event on stdout
//! (`ready`, `started`, `done`, `idle`), so the host learns of a finished job
//! within milliseconds instead of polling the database.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::sabi_types::RRef;
use abi_stable::std_types::{RResult, RStr};
use clx_plugin_api::{ConverterBox, HostServices, HostServices_TO, JobResult, LogLevel, Severity};

use crate::plugin::loader;
use crate::report::Location;
use crate::run::protocol::Event;
use crate::store::cache::{Cache, CacheEntry, CacheKey, StoredIssue, StoredOutput};
use crate::store::job::JobPayload;
use crate::store::queue::{JobError, JobId, Queue, SessionId, WorkerId};

/// How often a worker proves it is alive, also while a job runs.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot load plugin {path}: {source}")]
    Load { path: PathBuf, source: loader::LoadError },
    #[error("plugin {plugin} refused to start: {message}")]
    Start { plugin: String, message: String },
    #[error(transparent)]
    Queue(#[from] crate::store::queue::QueueError),
    #[error(transparent)]
    Cache(#[from] crate::store::cache::CacheError),
    #[error("lost the connection to the host: {0}")]
    Pipe(#[from] std::io::Error),
}

pub struct WorkerConfig {
    pub plugin: PathBuf,
    pub queue: PathBuf,
    pub cache: PathBuf,
    pub session: SessionId,
    pub job_types: Vec<String>,
    /// The plugin's `clx.toml` section as JSON.
    pub plugin_config: String,
}

/// Host services for one job: logs go to this process's stderr (which the
/// host forwards), cancellation is noticed by the heartbeat thread.
struct Services {
    cancelled: Arc<AtomicBool>,
}

impl HostServices for Services {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        match level {
            LogLevel::Trace => tracing::trace!("{message}"),
            LogLevel::Debug => tracing::debug!("{message}"),
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error => tracing::error!("{message}"),
        }
    }

    fn progress(&self, done: u32, total: u32, message: RStr<'_>) {
        tracing::debug!("progress {done}/{total} {message}");
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Run the worker until the host closes our stdin. Returns on EOF.
pub fn run(config: WorkerConfig) -> Result<(), WorkerError> {
    die_with_parent();
    let plugin =
        loader::load(&config.plugin).map_err(|source| WorkerError::Load { path: config.plugin.clone(), source })?;
    let converter = plugin
        .new_converter(&config.plugin_config)
        .map_err(|message| WorkerError::Start { plugin: plugin.name().to_owned(), message })?;
    let queue = Queue::open(&config.queue)?;
    let cache = Cache::open(&config.cache)?;
    let worker = queue.register_worker(config.session, &config.job_types, std::process::id())?;

    let current = Arc::new(AtomicI64::new(0));
    let cancelled = Arc::new(AtomicBool::new(false));
    spawn_heartbeat(&config.queue, worker, Arc::clone(&current), Arc::clone(&cancelled))?;

    let mut out = std::io::stdout().lock();
    let mut send = |e: Event| -> std::io::Result<()> {
        out.write_all(e.line().as_bytes())?;
        out.flush()
    };
    send(Event::Ready(worker))?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        while let Some(job) = queue.claim(config.session, worker, &config.job_types)? {
            current.store(job.id.0, Ordering::Relaxed);
            cancelled.store(false, Ordering::Relaxed);
            send(Event::Started(job.id))?;
            let outcome = run_job(&converter, &cache, &job.payload, &job.cache_key, Arc::clone(&cancelled));
            current.store(0, Ordering::Relaxed);
            match outcome {
                Ok(None) => queue.complete(job.id, worker)?,
                Ok(Some(error)) | Err(error) => queue.fail(job.id, worker, &error)?,
            }
            send(Event::Done(job.id))?;
        }
        send(Event::Idle)?;
        // Block until the host has more work (or is gone: EOF).
        match lines.next() {
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Ok(()),
        }
    }
}

/// Convert one job and store its result in the cache. `Ok(Some(error))`: the
/// converter ran but some output failed; the result is cached all the same,
/// so an unchanged rebuild replays the error without converting again.
fn run_job(
    converter: &ConverterBox,
    cache: &Cache,
    payload: &str,
    cache_key: &CacheKey,
    cancelled: Arc<AtomicBool>,
) -> Result<Option<JobError>, JobError> {
    let payload: JobPayload =
        serde_json::from_str(payload).map_err(|e| JobError::internal(format!("unreadable job payload: {e}")))?;
    let work_dir = tempfile::Builder::new()
        .prefix("clx-job-")
        .tempdir()
        .map_err(|e| JobError::internal(format!("cannot create a work dir: {e}")))?;
    let job = payload
        .to_job(cache, work_dir.path())
        .map_err(|e| JobError::internal(format!("cannot read job inputs from the cache: {e}")))?;
    let services = Services { cancelled };
    let host = HostServices_TO::from_ptr(RRef::new(&services), TD_Opaque);
    let result = converter.convert(&job, host);
    let entry = store_result(cache, &payload, &result)
        .map_err(|e| JobError::internal(format!("cannot store the result: {e}")))?;
    cache.put(cache_key, &entry).map_err(|e| JobError::internal(format!("cannot store the result: {e}")))?;
    Ok(first_error(&payload, &result))
}

fn store_result(
    cache: &Cache,
    payload: &JobPayload,
    result: &JobResult,
) -> Result<CacheEntry, crate::store::cache::CacheError> {
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

fn first_error(payload: &JobPayload, result: &JobResult) -> Option<JobError> {
    if let Some(issue) = result.issues.iter().find(|i| i.severity == Severity::Error) {
        let location = match (issue.line.into_option(), issue.cell.into_option()) {
            (Some(line), _) => Some(Location::line(line)),
            (None, Some(cell)) => Some(Location::cell(Some(cell), None)),
            _ => None,
        };
        return Some(JobError::input(issue.message.to_string(), location));
    }
    let failed = payload
        .outputs
        .iter()
        .find(|spec| !result.outputs.iter().any(|o| o.id.as_str() == spec.id && o.result.is_ok()))?;
    Some(JobError::input(format!("output `{}` failed", failed.id), None))
}

fn spawn_heartbeat(
    queue_path: &std::path::Path,
    worker: WorkerId,
    current: Arc<AtomicI64>,
    cancelled: Arc<AtomicBool>,
) -> Result<(), WorkerError> {
    // A connection of its own: SQLite connections are per thread.
    let queue = Queue::open(queue_path)?;
    std::thread::Builder::new().name("heartbeat".into()).spawn(move || loop {
        let job = current.load(Ordering::Relaxed);
        let job = (job != 0).then_some(JobId(job));
        match queue.heartbeat(worker, job) {
            Ok(still_wanted) => {
                if job.is_some() && !still_wanted {
                    cancelled.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!("heartbeat failed: {e}"),
        }
        std::thread::sleep(HEARTBEAT_INTERVAL);
    })?;
    Ok(())
}

/// The kernel kills us when the host dies, even by `kill -9`, so no worker
/// outlives its build. Children a plugin starts are in our process group,
/// which the host kills as a whole.
fn die_with_parent() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag on this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        // The host may have died between fork and prctl.
        if std::os::unix::process::parent_id() == 1 {
            std::process::exit(1);
        }
    }
}
