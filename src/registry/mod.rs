//! The bucket registry: bucket records (redb is the source of truth, a map in memory saves a
//! read per request), the domains linked to them, and their usage rows.
//!
//! The only writer of the `BUCKETS`, `DOMAINS`, `DOMAIN_PROOFS` and `USAGE` tables. The embedded backend's
//! commits change usage (and delete a bucket's rows) inside their own transactions through the
//! helpers in [`rows`], so an object and the usage it adds commit together.

mod domains;
mod proofs;
pub mod rows;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use redb::{ReadableTable, WriteTransaction};

use crate::error::{Error, Result, client_err};
use crate::hosts::ReservedHosts;
use crate::meta::{BUCKETS, BucketRecord, Store, USAGE, UsageRecord, get_json};

/// Bucket records, linked domains and usage rows.
pub struct Registry {
    store: Store,
    buckets: RwLock<HashMap<String, Arc<BucketRecord>>>,
    /// Names that never route to a bucket by a linked domain.
    reserved: Arc<ReservedHosts>,
    /// Linked domains route only once their ownership is proven (`[domains] verify`).
    proof_required: bool,
}

fn no_such_bucket() -> Error {
    client_err!(NoSuchBucket, "The specified bucket does not exist")
}

impl Registry {
    /// Loads every bucket record.
    pub fn open(store: Store, reserved: Arc<ReservedHosts>) -> Result<Self> {
        let records = store.read(|txn| {
            let table = txn.open_table(BUCKETS)?;
            let mut map = HashMap::new();
            for item in table.iter()? {
                let (k, v) = item?;
                let rec: BucketRecord = serde_json::from_slice(v.value())?;
                map.insert(k.value().to_owned(), Arc::new(rec));
            }
            Ok(map)
        })?;
        Ok(Self {
            store,
            buckets: RwLock::new(records),
            reserved,
            proof_required: false,
        })
    }

    /// Requires (or not) an ownership proof before a linked domain routes.
    #[must_use]
    pub fn requiring_proof(mut self, required: bool) -> Self {
        self.proof_required = required;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A bucket's record, if it exists.
    pub fn cached(&self, name: &str) -> Option<Arc<BucketRecord>> {
        self.buckets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// A bucket's record, or `NoSuchBucket`.
    pub fn resolve(&self, name: &str) -> Result<Arc<BucketRecord>> {
        self.cached(name).ok_or_else(no_such_bucket)
    }

    /// Every bucket record, sorted by name.
    pub fn all(&self) -> Vec<Arc<BucketRecord>> {
        let mut list: Vec<_> = self
            .buckets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Number of buckets (for metrics).
    pub fn count(&self) -> usize {
        self.buckets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn cache(&self, rec: Arc<BucketRecord>) {
        self.buckets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(rec.name.clone(), rec);
    }

    /// Drops a bucket from memory (its rows are already gone).
    pub fn uncache(&self, name: &str) {
        self.buckets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// Records a new bucket. The name is unique: `BucketAlreadyOwnedByYou` when the owner
    /// has it already, `BucketAlreadyExists` when somebody else does.
    pub async fn insert_new(&self, record: BucketRecord) -> Result<Arc<BucketRecord>> {
        let bytes = serde_json::to_vec(&record)?;
        let (key, owner) = (record.name.clone(), record.owner.clone());
        self.store
            .write(move |txn| {
                let mut table = txn.open_table(BUCKETS)?;
                if let Some(existing) = get_json::<&str, BucketRecord>(&table, key.as_str())? {
                    return Err(if existing.owner == owner {
                        client_err!(
                            BucketAlreadyOwnedByYou,
                            "Your previous request to create the named bucket succeeded and you already own it."
                        )
                    } else {
                        client_err!(BucketAlreadyExists, "The requested bucket name is not available.")
                    });
                }
                table.insert(key.as_str(), bytes.as_slice())?;
                Ok(())
            })
            .await?;
        let rec = Arc::new(record);
        self.cache(rec.clone());
        Ok(rec)
    }

    /// Replaces a bucket record (it must exist).
    pub async fn update(&self, rec: BucketRecord) -> Result<Arc<BucketRecord>> {
        let bytes = serde_json::to_vec(&rec)?;
        let name = rec.name.clone();
        self.store
            .write(move |txn| {
                let mut table = txn.open_table(BUCKETS)?;
                if table.get(name.as_str())?.is_none() {
                    return Err(no_such_bucket());
                }
                table.insert(name.as_str(), bytes.as_slice())?;
                Ok(())
            })
            .await?;
        let rec = Arc::new(rec);
        self.cache(rec.clone());
        Ok(rec)
    }

    /// Applies `change` to a bucket's record and stores it.
    pub async fn modify(
        &self,
        bucket: &str,
        change: impl FnOnce(&mut BucketRecord),
    ) -> Result<Arc<BucketRecord>> {
        let mut rec = (*self.resolve(bucket)?).clone();
        change(&mut rec);
        rec.updated = crate::meta::now_millis();
        self.update(rec).await
    }

    /// Removes a bucket's record, usage row and links, and whatever else `also` removes in
    /// the same transaction (a container bucket's port leases).
    pub async fn forget(
        &self,
        name: &str,
        also: impl FnOnce(&WriteTransaction, &str) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let key = name.to_owned();
        self.store
            .write(move |txn| {
                rows::remove_bucket(txn, &key)?;
                domains::unlink_all_in(txn, &key)?;
                also(txn, &key)
            })
            .await?;
        self.uncache(name);
        Ok(())
    }

    /// A bucket's usage row.
    pub fn usage(&self, bucket: &str) -> Result<UsageRecord> {
        rows::usage(&self.store, bucket)
    }

    /// Replaces a bucket's usage row (a recount).
    pub async fn set_usage(&self, bucket: &str, usage: &UsageRecord) -> Result<()> {
        let (name, encoded) = (bucket.to_owned(), serde_json::to_vec(usage)?);
        self.store
            .write(move |txn| {
                txn.open_table(USAGE)?
                    .insert(name.as_str(), encoded.as_slice())?;
                Ok(())
            })
            .await
    }

    /// Counts an upload stored on another server: `bytes` and `objects` more. Overwrites
    /// count as new objects, so this usage is an upper bound until a sync.
    pub async fn note_upload(&self, bucket: &str, bytes: u64, objects: u64) {
        let name = bucket.to_owned();
        let (objects, bytes) = (rows::signed(objects), rows::signed(bytes));
        let result = self
            .store
            .write(move |txn| rows::add_usage(txn, &name, objects, bytes, 0))
            .await;
        if let Err(e) = result {
            tracing::warn!(bucket, error = %e, "cannot record usage of a forwarded upload");
        }
    }
}
