//! The store's errors, the same for every backend. A backend's own error
//! travels inside as a [`BackendError`]: its text reaches the user, its type
//! stays the backend's business.

use std::path::PathBuf;

/// Something a queue or cache backend reported (a failed statement, a lost
/// connection), shown as the backend wrote it.
#[derive(Debug)]
pub struct BackendError {
    error: Box<dyn std::error::Error + Send + Sync>,
    /// Whether the error's own causes are shown after it. A backend whose
    /// messages already name their cause hides them, so it is not repeated.
    causes: bool,
}

impl BackendError {
    /// The error, with its causes.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        BackendError { error: Box::new(error), causes: true }
    }

    /// The error alone: its message already carries its cause.
    pub fn whole(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        BackendError { error: Box::new(error), causes: false }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        if self.causes {
            self.error.source()
        } else {
            None
        }
    }
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be opened or set up.
    #[error("job queue {path}: {source}")]
    Open {
        /// Where the queue is, for people.
        path: String,
        /// What the backend said.
        source: BackendError,
    },
    /// A statement failed.
    #[error("job queue: {0}")]
    Database(#[source] BackendError),
    /// No job has this id.
    #[error("job queue: no job {0}")]
    NoSuchJob(i64),
    /// A job's payload could not be encoded.
    #[error("job queue: {0}")]
    Payload(String),
}

/// Why a cache operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A blob file or directory could not be read or written.
    #[error("cache {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The cache's local index failed.
    #[error("cache index: {0}; if this persists, run `clx cache clear`")]
    Index(#[source] BackendError),
    /// A blob an entry names is gone.
    #[error("cache blob {0} is missing; run `clx cache clear` and build again")]
    MissingBlob(String),
    /// A blob's bytes do not match its hash.
    #[error("cache blob {0} is corrupt (its bytes do not match its hash); run `clx cache clear` and build again")]
    CorruptBlob(String),
    /// An entry cannot be decoded.
    #[error("cache entry {key} is unreadable ({message}); run `clx cache clear` and build again")]
    CorruptEntry {
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The database the cache shares with other machines failed.
    #[error("cache: {0}")]
    Database(#[source] BackendError),
}
