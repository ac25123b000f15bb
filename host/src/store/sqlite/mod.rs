//! The SQLite backend: the queue in one database file, the cache as blob
//! files with an SQLite index, both in the state dir of one machine. This
//! module opens both databases the same way.

pub mod cache;
pub mod queue;

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode};

use crate::store::error::{BackendError, CacheError, QueueError};
use crate::store::record::Recovered;

/// How long a statement waits for another process's write lock before it
/// fails with BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Open `path` with a short-back-off busy handler, stable query plans, WAL
/// and `synchronous=NORMAL`.
///
/// Switching a fresh database to WAL needs an exclusive lock and SQLite
/// answers BUSY at once instead of waiting, so two builds (or a build and
/// its workers) opening a new database together retry for a while.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let mut attempt = 0;
    loop {
        let result = Connection::open(path).and_then(|mut conn| {
            conn.busy_handler(Some(BusyBackoff::default().handler()))?;
            // Without the query planner stability guarantee SQLite marks the
            // parameters of some queries (the claim's subquery, with its
            // ORDER BY … LIMIT) as ones whose values may change the plan, and
            // rusqlite's statement cache clears the bindings of a statement
            // it takes back, which makes SQLite prepare it again on every
            // use: half the CPU time of a claim. Plans here never depend on
            // values (no ANALYZE statistics, no LIKE patterns as parameters).
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(conn)
        });
        match result {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) && attempt < 300 =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Waits for a lock held by another connection.
///
/// SQLite's own `busy_timeout` sleeps 1, 2, 5, 10, 15, 20, 25 … ms between
/// tries, while a queue transaction holds the write lock for tens of
/// microseconds: with several workers contending, most of their time went
/// into sleeping on a lock that was long free. This handler yields the CPU
/// first, then sleeps from 20 µs upwards, doubling up to 2 ms, so a long
/// writer (a checkpoint, a big batch) still does not make waiters spin, and
/// gives up after [`BUSY_TIMEOUT`] as the timeout did.
#[derive(Default)]
struct BusyBackoff {
    /// When the current wait began (SQLite counts tries per lock event and
    /// starts again at 0 for the next one).
    since: Option<Instant>,
}

impl BusyBackoff {
    const YIELDS: i32 = 4;
    const FIRST_SLEEP: Duration = Duration::from_micros(20);
    const LONGEST_SLEEP: Duration = Duration::from_millis(2);

    fn handler(mut self) -> impl FnMut(i32) -> bool + Send + 'static {
        move |tries| self.wait(tries)
    }

    fn wait(&mut self, tries: i32) -> bool {
        let since = match (tries, self.since) {
            (0, _) | (_, None) => *self.since.insert(Instant::now()),
            (_, Some(since)) => since,
        };
        if since.elapsed() >= BUSY_TIMEOUT {
            return false;
        }
        if tries < Self::YIELDS {
            std::thread::yield_now();
        } else {
            let doublings = u32::try_from(tries - Self::YIELDS).unwrap_or(0).min(16);
            std::thread::sleep((Self::FIRST_SLEEP * (1 << doublings)).min(Self::LONGEST_SLEEP));
        }
        true
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        QueueError::Database(BackendError::new(e))
    }
}

impl From<rusqlite::Error> for CacheError {
    fn from(e: rusqlite::Error) -> Self {
        CacheError::Index(BackendError::new(e))
    }
}

/// Open a database clx can rebuild from nothing (the queue, the cache
/// index) and run `init` on it. A file SQLite finds damaged is moved aside to
/// `<name>.corrupt` and created anew: a disk-full crash or a stray write must
/// not leave the user deleting state files by hand before they can build.
pub fn open_rebuildable(
    path: &Path,
    init: impl Fn(&Connection) -> rusqlite::Result<()>,
) -> rusqlite::Result<(Connection, Option<Recovered>)> {
    let attempt = || -> rusqlite::Result<Connection> {
        let conn = open(path)?;
        // quick_check reads every page: cheap for these small files, and it
        // finds a truncated file that would open fine and fail mid-build.
        let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if verdict != "ok" {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(verdict),
            ));
        }
        init(&conn)?;
        Ok(conn)
    };
    match attempt() {
        Ok(conn) => Ok((conn, None)),
        Err(rusqlite::Error::SqliteFailure(e, message))
            if matches!(e.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
        {
            let reason = message.unwrap_or_else(|| e.to_string());
            let mut moved_to = path.as_os_str().to_owned();
            moved_to.push(".corrupt");
            let moved_to = std::path::PathBuf::from(moved_to);
            std::fs::rename(path, &moved_to).map_err(|_| rusqlite::Error::SqliteFailure(e, Some(reason.clone())))?;
            for suffix in ["-wal", "-shm"] {
                let mut side = path.as_os_str().to_owned();
                side.push(suffix);
                let _ = std::fs::remove_file(side);
            }
            let conn = attempt()?;
            Ok((conn, Some(Recovered { path: path.to_owned(), moved_to, reason })))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t(x INTEGER)")
    }

    #[test]
    fn a_writer_waits_for_another_connections_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let holder = open(&path).unwrap();
        init(&holder).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)").unwrap();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || open(&path).and_then(|conn| conn.execute("INSERT INTO t VALUES (2)", [])))
        };
        // Give the waiter time to run into the lock; it must wait, not fail.
        std::thread::sleep(Duration::from_millis(50));
        holder.execute_batch("COMMIT").unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), 1);
        let rows: i64 = holder.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 2);
    }

    #[test]
    fn a_cached_statement_is_not_prepared_again_when_its_parameters_change() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("x.db")).unwrap();
        init(&conn).unwrap();
        conn.execute("INSERT INTO t VALUES (0)", []).unwrap();
        // Shaped like a claim: a parameter in a subquery with ORDER BY … LIMIT.
        let sql = "UPDATE t SET x=x+1 WHERE rowid = (SELECT rowid FROM t WHERE x=?1 ORDER BY rowid LIMIT 1)";
        for x in 0..4 {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            assert_eq!(stmt.execute([x]).unwrap(), 1);
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
        }
    }

    #[test]
    fn garbage_file_is_moved_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        std::fs::write(&path, vec![b'g'; 4096]).unwrap();
        let (conn, recovered) = open_rebuildable(&path, init).unwrap();
        let recovered = recovered.expect("recovered");
        assert_eq!(std::fs::read(&recovered.moved_to).unwrap(), vec![b'g'; 4096]);
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
    }

    #[test]
    fn truncated_database_is_moved_aside_and_a_healthy_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        {
            let (conn, _) = open_rebuildable(&path, init).unwrap();
            for i in 0..2000 {
                conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
            }
            conn.pragma_update(None, "wal_checkpoint", "TRUNCATE").unwrap();
        }
        assert!(open_rebuildable(&path, init).unwrap().1.is_none(), "a healthy file stays");
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 2).unwrap();
        let (_, recovered) = open_rebuildable(&path, init).unwrap();
        assert!(recovered.is_some(), "a truncated file is detected");
    }
}
