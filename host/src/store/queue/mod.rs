//! The SQLite job queue: the record of every build session, job and worker.
//!
//! One connection per thread (a `Queue` is not shared), WAL so readers such
//! as `clx status` never block a build, a busy handler instead of retry
//! loops, autocommit for single statements and `BEGIN IMMEDIATE` where a read
//! decides a write or several writes form one step (a batch of submissions;
//! a worker's outcome together with its next claim), since every commit
//! costs more than the statements in it. A claim selects and takes a pending
//! job under the write lock of `BEGIN IMMEDIATE`, its update again requiring
//! `status='pending'`, so two workers can never take the same job. Every
//! terminal state (`done`,
//! `failed`, `cancelled`) sets `finished_at`; `cancelled` is never
//! overwritten; a worker's outcome is recorded only while it still owns the
//! job (`worker=? AND status='running'`).

mod jobs;
mod sessions;
mod workers;

use std::path::Path;

use crate::report::Location;
use crate::store::cache::CacheKey;
pub use crate::store::db::now;

use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;

/// Bumped when the schema changes; an old database is recreated (the queue
/// holds no data worth migrating: the cache holds the results).
const SCHEMA_VERSION: i64 = 3;
/// WAL pages after which a commit checkpoints the queue.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;
/// How often a job may be started before a lost worker fails it for good.
pub const MAX_ATTEMPTS: i64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SessionId(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct JobId(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WorkerId(pub i64);

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("job queue {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("job queue: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("job queue: no job {0}")]
    NoSuchJob(i64),
    #[error("job queue: {0}")]
    Postgres(crate::store::pg::PgError),
}

/// Why a job failed, kept in structured form so reports can show file,
/// location and message, and tools can tell input errors from crashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobError {
    pub message: String,
    /// `line 3`, `cell 2`, … when the error has a place in the source.
    pub location: Option<Location>,
    pub category: ErrorCategory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorCategory {
    /// The source is wrong; the user fixes it.
    Input,
    /// An external tool is missing or broken.
    Tool,
    /// The worker died, hung or timed out.
    Worker,
    /// The plugin itself failed (it panicked, or could not start).
    Plugin,
    /// A bug or an environment problem in clx itself.
    Internal,
    /// The user cancelled the job or the build was interrupted.
    Cancelled,
}

impl ErrorCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Input => "input",
            ErrorCategory::Tool => "tool",
            ErrorCategory::Worker => "worker",
            ErrorCategory::Plugin => "plugin",
            ErrorCategory::Internal => "internal",
            ErrorCategory::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> ErrorCategory {
        match s {
            "input" => ErrorCategory::Input,
            "tool" => ErrorCategory::Tool,
            "worker" => ErrorCategory::Worker,
            "plugin" => ErrorCategory::Plugin,
            "cancelled" => ErrorCategory::Cancelled,
            _ => ErrorCategory::Internal,
        }
    }
}

impl JobError {
    fn new(category: ErrorCategory, message: impl Into<String>, location: Option<Location>) -> Self {
        JobError { message: message.into(), location, category }
    }
    pub fn input(message: impl Into<String>, location: Option<Location>) -> Self {
        JobError::new(ErrorCategory::Input, message, location)
    }
    pub fn tool(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Tool, message, None)
    }
    pub fn worker(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Worker, message, None)
    }
    pub fn plugin(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Plugin, message, None)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Internal, message, None)
    }
    pub fn cancelled(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Cancelled, message, None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Pending, JobStatus::Running, JobStatus::Done, JobStatus::Failed, JobStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// How a build session stands or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Running,
    Done,
    Interrupted,
    Failed,
    /// Its host died without closing it; found by the next one.
    Crashed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Done => "done",
            SessionStatus::Interrupted => "interrupted",
            SessionStatus::Failed => "failed",
            SessionStatus::Crashed => "crashed",
        }
    }

    pub(crate) fn parse(s: &str) -> SessionStatus {
        match s {
            "running" => SessionStatus::Running,
            "done" => SessionStatus::Done,
            "interrupted" => SessionStatus::Interrupted,
            "failed" => SessionStatus::Failed,
            _ => SessionStatus::Crashed,
        }
    }
}

/// What a worker is doing: busy or idle as the jobs it runs show, stopped or
/// dead as the host recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerStatus {
    Idle,
    Busy,
    /// Stopped by the host at the end of a build.
    Stopped,
    /// Lost: crashed, killed or hung.
    Dead,
}

impl WorkerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerStatus::Idle => "idle",
            WorkerStatus::Busy => "busy",
            WorkerStatus::Stopped => "stopped",
            WorkerStatus::Dead => "dead",
        }
    }

    pub(crate) fn parse(s: &str) -> WorkerStatus {
        match s {
            "idle" => WorkerStatus::Idle,
            "busy" => WorkerStatus::Busy,
            "stopped" => WorkerStatus::Stopped,
            _ => WorkerStatus::Dead,
        }
    }
}

/// A job for [`Queue::submit_many`].
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    pub job_type: &'a str,
    /// What `clx jobs list` shows: the source file, or what else the job converts.
    pub source: &'a str,
    /// Higher is claimed first.
    pub priority: i64,
    pub payload: &'a str,
    pub cache_key: &'a CacheKey,
}

/// How a worker's job ended, as [`Queue::finish_and_claim`] records it.
#[derive(Debug, Clone, Copy)]
pub enum JobOutcome<'a> {
    /// Converted; `result` is what it produced (the cache entry as JSON).
    Done { result: &'a str },
    /// Failed; `result` is what the converter produced when it ran at all
    /// (outputs that failed, issues).
    Failed { error: &'a JobError, result: Option<&'a str> },
}

/// A job a worker has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    pub payload: String,
    pub cache_key: CacheKey,
}

/// A job as `clx jobs list` and the build loop see it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub session: SessionId,
    pub job_type: String,
    pub source: String,
    pub status: JobStatus,
    pub attempts: i64,
    pub worker: Option<WorkerId>,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub error: Option<JobError>,
    /// The result this job's worker produced in this run (a cache entry as
    /// JSON), set only together with `done` or `failed` by that worker. The
    /// engine lands only this, never whatever the cache holds under the key.
    #[serde(skip)]
    pub result: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkerRecord {
    pub id: WorkerId,
    pub session: SessionId,
    pub job_types: Vec<String>,
    pub pid: i64,
    pub status: WorkerStatus,
    pub heartbeat: f64,
    pub current_job: Option<JobId>,
    pub jobs_done: i64,
    pub jobs_failed: i64,
    pub started_at: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub spec: String,
    pub pid: i64,
    pub status: SessionStatus,
    pub started_at: f64,
    pub finished_at: Option<f64>,
}

/// What happened to a job whose worker was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// Back to pending for another attempt.
    Pending,
    /// Its attempts are used up (or it was cancelled meanwhile): terminal.
    Terminal,
}

pub struct Queue {
    conn: Connection,
    /// Set when the file was damaged and replaced by an empty queue.
    pub recovered: Option<crate::store::db::Recovered>,
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // Check again under the write lock: two processes opening a new
    // database at once must not both (re)create it, or the second would
    // drop the first one's session.
    let tx = conn.unchecked_transaction_immediate()?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return tx.commit();
    }
    // A worker's row holds what changes rarely (status, heartbeat); what it
    // is doing and how many jobs it did are read from `jobs`, so a job's
    // claim and outcome write no worker row. `worker` ends the claim index
    // for those reads: claims and outcomes rewrite a job's index entry
    // anyway (its status changes), so the column costs them nothing.
    tx.execute_batch(&format!(
        "DROP TABLE IF EXISTS jobs; DROP TABLE IF EXISTS workers; DROP TABLE IF EXISTS sessions;
         CREATE TABLE sessions(
             id INTEGER PRIMARY KEY, spec TEXT NOT NULL, pid INTEGER NOT NULL,
             status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL);
         CREATE TABLE jobs(
             id INTEGER PRIMARY KEY, session INTEGER NOT NULL, job_type TEXT NOT NULL,
             source TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
             status TEXT NOT NULL CHECK (status IN ('pending','running','done','failed','cancelled')),
             attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
             payload TEXT NOT NULL, cache_key TEXT NOT NULL, worker INTEGER,
             created_at REAL NOT NULL, started_at REAL, finished_at REAL,
             error_message TEXT, error_location TEXT, error_category TEXT, result TEXT);
         CREATE INDEX jobs_claim ON jobs(session, status, job_type, priority DESC, id, worker);
         CREATE TABLE workers(
             id INTEGER PRIMARY KEY, session INTEGER NOT NULL, job_types TEXT NOT NULL,
             pid INTEGER NOT NULL, status TEXT NOT NULL, heartbeat REAL NOT NULL,
             started_at REAL NOT NULL, stopped_at REAL);
         PRAGMA user_version = {SCHEMA_VERSION};"
    ))?;
    tx.commit()
}

impl Queue {
    pub fn open(path: &Path) -> Result<Queue, QueueError> {
        let open_err = |source| QueueError::Open { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let (conn, recovered) = crate::store::db::open_rebuildable(path, migrate).map_err(open_err)?;
        // A checkpoint syncs the WAL and the database file, and the commit
        // that crosses the threshold waits for it: at SQLite's default of
        // 1,000 pages a worker paid two fsyncs every few hundred jobs. Every
        // job rewrites the same few pages, so a longer WAL costs the
        // checkpoint hardly more; the WAL file can grow to about 40 MB.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES).map_err(open_err)?;
        Ok(Queue { conn, recovered })
    }
}

pub(super) trait ImmediateTransaction {
    fn unchecked_transaction_immediate(&self) -> rusqlite::Result<rusqlite::Transaction<'_>>;
}

impl ImmediateTransaction for Connection {
    /// `BEGIN IMMEDIATE` on a shared connection: takes the write lock before
    /// the read, so the read-modify-write cannot race another writer.
    fn unchecked_transaction_immediate(&self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        rusqlite::Transaction::new_unchecked(self, TransactionBehavior::Immediate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    fn key(name: &str) -> CacheKey {
        CacheKey::builder().job_type(name).finish()
    }

    fn queue() -> (tempfile::TempDir, Queue) {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(&dir.path().join("q.db")).unwrap();
        (dir, q)
    }

    fn types(t: &str) -> Vec<String> {
        vec![t.to_owned()]
    }

    #[test]
    fn claim_takes_each_job_once_in_priority_order() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let low = q.submit(s, "a", "x", 0, "{}", &key("k1")).unwrap();
        let high = q.submit(s, "a", "y", 5, "{}", &key("k2")).unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        assert_eq!(q.claim(s, w, &types("a")).unwrap().unwrap().id, high);
        assert_eq!(q.claim(s, w, &types("a")).unwrap().unwrap().id, low);
        assert!(q.claim(s, w, &types("a")).unwrap().is_none());
    }

    #[test]
    fn sessions_never_see_each_others_jobs() {
        let (_d, q) = queue();
        let s1 = q.start_session("one").unwrap();
        let s2 = q.start_session("two").unwrap();
        q.submit(s1, "a", "x", 0, "{}", &key("k")).unwrap();
        let w = q.register_worker(s2, &types("a"), 1).unwrap();
        assert!(q.claim(s2, w, &types("a")).unwrap().is_none());
    }

    #[test]
    fn cancelled_job_stays_cancelled_when_its_worker_reports() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", &key("k")).unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        q.claim(s, w, &types("a")).unwrap();
        assert_eq!(q.cancel(&[id]).unwrap(), 1);
        assert!(!q.heartbeat(w, Some(id)).unwrap(), "the worker learns its job is unwanted");
        q.complete(id, w, "{}").unwrap();
        q.fail(id, w, &JobError::internal("late"), None).unwrap();
        assert_eq!(q.requeue(id, &JobError::worker("lost")).unwrap(), Requeued::Terminal);
        let job = q.job(id).unwrap();
        assert_eq!(job.status, JobStatus::Cancelled);
        assert!(job.finished_at.is_some());
    }

    #[test]
    fn lost_worker_requeues_until_attempts_are_used_up() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", &key("k")).unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        for _ in 1..MAX_ATTEMPTS {
            q.claim(s, w, &types("a")).unwrap().unwrap();
            assert_eq!(q.requeue(id, &JobError::worker("killed")).unwrap(), Requeued::Pending);
        }
        q.claim(s, w, &types("a")).unwrap().unwrap();
        assert_eq!(q.requeue(id, &JobError::worker("killed")).unwrap(), Requeued::Terminal);
        let job = q.job(id).unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert!(job.finished_at.is_some());
        let error = job.error.unwrap();
        assert_eq!(error.category, ErrorCategory::Worker);
        assert!(error.message.contains("gave up after 2 attempts"), "{}", error.message);
    }

    #[test]
    fn every_terminal_state_has_finished_at() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        let done = q.submit(s, "a", "x", 0, "{}", &key("k")).unwrap();
        q.claim(s, w, &types("a")).unwrap();
        q.complete(done, w, "{}").unwrap();
        let failed = q.submit(s, "a", "y", 0, "{}", &key("k")).unwrap();
        q.claim(s, w, &types("a")).unwrap();
        q.fail(failed, w, &JobError::input("bad", Some(Location::line(3))), None).unwrap();
        let left = q.submit(s, "a", "z", 0, "{}", &key("k")).unwrap();
        q.finish_session(s, SessionStatus::Done).unwrap();
        for id in [done, failed, left] {
            let job = q.job(id).unwrap();
            assert!(job.status.is_terminal(), "{:?}", job.status);
            assert!(job.finished_at.is_some(), "{:?}", job.status);
        }
        let e = q.job(failed).unwrap().error.unwrap();
        assert_eq!((e.message.as_str(), e.location.map(|l| l.to_string())), ("bad", Some("line 3".to_owned())));
    }

    #[test]
    fn a_job_carries_only_the_result_its_own_worker_recorded() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", &key("k")).unwrap();
        q.claim(s, w, &types("a")).unwrap();
        assert_eq!(q.requeue(id, &JobError::worker("killed")).unwrap(), Requeued::Pending);
        q.claim(s, w, &types("a")).unwrap();
        q.fail_running(id, &JobError::worker("timed out")).unwrap();
        let job = q.job(id).unwrap();
        assert_eq!((job.status, job.result), (JobStatus::Failed, None));
        q.retry(&[id]).unwrap();
        q.claim(s, w, &types("a")).unwrap();
        q.complete(id, w, "{\"outputs\":[]}").unwrap();
        assert_eq!(q.job(id).unwrap().result.as_deref(), Some("{\"outputs\":[]}"));
    }

    #[test]
    fn retry_makes_a_failed_job_pending_again() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", &key("k")).unwrap();
        q.claim(s, w, &types("a")).unwrap();
        q.fail(id, w, &JobError::input("bad", None), None).unwrap();
        assert_eq!(q.retry(&[id]).unwrap(), 1);
        let job = q.job(id).unwrap();
        assert_eq!((job.status, job.attempts, job.error.is_none()), (JobStatus::Pending, 0, true));
    }

    fn new_job<'a>(source: &'a str, priority: i64, cache_key: &'a CacheKey) -> NewJob<'a> {
        NewJob { job_type: "a", source, priority, payload: "{}", cache_key }
    }

    #[test]
    fn submit_many_returns_ids_in_the_order_of_its_jobs_all_pending() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let k = key("k");
        let jobs = [new_job("x", 0, &k), new_job("y", 5, &k), new_job("z", 0, &k)];
        let ids = q.submit_many(s, &jobs).unwrap();
        assert_eq!(ids.len(), 3);
        for (id, job) in ids.iter().zip(&jobs) {
            let record = q.job(*id).unwrap();
            assert_eq!((record.source.as_str(), record.status, record.attempts), (job.source, JobStatus::Pending, 0));
        }
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        assert_eq!(q.claim(s, w, &types("a")).unwrap().unwrap().id, ids[1], "priority still decides");
        assert!(q.submit_many(s, &[]).unwrap().is_empty());
    }

    #[test]
    fn finish_and_claim_records_the_outcome_and_takes_the_next_job() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let k = key("k");
        let ids = q.submit_many(s, &[new_job("x", 0, &k), new_job("y", 0, &k), new_job("z", 0, &k)]).unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        let first = q.claim(s, w, &types("a")).unwrap().unwrap();
        let second = q
            .finish_and_claim(s, w, first.id, JobOutcome::Done { result: "{\"outputs\":[]}" }, &types("a"))
            .unwrap()
            .unwrap();
        let error = JobError::input("bad", Some(Location::line(2)));
        let third = q
            .finish_and_claim(s, w, second.id, JobOutcome::Failed { error: &error, result: Some("{}") }, &types("a"))
            .unwrap()
            .unwrap();
        assert_eq!([first.id, second.id, third.id], [ids[0], ids[1], ids[2]]);

        let done = q.job(first.id).unwrap();
        assert_eq!(
            (done.status, done.result.as_deref(), done.error),
            (JobStatus::Done, Some("{\"outputs\":[]}"), None)
        );
        assert!(done.finished_at.is_some());
        let failed = q.job(second.id).unwrap();
        assert_eq!(
            (failed.status, failed.result.as_deref(), failed.error),
            (JobStatus::Failed, Some("{}"), Some(error))
        );
        assert!(failed.finished_at.is_some());
        let running = q.job(third.id).unwrap();
        assert_eq!((running.status, running.worker, running.attempts), (JobStatus::Running, Some(w), 1));
        assert!(running.started_at.is_some() && running.finished_at.is_none());

        let last = JobOutcome::Failed { error: &JobError::plugin("panicked"), result: None };
        assert!(q.finish_and_claim(s, w, third.id, last, &types("a")).unwrap().is_none(), "nothing left");
        let failed = q.job(third.id).unwrap();
        assert_eq!((failed.status, failed.result), (JobStatus::Failed, None));
    }

    #[test]
    fn finish_and_claim_leaves_a_cancelled_job_cancelled_and_still_claims() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let k = key("k");
        let ids = q.submit_many(s, &[new_job("x", 0, &k), new_job("y", 0, &k)]).unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        q.claim(s, w, &types("a")).unwrap();
        q.cancel(&[ids[0]]).unwrap();
        let next = q.finish_and_claim(s, w, ids[0], JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
        assert_eq!(next.map(|j| j.id), Some(ids[1]));
        let job = q.job(ids[0]).unwrap();
        assert_eq!((job.status, job.result), (JobStatus::Cancelled, None));
        assert!(job.finished_at.is_some());
    }

    #[test]
    fn finish_and_claim_ignores_the_outcome_of_a_job_the_worker_no_longer_owns() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", &key("k")).unwrap();
        let lost = q.register_worker(s, &types("a"), 1).unwrap();
        let other = q.register_worker(s, &types("a"), 2).unwrap();
        q.claim(s, lost, &types("a")).unwrap();
        // The pool took the first worker for lost and requeued its job,
        // which another worker then claimed: the second attempt.
        assert_eq!(q.requeue(id, &JobError::worker("hung")).unwrap(), Requeued::Pending);
        assert_eq!(q.claim(s, other, &types("a")).unwrap().map(|j| j.id), Some(id));
        let late = q.finish_and_claim(s, lost, id, JobOutcome::Done { result: "stale" }, &types("a")).unwrap();
        assert!(late.is_none());
        let job = q.job(id).unwrap();
        assert_eq!((job.status, job.worker, job.attempts, job.result), (JobStatus::Running, Some(other), 2, None));
        q.finish_and_claim(s, other, id, JobOutcome::Done { result: "fresh" }, &types("a")).unwrap();
        assert_eq!(q.job(id).unwrap().result.as_deref(), Some("fresh"));
    }

    #[test]
    fn finish_and_claim_hands_each_job_to_one_worker_across_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let host = Queue::open(&path).unwrap();
        let s = host.start_session("spec").unwrap();
        let keys: Vec<CacheKey> = (0..60).map(|i| key(&format!("k{i}"))).collect();
        let jobs: Vec<NewJob<'_>> = keys.iter().map(|k| new_job("x", 0, k)).collect();
        let mut submitted = host.submit_many(s, &jobs).unwrap();
        let handles: Vec<_> = (0..3)
            .map(|n| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let q = Queue::open(&path).unwrap();
                    let w = q.register_worker(s, &types("a"), n).unwrap();
                    let mut taken = Vec::new();
                    let mut next = q.claim(s, w, &types("a")).unwrap();
                    while let Some(job) = next {
                        taken.push(job.id);
                        next =
                            q.finish_and_claim(s, w, job.id, JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
                    }
                    taken
                })
            })
            .collect();
        let mut taken: Vec<JobId> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        taken.sort();
        submitted.sort();
        assert_eq!(taken, submitted, "every job taken exactly once");
        assert!(host.jobs(Some(s), None, 100).unwrap().iter().all(|j| j.status == JobStatus::Done && j.attempts == 1));
    }

    #[test]
    fn a_worker_shows_busy_with_its_job_and_counts_what_it_finished() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let k = key("k");
        let ids = q.submit_many(s, &[new_job("x", 0, &k), new_job("y", 0, &k), new_job("z", 0, &k)]).unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        let record = |q: &Queue| q.workers(true).unwrap().into_iter().find(|r| r.id == w).unwrap();
        assert_eq!((record(&q).status, record(&q).current_job), (WorkerStatus::Idle, None));

        q.claim(s, w, &types("a")).unwrap();
        assert_eq!((record(&q).status, record(&q).current_job), (WorkerStatus::Busy, Some(ids[0])));
        q.finish_and_claim(s, w, ids[0], JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
        let error = JobError::input("bad", None);
        q.finish_and_claim(s, w, ids[1], JobOutcome::Failed { error: &error, result: None }, &types("a")).unwrap();
        let busy = record(&q);
        assert_eq!(
            (busy.status, busy.current_job, busy.jobs_done, busy.jobs_failed),
            (WorkerStatus::Busy, Some(ids[2]), 1, 1)
        );
        q.finish_and_claim(s, w, ids[2], JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
        let idle = record(&q);
        assert_eq!((idle.status, idle.current_job, idle.jobs_done, idle.jobs_failed), (WorkerStatus::Idle, None, 2, 1));

        q.mark_worker_stopped(w).unwrap();
        assert_eq!(record(&q).status, WorkerStatus::Stopped);
        assert!(q.workers(false).unwrap().iter().all(|r| r.id != w), "a stopped worker is listed only with all");
    }

    #[test]
    fn stale_session_of_a_dead_host_is_reaped() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        q.conn.execute("UPDATE sessions SET pid=?1 WHERE id=?2", params![i32::MAX, s.0]).unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", &key("k")).unwrap();
        assert_eq!(q.reap_stale().unwrap(), 1);
        assert_eq!(q.job(id).unwrap().status, JobStatus::Cancelled);
        assert_eq!(q.sessions(1).unwrap()[0].status, SessionStatus::Crashed);
    }

    #[test]
    fn a_job_claimed_with_the_last_outcome_is_held_by_its_worker_until_it_finishes() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        let first = q.submit(s, "a", "x", 0, "{}", &key("k1")).unwrap();
        let second = q.submit(s, "a", "y", 0, "{}", &key("k2")).unwrap();
        q.claim(s, w, &types("a")).unwrap().unwrap();
        let next = q.finish_and_claim(s, w, first, JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
        assert_eq!(next.map(|j| j.id), Some(second));
        // The worker dies before saying it started `second`: the pool finds it.
        assert_eq!(q.jobs_held_by(w).unwrap(), vec![second]);
        assert_eq!(q.requeue(second, &JobError::worker("killed")).unwrap(), Requeued::Pending);
        assert!(q.jobs_held_by(w).unwrap().is_empty());
    }
}
