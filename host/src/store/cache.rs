//! The content-addressed cache's contract, documented once here.
//!
//! Blobs are byte strings stored under their BLAKE3 hash (sources, siblings
//! and outputs alike) and checked against it when read, so a damaged cache
//! never gives a wrong output. A damaged blob heals instead of stopping a
//! build: a lookup that meets one drops it with its entry and is a miss (the
//! job runs again), storing the same bytes again replaces it, and
//! [`Cache::verify`] drops every damaged blob without touching the rest. Entries map a [`CacheKey`] to
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

    /// Store bytes under their hash. A blob already present with these
    /// bytes is not written again, but marked used: a prune beside the build
    /// spares it. One present with other (damaged) bytes is replaced.
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

    /// Drop the entry under `key`, if any.
    fn remove(&self, key: &CacheKey) -> Result<(), CacheError>;

    /// Drop the blob `hash`, if present. Entries naming it are misses from
    /// then on.
    fn remove_blob(&self, hash: &BlobHash) -> Result<(), CacheError>;

    /// The hash of every blob stored.
    fn blob_hashes(&self) -> Result<Vec<BlobHash>, CacheError>;

    /// The entry for `key` with every output blob read and checked: a blob
    /// whose bytes do not match its hash is dropped with the entry, and the
    /// lookup is a miss that names it ([`Lookup::Healed`]).
    fn lookup(&self, key: &CacheKey) -> Result<Lookup, CacheError> {
        let Some(entry) = self.get(key)? else { return Ok(Lookup::Miss) };
        let mut damaged = Vec::new();
        for hash in entry.blobs() {
            match self.get_blob(hash) {
                Ok(_) => {}
                Err(CacheError::CorruptBlob(_)) => damaged.push(hash.clone()),
                // Pruned since `get`: an ordinary miss.
                Err(CacheError::MissingBlob(_)) => return Ok(Lookup::Miss),
                Err(e) => return Err(e),
            }
        }
        if damaged.is_empty() {
            return Ok(Lookup::Hit(entry));
        }
        for hash in &damaged {
            self.remove_blob(hash)?;
        }
        self.remove(key)?;
        Ok(Lookup::Healed { damaged })
    }

    /// Read every blob and drop those whose bytes do not match their hash;
    /// the rest of the cache (a shared one's other entries) stays.
    fn verify(&self) -> Result<Verified, CacheError> {
        let mut verified = Verified::default();
        for hash in self.blob_hashes()? {
            match self.get_blob(&hash) {
                Ok(_) => verified.intact += 1,
                Err(CacheError::CorruptBlob(_)) => {
                    self.remove_blob(&hash)?;
                    verified.dropped.push(hash);
                }
                // Pruned meanwhile.
                Err(CacheError::MissingBlob(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(verified)
    }

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

/// What [`Cache::lookup`] found under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The entry, every output blob intact.
    Hit(CacheEntry),
    /// No entry, or one whose blobs are gone.
    Miss,
    /// An entry with damaged blobs: they and the entry were dropped.
    Healed {
        /// The blobs whose bytes did not match their hash.
        damaged: Vec<BlobHash>,
    },
}

/// What [`Cache::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Blobs whose bytes match their hash.
    pub intact: usize,
    /// Blobs that did not, now dropped.
    pub dropped: Vec<BlobHash>,
}
