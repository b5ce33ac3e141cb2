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
    "GetObjectTagging",
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

/// Holds admitted bytes and objects until the write finishes (dropped on success or failure).
pub struct Reservation {
    inflight: Arc<InFlight>,
    bucket: String,
    bytes: u64,
    objects: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut map = self
            .inflight
            .by_bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = map.get_mut(&self.bucket) {
            v.0 = v.0.saturating_sub(self.bytes);
            v.1 = v.1.saturating_sub(self.objects);
            if *v == (0, 0) {
                map.remove(&self.bucket);
            }
        }
    }
}

impl InFlight {
    /// Admits a write of `bytes` that may add `objects` objects, or refuses it with
    /// `QuotaExceeded`. `usage` is read under the same lock as the in-flight counters, so
    /// concurrent writers cannot all pass on the same headroom.
    pub fn admit(
        self: &Arc<Self>,
        bucket: &BucketRecord,
        bytes: u64,
        objects: u64,
        usage: impl FnOnce() -> Result<UsageRecord, S3Error>,
    ) -> Result<Option<Reservation>, S3Error> {
        let q = &bucket.quota;
        if q.max_size_bytes.is_none() && q.max_objects.is_none() {
            return Ok(None);
        }
        let mut map = self
            .by_bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let usage = usage()?;
        let (busy_bytes, busy_objects) = map.get(&bucket.name).copied().unwrap_or((0, 0));
        if let Some(max) = q.max_size_bytes {
            let total = usage
                .bytes
                .saturating_add(usage.pending_bytes)
                .saturating_add(busy_bytes)
                .saturating_add(bytes);
            if total > max {
                return Err(quota_exceeded(format!(
                    "This write of {bytes} bytes would exceed the bucket's storage quota of {max} bytes ({} used, {} pending)",
                    usage.bytes,
                    usage.pending_bytes + busy_bytes
                )));
            }
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
            bytes,
            objects,
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
        let r1 = inflight.admit(&b, 60, 1, usage).unwrap();
        assert!(inflight.admit(&b, 60, 1, usage).is_err());
        let r2 = inflight.admit(&b, 40, 1, usage).unwrap();
        assert!(inflight.admit(&b, 0, 1, usage).is_err());
        drop((r1, r2));
        assert!(inflight.admit(&b, 100, 1, usage).is_ok());
        let err = inflight.admit(&b, 101, 0, usage).err().unwrap();
        assert_eq!(err.code().as_str(), "QuotaExceeded");
        assert_eq!(err.status_code(), Some(http::StatusCode::FORBIDDEN));
    }
}
