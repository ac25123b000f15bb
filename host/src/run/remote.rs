//! The host's side of workers on other machines (a PostgreSQL queue): it
//! hears of their finished jobs by `LISTEN`, and, when nothing happens,
//! looks for what notifications cannot tell: jobs whose worker vanished with
//! no attempt left, and job types no connected worker serves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::run::pool::Announcer;
use crate::store::pg::queue::PgQueue;
use crate::store::pg::PgUrl;
use crate::store::queue::{JobError, JobId, QueueError, SessionId};

/// How long pending jobs may wait with no worker able to take them before
/// they fail: long enough for `clx worker serve` on another machine to
/// connect after the build started.
pub const UNSERVED_GRACE: Duration = Duration::from_secs(20);

/// Forwards the session's finished-job notifications to the pool.
pub struct Listener {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start(url: &PgUrl, session: SessionId, announcer: Announcer) -> Result<Listener, QueueError> {
        let queue = PgQueue::open(url)?;
        queue.listen_for_session(session)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("listen".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match queue.wait_finished(Duration::from_millis(250)) {
                        Ok(ids) => {
                            if !ids.into_iter().all(|id| announcer.finished(id)) {
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
            .map_err(|e| {
                QueueError::Postgres(crate::store::pg::PgError::Connect {
                    target: url.target(),
                    message: format!("cannot start the listener thread: {e}"),
                })
            })?;
        Ok(Listener { stop, handle: Some(handle) })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// What the build loop learns when it looks.
#[derive(Debug, Default)]
pub struct Findings {
    /// Jobs that reached a terminal state (landed by the caller).
    pub settled: Vec<JobId>,
    /// Things to tell the user once.
    pub notes: Vec<String>,
}

/// The periodic look at a shared queue.
#[derive(Default)]
pub struct Watch {
    unserved_since: HashMap<String, Instant>,
    announced: Vec<String>,
}

impl Watch {
    pub fn check(&mut self, queue: &PgQueue, session: SessionId, in_flight: &[JobId]) -> Result<Findings, QueueError> {
        let mut findings = Findings::default();
        queue.session_heartbeat(session)?;
        findings.settled.extend(queue.expire_leases(session)?);
        findings.settled.extend(queue.finished_among(in_flight)?);
        let unserved = queue.unserved(session)?;
        self.unserved_since.retain(|t, _| unserved.iter().any(|(u, _)| u == t));
        for (job_type, waiting) in unserved {
            let since = *self.unserved_since.entry(job_type.clone()).or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(3) && !self.announced.contains(&job_type) {
                self.announced.push(job_type.clone());
                findings.notes.push(format!(
                    "{waiting} `{job_type}` job(s) wait for a worker; none connected to {} serves them yet",
                    queue.url()
                ));
            }
            if since.elapsed() >= UNSERVED_GRACE {
                let message = format!(
                    "no worker connected to {} serves `{job_type}` jobs with this clx's plugin and tools; start \
                     `clx worker serve --types {job_type}` on a machine with the same clx release and tools, or build \
                     with --local-workers 1 or more",
                    queue.url()
                );
                let failed = queue.fail_pending(session, std::slice::from_ref(&job_type), &JobError::tool(message))?;
                findings.settled.extend(failed);
                self.unserved_since.remove(&job_type);
            }
        }
        Ok(findings)
    }
}
