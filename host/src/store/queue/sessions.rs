//! Build sessions: one per `clx build` (or watch session), closed by its
//! host, or reaped by the next host when its process died.

use rusqlite::params;

use super::*;

impl Queue {
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
}
