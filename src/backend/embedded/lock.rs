//! Object lock rules of the embedded backend: which versions may be deleted, and how a
//! version's retention may change.

use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Embedded;
use super::versions::{self, VersionRef};
use crate::error::{Result, client_err};
use crate::meta::{ObjectLock, ObjectLockConfig, ObjectRecord, UnixMillis, now_millis};
use crate::registry::rows::bucket_record;
use crate::s3util::{to_millis, to_timestamp};

pub const GOVERNANCE: &str = "GOVERNANCE";
pub const COMPLIANCE: &str = "COMPLIANCE";

fn locked() -> crate::error::Error {
    client_err!(
        AccessDenied,
        "Access Denied because object protected by object lock."
    )
}

const DAY_MS: i64 = 86_400_000;

/// Gives a new version its bucket's default retention (when it asks for none), or refuses a
/// retention or legal hold asked of a bucket without object lock.
pub fn apply_bucket_lock(rec: &mut ObjectRecord, bucket: Option<&ObjectLockConfig>) -> Result<()> {
    let Some(cfg) = bucket else {
        if !rec.lock.is_unset() {
            return Err(client_err!(
                InvalidRequest,
                "Bucket is missing Object Lock Configuration"
            ));
        }
        return Ok(());
    };
    if rec.lock.mode.is_none()
        && let Some(mode) = &cfg.default_mode
    {
        let days = cfg
            .default_days
            .map(i64::from)
            .or(cfg.default_years.map(|y| i64::from(y) * 365))
            .unwrap_or(0);
        rec.lock.mode = Some(mode.clone());
        rec.lock.retain_until = Some(
            rec.last_modified
                .saturating_add(days.saturating_mul(DAY_MS)),
        );
    }
    Ok(())
}

/// Whether a retention period is still running.
fn retained(lock: &ObjectLock, now: UnixMillis) -> bool {
    lock.mode.is_some() && lock.retain_until.is_some_and(|t| t > now)
}

/// May this version be deleted for good? A legal hold never yields; `COMPLIANCE` retention
/// never yields before its date; `GOVERNANCE` yields to `bypass` (the gateway passes it only
/// for the bucket's owner).
pub fn check_delete(rec: &crate::meta::ObjectRecord, bypass_governance: bool) -> Result<()> {
    let lock = &rec.lock;
    if lock.legal_hold {
        return Err(locked());
    }
    if retained(lock, now_millis()) {
        let governance = lock.mode.as_deref() == Some(GOVERNANCE);
        if !(governance && bypass_governance) {
            return Err(locked());
        }
    }
    Ok(())
}

/// May `current` retention be replaced by `new`? Extending is always allowed; shortening,
/// removing or changing the mode of a running retention needs `GOVERNANCE` and `bypass`;
/// a running `COMPLIANCE` retention is only ever extended.
pub fn check_retention_change(
    current: &ObjectLock,
    new_mode: Option<&str>,
    new_until: Option<UnixMillis>,
    bypass_governance: bool,
) -> Result<()> {
    if !retained(current, now_millis()) {
        return Ok(());
    }
    let extends = new_mode == current.mode.as_deref()
        && matches!((new_until, current.retain_until), (Some(n), Some(c)) if n >= c);
    if extends {
        return Ok(());
    }
    match current.mode.as_deref() {
        Some(GOVERNANCE) if bypass_governance => Ok(()),
        _ => Err(locked()),
    }
}

/// Checks a retention as a client sends it: a known mode with a date in the future, or
/// neither (`InvalidArgument` / `InvalidRequest` as S3 answers).
pub fn validate_retention(mode: Option<&str>, until: Option<UnixMillis>) -> Result<()> {
    match (mode, until) {
        (None, None) => Ok(()),
        (Some(m), Some(t)) => {
            if m != GOVERNANCE && m != COMPLIANCE {
                return Err(client_err!(InvalidArgument, "Unknown wormMode directive."));
            }
            if t <= now_millis() {
                return Err(client_err!(
                    InvalidArgument,
                    "The retain until date must be in the future!"
                ));
            }
            Ok(())
        }
        _ => Err(client_err!(
            InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        )),
    }
}

/// The lock a write asks for in its `x-amz-object-lock-*` headers, checked.
pub fn requested(
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    hold: Option<&ObjectLockLegalHoldStatus>,
) -> Result<ObjectLock> {
    let mode = mode.map(|m| m.as_str().to_owned());
    let until = until.cloned().map(to_millis);
    validate_retention(mode.as_deref(), until)?;
    let legal_hold = match hold.map(ObjectLockLegalHoldStatus::as_str) {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => {
            return Err(client_err!(
                InvalidArgument,
                "Legal Hold must be either of 'ON' or 'OFF'"
            ));
        }
    };
    Ok(ObjectLock {
        mode,
        retain_until: until,
        legal_hold,
    })
}

/// The lock headers of a GET or HEAD answer.
pub fn shown(
    lock: &ObjectLock,
) -> (
    Option<ObjectLockMode>,
    Option<Timestamp>,
    Option<ObjectLockLegalHoldStatus>,
) {
    (
        lock.mode.clone().map(ObjectLockMode::from),
        lock.retain_until.map(to_timestamp),
        lock.legal_hold
            .then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON)),
    )
}

impl Embedded {
    /// Runs `change` on one version's lock inside a commit, after checking the bucket has
    /// object lock (`InvalidRequest` otherwise, as S3 answers).
    async fn change_lock(
        &self,
        bucket: String,
        key: String,
        version_id: Option<&str>,
        change: impl FnOnce(&mut ObjectLock) -> Result<()> + Send + 'static,
    ) -> Result<ObjectRecord> {
        let which = version_id.map(VersionRef::parse).transpose()?;
        self.store()
            .write(move |txn| {
                if bucket_record(txn, &bucket)?.object_lock.is_none() {
                    return Err(client_err!(
                        InvalidRequest,
                        "Bucket is missing Object Lock Configuration"
                    ));
                }
                versions::modify_version(txn, &bucket, &key, which.as_ref(), |r| {
                    change(&mut r.lock)
                })
            })
            .await
    }

    /// The version a lock read names, on a bucket with object lock.
    fn lock_of(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectLock> {
        let lock_on = self.store().read(|txn| {
            let table = txn.open_table(crate::meta::BUCKETS)?;
            let rec: Option<crate::meta::BucketRecord> = crate::meta::get_json(&table, bucket)?;
            Ok(rec.map(|r| r.object_lock.is_some()))
        })?;
        match lock_on {
            None => {
                return Err(client_err!(
                    NoSuchBucket,
                    "The specified bucket does not exist"
                ));
            }
            Some(false) => {
                return Err(client_err!(
                    InvalidRequest,
                    "Bucket is missing Object Lock Configuration"
                ));
            }
            Some(true) => {}
        }
        Ok(self.load_existing(bucket, key, version_id)?.0.lock)
    }

    pub(super) async fn put_object_retention_impl(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> Result<S3Response<PutObjectRetentionOutput>> {
        let input = req.input;
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        let r = input.retention.unwrap_or_default();
        let mode = r.mode.map(|m| m.as_str().to_owned());
        let until = r.retain_until_date.map(to_millis);
        validate_retention(mode.as_deref(), until)?;
        self.change_lock(
            input.bucket,
            input.key,
            input.version_id.as_deref(),
            move |lock| {
                check_retention_change(lock, mode.as_deref(), until, bypass)?;
                lock.mode = mode;
                lock.retain_until = until;
                Ok(())
            },
        )
        .await?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(super) fn get_object_retention_impl(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> Result<S3Response<GetObjectRetentionOutput>> {
        let input = req.input;
        let lock = self.lock_of(&input.bucket, &input.key, input.version_id.as_deref())?;
        if lock.mode.is_none() {
            return Err(client_err!(
                NoSuchObjectLockConfiguration,
                "The specified object does not have a ObjectLock configuration"
            ));
        }
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: lock.mode.map(ObjectLockRetentionMode::from),
                retain_until_date: lock.retain_until.map(to_timestamp),
            }),
        }))
    }

    pub(super) async fn put_object_legal_hold_impl(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> Result<S3Response<PutObjectLegalHoldOutput>> {
        let input = req.input;
        let hold = input.legal_hold.and_then(|h| h.status);
        let on = requested(None, None, hold.as_ref())?.legal_hold;
        if hold.is_none() {
            return Err(client_err!(
                MalformedXML,
                "The XML you provided was not well-formed"
            ));
        }
        self.change_lock(
            input.bucket,
            input.key,
            input.version_id.as_deref(),
            move |lock| {
                lock.legal_hold = on;
                Ok(())
            },
        )
        .await?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }

    pub(super) fn get_object_legal_hold_impl(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> Result<S3Response<GetObjectLegalHoldOutput>> {
        let input = req.input;
        let lock = self.lock_of(&input.bucket, &input.key, input.version_id.as_deref())?;
        let status = if lock.legal_hold { "ON" } else { "OFF" };
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(ObjectLockLegalHoldStatus::from(status.to_owned())),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::ObjectRecord;

    fn rec(mode: Option<&str>, until_from_now: i64, hold: bool) -> ObjectRecord {
        let mut r = ObjectRecord::empty(now_millis());
        r.lock = ObjectLock {
            mode: mode.map(str::to_owned),
            retain_until: mode.map(|_| now_millis() + until_from_now),
            legal_hold: hold,
        };
        r
    }

    #[test]
    fn deletes_under_lock() {
        assert!(check_delete(&rec(None, 0, false), false).is_ok());
        assert!(check_delete(&rec(None, 0, true), true).is_err());
        assert!(check_delete(&rec(Some(COMPLIANCE), 60_000, false), true).is_err());
        assert!(check_delete(&rec(Some(GOVERNANCE), 60_000, false), false).is_err());
        assert!(check_delete(&rec(Some(GOVERNANCE), 60_000, false), true).is_ok());
        // Expired retention no longer protects.
        assert!(check_delete(&rec(Some(COMPLIANCE), -1, false), false).is_ok());
    }

    #[test]
    fn retention_changes() {
        let c = rec(Some(COMPLIANCE), 60_000, false).lock;
        let later = c.retain_until.unwrap() + 1;
        let sooner = c.retain_until.unwrap() - 1;
        assert!(check_retention_change(&c, Some(COMPLIANCE), Some(later), false).is_ok());
        assert!(check_retention_change(&c, Some(COMPLIANCE), Some(sooner), true).is_err());
        assert!(check_retention_change(&c, Some(GOVERNANCE), Some(later), true).is_err());
        assert!(check_retention_change(&c, None, None, true).is_err());
        let g = rec(Some(GOVERNANCE), 60_000, false).lock;
        assert!(check_retention_change(&g, Some(GOVERNANCE), Some(sooner), false).is_err());
        assert!(check_retention_change(&g, Some(GOVERNANCE), Some(sooner), true).is_ok());
        assert!(check_retention_change(&g, None, None, true).is_ok());
    }

    #[test]
    fn retention_as_sent() {
        let future = now_millis() + 60_000;
        assert!(validate_retention(None, None).is_ok());
        assert!(validate_retention(Some(GOVERNANCE), Some(future)).is_ok());
        assert!(validate_retention(Some("governance"), Some(future)).is_err());
        assert!(validate_retention(Some(COMPLIANCE), Some(now_millis() - 1)).is_err());
        assert!(validate_retention(Some(COMPLIANCE), None).is_err());
        assert!(validate_retention(None, Some(future)).is_err());
    }
}
