//! The job queue in PostgreSQL: the same record as the SQLite queue, plus
//! what workers on other machines need.
//!
//! * A claim is one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)`:
//!   many workers claim side by side without waiting on each other's rows.
//!   A worker's outcome and its next claim are one statement, prepared once
//!   per connection: one round trip per job, writing the jobs' rows alone
//!   (what a worker holds and finished is read from the jobs).
//! * A claim is a lease: the worker's heartbeat extends it, and a job whose
//!   lease ran out (its worker was killed, stopped, or cut off) is claimed
//!   again by another worker once no job is pending for it. Every outcome
//!   is written only `WHERE worker = me AND status = 'running'`, so a worker
//!   that comes back late finds its job taken and its result is dropped.
//! * A remote worker claims only jobs whose requirement (job type and the
//!   plugin library's hash) it meets, and refuses, once, a job whose tool
//!   identity differs from its own; the job then waits for another worker.
//! * New work is announced on `clx_jobs`, finished work on
//!   `clx_session_<id>`: workers and hosts sleep until told.
//!
//! [`PgConn::with`] runs a statement again after a reconnect, and the
//! first run may have committed with only its reply lost. What a second
//! run does, statement by statement:
//!
//! * A claim (alone, with an outcome, or a remote worker's) and a
//!   submission would do their work twice: a second job claimed, a session's
//!   jobs inserted twice. Each carries a token made once per call and kept
//!   over its tries, written into the rows it writes; a try after the
//!   first looks for those rows before it does anything (a claim: the job
//!   running under this worker with its token; a submission: the session's
//!   jobs with its token). The token is a counter of this process: only the
//!   process that registered a worker claims for it, and only the host of
//!   a session submits to it. The extra look costs only tries after a
//!   reconnect, never the first.
//! * An outcome, a heartbeat's hold, `refuse`, `fail_running` and
//!   `cancel` are fenced by the status they change (and the worker): the
//!   second run changes nothing. `cancel` then counts fewer jobs than it
//!   cancelled.
//! * `requeue` and `release` are fenced the same way; the second run finds
//!   the job pending and reads [`Requeued::Elsewhere`], which every caller
//!   treats as "not ended", as it is; the announcement of the pending job
//!   was sent by the first run.
//! * `retry`, `fail_pending` and `expire_leases` change only jobs in the
//!   state they leave behind: the second run finds none and returns fewer
//!   than were changed; a host learns of jobs failed that way by its
//!   polling of settled jobs.
//! * Heartbeats, progress, ending a worker or a session, reaping: the same
//!   values written again.
//! * Starting a session or registering a worker inserts a second row; the
//!   first, never used, is reaped like any host or worker that stopped
//!   beating.

use postgres::types::ToSql;
use postgres::Row;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{hostname, PgClient, PgConn, PgError, PgUrl, NOW};
use crate::report::Location;
use crate::store::entry::CacheKey;
use crate::store::error::QueueError;
use crate::store::job::{ClaimedJob, NewJob};
use crate::store::queue::{requirement, FinishedFeed, Handover, Queue, SharedQueue};
use crate::store::record::{
    ErrorCategory, JobError, JobId, JobOutcome, JobRecord, JobStatus, Requeued, ServerRecord, SessionId, SessionRecord,
    SessionStatus, WorkerId, WorkerRecord, WorkerStatus, MAX_ATTEMPTS,
};

/// How long a claim holds without a heartbeat.
pub const LEASE_SECS: f64 = 15.0;
/// A host that has not beaten for this long is gone; its session is closed
/// by the next host.
const SESSION_STALE_SECS: f64 = 60.0;
/// How long the row of a worker that ended stays for `clx workers list`.
const WORKER_ROW_KEPT_SECS: f64 = 86400.0;
/// Announces new pending jobs to every listening worker.
pub const JOBS_CHANNEL: &str = "clx_jobs";

/// What a session's channel is named by, before the session's id.
const SESSION_CHANNEL: &str = "clx_session_";

/// The channel on which a session's finished jobs are announced.
pub fn session_channel(session: SessionId) -> String {
    format!("{SESSION_CHANNEL}{}", session.0)
}

/// What a build's own worker claims: its session's jobs of its types.
const SESSION_FILTER: &str = "j.session = $9 AND j.job_type = ANY($10)";
/// What a remote worker claims: jobs whose requirement it meets, of a
/// build still running.
const SHARED_FILTER: &str = "j.requirement = ANY($9) \
     AND EXISTS (SELECT 1 FROM clx_sessions s WHERE s.id = j.session AND s.status = 'running')";

const JOB_COLUMNS: &str = "id, session, job_type, source, status, attempts, worker, created_at, started_at, \
                           finished_at, error_message, error_location, error_category, result, progress";

fn job_from_row(row: &Row) -> JobRecord {
    let status: String = row.get(4);
    let message: Option<String> = row.get(10);
    let location: Option<String> = row.get(11);
    let category: Option<String> = row.get(12);
    JobRecord {
        id: JobId(row.get(0)),
        session: SessionId(row.get(1)),
        job_type: row.get(2),
        source: row.get(3),
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Failed),
        attempts: row.get(5),
        worker: row.get::<_, Option<i64>>(6).map(WorkerId),
        created_at: row.get(7),
        started_at: row.get(8),
        finished_at: row.get(9),
        error: message.map(|message| JobError {
            message,
            location: location.map(|l| Location::parse(&l)),
            category: ErrorCategory::parse(category.as_deref().unwrap_or("")),
        }),
        result: row.get(13),
        progress: row.get(14),
    }
}

fn location(error: &JobError) -> Option<String> {
    error.location.map(|l| l.to_string())
}

/// The queue in a PostgreSQL database.
pub struct PgQueue {
    conn: PgConn,
}

impl PgQueue {
    /// Connect, and bring the schema up to date.
    pub fn open(url: &PgUrl) -> Result<PgQueue, QueueError> {
        Ok(PgQueue { conn: PgConn::open(url)? })
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, QueueError> {
        Ok(self.conn.with(|c| c.execute(sql, params))?)
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, QueueError> {
        Ok(self.conn.with(|c| c.query(sql, params))?)
    }

    fn close_session(
        &self,
        session: SessionId,
        status: SessionStatus,
        workers: WorkerStatus,
    ) -> Result<(), QueueError> {
        self.conn.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                &format!(
                    "UPDATE clx_jobs SET status='cancelled', finished_at={NOW},
                         error_message='the build ended before the job ran', error_category='cancelled'
                     WHERE session=$1 AND status IN ('pending','running')"
                ),
                &[&session.0],
            )?;
            tx.execute(
                &format!(
                    "UPDATE clx_workers SET status=$2, stopped_at={NOW}
                     WHERE session=$1 AND status NOT IN ('dead','stopped')"
                ),
                &[&session.0, &workers.as_str()],
            )?;
            tx.execute(
                &format!("UPDATE clx_sessions SET status=$2, finished_at={NOW} WHERE id=$1"),
                &[&session.0, &status.as_str()],
            )?;
            tx.commit()
        })?;
        Ok(())
    }

    /// Record `finished` (when given) and claim by `filter` with its
    /// parameters `extra`. The claim is numbered once, before the first
    /// try: a try after a lost reply first looks for the job that number
    /// already took (see the module doc).
    fn settle_and_claim(
        &self,
        worker: WorkerId,
        finished: Option<(JobId, &JobOutcome<'_>)>,
        filter: &str,
        extra: &[&(dyn ToSql + Sync)],
    ) -> Result<Handover, QueueError> {
        let token = Token::next();
        let (ended, next) = self.conn.with_once(
            |c| claimed_before(c, worker, token, finished.map(|(id, _)| id)),
            |c| settle(c, worker, finished, Some((filter, token, extra))),
        )?;
        Ok(Handover { ended, next: next.map(|(id, payload, key)| ClaimedJob::decode(id, &payload, key)) })
    }

    fn insert_worker(
        &self,
        session: Option<SessionId>,
        job_types: &[String],
        requirements: &[String],
        capabilities: &str,
        pid: u32,
    ) -> Result<WorkerId, QueueError> {
        let rows = self.query(
            &format!(
                "INSERT INTO clx_workers(session, host, job_types, requirements, capabilities, pid, status,
                     heartbeat, started_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'idle', {NOW}, {NOW}) RETURNING id"
            ),
            &[&session.map(|s| s.0), &hostname(), &job_types, &requirements, &capabilities, &i64::from(pid)],
        )?;
        Ok(WorkerId(rows[0].get(0)))
    }

    /// A running job back to pending, or failed for good with its attempts
    /// used up; with `holder`, only while that worker still holds it.
    /// The announcement of a job back to pending is part of the statement
    /// that puts it back: run again after a lost reply, that statement
    /// finds the job pending and changes nothing, and the first run's
    /// announcement went out with its commit.
    fn requeue_held(&self, id: JobId, holder: Option<WorkerId>, error: &JobError) -> Result<Requeued, QueueError> {
        let rows = self.query(
            &format!(
                "WITH requeued AS (
                     UPDATE clx_jobs SET
                         status = CASE WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END,
                         finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE {NOW} END,
                         error_message = CASE WHEN attempts < max_attempts THEN $2
                                         ELSE $2 || ' (gave up after ' || attempts || ' attempts)' END,
                         error_location=$3, error_category=$4, worker=NULL, lease_until=NULL
                     WHERE id=$1 AND status='running' AND ($5::BIGINT IS NULL OR worker=$5) RETURNING status)
                 SELECT r.status,
                     (SELECT count(pg_notify('{JOBS_CHANNEL}', '')) FROM requeued p WHERE p.status = 'pending')
                 FROM requeued r"
            ),
            &[&id.0, &error.message, &location(error), &error.category.as_str(), &holder.map(|w| w.0)],
        )?;
        match rows.first().map(|r| r.get::<_, String>(0)) {
            Some(s) if s == "pending" => Ok(Requeued::Pending),
            Some(_) => Ok(Requeued::Terminal),
            None if self.job(id)?.status.is_terminal() => Ok(Requeued::Terminal),
            None => Ok(Requeued::Elsewhere),
        }
    }

    fn listen_for_session(&self, session: SessionId) -> Result<(), QueueError> {
        Ok(self.conn.listen(&session_channel(session))?)
    }

    /// Job ids announced finished on the session channel within `timeout`.
    fn wait_finished(&self, timeout: Duration) -> Result<Vec<JobId>, QueueError> {
        Ok(self.conn.wait_notified(timeout)?.iter().filter_map(|p| p.parse().ok()).map(JobId).collect())
    }
}

impl Queue for PgQueue {
    fn describe(&self) -> String {
        self.conn.url().to_string()
    }

    fn shared(&self) -> Option<&dyn SharedQueue> {
        Some(self)
    }

    /// A connection of its own listens on the session's channel.
    fn announce_finished(
        &self,
        session: SessionId,
        on_finished: Box<dyn Fn(JobId) -> bool + Send>,
    ) -> Result<Option<FinishedFeed>, QueueError> {
        let queue = PgQueue::open(self.conn.url())?;
        queue.listen_for_session(session)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("listen".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match queue.wait_finished(Duration::from_millis(250)) {
                        Ok(ids) => {
                            if !ids.into_iter().all(&on_finished) {
                                return;
                            }
                        }
                        // The build loop also polls; a broken listener only
                        // makes it slower, never wrong.
                        Err(e) => {
                            tracing::warn!("{e}");
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
            })
            .map_err(|e| PgError::Connect {
                target: self.conn.url().target(),
                message: format!("cannot start the listener thread: {e}"),
            })?;
        let mut handle = Some(handle);
        Ok(Some(FinishedFeed::new(move || {
            stop.store(true, Ordering::Relaxed);
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        })))
    }

    fn start_session(&self, spec: &str) -> Result<SessionId, QueueError> {
        let pid = i64::from(std::process::id());
        let rows = self.query(
            &format!(
                "INSERT INTO clx_sessions(spec, host, pid, status, started_at, heartbeat)
                 VALUES ($1, $2, $3, 'running', {NOW}, {NOW}) RETURNING id"
            ),
            &[&spec, &hostname(), &pid],
        )?;
        Ok(SessionId(rows[0].get(0)))
    }

    fn keep_session_alive(&self, session: SessionId) -> Result<(), QueueError> {
        self.execute(&format!("UPDATE clx_sessions SET heartbeat={NOW} WHERE id=$1"), &[&session.0])?;
        Ok(())
    }

    fn finish_session(&self, session: SessionId, status: SessionStatus) -> Result<(), QueueError> {
        self.close_session(session, status, WorkerStatus::Stopped)
    }

    fn reap_stale(&self) -> Result<usize, QueueError> {
        let rows = self.query(
            &format!("SELECT id FROM clx_sessions WHERE status='running' AND heartbeat < {NOW} - $1"),
            &[&SESSION_STALE_SECS],
        )?;
        for row in &rows {
            self.close_session(SessionId(row.get(0)), SessionStatus::Crashed, WorkerStatus::Dead)?;
        }
        // A worker of any machine that has not beaten for a lease period is
        // gone (killed, its machine lost): its jobs are claimed again by
        // then, and `clx status` must not call a shared queue unhealthy for
        // ever. A day later its row is removed.
        self.execute(
            &format!(
                "UPDATE clx_workers SET status='dead', stopped_at={NOW}
                 WHERE status NOT IN ('dead','stopped') AND heartbeat < {NOW} - {LEASE_SECS}"
            ),
            &[],
        )?;
        self.execute(
            &format!(
                "DELETE FROM clx_workers WHERE status IN ('dead','stopped') AND stopped_at < {NOW} - {WORKER_ROW_KEPT_SECS}"
            ),
            &[],
        )?;
        Ok(rows.len())
    }

    fn sessions(&self, limit: usize) -> Result<Vec<SessionRecord>, QueueError> {
        let rows = self.query(
            "SELECT id, spec, pid, status, started_at, finished_at FROM clx_sessions ORDER BY id DESC LIMIT $1",
            &[&(limit as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| SessionRecord {
                id: SessionId(r.get(0)),
                spec: r.get(1),
                pid: r.get(2),
                status: SessionStatus::parse(&r.get::<_, String>(3)),
                started_at: r.get(4),
                finished_at: r.get(5),
            })
            .collect())
    }

    fn submit_many(&self, session: SessionId, jobs: &[NewJob<'_>]) -> Result<Vec<JobId>, QueueError> {
        let requirements: Vec<String> =
            jobs.iter().map(|j| requirement(j.job_type, &j.payload.plugin_library)).collect();
        let payloads = jobs.iter().map(|job| job.payload.encode()).collect::<Result<Vec<_>, _>>()?;
        let types: Vec<&str> = jobs.iter().map(|j| j.job_type).collect();
        let sources: Vec<&str> = jobs.iter().map(|j| j.source).collect();
        let priorities: Vec<i64> = jobs.iter().map(|j| j.priority).collect();
        let keys: Vec<&str> = jobs.iter().map(|j| j.cache_key.as_str()).collect();
        // One statement for the whole plan. Ids come from a sequence in the
        // order the rows are inserted, which is the arrays' order, so the
        // sorted ids are the jobs' ids in order.
        let token = Token::next();
        let inserted_before = |c: &mut PgClient| {
            let rows =
                c.query("SELECT id FROM clx_jobs WHERE session=$1 AND submit_token=$2", &[&session.0, &token.0])?;
            Ok((!rows.is_empty()).then_some(rows))
        };
        let rows = self.conn.with_once(inserted_before, |c| {
            c.query(
                &format!(
                    "WITH inserted AS (
                         INSERT INTO clx_jobs(session, job_type, source, priority, status, max_attempts, payload,
                             cache_key, requirement, created_at, submit_token)
                         SELECT $1, t.job_type, t.source, t.priority, 'pending', $2, t.payload, t.cache_key,
                             t.requirement, {NOW}, $9
                         FROM unnest($3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[], $8::TEXT[])
                             WITH ORDINALITY AS t(job_type, source, priority, payload, cache_key, requirement, n)
                         ORDER BY t.n
                         RETURNING id),
                     announced AS (SELECT pg_notify('{JOBS_CHANNEL}', ''))
                     SELECT i.id FROM inserted i, announced"
                ),
                &[&session.0, &MAX_ATTEMPTS, &types, &sources, &priorities, &payloads, &keys, &requirements, &token.0],
            )
        })?;
        let mut ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort_unstable();
        Ok(ids.into_iter().map(JobId).collect())
    }

    fn job(&self, id: JobId) -> Result<JobRecord, QueueError> {
        let rows = self.query(&format!("SELECT {JOB_COLUMNS} FROM clx_jobs WHERE id=$1"), &[&id.0])?;
        rows.first().map(job_from_row).ok_or(QueueError::NoSuchJob(id.0))
    }

    fn jobs(
        &self,
        session: Option<SessionId>,
        status: Option<JobStatus>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, QueueError> {
        let rows = self.query(
            &format!(
                "SELECT {JOB_COLUMNS} FROM clx_jobs
                 WHERE ($1::BIGINT IS NULL OR session=$1) AND ($2::TEXT IS NULL OR status=$2)
                 ORDER BY id DESC LIMIT $3"
            ),
            &[&session.map(|s| s.0), &status.map(|s| s.as_str()), &(limit as i64)],
        )?;
        Ok(rows.iter().map(job_from_row).collect())
    }

    fn counts(&self, session: Option<SessionId>) -> Result<Vec<(JobStatus, i64)>, QueueError> {
        let rows = self.query(
            "SELECT status, count(*) FROM clx_jobs WHERE ($1::BIGINT IS NULL OR session=$1) GROUP BY status",
            &[&session.map(|s| s.0)],
        )?;
        Ok(JobStatus::ALL
            .into_iter()
            .map(|st| {
                let n = rows.iter().find(|r| r.get::<_, String>(0) == st.as_str()).map(|r| r.get(1)).unwrap_or(0);
                (st, n)
            })
            .collect())
    }

    fn oldest_pending(&self) -> Result<Option<f64>, QueueError> {
        Ok(self.query("SELECT min(created_at) FROM clx_jobs WHERE status='pending'", &[])?[0].get(0))
    }

    fn cancel(&self, ids: &[JobId]) -> Result<usize, QueueError> {
        let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
        Ok(self.execute(
            &format!(
                "UPDATE clx_jobs SET status='cancelled', finished_at={NOW}, error_message='cancelled by the user',
                     error_category='cancelled'
                 WHERE id = ANY($1) AND status IN ('pending','running')"
            ),
            &[&ids],
        )? as usize)
    }

    fn retry(&self, ids: &[JobId]) -> Result<usize, QueueError> {
        let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
        let n = self.execute(
            "UPDATE clx_jobs SET status='pending', attempts=0, worker=NULL, started_at=NULL, finished_at=NULL,
                 lease_until=NULL, refused_by='{}', error_message=NULL, error_location=NULL, error_category=NULL,
                 result=NULL
             WHERE id = ANY($1) AND status IN ('failed','cancelled')",
            &[&ids],
        )?;
        self.execute(&format!("NOTIFY {JOBS_CHANNEL}"), &[])?;
        Ok(n as usize)
    }

    fn requeue(&self, id: JobId, error: &JobError) -> Result<Requeued, QueueError> {
        self.requeue_held(id, None, error)
    }

    fn release(&self, id: JobId, worker: WorkerId, error: &JobError) -> Result<Requeued, QueueError> {
        self.requeue_held(id, Some(worker), error)
    }

    fn fail_running(&self, id: JobId, error: &JobError) -> Result<(), QueueError> {
        self.execute(
            &format!(
                "UPDATE clx_jobs SET status='failed', finished_at={NOW}, error_message=$2, error_location=$3,
                     error_category=$4, result=NULL
                 WHERE id=$1 AND status='running'"
            ),
            &[&id.0, &error.message, &location(error), &error.category.as_str()],
        )?;
        Ok(())
    }

    fn fail_pending(
        &self,
        session: SessionId,
        job_types: &[String],
        error: &JobError,
    ) -> Result<Vec<JobId>, QueueError> {
        let rows = self.query(
            &format!(
                "UPDATE clx_jobs SET status='failed', finished_at={NOW}, error_message=$3, error_location=$4,
                     error_category=$5
                 WHERE session=$1 AND status='pending' AND job_type = ANY($2) RETURNING id"
            ),
            &[&session.0, &job_types, &error.message, &location(error), &error.category.as_str()],
        )?;
        Ok(rows.iter().map(|r| JobId(r.get(0))).collect())
    }

    fn jobs_held_by(&self, worker: WorkerId) -> Result<Vec<JobId>, QueueError> {
        let rows = self.query("SELECT id FROM clx_jobs WHERE worker=$1 AND status='running'", &[&worker.0])?;
        Ok(rows.iter().map(|r| JobId(r.get(0))).collect())
    }

    fn settled_among(&self, ids: &[JobId]) -> Result<Vec<JobId>, QueueError> {
        let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
        let rows = self
            .query("SELECT id FROM clx_jobs WHERE id = ANY($1) AND status IN ('done','failed','cancelled')", &[&ids])?;
        Ok(rows.iter().map(|r| JobId(r.get(0))).collect())
    }

    fn progress_among(&self, ids: &[JobId]) -> Result<Vec<(JobId, String)>, QueueError> {
        let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
        let rows = self.query(
            "SELECT id, progress FROM clx_jobs WHERE id = ANY($1) AND status='running' AND progress IS NOT NULL",
            &[&ids],
        )?;
        Ok(rows.iter().map(|r| (JobId(r.get(0)), r.get(1))).collect())
    }

    fn expire_leases(&self, session: SessionId) -> Result<Vec<JobId>, QueueError> {
        let rows = self.query(
            &format!(
                "UPDATE clx_jobs SET status='failed', finished_at={NOW}, error_category='worker', result=NULL,
                     error_message='its worker stopped answering (gave up after ' || attempts || ' attempts)'
                 WHERE session=$1 AND status='running' AND lease_until < {NOW} AND attempts >= max_attempts
                 RETURNING id"
            ),
            &[&session.0],
        )?;
        Ok(rows.iter().map(|r| JobId(r.get(0))).collect())
    }

    fn unserved(&self, session: SessionId) -> Result<Vec<(String, i64)>, QueueError> {
        let rows = self.query(
            &format!(
                "SELECT j.job_type, count(*) FROM clx_jobs j
                 WHERE j.session=$1 AND j.status='pending' AND NOT EXISTS (
                     SELECT 1 FROM clx_workers w
                     WHERE w.status IN ('idle','busy') AND w.heartbeat > {NOW} - $2
                       AND NOT (w.id = ANY(j.refused_by))
                       AND ((w.session = j.session AND j.job_type = ANY(w.job_types))
                            OR (w.session IS NULL AND j.requirement = ANY(w.requirements))))
                 GROUP BY j.job_type ORDER BY j.job_type"
            ),
            &[&session.0, &LEASE_SECS],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn claim(
        &self,
        session: SessionId,
        worker: WorkerId,
        job_types: &[String],
    ) -> Result<Option<ClaimedJob>, QueueError> {
        Ok(self.settle_and_claim(worker, None, SESSION_FILTER, &[&session.0, &job_types])?.next)
    }

    fn finish(&self, id: JobId, worker: WorkerId, outcome: JobOutcome<'_>) -> Result<(), QueueError> {
        self.conn.with(|c| settle(c, worker, Some((id, &outcome)), None))?;
        Ok(())
    }

    fn hand_over(
        &self,
        session: SessionId,
        worker: WorkerId,
        id: JobId,
        outcome: JobOutcome<'_>,
        job_types: &[String],
    ) -> Result<Handover, QueueError> {
        self.settle_and_claim(worker, Some((id, &outcome)), SESSION_FILTER, &[&session.0, &job_types])
    }

    fn register_worker(&self, session: SessionId, job_types: &[String], pid: u32) -> Result<WorkerId, QueueError> {
        self.insert_worker(Some(session), job_types, &[], "", pid)
    }

    fn heartbeat(&self, worker: WorkerId, job: Option<JobId>) -> Result<bool, QueueError> {
        // A worker recorded gone while it was merely paused (SIGSTOP, a
        // suspended machine) is back.
        self.execute(
            &format!(
                "UPDATE clx_workers SET heartbeat={NOW},
                     stopped_at = CASE WHEN status='dead' THEN NULL ELSE stopped_at END,
                     status = CASE WHEN status='dead' THEN 'idle' ELSE status END
                 WHERE id=$1"
            ),
            &[&worker.0],
        )?;
        let Some(job) = job else { return Ok(true) };
        let held = self.execute(
            &format!(
                "UPDATE clx_jobs SET lease_until={NOW} + {LEASE_SECS}
                 WHERE id=$1 AND worker=$2 AND status='running'"
            ),
            &[&job.0, &worker.0],
        )?;
        Ok(held == 1)
    }

    fn set_progress(&self, id: JobId, message: &str) -> Result<(), QueueError> {
        self.execute("UPDATE clx_jobs SET progress=$2 WHERE id=$1", &[&id.0, &message])?;
        Ok(())
    }

    fn heartbeat_age(&self, worker: WorkerId) -> Result<Option<Duration>, QueueError> {
        let rows = self.query(&format!("SELECT {NOW} - heartbeat FROM clx_workers WHERE id=$1"), &[&worker.0])?;
        Ok(rows.first().map(|r| Duration::from_secs_f64(r.get::<_, f64>(0).max(0.0))))
    }

    fn end_worker(&self, worker: WorkerId, status: WorkerStatus) -> Result<(), QueueError> {
        self.execute(
            &format!("UPDATE clx_workers SET status=$2, stopped_at={NOW} WHERE id=$1"),
            &[&worker.0, &status.as_str()],
        )?;
        Ok(())
    }

    fn workers(&self, all: bool) -> Result<Vec<WorkerRecord>, QueueError> {
        // What each worker holds and finished, from one pass over the jobs:
        // `clx workers list` runs rarely, claims and outcomes once per job.
        let rows = self.query(
            "SELECT w.id, w.session, w.job_types, w.pid,
                 CASE WHEN w.status IN ('dead','stopped') THEN w.status
                      WHEN h.current IS NOT NULL THEN 'busy' ELSE 'idle' END,
                 w.heartbeat, CASE WHEN w.status IN ('dead','stopped') THEN NULL ELSE h.current END,
                 coalesce(h.done, 0), coalesce(h.failed, 0), w.started_at
             FROM clx_workers w LEFT JOIN (
                 SELECT worker, max(id) FILTER (WHERE status = 'running') AS current,
                        count(*) FILTER (WHERE status = 'done') AS done,
                        count(*) FILTER (WHERE status = 'failed') AS failed
                 FROM clx_jobs WHERE worker IS NOT NULL GROUP BY worker) h ON h.worker = w.id
             WHERE $1 OR w.status NOT IN ('dead','stopped') ORDER BY w.id DESC LIMIT 500",
            &[&all],
        )?;
        Ok(rows
            .iter()
            .map(|r| WorkerRecord {
                id: WorkerId(r.get(0)),
                session: SessionId(r.get::<_, Option<i64>>(1).unwrap_or(0)),
                job_types: r.get(2),
                pid: r.get(3),
                status: WorkerStatus::parse(&r.get::<_, String>(4)),
                heartbeat: r.get(5),
                current_job: r.get::<_, Option<i64>>(6).map(JobId),
                jobs_done: r.get(7),
                jobs_failed: r.get(8),
                started_at: r.get(9),
            })
            .collect())
    }
}

impl SharedQueue for PgQueue {
    fn claim_any(&self, worker: WorkerId, requirements: &[String]) -> Result<Option<ClaimedJob>, QueueError> {
        Ok(self.settle_and_claim(worker, None, SHARED_FILTER, &[&requirements])?.next)
    }

    fn hand_over_any(
        &self,
        worker: WorkerId,
        id: JobId,
        outcome: JobOutcome<'_>,
        requirements: &[String],
    ) -> Result<Handover, QueueError> {
        self.settle_and_claim(worker, Some((id, &outcome)), SHARED_FILTER, &[&requirements])
    }

    fn refuse(&self, id: JobId, worker: WorkerId) -> Result<(), QueueError> {
        self.conn.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "UPDATE clx_jobs SET status='pending', worker=NULL, lease_until=NULL, attempts=attempts-1,
                     refused_by=array_append(refused_by, $2)
                 WHERE id=$1 AND worker=$2 AND status='running'",
                &[&id.0, &worker.0],
            )?;
            tx.execute(&format!("NOTIFY {JOBS_CHANNEL}"), &[])?;
            tx.commit()
        })?;
        Ok(())
    }

    fn register_server(
        &self,
        job_types: &[String],
        requirements: &[String],
        capabilities: &str,
        pid: u32,
    ) -> Result<WorkerId, QueueError> {
        self.insert_worker(None, job_types, requirements, capabilities, pid)
    }

    fn servers(&self) -> Result<Vec<ServerRecord>, QueueError> {
        let rows = self.query(
            &format!(
                "SELECT id, host, pid, requirements, capabilities FROM clx_workers
                 WHERE session IS NULL AND status IN ('idle','busy') AND heartbeat > {NOW} - $1 ORDER BY id"
            ),
            &[&LEASE_SECS],
        )?;
        Ok(rows
            .iter()
            .map(|r| ServerRecord {
                id: WorkerId(r.get(0)),
                host: r.get(1),
                pid: r.get(2),
                requirements: r.get(3),
                capabilities: r.get(4),
            })
            .collect())
    }

    fn wait_for_work(&self, timeout: Duration) -> Result<(), QueueError> {
        self.conn.wait_notified(timeout)?;
        Ok(())
    }

    fn listen_for_jobs(&self) -> Result<(), QueueError> {
        Ok(self.conn.listen(JOBS_CHANNEL)?)
    }
}

/// The outcome a settling statement records, as its parameters `$3`…`$7`
/// (status, error message, location, category, result); all NULL when it
/// records none.
#[derive(Default)]
struct Recorded<'a> {
    status: Option<&'static str>,
    message: Option<&'a str>,
    location: Option<String>,
    category: Option<&'static str>,
    result: Option<&'a str>,
}

impl<'a> Recorded<'a> {
    fn of(outcome: &JobOutcome<'a>) -> Recorded<'a> {
        match *outcome {
            JobOutcome::Done { result } => {
                Recorded { status: Some("done"), result: Some(result), ..Recorded::default() }
            }
            JobOutcome::Failed { error, result } => Recorded {
                status: Some("failed"),
                message: Some(&error.message),
                location: location(error),
                category: Some(error.category.as_str()),
                result,
            },
        }
    }
}

/// One statement, so one round trip, that records the outcome of job `$2`
/// if it is still worker `$1`'s and running, tells its session's host, and,
/// given a `filter` (binding from `$9`), claims the next job that filter
/// allows under the claim's token `$8`: a pending one, else one whose lease
/// ran out with attempts left (looked for only when none is pending, so the
/// usual claim walks only the pending jobs' index). A late worker's outcome
/// changes nothing. Its row: the claimed job's id, payload and cache key,
/// NULL when none, and whether the outcome of job `$2` was recorded.
///
/// The parts run on one snapshot, so the claim cannot see the recorded
/// job finished: it skips that job by id instead. The worker's row is not
/// written: what a worker holds and finished is read from the jobs.
fn settle_sql(filter: Option<&str>) -> String {
    let recorded = format!(
        "recorded AS (
             UPDATE clx_jobs SET status=$3, error_message=$4, error_location=$5, error_category=$6, result=$7,
                 finished_at={NOW}, lease_until=NULL
             WHERE id=$2 AND worker=$1 AND status='running' RETURNING id, session, status)"
    );
    let notify = format!("SELECT count(pg_notify('{SESSION_CHANNEL}' || r.session, r.id::TEXT)) FROM recorded r");
    let was_recorded = "EXISTS (SELECT 1 FROM recorded)";
    let Some(filter) = filter else {
        return format!("WITH {recorded} SELECT NULL::BIGINT, NULL::TEXT, NULL::TEXT, ({notify}), {was_recorded}");
    };
    format!(
        "WITH {recorded},
         claimed AS (
             UPDATE clx_jobs SET status='running', worker=$1, attempts=attempts+1, started_at={NOW},
                 lease_until={NOW} + {LEASE_SECS}, result=NULL, claim_token=$8
             WHERE id = coalesce(
                 (SELECT j.id FROM clx_jobs j
                  WHERE {filter} AND j.status = 'pending' AND NOT ($1 = ANY(j.refused_by))
                  ORDER BY j.priority DESC, j.id LIMIT 1 FOR UPDATE SKIP LOCKED),
                 (SELECT j.id FROM clx_jobs j
                  WHERE {filter} AND j.status = 'running' AND j.lease_until < {NOW} AND j.attempts < j.max_attempts
                    AND j.id IS DISTINCT FROM $2 AND NOT ($1 = ANY(j.refused_by))
                  ORDER BY j.priority DESC, j.id LIMIT 1 FOR UPDATE SKIP LOCKED))
             RETURNING id, payload, cache_key)
         SELECT c.id, c.payload, c.cache_key, ({notify}), {was_recorded}
         FROM (VALUES (1)) AS one LEFT JOIN claimed c ON true"
    )
}

/// A job as a claim returns it: id, payload as stored, cache key.
type Taken = (JobId, String, CacheKey);

/// Run [`settle_sql`]: record `outcome` (when given) and claim by `filter`
/// (when given) under its token with its parameters `extra`. Whether the
/// finished job has ended, and the job claimed.
fn settle(
    c: &mut PgClient,
    worker: WorkerId,
    finished: Option<(JobId, &JobOutcome<'_>)>,
    claim: Option<(&str, Token, &[&(dyn ToSql + Sync)])>,
) -> Result<(bool, Option<Taken>), postgres::Error> {
    let id = finished.map(|(id, _)| id.0);
    let recorded = finished.map(|(_, outcome)| Recorded::of(outcome)).unwrap_or_default();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &worker.0,
        &id,
        &recorded.status,
        &recorded.message,
        &recorded.location,
        &recorded.category,
        &recorded.result,
    ];
    if let Some((_, token, extra)) = &claim {
        params.push(&token.0);
        params.extend_from_slice(extra);
    }
    let row = c.query_one(&settle_sql(claim.map(|(filter, _, _)| filter)), &params)?;
    let taken = row.get::<_, Option<i64>>(0).map(|id| (JobId(id), row.get(1), CacheKey::from_stored(row.get(2))));
    let recorded: bool = row.get(4);
    // A job whose outcome was not recorded may have ended without it
    // (cancelled, failed by the host); asked only then, so the usual job
    // costs no second statement.
    let ended = match id {
        Some(id) if !recorded => has_ended(c, id)?,
        _ => recorded,
    };
    Ok((ended, taken))
}

/// Whether job `id` is in a terminal state.
fn has_ended(c: &mut PgClient, id: i64) -> Result<bool, postgres::Error> {
    let rows = c.query("SELECT 1 FROM clx_jobs WHERE id=$1 AND status IN ('done','failed','cancelled')", &[&id])?;
    Ok(!rows.is_empty())
}

/// After a lost reply: the job the claim numbered `token` took, if that
/// claim committed and the worker still holds the job, with whether the
/// job finished with it has ended (the outcome and the claim commit
/// together). `None` when the claim took nothing, or never ran: then it
/// runs again.
fn claimed_before(
    c: &mut PgClient,
    worker: WorkerId,
    token: Token,
    finished: Option<JobId>,
) -> Result<Option<(bool, Option<Taken>)>, postgres::Error> {
    let rows = c.query(
        "SELECT j.id, j.payload, j.cache_key,
             EXISTS (SELECT 1 FROM clx_jobs e WHERE e.id=$3 AND e.status IN ('done','failed','cancelled'))
         FROM clx_jobs j WHERE j.worker=$1 AND j.claim_token=$2 AND j.status='running'",
        &[&worker.0, &token.0, &finished.map(|id| id.0)],
    )?;
    Ok(rows.first().map(|row| (row.get(3), Some((JobId(row.get(0)), row.get(1), CacheKey::from_stored(row.get(2)))))))
}

/// What numbers a claim or a submission: new for every one this process
/// makes, the same for every try of one (see the module doc).
#[derive(Debug, Clone, Copy)]
struct Token(i64);

impl Token {
    fn next() -> Token {
        static MADE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
        Token(MADE.fetch_add(1, Ordering::Relaxed) + 1)
    }
}
