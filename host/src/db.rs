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
