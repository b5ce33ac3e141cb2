//! The write jobs of the embedded backend, run inside a grouped metadata transaction.
//!
//! Each job checks everything that can fail before it changes anything (see `meta::Store::write`).
//! Every segment of an object or part holds one reference on its blob; a blob whose count drops
//! to zero is removed (inline) or returned to the caller to unlink after the commit (file).

use bytes::Bytes;
use redb::{ReadableTable, Table, WriteTransaction};
use s3s::dto::ETagCondition;

use crate::error::{Result, client_err};
use crate::meta::{
    BLOB_REFS, INLINE_BLOBS, OBJECTS, ObjectRecord, PARTS, PartRecord, Segment, UPLOADS,
    UploadRecord, UsageRecord, VERSIONS, get_json,
};
use crate::registry::rows::{add_usage, put_usage, remove_bucket, require_bucket, signed};

/// A blob written by this request, not yet referenced by any record.
#[derive(Debug, Clone)]
pub struct FreshBlob {
    pub id: String,
    /// Bytes of a small blob that lives in the metadata table instead of a file.
    pub inline: Option<Bytes>,
}

/// Preconditions of a write (`If-Match`, `If-None-Match`), checked atomically with the commit.
#[derive(Debug, Clone, Default)]
pub struct WriteCondition {
    pub if_match: Option<ETagCondition>,
    pub if_none_match: Option<ETagCondition>,
}

impl WriteCondition {
    pub fn check(&self, current: Option<&ObjectRecord>) -> Result<()> {
        if let Some(cond) = &self.if_none_match {
            let hit = match (cond, current) {
                (_, None) => false,
                (ETagCondition::Any, Some(_)) => true,
                (ETagCondition::ETag(e), Some(cur)) => e.value() == cur.etag,
            };
            if hit {
                return Err(client_err!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        }
        if let Some(cond) = &self.if_match {
            let ok = match (cond, current) {
                (_, None) => false,
                (ETagCondition::Any, Some(_)) => true,
                (ETagCondition::ETag(e), Some(cur)) => e.value() == cur.etag,
            };
            if !ok {
                return Err(match current {
                    None => client_err!(NoSuchKey, "The specified key does not exist."),
                    Some(_) => client_err!(
                        PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Every reused (non-fresh) segment must still point at a live blob: the source of a copy may
/// have been deleted between our read and this commit.
pub(super) fn require_live(
    refs: &Table<&str, u64>,
    segments: &[Segment],
    fresh: &[FreshBlob],
) -> Result<()> {
    for s in segments {
        if fresh.iter().any(|f| f.id == s.blob) {
            continue;
        }
        if refs.get(s.blob.as_str())?.is_none() {
            return Err(client_err!(
                NoSuchKey,
                "The copy source changed while it was being copied; retry"
            ));
        }
    }
    Ok(())
}

pub(super) fn add_fresh(
    txn: &WriteTransaction,
    refs: &mut Table<&str, u64>,
    fresh: &[FreshBlob],
) -> Result<()> {
    let mut inline = txn.open_table(INLINE_BLOBS)?;
    for f in fresh {
        refs.insert(f.id.as_str(), 0)?;
        if let Some(bytes) = &f.inline {
            inline.insert(f.id.as_str(), bytes.as_ref())?;
        }
    }
    Ok(())
}

pub(super) fn incref(refs: &mut Table<&str, u64>, segments: &[Segment]) -> Result<()> {
    for s in segments {
        let n = refs.get(s.blob.as_str())?.map_or(0, |v| v.value());
        refs.insert(s.blob.as_str(), n + 1)?;
    }
    Ok(())
}

pub(super) fn decref(
    txn: &WriteTransaction,
    refs: &mut Table<&str, u64>,
    segments: &[Segment],
    dead: &mut Vec<String>,
) -> Result<()> {
    for s in segments {
        let n = refs.get(s.blob.as_str())?.map_or(0, |v| v.value());
        if n > 1 {
            refs.insert(s.blob.as_str(), n - 1)?;
            continue;
        }
        refs.remove(s.blob.as_str())?;
        if s.inline {
            txn.open_table(INLINE_BLOBS)?.remove(s.blob.as_str())?;
        } else if !dead.contains(&s.blob) {
            dead.push(s.blob.clone());
        }
    }
    Ok(())
}

/// Records a new multipart upload.
pub fn create_upload(txn: &WriteTransaction, upload_id: &str, rec: &UploadRecord) -> Result<()> {
    require_bucket(txn, &rec.bucket)?;
    let bytes = serde_json::to_vec(rec)?;
    txn.open_table(UPLOADS)?
        .insert(upload_id, bytes.as_slice())?;
    Ok(())
}

fn require_upload(
    txn: &WriteTransaction,
    upload_id: &str,
    bucket: &str,
    key: &str,
) -> Result<UploadRecord> {
    let uploads = txn.open_table(UPLOADS)?;
    match get_json::<&str, UploadRecord>(&uploads, upload_id)? {
        Some(u) if u.bucket == bucket && u.key == key => Ok(u),
        _ => Err(client_err!(
            NoSuchUpload,
            "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        )),
    }
}

/// Stores (or replaces) one part of an upload.
pub fn put_part(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: u32,
    part: &PartRecord,
    fresh: &[FreshBlob],
) -> Result<Vec<String>> {
    require_upload(txn, upload_id, bucket, key)?;
    let mut parts = txn.open_table(PARTS)?;
    let old: Option<PartRecord> = get_json(&parts, (upload_id, part_number))?;
    let mut refs = txn.open_table(BLOB_REFS)?;
    require_live(&refs, &part.segments, fresh)?;
    let bytes = serde_json::to_vec(part)?;

    add_fresh(txn, &mut refs, fresh)?;
    incref(&mut refs, &part.segments)?;
    let mut dead = Vec::new();
    if let Some(old) = &old {
        decref(txn, &mut refs, &old.segments, &mut dead)?;
    }
    parts.insert((upload_id, part_number), bytes.as_slice())?;
    drop(parts);
    let old_size = old.as_ref().map_or(0, |p| signed(p.size));
    add_usage(txn, bucket, 0, 0, signed(part.size) - old_size)?;
    Ok(dead)
}

fn take_parts(txn: &WriteTransaction, upload_id: &str) -> Result<Vec<(u32, PartRecord)>> {
    let parts = txn.open_table(PARTS)?;
    let mut out = Vec::new();
    for item in parts.range((upload_id, 0)..=(upload_id, u32::MAX))? {
        let (k, v) = item?;
        out.push((k.value().1, serde_json::from_slice(v.value())?));
    }
    Ok(out)
}

/// Removes an upload and drops the references its parts hold.
pub fn abort_upload(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<Vec<String>> {
    require_upload(txn, upload_id, bucket, key)?;
    let parts = take_parts(txn, upload_id)?;
    let mut refs = txn.open_table(BLOB_REFS)?;
    let mut dead = Vec::new();
    let mut table = txn.open_table(PARTS)?;
    for (n, p) in &parts {
        decref(txn, &mut refs, &p.segments, &mut dead)?;
        table.remove((upload_id, *n))?;
    }
    txn.open_table(UPLOADS)?.remove(upload_id)?;
    let pending: u64 = parts.iter().map(|(_, p)| p.size).sum();
    drop(table);
    add_usage(txn, bucket, 0, 0, -signed(pending))?;
    Ok(dead)
}

/// Turns an upload into the newest version of its key. `build` gets the upload and its
/// stored parts and returns the object record (or the client error that refuses it).
pub fn complete_upload(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    upload_id: &str,
    cond: &WriteCondition,
    build: impl FnOnce(&UploadRecord, &[(u32, PartRecord)]) -> Result<ObjectRecord>,
) -> Result<(Vec<String>, ObjectRecord)> {
    let upload = require_upload(txn, upload_id, bucket, key)?;
    let parts = take_parts(txn, upload_id)?;
    let record = build(&upload, &parts)?;
    // The object takes its references first, so blobs shared with the parts never hit zero.
    let out = super::versions::put_newest(txn, bucket, key, record, &[], cond)?;
    let mut dead = out.dead;
    let mut refs = txn.open_table(BLOB_REFS)?;
    let mut table = txn.open_table(PARTS)?;
    for (n, p) in &parts {
        decref(txn, &mut refs, &p.segments, &mut dead)?;
        table.remove((upload_id, *n))?;
    }
    txn.open_table(UPLOADS)?.remove(upload_id)?;
    let pending: u64 = parts.iter().map(|(_, p)| p.size).sum();
    drop(table);
    add_usage(txn, bucket, 0, 0, -signed(pending))?;
    let record = out
        .written
        .ok_or(crate::error::Error::Bug("completed upload wrote nothing"))?;
    Ok((dead, record))
}

/// Whether `bucket` holds any object, noncurrent version or delete marker.
fn holds_anything(txn: &WriteTransaction, bucket: &str) -> Result<bool> {
    let objects = txn.open_table(OBJECTS)?;
    if let Some(item) = objects.range((bucket, "")..)?.next()
        && item?.0.value().0 == bucket
    {
        return Ok(true);
    }
    let versions = txn.open_table(VERSIONS)?;
    if let Some(item) = versions.range((bucket, "", 0)..)?.next()
        && item?.0.value().0 == bucket
    {
        return Ok(true);
    }
    Ok(false)
}

/// Deletes an empty bucket's record, aborting its multipart uploads (S3 allows deleting a
/// bucket with uploads in progress; their parts go with it).
pub fn delete_bucket(txn: &WriteTransaction, bucket: &str) -> Result<Vec<String>> {
    require_bucket(txn, bucket)?;
    if holds_anything(txn, bucket)? {
        return Err(client_err!(
            BucketNotEmpty,
            "The bucket you tried to delete is not empty"
        ));
    }
    let upload_ids: Vec<(String, String)> = {
        let uploads = txn.open_table(UPLOADS)?;
        let mut ids = Vec::new();
        for item in uploads.iter()? {
            let (k, v) = item?;
            let rec: UploadRecord = serde_json::from_slice(v.value())?;
            if rec.bucket == bucket {
                ids.push((k.value().to_owned(), rec.key));
            }
        }
        ids
    };
    let mut dead = Vec::new();
    for (id, key) in upload_ids {
        dead.extend(abort_upload(txn, bucket, &key, &id)?);
    }
    remove_bucket(txn, bucket)?;
    Ok(dead)
}

/// Recomputes a bucket's usage row from its objects and pending parts (repairs drift).
pub fn recount_usage(txn: &WriteTransaction, bucket: &str) -> Result<UsageRecord> {
    require_bucket(txn, bucket)?;
    let mut usage = UsageRecord::default();
    {
        let objects = txn.open_table(OBJECTS)?;
        for item in objects.range((bucket, "")..)? {
            let (k, v) = item?;
            if k.value().0 != bucket {
                break;
            }
            let rec: ObjectRecord = serde_json::from_slice(v.value())?;
            usage.objects += 1;
            usage.bytes += rec.usage_bytes();
        }
        let versions = txn.open_table(VERSIONS)?;
        for item in versions.range((bucket, "", 0)..)? {
            let (k, v) = item?;
            if k.value().0 != bucket {
                break;
            }
            let rec: ObjectRecord = serde_json::from_slice(v.value())?;
            usage.objects += 1;
            usage.bytes += rec.usage_bytes();
        }
    }
    let upload_ids: Vec<String> = {
        let uploads = txn.open_table(UPLOADS)?;
        let mut ids = Vec::new();
        for item in uploads.iter()? {
            let (k, v) = item?;
            let rec: UploadRecord = serde_json::from_slice(v.value())?;
            if rec.bucket == bucket {
                ids.push(k.value().to_owned());
            }
        }
        ids
    };
    for id in upload_ids {
        usage.pending_bytes += take_parts(txn, &id)?
            .iter()
            .map(|(_, p)| p.size)
            .sum::<u64>();
    }
    put_usage(txn, bucket, &usage)?;
    Ok(usage)
}
