//! The record: the job queue and the content-addressed cache. This is the
//! only place in the host that speaks SQL.
//!
//! The ground floor is the vocabulary every backend shares: [`record`]
//! (ids, statuses, records), [`entry`] (cache keys and entries), [`error`].
//! Above it the contract, [`Queue`] and [`Cache`], with its rules written
//! once. The backends, [`sqlite`] and [`pg`], implement the contract from
//! the vocabulary and never import each other; [`location`] is the one
//! module that knows both and opens the right one. [`job`] is the payload
//! of a job, written and read only through the contract.

pub mod cache;
pub mod entry;
pub mod error;
pub mod job;
pub mod location;
pub mod pg;
pub mod queue;
pub mod record;
pub mod sqlite;

pub use cache::{Cache, Lookup, Verified};
pub use entry::{BlobHash, CacheEntry, CacheKey, CacheKeyBuilder, CacheStats, StoredIssue, StoredOutput};
pub use error::{BackendError, CacheError, QueueError};
pub use job::{ClaimedJob, NewJob};
pub use location::{StoreLocation, QUEUE_URL_VAR};
pub use queue::{requirement, FinishedFeed, Handover, Queue, SharedQueue};
pub use record::{
    now, ErrorCategory, JobError, JobId, JobOutcome, JobRecord, JobStatus, Recovered, Requeued, ServerRecord,
    SessionId, SessionRecord, SessionStatus, WorkerId, WorkerRecord, WorkerStatus, MAX_ATTEMPTS,
};
