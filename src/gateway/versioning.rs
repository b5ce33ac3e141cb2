//! Versioning and object lock settings of buckets served in process, kept in the registry
//! (forwarded buckets' servers answer these themselves, through the pass-through route).

use s3s::dto::*;
use s3s::{S3Request, S3Result, s3_error};

use super::Gateway;
use crate::meta::{BucketRecord, ObjectLockConfig};
use crate::policy::Principal;

const GOVERNANCE: &str = "GOVERNANCE";
const COMPLIANCE: &str = "COMPLIANCE";

impl Gateway {
    pub(super) async fn put_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<()> {
        let conf = req.input.versioning_configuration;
        if conf
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
            || req.input.mfa.is_some()
        {
            return Err(s3_error!(
                InvalidRequest,
                "MFA delete is not supported by this gateway: leave MfaDelete out or Disabled"
            ));
        }
        let status = match conf.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some(s @ ("Enabled" | "Suspended")) => s.to_owned(),
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "The versioning Status must be Enabled or Suspended"
                ));
            }
        };
        let rec = self.registry().resolve(&req.input.bucket)?;
        if rec.object_lock.is_some() && status == "Suspended" {
            return Err(s3_error!(
                InvalidBucketState,
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
            ));
        }
        // Suspending versioning that was never enabled leaves the bucket as it is.
        if status == "Suspended" && rec.versioning.is_none() {
            return Ok(());
        }
        self.registry()
            .modify(&req.input.bucket, |b| b.versioning = Some(status))
            .await?;
        Ok(())
    }

    pub(super) fn get_versioning(&self, bucket: &str) -> S3Result<GetBucketVersioningOutput> {
        let rec = self.registry().resolve(bucket)?;
        Ok(GetBucketVersioningOutput {
            mfa_delete: None,
            status: rec.versioning.clone().map(BucketVersioningStatus::from),
        })
    }

    pub(super) async fn put_lock_config(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<()> {
        let rec = self.registry().resolve(&req.input.bucket)?;
        if rec.object_lock.is_none() {
            return Err(s3_error!(
                InvalidBucketState,
                "Object Lock configuration cannot be enabled on existing buckets"
            ));
        }
        let conf = req
            .input
            .object_lock_configuration
            .ok_or_else(|| s3_error!(MalformedXML, "The XML you provided was not well-formed"))?;
        let lock = lock_config(&conf)?;
        self.registry()
            .modify(&req.input.bucket, |b| b.object_lock = Some(lock))
            .await?;
        Ok(())
    }

    pub(super) fn get_lock_config(&self, bucket: &str) -> S3Result<ObjectLockConfiguration> {
        let rec = self.registry().resolve(bucket)?;
        let Some(lock) = &rec.object_lock else {
            return Err(s3_error!(
                ObjectLockConfigurationNotFoundError,
                "Object Lock configuration does not exist for this bucket"
            ));
        };
        let rule = lock.default_mode.as_ref().map(|mode| ObjectLockRule {
            default_retention: Some(DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(mode.clone())),
                days: lock.default_days.and_then(|d| i32::try_from(d).ok()),
                years: lock.default_years.and_then(|y| i32::try_from(y).ok()),
            }),
        });
        Ok(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        })
    }
}

/// A lock configuration as a client sends it, checked as S3 checks it.
fn lock_config(conf: &ObjectLockConfiguration) -> S3Result<ObjectLockConfig> {
    if conf
        .object_lock_enabled
        .as_ref()
        .map(ObjectLockEnabled::as_str)
        != Some(ObjectLockEnabled::ENABLED)
    {
        return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled"));
    }
    let Some(retention) = conf
        .rule
        .as_ref()
        .and_then(|r| r.default_retention.as_ref())
    else {
        if conf.rule.is_some() {
            return Err(s3_error!(MalformedXML, "A Rule needs a DefaultRetention"));
        }
        return Ok(ObjectLockConfig::default());
    };
    let mode = match retention.mode.as_ref().map(ObjectLockRetentionMode::as_str) {
        Some(m @ (GOVERNANCE | COMPLIANCE)) => m.to_owned(),
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "DefaultRetention needs a Mode of GOVERNANCE or COMPLIANCE"
            ));
        }
    };
    let positive = |n: i32| {
        u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Default retention period must be a positive integer value"
            )
        })
    };
    let (days, years) = match (retention.days, retention.years) {
        (Some(d), None) => (Some(positive(d)?), None),
        (None, Some(y)) => (None, Some(positive(y)?)),
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "DefaultRetention must name exactly one of Days and Years"
            ));
        }
    };
    Ok(ObjectLockConfig {
        default_mode: Some(mode),
        default_days: days,
        default_years: years,
    })
}

/// Whether `who` may bypass governance retention on `rec`: its owner (and root) only.
pub(super) fn may_bypass(who: &Principal, rec: &BucketRecord) -> bool {
    match who {
        Principal::Root => true,
        Principal::User { id, .. } => *id == rec.owner,
        Principal::Anonymous => false,
    }
}
