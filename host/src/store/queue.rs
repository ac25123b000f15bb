//! The job queue's contract: what every backend does, documented once here.
//!
//! A queue is the record of build sessions, their jobs and the workers that
//! run them. The rules every backend keeps:
//!
//! * **Claim.** A pending job goes to exactly one worker: the claim takes it
//!   in one step with its status still `pending`, highest priority first,
//!   then oldest. A claim moves it to `running`, counts an attempt and
//!   forgets any earlier result.
//! * **Lease.** A claim holds while its worker lives: the pool watches its
//!   own workers (a dead or hung one has its jobs requeued); a queue shared
//!   with other machines also gives each claim a lease that the worker's
//!   heartbeat extends, and a job whose lease ran out is claimed again while
//!   attempts remain.
//! * **Once.** A claim takes at most one job, and a submission inserts its
//!   jobs once, however often either is tried: a backend that runs one
//!   again after losing its reply (the server committed it, the connection
//!   dropped) returns what the first run did instead of doing it again.
//! * **Fence.** A worker's outcome is recorded only while the worker still
//!   owns the job (`worker = me AND status = 'running'`): a late worker's
//!   result is dropped, and the worker learns it, so its host waits for the
//!   job's real outcome; a cancelled job stays cancelled, a job the pool
//!   requeued or failed keeps what the pool decided. The heartbeat answers
//!   by the same test, and its answer is about the claim it asked for: a
//!   worker stops a job only for the claim the queue said it lost, never
//!   the one it took since.
//! * **Release.** A job its worker stopped without converting it (the
//!   queue said it was no longer the worker's, or the worker is stopping)
//!   never records what the stopped converter returned: the worker releases
//!   it instead, which, while the worker still holds it, puts it back to
//!   pending like a lost worker's job, and otherwise leaves it as it is.
//! * **Requeue.** A lost worker's job goes back to pending until
//!   [`MAX_ATTEMPTS`](crate::store::MAX_ATTEMPTS) are used up, then fails for
//!   good; a job that ran past its deadline fails at once.
//! * Every terminal state (`done`, `failed`, `cancelled`) sets
//!   `finished_at`.
//!
//! The trait is used as `Box<dyn Queue>`: one indirect call per operation
//! costs nanoseconds, against the tens of microseconds of the statement
//! behind it (the queue bench drains about 20,000 jobs a second), and it
//! lets each backend document nothing twice.

use std::time::Duration;

use crate::store::error::QueueError;
use crate::store::job::{ClaimedJob, NewJob};
use crate::store::record::{
    JobError, JobId, JobOutcome, JobRecord, JobStatus, Recovered, Requeued, ServerRecord, SessionId, SessionRecord,
    SessionStatus, WorkerId, WorkerRecord, WorkerStatus,
};

/// The job queue: sessions, jobs and workers.
pub trait Queue: Send {
    /// Where the queue is, for people: a file, or `user@host:port/db`.
    fn describe(&self) -> String;

    /// A damaged queue that was replaced by an empty one when it was opened.
    fn take_recovered(&mut self) -> Option<Recovered> {
        None
    }

    // ---- sessions ---------------------------------------------------------

    /// Open a build session labelled `spec` for this process.
    fn start_session(&self, spec: &str) -> Result<SessionId, QueueError>;

    /// End a session: whatever it left pending or running is cancelled and
    /// its workers are recorded as stopped.
    fn finish_session(&self, session: SessionId, status: SessionStatus) -> Result<(), QueueError>;

    /// Close the sessions of hosts that died without finishing them (crash,
    /// `kill -9`), so their jobs and workers stop showing as running; their
    /// unfinished jobs are cancelled, their workers recorded dead. Returns how
    /// many sessions were closed. A shared queue also records dead every
    /// worker (of any machine) silent for a lease period, and removes the
    /// rows of workers that ended a day ago.
    fn reap_stale(&self) -> Result<usize, QueueError>;

    /// The host of `session` is alive. A queue that tells live hosts by their
    /// process id needs nothing; one shared across machines records a
    /// heartbeat, and sessions whose host stopped beating are reaped.
    fn keep_session_alive(&self, _session: SessionId) -> Result<(), QueueError> {
        Ok(())
    }

    /// The newest `limit` sessions, newest first.
    fn sessions(&self, limit: usize) -> Result<Vec<SessionRecord>, QueueError>;

    // ---- host side ----------------------------------------------------------

    /// Submit jobs in one transaction: workers see all of them or none, and
    /// idle workers are woken once. Ids come back in the order of `jobs`, all
    /// `pending` with no attempt used.
    fn submit_many(&self, session: SessionId, jobs: &[NewJob<'_>]) -> Result<Vec<JobId>, QueueError>;

    /// Submit one job, as [`Queue::submit_many`] does.
    fn submit(&self, session: SessionId, job: NewJob<'_>) -> Result<JobId, QueueError> {
        let ids = self.submit_many(session, std::slice::from_ref(&job))?;
        ids.first().copied().ok_or(QueueError::NoSuchJob(0))
    }

    /// One job; [`QueueError::NoSuchJob`] when there is none with this id.
    fn job(&self, id: JobId) -> Result<JobRecord, QueueError>;

    /// Jobs, newest first; all sessions when `session` is `None`, every
    /// status when `status` is.
    fn jobs(
        &self,
        session: Option<SessionId>,
        status: Option<JobStatus>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, QueueError>;

    /// Job counts by status, one pair for each status (zeros included).
    fn counts(&self, session: Option<SessionId>) -> Result<Vec<(JobStatus, i64)>, QueueError>;

    /// Creation time of the oldest pending job.
    fn oldest_pending(&self) -> Result<Option<f64>, QueueError>;

    /// Which of `ids` reached a terminal state: how a host learns of jobs
    /// that ended without its own workers saying so (cancelled from outside,
    /// finished by another machine's worker).
    fn settled_among(&self, ids: &[JobId]) -> Result<Vec<JobId>, QueueError>;

    /// The last progress recorded for those of `ids` that are running: how
    /// a host learns how far another machine's worker is. Empty for a queue
    /// of one machine, whose workers tell their host on their pipes.
    fn progress_among(&self, _ids: &[JobId]) -> Result<Vec<(JobId, String)>, QueueError> {
        Ok(Vec::new())
    }

    /// Cancel pending or running jobs; returns how many. A running job's
    /// worker learns of it on its next heartbeat; the status stays
    /// `cancelled` whatever the worker reports afterwards.
    fn cancel(&self, ids: &[JobId]) -> Result<usize, QueueError>;

    /// Put failed or cancelled jobs back to pending with fresh attempts, no
    /// error and no result; returns how many.
    fn retry(&self, ids: &[JobId]) -> Result<usize, QueueError>;

    /// A lost worker's running job goes back to pending, or fails for good
    /// when its attempts are used up (the message then says after how many).
    /// A job that ended (cancelled, finished) is left as it is and reads as
    /// [`Requeued::Terminal`]; one already pending as [`Requeued::Elsewhere`].
    fn requeue(&self, id: JobId, error: &JobError) -> Result<Requeued, QueueError>;

    /// `worker` stopped its running job `id` without an outcome of its own:
    /// [`Queue::requeue`], only while the worker still holds the job. A job
    /// that ended reads as [`Requeued::Terminal`]; one another worker holds,
    /// or already pending, is left as it is and reads as
    /// [`Requeued::Elsewhere`].
    fn release(&self, id: JobId, worker: WorkerId, error: &JobError) -> Result<Requeued, QueueError>;

    /// A running job whose worker was killed for a reason that would recur
    /// (it ran past its deadline): failed at once, without another attempt
    /// and without a result. A job no longer running is left as it is.
    fn fail_running(&self, id: JobId, error: &JobError) -> Result<(), QueueError>;

    /// Fail every pending job of these types in `session` (no worker can run
    /// them); returns their ids.
    fn fail_pending(
        &self,
        session: SessionId,
        job_types: &[String],
        error: &JobError,
    ) -> Result<Vec<JobId>, QueueError>;

    /// The running jobs `worker` holds: the one it announced, and any it
    /// claimed together with an outcome but died before announcing.
    fn jobs_held_by(&self, worker: WorkerId) -> Result<Vec<JobId>, QueueError>;

    /// Fail the session's running jobs whose lease ran out with no attempt
    /// left; returns their ids. Without leases (every worker is the host's
    /// own child, watched by its pool) there are none.
    fn expire_leases(&self, _session: SessionId) -> Result<Vec<JobId>, QueueError> {
        Ok(Vec::new())
    }

    /// Job types with pending jobs of this session that no live worker can
    /// take, with how many jobs wait. Without workers of other machines the
    /// host's pool starts one for every type it submits: there are none.
    fn unserved(&self, _session: SessionId) -> Result<Vec<(String, i64)>, QueueError> {
        Ok(Vec::new())
    }

    /// Call `on_finished` with each job of `session` that a worker finishes,
    /// from a thread of the queue's own, until the returned feed is dropped or
    /// `on_finished` returns `false`. `None` when the queue announces nothing:
    /// the host's own workers say so on their pipes.
    fn announce_finished(
        &self,
        _session: SessionId,
        _on_finished: Box<dyn Fn(JobId) -> bool + Send>,
    ) -> Result<Option<FinishedFeed>, QueueError> {
        Ok(None)
    }

    // ---- worker side --------------------------------------------------------

    /// Take the next pending job of `session` of these types, if there is one
    /// (see the claim rule above).
    fn claim(
        &self,
        session: SessionId,
        worker: WorkerId,
        job_types: &[String],
    ) -> Result<Option<ClaimedJob>, QueueError>;

    /// Record how `worker`'s job `id` ended, only while the worker still owns
    /// it (the fence). A result, when there is one, is the cache entry as
    /// JSON, recorded in the same statement as the status.
    fn finish(&self, id: JobId, worker: WorkerId, outcome: JobOutcome<'_>) -> Result<(), QueueError>;

    /// The worker converted the job: [`Queue::finish`] with `done`.
    fn complete(&self, id: JobId, worker: WorkerId, result: &str) -> Result<(), QueueError> {
        self.finish(id, worker, JobOutcome::Done { result })
    }

    /// A failure the worker saw is terminal at once: [`Queue::finish`] with
    /// `failed`. `result` is what the converter produced, when it ran at all.
    fn fail(&self, id: JobId, worker: WorkerId, error: &JobError, result: Option<&str>) -> Result<(), QueueError> {
        self.finish(id, worker, JobOutcome::Failed { error, result })
    }

    /// [`Queue::finish`] and [`Queue::claim`] in one transaction, so a worker
    /// that runs job after job pays one commit per job. The next job is
    /// claimed whether or not the outcome could be recorded; the answer says
    /// whether the finished job has ended.
    fn hand_over(
        &self,
        session: SessionId,
        worker: WorkerId,
        id: JobId,
        outcome: JobOutcome<'_>,
        job_types: &[String],
    ) -> Result<Handover, QueueError>;

    // ---- workers ------------------------------------------------------------

    /// Record a build's own worker for these job types.
    fn register_worker(&self, session: SessionId, job_types: &[String], pid: u32) -> Result<WorkerId, QueueError>;

    /// The worker is alive and, with `job`, still working on it (a lease is
    /// extended). `false` when the job is no longer its own to finish
    /// (cancelled, finished, or another worker's), so the converter can stop
    /// early.
    fn heartbeat(&self, worker: WorkerId, job: Option<JobId>) -> Result<bool, QueueError>;

    /// How long ago the worker last beat; `None` for an unknown worker.
    fn heartbeat_age(&self, worker: WorkerId) -> Result<Option<Duration>, QueueError>;

    /// Record the last progress a job's plugin reported (`3/12 cell 3`),
    /// which `clx jobs list` shows.
    fn set_progress(&self, id: JobId, message: &str) -> Result<(), QueueError>;

    /// Record that a worker ended: [`WorkerStatus::Dead`] (lost: crashed,
    /// killed, hung) or [`WorkerStatus::Stopped`] (by its host).
    fn end_worker(&self, worker: WorkerId, status: WorkerStatus) -> Result<(), QueueError>;

    /// The worker was lost.
    fn mark_worker_dead(&self, worker: WorkerId) -> Result<(), QueueError> {
        self.end_worker(worker, WorkerStatus::Dead)
    }

    /// The worker was stopped by its host.
    fn mark_worker_stopped(&self, worker: WorkerId) -> Result<(), QueueError> {
        self.end_worker(worker, WorkerStatus::Stopped)
    }

    /// Workers, newest first; stopped and dead ones only with `all`. A live
    /// worker is busy while it runs a job; a job counts for the worker that
    /// ran it last.
    fn workers(&self, all: bool) -> Result<Vec<WorkerRecord>, QueueError>;

    /// The operations only a queue shared across machines has; `None` for a
    /// queue of one machine.
    fn shared(&self) -> Option<&dyn SharedQueue> {
        None
    }
}

/// PostgreSQL only: what `clx worker serve` on another machine needs of a
/// queue it shares with the builds it serves.
pub trait SharedQueue {
    /// Record a worker that serves every running session: `requirements`
    /// are what it can meet (see [`requirement`]), `capabilities` a
    /// description for people.
    fn register_server(
        &self,
        job_types: &[String],
        requirements: &[String],
        capabilities: &str,
        pid: u32,
    ) -> Result<WorkerId, QueueError>;

    /// Take the next job of any running session whose requirement the
    /// worker meets and which it has not refused.
    fn claim_any(&self, worker: WorkerId, requirements: &[String]) -> Result<Option<ClaimedJob>, QueueError>;

    /// [`Queue::hand_over`] for a worker that serves every running
    /// session: the outcome of its job `id` and its next claim (as
    /// [`SharedQueue::claim_any`] takes it) in one statement.
    fn hand_over_any(
        &self,
        worker: WorkerId,
        id: JobId,
        outcome: JobOutcome<'_>,
        requirements: &[String],
    ) -> Result<Handover, QueueError>;

    /// The worker cannot run this job as its key was computed (another tool
    /// identity): back to pending for another worker, without using up an
    /// attempt; this worker will not be offered it again.
    fn refuse(&self, id: JobId, worker: WorkerId) -> Result<(), QueueError>;

    /// The `clx worker serve` processes alive now (a heartbeat within a
    /// lease period), oldest first.
    fn servers(&self) -> Result<Vec<ServerRecord>, QueueError>;

    /// Subscribe this connection to announcements of new work.
    fn listen_for_jobs(&self) -> Result<(), QueueError>;

    /// Block until new work is announced or `timeout` passes; needs
    /// [`SharedQueue::listen_for_jobs`] first.
    fn wait_for_work(&self, timeout: Duration) -> Result<(), QueueError>;
}

/// What a job needs of the worker that runs it: its type, built by this
/// exact plugin library (the cache key covers the library's hash).
pub fn requirement(job_type: &str, plugin_library: &str) -> String {
    format!("{job_type}@{plugin_library}")
}

/// What [`Queue::hand_over`] did with a worker's finished job and its next.
#[derive(Debug)]
pub struct Handover {
    /// Whether the finished job has ended: its outcome was recorded now, or
    /// it ended before (cancelled, failed by the host), so its host can land
    /// it. `false` when it is not the worker's any more and has not ended
    /// (another worker took it over, or it is back in the queue): its real
    /// outcome is still to come.
    pub ended: bool,
    /// The job claimed next, if any.
    pub next: Option<ClaimedJob>,
}

/// A running announcement of finished jobs (see
/// [`Queue::announce_finished`]); dropping it stops it.
pub struct FinishedFeed {
    stop: Box<dyn FnMut() + Send>,
}

impl FinishedFeed {
    /// A feed that `stop` ends (and waits for).
    pub fn new(stop: impl FnMut() + Send + 'static) -> Self {
        FinishedFeed { stop: Box::new(stop) }
    }
}

impl Drop for FinishedFeed {
    fn drop(&mut self) {
        (self.stop)();
    }
}
