//! What the host hands a worker: the queue payload of one converter job,
//! encoded and decoded only by the store.
//!
//! Inputs travel as blob hashes into the content-addressed cache, not as
//! bytes: the payload stays small in SQLite, a source shared by many jobs is
//! stored once, and a worker on another machine only needs the cache.

use serde::{Deserialize, Serialize};

use crate::store::entry::{BlobHash, CacheKey};
use crate::store::error::QueueError;
use crate::store::record::{JobError, JobId};

/// One requested output, as the plugin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub id: String,
    pub format: String,
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiblingRef {
    /// Relative to the source's directory, `/`-separated.
    pub path: String,
    pub blob: BlobHash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayload {
    pub plugin: String,
    pub plugin_version: String,
    /// Hash of the plugin library file: a rebuilt plugin renders anew.
    pub plugin_library: String,
    /// The plugin's `[converters.NAME]` settings as JSON.
    pub plugin_config: String,
    pub job_type: String,
    /// The source path as shown to the user.
    pub source_path: String,
    pub source: BlobHash,
    pub siblings: Vec<SiblingRef>,
    pub outputs: Vec<OutputSpec>,
    pub options: serde_json::Value,
    /// The external tool's identity, as the plugin reported it.
    pub tool_identity: String,
}

/// A job for [`crate::store::Queue::submit_many`].
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    pub job_type: &'a str,
    /// What `clx jobs list` shows: the source file, or what else the job converts.
    pub source: &'a str,
    /// Higher is claimed first.
    pub priority: i64,
    /// What the worker needs to run it.
    pub payload: &'a JobPayload,
    pub cache_key: &'a CacheKey,
}

/// A job a worker has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    /// What to run; an error when the stored payload cannot be read (the
    /// worker fails the job with it).
    pub payload: Result<JobPayload, JobError>,
    pub cache_key: CacheKey,
}

impl ClaimedJob {
    /// A claimed row, its payload decoded: each backend calls this once per
    /// claim, after its transaction, so no lock is held while it decodes.
    pub(crate) fn decode(id: JobId, payload: &str, cache_key: CacheKey) -> ClaimedJob {
        ClaimedJob { id, payload: JobPayload::decode(payload), cache_key }
    }
}

impl JobPayload {
    /// The cache key over every input that can change the result.
    /// Sources and siblings enter through their blob hashes, which are hashes
    /// of their bytes: the same key as hashing the bytes, without rereading them.
    pub fn cache_key(&self) -> CacheKey {
        let mut key = CacheKey::builder()
            .plugin(&self.plugin, &self.plugin_version)
            .plugin_library(&self.plugin_library)
            .plugin_config(&self.plugin_config)
            .job_type(&self.job_type)
            .outputs_and_options(&serde_json::json!({ "outputs": self.outputs, "options": self.options }))
            .source(self.source.to_hex().as_bytes());
        for s in &self.siblings {
            key = key.sibling(&s.path, s.blob.to_hex().as_bytes());
        }
        key.tool_identity(&self.tool_identity).finish()
    }

    /// The payload as the queue stores it. The store encodes each job's
    /// payload here, once, when it is submitted.
    pub(crate) fn encode(&self) -> Result<String, QueueError> {
        serde_json::to_string(self).map_err(|e| QueueError::Payload(format!("cannot encode the job: {e}")))
    }

    /// A stored payload read back, once, when its job is claimed.
    pub(crate) fn decode(text: &str) -> Result<JobPayload, JobError> {
        serde_json::from_str(text).map_err(|e| JobError::internal(format!("unreadable job payload: {e}")))
    }
}
