//! The cache of one machine, under one directory:
//! * `blobs/ab/cdef…`: byte strings named by their BLAKE3 hash (sources,
//!   siblings and outputs alike), written once with temp file + rename, so a
//!   crash never leaves a half-written blob under its final name;
//! * `index.db`: SQLite, cache key -> entry (which blob each output is, or its
//!   error, plus the job's issues), with sizes and last use for pruning.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::cache::Cache;
use crate::store::entry::{checked, BlobHash, CacheEntry, CacheKey, CacheStats};
use crate::store::error::CacheError;
use crate::store::record::{now, Recovered};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io { path: path.to_owned(), source }
}

/// The cache in the state dir: blob files and an SQLite index.
pub struct FileCache {
    dir: PathBuf,
    conn: Connection,
    /// Set when the index was damaged and replaced by an empty one.
    recovered: Option<Recovered>,
}

impl FileCache {
    /// Open (or create) the cache in `dir`; a damaged index is moved aside.
    pub fn open(dir: &Path) -> Result<FileCache, CacheError> {
        let blobs = dir.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let (conn, recovered) = crate::store::sqlite::open_rebuildable(&dir.join("index.db"), |conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS entries(
                     key TEXT PRIMARY KEY, value TEXT NOT NULL, bytes INTEGER NOT NULL,
                     created_at REAL NOT NULL, used_at REAL NOT NULL);
                 CREATE TABLE IF NOT EXISTS memo(
                     key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at REAL NOT NULL)",
            )
        })?;
        Ok(FileCache { dir: dir.to_owned(), conn, recovered })
    }

    fn blob_path(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        let (prefix, rest) = hex.split_at(2.min(hex.len()));
        self.dir.join("blobs").join(prefix).join(rest)
    }

    fn blob_files(&self) -> Result<Vec<PathBuf>, CacheError> {
        let root = self.dir.join("blobs");
        let mut files = Vec::new();
        for dir in std::fs::read_dir(&root).map_err(io_err(&root))? {
            let dir = dir.map_err(io_err(&root))?.path();
            if !dir.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
                files.push(f.map_err(io_err(&dir))?.path());
            }
        }
        Ok(files)
    }
}

impl Cache for FileCache {
    fn take_recovered(&mut self) -> Option<Recovered> {
        self.recovered.take()
    }

    fn put_blob(&self, bytes: &[u8]) -> Result<BlobHash, CacheError> {
        let hash = BlobHash::of(bytes);
        let path = self.blob_path(&hash);
        // A blob present with other bytes (a damaged disk, a stray write) is
        // replaced, so storing an input or a fresh result heals it.
        let intact = std::fs::read(&path).is_ok_and(|stored| stored == bytes);
        if intact && touch(&path) {
            return Ok(hash);
        }
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
        tmp.write_all(bytes).map_err(io_err(&path))?;
        tmp.persist(&path).map_err(|e| CacheError::Io { path: path.clone(), source: e.error })?;
        Ok(hash)
    }

    fn get_blob(&self, hash: &BlobHash) -> Result<Vec<u8>, CacheError> {
        let path = self.blob_path(hash);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CacheError::MissingBlob(hash.to_hex().to_owned()))
            }
            Err(e) => return Err(CacheError::Io { path, source: e }),
        };
        checked(hash, bytes)
    }

    fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<(), CacheError> {
        let value = entry.encode(key)?;
        let bytes: u64 =
            entry.blobs().map(|h| std::fs::metadata(self.blob_path(h)).map(|m| m.len()).unwrap_or(0)).sum();
        let t = now();
        self.conn.execute(
            "INSERT INTO entries(key, value, bytes, created_at, used_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT(key) DO UPDATE SET value=excluded.value, bytes=excluded.bytes, used_at=excluded.used_at",
            params![key.as_str(), value, bytes as i64, t],
        )?;
        Ok(())
    }

    fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, CacheError> {
        let row: Option<(String, f64)> = self
            .conn
            .query_row("SELECT value, used_at FROM entries WHERE key=?1", [key.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((value, used_at)) = row else { return Ok(None) };
        let entry = CacheEntry::decode(key, &value)?;
        // Touching the blobs both checks they exist and marks them in use,
        // so a `prune` beside this build does not take them before they land.
        let complete = entry.blobs().all(|h| touch(&self.blob_path(h)));
        if !complete {
            return Ok(None);
        }
        let t = now();
        if t - used_at > STILL_FRESH.as_secs_f64() {
            self.conn.execute("UPDATE entries SET used_at=?2 WHERE key=?1", params![key.as_str(), t])?;
        }
        Ok(Some(entry))
    }

    fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
        self.conn.execute("DELETE FROM entries WHERE key=?1", [key.as_str()])?;
        Ok(())
    }

    fn remove_blob(&self, hash: &BlobHash) -> Result<(), CacheError> {
        let path = self.blob_path(hash);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CacheError::Io { path, source: e }),
            _ => Ok(()),
        }
    }

    fn blob_hashes(&self) -> Result<Vec<BlobHash>, CacheError> {
        let mut hashes = Vec::new();
        for path in self.blob_files()? {
            let prefix = path.parent().and_then(Path::file_name).and_then(|n| n.to_str());
            let rest = path.file_name().and_then(|n| n.to_str());
            // A temp file of a blob being written is no blob yet.
            if let (Some(prefix), Some(rest)) = (prefix, rest) {
                let hex = format!("{prefix}{rest}");
                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    hashes.push(BlobHash::from_stored(hex));
                }
            }
        }
        Ok(hashes)
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        let entries: i64 = self.conn.query_row("SELECT count(*) FROM entries", [], |r| r.get(0))?;
        let (mut blobs, mut blob_bytes) = (0, 0);
        for path in self.blob_files()? {
            blobs += 1;
            blob_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        }
        Ok(CacheStats { path: self.dir.clone(), entries: entries as u64, blobs, blob_bytes })
    }

    fn prune(&self, older_than: Duration) -> Result<(usize, usize), CacheError> {
        let entries =
            self.conn.execute("DELETE FROM entries WHERE used_at < ?1", [now() - older_than.as_secs_f64()])?;
        let mut live = std::collections::HashSet::new();
        let mut stmt = self.conn.prepare("SELECT value FROM entries")?;
        for value in stmt.query_map([], |r| r.get::<_, String>(0))? {
            if let Ok(entry) = serde_json::from_str::<CacheEntry>(&value?) {
                live.extend(entry.blobs().map(|h| self.blob_path(h)));
            }
        }
        let mut blobs = 0;
        for path in self.blob_files()? {
            // Blobs written in the last hour may be inputs of a running build.
            let recent = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().map(|e| e < Duration::from_secs(3600)).unwrap_or(true))
                .unwrap_or(true);
            if !live.contains(&path) && !recent && std::fs::remove_file(&path).is_ok() {
                blobs += 1;
            }
        }
        Ok((entries, blobs))
    }

    fn memo(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self.conn.query_row("SELECT value FROM memo WHERE key=?1", [key], |r| r.get(0)).optional()?)
    }

    fn put_memo(&self, key: &str, value: &str) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT INTO memo(key, value, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET value=excluded.value, created_at=excluded.created_at",
            params![key, value, now()],
        )?;
        Ok(())
    }

    fn clear(&self) -> Result<(), CacheError> {
        self.conn.execute("DELETE FROM entries", [])?;
        self.conn.execute("DELETE FROM memo", [])?;
        let root = self.dir.join("blobs");
        std::fs::remove_dir_all(&root).map_err(io_err(&root))?;
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(())
    }
}

/// How recent a use must be to need no new record: far below prune's one
/// hour for blobs and its days for entries.
const STILL_FRESH: Duration = Duration::from_secs(600);

/// Set a blob's modification time to now; false when it does not exist.
///
/// A blob touched within [`STILL_FRESH`] is left alone: prune spares blobs
/// used in the last hour anyway, and an unchanged rebuild then reads the
/// cache without writing to it.
fn touch(path: &Path) -> bool {
    let fresh = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < STILL_FRESH));
    if fresh {
        return true;
    }
    match std::fs::File::options().append(true).open(path) {
        Ok(f) => {
            // Best effort: a blob we cannot touch is still a valid blob.
            let _ = f.set_modified(std::time::SystemTime::now());
            true
        }
        Err(_) => path.exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredOutput;

    fn key(name: &str) -> CacheKey {
        CacheKey::builder().job_type(name).finish()
    }

    #[test]
    fn blob_round_trips_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::open(dir.path()).unwrap();
        let h = cache.put_blob(b"hello").unwrap();
        assert_eq!(cache.get_blob(&h).unwrap(), b"hello");
        std::fs::write(cache.blob_path(&h), b"hellO").unwrap();
        assert!(matches!(cache.get_blob(&h), Err(CacheError::CorruptBlob(_))));
    }

    #[test]
    fn entry_with_a_missing_blob_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::open(dir.path()).unwrap();
        let h = cache.put_blob(b"png").unwrap();
        let entry = CacheEntry { outputs: vec![("png".into(), StoredOutput::Blob(h.clone()))], issues: vec![] };
        cache.put(&key("k"), &entry).unwrap();
        assert_eq!(cache.get(&key("k")).unwrap(), Some(entry));
        std::fs::remove_file(cache.blob_path(&h)).unwrap();
        assert_eq!(cache.get(&key("k")).unwrap(), None);
    }

    #[test]
    fn storing_a_blob_that_exists_makes_it_recent_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::open(dir.path()).unwrap();
        let h = cache.put_blob(b"source").unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options().append(true).open(cache.blob_path(&h)).unwrap().set_modified(old).unwrap();
        cache.put_blob(b"source").unwrap();
        assert_eq!(cache.prune(Duration::ZERO).unwrap(), (0, 0), "an input just stored again is not pruned");
        assert_eq!(cache.get_blob(&h).unwrap(), b"source");
    }
}
