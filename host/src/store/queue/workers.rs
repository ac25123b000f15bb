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
            "UPDATE workers SET status=?2, stopped_at=?3 WHERE id=?1",
            params![worker.0, status.as_str(), now()],
        )?;
        Ok(())
    }

    /// Workers, newest first; stopped and dead ones only with `all`.
    ///
    /// A worker's current job and its counts come from `jobs` (the claim
    /// index covers them): a live worker is busy while it runs a job. A job
    /// counts for the worker that ran it last, also when the pool failed it
    /// (the worker hung or timed out); a retried job counts for none.
    pub fn workers(&self, all: bool) -> Result<Vec<WorkerRecord>, QueueError> {
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
