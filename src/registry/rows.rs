//! Changes to a bucket's rows inside a caller's write transaction (the embedded backend's
//! commits), so that an object and the usage it adds commit together.

use redb::{ReadableTable, WriteTransaction};

use crate::error::{Result, client_err};
use crate::meta::{BUCKETS, BucketRecord, Store, USAGE, UsageRecord, Versioning, get_json};

/// `NoSuchBucket` unless the bucket is recorded (seen by the transaction).
pub fn require_bucket(txn: &WriteTransaction, bucket: &str) -> Result<()> {
    if txn.open_table(BUCKETS)?.get(bucket)?.is_none() {
        return Err(client_err!(
            NoSuchBucket,
            "The specified bucket does not exist"
        ));
    }
    Ok(())
}

/// The bucket's record as the transaction sees it (`NoSuchBucket` unless recorded): its
/// versioning and object lock settings decide the write in the same commit.
pub fn bucket_record(txn: &WriteTransaction, bucket: &str) -> Result<BucketRecord> {
    let table = txn.open_table(BUCKETS)?;
    get_json::<&str, BucketRecord>(&table, bucket)?
        .ok_or_else(|| client_err!(NoSuchBucket, "The specified bucket does not exist"))
}

/// The bucket's versioning state as the transaction sees it.
pub fn versioning(txn: &WriteTransaction, bucket: &str) -> Result<Versioning> {
    Ok(bucket_record(txn, bucket)?.versioning_state())
}

/// A count as a signed usage delta.
pub fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds signed deltas to a bucket's usage (never below zero).
pub fn add_usage(
    txn: &WriteTransaction,
    bucket: &str,
    objects: i64,
    bytes: i64,
    pending: i64,
) -> Result<()> {
    if objects == 0 && bytes == 0 && pending == 0 {
        return Ok(());
    }
    let mut table = txn.open_table(USAGE)?;
    let mut usage: UsageRecord = get_json(&table, bucket)?.unwrap_or_default();
    let apply = |v: u64, d: i64| v.saturating_add_signed(d);
    usage.objects = apply(usage.objects, objects);
    usage.bytes = apply(usage.bytes, bytes);
    usage.pending_bytes = apply(usage.pending_bytes, pending);
    let encoded = serde_json::to_vec(&usage)?;
    table.insert(bucket, encoded.as_slice())?;
    Ok(())
}

/// Replaces a bucket's usage row.
pub fn put_usage(txn: &WriteTransaction, bucket: &str, usage: &UsageRecord) -> Result<()> {
    let encoded = serde_json::to_vec(usage)?;
    txn.open_table(USAGE)?.insert(bucket, encoded.as_slice())?;
    Ok(())
}

/// Removes a bucket's record and usage row (the registry drops it from memory after the
/// commit).
pub fn remove_bucket(txn: &WriteTransaction, bucket: &str) -> Result<()> {
    txn.open_table(BUCKETS)?.remove(bucket)?;
    txn.open_table(USAGE)?.remove(bucket)?;
    Ok(())
}

/// A bucket's usage row as last committed.
pub fn usage(store: &Store, bucket: &str) -> Result<UsageRecord> {
    store.read(|txn| {
        let table = txn.open_table(USAGE)?;
        Ok(get_json(&table, bucket)?.unwrap_or_default())
    })
}
