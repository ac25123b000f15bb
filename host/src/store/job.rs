//! What the host hands a worker: the queue payload of one converter job.
//!
//! Inputs travel as blob hashes into the content-addressed cache, not as
//! bytes: the payload stays small in SQLite, a source shared by many jobs is
//! stored once, and a worker on another machine only needs the cache.

use serde::{Deserialize, Serialize};

use crate::store::cache::Cache;
use crate::store::entry::{BlobHash, CacheKey};
use crate::store::error::CacheError;

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

    /// Assemble the ABI job a plugin converts, reading inputs from the cache.
    pub fn to_job(&self, cache: &dyn Cache, work_dir: &std::path::Path) -> Result<clx_plugin_api::Job, CacheError> {
        use clx_plugin_api::{InputFile, Job, OutputRequest};
        let mut siblings = abi_stable::std_types::RVec::new();
        for s in &self.siblings {
            siblings.push(InputFile { path: s.path.as_str().into(), bytes: cache.get_blob(&s.blob)?.into() });
        }
        Ok(Job {
            job_type: self.job_type.as_str().into(),
            source_path: self.source_path.as_str().into(),
            source: cache.get_blob(&self.source)?.into(),
            siblings,
            outputs: self
                .outputs
                .iter()
                .map(|o| OutputRequest {
                    id: o.id.as_str().into(),
                    format: o.format.as_str().into(),
                    params: o.params.to_string().into(),
                })
                .collect(),
            options: self.options.to_string().into(),
            work_dir: work_dir.to_string_lossy().as_ref().into(),
        })
    }
}
