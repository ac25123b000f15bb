//! The content-addressed cache's contract, documented once here.
//!
//! Blobs are byte strings stored under their BLAKE3 hash (sources, siblings
//! and outputs alike) and checked against it when read, so a damaged cache
//! gives an error instead of a wrong output. Entries map a [`CacheKey`] to
//! what a job produced. A worker stores its result here; the host lands
//! outputs from here, whether the entry is fresh or from an earlier build.
//! Used as `Box<dyn Cache>`, for the reason the queue is.

use std::time::Duration;

use crate::store::entry::{BlobHash, CacheEntry, CacheKey, CacheStats};
use crate::store::error::CacheError;
use crate::store::record::Recovered;

/// The content-addressed cache: blobs by hash, entries by cache key, and
/// small remembered values.
pub trait Cache: Send {
    /// A damaged index that was replaced by an empty one when it was opened.
    fn take_recovered(&mut self) -> Option<Recovered> {
        None
    }

    /// Store bytes under their hash. A blob already present is not written
    /// again, but marked used: a prune beside the build spares it.
    fn put_blob(&self, bytes: &[u8]) -> Result<BlobHash, CacheError>;

    /// The blob's bytes, checked against its hash
    /// ([`CacheError::MissingBlob`], [`CacheError::CorruptBlob`]).
    fn get_blob(&self, hash: &BlobHash) -> Result<Vec<u8>, CacheError>;

    /// Store an entry under `key`. A key covers every input, so two entries
    /// under one key are the same job's result: a local cache keeps the
    /// newer, a shared one the first (a late worker on another machine must
    /// not replace what a build may be landing).
    fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<(), CacheError>;

    /// The entry for `key`, if present and every output blob still exists;
    /// entry and blobs are marked used, so a prune beside this build does not
    /// take them before they land.
    fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, CacheError>;

    /// Where the cache is and how much it holds.
    fn stats(&self) -> Result<CacheStats, CacheError>;

    /// Drop entries not used for `older_than`, then blobs no entry refers to
    /// and nothing used in the last hour (inputs of a running build).
    /// Returns (entries removed, blobs removed).
    fn prune(&self, older_than: Duration) -> Result<(usize, usize), CacheError>;

    /// A remembered value (a tool identity, a library's hash) stored under a
    /// key that covers everything it depends on.
    fn memo(&self, key: &str) -> Result<Option<String>, CacheError>;

    /// Remember `value` under `key`, replacing what was there.
    fn put_memo(&self, key: &str, value: &str) -> Result<(), CacheError>;

    /// Remove every entry, memo and blob.
    fn clear(&self) -> Result<(), CacheError>;
}
