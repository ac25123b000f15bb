//! Executes a [`Plan`]: tool identities ([`identity`]), cache keys and
//! lookups, queue submission and the worker pool; every result then lands
//! through [`landing`].
//!
//! A result reaches the output tree only from this build's own job or an exact
//! cache hit: a worker records what it produced on its job's row in the queue
//! (and stores it in the cache when it depends on nothing but the inputs),
//! and the engine lands that record, never whatever the cache happens to hold
//! under the key. A job that failed, timed out or was lost lands nothing, so
//! an older result can never pass for this build's.

pub mod identity;
mod landing;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::config::Config;
use crate::course::plan::{Plan, PlannedJob};
use crate::course::print::embedded;
use crate::plugin::Registry;
use crate::report::{Diagnostic, Location, Report};
use crate::run::pool::{default_workers, Pool, PoolConfig, WorkerSpec};
use crate::run::remote::Watch;
use crate::signals::Interrupt;
use crate::store::job::{JobPayload, OutputSpec, SiblingRef};
use crate::store::{
    BlobHash, Cache, CacheEntry, CacheError, FinishedFeed, Lookup, NewJob, Queue, QueueError, Recovered, SessionId,
    SessionStatus, StoreLocation,
};
pub(crate) use identity::library_hash;
pub use identity::IdentityError;
use identity::{ProbeRun, ToolIdentities, PROBE_TIMEOUT};
use landing::{InFlight, Landing, Pending, Source};

use crate::run::timings::Stopwatch;

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
    /// `--no-cache`: run every job even when the cache holds its result.
    pub no_cache: bool,
    /// `--workers TYPE=N`, over `clx.toml`'s `[workers]`.
    pub workers: BTreeMap<String, usize>,
    /// `--job-timeout`: how long one job may run before its worker is
    /// killed and the job fails; also caps how long a plugin probe may take.
    pub job_deadline: Duration,
    /// The `--log-level` workers and probes are started with (`warn`,
    /// `info`, `debug`, ...).
    pub log_level: String,
    /// Skip the sweep of stale outputs.
    pub keep_stale: bool,
    /// `--timings`: write a report of each build's phases and jobs into
    /// this folder.
    pub timings: Option<PathBuf>,
    /// Ctrl-C or SIGTERM: heard from the engine's start on, so an interrupt
    /// while plugins are probed (before any worker runs) still ends the
    /// build cleanly, its probes killed.
    pub interrupt: Interrupt,
}

/// Why the engine could not run a plan to its end; failed jobs are not
/// errors here, they go into the report.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The job queue could not be opened, written or read.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The cache could not be opened, read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Workers could not be started or supervised.
    #[error(transparent)]
    Pool(#[from] crate::run::pool::PoolError),
    /// An output could not be written or a stale one swept.
    #[error(transparent)]
    Output(#[from] crate::run::output::OutputError),
    /// Ctrl-C or SIGTERM arrived; workers were stopped, the session is
    /// recorded as interrupted.
    #[error("the build was interrupted")]
    Interrupted,
    /// A plugin refused its `[converters.<plugin>]` settings: the build
    /// stops before any job runs or anything is removed.
    #[error(transparent)]
    Config(crate::config::ConfigError),
}

/// Runs plans. One engine serves one `clx build`, or every rebuild of a
/// `--watch` session: the queue session and the workers then stay up between
/// rebuilds, so a change is converted by a warm worker.
pub struct Engine<'r> {
    registry: &'r Registry,
    config: &'r Config,
    options: EngineOptions,
    /// Shared with the build's `Landing`, which outlives a stage's submission.
    cache: Rc<dyn Cache>,
    /// Tool identities and library hashes; asked once per engine.
    tools: ToolIdentities,
    /// Opened when the first job has to run.
    running: Option<(Box<dyn Queue>, SessionId, Pool)>,
    /// Hears of jobs finished by workers that are not the pool's own, when
    /// the queue announces them.
    listener: Option<FinishedFeed>,
    watch: Watch,
    /// How long the plan of the next build took, for `--timings`.
    planned_in: Option<Duration>,
    /// The last build's `--timings` report.
    timings_report: Option<PathBuf>,
}

impl<'r> Engine<'r> {
    /// An engine for plugins of `registry`, with the course's converter
    /// settings from `config`; opens the cache now, the queue and the
    /// workers only when the first job has to run.
    pub fn new(registry: &'r Registry, config: &'r Config, options: EngineOptions) -> Result<Self, EngineError> {
        let cache: Rc<dyn Cache> = Rc::from(options.store.open_cache()?);
        Ok(Engine {
            registry,
            config,
            options,
            cache,
            tools: ToolIdentities::default(),
            running: None,
            listener: None,
            watch: Watch::default(),
            planned_in: None,
            timings_report: None,
        })
    }

    /// Run one plan. Diagnostics and counts go into `report`; the returned
    /// error is only for failures of clx itself (queue, cache, disk) and
    /// for an interruption.
    pub fn build(&mut self, plan: &Plan, report: &mut Report) -> Result<(), EngineError> {
        let mut clock = Stopwatch::new(self.options.timings.is_some());
        if let Some(took) = self.planned_in.take() {
            clock.before("plan", took.as_secs_f64());
        }
        // Between builds no landing holds the cache: it is ours alone.
        if let Some(cache) = Rc::get_mut(&mut self.cache) {
            warn_recovered(report, cache.take_recovered());
        }
        for d in &plan.diagnostics {
            report.diagnostic(d.clone());
        }
        if let Some((_, _, pool)) = self.running.as_mut() {
            pool.start_build();
        }
        let since = clock.now();
        let head_start = self.ask_tool_identities(plan, report)?;
        clock.phase("tool identities", since);
        if self.options.interrupt.take() {
            return Err(EngineError::Interrupted);
        }
        for job in plan.every_job() {
            if let Err(e) = self.tools.identity(&job.job_type, &job.plugin) {
                if let Some(e) = self.config.converter_error(&job.plugin, &e.to_string()) {
                    return Err(EngineError::Config(e));
                }
            }
        }
        let since = clock.now();
        let Sorted { misses, hits, unready } = self.sort(plan.jobs.iter(), report)?;
        clock.phase("hashing", since);
        // Misses go to the queue first, so workers start while the host lands
        // the rest.
        let since = clock.now();
        let missed: BTreeSet<&str> = misses.iter().map(|m| m.job.job_type.as_str()).collect();
        let mut in_flight = if misses.is_empty() { None } else { Some(self.submit(misses, report)?) };
        if in_flight.is_some() {
            self.start_printers(plan)?;
        }
        clock.phase("submit", since);
        // Workers started ahead for job types that turned out to need no run
        // (every result cached, or the plugin cannot start) go now rather than
        // at the end, where a browser still starting would delay the exit.
        if let Some((_, _, pool)) = self.running.as_mut() {
            for (plugin, job_type) in &head_start {
                // Printers wait for their pages: whether those are cached is
                // known only once the pages have landed.
                let prints = plan.prints.iter().any(|p| &p.job.job_type == job_type);
                if !missed.contains(job_type.as_str()) && !prints {
                    pool.stop(plugin, std::slice::from_ref(job_type));
                }
            }
        }
        let since = clock.now();
        let cache = Rc::clone(&self.cache);
        let mut landing = Landing::new(&*cache, plan.roots.clone(), &plan.frames, report);
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
            clock.cached(&job.display, &job.job_type);
        }
        clock.phase("copies and cached results", since);
        let since = clock.now();
        if let (Some(in_flight), Some((queue, session, pool))) = (in_flight.as_mut(), self.running.as_mut()) {
            in_flight.wait(pool, &**queue, *session, &mut self.watch, &mut landing)?;
        }
        clock.phase("jobs", since);
        // Generated pages last: they link only what this build produced.
        // Those that link nothing (the site's assets) go before the prints,
        // which embed them.
        let (fixed, linking): (Vec<_>, Vec<_>) = plan.pages.iter().partition(|p| p.is_fixed());
        for page in fixed {
            landing.write_generated(&page.to, &page.bytes(|_| true));
        }
        if !plan.prints.is_empty() {
            let since = clock.now();
            self.print(plan, &mut landing, &mut clock)?;
            clock.phase("prints", since);
        }
        let since = clock.now();
        for page in linking {
            let bytes = page.bytes_titled(|path| landing.produced(path), proposed_title);
            landing.write_generated(&page.to, &bytes);
        }
        clock.phase("generated pages", since);
        // A course with input errors (an unknown topic, an unreadable deck)
        // is missing outputs by mistake, not by intent: nothing is removed.
        let since = clock.now();
        if !self.options.keep_stale && !plan.has_input_errors() {
            landing.sweep()?;
        }
        clock.phase("sweep", since);
        self.write_timings(clock);
        Ok(())
    }

    /// Hash each job's inputs and look its key up: a cached result, a job
    /// to run, or one that cannot run (its plugin has no tool identity).
    fn sort<'p>(
        &self,
        jobs: impl Iterator<Item = &'p PlannedJob>,
        report: &mut Report,
    ) -> Result<Sorted<'p>, EngineError> {
        let mut sorted = Sorted { misses: Vec::new(), hits: Vec::new(), unready: Vec::new() };
        for job in jobs {
            let config = self.config.converter_json(&job.plugin);
            let payload = self
                .tools
                .identity(&job.job_type, &job.plugin)
                .and_then(|identity| Ok((identity, self.tools.library(&job.plugin)?)))
                .map_err(|e| e.to_string())
                .and_then(|(identity, library)| payload(&*self.cache, self.registry, job, identity, library, config))
                .map(|payload| JobPayload { time_limit_secs: Some(self.options.job_deadline.as_secs()), ..payload });
            let payload = match payload {
                Ok(p) => p,
                Err(message) => {
                    sorted.unready.push((job, message));
                    continue;
                }
            };
            let key = payload.cache_key();
            if !self.options.no_cache {
                match self.cache.lookup(&key)? {
                    Lookup::Hit(entry) => {
                        sorted.hits.push((job, entry));
                        continue;
                    }
                    Lookup::Miss => {}
                    Lookup::Healed { damaged } => {
                        for blob in damaged {
                            let message = format!(
                                "cache blob {} did not match its hash: dropped it and its entry, the job runs again",
                                blob.to_hex()
                            );
                            report.diagnostic(Diagnostic::warning(&job.display, Location::NONE, message));
                        }
                    }
                }
            }
            sorted.misses.push(Pending { job, key, payload });
        }
        Ok(sorted)
    }

    /// Start the printers' workers while the decks run: a browser's start
    /// then overlaps the kernels' work instead of following the last page.
    /// Called only when deck jobs run, so their pages (and so the prints'
    /// keys) are likely new; printers that find every print cached simply
    /// stop with the build.
    fn start_printers(&mut self, plan: &Plan) -> Result<(), EngineError> {
        let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
        for print in &plan.prints {
            if self.tools.identity(&print.job.job_type, &print.job.plugin).is_ok() {
                *per_type.entry(print.job.job_type.as_str()).or_default() += 1;
            }
        }
        let Some((_, _, pool)) = self.running.as_mut() else { return Ok(()) };
        for spec in worker_specs(&per_type, self.registry, self.config, &self.options) {
            pool.ensure(spec)?;
        }
        Ok(())
    }

    /// Print the pages that landed to PDF: each print job's source is its
    /// page as written in its frame, its siblings the files the page
    /// embeds, so a cache hit is exact. A page that was not produced is not
    /// printed (its deck's job has said why); its PDF is swept.
    fn print(&mut self, plan: &Plan, landing: &mut Landing<'_>, clock: &mut Stopwatch) -> Result<(), EngineError> {
        let mut unreadable = Vec::new();
        let mut jobs: Vec<PlannedJob> = Vec::new();
        for print in plan.prints.iter().filter(|p| landing.produced(&p.job.source)) {
            match std::fs::read(&print.job.source) {
                Ok(html) => {
                    let siblings = embedded(&print.job.source, &String::from_utf8_lossy(&html), &print.root);
                    jobs.push(PlannedJob { siblings, ..print.job.clone() });
                }
                // Landed a moment ago: only something outside clx removes
                // or locks it in between. Its PDF fails, saying so.
                Err(e) => unreadable.push((
                    &print.job,
                    format!("cannot read the page to print, {} ({e}); build again", print.job.source.display()),
                )),
            }
        }
        let Sorted { misses, hits, unready } = self.sort(jobs.iter(), landing.report)?;
        for (job, message) in unready.into_iter().chain(unreadable) {
            landing.fail(job, Location::NONE, message);
        }
        for (job, entry) in &hits {
            landing.land(job, entry, Source::Cache)?;
            clock.cached(&job.display, &job.job_type);
        }
        if misses.is_empty() {
            return Ok(());
        }
        let mut in_flight = self.submit(misses, landing.report)?;
        if let Some((queue, session, pool)) = self.running.as_mut() {
            in_flight.wait(pool, &**queue, *session, &mut self.watch, landing)?;
        }
        Ok(())
    }

    /// Remember how long the next build's plan took, for `--timings`.
    pub fn planned_in(&mut self, took: Duration) {
        self.planned_in = Some(took);
    }

    /// The report the last build wrote for `--timings`.
    pub fn timings_report(&self) -> Option<&Path> {
        self.timings_report.as_deref()
    }

    /// Add the jobs' own times from the queue's rows and write the report;
    /// a report that cannot be written is a warning, never a failed build.
    fn write_timings(&mut self, clock: Stopwatch) {
        let (Some(mut timings), Some(dir)) = (clock.into_inner(), self.options.timings.as_ref()) else { return };
        if let Some((queue, session, _)) = &self.running {
            match queue.jobs(Some(*session), None, 1_000_000) {
                Ok(rows) => timings.jobs_from(rows),
                Err(e) => tracing::warn!("--timings: cannot read this build's jobs: {e}"),
            }
        }
        match timings.write(dir) {
            Ok(html) => self.timings_report = Some(html),
            Err(e) => tracing::warn!("--timings: cannot write the report into {}: {e}", dir.display()),
        }
    }

    /// Find every plan plugin's tool identities: remembered ones from the
    /// cache index, the rest from probe processes run side by side (a plugin
    /// may run its tool to learn its version).
    ///
    /// A plugin that has to be probed has most likely never run with this
    /// state dir, so its jobs will run: its workers are started before the
    /// probes, and a slow start (Chromium's two seconds) overlaps the probes,
    /// the hashing and the other plugins' work instead of following them.
    /// Returns the (plugin, job type) pairs started that way.
    fn ask_tool_identities(&mut self, plan: &Plan, report: &mut Report) -> Result<Vec<(String, String)>, EngineError> {
        // With no workers here, the tools are the workers': they name them.
        let remote_only = self.options.local_workers == Some(0);
        let mut probes = self.tools.look_up(plan, self.registry, self.config, &*self.cache, !remote_only);
        if remote_only && !probes.is_empty() {
            self.start_running(report)?;
            if let Some((queue, _, _)) = self.running.as_ref() {
                if let Some(shared) = queue.shared() {
                    let mut note = |n: String| report.note(&n);
                    let interrupt = &self.options.interrupt;
                    probes =
                        self.tools.ask_servers(probes, &*self.cache, shared, &queue.describe(), interrupt, &mut note);
                }
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
        let run = ProbeRun {
            exe: &self.options.exe,
            log_level: &self.options.log_level,
            timeout: self.options.job_deadline.min(PROBE_TIMEOUT),
            interrupt: &self.options.interrupt,
        };
        self.tools.probe(&probes, &run, &*self.cache);
        Ok(head_start)
    }

    /// Whether Ctrl-C or SIGTERM arrived since the last check.
    pub fn interrupted(&self) -> bool {
        self.options.interrupt.take()
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
    fn start_running(&mut self, report: &mut Report) -> Result<&mut (Box<dyn Queue>, SessionId, Pool), EngineError> {
        let running = match self.running.take() {
            Some(running) => running,
            None => {
                let mut queue = self.options.store.open_queue()?;
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
                    interrupted: self.options.interrupt.clone(),
                    share: !self.options.no_cache,
                })?;
                let announcer = pool.announcer();
                self.listener = queue.announce_finished(session, Box::new(move |id| announcer.finished(id)))?;
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

/// A build's jobs sorted by what their cache keys found.
struct Sorted<'p> {
    misses: Vec<Pending<'p>>,
    hits: Vec<(&'p PlannedJob, CacheEntry)>,
    unready: Vec<(&'p PlannedJob, String)>,
}

/// A damaged state file was replaced by an empty one: say why work is redone.
fn warn_recovered(report: &mut Report, recovered: Option<Recovered>) {
    if let Some(recovered) = recovered {
        report.diagnostic(Diagnostic::warning("", Location::NONE, recovered.to_string()));
    }
}

/// Read the job's inputs, store them as blobs (workers read them from the
/// cache) and describe the job.
fn payload(
    cache: &dyn Cache,
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
        time_limit_secs: None,
    })
}

/// Workers per job type: `--workers`/`clx.toml` when set, else
/// [`default_workers`], never more than there are jobs.
fn worker_specs(
    per_type: &BTreeMap<&str, usize>,
    registry: &Registry,
    config: &Config,
    options: &EngineOptions,
) -> Vec<WorkerSpec> {
    let mut specs = Vec::new();
    for (&job_type, &jobs) in per_type {
        let Some((plugin, decl)) = registry.job_type(job_type) else { continue };
        let wanted = options
            .workers
            .get(job_type)
            .or_else(|| config.workers.get(job_type))
            .copied()
            .unwrap_or_else(|| default_workers(decl.role));
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

/// The title a page this build wrote proposes, read back from the output
/// tree; only an HTML page has one.
fn proposed_title(page: &Path) -> Option<String> {
    let html = page.extension().is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    html.then(|| std::fs::read(page).ok()).flatten().and_then(|bytes| crate::course::title::proposed(&bytes))
}

#[cfg(test)]
mod tests {
    use crate::store::{Cache, StoreLocation};

    /// A file cache in a fresh temporary directory, for the engine's rooms'
    /// tests (each adds what it needs in an `impl` of its own).
    pub(super) struct Fixture {
        pub(super) dir: tempfile::TempDir,
        pub(super) cache: Box<dyn Cache>,
    }

    impl Fixture {
        pub(super) fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let location =
                StoreLocation::resolve(None, &dir.path().join("queue.db"), &dir.path().join("cache")).unwrap();
            let cache = location.open_cache().unwrap();
            Fixture { dir, cache }
        }
    }
}
