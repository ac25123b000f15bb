//! The content-addressed cache every output passes through.
//!
//! Two parts under one directory:
//! * `blobs/ab/cdef…`: byte strings named by their BLAKE3 hash (sources,
//!   siblings and outputs alike), written once with temp file + rename, so a
//!   crash never leaves a half-written blob under its final name;
//! * `index.db`: SQLite, cache key -> entry (which blob each output is, or its
//!   error, plus the job's issues), with sizes and last use for pruning.
//!
//! A worker stores its result here; the host materialises outputs from here,
//! whether the entry is fresh or from an earlier build.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::report::Level;
use crate::store::db::now;

/// Part of every key: bump it when the meaning of an entry changes.
pub const CACHE_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cache index: {0}; if this persists, run `clx cache clear`")]
    Sql(#[from] rusqlite::Error),
    #[error("cache blob {0} is missing; run `clx cache clear` and build again")]
    MissingBlob(String),
    #[error("cache blob {0} is corrupt (its bytes do not match its hash); run `clx cache clear` and build again")]
    CorruptBlob(String),
    #[error("cache entry {key} is unreadable ({message}); run `clx cache clear` and build again")]
    CorruptEntry { key: String, message: String },
    #[error("cache: {0}")]
    Postgres(crate::store::pg::PgError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io { path: path.to_owned(), source }
}

/// The hash naming a blob.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobHash(String);

impl BlobHash {
    pub fn of(bytes: &[u8]) -> BlobHash {
        BlobHash(blake3::hash(bytes).to_hex().to_string())
    }

    pub fn to_hex(&self) -> &str {
        &self.0
    }
}

/// A cache key: the hash over everything that can change a job's result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn builder() -> CacheKeyBuilder {
        let mut b = CacheKeyBuilder { hasher: blake3::Hasher::new() };
        b.field("schema", CACHE_SCHEMA_VERSION.to_string().as_bytes());
        b
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key read back from the queue, where it was stored by [`CacheKey::as_str`].
    pub(in crate::store) fn from_stored(key: String) -> CacheKey {
        CacheKey(key)
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Feeds tagged, length-prefixed fields into the hash, so no two different
/// field lists can produce the same byte stream.
pub struct CacheKeyBuilder {
    hasher: blake3::Hasher,
}

impl CacheKeyBuilder {
    fn field(&mut self, tag: &str, bytes: &[u8]) {
        self.hasher.update(tag.as_bytes());
        self.hasher.update(&(bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }

    pub fn plugin(mut self, name: &str, version: &str) -> Self {
        self.field("plugin", name.as_bytes());
        self.field("plugin-version", version.as_bytes());
        self
    }

    /// The plugin library's content hash: a rebuilt plugin renders anew
    /// even when it kept its version number.
    pub fn plugin_library(mut self, hash: &str) -> Self {
        self.field("plugin-library", hash.as_bytes());
        self
    }

    /// The plugin's `[converters.NAME]` settings as JSON (a venv, a time-out,
    /// a tool path all change what the plugin produces).
    pub fn plugin_config(mut self, json: &str) -> Self {
        self.field("plugin-config", json.as_bytes());
        self
    }

    pub fn job_type(mut self, job_type: &str) -> Self {
        self.field("job-type", job_type.as_bytes());
        self
    }

    /// Requested outputs and options as JSON; `serde_json` maps are sorted,
    /// so equal values give equal bytes.
    pub fn outputs_and_options(mut self, value: &serde_json::Value) -> Self {
        self.field("request", value.to_string().as_bytes());
        self
    }

    pub fn source(mut self, bytes: &[u8]) -> Self {
        self.field("source", bytes);
        self
    }

    pub fn sibling(mut self, path: &str, bytes: &[u8]) -> Self {
        self.field("sibling-path", path.as_bytes());
        self.field("sibling", bytes);
        self
    }

    pub fn tool_identity(mut self, identity: &str) -> Self {
        self.field("tool", identity.as_bytes());
        self
    }

    pub fn finish(self) -> CacheKey {
        CacheKey(self.hasher.finalize().to_hex().to_string())
    }
}

/// One output of a cached job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredOutput {
    Blob(BlobHash),
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIssue {
    pub severity: Level,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub cell: Option<u32>,
}

impl From<&clx_plugin_api::Issue> for StoredIssue {
    fn from(i: &clx_plugin_api::Issue) -> Self {
        StoredIssue {
            severity: Level::parse(i.severity.as_str()),
            message: i.message.to_string(),
            file: i.file.as_ref().map(|f| f.to_string()).into_option(),
            line: i.line.into_option(),
            cell: i.cell.into_option(),
        }
    }
}

/// Everything a job produced: each output (by request id) and its issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    pub outputs: Vec<(String, StoredOutput)>,
    pub issues: Vec<StoredIssue>,
}

impl CacheEntry {
    pub fn output(&self, id: &str) -> Option<&StoredOutput> {
        self.outputs.iter().find(|(i, _)| i == id).map(|(_, o)| o)
    }

    /// The blobs its outputs are.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobHash> {
        self.outputs.iter().filter_map(|(_, o)| match o {
            StoredOutput::Blob(h) => Some(h),
            StoredOutput::Error(_) => None,
        })
    }

    /// The entry as a cache index stores it.
    pub(crate) fn encode(&self, key: &CacheKey) -> Result<String, CacheError> {
        serde_json::to_string(self)
            .map_err(|e| CacheError::CorruptEntry { key: key.to_string(), message: e.to_string() })
    }

    pub(crate) fn decode(key: &CacheKey, value: &str) -> Result<CacheEntry, CacheError> {
        serde_json::from_str(value)
            .map_err(|e| CacheError::CorruptEntry { key: key.to_string(), message: e.to_string() })
    }
}

/// `bytes` when they are the blob `hash` names: a damaged cache gives an
/// error instead of a silently wrong output.
pub(crate) fn checked(hash: &BlobHash, bytes: Vec<u8>) -> Result<Vec<u8>, CacheError> {
    if BlobHash::of(&bytes) != *hash {
        return Err(CacheError::CorruptBlob(hash.to_hex().to_owned()));
    }
    Ok(bytes)
}

#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    pub path: PathBuf,
    pub entries: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
}

/// The cache in the state dir: blob files and an SQLite index.
pub struct FileCache {
    dir: PathBuf,
    conn: Connection,
    /// Set when the index was damaged and replaced by an empty one.
    pub recovered: Option<crate::store::db::Recovered>,
}

impl FileCache {
    pub fn open(dir: &Path) -> Result<FileCache, CacheError> {
        let blobs = dir.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let (conn, recovered) = crate::store::db::open_rebuildable(&dir.join("index.db"), |conn| {
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

    /// Store bytes; a blob already present is not written again, but its
    /// age is refreshed: `prune` spares recent blobs, and this one is in use.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<BlobHash, CacheError> {
        let hash = BlobHash::of(bytes);
        let path = self.blob_path(&hash);
        if touch(&path) {
            return Ok(hash);
        }
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
        tmp.write_all(bytes).map_err(io_err(&path))?;
        tmp.persist(&path).map_err(|e| CacheError::Io { path: path.clone(), source: e.error })?;
        Ok(hash)
    }

    /// Read a blob and check it still matches its hash, so a damaged cache
    /// gives an error instead of a silently wrong output.
    pub fn get_blob(&self, hash: &BlobHash) -> Result<Vec<u8>, CacheError> {
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

    pub fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<(), CacheError> {
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

    /// The entry for `key`, if present and every output blob still exists.
    pub fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, CacheError> {
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

    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        let entries: i64 = self.conn.query_row("SELECT count(*) FROM entries", [], |r| r.get(0))?;
        let (mut blobs, mut blob_bytes) = (0, 0);
        for path in self.blob_files()? {
            blobs += 1;
            blob_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        }
        Ok(CacheStats { path: self.dir.clone(), entries: entries as u64, blobs, blob_bytes })
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

    /// Drop entries not used for `older_than`, then every blob no entry
    /// refers to (sources and siblings included: a later build stores them
    /// again). Returns (entries removed, blobs removed).
    pub fn prune(&self, older_than: Duration) -> Result<(usize, usize), CacheError> {
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

    /// A remembered value (a tool identity, a library's hash) stored under a
    /// key that covers everything it depends on.
    pub fn memo(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self.conn.query_row("SELECT value FROM memo WHERE key=?1", [key], |r| r.get(0)).optional()?)
    }

    pub fn put_memo(&self, key: &str, value: &str) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT INTO memo(key, value, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET value=excluded.value, created_at=excluded.created_at",
            params![key, value, now()],
        )?;
        Ok(())
    }

    /// Remove every entry and blob.
    pub fn clear(&self) -> Result<(), CacheError> {
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

    #[test]
    fn key_changes_with_plugin_library_and_settings() {
        let base = || CacheKey::builder().plugin("p", "1").job_type("t");
        let k = base().plugin_library("h1").plugin_config("{}").finish();
        assert_eq!(k, base().plugin_library("h1").plugin_config("{}").finish());
        assert_ne!(k, base().plugin_library("h2").plugin_config("{}").finish());
        assert_ne!(k, base().plugin_library("h1").plugin_config("{\"venv\":\"/v\"}").finish());
    }

    #[test]
    fn key_changes_with_every_input() {
        let base = || {
            CacheKey::builder()
                .plugin("p", "1")
                .job_type("t")
                .outputs_and_options(&serde_json::json!({"a": 1}))
                .source(b"src")
        };
        let k = base().tool_identity("v1").finish();
        assert_eq!(k, base().tool_identity("v1").finish());
        assert_ne!(k, base().tool_identity("v2").finish());
        assert_ne!(k, base().sibling("h.py", b"x").tool_identity("v1").finish());
        let other_source = CacheKey::builder()
            .plugin("p", "1")
            .job_type("t")
            .outputs_and_options(&serde_json::json!({"a": 1}))
            .source(b"src2")
            .tool_identity("v1")
            .finish();
        assert_ne!(k, other_source);
    }
}
