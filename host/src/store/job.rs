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
    /// The request id, unique within the job (`de-completed-html`).
    pub id: String,
    /// The format the plugin produces (`html`, `png`).
    pub format: String,
    /// Output parameters the plugin reads (a notebook's kind, a diagram's language).
    pub params: serde_json::Value,
}

/// A file the source refers to, sent along with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiblingRef {
    /// Relative to the source's directory, `/`-separated.
    pub path: String,
    /// Its bytes in the cache.
    pub blob: BlobHash,
}

/// Everything a worker needs to run one job, and everything its cache key covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayload {
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's version.
    pub plugin_version: String,
    /// Hash of the plugin library file: a rebuilt plugin renders anew.
    pub plugin_library: String,
    /// The plugin's `[converters.NAME]` settings as JSON.
    pub plugin_config: String,
    /// The job type.
    pub job_type: String,
    /// The source path as shown to the user.
    pub source_path: String,
    /// The source's bytes in the cache.
    pub source: BlobHash,
    /// Files the source refers to.
    pub siblings: Vec<SiblingRef>,
    /// The requested outputs.
    pub outputs: Vec<OutputSpec>,
    /// The job's options (for a notebook job, `clx_plugin_api::notebook::NotebookOptions`).
    pub options: serde_json::Value,
    /// The external tool's identity, as the plugin reported it.
    pub tool_identity: String,
    /// The longest the job may run, in seconds (`--job-timeout`): a worker
    /// on another machine stops it there as the build's own pool would. Not
    /// part of the cache key: the limit does not change a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_secs: Option<u64>,
}

/// A job for [`crate::store::Queue::submit_many`].
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    /// The job type workers claim it by.
    pub job_type: &'a str,
    /// What `clx jobs list` shows: the source file, or what else the job converts.
    pub source: &'a str,
    /// Higher is claimed first.
    pub priority: i64,
    /// What the worker needs to run it.
    pub payload: &'a JobPayload,
    /// What the cache knows its result by.
    pub cache_key: &'a CacheKey,
}

/// A job a worker has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job's id.
    pub id: JobId,
    /// What to run; an error when the stored payload cannot be read (the
    /// worker fails the job with it).
    pub payload: Result<JobPayload, JobError>,
    /// What the cache knows its result by.
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
