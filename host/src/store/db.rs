//! Opening the SQLite databases (queue and cache index) the same way.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

/// Open `path` with a busy timeout, WAL and `synchronous=NORMAL`.
///
/// Switching a fresh database to WAL needs an exclusive lock and SQLite
/// answers BUSY at once instead of waiting, so two builds (or a build and
/// its workers) opening a new database together retry for a while.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let mut attempt = 0;
    loop {
        let result = Connection::open(path).and_then(|conn| {
            conn.busy_timeout(Duration::from_secs(30))?;
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

/// A damaged database that was moved aside and replaced by an empty one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub path: std::path::PathBuf,
    pub moved_to: std::path::PathBuf,
    pub reason: String,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} was damaged ({}); moved it to {} and started afresh, so some work is done again",
            self.path.display(),
            self.reason,
            self.moved_to.display()
        )
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

/// Seconds since the Unix epoch: the time stamps of queue rows and cache entries.
pub fn now() -> f64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t(x INTEGER)")
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
