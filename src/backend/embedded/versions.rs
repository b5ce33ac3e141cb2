//! Versions of a key, inside a grouped write transaction: where each version lives, how a
//! write or a delete changes them under the bucket's versioning state, and version ids.
//!
//! A key's newest version, when it holds data, is its row in `OBJECTS` (so listings, reads
//! and unversioned buckets never look anywhere else); every other version — noncurrent
//! versions, and delete markers — is a row in `VERSIONS` keyed `(bucket, key, u64::MAX -
//! stamp)`, newest first. A key whose newest version is a delete marker has no `OBJECTS`
//! row. Every version, marker or not, counts as one object of its bucket's usage.

use std::sync::atomic::{AtomicU64, Ordering};

use redb::{ReadableTable, Table, WriteTransaction};

use super::commit::{WriteCondition, add_fresh, decref, incref, require_live};
use crate::error::{Result, client_err};
use crate::meta::{BLOB_REFS, OBJECTS, ObjectRecord, VERSIONS, Versioning, get_json, now_millis};
use crate::registry::rows::{add_usage, bucket_record, signed, versioning};

/// What a client names with `versionId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    /// `null`: the version written while the bucket was unversioned or suspended.
    Null,
    /// A version id this backend made, with the stamp it encodes.
    Id { id: String, stamp: u64 },
}

impl VersionRef {
    /// Parses a `versionId` parameter: `null` or an id of ours; anything else is
    /// `400 InvalidArgument`, as S3 answers.
    pub fn parse(s: &str) -> Result<Self> {
        if s == "null" {
            return Ok(Self::Null);
        }
        let stamp = (s.len() == 24
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| u64::from_str_radix(&s[..16], 16).ok())
        .flatten();
        match stamp {
            Some(stamp) => Ok(Self::Id {
                id: s.to_owned(),
                stamp,
            }),
            None => Err(client_err!(InvalidArgument, "Invalid version id specified")),
        }
    }

    /// Whether `rec` is the version this names.
    pub fn names(&self, rec: &ObjectRecord) -> bool {
        match self {
            Self::Null => rec.version_id.is_none(),
            Self::Id { id, .. } => rec.version_id.as_deref() == Some(id.as_str()),
        }
    }
}

/// The version id S3 clients see for a record: its id, or `null`.
pub fn shown_id(rec: &ObjectRecord) -> String {
    rec.version_id.clone().unwrap_or_else(|| "null".to_owned())
}

/// A record's place among its key's versions (records written before versioning existed
/// carry no stamp: their last modification stands in).
pub fn stamp_of(rec: &ObjectRecord) -> u64 {
    if rec.stamp != 0 {
        rec.stamp
    } else {
        u64::try_from(rec.last_modified)
            .unwrap_or(0)
            .saturating_mul(1000)
    }
}

/// A stamp later than any this process made before and than `after`: microseconds since
/// the epoch, bumped past collisions. Version ids encode it, so they sort by time.
fn next_stamp(after: u64) -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(now_millis())
        .unwrap_or(0)
        .saturating_mul(1000)
        + u64::from(time::OffsetDateTime::now_utc().microsecond() % 1000);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1).max(after + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// An opaque, URL-safe, time-ordered version id: the stamp in hex and 32 random bits.
fn version_id(stamp: u64) -> String {
    format!("{stamp:016x}{:08x}", rand::random::<u32>())
}

fn seq(stamp: u64) -> u64 {
    u64::MAX - stamp
}

type Versions<'t> = Table<'t, (&'static str, &'static str, u64), &'static [u8]>;

/// The newest noncurrent row of `bucket/key` (or its latest marker), with its seq.
pub fn first_version(
    table: &impl ReadableTable<(&'static str, &'static str, u64), &'static [u8]>,
    bucket: &str,
    key: &str,
) -> Result<Option<(u64, ObjectRecord)>> {
    let mut range = table.range((bucket, key, 0)..=(bucket, key, u64::MAX))?;
    match range.next() {
        Some(item) => {
            let (k, v) = item?;
            Ok(Some((k.value().2, serde_json::from_slice(v.value())?)))
        }
        None => Ok(None),
    }
}

/// The row in `VERSIONS` that `which` names, with its seq.
pub fn find_noncurrent(
    table: &impl ReadableTable<(&'static str, &'static str, u64), &'static [u8]>,
    bucket: &str,
    key: &str,
    which: &VersionRef,
) -> Result<Option<(u64, ObjectRecord)>> {
    match which {
        VersionRef::Id { stamp, .. } => {
            let Some(v) = table.get((bucket, key, seq(*stamp)))? else {
                return Ok(None);
            };
            let rec: ObjectRecord = serde_json::from_slice(v.value())?;
            Ok(which.names(&rec).then_some((seq(*stamp), rec)))
        }
        // At most one null version exists per key; find it among the key's versions.
        VersionRef::Null => {
            for item in table.range((bucket, key, 0)..=(bucket, key, u64::MAX))? {
                let (k, v) = item?;
                let rec: ObjectRecord = serde_json::from_slice(v.value())?;
                if rec.version_id.is_none() {
                    return Ok(Some((k.value().2, rec)));
                }
            }
            Ok(None)
        }
    }
}

/// Keeps `rec` as a noncurrent version (or marker) of `bucket/key`.
fn park(versions: &mut Versions<'_>, bucket: &str, key: &str, mut rec: ObjectRecord) -> Result<()> {
    let mut stamp = stamp_of(&rec);
    // A record from before versioning takes its place from its modification time, which
    // another version of the key might share: older still, then.
    while stamp > 0 && versions.get((bucket, key, seq(stamp)))?.is_some() {
        stamp -= 1;
    }
    rec.stamp = stamp;
    let bytes = serde_json::to_vec(&rec)?;
    versions.insert((bucket, key, seq(stamp)), bytes.as_slice())?;
    Ok(())
}

/// What a write replaced or removed, for the caller to clean up and answer with.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Blob files to unlink once committed.
    pub dead: Vec<String>,
    /// The record the write produced (a new version or a delete marker), as stored.
    pub written: Option<ObjectRecord>,
    /// The version a delete by id removed.
    pub removed: Option<ObjectRecord>,
}

/// Removes the null version of `bucket/key` from `VERSIONS`, if there is one (a write to a
/// suspended bucket replaces it).
fn drop_parked_null(
    txn: &WriteTransaction,
    refs: &mut Table<&str, u64>,
    versions: &mut Versions<'_>,
    bucket: &str,
    key: &str,
    out: &mut Outcome,
    usage: &mut (i64, i64),
) -> Result<()> {
    if let Some((s, rec)) = find_noncurrent(versions, bucket, key, &VersionRef::Null)? {
        versions.remove((bucket, key, s))?;
        decref(txn, refs, &rec.segments, &mut out.dead)?;
        usage.0 -= 1;
        usage.1 -= signed(rec.usage_bytes());
    }
    Ok(())
}

/// Makes `new` (an object, or with `delete_marker` set a marker) the newest version of
/// `bucket/key` under the bucket's versioning state: unversioned buckets replace the
/// current object; enabled ones keep it as a noncurrent version; suspended ones replace the
/// null version and keep any other. `cond` is checked against the current object.
pub fn put_newest(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    mut new: ObjectRecord,
    fresh: &[super::commit::FreshBlob],
    cond: &WriteCondition,
) -> Result<Outcome> {
    let bucket_rec = bucket_record(txn, bucket)?;
    let mode = bucket_rec.versioning_state();
    if !new.delete_marker {
        super::lock::apply_bucket_lock(&mut new, bucket_rec.object_lock.as_ref())?;
    }
    let mut objects = txn.open_table(OBJECTS)?;
    let old: Option<ObjectRecord> = get_json(&objects, (bucket, key))?;
    cond.check(old.as_ref())?;
    let mut refs = txn.open_table(BLOB_REFS)?;
    require_live(&refs, &new.segments, fresh)?;
    if new.delete_marker && mode == Versioning::Unversioned {
        return Err(crate::error::Error::Bug(
            "delete marker in an unversioned bucket",
        ));
    }

    // Checks done; mutate.
    let mut versions = txn.open_table(VERSIONS)?;
    let newest = match &old {
        Some(o) => stamp_of(o),
        None if mode == Versioning::Unversioned => 0,
        None => first_version(&versions, bucket, key)?.map_or(0, |(_, r)| stamp_of(&r)),
    };
    new.stamp = next_stamp(newest);
    new.version_id = (mode == Versioning::Enabled).then(|| version_id(new.stamp));
    add_fresh(txn, &mut refs, fresh)?;
    incref(&mut refs, &new.segments)?;
    let mut out = Outcome::default();
    let mut usage = (1i64, signed(new.usage_bytes()));
    if mode == Versioning::Suspended {
        drop_parked_null(
            txn,
            &mut refs,
            &mut versions,
            bucket,
            key,
            &mut out,
            &mut usage,
        )?;
    }
    if let Some(old) = old {
        if mode == Versioning::Enabled || old.version_id.is_some() {
            park(&mut versions, bucket, key, old)?;
        } else {
            decref(txn, &mut refs, &old.segments, &mut out.dead)?;
            usage.0 -= 1;
            usage.1 -= signed(old.usage_bytes());
        }
        objects.remove((bucket, key))?;
    }
    if new.delete_marker {
        park(&mut versions, bucket, key, new.clone())?;
    } else {
        let bytes = serde_json::to_vec(&new)?;
        objects.insert((bucket, key), bytes.as_slice())?;
    }
    drop((objects, versions, refs));
    add_usage(txn, bucket, usage.0, usage.1, 0)?;
    out.written = Some(new);
    Ok(out)
}

/// Deletes the current object of an unversioned bucket (`NoSuchKey` when there is none), or
/// adds a delete marker in a versioned one.
pub fn delete_current(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    cond: &WriteCondition,
) -> Result<Outcome> {
    if versioning(txn, bucket)? != Versioning::Unversioned {
        let marker = ObjectRecord {
            delete_marker: true,
            ..ObjectRecord::empty(now_millis())
        };
        return put_newest(txn, bucket, key, marker, &[], cond);
    }
    let mut objects = txn.open_table(OBJECTS)?;
    let old: Option<ObjectRecord> = get_json(&objects, (bucket, key))?;
    cond.check(old.as_ref())?;
    let Some(old) = old else {
        return Err(client_err!(NoSuchKey, "The specified key does not exist."));
    };
    let mut out = Outcome::default();
    decref(
        txn,
        &mut txn.open_table(BLOB_REFS)?,
        &old.segments,
        &mut out.dead,
    )?;
    objects.remove((bucket, key))?;
    drop(objects);
    add_usage(txn, bucket, -1, -signed(old.usage_bytes()), 0)?;
    out.removed = Some(old);
    Ok(out)
}

/// Deletes one version of `bucket/key` for good; when it was the newest, the next newer one
/// becomes current (deleting a delete marker restores the object under it). A version that
/// does not exist is no error, as in S3. `guard` may refuse the removal (object lock) after
/// seeing the version.
pub fn delete_version(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    which: &VersionRef,
    guard: impl FnOnce(&ObjectRecord) -> Result<()>,
) -> Result<Outcome> {
    crate::registry::rows::require_bucket(txn, bucket)?;
    let mut objects = txn.open_table(OBJECTS)?;
    let mut versions = txn.open_table(VERSIONS)?;
    let current: Option<ObjectRecord> = get_json(&objects, (bucket, key))?;
    let mut out = Outcome::default();
    let (removed, was_newest) = match current {
        Some(cur) if which.names(&cur) => {
            guard(&cur)?;
            objects.remove((bucket, key))?;
            (cur, true)
        }
        cur => {
            let Some((s, rec)) = find_noncurrent(&versions, bucket, key, which)? else {
                return Ok(out);
            };
            guard(&rec)?;
            let newest = cur.is_none()
                && first_version(&versions, bucket, key)?.is_some_and(|(f, _)| f == s);
            versions.remove((bucket, key, s))?;
            (rec, newest)
        }
    };
    if was_newest
        && let Some((s, next)) = first_version(&versions, bucket, key)?
        && !next.delete_marker
    {
        versions.remove((bucket, key, s))?;
        let bytes = serde_json::to_vec(&next)?;
        objects.insert((bucket, key), bytes.as_slice())?;
    }
    decref(
        txn,
        &mut txn.open_table(BLOB_REFS)?,
        &removed.segments,
        &mut out.dead,
    )?;
    drop((objects, versions));
    add_usage(txn, bucket, -1, -signed(removed.usage_bytes()), 0)?;
    out.removed = Some(removed);
    Ok(out)
}

/// Changes one version (the current object when `which` is `None`) with `change`, which may
/// refuse; usage follows the change in size (tags). Returns the version as stored. A delete
/// marker is `405 MethodNotAllowed`.
pub fn modify_version(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    which: Option<&VersionRef>,
    change: impl FnOnce(&mut ObjectRecord) -> Result<()>,
) -> Result<ObjectRecord> {
    crate::registry::rows::require_bucket(txn, bucket)?;
    let mut objects = txn.open_table(OBJECTS)?;
    let mut versions = txn.open_table(VERSIONS)?;
    let current: Option<ObjectRecord> = get_json(&objects, (bucket, key))?;
    let (mut rec, parked) = match (current, which) {
        (Some(cur), None) => (cur, None),
        (Some(cur), Some(w)) if w.names(&cur) => (cur, None),
        (_, Some(w)) => match find_noncurrent(&versions, bucket, key, w)? {
            Some((s, rec)) => (rec, Some(s)),
            None => return Err(no_such_version()),
        },
        (None, None) => {
            return Err(client_err!(NoSuchKey, "The specified key does not exist."));
        }
    };
    if rec.delete_marker {
        return Err(client_err!(
            MethodNotAllowed,
            "The specified method is not allowed against this resource."
        ));
    }
    let before = signed(rec.usage_bytes());
    change(&mut rec)?;
    let delta = signed(rec.usage_bytes()) - before;
    let bytes = serde_json::to_vec(&rec)?;
    match parked {
        Some(s) => versions.insert((bucket, key, s), bytes.as_slice())?,
        None => objects.insert((bucket, key), bytes.as_slice())?,
    };
    drop((objects, versions));
    add_usage(txn, bucket, 0, delta, 0)?;
    Ok(rec)
}

/// `404 NoSuchVersion`.
pub fn no_such_version() -> crate::error::Error {
    client_err!(NoSuchVersion, "The specified version does not exist.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_parse_and_sort_by_time() {
        let a = version_id(next_stamp(0));
        let b = version_id(next_stamp(0));
        assert!(a < b, "{a} then {b}");
        assert!(matches!(
            VersionRef::parse(&a).unwrap(),
            VersionRef::Id { .. }
        ));
        assert_eq!(VersionRef::parse("null").unwrap(), VersionRef::Null);
        for bad in [
            "",
            "NULL",
            "abc",
            &a[..23],
            &format!("{a}0"),
            &a.to_uppercase(),
            "zzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            assert!(VersionRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn stamps_increase_past_the_given_one() {
        let far = next_stamp(0) + 1_000_000_000;
        assert!(next_stamp(far) > far);
        assert!(next_stamp(0) > far);
    }
}
