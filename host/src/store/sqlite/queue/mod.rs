//! The SQLite job queue: the record of every build session, job and worker.
//!
//! One connection per thread (a queue is not shared), WAL so readers such
//! as `clx status` never block a build, a busy handler instead of retry
//! loops, autocommit for single statements and `BEGIN IMMEDIATE` where a read
//! decides a write or several writes form one step (a batch of submissions;
//! a worker's outcome together with its next claim), since every commit
//! costs more than the statements in it. A claim selects and takes a pending
//! job under the write lock of `BEGIN IMMEDIATE`, its update again requiring
//! `status='pending'`, so two workers can never take the same job. Every
//! terminal state (`done`,
//! `failed`, `cancelled`) sets `finished_at`; `cancelled` is never
//! overwritten; a worker's outcome is recorded only while it still owns the
//! job (`worker=? AND status='running'`).

mod jobs;
mod operations;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior};

use crate::store::error::{BackendError, QueueError};
use crate::store::record::Recovered;

/// Bumped when the schema changes; an old database is recreated (the queue
/// holds no data worth migrating: the cache holds the results).
const SCHEMA_VERSION: i64 = 4;
/// WAL pages after which a commit checkpoints the queue.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;
/// The queue in one SQLite file.
pub struct SqliteQueue {
    conn: Connection,
    path: PathBuf,
    /// Set when the file was damaged and replaced by an empty queue.
    recovered: Option<Recovered>,
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // Check again under the write lock: two processes opening a new
    // database at once must not both (re)create it, or the second would
    // drop the first one's session.
    let tx = conn.unchecked_transaction_immediate()?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return tx.commit();
    }
    // A worker's row holds what changes rarely (status, heartbeat); what it
    // is doing and how many jobs it did are read from `jobs`, so a job's
    // claim and outcome write no worker row. `worker` ends the claim index
    // for those reads: claims and outcomes rewrite a job's index entry
    // anyway (its status changes), so the column costs them nothing.
    tx.execute_batch(&format!(
        "DROP TABLE IF EXISTS jobs; DROP TABLE IF EXISTS workers; DROP TABLE IF EXISTS sessions;
         CREATE TABLE sessions(
             id INTEGER PRIMARY KEY, spec TEXT NOT NULL, pid INTEGER NOT NULL,
             status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL);
         CREATE TABLE jobs(
             id INTEGER PRIMARY KEY, session INTEGER NOT NULL, job_type TEXT NOT NULL,
             source TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
             status TEXT NOT NULL CHECK (status IN ('pending','running','done','failed','cancelled')),
             attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
             payload TEXT NOT NULL, cache_key TEXT NOT NULL, worker INTEGER,
             created_at REAL NOT NULL, started_at REAL, finished_at REAL,
             error_message TEXT, error_location TEXT, error_category TEXT, result TEXT,
             progress TEXT);
         CREATE INDEX jobs_claim ON jobs(session, status, job_type, priority DESC, id, worker);
         CREATE TABLE workers(
             id INTEGER PRIMARY KEY, session INTEGER NOT NULL, job_types TEXT NOT NULL,
             pid INTEGER NOT NULL, status TEXT NOT NULL, heartbeat REAL NOT NULL,
             started_at REAL NOT NULL, stopped_at REAL);
         PRAGMA user_version = {SCHEMA_VERSION};"
    ))?;
    tx.commit()
}

impl SqliteQueue {
    /// Open (or create) the queue in `path`; a damaged file is moved aside.
    pub fn open(path: &Path) -> Result<SqliteQueue, QueueError> {
        let open_err =
            |source| QueueError::Open { path: path.display().to_string(), source: BackendError::new(source) };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let (conn, recovered) = crate::store::sqlite::open_rebuildable(path, migrate).map_err(open_err)?;
        // A checkpoint syncs the WAL and the database file, and the commit
        // that crosses the threshold waits for it: at SQLite's default of
        // 1,000 pages a worker paid two fsyncs every few hundred jobs. Every
        // job rewrites the same few pages, so a longer WAL costs the
        // checkpoint hardly more; the WAL file can grow to about 40 MB.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES).map_err(open_err)?;
        Ok(SqliteQueue { conn, path: path.to_owned(), recovered })
    }
}

pub(super) trait ImmediateTransaction {
    fn unchecked_transaction_immediate(&self) -> rusqlite::Result<rusqlite::Transaction<'_>>;
}

impl ImmediateTransaction for Connection {
    /// `BEGIN IMMEDIATE` on a shared connection: takes the write lock before
    /// the read, so the read-modify-write cannot race another writer.
    fn unchecked_transaction_immediate(&self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        rusqlite::Transaction::new_unchecked(self, TransactionBehavior::Immediate)
    }
}
