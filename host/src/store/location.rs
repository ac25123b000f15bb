//! Where the record lives: SQLite and files in the state dir (the default),
//! or one PostgreSQL database shared by many machines. This is the one place
//! that knows both backends; everyone else holds a `Box<dyn Queue>` and a
//! `Box<dyn Cache>` and does not know which.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::store::cache::Cache;
use crate::store::error::{CacheError, QueueError};
use crate::store::pg::cache::PgCache;
use crate::store::pg::queue::PgQueue;
use crate::store::pg::{redact, PgError, PgUrl};
use crate::store::queue::Queue;
use crate::store::sqlite::cache::FileCache;
use crate::store::sqlite::queue::SqliteQueue;

/// The environment variable that hands a worker process the database URL:
/// an argument would show the password in `ps`.
pub const QUEUE_URL_VAR: &str = "CLX_QUEUE_URL";

/// Where the queue and the cache are.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// The SQLite queue and the file cache in the state dir.
    Local {
        /// The queue's database file.
        queue: PathBuf,
        /// The cache's directory.
        cache: PathBuf,
    },
    /// One PostgreSQL database holds both.
    Postgres(Box<PgUrl>),
}

/// A queue URL that clx cannot use.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct LocationError(#[from] PgError);

impl StoreLocation {
    /// `url` when given (a `postgres://` URL), else the state dir's files.
    pub fn resolve(url: Option<&str>, queue: &Path, cache: &Path) -> Result<StoreLocation, LocationError> {
        match url.filter(|u| !u.is_empty()) {
            Some(url) if PgUrl::is_postgres(url) => Ok(StoreLocation::Postgres(Box::new(PgUrl::parse(url)?))),
            Some(other) => {
                Err(PgError::Url(redact(other), "only postgres:// and postgresql:// URLs are supported".into()).into())
            }
            None => Ok(StoreLocation::Local { queue: queue.to_owned(), cache: cache.to_owned() }),
        }
    }

    /// Whether other machines can share this store (their workers serve its
    /// builds with `clx worker serve`).
    pub fn is_shared(&self) -> bool {
        matches!(self, StoreLocation::Postgres(_))
    }

    /// For people: the queue file, or `postgres user@host:port/db`.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Local { queue, .. } => queue.display().to_string(),
            StoreLocation::Postgres(url) => format!("postgres {url}"),
        }
    }

    /// Tell a `clx worker` process where the store is: file paths as
    /// arguments, a database URL by environment (an argument would show its
    /// password in `ps`).
    pub fn pass_to(&self, cmd: &mut Command) {
        match self {
            StoreLocation::Local { queue, cache } => {
                cmd.arg("--queue-db").arg(queue).arg("--cache-dir").arg(cache).env_remove(QUEUE_URL_VAR);
            }
            StoreLocation::Postgres(url) => {
                cmd.env(QUEUE_URL_VAR, url.as_secret_str());
            }
        }
    }

    /// The same store, whose connections stop waiting for an unreachable
    /// database once `flag` is set (a local store never waits).
    pub fn giving_up_when(self, flag: Arc<AtomicBool>) -> StoreLocation {
        match self {
            StoreLocation::Postgres(url) => StoreLocation::Postgres(Box::new(url.giving_up_when(flag))),
            local => local,
        }
    }

    /// Open the queue here.
    pub fn open_queue(&self) -> Result<Box<dyn Queue>, QueueError> {
        Ok(match self {
            StoreLocation::Local { queue, .. } => Box::new(SqliteQueue::open(queue)?),
            StoreLocation::Postgres(url) => Box::new(PgQueue::open(url)?),
        })
    }

    /// Open the cache here.
    pub fn open_cache(&self) -> Result<Box<dyn Cache>, CacheError> {
        Ok(match self {
            StoreLocation::Local { cache, .. } => Box::new(FileCache::open(cache)?),
            StoreLocation::Postgres(url) => Box::new(PgCache::open(url)?),
        })
    }
}
