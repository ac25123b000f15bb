//! The SQLite job queue: the record of every build session, job and worker.
//!
//! One connection per thread (a `Queue` is not shared), WAL so readers such
//! as `clx status` never block a build, a busy timeout instead of retry loops,
//! autocommit for single statements and `BEGIN IMMEDIATE` only where a read
//! decides a write. A claim is one `UPDATE … RETURNING`, so two workers can
//! never take the same job. Every terminal state (`done`, `failed`,
//! `cancelled`) sets `finished_at`; `cancelled` is never overwritten.

use std::path::Path;
use std::time::Duration;

use crate::report::Location;
pub use crate::store::db::now;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

/// Bumped when the schema changes; an old database is recreated (the queue
/// holds no data worth migrating: the cache holds the results).
const SCHEMA_VERSION: i64 = 1;
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
            ErrorCategory::Internal => "internal",
            ErrorCategory::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> ErrorCategory {
        match s {
            "input" => ErrorCategory::Input,
            "tool" => ErrorCategory::Tool,
            "worker" => ErrorCategory::Worker,
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

    fn parse(s: &str) -> SessionStatus {
        match s {
            "running" => SessionStatus::Running,
            "done" => SessionStatus::Done,
            "interrupted" => SessionStatus::Interrupted,
            "failed" => SessionStatus::Failed,
            _ => SessionStatus::Crashed,
        }
    }
}

/// What a worker is doing, as recorded by itself and by the pool.
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

    fn parse(s: &str) -> WorkerStatus {
        match s {
            "idle" => WorkerStatus::Idle,
            "busy" => WorkerStatus::Busy,
            "stopped" => WorkerStatus::Stopped,
            _ => WorkerStatus::Dead,
        }
    }
}

/// A job a worker has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    pub payload: String,
    pub cache_key: String,
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
             error_message TEXT, error_location TEXT, error_category TEXT);
         CREATE INDEX jobs_claim ON jobs(session, status, job_type, priority DESC, id);
         CREATE TABLE workers(
             id INTEGER PRIMARY KEY, session INTEGER NOT NULL, job_types TEXT NOT NULL,
             pid INTEGER NOT NULL, status TEXT NOT NULL, heartbeat REAL NOT NULL,
             current_job INTEGER, jobs_done INTEGER NOT NULL DEFAULT 0,
             jobs_failed INTEGER NOT NULL DEFAULT 0, started_at REAL NOT NULL, stopped_at REAL);
         PRAGMA user_version = {SCHEMA_VERSION};"
    ))?;
    tx.commit()
}

const JOB_COLUMNS: &str = "id, session, job_type, source, status, attempts, worker, created_at, started_at, \
                           finished_at, error_message, error_location, error_category";

fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    let status: String = row.get(4)?;
    let message: Option<String> = row.get(10)?;
    let category: Option<String> = row.get(12)?;
    Ok(JobRecord {
        id: JobId(row.get(0)?),
        session: SessionId(row.get(1)?),
        job_type: row.get(2)?,
        source: row.get(3)?,
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Failed),
        attempts: row.get(5)?,
        worker: row.get::<_, Option<i64>>(6)?.map(WorkerId),
        created_at: row.get(7)?,
        started_at: row.get(8)?,
        finished_at: row.get(9)?,
        error: message.map(|message| JobError {
            message,
            location: row.get::<_, Option<String>>(11).ok().flatten().map(|l| Location::parse(&l)),
            category: ErrorCategory::parse(category.as_deref().unwrap_or("")),
        }),
    })
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

impl Queue {
    pub fn open(path: &Path) -> Result<Queue, QueueError> {
        let open_err = |source| QueueError::Open { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let (conn, recovered) = crate::store::db::open_rebuildable(path, migrate).map_err(open_err)?;
        Ok(Queue { conn, recovered })
    }

    // ---- sessions -------------------------------------------------------

    pub fn start_session(&self, spec: &str) -> Result<SessionId, QueueError> {
        self.conn.execute(
            "INSERT INTO sessions(spec, pid, status, started_at) VALUES (?1, ?2, 'running', ?3)",
            params![spec, std::process::id(), now()],
        )?;
        Ok(SessionId(self.conn.last_insert_rowid()))
    }

    /// End a session: whatever it left unfinished is cancelled.
    pub fn finish_session(&self, session: SessionId, status: SessionStatus) -> Result<(), QueueError> {
        self.close_session(session, status, WorkerStatus::Stopped)
    }

    fn close_session(
        &self,
        session: SessionId,
        status: SessionStatus,
        workers: WorkerStatus,
    ) -> Result<(), QueueError> {
        let t = now();
        self.conn.execute(
            "UPDATE jobs SET status='cancelled', finished_at=?2, error_message='the build ended before the job ran',
                 error_category='cancelled'
             WHERE session=?1 AND status IN ('pending','running')",
            params![session.0, t],
        )?;
        self.conn.execute(
            "UPDATE workers SET status=?3, stopped_at=?2, current_job=NULL
             WHERE session=?1 AND status NOT IN ('dead','stopped')",
            params![session.0, t, workers.as_str()],
        )?;
        self.conn.execute(
            "UPDATE sessions SET status=?2, finished_at=?3 WHERE id=?1",
            params![session.0, status.as_str(), t],
        )?;
        Ok(())
    }

    /// Close the sessions of hosts that died without finishing them (crash,
    /// `kill -9`), so their jobs and workers stop showing as running.
    pub fn reap_stale(&self) -> Result<usize, QueueError> {
        let mut stmt = self.conn.prepare("SELECT id, pid FROM sessions WHERE status='running'")?;
        let running: Vec<(i64, i64)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        let mut reaped = 0;
        for (id, pid) in running {
            if !u32::try_from(pid).is_ok_and(crate::process::alive) {
                // Its workers died with it (parent-death signal).
                self.close_session(SessionId(id), SessionStatus::Crashed, WorkerStatus::Dead)?;
                reaped += 1;
            }
        }
        Ok(reaped)
    }

    pub fn sessions(&self, limit: usize) -> Result<Vec<SessionRecord>, QueueError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, spec, pid, status, started_at, finished_at FROM sessions ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(SessionRecord {
                id: SessionId(r.get(0)?),
                spec: r.get(1)?,
                pid: r.get(2)?,
                status: SessionStatus::parse(&r.get::<_, String>(3)?),
                started_at: r.get(4)?,
                finished_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- jobs: host side -------------------------------------------------

    pub fn submit(
        &self,
        session: SessionId,
        job_type: &str,
        source: &str,
        priority: i64,
        payload: &str,
        cache_key: &str,
    ) -> Result<JobId, QueueError> {
        self.conn.execute(
            "INSERT INTO jobs(session, job_type, source, priority, status, max_attempts, payload, cache_key, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8)",
            params![session.0, job_type, source, priority, MAX_ATTEMPTS, payload, cache_key, now()],
        )?;
        Ok(JobId(self.conn.last_insert_rowid()))
    }

    pub fn job(&self, id: JobId) -> Result<JobRecord, QueueError> {
        self.conn
            .query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id=?1"), [id.0], job_from_row)
            .optional()?
            .ok_or(QueueError::NoSuchJob(id.0))
    }

    /// Jobs, newest first; all sessions when `session` is `None`.
    pub fn jobs(
        &self,
        session: Option<SessionId>,
        status: Option<JobStatus>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, QueueError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE (?1 IS NULL OR session=?1) AND (?2 IS NULL OR status=?2)
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows =
            stmt.query_map(params![session.map(|s| s.0), status.map(|s| s.as_str()), limit as i64], job_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Job counts by status.
    pub fn counts(&self, session: Option<SessionId>) -> Result<Vec<(JobStatus, i64)>, QueueError> {
        let mut out = Vec::new();
        for status in JobStatus::ALL {
            let n: i64 = self.conn.query_row(
                "SELECT count(*) FROM jobs WHERE (?1 IS NULL OR session=?1) AND status=?2",
                params![session.map(|s| s.0), status.as_str()],
                |r| r.get(0),
            )?;
            out.push((status, n));
        }
        Ok(out)
    }

    /// Creation time of the oldest pending job.
    pub fn oldest_pending(&self) -> Result<Option<f64>, QueueError> {
        Ok(self.conn.query_row("SELECT min(created_at) FROM jobs WHERE status='pending'", [], |r| r.get(0))?)
    }

    /// Cancel pending or running jobs. A running job's worker learns of it on
    /// its next heartbeat and tells its converter; the status stays
    /// `cancelled` whatever the worker reports afterwards.
    pub fn cancel(&self, ids: &[JobId]) -> Result<usize, QueueError> {
        let mut n = 0;
        for id in ids {
            n += self.conn.execute(
                "UPDATE jobs SET status='cancelled', finished_at=?2, error_message='cancelled by the user',
                     error_category='cancelled'
                 WHERE id=?1 AND status IN ('pending','running')",
                params![id.0, now()],
            )?;
        }
        Ok(n)
    }

    /// Put failed or cancelled jobs back to pending with fresh attempts.
    pub fn retry(&self, ids: &[JobId]) -> Result<usize, QueueError> {
        let mut n = 0;
        for id in ids {
            n += self.conn.execute(
                "UPDATE jobs SET status='pending', attempts=0, worker=NULL, started_at=NULL, finished_at=NULL,
                     error_message=NULL, error_location=NULL, error_category=NULL
                 WHERE id=?1 AND status IN ('failed','cancelled')",
                [id.0],
            )?;
        }
        Ok(n)
    }

    /// A lost worker's job goes back to pending, or fails for good when its
    /// attempts are used up. A cancelled job stays cancelled.
    pub fn requeue(&self, id: JobId, error: &JobError) -> Result<Requeued, QueueError> {
        let tx = self.conn.unchecked_transaction_immediate()?;
        let row: Option<(String, i64, i64)> = tx
            .query_row("SELECT status, attempts, max_attempts FROM jobs WHERE id=?1", [id.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((status, attempts, max)) = row else {
            return Err(QueueError::NoSuchJob(id.0));
        };
        let outcome = if status != "running" {
            Requeued::Terminal
        } else if attempts < max {
            tx.execute(
                "UPDATE jobs SET status='pending', worker=NULL, error_message=?2, error_location=?3, error_category=?4
                 WHERE id=?1",
                params![id.0, error.message, error.location.map(|l| l.to_string()), error.category.as_str()],
            )?;
            Requeued::Pending
        } else {
            let message = format!("{} (gave up after {attempts} attempts)", error.message);
            tx.execute(
                "UPDATE jobs SET status='failed', finished_at=?2, error_message=?3, error_location=?4, error_category=?5
                 WHERE id=?1",
                params![id.0, now(), message, error.location.map(|l| l.to_string()), error.category.as_str()],
            )?;
            Requeued::Terminal
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Fail every pending job of these types (their workers cannot start).
    pub fn fail_pending(
        &self,
        session: SessionId,
        job_types: &[String],
        error: &JobError,
    ) -> Result<Vec<JobId>, QueueError> {
        let sql = format!(
            "UPDATE jobs SET status='failed', finished_at=?, error_message=?, error_location=?, error_category=?
             WHERE session=? AND status='pending' AND job_type IN ({}) RETURNING id",
            placeholders(job_types.len())
        );
        let mut values: Vec<rusqlite::types::Value> = vec![
            now().into(),
            error.message.clone().into(),
            error.location.map(|l| l.to_string()).into(),
            error.category.as_str().to_owned().into(),
            session.0.into(),
        ];
        values.extend(job_types.iter().map(|t| t.clone().into()));
        let mut stmt = self.conn.prepare(&sql)?;
        let ids = stmt.query_map(params_from_iter(values), |r| Ok(JobId(r.get(0)?)))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    // ---- jobs: worker side -------------------------------------------------

    /// Take the next pending job of these types: one statement, so two
    /// workers never get the same job.
    pub fn claim(
        &self,
        session: SessionId,
        worker: WorkerId,
        job_types: &[String],
    ) -> Result<Option<ClaimedJob>, QueueError> {
        let sql = format!(
            "UPDATE jobs SET status='running', worker=?, attempts=attempts+1, started_at=?
             WHERE id = (SELECT id FROM jobs WHERE session=? AND status='pending' AND job_type IN ({})
                         ORDER BY priority DESC, id LIMIT 1)
             RETURNING id, payload, cache_key",
            placeholders(job_types.len())
        );
        let mut values: Vec<rusqlite::types::Value> = vec![worker.0.into(), now().into(), session.0.into()];
        values.extend(job_types.iter().map(|t| t.clone().into()));
        let job = self
            .conn
            .query_row(&sql, params_from_iter(values), |r| {
                Ok(ClaimedJob { id: JobId(r.get(0)?), payload: r.get(1)?, cache_key: r.get(2)? })
            })
            .optional()?;
        let (status, current) = match &job {
            Some(j) => (WorkerStatus::Busy, Some(j.id.0)),
            None => (WorkerStatus::Idle, None),
        };
        self.conn.execute(
            "UPDATE workers SET status=?2, current_job=?3, heartbeat=?4 WHERE id=?1 AND status NOT IN ('dead','stopped')",
            params![worker.0, status.as_str(), current, now()],
        )?;
        Ok(job)
    }

    pub fn complete(&self, id: JobId, worker: WorkerId) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE jobs SET status='done', finished_at=?3, error_message=NULL, error_location=NULL, error_category=NULL
             WHERE id=?1 AND worker=?2 AND status='running'",
            params![id.0, worker.0, now()],
        )?;
        self.conn.execute("UPDATE workers SET jobs_done=jobs_done+1 WHERE id=?1", [worker.0])?;
        Ok(())
    }

    /// A converter error is terminal at once: running the same input again
    /// gives the same error.
    pub fn fail(&self, id: JobId, worker: WorkerId, error: &JobError) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE jobs SET status='failed', finished_at=?3, error_message=?4, error_location=?5, error_category=?6
             WHERE id=?1 AND worker=?2 AND status='running'",
            params![
                id.0,
                worker.0,
                now(),
                error.message,
                error.location.map(|l| l.to_string()),
                error.category.as_str()
            ],
        )?;
        self.conn.execute("UPDATE workers SET jobs_failed=jobs_failed+1 WHERE id=?1", [worker.0])?;
        Ok(())
    }

    // ---- workers -----------------------------------------------------------

    pub fn register_worker(&self, session: SessionId, job_types: &[String], pid: u32) -> Result<WorkerId, QueueError> {
        let t = now();
        self.conn.execute(
            "INSERT INTO workers(session, job_types, pid, status, heartbeat, started_at) VALUES (?1, ?2, ?3, 'idle', ?4, ?4)",
            params![session.0, job_types.join(","), pid, t],
        )?;
        Ok(WorkerId(self.conn.last_insert_rowid()))
    }

    /// Record that the worker is alive. Returns `false` when its current job
    /// is no longer wanted (cancelled), so the converter can stop early.
    pub fn heartbeat(&self, worker: WorkerId, job: Option<JobId>) -> Result<bool, QueueError> {
        self.conn.execute("UPDATE workers SET heartbeat=?2 WHERE id=?1", params![worker.0, now()])?;
        let Some(job) = job else { return Ok(true) };
        let status: Option<String> =
            self.conn.query_row("SELECT status FROM jobs WHERE id=?1", [job.0], |r| r.get(0)).optional()?;
        Ok(status.as_deref() == Some("running"))
    }

    pub fn heartbeat_age(&self, worker: WorkerId) -> Result<Option<Duration>, QueueError> {
        let beat: Option<f64> =
            self.conn.query_row("SELECT heartbeat FROM workers WHERE id=?1", [worker.0], |r| r.get(0)).optional()?;
        Ok(beat.map(|b| Duration::from_secs_f64((now() - b).max(0.0))))
    }

    pub fn mark_worker_dead(&self, worker: WorkerId) -> Result<(), QueueError> {
        self.set_worker_status(worker, WorkerStatus::Dead)
    }

    pub fn mark_worker_stopped(&self, worker: WorkerId) -> Result<(), QueueError> {
        self.set_worker_status(worker, WorkerStatus::Stopped)
    }

    fn set_worker_status(&self, worker: WorkerId, status: WorkerStatus) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE workers SET status=?2, stopped_at=?3, current_job=NULL WHERE id=?1",
            params![worker.0, status.as_str(), now()],
        )?;
        Ok(())
    }

    /// Workers, live ones first; stopped and dead ones of finished sessions
    /// only with `all`.
    pub fn workers(&self, all: bool) -> Result<Vec<WorkerRecord>, QueueError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, session, job_types, pid, status, heartbeat, current_job, jobs_done, jobs_failed, started_at
             FROM workers WHERE ?1 OR status NOT IN ('dead','stopped') ORDER BY id DESC LIMIT 500",
        )?;
        let rows = stmt.query_map([all], |r| {
            let types: String = r.get(2)?;
            Ok(WorkerRecord {
                id: WorkerId(r.get(0)?),
                session: SessionId(r.get(1)?),
                job_types: types.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                pid: r.get(3)?,
                status: WorkerStatus::parse(&r.get::<_, String>(4)?),
                heartbeat: r.get(5)?,
                current_job: r.get::<_, Option<i64>>(6)?.map(JobId),
                jobs_done: r.get(7)?,
                jobs_failed: r.get(8)?,
                started_at: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

trait ImmediateTransaction {
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
        let low = q.submit(s, "a", "x", 0, "{}", "k1").unwrap();
        let high = q.submit(s, "a", "y", 5, "{}", "k2").unwrap();
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
        q.submit(s1, "a", "x", 0, "{}", "k").unwrap();
        let w = q.register_worker(s2, &types("a"), 1).unwrap();
        assert!(q.claim(s2, w, &types("a")).unwrap().is_none());
    }

    #[test]
    fn cancelled_job_stays_cancelled_when_its_worker_reports() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", "k").unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        q.claim(s, w, &types("a")).unwrap();
        assert_eq!(q.cancel(&[id]).unwrap(), 1);
        assert!(!q.heartbeat(w, Some(id)).unwrap(), "the worker learns its job is unwanted");
        q.complete(id, w).unwrap();
        q.fail(id, w, &JobError::internal("late")).unwrap();
        assert_eq!(q.requeue(id, &JobError::worker("lost")).unwrap(), Requeued::Terminal);
        let job = q.job(id).unwrap();
        assert_eq!(job.status, JobStatus::Cancelled);
        assert!(job.finished_at.is_some());
    }

    #[test]
    fn lost_worker_requeues_until_attempts_are_used_up() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", "k").unwrap();
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
        let done = q.submit(s, "a", "x", 0, "{}", "k").unwrap();
        q.claim(s, w, &types("a")).unwrap();
        q.complete(done, w).unwrap();
        let failed = q.submit(s, "a", "y", 0, "{}", "k").unwrap();
        q.claim(s, w, &types("a")).unwrap();
        q.fail(failed, w, &JobError::input("bad", Some(Location::line(3)))).unwrap();
        let left = q.submit(s, "a", "z", 0, "{}", "k").unwrap();
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
    fn retry_makes_a_failed_job_pending_again() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        let w = q.register_worker(s, &types("a"), 1).unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", "k").unwrap();
        q.claim(s, w, &types("a")).unwrap();
        q.fail(id, w, &JobError::input("bad", None)).unwrap();
        assert_eq!(q.retry(&[id]).unwrap(), 1);
        let job = q.job(id).unwrap();
        assert_eq!((job.status, job.attempts, job.error.is_none()), (JobStatus::Pending, 0, true));
    }

    #[test]
    fn stale_session_of_a_dead_host_is_reaped() {
        let (_d, q) = queue();
        let s = q.start_session("spec").unwrap();
        q.conn.execute("UPDATE sessions SET pid=?1 WHERE id=?2", params![i32::MAX, s.0]).unwrap();
        let id = q.submit(s, "a", "x", 0, "{}", "k").unwrap();
        assert_eq!(q.reap_stale().unwrap(), 1);
        assert_eq!(q.job(id).unwrap().status, JobStatus::Cancelled);
        assert_eq!(q.sessions(1).unwrap()[0].status, SessionStatus::Crashed);
    }
}
