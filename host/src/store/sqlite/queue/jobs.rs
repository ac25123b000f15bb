//! The statements the job operations share: a job row read back, a job
//! inserted, the claim and the outcome (both also inside one transaction).

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use crate::report::Location;
use crate::store::entry::CacheKey;
use crate::store::job::NewJob;
use crate::store::record::{
    ErrorCategory, JobError, JobId, JobOutcome, JobRecord, JobStatus, SessionId, WorkerId, MAX_ATTEMPTS,
};

pub(super) const JOB_COLUMNS: &str =
    "id, session, job_type, source, status, attempts, worker, created_at, started_at, \
                           finished_at, error_message, error_location, error_category, result, progress";

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
        progress: row.get(14)?,
    })
}

pub(super) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

const INSERT_JOB: &str =
    "INSERT INTO jobs(session, job_type, source, priority, status, max_attempts, payload, cache_key, created_at)
     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8)";

pub(super) fn insert_job(
    conn: &Connection,
    session: SessionId,
    job: &NewJob<'_>,
    payload: &str,
    created_at: f64,
) -> rusqlite::Result<JobId> {
    let mut stmt = conn.prepare_cached(INSERT_JOB)?;
    let id = stmt.insert(params![
        session.0,
        job.job_type,
        job.source,
        job.priority,
        MAX_ATTEMPTS,
        payload,
        job.cache_key.as_str(),
        created_at
    ])?;
    Ok(JobId(id))
}

/// Take the next pending job. The caller holds the write lock (`BEGIN
/// IMMEDIATE`), so the job selected is still pending when it is taken, and
/// the update requires it anyway: two workers never get the same job. Not
/// one `UPDATE … RETURNING`: SQLite gathers returned rows in a temporary
/// table, and setting up and freeing its page cache cost more CPU than the
/// rest of the claim. The payload comes back as stored: it is decoded once
/// the transaction is over.
pub(super) fn claim_next(
    conn: &Connection,
    session: SessionId,
    worker: WorkerId,
    job_types: &[String],
    started_at: f64,
) -> rusqlite::Result<Option<(JobId, String, CacheKey)>> {
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
            Ok((JobId(r.get(0)?), r.get::<_, String>(1)?, CacheKey::from_stored(r.get(2)?)))
        })
        .optional()?;
    let Some(job) = job else { return Ok(None) };
    let taken = conn
        .prepare_cached(
            "UPDATE jobs SET status='running', worker=?2, attempts=attempts+1, started_at=?3, result=NULL
             WHERE id=?1 AND status='pending'",
        )?
        .execute(params![job.0 .0, worker.0, started_at])?;
    Ok((taken == 1).then_some(job))
}

/// Record how the worker's job ended, only while the worker still owns it:
/// a cancelled job stays cancelled, and a job requeued or failed by the pool
/// (the worker was thought lost) keeps what the pool decided. Whether it
/// was recorded.
pub(super) fn record_outcome(
    conn: &Connection,
    job: JobId,
    worker: WorkerId,
    outcome: &JobOutcome<'_>,
    finished_at: f64,
) -> rusqlite::Result<bool> {
    let recorded = match *outcome {
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
    Ok(recorded == 1)
}

/// Whether the job is in a terminal state.
pub(super) fn has_ended(conn: &Connection, job: JobId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM jobs WHERE id=?1 AND status IN ('done','failed','cancelled')")?.exists([job.0])
}
