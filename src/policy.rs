//! Who may do what, and how much may be written: the checks made at the S3 door for every
//! backend, before any body is read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use s3s::{S3Error, S3ErrorCode};

use crate::meta::{BucketRecord, GrantLevel, UsageRecord};

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Root,
    User { id: String, access_key: String },
}

/// Operations an anonymous caller may make on a public bucket.
const PUBLIC_READ_OPS: &[&str] = &["GetObject", "HeadObject"];
const PUBLIC_LIST_OPS: &[&str] = &["ListObjects", "ListObjectsV2"];

/// Operations a `read` grant allows.
const READ_OPS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "GetObjectTagging",
    "GetBucketVersioning",
    "GetObjectRetention",
    "GetObjectLegalHold",
    "HeadBucket",
    "GetBucketLocation",
    "ListMultipartUploads",
    "ListParts",
    "GetBucketCors",
    "GetBucketWebsite",
];

fn denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}

/// May `who` run `op` on `bucket` (a bucket that exists)?
pub fn authorize(who: &Principal, op: &str, bucket: &BucketRecord) -> Result<(), S3Error> {
    match who {
        Principal::Root => Ok(()),
        Principal::User { id, access_key } => {
            if bucket.owner == *id {
                return Ok(());
            }
            // Bucket settings stay with the owner whatever the grant.
            let object_level = !op.contains("Bucket") || READ_OPS.contains(&op);
            match bucket.grants.iter().find(|g| g.access_key == *access_key) {
                Some(g) if g.level == GrantLevel::ReadWrite && object_level => Ok(()),
                Some(g) if g.level == GrantLevel::Read && READ_OPS.contains(&op) => Ok(()),
                _ => Err(denied()),
            }
        }
        Principal::Anonymous => {
            let read = bucket.public_read && PUBLIC_READ_OPS.contains(&op);
            let list = bucket.public_read && bucket.public_list && PUBLIC_LIST_OPS.contains(&op);
            if read || list { Ok(()) } else { Err(denied()) }
        }
    }
}

/// Most bytes a write of unknown length may store, put in the request extensions by the
/// control plane (the S3 door requires `Content-Length` instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimit(pub u64);

/// A 403 `QuotaExceeded` S3 error naming the limit.
pub fn quota_exceeded(msg: String) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom("QuotaExceeded".into()), msg);
    e.set_status_code(http::StatusCode::FORBIDDEN);
    e
}

/// Bytes and objects admitted but not yet committed, per bucket.
#[derive(Default)]
pub struct InFlight {
    by_bucket: Mutex<HashMap<String, (u64, u64)>>,
}

/// How many bytes a write asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A write of known length (body, plus the metadata and tags it stores).
    Bytes(u64),
    /// A write of unknown length: it reserves all the headroom left and is cut off there
    /// (see [`Reservation::limit`]).
    Rest,
}

/// Holds admitted bytes and objects until the write finishes (dropped on success or failure).
pub struct Reservation {
    inflight: Arc<InFlight>,
    bucket: String,
    max_bytes: Option<u64>,
    bytes: u64,
    objects: u64,
    /// Most bytes the write may store: `bytes`, or unlimited for a write of unknown length
    /// to a bucket without a byte quota.
    limit: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut map = self.inflight.lock();
        if let Some(v) = map.get_mut(&self.bucket) {
            v.0 = v.0.saturating_sub(self.bytes);
            v.1 = v.1.saturating_sub(self.objects);
            if *v == (0, 0) {
                map.remove(&self.bucket);
            }
        }
    }
}

impl Reservation {
    /// Bytes the write may store: what was reserved for it.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Grows the reservation to `bytes` once the real size of the write is known (a copy
    /// whose source changed after it was admitted), or refuses with `QuotaExceeded`; the
    /// reservation is unchanged then. Never shrinks.
    pub fn grow_to(
        &mut self,
        bytes: u64,
        usage: impl FnOnce() -> Result<UsageRecord, S3Error>,
    ) -> Result<(), S3Error> {
        if bytes <= self.bytes {
            return Ok(());
        }
        let mut map = self.inflight.lock();
        let usage = usage()?;
        let (busy_bytes, _) = map.get(&self.bucket).copied().unwrap_or((0, 0));
        let others = busy_bytes.saturating_sub(self.bytes);
        if let Some(max) = self.max_bytes {
            check_bytes(max, &usage, others, bytes)?;
        }
        let slot = map.entry(self.bucket.clone()).or_insert((0, 0));
        slot.0 = slot.0 - self.bytes.min(slot.0) + bytes;
        self.bytes = bytes;
        self.limit = self.limit.max(bytes);
        Ok(())
    }
}

/// A reservation shared with the backend that serves the write (through the request's
/// extensions), so the backend can grow it to the size it really stores before committing.
#[derive(Clone)]
pub struct SharedReservation(Arc<Mutex<Reservation>>);

impl SharedReservation {
    pub fn new(r: Reservation) -> Self {
        Self(Arc::new(Mutex::new(r)))
    }

    /// See [`Reservation::grow_to`].
    pub fn grow_to(
        &self,
        bytes: u64,
        usage: impl FnOnce() -> Result<UsageRecord, S3Error>,
    ) -> Result<(), S3Error> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .grow_to(bytes, usage)
    }
}

/// Refuses a write of `bytes` when stored, pending and other in-flight bytes leave no room.
fn check_bytes(max: u64, usage: &UsageRecord, busy: u64, bytes: u64) -> Result<(), S3Error> {
    let total = usage
        .bytes
        .saturating_add(usage.pending_bytes)
        .saturating_add(busy)
        .saturating_add(bytes);
    if total > max {
        return Err(quota_exceeded(format!(
            "This write of {bytes} bytes would exceed the bucket's storage quota of {max} bytes ({} used, {} pending)",
            usage.bytes,
            usage.pending_bytes + busy
        )));
    }
    Ok(())
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, u64)>> {
        self.by_bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a write of `need` bytes that may add `objects` objects, or refuses it with
    /// `QuotaExceeded`. `usage` is read under the same lock as the in-flight counters, so
    /// concurrent writers cannot all pass on the same headroom. This is the one admission of
    /// every writer (the S3 door, forwarded requests, the control plane); `None` means the
    /// bucket has no quota (no limit).
    pub fn admit(
        self: &Arc<Self>,
        bucket: &BucketRecord,
        need: Need,
        objects: u64,
        usage: impl FnOnce() -> Result<UsageRecord, S3Error>,
    ) -> Result<Option<Reservation>, S3Error> {
        let q = &bucket.quota;
        if q.max_size_bytes.is_none() && q.max_objects.is_none() {
            return Ok(None);
        }
        let mut map = self.lock();
        let usage = usage()?;
        let (busy_bytes, busy_objects) = map.get(&bucket.name).copied().unwrap_or((0, 0));
        let bytes = match (need, q.max_size_bytes) {
            (Need::Bytes(n), _) => n,
            (Need::Rest, Some(max)) => max.saturating_sub(
                usage
                    .bytes
                    .saturating_add(usage.pending_bytes)
                    .saturating_add(busy_bytes),
            ),
            (Need::Rest, None) => 0,
        };
        if let Some(max) = q.max_size_bytes {
            check_bytes(max, &usage, busy_bytes, bytes)?;
        }
        if let Some(max) = q.max_objects
            && objects > 0
            && usage
                .objects
                .saturating_add(busy_objects)
                .saturating_add(objects)
                > max
        {
            return Err(quota_exceeded(format!(
                "This write would exceed the bucket's quota of {max} objects ({} stored)",
                usage.objects
            )));
        }
        let slot = map.entry(bucket.name.clone()).or_insert((0, 0));
        slot.0 += bytes;
        slot.1 += objects;
        Ok(Some(Reservation {
            inflight: self.clone(),
            bucket: bucket.name.clone(),
            max_bytes: q.max_size_bytes,
            bytes,
            objects,
            limit: if q.max_size_bytes.is_none() {
                u64::MAX
            } else {
                bytes
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{BackendKind, Grant, Quota};

    fn bucket() -> BucketRecord {
        BucketRecord::new("b", "alice", BackendKind::Embedded, "us-east-1")
    }

    fn user(id: &str, key: &str) -> Principal {
        Principal::User {
            id: id.into(),
            access_key: key.into(),
        }
    }

    #[test]
    fn owners_and_root_do_everything_others_nothing() {
        let b = bucket();
        assert!(authorize(&Principal::Root, "DeleteBucket", &b).is_ok());
        assert!(authorize(&user("alice", "k1"), "PutObject", &b).is_ok());
        assert!(authorize(&user("bob", "k2"), "GetObject", &b).is_err());
        assert!(authorize(&Principal::Anonymous, "GetObject", &b).is_err());
    }

    #[test]
    fn grants_and_public_access_are_scoped() {
        let mut b = bucket();
        b.grants.push(Grant {
            access_key: "k2".into(),
            level: GrantLevel::Read,
        });
        b.grants.push(Grant {
            access_key: "k3".into(),
            level: GrantLevel::ReadWrite,
        });
        assert!(authorize(&user("bob", "k2"), "GetObject", &b).is_ok());
        assert!(authorize(&user("bob", "k2"), "PutObject", &b).is_err());
        assert!(authorize(&user("carol", "k3"), "PutObject", &b).is_ok());
        assert!(authorize(&user("carol", "k3"), "DeleteBucket", &b).is_err());
        assert!(authorize(&user("carol", "k3"), "PutBucketCors", &b).is_err());

        b.public_read = true;
        assert!(authorize(&Principal::Anonymous, "GetObject", &b).is_ok());
        assert!(authorize(&Principal::Anonymous, "ListObjectsV2", &b).is_err());
        assert!(authorize(&Principal::Anonymous, "PutObject", &b).is_err());
        b.public_list = true;
        assert!(authorize(&Principal::Anonymous, "ListObjectsV2", &b).is_ok());
    }

    #[test]
    fn concurrent_admissions_cannot_share_headroom() {
        let mut b = bucket();
        b.quota = Quota {
            max_size_bytes: Some(100),
            max_objects: Some(2),
        };
        let inflight = Arc::new(InFlight::default());
        let usage = || Ok(UsageRecord::default());
        let r1 = inflight.admit(&b, Need::Bytes(60), 1, usage).unwrap();
        assert!(inflight.admit(&b, Need::Bytes(60), 1, usage).is_err());
        let r2 = inflight.admit(&b, Need::Bytes(40), 1, usage).unwrap();
        assert!(inflight.admit(&b, Need::Bytes(0), 1, usage).is_err());
        drop((r1, r2));
        assert!(inflight.admit(&b, Need::Bytes(100), 1, usage).is_ok());
        let err = inflight
            .admit(&b, Need::Bytes(101), 0, usage)
            .err()
            .unwrap();
        assert_eq!(err.code().as_str(), "QuotaExceeded");
        assert_eq!(err.status_code(), Some(http::StatusCode::FORBIDDEN));
    }

    #[test]
    fn reservations_grow_only_into_free_room_and_rest_takes_the_headroom() {
        let mut b = bucket();
        b.quota = Quota {
            max_size_bytes: Some(100),
            max_objects: None,
        };
        let inflight = Arc::new(InFlight::default());
        let usage = || {
            Ok(UsageRecord {
                bytes: 10,
                ..UsageRecord::default()
            })
        };
        let mut small = inflight
            .admit(&b, Need::Bytes(1), 1, usage)
            .unwrap()
            .unwrap();
        let other = inflight
            .admit(&b, Need::Bytes(50), 1, usage)
            .unwrap()
            .unwrap();
        // 10 stored + 50 of the other writer: 40 left for this one.
        let err = small.grow_to(41, usage).err().unwrap();
        assert_eq!(err.code().as_str(), "QuotaExceeded");
        small.grow_to(40, usage).unwrap();
        assert!(inflight.admit(&b, Need::Bytes(1), 0, usage).is_err());
        drop(other);
        let rest = inflight.admit(&b, Need::Rest, 1, usage).unwrap().unwrap();
        assert_eq!(rest.limit(), 50);
        drop((small, rest));
        assert!(inflight.admit(&b, Need::Bytes(90), 1, usage).is_ok());
    }
}
