//! Workers: registered at start, heartbeating while alive, marked dead or
//! stopped by the pool.

use std::time::Duration;

use rusqlite::{params, OptionalExtension};

use super::*;

impl Queue {
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
