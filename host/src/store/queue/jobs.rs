//! Jobs: submitted, watched and cancelled by the host; claimed, completed
//! and failed by workers. Every terminal state sets `finished_at`, and
//! `cancelled` is never overwritten.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::*;

pub(super) const JOB_COLUMNS: &str =
    "id, session, job_type, source, status, attempts, worker, created_at, started_at, \
                           finished_at, error_message, error_location, error_category, result";

pub(super) fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
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
        result: row.get(13)?,
    })
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

// ---- host side ----------------------------------------------------------

const INSERT_JOB: &str =
    "INSERT INTO jobs(session, job_type, source, priority, status, max_attempts, payload, cache_key, created_at)
     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8)";

fn insert_job(conn: &Connection, session: SessionId, job: &NewJob<'_>, created_at: f64) -> rusqlite::Result<JobId> {
    let mut stmt = conn.prepare_cached(INSERT_JOB)?;
    let id = stmt.insert(params![
        session.0,
        job.job_type,
        job.source,
        job.priority,
        MAX_ATTEMPTS,
        job.payload,
        job.cache_key.as_str(),
        created_at
    ])?;
    Ok(JobId(id))
}

impl Queue {
    pub fn submit(
        &self,
        session: SessionId,
        job_type: &str,
        source: &str,
        priority: i64,
        payload: &str,
        cache_key: &CacheKey,
    ) -> Result<JobId, QueueError> {
        let job = NewJob { job_type, source, priority, payload, cache_key };
        Ok(insert_job(&self.conn, session, &job, now())?)
    }

    /// Submit several jobs in one transaction: one commit instead of one per
    /// job, and workers see all of them or none. Ids come back in the order
    /// of `jobs`.
    pub fn submit_many(&self, session: SessionId, jobs: &[NewJob<'_>]) -> Result<Vec<JobId>, QueueError> {
        let created_at = now();
        let tx = self.conn.unchecked_transaction_immediate()?;
        let ids = jobs.iter().map(|job| insert_job(&tx, session, job, created_at)).collect::<Result<_, _>>()?;
        tx.commit()?;
        Ok(ids)
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
                     error_message=NULL, error_location=NULL, error_category=NULL, result=NULL
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

    /// A running job whose worker was killed for a reason that would recur
    /// (it ran past its deadline): failed at once, without another attempt.
    /// A cancelled job stays cancelled.
    pub fn fail_running(&self, id: JobId, error: &JobError) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE jobs SET status='failed', finished_at=?2, error_message=?3, error_location=?4, error_category=?5,
                 result=NULL
             WHERE id=?1 AND status='running'",
            params![id.0, now(), error.message, error.location.map(|l| l.to_string()), error.category.as_str()],
        )?;
        Ok(())
    }

    /// The running jobs `worker` holds: the one it announced, and any it
    /// claimed but died before announcing.
    pub fn jobs_held_by(&self, worker: WorkerId) -> Result<Vec<JobId>, QueueError> {
        let mut stmt = self.conn.prepare_cached("SELECT id FROM jobs WHERE worker=?1 AND status='running'")?;
        let ids = stmt.query_map([worker.0], |r| Ok(JobId(r.get(0)?)))?;
        Ok(ids.collect::<Result<_, _>>()?)
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
}

// ---- worker side --------------------------------------------------------

/// Take the next pending job. The caller holds the write lock (`BEGIN
/// IMMEDIATE`), so the job selected is still pending when it is taken, and
/// the update requires it anyway: two workers never get the same job. Not
/// one `UPDATE … RETURNING`: SQLite gathers returned rows in a temporary
/// table, and setting up and freeing its page cache cost more CPU than the
/// rest of the claim.
fn claim_next(
    conn: &Connection,
    session: SessionId,
    worker: WorkerId,
    job_types: &[String],
    started_at: f64,
) -> rusqlite::Result<Option<ClaimedJob>> {
    let sql = format!(
        "SELECT id, payload, cache_key FROM jobs WHERE session=? AND status='pending' AND job_type IN ({})
         ORDER BY priority DESC, id LIMIT 1",
        placeholders(job_types.len())
    );
    let mut values: Vec<rusqlite::types::Value> = vec![session.0.into()];
    values.extend(job_types.iter().map(|t| t.clone().into()));
    let job = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(values), |r| {
            Ok(ClaimedJob { id: JobId(r.get(0)?), payload: r.get(1)?, cache_key: CacheKey::from_stored(r.get(2)?) })
        })
        .optional()?;
    let Some(job) = job else { return Ok(None) };
    let taken = conn
        .prepare_cached(
            "UPDATE jobs SET status='running', worker=?2, attempts=attempts+1, started_at=?3, result=NULL
             WHERE id=?1 AND status='pending'",
        )?
        .execute(params![job.id.0, worker.0, started_at])?;
    Ok((taken == 1).then_some(job))
}

/// Record how the worker's job ended, only while the worker still owns it:
/// a cancelled job stays cancelled, and a job requeued or failed by the pool
/// (the worker was thought lost) keeps what the pool decided.
fn record_outcome(
    conn: &Connection,
    job: JobId,
    worker: WorkerId,
    outcome: &JobOutcome<'_>,
    finished_at: f64,
) -> rusqlite::Result<()> {
    match *outcome {
        JobOutcome::Done { result } => conn
            .prepare_cached(
                "UPDATE jobs SET status='done', finished_at=?3, error_message=NULL, error_location=NULL,
                     error_category=NULL, result=?4
                 WHERE id=?1 AND worker=?2 AND status='running'",
            )?
            .execute(params![job.0, worker.0, finished_at, result])?,
        JobOutcome::Failed { error, result } => conn
            .prepare_cached(
                "UPDATE jobs SET status='failed', finished_at=?3, error_message=?4, error_location=?5,
                     error_category=?6, result=?7
                 WHERE id=?1 AND worker=?2 AND status='running'",
            )?
            .execute(params![
                job.0,
                worker.0,
                finished_at,
                error.message,
                error.location.map(|l| l.to_string()),
                error.category.as_str(),
                result
            ])?,
    };
    Ok(())
}

impl Queue {
    /// Take the next pending job of these types, if there is one.
    pub fn claim(
        &self,
        session: SessionId,
        worker: WorkerId,
        job_types: &[String],
    ) -> Result<Option<ClaimedJob>, QueueError> {
        let tx = self.conn.unchecked_transaction_immediate()?;
        let job = claim_next(&tx, session, worker, job_types, now())?;
        tx.commit()?;
        Ok(job)
    }

    /// The worker converted the job; `result` is what it produced (the
    /// cache entry as JSON), recorded in the same statement as `done`.
    pub fn complete(&self, id: JobId, worker: WorkerId, result: &str) -> Result<(), QueueError> {
        self.finish(id, worker, &JobOutcome::Done { result })
    }

    /// A failure the worker saw is terminal at once. `result` is what the
    /// converter produced, when it ran at all (outputs that failed, issues).
    pub fn fail(&self, id: JobId, worker: WorkerId, error: &JobError, result: Option<&str>) -> Result<(), QueueError> {
        self.finish(id, worker, &JobOutcome::Failed { error, result })
    }

    fn finish(&self, id: JobId, worker: WorkerId, outcome: &JobOutcome<'_>) -> Result<(), QueueError> {
        record_outcome(&self.conn, id, worker, outcome, now())?;
        Ok(())
    }

    /// Record how the worker's job `id` ended and claim its next job, in one
    /// transaction: a worker that runs job after job pays one commit per job.
    /// The outcome is recorded as [`Queue::complete`] and [`Queue::fail`]
    /// record it (only while the worker owns the job); the next job is
    /// claimed as [`Queue::claim`] claims it, whether or not the outcome
    /// could be recorded.
    pub fn finish_and_claim(
        &self,
        session: SessionId,
        worker: WorkerId,
        id: JobId,
        outcome: JobOutcome<'_>,
        job_types: &[String],
    ) -> Result<Option<ClaimedJob>, QueueError> {
        let t = now();
        let tx = self.conn.unchecked_transaction_immediate()?;
        record_outcome(&tx, id, worker, &outcome, t)?;
        let next = claim_next(&tx, session, worker, job_types, t)?;
        tx.commit()?;
        Ok(next)
    }
}
