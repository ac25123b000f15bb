//! Where the record lives: SQLite and files in the state dir (the default),
//! or one PostgreSQL database shared by many machines. The rest of clx holds
//! a [`Queue`] and a [`Cache`] and does not know which.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::store::cache::{BlobHash, CacheEntry, CacheError, CacheKey, CacheStats, FileCache};
use crate::store::db::Recovered;
use crate::store::pg::cache::PgCache;
use crate::store::pg::queue::PgQueue;
use crate::store::pg::{PgError, PgUrl};
use crate::store::queue::{
    self, ClaimedJob, JobError, JobId, JobOutcome, JobRecord, JobStatus, NewJob, QueueError, Requeued, SessionId,
    SessionRecord, SessionStatus, WorkerId, WorkerRecord,
};

/// The environment variable that hands a worker process the database URL:
/// an argument would show the password in `ps`.
pub const QUEUE_URL_VAR: &str = "CLX_QUEUE_URL";

/// Where the queue and the cache are.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// The SQLite queue and the file cache in the state dir.
    Local { queue: PathBuf, cache: PathBuf },
    /// One PostgreSQL database holds both.
    Postgres(Box<PgUrl>),
}

impl StoreLocation {
    /// `url` when given (a `postgres://` URL), else the state dir's files.
    pub fn resolve(url: Option<&str>, queue: &Path, cache: &Path) -> Result<StoreLocation, PgError> {
        match url.filter(|u| !u.is_empty()) {
            Some(url) if PgUrl::is_postgres(url) => Ok(StoreLocation::Postgres(Box::new(PgUrl::parse(url)?))),
            Some(other) => {
                Err(PgError::Url(other.to_owned(), "only postgres:// and postgresql:// URLs are supported".into()))
            }
            None => Ok(StoreLocation::Local { queue: queue.to_owned(), cache: cache.to_owned() }),
        }
    }

    pub fn postgres(&self) -> Option<&PgUrl> {
        match self {
            StoreLocation::Postgres(url) => Some(url),
            StoreLocation::Local { .. } => None,
        }
    }

    /// For people: the queue file, or `user@host:port/db`.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Local { queue, .. } => queue.display().to_string(),
            StoreLocation::Postgres(url) => format!("postgres {url}"),
        }
    }
}

/// Forward a call to whichever queue or cache this is.
macro_rules! dispatch {
    ($self:expr, $inner:ident => $call:expr) => {
        match $self {
            Self::Local($inner) => $call,
            Self::Postgres($inner) => $call,
        }
    };
}

/// The job queue: sessions, jobs and workers.
pub enum Queue {
    Local(queue::Queue),
    Postgres(Box<PgQueue>),
}

impl Queue {
    pub fn open(location: &StoreLocation) -> Result<Queue, QueueError> {
        Ok(match location {
            StoreLocation::Local { queue, .. } => Queue::Local(queue::Queue::open(queue)?),
            StoreLocation::Postgres(url) => Queue::Postgres(Box::new(PgQueue::open(url)?)),
        })
    }

    /// A damaged queue file that was replaced by an empty one.
    pub fn take_recovered(&mut self) -> Option<Recovered> {
        match self {
            Queue::Local(q) => q.recovered.take(),
            Queue::Postgres(_) => None,
        }
    }

    pub fn postgres(&self) -> Option<&PgQueue> {
        match self {
            Queue::Postgres(q) => Some(q),
            Queue::Local(_) => None,
        }
    }

    pub fn start_session(&self, spec: &str) -> Result<SessionId, QueueError> {
        dispatch!(self, q => q.start_session(spec))
    }
    pub fn finish_session(&self, session: SessionId, status: SessionStatus) -> Result<(), QueueError> {
        dispatch!(self, q => q.finish_session(session, status))
    }
    pub fn reap_stale(&self) -> Result<usize, QueueError> {
        dispatch!(self, q => q.reap_stale())
    }
    pub fn sessions(&self, limit: usize) -> Result<Vec<SessionRecord>, QueueError> {
        dispatch!(self, q => q.sessions(limit))
    }
    pub fn submit(
        &self,
        session: SessionId,
        job_type: &str,
        source: &str,
        priority: i64,
        payload: &str,
        cache_key: &CacheKey,
    ) -> Result<JobId, QueueError> {
        dispatch!(self, q => q.submit(session, job_type, source, priority, payload, cache_key))
    }
    pub fn submit_many(&self, session: SessionId, jobs: &[NewJob<'_>]) -> Result<Vec<JobId>, QueueError> {
        dispatch!(self, q => q.submit_many(session, jobs))
    }
    pub fn finish_and_claim(
        &self,
        session: SessionId,
        worker: WorkerId,
        id: JobId,
        outcome: JobOutcome<'_>,
        job_types: &[String],
    ) -> Result<Option<ClaimedJob>, QueueError> {
        dispatch!(self, q => q.finish_and_claim(session, worker, id, outcome, job_types))
    }
    pub fn job(&self, id: JobId) -> Result<JobRecord, QueueError> {
        dispatch!(self, q => q.job(id))
    }
    pub fn jobs(
        &self,
        session: Option<SessionId>,
        status: Option<JobStatus>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, QueueError> {
        dispatch!(self, q => q.jobs(session, status, limit))
    }
    pub fn counts(&self, session: Option<SessionId>) -> Result<Vec<(JobStatus, i64)>, QueueError> {
        dispatch!(self, q => q.counts(session))
    }
    pub fn oldest_pending(&self) -> Result<Option<f64>, QueueError> {
        dispatch!(self, q => q.oldest_pending())
    }
    pub fn cancel(&self, ids: &[JobId]) -> Result<usize, QueueError> {
        dispatch!(self, q => q.cancel(ids))
    }
    pub fn retry(&self, ids: &[JobId]) -> Result<usize, QueueError> {
        dispatch!(self, q => q.retry(ids))
    }
    pub fn requeue(&self, id: JobId, error: &JobError) -> Result<Requeued, QueueError> {
        dispatch!(self, q => q.requeue(id, error))
    }
    pub fn fail_running(&self, id: JobId, error: &JobError) -> Result<(), QueueError> {
        dispatch!(self, q => q.fail_running(id, error))
    }
    pub fn fail_pending(
        &self,
        session: SessionId,
        job_types: &[String],
        error: &JobError,
    ) -> Result<Vec<JobId>, QueueError> {
        dispatch!(self, q => q.fail_pending(session, job_types, error))
    }
    pub fn jobs_held_by(&self, worker: WorkerId) -> Result<Vec<JobId>, QueueError> {
        dispatch!(self, q => q.jobs_held_by(worker))
    }
    pub fn claim(
        &self,
        session: SessionId,
        worker: WorkerId,
        job_types: &[String],
    ) -> Result<Option<ClaimedJob>, QueueError> {
        dispatch!(self, q => q.claim(session, worker, job_types))
    }
    pub fn complete(&self, id: JobId, worker: WorkerId, result: &str) -> Result<(), QueueError> {
        dispatch!(self, q => q.complete(id, worker, result))
    }
    pub fn fail(&self, id: JobId, worker: WorkerId, error: &JobError, result: Option<&str>) -> Result<(), QueueError> {
        dispatch!(self, q => q.fail(id, worker, error, result))
    }
    pub fn register_worker(&self, session: SessionId, job_types: &[String], pid: u32) -> Result<WorkerId, QueueError> {
        dispatch!(self, q => q.register_worker(session, job_types, pid))
    }
    pub fn heartbeat(&self, worker: WorkerId, job: Option<JobId>) -> Result<bool, QueueError> {
        dispatch!(self, q => q.heartbeat(worker, job))
    }
    pub fn heartbeat_age(&self, worker: WorkerId) -> Result<Option<Duration>, QueueError> {
        dispatch!(self, q => q.heartbeat_age(worker))
    }
    pub fn mark_worker_dead(&self, worker: WorkerId) -> Result<(), QueueError> {
        dispatch!(self, q => q.mark_worker_dead(worker))
    }
    pub fn mark_worker_stopped(&self, worker: WorkerId) -> Result<(), QueueError> {
        dispatch!(self, q => q.mark_worker_stopped(worker))
    }
    pub fn workers(&self, all: bool) -> Result<Vec<WorkerRecord>, QueueError> {
        dispatch!(self, q => q.workers(all))
    }
}

/// The content-addressed cache: blobs by hash, entries by cache key.
pub enum Cache {
    Local(FileCache),
    Postgres(Box<PgCache>),
}

impl Cache {
    pub fn open(location: &StoreLocation) -> Result<Cache, CacheError> {
        Ok(match location {
            StoreLocation::Local { cache, .. } => Cache::Local(FileCache::open(cache)?),
            StoreLocation::Postgres(url) => Cache::Postgres(Box::new(PgCache::open(url)?)),
        })
    }

    /// A damaged index that was replaced by an empty one.
    pub fn take_recovered(&mut self) -> Option<Recovered> {
        match self {
            Cache::Local(c) => c.recovered.take(),
            Cache::Postgres(_) => None,
        }
    }

    pub fn put_blob(&self, bytes: &[u8]) -> Result<BlobHash, CacheError> {
        dispatch!(self, c => c.put_blob(bytes))
    }
    pub fn get_blob(&self, hash: &BlobHash) -> Result<Vec<u8>, CacheError> {
        dispatch!(self, c => c.get_blob(hash))
    }
    pub fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<(), CacheError> {
        dispatch!(self, c => c.put(key, entry))
    }
    pub fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, CacheError> {
        dispatch!(self, c => c.get(key))
    }
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        dispatch!(self, c => c.stats())
    }
    pub fn prune(&self, older_than: Duration) -> Result<(usize, usize), CacheError> {
        dispatch!(self, c => c.prune(older_than))
    }
    pub fn memo(&self, key: &str) -> Result<Option<String>, CacheError> {
        dispatch!(self, c => c.memo(key))
    }
    pub fn put_memo(&self, key: &str, value: &str) -> Result<(), CacheError> {
        dispatch!(self, c => c.put_memo(key, value))
    }
    pub fn clear(&self) -> Result<(), CacheError> {
        dispatch!(self, c => c.clear())
    }
}
