//! The build loop's periodic look at the queue, when no worker has said
//! anything for a while: jobs that ended without a word from the host's own
//! workers (cancelled from outside, finished by another machine's worker,
//! their lease run out with no attempt left), and job types no connected
//! worker serves. A queue of one machine answers only the first; a shared
//! one all of them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::store::{JobError, JobId, Queue, QueueError, SessionId};

/// How long pending jobs may wait with no worker able to take them before
/// they fail: long enough for `clx worker serve` on another machine to
/// connect after the build started.
pub const UNSERVED_GRACE: Duration = Duration::from_secs(20);

/// How long jobs wait for a worker before the build says so.
pub const UNSERVED_NOTE: Duration = Duration::from_secs(3);

/// What the build says of jobs no worker has taken for [`UNSERVED_NOTE`],
/// after the jobs.
pub fn unserved_note(queue: &str) -> String {
    format!("wait for a worker; none connected to {queue} serves them yet")
}

/// Why jobs of `job_type` fail when no worker took them for
/// [`UNSERVED_GRACE`], and what to do.
pub fn unserved_message(queue: &str, job_type: &str) -> String {
    format!(
        "no worker connected to {queue} serves `{job_type}` jobs with this clx's plugin and tools; start \
         `clx worker serve --types {job_type}` on a machine with the same clx release and tools, or build with \
         --local-workers 1 or more"
    )
}

/// What the build loop learns when it looks.
#[derive(Debug, Default)]
pub struct Findings {
    /// Jobs that reached a terminal state (landed by the caller).
    pub settled: Vec<JobId>,
    /// Things to tell the user once.
    pub notes: Vec<String>,
    /// The last progress recorded for running jobs (another machine's
    /// worker records it in the queue).
    pub progress: Vec<(JobId, String)>,
}

/// The periodic look at the queue.
#[derive(Default)]
pub struct Watch {
    unserved_since: HashMap<String, Instant>,
    announced: Vec<String>,
}

impl Watch {
    /// Look once; `in_flight` are the jobs whose results have not landed.
    pub fn check(
        &mut self,
        queue: &dyn Queue,
        session: SessionId,
        in_flight: &[JobId],
    ) -> Result<Findings, QueueError> {
        let mut findings = Findings::default();
        queue.keep_session_alive(session)?;
        findings.settled.extend(queue.expire_leases(session)?);
        findings.settled.extend(queue.settled_among(in_flight)?);
        findings.progress = queue.progress_among(in_flight)?;
        let unserved = queue.unserved(session)?;
        self.unserved_since.retain(|t, _| unserved.iter().any(|(u, _)| u == t));
        for (job_type, waiting) in unserved {
            let since = *self.unserved_since.entry(job_type.clone()).or_insert_with(Instant::now);
            if since.elapsed() >= UNSERVED_NOTE && !self.announced.contains(&job_type) {
                self.announced.push(job_type.clone());
                findings.notes.push(format!("{waiting} `{job_type}` job(s) {}", unserved_note(&queue.describe())));
            }
            if since.elapsed() >= UNSERVED_GRACE {
                let message = unserved_message(&queue.describe(), &job_type);
                let failed = queue.fail_pending(session, std::slice::from_ref(&job_type), &JobError::tool(message))?;
                findings.settled.extend(failed);
                self.unserved_since.remove(&job_type);
            }
        }
        Ok(findings)
    }
}
