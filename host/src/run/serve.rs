//! `clx worker serve`: a long-running worker for builds on other machines.
//!
//! It serves every running build of a PostgreSQL queue whose jobs it can
//! run exactly as their cache keys were computed: the same job type from
//! the same plugin library (checked by the claim itself) and the same tool
//! identity under the job's plugin settings (checked after the claim; a job
//! this machine's tools would render differently is handed back for
//! another worker). Inputs come from the cache tables by hash and results go
//! back there, so the course's files never have to be on this machine.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clx_plugin_api::ConverterBox;

use crate::config::NO_SETTINGS;
use crate::plugin::loader::LoadedPlugin;
use crate::plugin::Registry;
use crate::run::engine::IdentityError;
use crate::run::pool::default_workers;
use crate::run::protocol::Capability;
use crate::run::worker::{self, Claim, JobSlot, LatestProgress, Services};
use crate::signals::Interrupt;
use crate::store::{
    requirement, Cache, CacheError, ClaimedJob, JobError, Queue, QueueError, SharedQueue, StoreLocation, WorkerId,
};

/// How long an idle worker sleeps before it looks at the stop flag again
/// (new work wakes it at once).
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// What `clx worker serve` serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The shared queue and cache.
    pub store: StoreLocation,
    /// Only these job types; empty: every type of every plugin found.
    pub types: Vec<String>,
    /// `--jobs`: at most this many jobs of one type side by side, each with
    /// its own connection and converter; `None`: as many as a build on this
    /// machine runs ([`default_workers`]).
    pub jobs: Option<usize>,
    /// Stops serving: each running job is finished first.
    pub interrupt: Interrupt,
}

/// Why `clx worker serve` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A job type asked for that no plugin in use provides: that type, and
    /// the known types joined with commas.
    #[error("no plugin handles job type `{0}`; known: {1} (see `clx plugins list`)")]
    UnknownType(String, String),
    /// No plugin is in use at all.
    #[error("no plugin found, so there is nothing to serve; see `clx plugins list`")]
    NothingToServe,
    /// A plugin library could not be read to hash it for the claim.
    #[error("cannot read plugin library: {0}")]
    Library(#[from] crate::run::engine::IdentityError),
    /// The queue could not be opened, read or written.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The cache could not be opened, read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A plugin could not be loaded or its converter not created.
    #[error(transparent)]
    Worker(#[from] worker::WorkerError),
    /// The queue is local to one machine; holds how it describes itself.
    #[error("clx worker serve needs a queue shared across machines, not {0}")]
    NotShared(String),
}

/// The jobs of one type this process runs: `count` workers, each with its
/// own connection, registration and converter.
struct Lane<'r> {
    job_type: String,
    requirement: String,
    plugin: &'r LoadedPlugin,
    /// What its workers register, for builds (the tool identity) and people.
    capabilities: String,
    /// The tool identity under default settings, as registered.
    identity: Result<String, String>,
    count: usize,
    /// The converter the identity was asked of, for the first worker of
    /// the plugin to take instead of starting its tools a second time.
    spare: Spare,
}

/// A converter made before any worker, until one takes it.
type Spare = Arc<Mutex<Option<ConverterBox>>>;

/// The longest pause between attempts to reach a database that is down.
const OUTAGE_BACKOFF_CAP: Duration = Duration::from_secs(30);
/// How often a worker waiting for its database says it still does.
const OUTAGE_NOTE_EVERY: Duration = Duration::from_secs(60);

/// A database outage a worker waits out: capped back-off between attempts,
/// a line when it starts and once a minute after, and an end at once when
/// the worker is asked to stop.
struct Outage {
    since: std::time::Instant,
    said: std::time::Instant,
    delay: Duration,
}

impl Outage {
    fn new(error: &ServeError) -> Outage {
        tracing::warn!("cannot use the database: {error}; waiting for it to come back (stop with SIGTERM)");
        let now = std::time::Instant::now();
        Outage { since: now, said: now, delay: Duration::from_secs(1) }
    }

    /// Pause before the next attempt; false when asked to stop meanwhile.
    fn wait(&mut self, error: &ServeError, stop: &AtomicBool) -> bool {
        if self.said.elapsed() >= OUTAGE_NOTE_EVERY {
            let secs = self.since.elapsed().as_secs();
            tracing::warn!("still waiting for the database after {secs} s: {error}");
            self.said = std::time::Instant::now();
        }
        let resume = std::time::Instant::now() + self.delay;
        while std::time::Instant::now() < resume {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.delay = (self.delay * 2).min(OUTAGE_BACKOFF_CAP);
        !stop.load(Ordering::Relaxed)
    }
}

/// Run `attempt` until it succeeds, waiting out store errors (the database
/// unreachable, for however long); `None` when asked to stop first.
fn waiting_out_outages<T>(
    stop: &AtomicBool,
    mut attempt: impl FnMut() -> Result<T, ServeError>,
) -> Result<Option<T>, ServeError> {
    let mut outage: Option<Outage> = None;
    loop {
        match attempt() {
            Ok(value) => {
                if let Some(o) = outage {
                    tracing::warn!("the database is back after {} s", o.since.elapsed().as_secs());
                }
                return Ok(Some(value));
            }
            Err(error @ (ServeError::Queue(_) | ServeError::Cache(_))) => {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                if !outage.get_or_insert_with(|| Outage::new(&error)).wait(&error, stop) {
                    return Ok(None);
                }
            }
            Err(other) => return Err(other),
        }
    }
}

/// Serve until SIGTERM or Ctrl-C; each running job is finished first. A
/// database that cannot be reached is waited for, however long it takes.
pub fn serve(registry: &Registry, options: ServeOptions) -> Result<(), ServeError> {
    let store = &options.store.clone().giving_up_when(options.interrupt.shared_flag());
    worker::start_guarded(store);
    let stop = options.interrupt.flag();
    let Some(cache) = waiting_out_outages(stop, || Ok(store.open_cache()?))? else { return Ok(()) };
    let lanes = lanes(registry, &*cache, &options.types, options.jobs)?;
    let described: Vec<String> = lanes.iter().map(|l| format!("{} ({})", l.job_type, l.count)).collect();
    tracing::warn!("serving {} for builds on {}; stop with SIGTERM or Ctrl-C", described.join(", "), store.describe());
    let running = AtomicUsize::new(0);
    let results: Vec<Result<(), ServeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .iter()
            .flat_map(|lane| std::iter::repeat_n(lane, lane.count))
            .map(|lane| {
                let running = &running;
                scope.spawn(move || waiting_out_outages(stop, || serve_one(store, lane, stop, running)).map(drop))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Ok(()))).collect()
    });
    worker::kill_leftovers_at_exit();
    results.into_iter().collect()
}

/// The lanes for the job types to serve: as many workers per type as a
/// build on this machine would start ([`default_workers`]), at most `most`.
/// Each plugin is asked once, under its default settings, for the tool
/// identities its workers register; that converter then serves the first
/// of its workers, so its tools (a browser, a JVM) start once.
fn lanes<'r>(
    registry: &'r Registry,
    cache: &dyn Cache,
    only: &[String],
    most: Option<usize>,
) -> Result<Vec<Lane<'r>>, ServeError> {
    let known: Vec<String> = registry.job_types().map(|(_, d)| d.name.to_string()).collect();
    if let Some(missing) = only.iter().find(|t| !known.contains(t)) {
        return Err(ServeError::UnknownType(missing.clone(), known.join(", ")));
    }
    let mut spares: HashMap<String, Result<Spare, String>> = HashMap::new();
    let mut lanes = Vec::new();
    for (plugin, decl) in registry.job_types() {
        let job_type = decl.name.to_string();
        if !only.is_empty() && !only.contains(&job_type) {
            continue;
        }
        let library = crate::run::engine::library_hash(cache, &plugin.path)?;
        let made = spares.entry(plugin.name().to_owned()).or_insert_with(|| {
            plugin
                .new_converter(NO_SETTINGS)
                .map(|converter| Arc::new(Mutex::new(Some(converter))))
                .map_err(|e| format!("the {} plugin cannot start here: {e}", plugin.name()))
        });
        let identity = match made {
            Ok(spare) => match spare.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                Some(c) => c
                    .tool_identity(job_type.as_str().into())
                    .into_result()
                    .map(|s| s.to_string())
                    .map_err(|e| e.to_string()),
                None => Err(format!("the {} plugin's converter is already serving", plugin.name())),
            },
            Err(message) => Err(message.clone()),
        };
        if let Err(why) = &identity {
            tracing::warn!("{job_type}: no tool identity under default settings: {why}");
        }
        let capability = Capability {
            job_type: job_type.clone(),
            plugin: plugin.name().to_owned(),
            version: plugin.manifest.version.to_string(),
            library: library.clone(),
            identity: identity.clone(),
        };
        let count = default_workers(decl.role).min(most.unwrap_or(usize::MAX)).max(1);
        lanes.push(Lane {
            requirement: requirement(&job_type, &library),
            capabilities: serde_json::to_string(&[capability]).unwrap_or_default(),
            identity,
            job_type,
            plugin,
            count,
            spare: made.as_ref().map(Arc::clone).unwrap_or_default(),
        });
    }
    if lanes.is_empty() {
        return Err(ServeError::NothingToServe);
    }
    Ok(lanes)
}

/// One worker of a lane: its own connection, registration, heartbeat and
/// converters (one per plugin settings its jobs come with).
/// `running` counts the jobs of all of them: what decks left running is
/// killed once none runs, so no deck loses a process it still uses.
fn serve_one(
    store: &StoreLocation,
    lane: &Lane<'_>,
    stop: &AtomicBool,
    running: &AtomicUsize,
) -> Result<(), ServeError> {
    let queue = store.open_queue()?;
    let shared = queue.shared().ok_or_else(|| ServeError::NotShared(queue.describe()))?;
    shared.listen_for_jobs()?;
    let cache = store.open_cache()?;
    // The time-limit watch records a job that ran out of time while the
    // converter still holds this thread: a connection of its own.
    let watch = Mutex::new(store.open_queue()?);
    let worker = shared.register_server(
        std::slice::from_ref(&lane.job_type),
        std::slice::from_ref(&lane.requirement),
        &lane.capabilities,
        std::process::id(),
    )?;
    let slot = Arc::new(JobSlot::default());
    let progress = Arc::new(LatestProgress::default());
    worker::spawn_heartbeat(store, worker, Arc::clone(&slot), Some(Arc::clone(&progress)))?;
    let mut converters = Converters::warm(lane);
    let requirements = std::slice::from_ref(&lane.requirement);
    // The job claimed with the last outcome, or none (then claim anew).
    let mut next: Option<ClaimedJob> = None;
    while !stop.load(Ordering::Relaxed) {
        let claimed = match next.take() {
            Some(job) => Some(job),
            None => shared.claim_any(worker, requirements)?,
        };
        let Some(job) = claimed else {
            shared.wait_for_work(IDLE_WAIT)?;
            continue;
        };
        let Some(converter) = converters.ready_for(&*queue, shared, worker, lane.plugin, &job)? else { continue };
        let Ok(payload) = &job.payload else { continue };
        let claim = slot.start(job.id);
        let services = Services { claim, slot: &slot, channel: None, progress: Some(&progress) };
        running.fetch_add(1, Ordering::SeqCst);
        let limit = payload.time_limit_secs.map(Duration::from_secs);
        let timed_out = AtomicBool::new(false);
        let outcome = std::thread::scope(|scope| {
            let (finished, watched) = std::sync::mpsc::channel::<()>();
            if let Some(limit) = limit {
                let (slot, timed_out, watch) = (&*slot, &timed_out, &watch);
                scope.spawn(move || stop_at_limit(&watched, limit, (claim, worker), slot, timed_out, watch));
            }
            let outcome =
                worker::run_job(converter.plugin, &converter.converter, &*cache, payload, &job.cache_key, &services);
            drop(finished);
            outcome
        });
        if running.fetch_sub(1, Ordering::SeqCst) == 1 {
            worker::kill_leftovers();
        }
        slot.end();
        // Its last step, before the outcome: `clx jobs list` shows it.
        progress.write(&*queue)?;
        if timed_out.load(Ordering::Relaxed) {
            // Recorded as timed out at the limit; what the stopped converter
            // returned is not this job's result.
            continue;
        }
        if slot.is_stopped(claim) {
            // The queue said the job is no longer this worker's (cancelled,
            // or claimed again after its lease ran out): what the stopped
            // converter returned is nobody's result.
            worker::release(&*queue, worker, claim)?;
            continue;
        }
        // The outcome and the next claim share one statement; a worker
        // asked to stop records its outcome and claims nothing.
        let outcome = worker::outcome_of(&outcome);
        if stop.load(Ordering::Relaxed) {
            queue.finish(job.id, worker, outcome)?;
        } else {
            next = shared.hand_over_any(worker, job.id, outcome, requirements)?.next;
        }
    }
    if let Some(job) = next {
        // Claimed with the last outcome just before the stop: another
        // worker takes it, with the attempt this one never started.
        shared.refuse(job.id, worker)?;
    }
    queue.mark_worker_stopped(worker)?;
    Ok(())
}

/// How long a converter has to return once its job passed its time limit
/// and was cancelled, before the worker says it is stuck.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Watch a running job's time limit, as the build's own pool does for its
/// workers: at the limit the job is cancelled (the notebook plugin kills its
/// kernel) and failed as timed out, not retried, so the build hears of it at
/// once. `finished` closes when the converter returns.
fn stop_at_limit(
    finished: &std::sync::mpsc::Receiver<()>,
    limit: Duration,
    (claim, worker): (Claim, WorkerId),
    slot: &JobSlot,
    timed_out: &AtomicBool,
    watch: &std::sync::Mutex<Box<dyn Queue>>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    if finished.recv_timeout(limit) != Err(RecvTimeoutError::Timeout) {
        return;
    }
    let job = claim.job;
    let secs = limit.as_secs();
    tracing::warn!("job {} passed its {secs} s limit; stopping it", job.0);
    timed_out.store(true, Ordering::Relaxed);
    slot.stop(claim);
    let error = JobError::worker(format!("timed out after {secs} s (--job-timeout); not retried"));
    let queue = watch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(e) = queue.fail(job, worker, &error, None) {
        tracing::error!("job {}: cannot record its time-out: {e}", job.0);
    }
    drop(queue);
    if finished.recv_timeout(STOP_GRACE) == Err(RecvTimeoutError::Timeout) {
        tracing::error!(
            "job {}: its converter did not stop within {} s of the time limit; this worker stays busy until it does",
            job.0,
            STOP_GRACE.as_secs()
        );
    }
}

struct Ready<'a> {
    plugin: &'a str,
    converter: ConverterBox,
}

/// Converters by plugin and settings, made when a job first needs them, and
/// their tool identities by job type.
#[derive(Default)]
struct Converters<'a> {
    made: HashMap<(String, String), Result<Ready<'a>, String>>,
    identities: HashMap<(String, String, String), Result<String, IdentityError>>,
}

/// A converter of `plugin` under `config`, or why the plugin cannot start.
fn make<'a>(plugin: &'a LoadedPlugin, config: &str) -> Result<Ready<'a>, String> {
    plugin
        .new_converter(config)
        .map(|converter| Ready { plugin: plugin.name(), converter })
        .map_err(|e| format!("the {} plugin cannot start here: {e}", plugin.name()))
}

impl<'a> Converters<'a> {
    /// Converters for a lane, its default settings' one made now (or the
    /// one the lane's identity was asked of, while no worker took it): a daemon
    /// starts its tool (a browser, a JVM) before the first build asks, as a
    /// build's own workers start theirs while it hashes. The identity its
    /// lane registered is the one asked of it, so the converter is not asked
    /// again (a plugin may drop what it started for a converter asked that).
    fn warm(lane: &Lane<'a>) -> Converters<'a> {
        let mut converters = Converters::default();
        let (plugin, config) = (lane.plugin.name().to_owned(), NO_SETTINGS.to_owned());
        let spare = lane.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        let made = match spare {
            Some(converter) => Ok(Ready { plugin: lane.plugin.name(), converter }),
            None => make(lane.plugin, NO_SETTINGS),
        };
        converters.made.insert((plugin.clone(), config.clone()), made);
        let identity =
            lane.identity.clone().map_err(|message| IdentityError::Tool { job_type: lane.job_type.clone(), message });
        converters.identities.insert((plugin, config, lane.job_type.clone()), identity);
        converters
    }

    /// The converter for `job`, if this worker can run it as its key was
    /// computed; otherwise the job is failed (unreadable, plugin cannot
    /// start) or handed back (other tools here) and `None` returned.
    fn ready_for(
        &mut self,
        queue: &dyn Queue,
        shared: &dyn SharedQueue,
        worker: WorkerId,
        plugin: &'a LoadedPlugin,
        job: &ClaimedJob,
    ) -> Result<Option<&Ready<'a>>, ServeError> {
        let payload = match &job.payload {
            Ok(payload) => payload,
            Err(error) => {
                queue.fail(job.id, worker, error, None)?;
                return Ok(None);
            }
        };
        if payload.plugin != plugin.name() {
            shared.refuse(job.id, worker)?;
            return Ok(None);
        };
        let key = (payload.plugin.clone(), payload.plugin_config.clone());
        let made = self.made.entry(key.clone()).or_insert_with(|| make(plugin, &payload.plugin_config));
        let ready = match made {
            Ok(ready) => ready,
            Err(message) => {
                tracing::warn!("job {}: {message}; leaving it to another worker", job.id.0);
                shared.refuse(job.id, worker)?;
                return Ok(None);
            }
        };
        let identity = self.identities.entry((key.0, key.1, payload.job_type.clone())).or_insert_with(|| {
            ready
                .converter
                .tool_identity(payload.job_type.as_str().into())
                .into_result()
                .map(|s| s.to_string())
                .map_err(|e| IdentityError::Tool { job_type: payload.job_type.clone(), message: e.to_string() })
        });
        if identity.as_deref() != Ok(payload.tool_identity.as_str()) {
            tracing::warn!(
                "job {} ({}) was keyed for another {} tool than this machine's ({}); leaving it to another worker",
                job.id.0,
                payload.source_path,
                payload.job_type,
                match identity {
                    Ok(id) => id.clone(),
                    Err(e) => e.to_string(),
                }
            );
            shared.refuse(job.id, worker)?;
            return Ok(None);
        }
        Ok(Some(ready))
    }
}
