//! Landing: the one road by which results reach the output tree. `InFlight`
//! follows the jobs in the queue and settles each as it ends; `Landing`
//! writes copies, generated pages and cache entries (hits and fresh results
//! alike), and reports failures, each counted.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::course::frame::PageFrame;
use crate::course::plan::PlannedJob;
use crate::report::{Diagnostic, Level, Location, Report};
use crate::run::engine::EngineError;
use crate::run::output::{OutputTree, Written};
use crate::run::pool::{Pool, PoolEvent};
use crate::run::protocol::LogLevel;
use crate::run::remote::Watch;
use crate::store::job::JobPayload;
use crate::store::{Cache, CacheEntry, CacheKey, JobId, JobStatus, Queue, SessionId, StoredIssue, StoredOutput};

/// A job on its way: its plan and what the cache knows it by.
pub(super) struct Pending<'p> {
    pub(super) job: &'p PlannedJob,
    pub(super) key: CacheKey,
    pub(super) payload: JobPayload,
}

/// Jobs in the queue whose results have not landed yet.
#[derive(Default)]
pub(super) struct InFlight<'p> {
    pub(super) jobs: HashMap<JobId, Pending<'p>>,
    /// The progress last shown per job, so a step read again from the
    /// queue is not shown twice.
    progress: HashMap<JobId, String>,
}

impl InFlight<'_> {
    /// Land each job as the pool reports it finished, until none is left.
    pub(super) fn wait(
        &mut self,
        pool: &mut Pool,
        queue: &dyn Queue,
        session: SessionId,
        watch: &mut Watch,
        landing: &mut Landing<'_>,
    ) -> Result<(), EngineError> {
        while !self.jobs.is_empty() {
            let Some(event) = pool.next(Duration::from_secs(1))? else {
                // No news: a job may have ended without a word from the
                // pool's workers (`clx jobs cancel`, another machine's worker).
                let ids: Vec<JobId> = self.jobs.keys().copied().collect();
                let findings = watch.check(queue, session, &ids)?;
                for note in findings.notes {
                    landing.report.note(&note);
                }
                for (job, message) in findings.progress {
                    self.show_progress(job, message, landing);
                }
                for id in findings.settled {
                    self.settle(id, queue, landing)?;
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
                    if self.jobs.contains_key(&job) {
                        queue.set_progress(job, &message)?;
                        self.show_progress(job, message, landing);
                    }
                }
                PoolEvent::Interrupted => return Err(EngineError::Interrupted),
            }
        }
        Ok(())
    }

    /// A running job's progress on the progress line and in the log, once
    /// per step, whether its worker told us or the queue did.
    fn show_progress(&mut self, job: JobId, message: String, landing: &mut Landing<'_>) {
        let Some(p) = self.jobs.get(&job) else { return };
        if self.progress.get(&job) == Some(&message) {
            return;
        }
        let name = p.job.progress_name();
        tracing::debug!(job = job.0, "{name}: {message}");
        landing.report.progress(&name, &message);
        self.progress.insert(job, message);
    }

    /// A job reached a terminal state: land its result from the cache, or
    /// report why there is none. A job that is not in flight is ignored.
    fn settle(&mut self, id: JobId, queue: &dyn Queue, landing: &mut Landing<'_>) -> Result<(), EngineError> {
        let Some(pending) = self.jobs.remove(&id) else { return Ok(()) };
        self.progress.remove(&id);
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
pub(super) enum Source {
    Cache,
    Built,
}

/// The one path by which results reach the output tree: copies, cache
/// entries (hits and fresh results alike) and failures, each counted and
/// reported.
pub(super) struct Landing<'a> {
    cache: &'a dyn Cache,
    tree: OutputTree,
    /// Deck pages are written in their frame (navigation, stylesheet).
    frames: &'a BTreeMap<PathBuf, PageFrame>,
    pub(super) report: &'a mut Report,
}

impl<'a> Landing<'a> {
    /// Land into a fresh output tree with these roots.
    pub(super) fn new(
        cache: &'a dyn Cache,
        roots: Vec<PathBuf>,
        frames: &'a BTreeMap<PathBuf, PageFrame>,
        report: &'a mut Report,
    ) -> Self {
        Landing { cache, tree: OutputTree::new(roots), frames, report }
    }

    /// Whether this build wrote (or found unchanged) the file at `path`.
    pub(super) fn produced(&self, path: &Path) -> bool {
        self.tree.produced(path)
    }

    /// Remove what this build no longer produces inside the roots.
    pub(super) fn sweep(&mut self) -> Result<(), EngineError> {
        self.report.removed += self.tree.sweep()?.len();
        Ok(())
    }

    /// Copy a file the host writes itself (data files, dir groups).
    pub(super) fn copy(&mut self, from: &Path, to: &Path) {
        match self.tree.copy(from, to) {
            Ok(w) => self.count_write(w),
            Err(e) => self.report.diagnostic(Diagnostic::error(display(from), Location::NONE, e.to_string())),
        }
    }

    /// Write a file the plan generated itself (a course home page).
    pub(super) fn write_generated(&mut self, to: &Path, bytes: &[u8]) {
        match self.tree.write(to, bytes) {
            Ok(w) => self.count_write(w),
            Err(e) => self.report.diagnostic(Diagnostic::error(display(to), Location::NONE, e.to_string())),
        }
    }

    /// Write every output of a cache entry to its destinations and replay
    /// the job's issues; the job counts as failed unless every output was
    /// produced and written.
    pub(super) fn land(&mut self, job: &PlannedJob, entry: &CacheEntry, source: Source) -> Result<(), EngineError> {
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
                    // A blob damaged or pruned since the lookup fails this job
                    // (the next build runs it again), never the build.
                    let bytes = match self.cache.get_blob(hash) {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            failed = true;
                            self.report.diagnostic(Diagnostic::error(&job.display, Location::NONE, e.to_string()));
                            continue;
                        }
                    };
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
            (true, Source::Cache) => {
                self.report.failed += 1;
                self.report.failed_from_cache += 1;
            }
            (true, Source::Built) => self.report.failed += 1,
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
    pub(super) fn fail(&mut self, job: &PlannedJob, location: Location, message: String) {
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
    let location = Location { column: issue.line.and(issue.column), ..Location::cell(issue.cell, issue.line) };
    Diagnostic { level: issue.severity, file, location, message: issue.message.clone() }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::course::plan::PlannedOutput;
    use crate::report::Level;
    use crate::store::StoredIssue;

    use crate::run::engine::tests::Fixture;

    impl Fixture {
        fn out(&self, name: &str) -> PathBuf {
            self.dir.path().join("out").join(name)
        }

        /// A job with one output per name, each written to `out/<name>`.
        fn job(&self, outputs: &[&str]) -> PlannedJob {
            PlannedJob {
                plugin: "p".into(),
                job_type: "t".into(),
                source: self.dir.path().join("deck.py"),
                display: "slides/deck.py".into(),
                lang: None,
                siblings: Vec::new(),
                outputs: outputs
                    .iter()
                    .map(|id| PlannedOutput {
                        id: (*id).into(),
                        format: (*id).into(),
                        params: serde_json::Value::Null,
                        destinations: vec![self.out(id)],
                    })
                    .collect(),
                options: serde_json::Value::Null,
                priority: 0,
            }
        }

        fn land(&self, job: &PlannedJob, entry: &CacheEntry, source: Source) -> Report {
            let mut report = Report::new(true);
            let frames = BTreeMap::new();
            let mut landing = Landing::new(&*self.cache, vec![self.out("")], &frames, &mut report);
            landing.land(job, entry, source).unwrap();
            report
        }
    }

    fn issue(severity: Level, message: &str, line: Option<u32>) -> StoredIssue {
        StoredIssue { severity, message: message.into(), file: None, line, column: None, cell: None }
    }

    #[test]
    fn an_issue_with_a_column_is_reported_at_its_line_and_column() {
        let job = Fixture::new().job(&["html"]);
        let at = |column| diagnostic_of(&job, &StoredIssue { column, ..issue(Level::Error, "bad", Some(3)) });
        assert_eq!(at(Some(7)).location.to_string(), "3:7");
        assert_eq!(at(None).location.to_string(), "line 3");
    }

    #[test]
    fn land_writes_every_output_and_counts_the_job_by_where_it_came_from() {
        let f = Fixture::new();
        let blob = f.cache.put_blob(b"<html>").unwrap();
        let entry = CacheEntry { outputs: vec![("html".into(), StoredOutput::Blob(blob))], issues: vec![] };
        let job = f.job(&["html"]);
        let report = f.land(&job, &entry, Source::Built);
        assert_eq!(std::fs::read(f.out("html")).unwrap(), b"<html>");
        assert_eq!((report.built, report.cached, report.failed, report.written), (1, 0, 0, 1));
        let again = f.land(&job, &entry, Source::Cache);
        assert_eq!((again.built, again.cached, again.written, again.unchanged), (0, 1, 0, 1));
    }

    #[test]
    fn land_replays_the_issues_and_an_error_fails_the_job_with_every_output_written() {
        let f = Fixture::new();
        let blob = f.cache.put_blob(b"cells").unwrap();
        let entry = CacheEntry {
            outputs: vec![("ipynb".into(), StoredOutput::Blob(blob))],
            issues: vec![issue(Level::Warning, "unused import", Some(2)), issue(Level::Error, "cell raised", Some(7))],
        };
        let report = f.land(&f.job(&["ipynb"]), &entry, Source::Built);
        assert_eq!(std::fs::read(f.out("ipynb")).unwrap(), b"cells", "the output is still written");
        assert_eq!((report.built, report.failed), (0, 1));
        let shown: Vec<(Level, &str, String, String)> = report
            .diagnostics
            .iter()
            .map(|d| (d.level, d.file.as_str(), d.location.to_string(), d.message.clone()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (Level::Warning, "slides/deck.py", "line 2".to_owned(), "unused import".to_owned()),
                (Level::Error, "slides/deck.py", "line 7".to_owned(), "cell raised".to_owned()),
            ]
        );
    }

    #[test]
    fn land_fails_a_job_whose_output_is_missing_or_an_error_and_writes_the_rest() {
        let f = Fixture::new();
        let blob = f.cache.put_blob(b"png").unwrap();
        let entry = CacheEntry {
            outputs: vec![
                ("png".into(), StoredOutput::Blob(blob)),
                ("svg".into(), StoredOutput::Error("no svg".into())),
            ],
            issues: vec![],
        };
        let report = f.land(&f.job(&["png", "svg", "pdf"]), &entry, Source::Built);
        assert_eq!(std::fs::read(f.out("png")).unwrap(), b"png");
        assert!(!f.out("svg").exists() && !f.out("pdf").exists());
        assert_eq!((report.built, report.failed, report.written), (0, 1, 1));
        let messages: Vec<&str> = report.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["svg: no svg", "no `pdf` output in the cache"]);
    }

    #[test]
    fn land_fails_the_job_when_an_output_cannot_be_written_and_writes_the_others() {
        let f = Fixture::new();
        let blob = f.cache.put_blob(b"bytes").unwrap();
        let entry = CacheEntry {
            outputs: vec![("a".into(), StoredOutput::Blob(blob.clone())), ("b".into(), StoredOutput::Blob(blob))],
            issues: vec![],
        };
        // A folder where the output file `a` belongs.
        std::fs::create_dir_all(f.out("a").join("in-the-way")).unwrap();
        let report = f.land(&f.job(&["a", "b"]), &entry, Source::Built);
        assert_eq!(std::fs::read(f.out("b")).unwrap(), b"bytes");
        assert_eq!((report.built, report.failed, report.written), (0, 1, 1));
        assert_eq!(report.diagnostics.len(), 1);
        assert!(report.diagnostics[0].message.contains("a folder is in the way"), "{:?}", report.diagnostics);
    }

    #[test]
    fn fail_counts_the_job_and_reports_where() {
        let f = Fixture::new();
        let mut report = Report::new(true);
        let frames = BTreeMap::new();
        let mut landing = Landing::new(&*f.cache, vec![f.out("")], &frames, &mut report);
        landing.fail(&f.job(&["html"]), Location::line(4), "bad header".into());
        assert_eq!(report.failed, 1);
        assert_eq!(
            report.diagnostics[0].to_string(),
            Diagnostic::error("slides/deck.py", Location::line(4), "bad header").to_string()
        );
    }
}
