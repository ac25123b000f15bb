//! Executes a [`Plan`]: cache lookups, queue submission, the worker pool, and
//! materialising every output from the cache into the output tree.
//!
//! A cache hit and a fresh result take the same path: the worker stores its
//! result in the cache and the engine reads it back from there, so what lands
//! in the output tree is always what the cache holds. An unchanged rebuild
//! finds every job in the cache and starts no worker at all.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::course::plan::{Plan, PlannedJob};
use crate::plugin::Registry;
use crate::report::{Diagnostic, Level, Location, Report};
use crate::run::output::{OutputTree, Written};
use crate::run::pool::{Pool, PoolConfig, PoolEvent, WorkerSpec};
use crate::store::cache::{BlobHash, Cache, CacheEntry, CacheKey, StoredIssue, StoredOutput};
use crate::store::job::{JobPayload, OutputSpec, SiblingRef};
use crate::store::queue::{JobId, JobStatus, Queue, SessionId, SessionStatus};

/// How one build runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The `clx` executable workers are started from.
    pub exe: PathBuf,
    pub queue: PathBuf,
    pub cache: PathBuf,
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
    /// Opened when the first job has to run.
    running: Option<(Queue, SessionId, Pool)>,
}

impl<'r> Engine<'r> {
    pub fn new(registry: &'r Registry, config: &'r Config, options: EngineOptions) -> Result<Self, EngineError> {
        let cache = Cache::open(&options.cache)?;
        Ok(Engine { registry, config, options, cache, identities: HashMap::new(), running: None })
    }

    /// Run one plan. Diagnostics and counts go into `report`; the returned
    /// error is only for failures of clx itself (queue, cache, disk) and
    /// for an interruption.
    pub fn build(&mut self, plan: &Plan, report: &mut Report) -> Result<(), EngineError> {
        warn_recovered(report, self.cache.recovered.take());
        for d in &plan.diagnostics {
            report.diagnostic(d.clone());
        }
        self.ask_tool_identities(plan);
        let mut misses: Vec<Pending<'_>> = Vec::new();
        let mut hits: Vec<(&PlannedJob, CacheEntry)> = Vec::new();
        let mut unready: Vec<(&PlannedJob, String)> = Vec::new();
        for job in &plan.jobs {
            let (registry, config) = (self.registry, self.config);
            let identity = self
                .identities
                .entry(job.job_type.clone())
                .or_insert_with(|| tool_identity(registry, config, &job.plugin, &job.job_type))
                .clone();
            let payload = identity.and_then(|identity| payload(&self.cache, self.registry, job, identity));
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
        let mut in_flight = if misses.is_empty() { None } else { Some(self.submit(misses, report)?) };
        let mut landing = Landing { cache: &self.cache, tree: OutputTree::new(plan.roots.clone()), report };
        // Copies first: they need no worker, and a failed job must not keep
        // data files from being written.
        for copy in &plan.copies {
            landing.copy(&copy.from, &copy.to);
        }
        for page in &plan.pages {
            landing.write_generated(&page.to, &page.bytes);
        }
        for (job, message) in unready {
            landing.fail(job, Location::NONE, message);
        }
        for (job, entry) in &hits {
            landing.land(job, entry, Source::Cache)?;
        }
        if let (Some(in_flight), Some((queue, _, pool))) = (in_flight.as_mut(), self.running.as_mut()) {
            in_flight.wait(pool, queue, &mut landing)?;
        }
        if !self.options.keep_stale {
            landing.report.removed += landing.tree.sweep()?.len();
        }
        Ok(())
    }

    /// Ask every plugin of the plan for its tool's identity at once: each
    /// may start its tool (`java -version` takes a third of a second), and
    /// an unchanged rebuild should not pay for them one after the other.
    fn ask_tool_identities(&mut self, plan: &Plan) {
        let mut wanted: Vec<(&str, &str)> = Vec::new();
        for job in &plan.jobs {
            if !self.identities.contains_key(&job.job_type) && !wanted.iter().any(|(_, t)| *t == job.job_type) {
                wanted.push((job.plugin.as_str(), job.job_type.as_str()));
            }
        }
        let (registry, config) = (self.registry, self.config);
        let answers: Vec<(String, Result<String, String>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = wanted
                .iter()
                .map(|&(plugin, job_type)| {
                    (job_type, scope.spawn(move || tool_identity(registry, config, plugin, job_type)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(job_type, h)| {
                    let answer = h.join().unwrap_or_else(|_| Err(format!("{job_type}: the plugin panicked")));
                    (job_type.to_owned(), answer)
                })
                .collect()
        });
        self.identities.extend(answers);
    }

    /// Whether Ctrl-C or SIGTERM arrived (only known once workers ran).
    pub fn interrupted(&self) -> bool {
        self.running.as_ref().is_some_and(|(_, _, pool)| pool.interrupted())
    }

    /// Stop the workers and close the queue session.
    pub fn finish(self, status: SessionStatus) -> Result<(), EngineError> {
        if let Some((queue, session, pool)) = self.running {
            pool.shutdown();
            queue.finish_session(session, status)?;
        }
        Ok(())
    }

    /// Put the misses in the queue and make sure workers for their job
    /// types run. The queue session and the pool start with the first miss.
    fn submit<'p>(&mut self, misses: Vec<Pending<'p>>, report: &mut Report) -> Result<InFlight<'p>, EngineError> {
        if self.running.is_none() {
            let mut queue = Queue::open(&self.options.queue)?;
            warn_recovered(report, queue.recovered.take());
            let reaped = queue.reap_stale()?;
            if reaped > 0 {
                report.note(&format!(
                    "cleaned up {reaped} build(s) whose clx process had died; their unfinished jobs were cancelled"
                ));
            }
            let session = queue.start_session(&self.options.label)?;
            let pool = Pool::new(PoolConfig {
                exe: self.options.exe.clone(),
                queue: self.options.queue.clone(),
                cache: self.options.cache.clone(),
                scratch: self.options.scratch.clone(),
                session,
                job_deadline: self.options.job_deadline,
                log_level: self.options.log_level.clone(),
            })?;
            self.running = Some((queue, session, pool));
        }
        let mut in_flight = InFlight::default();
        let Some((queue, session, pool)) = self.running.as_mut() else { return Ok(in_flight) };
        let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
        for pending in misses {
            let job = pending.job;
            let id =
                queue.submit(*session, &job.job_type, &job.display, job.priority, &pending.payload, &pending.key)?;
            *per_type.entry(job.job_type.as_str()).or_default() += 1;
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
    fn wait(&mut self, pool: &mut Pool, queue: &Queue, landing: &mut Landing<'_>) -> Result<(), EngineError> {
        while !self.jobs.is_empty() {
            let Some(event) = pool.next(Duration::from_secs(1))? else {
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
        landing.report.job_finished(&pending.job.display);
        let entry = match record.status {
            JobStatus::Done | JobStatus::Failed => landing.cache.get(&pending.key)?,
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
        let mut failed = false;
        for out in &job.outputs {
            match entry.output(&out.id) {
                Some(StoredOutput::Blob(hash)) => {
                    let bytes = self.cache.get_blob(hash)?;
                    // One output that cannot be written fails its job, not the
                    // build: every other output is still written.
                    for dest in &out.destinations {
                        match self.tree.write(dest, &bytes) {
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

fn tool_identity(registry: &Registry, config: &Config, plugin: &str, job_type: &str) -> Result<String, String> {
    let loaded =
        registry.plugin(plugin).ok_or_else(|| format!("plugin `{plugin}` is not loaded; see `clx plugins list`"))?;
    let converter = loaded
        .new_converter(&config.converter_json(plugin))
        .map_err(|e| format!("the {plugin} plugin cannot start: {e}"))?;
    converter
        .tool_identity(job_type.into())
        .into_result()
        .map(|s| s.to_string())
        .map_err(|e| format!("{job_type}: {e}"))
}

/// Read the job's inputs, store them as blobs (workers read them from the
/// cache) and describe the job.
fn payload(cache: &Cache, registry: &Registry, job: &PlannedJob, tool_identity: String) -> Result<JobPayload, String> {
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

/// Workers per job type: `--workers`/`clx.toml` when set, else the cores for
/// slides and one for diagrams, never more than there are jobs.
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
            clx_plugin_api::Role::Diagram => 1,
        };
        let wanted = options.workers.get(job_type).or_else(|| config.workers.get(job_type)).copied().unwrap_or(default);
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
