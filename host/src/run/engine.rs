//! Executes a [`Plan`]: cache lookups, queue submission, the worker pool, and
//! materialising every output from the cache into the output tree.
//!
//! A result reaches the output tree only from this build's own job or an exact
//! cache hit: a worker records what it produced on its job's row in the queue
//! (and stores it in the cache when it depends on nothing but the inputs),
//! and the engine lands that record, never whatever the cache happens to hold
//! under the key. A job that failed, timed out or was lost lands nothing, so
//! an older result can never pass for this build's.
//!
//! Plugins are asked for their tool identities in a probe process with a
//! time-out (a plugin that aborts or hangs while starting fails its jobs, not
//! the build), and the answers are remembered in the cache index, keyed by
//! the plugin library and its settings: an unchanged rebuild only hashes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::course::plan::{Plan, PlannedJob};
use crate::course::site::PageFrame;
use crate::plugin::Registry;
use crate::report::{Diagnostic, Level, Location, Report};
use crate::run::output::{OutputTree, Written};
use crate::run::pool::{Pool, PoolConfig, PoolEvent, WorkerSpec};
use crate::run::protocol::LogLevel;
use crate::run::remote::{Listener, Watch};
use crate::run::worker::ProbeAnswer;
use crate::store::cache::{BlobHash, CacheEntry, CacheKey, StoredIssue, StoredOutput};
use crate::store::job::{JobPayload, OutputSpec, SiblingRef};
use crate::store::queue::{JobId, JobStatus, NewJob, SessionId, SessionStatus};
use crate::store::{Cache, Queue, StoreLocation};

/// How one build runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The `clx` executable workers are started from.
    pub exe: PathBuf,
    /// Where the queue and the cache are.
    pub store: StoreLocation,
    /// `--local-workers`: at most this many workers per job type here
    /// (0: only remote workers run jobs).
    pub local_workers: Option<usize>,
    /// Parent of the workers' scratch folders.
    pub scratch: PathBuf,
    /// Label of the session in the queue (the spec path).
    pub label: String,
    pub no_cache: bool,
    /// `--workers TYPE=N`, over `clx.toml`'s `[workers]`.
    pub workers: BTreeMap<String, usize>,
    pub job_deadline: Duration,
    pub log_level: String,
    /// Skip the sweep of stale outputs.
    pub keep_stale: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Queue(#[from] crate::store::queue::QueueError),
    #[error(transparent)]
    Cache(#[from] crate::store::cache::CacheError),
    #[error(transparent)]
    Pool(#[from] crate::run::pool::PoolError),
    #[error(transparent)]
    Output(#[from] crate::run::output::OutputError),
    #[error("the build was interrupted")]
    Interrupted,
    #[error("cannot install the Ctrl-C handler: {0}")]
    Signal(std::io::Error),
    /// A plugin refused its `[converters.<plugin>]` settings: the build
    /// stops before any job runs or anything is removed.
    #[error(transparent)]
    Config(crate::config::ConfigError),
}

/// A job on its way: its plan and what the cache knows it by.
struct Pending<'p> {
    job: &'p PlannedJob,
    key: CacheKey,
    payload: String,
}

/// Runs plans. One engine serves one `clx build`, or every rebuild of a
/// `--watch` session: the queue session and the workers then stay up between
/// rebuilds, so a change is converted by a warm worker.
pub struct Engine<'r> {
    registry: &'r Registry,
    config: &'r Config,
    options: EngineOptions,
    cache: Cache,
    /// Tool identity per job type; asked once per engine.
    identities: HashMap<String, Result<String, String>>,
    /// Content hash of each plugin's library, by plugin name.
    libraries: HashMap<String, Result<String, String>>,
    /// Opened when the first job has to run.
    running: Option<(Queue, SessionId, Pool)>,
    /// With a shared queue: hears of jobs other machines' workers finished.
    listener: Option<Listener>,
    watch: Watch,
    /// Set by Ctrl-C or SIGTERM from the engine's start on, so an interrupt
    /// while plugins are probed (before any worker runs) still ends the
    /// build cleanly, its probes killed.
    interrupted: Arc<AtomicBool>,
}

impl<'r> Engine<'r> {
    pub fn new(registry: &'r Registry, config: &'r Config, options: EngineOptions) -> Result<Self, EngineError> {
        let cache = Cache::open(&options.store)?;
        let interrupted = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&interrupted)).map_err(EngineError::Signal)?;
        }
        Ok(Engine {
            registry,
            config,
            options,
            cache,
            identities: HashMap::new(),
            libraries: HashMap::new(),
            running: None,
            listener: None,
            watch: Watch::default(),
            interrupted,
        })
    }

    /// Run one plan. Diagnostics and counts go into `report`; the returned
    /// error is only for failures of clx itself (queue, cache, disk) and
    /// for an interruption.
    pub fn build(&mut self, plan: &Plan, report: &mut Report) -> Result<(), EngineError> {
        warn_recovered(report, self.cache.take_recovered());
        for d in &plan.diagnostics {
            report.diagnostic(d.clone());
        }
        let head_start = self.ask_tool_identities(plan, report)?;
        if self.interrupted.swap(false, Ordering::Relaxed) {
            return Err(EngineError::Interrupted);
        }
        for job in &plan.jobs {
            if let Some(Err(message)) = self.identities.get(&job.job_type) {
                if let Some(e) = self.config.converter_error(&job.plugin, message) {
                    return Err(EngineError::Config(e));
                }
            }
        }
        let mut misses: Vec<Pending<'_>> = Vec::new();
        let mut hits: Vec<(&PlannedJob, CacheEntry)> = Vec::new();
        let mut unready: Vec<(&PlannedJob, String)> = Vec::new();
        for job in &plan.jobs {
            let identity =
                self.identities.get(&job.job_type).cloned().unwrap_or_else(|| {
                    Err(format!("{}: the {} plugin named no tool identity", job.job_type, job.plugin))
                });
            let library = self
                .libraries
                .get(&job.plugin)
                .cloned()
                .unwrap_or_else(|| Err(format!("plugin `{}` is not loaded; see `clx plugins list`", job.plugin)));
            let config = self.config.converter_json(&job.plugin);
            let payload =
                identity.and_then(|identity| payload(&self.cache, self.registry, job, identity, library?, config));
            let payload = match payload {
                Ok(p) => p,
                Err(message) => {
                    unready.push((job, message));
                    continue;
                }
            };
            let key = payload.cache_key();
            if !self.options.no_cache {
                if let Some(entry) = self.cache.get(&key)? {
                    hits.push((job, entry));
                    continue;
                }
            }
            match serde_json::to_string(&payload) {
                Ok(payload) => misses.push(Pending { job, key, payload }),
                Err(e) => unready.push((job, format!("cannot encode the job: {e}"))),
            }
        }
        // Misses go to the queue first, so workers start while the host lands
        // the rest.
        let missed: BTreeSet<&str> = misses.iter().map(|m| m.job.job_type.as_str()).collect();
        let mut in_flight = if misses.is_empty() { None } else { Some(self.submit(misses, report)?) };
        // Workers started ahead for job types that turned out to need no run
        // (every result cached, or the plugin cannot start) go now rather than
        // at the end, where a browser still starting would delay the exit.
        if let Some((_, _, pool)) = self.running.as_mut() {
            for (plugin, job_type) in &head_start {
                if !missed.contains(job_type.as_str()) {
                    pool.stop(plugin, std::slice::from_ref(job_type));
                }
            }
        }
        let mut landing =
            Landing { cache: &self.cache, tree: OutputTree::new(plan.roots.clone()), frames: &plan.frames, report };
        // Copies first: they need no worker, and a failed job must not keep
        // data files from being written.
        for copy in &plan.copies {
            landing.copy(&copy.from, &copy.to);
        }
        for (job, message) in unready {
            landing.fail(job, Location::NONE, message);
        }
        for (job, entry) in &hits {
            landing.land(job, entry, Source::Cache)?;
        }
        if let (Some(in_flight), Some((queue, session, pool))) = (in_flight.as_mut(), self.running.as_mut()) {
            in_flight.wait(pool, queue, *session, &mut self.watch, &mut landing)?;
        }
        // Generated pages last: they link only what this build produced.
        for page in &plan.pages {
            let bytes = page.bytes(|path| landing.tree.produced(path));
            landing.write_generated(&page.to, &bytes);
        }
        if !self.options.keep_stale && !plan.has_input_errors() {
            landing.report.removed += landing.tree.sweep()?.len();
        }
        Ok(())
    }

    /// Find every plan plugin's tool identities: remembered ones from the
    /// cache index, the rest from probe processes run side by side (each may
    /// start its tool, and `java -version` takes a third of a second).
    ///
    /// A plugin that has to be probed has most likely never run with this
    /// state dir, so its jobs will run: its workers are started before the
    /// probes, and a slow start (Chromium's two seconds) overlaps the probes,
    /// the hashing and the other plugins' work instead of following them.
    /// Returns the (plugin, job type) pairs started that way.
    fn ask_tool_identities(&mut self, plan: &Plan, report: &mut Report) -> Result<Vec<(String, String)>, EngineError> {
        let mut wanted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for job in &plan.jobs {
            if !self.identities.contains_key(&job.job_type) {
                let types = wanted.entry(job.plugin.as_str()).or_default();
                if !types.contains(&job.job_type) {
                    types.push(job.job_type.clone());
                }
            }
        }
        let mut probes: Vec<Probe> = Vec::new();
        // Stats every PATH and tools directory: once per build, not per plugin.
        let environment = if wanted.is_empty() { String::new() } else { environment_fingerprint() };
        for (plugin, job_types) in wanted {
            let Some(loaded) = self.registry.plugin(plugin) else {
                let message = format!("plugin `{plugin}` is not loaded; see `clx plugins list`");
                for t in job_types {
                    self.identities.insert(t, Err(message.clone()));
                }
                continue;
            };
            let library = library_hash(&self.cache, &loaded.path);
            self.libraries.insert(plugin.to_owned(), library.clone());
            let library = match library {
                Ok(l) => l,
                Err(message) => {
                    for t in job_types {
                        self.identities.insert(t, Err(message.clone()));
                    }
                    continue;
                }
            };
            let probe = Probe {
                plugin: plugin.to_owned(),
                path: loaded.path.clone(),
                config: self.config.converter_json(plugin),
                job_types,
                memo_key: String::new(),
            };
            let probe = Probe { memo_key: probe.memo_key(&library, &environment), ..probe };
            let remembered = self
                .cache
                .memo(&probe.memo_key)
                .ok()
                .flatten()
                .and_then(|json| serde_json::from_str::<BTreeMap<String, String>>(&json).ok());
            match remembered {
                Some(ids) if probe.job_types.iter().all(|t| ids.contains_key(t)) => {
                    self.identities.extend(ids.into_iter().map(|(t, id)| (t, Ok(id))));
                }
                _ => probes.push(probe),
            }
        }
        if probes.is_empty() {
            return Ok(Vec::new());
        }
        let mut head_start = Vec::new();
        let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
        for job in plan.jobs.iter().filter(|j| probes.iter().any(|p| p.job_types.contains(&j.job_type))) {
            *per_type.entry(job.job_type.as_str()).or_default() += 1;
        }
        if !per_type.is_empty() {
            let specs = worker_specs(&per_type, self.registry, self.config, &self.options);
            let (_, _, pool) = self.start_running(report)?;
            for spec in specs {
                head_start.extend(spec.job_types.iter().map(|t| (spec.plugin.clone(), t.clone())));
                pool.ensure(spec)?;
            }
        }
        let timeout = self.options.job_deadline.min(PROBE_TIMEOUT);
        let (exe, log_level) = (&self.options.exe, self.options.log_level.as_str());
        let interrupted = &*self.interrupted;
        let answers: Vec<(&Probe, Result<Identities, String>)> = std::thread::scope(|scope| {
            let handles: Vec<_> =
                probes.iter().map(|p| (p, scope.spawn(move || p.run(exe, log_level, timeout, interrupted)))).collect();
            handles
                .into_iter()
                .map(|(p, h)| {
                    let answer =
                        h.join().unwrap_or_else(|_| Err(format!("the probe of the {} plugin failed", p.plugin)));
                    (p, answer)
                })
                .collect()
        });
        if interrupted.load(Ordering::Relaxed) {
            // Answers cut short are no answers: the next build asks again.
            return Ok(head_start);
        }
        for (probe, answer) in answers {
            match answer {
                Ok(ids) => {
                    // Only a complete answer is remembered: a missing tool
                    // is looked for again next build.
                    let all: Option<BTreeMap<&String, &String>> =
                        ids.iter().map(|(t, id)| id.as_ref().ok().map(|id| (t, id))).collect();
                    if let Some(all) = all {
                        if let Ok(json) = serde_json::to_string(&all) {
                            let _ = self.cache.put_memo(&probe.memo_key, &json);
                        }
                    }
                    for t in &probe.job_types {
                        let id = ids.get(t).cloned().unwrap_or_else(|| {
                            Err(format!("the {} plugin named no tool identity for `{t}`", probe.plugin))
                        });
                        self.identities.insert(t.clone(), id.map_err(|e| format!("{t}: {e}")));
                    }
                }
                Err(message) => {
                    for t in &probe.job_types {
                        self.identities.insert(t.clone(), Err(message.clone()));
                    }
                }
            }
        }
        Ok(head_start)
    }

    /// Whether Ctrl-C or SIGTERM arrived since the last check.
    pub fn interrupted(&self) -> bool {
        self.interrupted.swap(false, Ordering::Relaxed)
    }

    /// Stop the workers and close the queue session.
    pub fn finish(self, status: SessionStatus) -> Result<(), EngineError> {
        drop(self.listener);
        if let Some((queue, session, pool)) = self.running {
            pool.shutdown();
            queue.finish_session(session, status)?;
        }
        Ok(())
    }

    /// The queue session and the worker pool, opened on first use.
    fn start_running(&mut self, report: &mut Report) -> Result<&mut (Queue, SessionId, Pool), EngineError> {
        let running = match self.running.take() {
            Some(running) => running,
            None => {
                let mut queue = Queue::open(&self.options.store)?;
                warn_recovered(report, queue.take_recovered());
                let reaped = queue.reap_stale()?;
                if reaped > 0 {
                    report.note(&format!(
                        "cleaned up {reaped} build(s) whose clx process had died; their unfinished jobs were cancelled"
                    ));
                }
                let session = queue.start_session(&self.options.label)?;
                let pool = Pool::new(PoolConfig {
                    exe: self.options.exe.clone(),
                    store: self.options.store.clone(),
                    scratch: self.options.scratch.clone(),
                    session,
                    job_deadline: self.options.job_deadline,
                    log_level: self.options.log_level.clone(),
                    interrupted: Arc::clone(&self.interrupted),
                })?;
                if let Some(url) = self.options.store.postgres() {
                    self.listener = Some(Listener::start(url, session, pool.announcer())?);
                }
                (queue, session, pool)
            }
        };
        Ok(self.running.insert(running))
    }

    /// Put the misses in the queue and make sure workers for their job
    /// types run. The queue session and the pool start with the first miss
    /// unless a head start opened them.
    fn submit<'p>(&mut self, misses: Vec<Pending<'p>>, report: &mut Report) -> Result<InFlight<'p>, EngineError> {
        self.start_running(report)?;
        let mut in_flight = InFlight::default();
        let Some((queue, session, pool)) = self.running.as_mut() else { return Ok(in_flight) };
        let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
        let new_jobs: Vec<NewJob<'_>> = misses
            .iter()
            .map(|p| NewJob {
                job_type: &p.job.job_type,
                source: &p.job.display,
                priority: p.job.priority,
                payload: &p.payload,
                cache_key: &p.key,
            })
            .collect();
        let ids = queue.submit_many(*session, &new_jobs)?;
        for (id, pending) in ids.into_iter().zip(misses) {
            *per_type.entry(pending.job.job_type.as_str()).or_default() += 1;
            in_flight.jobs.insert(id, pending);
        }
        report.start_jobs(in_flight.jobs.len());
        for spec in worker_specs(&per_type, self.registry, self.config, &self.options) {
            pool.ensure(spec)?;
        }
        Ok(in_flight)
    }
}

/// Jobs in the queue whose results have not landed yet.
#[derive(Default)]
struct InFlight<'p> {
    jobs: HashMap<JobId, Pending<'p>>,
}

impl InFlight<'_> {
    /// Land each job as the pool reports it finished, until none is left.
    fn wait(
        &mut self,
        pool: &mut Pool,
        queue: &Queue,
        session: SessionId,
        watch: &mut Watch,
        landing: &mut Landing<'_>,
    ) -> Result<(), EngineError> {
        while !self.jobs.is_empty() {
            let Some(event) = pool.next(Duration::from_secs(1))? else {
                if let Some(shared) = queue.postgres() {
                    let ids: Vec<JobId> = self.jobs.keys().copied().collect();
                    let findings = watch.check(shared, session, &ids)?;
                    for note in findings.notes {
                        landing.report.note(&note);
                    }
                    for id in findings.settled {
                        self.settle(id, queue, landing)?;
                    }
                    continue;
                }
                // No news: a job may have been cancelled from outside (`clx jobs cancel`).
                let ids: Vec<JobId> = self.jobs.keys().copied().collect();
                for id in ids {
                    if queue.job(id)?.status == JobStatus::Cancelled {
                        self.settle(id, queue, landing)?;
                    }
                }
                continue;
            };
            match event {
                PoolEvent::Finished(id) => self.settle(id, queue, landing)?,
                PoolEvent::Lost { job, requeued, reason } => {
                    if let Some(p) = self.jobs.get(&job) {
                        let retry = if requeued { "; retrying" } else { "" };
                        landing.report.note(&format!("{}: {reason}{retry}", p.job.display));
                    }
                    if !requeued {
                        self.settle(job, queue, landing)?;
                    }
                }
                PoolEvent::CannotStart { failed, .. } => {
                    for id in failed {
                        self.settle(id, queue, landing)?;
                    }
                }
                PoolEvent::Log { job, level, message } => {
                    if let Some(p) = self.jobs.get(&job) {
                        landing.plugin_log(p.job, level, &message);
                    }
                }
                PoolEvent::Progress { job, message } => {
                    if let Some(p) = self.jobs.get(&job) {
                        landing.report.progress(&p.job.progress_name(), &message);
                    }
                }
                PoolEvent::Interrupted => return Err(EngineError::Interrupted),
            }
        }
        Ok(())
    }

    /// A job reached a terminal state: land its result from the cache, or
    /// report why there is none. A job that is not in flight is ignored.
    fn settle(&mut self, id: JobId, queue: &Queue, landing: &mut Landing<'_>) -> Result<(), EngineError> {
        let Some(pending) = self.jobs.remove(&id) else { return Ok(()) };
        let record = queue.job(id)?;
        landing.report.job_finished(&pending.job.progress_name());
        // Only what this job's own worker recorded in this run lands; the
        // cache is not consulted, so a failed job never passes off an older
        // result stored under the same key as this build's.
        let entry = match (record.status, record.result.as_deref()) {
            (JobStatus::Done | JobStatus::Failed, Some(json)) => serde_json::from_str::<CacheEntry>(json).ok(),
            _ => None,
        };
        match entry {
            Some(entry) => landing.land(pending.job, &entry, Source::Built)?,
            None => {
                let (message, location) = match record.error {
                    Some(e) => (e.message, e.location.unwrap_or_default()),
                    None => (format!("job ended as {} without a result", record.status.as_str()), Location::NONE),
                };
                // Its outputs are not produced this time: old ones are swept,
                // never left looking current.
                landing.fail(pending.job, location, message);
            }
        }
        Ok(())
    }
}

/// Where a landed result came from, for the summary's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Cache,
    Built,
}

/// The one path by which results reach the output tree: copies, cache
/// entries (hits and fresh results alike) and failures, each counted and
/// reported.
struct Landing<'a> {
    cache: &'a Cache,
    tree: OutputTree,
    /// Deck pages are written in their frame (navigation, stylesheet).
    frames: &'a BTreeMap<PathBuf, PageFrame>,
    report: &'a mut Report,
}

impl Landing<'_> {
    /// Copy a file the host writes itself (data files, dir groups).
    fn copy(&mut self, from: &Path, to: &Path) {
        match self.tree.copy(from, to) {
            Ok(w) => self.count_write(w),
            Err(e) => self.report.diagnostic(Diagnostic::error(display(from), Location::NONE, e.to_string())),
        }
    }

    /// Write a file the plan generated itself (a course home page).
    fn write_generated(&mut self, to: &Path, bytes: &[u8]) {
        match self.tree.write(to, bytes) {
            Ok(w) => self.count_write(w),
            Err(e) => self.report.diagnostic(Diagnostic::error(display(to), Location::NONE, e.to_string())),
        }
    }

    /// Write every output of a cache entry to its destinations and replay
    /// the job's issues; the job counts as failed unless every output was
    /// produced and written.
    fn land(&mut self, job: &PlannedJob, entry: &CacheEntry, source: Source) -> Result<(), EngineError> {
        let mut had_error = false;
        for issue in &entry.issues {
            let d = diagnostic_of(job, issue);
            had_error |= d.level == Level::Error;
            self.report.diagnostic(d);
        }
        // An error fails the job even when every output was produced.
        let mut failed = had_error;
        for out in &job.outputs {
            match entry.output(&out.id) {
                Some(StoredOutput::Blob(hash)) => {
                    let bytes = self.cache.get_blob(hash)?;
                    // One output that cannot be written fails its job, not the
                    // build: every other output is still written.
                    for dest in &out.destinations {
                        let framed = self.frames.get(dest).map(|frame| frame.apply(&bytes));
                        match self.tree.write(dest, framed.as_deref().unwrap_or(&bytes)) {
                            Ok(w) => self.count_write(w),
                            Err(e) => {
                                failed = true;
                                self.report.diagnostic(Diagnostic::error(&job.display, Location::NONE, e.to_string()));
                            }
                        }
                    }
                }
                Some(StoredOutput::Error(message)) => {
                    failed = true;
                    if !had_error {
                        let message = format!("{}: {message}", out.id);
                        self.report.diagnostic(Diagnostic::error(&job.display, Location::NONE, message));
                    }
                }
                None => {
                    failed = true;
                    let message = format!("no `{}` output in the cache", out.id);
                    self.report.diagnostic(Diagnostic::error(&job.display, Location::NONE, message));
                }
            }
        }
        match (failed, source) {
            (true, _) => self.report.failed += 1,
            (false, Source::Cache) => self.report.cached += 1,
            (false, Source::Built) => self.report.built += 1,
        }
        Ok(())
    }

    /// A plugin's log line: warnings and errors are shown like any other
    /// diagnostic of the job (they do not fail it: the plugin says that with
    /// an error issue); the rest follows `--log-level`.
    fn plugin_log(&mut self, job: &PlannedJob, level: LogLevel, message: &str) {
        let text = format!("{}: {message}", job.plugin);
        match level {
            LogLevel::Warn | LogLevel::Error => {
                self.report.diagnostic(Diagnostic::warning(&job.display, Location::NONE, text))
            }
            LogLevel::Info => tracing::info!("{}: {text}", job.display),
            LogLevel::Debug => tracing::debug!("{}: {text}", job.display),
            LogLevel::Trace => tracing::trace!("{}: {text}", job.display),
        }
    }

    /// A job produced nothing this build.
    fn fail(&mut self, job: &PlannedJob, location: Location, message: String) {
        self.report.failed += 1;
        self.report.diagnostic(Diagnostic::error(&job.display, location, message));
    }

    fn count_write(&mut self, w: Written) {
        match w {
            Written::Written => self.report.written += 1,
            Written::Unchanged => self.report.unchanged += 1,
        }
    }
}

fn diagnostic_of(job: &PlannedJob, issue: &StoredIssue) -> Diagnostic {
    let file = issue.file.clone().unwrap_or_else(|| job.display.clone());
    let location = Location::cell(issue.cell, issue.line);
    Diagnostic { level: issue.severity, file, location, message: issue.message.clone() }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// A damaged state file was replaced by an empty one: say why work is redone.
fn warn_recovered(report: &mut Report, recovered: Option<crate::store::db::Recovered>) {
    if let Some(recovered) = recovered {
        report.diagnostic(Diagnostic::warning("", Location::NONE, recovered.to_string()));
    }
}

/// How long a plugin may take to start and name its tools (capped further
/// by `--job-timeout`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// A plugin's answer: the tool identity, or why there is none, per job type.
type Identities = BTreeMap<String, Result<String, String>>;

/// One plugin to ask for its tool identities.
struct Probe {
    plugin: String,
    path: PathBuf,
    config: String,
    job_types: Vec<String>,
    /// Where the answer is remembered in the cache index.
    memo_key: String,
}

impl Probe {
    /// The answer holds while the plugin library, its settings, the job types
    /// asked, the environment and the places tools live in stay the same.
    /// The host cannot know which files a plugin's tool consists of, so it
    /// fingerprints where tools get installed: every `PATH` directory, the
    /// tools dir and Jupyter's kernel dirs (installing or upgrading a package
    /// renames files there, which changes the directory's mtime), and the
    /// site-packages of Python environments in the tools dir. A tool changed
    /// elsewhere deeper down is noticed after `clx cache clear`.
    fn memo_key(&self, library: &str, environment: &str) -> String {
        let mut h = blake3::Hasher::new();
        for part in [
            "tool-identity",
            env!("CARGO_PKG_VERSION"),
            &self.path.to_string_lossy(),
            library,
            &self.config,
            &self.job_types.join("\n"),
            environment,
        ] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        format!("identity:{}", h.finalize().to_hex())
    }

    /// Run `clx worker --probe` in a process group of its own and wait up to
    /// `timeout`: a plugin that aborts or hangs in `new()` or
    /// `tool_identity()` costs its own jobs, never the build.
    fn run(&self, exe: &Path, log_level: &str, timeout: Duration, stop: &AtomicBool) -> Result<Identities, String> {
        use std::io::Read;
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        let plugin = &self.plugin;
        let mut cmd = Command::new(exe);
        cmd.arg("--log-level").arg(log_level).arg("worker").arg("--probe").arg("--plugin").arg(&self.path);
        for t in &self.job_types {
            cmd.arg("--job-type").arg(t);
        }
        cmd.env("CLX_PLUGIN_CONFIG", &self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start the {plugin} plugin's probe: {e}"))?;
        let read = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_string(&mut text);
                }
                text
            })
        };
        let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let deadline = std::time::Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if stop.load(Ordering::Relaxed) => {
                    crate::process::kill_group(child.id());
                    let _ = child.wait();
                    return Err(format!("the {plugin} plugin's probe was interrupted"));
                }
                Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                Ok(None) | Err(_) => {
                    crate::process::kill_group(child.id());
                    let _ = child.wait();
                    return Err(format!(
                        "the {plugin} plugin did not start within {} s: its new() or tool_identity() hangs ({})",
                        timeout.as_secs(),
                        self.path.display()
                    ));
                }
            }
        };
        // Whatever the plugin started in the probe's group goes with it.
        crate::process::kill_group(child.id());
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        if !status.success() {
            let how = crate::run::pool::describe_exit(&status).unwrap_or_else(|| "ended".to_owned());
            let detail = stderr.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim()));
            return Err(format!(
                "the {plugin} plugin crashed while starting ({how}){} ({})",
                detail.unwrap_or_default(),
                self.path.display()
            ));
        }
        let answer = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        match serde_json::from_str::<ProbeAnswer>(answer) {
            Ok(ProbeAnswer::Identities(ids)) => Ok(ids),
            Ok(ProbeAnswer::CannotStart(message)) => Err(message),
            Err(e) => Err(format!("the {plugin} plugin's probe gave no answer ({e})")),
        }
    }
}

/// Environment variables that change with every shell or terminal and that
/// no tool takes its version from.
const VOLATILE_VARS: &[&str] = &[
    "_",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "COLUMNS",
    "LINES",
    "WINDOWID",
    "TERM_SESSION_ID",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_AUTH_SOCK",
    "GPG_TTY",
    "TMUX",
    "TMUX_PANE",
    "STY",
    "XDG_SESSION_ID",
    "XDG_VTNR",
    "CLX_LOG",
];

/// What a tool's identity can depend on outside the plugin: the environment
/// and the modification times of the directories tools are installed into.
fn environment_fingerprint() -> String {
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| !VOLATILE_VARS.contains(&k.as_str()))
        .collect();
    vars.sort();
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(tools) = clx_plugin_api::tools_dir() {
        if let Ok(entries) = std::fs::read_dir(&tools) {
            for entry in entries.flatten() {
                // A Python environment in the tools dir (the kernels' venv):
                // installing or upgrading a package there changes its
                // site-packages directory, and kernels' identities with it.
                for lib in ["lib", "lib64"] {
                    if let Ok(pythons) = std::fs::read_dir(entry.path().join(lib)) {
                        dirs.extend(pythons.flatten().map(|p| p.path().join("site-packages")));
                    }
                }
                dirs.push(entry.path());
            }
        }
        dirs.push(tools);
    }
    if let Some(data) = crate::config::data_home() {
        dirs.push(data.join("jupyter/kernels"));
    }
    for jupyter in
        std::env::var_os("JUPYTER_PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default()
    {
        dirs.push(jupyter.join("kernels"));
    }
    dirs.push(PathBuf::from("/usr/local/share/jupyter/kernels"));
    dirs.push(PathBuf::from("/usr/share/jupyter/kernels"));
    let mut out = String::new();
    for (k, v) in vars {
        out.push_str(&format!("{k}={v}\n"));
    }
    for dir in dirs {
        let stamp = std::fs::metadata(&dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos());
        out.push_str(&format!("{}:{stamp:?}\n", dir.display()));
    }
    out
}

/// The BLAKE3 hash of a plugin library, remembered in the cache index by the
/// file's path, size, inode and times, so an unchanged rebuild does not read
/// libraries of tens of megabytes.
pub(crate) fn library_hash(cache: &Cache, path: &Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read plugin {}: {e}", path.display()))?;
    let key = format!(
        "library:{}:{}:{}:{}.{}:{}.{}",
        path.display(),
        meta.len(),
        meta.ino(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    if let Ok(Some(hash)) = cache.memo(&key) {
        return Ok(hash);
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read plugin {}: {e}", path.display()))?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let _ = cache.put_memo(&key, &hash);
    Ok(hash)
}

/// Read the job's inputs, store them as blobs (workers read them from the
/// cache) and describe the job.
fn payload(
    cache: &Cache,
    registry: &Registry,
    job: &PlannedJob,
    tool_identity: String,
    plugin_library: String,
    plugin_config: String,
) -> Result<JobPayload, String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    let store = |bytes: &[u8]| cache.put_blob(bytes).map_err(|e| e.to_string());
    let source: BlobHash = store(&read(&job.source)?)?;
    let mut siblings = Vec::new();
    for (rel, path) in &job.siblings {
        siblings.push(SiblingRef { path: rel.clone(), blob: store(&read(path)?)? });
    }
    let plugin_version = registry.plugin(&job.plugin).map(|p| p.manifest.version.to_string()).unwrap_or_default();
    Ok(JobPayload {
        plugin: job.plugin.clone(),
        plugin_version,
        plugin_library,
        plugin_config,
        job_type: job.job_type.clone(),
        source_path: job.display.clone(),
        source,
        siblings,
        outputs: job
            .outputs
            .iter()
            .map(|o| OutputSpec { id: o.id.clone(), format: o.format.clone(), params: o.params.clone() })
            .collect(),
        options: job.options.clone(),
        tool_identity,
    })
}

/// Workers per job type: `--workers`/`clx.toml` when set, else one per core
/// for slides and one for diagrams, never more than there are jobs. With
/// kernels forked in milliseconds a deck keeps its core busy: on one core
/// a second worker no longer helps (7.6 s against 7.5 s for the bench
/// course under `taskset -c 0`) and only adds a worker and its kernels; on
/// two cores two workers beat one and four (4.1 s against 6.7 and 4.1 s).
/// One per core beyond that follows from those points, not from a measurement.
fn worker_specs(
    per_type: &BTreeMap<&str, usize>,
    registry: &Registry,
    config: &Config,
    options: &EngineOptions,
) -> Vec<WorkerSpec> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut specs = Vec::new();
    for (&job_type, &jobs) in per_type {
        let Some((plugin, decl)) = registry.job_type(job_type) else { continue };
        let default = match decl.role {
            clx_plugin_api::Role::Slides => cores,
            _ => 1,
        };
        let wanted = options.workers.get(job_type).or_else(|| config.workers.get(job_type)).copied().unwrap_or(default);
        // `--local-workers`: 0 leaves every job to other machines' workers.
        let wanted = match options.local_workers {
            Some(0) => continue,
            Some(most) => wanted.min(most),
            None => wanted,
        };
        specs.push(WorkerSpec {
            plugin: plugin.name().to_owned(),
            plugin_path: plugin.path.clone(),
            job_types: vec![job_type.to_owned()],
            count: wanted.clamp(1, jobs.max(1)),
            plugin_config: config.converter_json(plugin.name()),
        });
    }
    specs
}
