//! The cache's vocabulary, shared by every backend: blob hashes, cache
//! keys and the entries stored under them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::report::Level;
use crate::store::error::CacheError;

/// Part of every key: bump it when the meaning of an entry changes.
pub const CACHE_SCHEMA_VERSION: u32 = 2;

/// The hash naming a blob.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobHash(String);

impl BlobHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobHash {
        BlobHash(blake3::hash(bytes).to_hex().to_string())
    }

    /// The hash in lowercase hex, as blob file names and tables hold it.
    pub fn to_hex(&self) -> &str {
        &self.0
    }

    /// A hash read back from where [`BlobHash::to_hex`] stored it (a blob
    /// file's name, a table's column).
    pub(in crate::store) fn from_stored(hex: String) -> BlobHash {
        BlobHash(hex)
    }
}

/// A cache key: the hash over everything that can change a job's result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// A key to build field by field; the cache's schema version is its first field.
    pub fn builder() -> CacheKeyBuilder {
        let mut b = CacheKeyBuilder { hasher: blake3::Hasher::new() };
        b.field("schema", CACHE_SCHEMA_VERSION.to_string().as_bytes());
        b
    }

    /// The key in hex, as the queue and the cache index store it.
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

    /// The plugin's name and version.
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

    /// The job type.
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

    /// The source's bytes (or its blob hash, which stands for them).
    pub fn source(mut self, bytes: &[u8]) -> Self {
        self.field("source", bytes);
        self
    }

    /// A sibling file: its path relative to the source and its bytes.
    pub fn sibling(mut self, path: &str, bytes: &[u8]) -> Self {
        self.field("sibling-path", path.as_bytes());
        self.field("sibling", bytes);
        self
    }

    /// The external tool's identity, as the plugin named it.
    pub fn tool_identity(mut self, identity: &str) -> Self {
        self.field("tool", identity.as_bytes());
        self
    }

    /// The key.
    pub fn finish(self) -> CacheKey {
        CacheKey(self.hasher.finalize().to_hex().to_string())
    }
}

/// One output of a cached job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredOutput {
    /// Produced: the blob holding the output's bytes.
    Blob(BlobHash),
    /// Not produced: why.
    Error(String),
}

/// An issue a job reported, as the cache keeps it to replay on every hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIssue {
    /// Error, warning or info.
    pub severity: Level,
    /// What is wrong, in the plugin's words.
    pub message: String,
    /// The file, when not the job's source (a sibling).
    pub file: Option<String>,
    /// The line, when the issue has one.
    pub line: Option<u32>,
    /// The column in that line, when the plugin knows it (entries stored
    /// before columns existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The notebook cell, when the issue has one.
    pub cell: Option<u32>,
}

impl From<&clx_plugin_api::Issue> for StoredIssue {
    fn from(i: &clx_plugin_api::Issue) -> Self {
        StoredIssue {
            severity: Level::parse(i.severity.as_str()),
            message: i.message.to_string(),
            file: i.file.as_ref().map(|f| f.to_string()).into_option(),
            line: i.line.into_option(),
            column: i.column.into_option(),
            cell: i.cell.into_option(),
        }
    }
}

/// Everything a job produced: each output (by request id) and its issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Each requested output by its request id.
    pub outputs: Vec<(String, StoredOutput)>,
    /// The issues, in the order the plugin reported them.
    pub issues: Vec<StoredIssue>,
}

impl CacheEntry {
    /// The output with request id `id`.
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

/// What `clx cache stats` shows.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    /// Where the cache is (a directory, or the database for people).
    pub path: PathBuf,
    /// Entries stored.
    pub entries: u64,
    /// Blobs stored.
    pub blobs: u64,
    /// Bytes in all blobs.
    pub blob_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

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
