//! The contract's operations in SQLite's dialect. A read that decides a
//! write, and several writes that form one step, run under the write lock
//! of `BEGIN IMMEDIATE`; single statements autocommit.

use std::time::Duration;

use rusqlite::{params, params_from_iter, OptionalExtension};

use super::jobs::{claim_next, has_ended, insert_job, job_from_row, placeholders, record_outcome, JOB_COLUMNS};
use super::{ImmediateTransaction, SqliteQueue};
use crate::store::error::QueueError;
use crate::store::job::{ClaimedJob, NewJob};
use crate::store::queue::{Handover, Queue};
use crate::store::record::{
    now, JobError, JobId, JobOutcome, JobRecord, JobStatus, Recovered, Requeued, SessionId, SessionRecord,
    SessionStatus, WorkerId, WorkerRecord, WorkerStatus,
};

impl SqliteQueue {
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
            "UPDATE workers SET status=?3, stopped_at=?2
             WHERE session=?1 AND status NOT IN ('dead','stopped')",
            params![session.0, t, workers.as_str()],
        )?;
        self.conn.execute(
            "UPDATE sessions SET status=?2, finished_at=?3 WHERE id=?1",
            params![session.0, status.as_str(), t],
        )?;
        Ok(())
    }

    /// A running job back to pending, or failed for good with its attempts
    /// used up; with `holder`, only while that worker still holds it.
    fn requeue_held(&self, id: JobId, holder: Option<WorkerId>, error: &JobError) -> Result<Requeued, QueueError> {
        let tx = self.conn.unchecked_transaction_immediate()?;
        let row: Option<(String, i64, i64, Option<i64>)> = tx
            .query_row("SELECT status, attempts, max_attempts, worker FROM jobs WHERE id=?1", [id.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((status, attempts, max, worker)) = row else {
            return Err(QueueError::NoSuchJob(id.0));
        };
        let held = status == "running" && holder.is_none_or(|holder| worker == Some(holder.0));
        let outcome = if JobStatus::parse(&status).is_none_or(JobStatus::is_terminal) {
            Requeued::Terminal
        } else if !held {
            Requeued::Elsewhere
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
}

impl Queue for SqliteQueue {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn take_recovered(&mut self) -> Option<Recovered> {
        self.recovered.take()
    }

    fn start_session(&self, spec: &str) -> Result<SessionId, QueueError> {
        self.conn.execute(
            "INSERT INTO sessions(spec, pid, status, started_at) VALUES (?1, ?2, 'running', ?3)",
            params![spec, std::process::id(), now()],
        )?;
        Ok(SessionId(self.conn.last_insert_rowid()))
    }

    fn finish_session(&self, session: SessionId, status: SessionStatus) -> Result<(), QueueError> {
        self.close_session(session, status, WorkerStatus::Stopped)
    }

    fn reap_stale(&self) -> Result<usize, QueueError> {
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

    fn sessions(&self, limit: usize) -> Result<Vec<SessionRecord>, QueueError> {
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

    fn submit_many(&self, session: SessionId, jobs: &[NewJob<'_>]) -> Result<Vec<JobId>, QueueError> {
        let payloads = jobs.iter().map(|job| job.payload.encode()).collect::<Result<Vec<_>, _>>()?;
        let created_at = now();
        let tx = self.conn.unchecked_transaction_immediate()?;
        let ids = jobs
            .iter()
            .zip(&payloads)
            .map(|(job, payload)| insert_job(&tx, session, job, payload, created_at))
            .collect::<Result<_, _>>()?;
        tx.commit()?;
        Ok(ids)
    }

    fn job(&self, id: JobId) -> Result<JobRecord, QueueError> {
        self.conn
            .query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id=?1"), [id.0], job_from_row)
            .optional()?
            .ok_or(QueueError::NoSuchJob(id.0))
    }

    fn jobs(
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

    fn counts(&self, session: Option<SessionId>) -> Result<Vec<(JobStatus, i64)>, QueueError> {
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

    fn oldest_pending(&self) -> Result<Option<f64>, QueueError> {
        Ok(self.conn.query_row("SELECT min(created_at) FROM jobs WHERE status='pending'", [], |r| r.get(0))?)
    }

    fn settled_among(&self, ids: &[JobId]) -> Result<Vec<JobId>, QueueError> {
        let sql = format!(
            "SELECT id FROM jobs WHERE id IN ({}) AND status IN ('done','failed','cancelled')",
            placeholders(ids.len())
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let settled = stmt.query_map(params_from_iter(ids.iter().map(|id| id.0)), |r| Ok(JobId(r.get(0)?)))?;
        Ok(settled.collect::<Result<_, _>>()?)
    }

    fn cancel(&self, ids: &[JobId]) -> Result<usize, QueueError> {
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

    fn retry(&self, ids: &[JobId]) -> Result<usize, QueueError> {
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

    fn requeue(&self, id: JobId, error: &JobError) -> Result<Requeued, QueueError> {
        self.requeue_held(id, None, error)
    }

    fn release(&self, id: JobId, worker: WorkerId, error: &JobError) -> Result<Requeued, QueueError> {
        self.requeue_held(id, Some(worker), error)
    }

    fn fail_running(&self, id: JobId, error: &JobError) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE jobs SET status='failed', finished_at=?2, error_message=?3, error_location=?4, error_category=?5,
                 result=NULL
             WHERE id=?1 AND status='running'",
            params![id.0, now(), error.message, error.location.map(|l| l.to_string()), error.category.as_str()],
        )?;
        Ok(())
    }

    fn jobs_held_by(&self, worker: WorkerId) -> Result<Vec<JobId>, QueueError> {
        let mut stmt = self.conn.prepare_cached("SELECT id FROM jobs WHERE worker=?1 AND status='running'")?;
        let ids = stmt.query_map([worker.0], |r| Ok(JobId(r.get(0)?)))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    fn fail_pending(
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

    fn claim(
        &self,
        session: SessionId,
        worker: WorkerId,
        job_types: &[String],
    ) -> Result<Option<ClaimedJob>, QueueError> {
        let tx = self.conn.unchecked_transaction_immediate()?;
        let job = claim_next(&tx, session, worker, job_types, now())?;
        tx.commit()?;
        Ok(job.map(|(id, payload, key)| ClaimedJob::decode(id, &payload, key)))
    }

    fn finish(&self, id: JobId, worker: WorkerId, outcome: JobOutcome<'_>) -> Result<(), QueueError> {
        record_outcome(&self.conn, id, worker, &outcome, now())?;
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
        let t = now();
        let tx = self.conn.unchecked_transaction_immediate()?;
        let ended = record_outcome(&tx, id, worker, &outcome, t)? || has_ended(&tx, id)?;
        let next = claim_next(&tx, session, worker, job_types, t)?;
        tx.commit()?;
        Ok(Handover { ended, next: next.map(|(id, payload, key)| ClaimedJob::decode(id, &payload, key)) })
    }

    fn register_worker(&self, session: SessionId, job_types: &[String], pid: u32) -> Result<WorkerId, QueueError> {
        let t = now();
        self.conn.execute(
            "INSERT INTO workers(session, job_types, pid, status, heartbeat, started_at) VALUES (?1, ?2, ?3, 'idle', ?4, ?4)",
            params![session.0, job_types.join(","), pid, t],
        )?;
        Ok(WorkerId(self.conn.last_insert_rowid()))
    }

    fn heartbeat(&self, worker: WorkerId, job: Option<JobId>) -> Result<bool, QueueError> {
        self.conn.execute("UPDATE workers SET heartbeat=?2 WHERE id=?1", params![worker.0, now()])?;
        let Some(job) = job else { return Ok(true) };
        let held: Option<i64> = self
            .conn
            .query_row("SELECT 1 FROM jobs WHERE id=?1 AND worker=?2 AND status='running'", [job.0, worker.0], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(held.is_some())
    }

    fn set_progress(&self, id: JobId, message: &str) -> Result<(), QueueError> {
        self.conn.execute("UPDATE jobs SET progress=?2 WHERE id=?1", params![id.0, message])?;
        Ok(())
    }

    fn heartbeat_age(&self, worker: WorkerId) -> Result<Option<Duration>, QueueError> {
        let beat: Option<f64> =
            self.conn.query_row("SELECT heartbeat FROM workers WHERE id=?1", [worker.0], |r| r.get(0)).optional()?;
        Ok(beat.map(|b| Duration::from_secs_f64((now() - b).max(0.0))))
    }

    fn end_worker(&self, worker: WorkerId, status: WorkerStatus) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE workers SET status=?2, stopped_at=?3 WHERE id=?1",
            params![worker.0, status.as_str(), now()],
        )?;
        Ok(())
    }

    fn workers(&self, all: bool) -> Result<Vec<WorkerRecord>, QueueError> {
        let mut stmt = self.conn.prepare(
            "SELECT w.id, w.session, w.job_types, w.pid, w.status, w.heartbeat,
                 (SELECT j.id FROM jobs j WHERE j.session=w.session AND j.status='running' AND j.worker=w.id
                  ORDER BY j.id DESC LIMIT 1),
                 (SELECT count(*) FROM jobs j WHERE j.session=w.session AND j.status='done' AND j.worker=w.id),
                 (SELECT count(*) FROM jobs j WHERE j.session=w.session AND j.status='failed' AND j.worker=w.id),
                 w.started_at
             FROM workers w WHERE ?1 OR w.status NOT IN ('dead','stopped') ORDER BY w.id DESC LIMIT 500",
        )?;
        let rows = stmt.query_map([all], |r| {
            let types: String = r.get(2)?;
            let current_job = r.get::<_, Option<i64>>(6)?.map(JobId);
            let status = match WorkerStatus::parse(&r.get::<_, String>(4)?) {
                WorkerStatus::Idle | WorkerStatus::Busy if current_job.is_some() => WorkerStatus::Busy,
                WorkerStatus::Idle | WorkerStatus::Busy => WorkerStatus::Idle,
                ended => ended,
            };
            Ok(WorkerRecord {
                id: WorkerId(r.get(0)?),
                session: SessionId(r.get(1)?),
                job_types: types.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                pid: r.get(3)?,
                status,
                heartbeat: r.get(5)?,
                current_job,
                jobs_done: r.get(7)?,
                jobs_failed: r.get(8)?,
                started_at: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
