//! The content-addressed cache in PostgreSQL: blobs and entries in tables,
//! shared by every machine that builds against the database. A blob is
//! inserted once under its hash and checked against it when read, like the
//! file cache's.

use std::path::PathBuf;
use std::time::Duration;

use super::{PgConn, PgUrl, NOW};
use crate::store::cache::Cache;
use crate::store::entry::{checked, BlobHash, CacheEntry, CacheKey, CacheStats};
use crate::store::error::CacheError;

/// The cache in a PostgreSQL database.
pub struct PgCache {
    conn: PgConn,
}

impl PgCache {
    /// Connect, and bring the schema up to date.
    pub fn open(url: &PgUrl) -> Result<PgCache, CacheError> {
        Ok(PgCache { conn: PgConn::open(url)? })
    }
}

impl Cache for PgCache {
    fn put_blob(&self, bytes: &[u8]) -> Result<BlobHash, CacheError> {
        let hash = BlobHash::of(bytes);
        let size = bytes.len() as i64;
        self.conn.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO clx_cache_blobs(hash, bytes, size, used_at) VALUES ($1, $2, $3, {NOW})
                     ON CONFLICT (hash) DO UPDATE SET used_at = excluded.used_at,
                         bytes = CASE WHEN clx_cache_blobs.bytes = excluded.bytes
                                      THEN clx_cache_blobs.bytes ELSE excluded.bytes END,
                         size = excluded.size"
                ),
                &[&hash.to_hex(), &bytes, &size],
            )
        })?;
        Ok(hash)
    }

    fn get_blob(&self, hash: &BlobHash) -> Result<Vec<u8>, CacheError> {
        let rows = self.conn.with(|c| c.query("SELECT bytes FROM clx_cache_blobs WHERE hash=$1", &[&hash.to_hex()]))?;
        let Some(row) = rows.first() else { return Err(CacheError::MissingBlob(hash.to_hex().to_owned())) };
        checked(hash, row.get(0))
    }

    fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<(), CacheError> {
        let value = entry.encode(key)?;
        let hashes = blob_hashes(entry);
        self.conn.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO clx_cache_entries(key, value, bytes, created_at, used_at)
                     SELECT $1, $2, coalesce((SELECT sum(size) FROM clx_cache_blobs WHERE hash = ANY($3)), 0)::BIGINT,
                            {NOW}, {NOW}
                     ON CONFLICT (key) DO NOTHING"
                ),
                &[&key.as_str(), &value, &hashes],
            )
        })?;
        Ok(())
    }

    fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, CacheError> {
        let rows = self.conn.with(|c| {
            c.query(
                &format!("UPDATE clx_cache_entries SET used_at={NOW} WHERE key=$1 RETURNING value"),
                &[&key.as_str()],
            )
        })?;
        let Some(row) = rows.first() else { return Ok(None) };
        let value: String = row.get(0);
        let entry = CacheEntry::decode(key, &value)?;
        let hashes = blob_hashes(&entry);
        let present = self.conn.with(|c| {
            c.execute(&format!("UPDATE clx_cache_blobs SET used_at={NOW} WHERE hash = ANY($1)"), &[&hashes])
        })?;
        Ok((present as usize == hashes.len()).then_some(entry))
    }

    fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
        self.conn.with(|c| c.execute("DELETE FROM clx_cache_entries WHERE key=$1", &[&key.as_str()]))?;
        Ok(())
    }

    fn remove_blob(&self, hash: &BlobHash) -> Result<(), CacheError> {
        self.conn.with(|c| c.execute("DELETE FROM clx_cache_blobs WHERE hash=$1", &[&hash.to_hex()]))?;
        Ok(())
    }

    fn blob_hashes(&self) -> Result<Vec<BlobHash>, CacheError> {
        let rows = self.conn.with(|c| c.query("SELECT hash FROM clx_cache_blobs", &[]))?;
        Ok(rows.iter().map(|r| BlobHash::from_stored(r.get(0))).collect())
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        let row = self.conn.with(|c| {
            c.query_one(
                "SELECT (SELECT count(*) FROM clx_cache_entries), count(*), coalesce(sum(size), 0)::BIGINT
                 FROM clx_cache_blobs",
                &[],
            )
        })?;
        Ok(CacheStats {
            path: PathBuf::from(self.conn.url().target()),
            entries: row.get::<_, i64>(0) as u64,
            blobs: row.get::<_, i64>(1) as u64,
            blob_bytes: row.get::<_, i64>(2) as u64,
        })
    }

    fn prune(&self, older_than: Duration) -> Result<(usize, usize), CacheError> {
        let age = older_than.as_secs_f64();
        let (entries, blobs) = self.conn.with(|c| {
            let mut tx = c.transaction()?;
            let entries = tx.execute(&format!("DELETE FROM clx_cache_entries WHERE used_at < {NOW} - $1"), &[&age])?;
            let values: Vec<String> =
                tx.query("SELECT value FROM clx_cache_entries", &[])?.iter().map(|r| r.get(0)).collect();
            let live: Vec<String> = values
                .iter()
                .filter_map(|v| serde_json::from_str::<CacheEntry>(v).ok())
                .flat_map(|e| blob_hashes(&e))
                .collect();
            let blobs = tx.execute(
                &format!("DELETE FROM clx_cache_blobs WHERE used_at < {NOW} - 3600 AND NOT (hash = ANY($1))"),
                &[&live],
            )?;
            tx.commit()?;
            Ok((entries, blobs))
        })?;
        Ok((entries as usize, blobs as usize))
    }

    fn memo(&self, key: &str) -> Result<Option<String>, CacheError> {
        let rows = self.conn.with(|c| c.query("SELECT value FROM clx_cache_memo WHERE key=$1", &[&key]))?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn put_memo(&self, key: &str, value: &str) -> Result<(), CacheError> {
        self.conn.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO clx_cache_memo(key, value, created_at) VALUES ($1, $2, {NOW})
                     ON CONFLICT (key) DO UPDATE SET value=excluded.value, created_at=excluded.created_at"
                ),
                &[&key, &value],
            )
        })?;
        Ok(())
    }

    fn clear(&self) -> Result<(), CacheError> {
        self.conn.with(|c| c.batch_execute("TRUNCATE clx_cache_entries, clx_cache_memo, clx_cache_blobs"))?;
        Ok(())
    }
}

fn blob_hashes(entry: &CacheEntry) -> Vec<String> {
    let mut hashes: Vec<String> = entry.blobs().map(|h| h.to_hex().to_owned()).collect();
    hashes.sort();
    hashes.dedup();
    hashes
}
