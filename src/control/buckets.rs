//! Buckets as the control plane sees them: the actor's own (others' are "not found"),
//! created and changed with validated settings, deleted, and their stats.

use std::sync::Arc;

use super::{
    Actor, BucketCreate, BucketPatch, BucketStats, Control, check_text, invalid,
    refused_by_backend, setting_error, validate_id, versioning_status,
};
use crate::error::{Result, client_err};
use crate::keys::ROOT_USER;
use crate::meta::{BucketRecord, Quota, UsageRecord, now_millis};

impl Control {
    pub fn list_buckets(&self, actor: &Actor) -> Vec<Arc<BucketRecord>> {
        self.gateway
            .registry()
            .all()
            .into_iter()
            .filter(|b| actor.may_see(&b.owner))
            .collect()
    }

    /// The bucket if the actor may see it; a bucket of someone else is "not found", so its
    /// existence does not leak.
    pub fn bucket(&self, actor: &Actor, name: &str) -> Result<Arc<BucketRecord>> {
        match self.gateway.registry().cached(name) {
            Some(b) if actor.may_see(&b.owner) => Ok(b),
            _ => Err(client_err!(NoSuchBucket, "bucket not found")),
        }
    }

    pub async fn create_bucket(
        &self,
        actor: &Actor,
        req: BucketCreate,
    ) -> Result<Arc<BucketRecord>> {
        crate::s3util::validate_bucket_name(&req.name)?;
        check_text("description", req.description.as_deref())?;
        check_text("encryption", req.encryption.as_deref())?;
        let owner = match (actor, &req.owner) {
            (Actor::Admin, Some(o)) => {
                if o != ROOT_USER {
                    self.get_user(actor, o)
                        .map_err(|_| invalid("owner", "no such user"))?;
                }
                o.clone()
            }
            (Actor::Admin, None) => ROOT_USER.to_owned(),
            (Actor::User(id), Some(o)) if o != id => {
                return Err(invalid(
                    "owner",
                    "a user can only create buckets for themselves",
                ));
            }
            (Actor::User(id), _) => id.clone(),
        };
        for (field, v) in [("team", &req.team), ("workspace", &req.workspace)] {
            if let Some(v) = v {
                validate_id(field, v)?;
            }
        }
        let region = req
            .region
            .clone()
            .unwrap_or_else(|| self.gateway.region().to_owned());
        if region != self.gateway.region() {
            return Err(invalid("region", "this gateway serves one region only"));
        }
        let mut rec = self.gateway.backends().new_record(
            &req.name,
            &owner,
            req.backend.unwrap_or(self.gateway.default_backend()),
            &region,
            req.profile.as_deref(),
        )?;
        rec.team = req.team;
        rec.workspace = req.workspace;
        rec.description = req.description;
        rec.quota = Quota {
            max_size_bytes: req.max_size_bytes,
            max_objects: req.max_objects,
        };
        rec.public_read = req.public_read.unwrap_or(false);
        rec.public_list = req.public_list.unwrap_or(false);
        // Versioning off at creation is the unversioned state, not "suspended".
        rec.versioning = req.versioning.filter(|on| *on).map(versioning_status);
        rec.encryption = req.encryption;
        self.gateway.backends().create(rec).await
    }

    pub async fn update_bucket(
        &self,
        actor: &Actor,
        name: &str,
        patch: BucketPatch,
    ) -> Result<Arc<BucketRecord>> {
        let before = self.bucket(actor, name)?;
        check_text(
            "description",
            patch.description.clone().flatten().as_deref(),
        )?;
        check_text("encryption", patch.encryption.clone().flatten().as_deref())?;
        let mut rec = (*before).clone();
        let encryption_patch = patch.encryption.clone();
        apply_patch(&mut rec, patch)?;
        // Only what changes reaches the bucket's server; suspending versioning that was never
        // enabled changes nothing.
        let versioning = rec
            .versioning
            .clone()
            .filter(|v| before.versioning.as_deref().unwrap_or("Suspended") != v);
        let encryption = encryption_patch
            .as_ref()
            .filter(|e| **e != before.encryption)
            .map(Option::as_deref);
        self.gateway
            .backends()
            .push_settings(name, versioning.as_deref(), encryption)
            .await
            .map_err(refused_by_backend)?;
        rec.updated = now_millis();
        self.gateway.registry().update(rec).await
    }

    pub fn stats(&self, actor: &Actor, name: &str) -> Result<BucketStats> {
        let rec = self.bucket(actor, name)?;
        let usage = self.gateway.registry().usage(name)?;
        Ok(self.stats_of(&rec, &usage))
    }

    pub async fn sync(&self, actor: &Actor, name: &str) -> Result<BucketStats> {
        let rec = self.bucket(actor, name)?;
        let usage = self.gateway.backends().sync_usage(name).await?;
        Ok(self.stats_of(&rec, &usage))
    }

    /// Deletes a bucket through its backend (S3 rules: it must be empty), with its domains;
    /// a refused delete leaves everything as it was. A container bucket's volume is removed
    /// too, unless `keep_volume`.
    pub async fn delete_bucket(&self, actor: &Actor, name: &str, keep_volume: bool) -> Result<()> {
        self.bucket(actor, name)?;
        self.gateway.delete_bucket(name, keep_volume).await
    }

    /// Whether any bucket has this name (for checks that do not leak across users).
    pub fn exists_any(&self, name: &str) -> bool {
        self.gateway.registry().cached(name).is_some()
    }
}

impl Control {
    fn stats_of(&self, rec: &BucketRecord, usage: &UsageRecord) -> BucketStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = self.gateway.counters.of(&rec.name);
        BucketStats {
            requests: c.requests.load(Relaxed),
            errors: c.errors.load(Relaxed),
            bytes_in: c.bytes_in.load(Relaxed),
            bytes_out: c.bytes_out.load(Relaxed),
            status: self.gateway.backends().status(rec).0,
            ..stats_of(rec, usage)
        }
    }
}

fn stats_of(rec: &BucketRecord, usage: &UsageRecord) -> BucketStats {
    let pct = |used: u64, max: Option<u64>| {
        max.map(|m| {
            if m == 0 {
                100.0
            } else {
                (used as f64 / m as f64 * 10_000.0).round() / 100.0
            }
        })
    };
    BucketStats {
        bucket: rec.name.clone(),
        status: "running",
        objects: usage.objects,
        bytes: usage.bytes,
        pending_bytes: usage.pending_bytes,
        max_size_bytes: rec.quota.max_size_bytes,
        max_objects: rec.quota.max_objects,
        size_used_percent: pct(usage.bytes, rec.quota.max_size_bytes),
        objects_used_percent: pct(usage.objects, rec.quota.max_objects),
        requests: 0,
        errors: 0,
        bytes_in: 0,
        bytes_out: 0,
    }
}

/// Applies a patch's fields to a record, checking each.
fn apply_patch(rec: &mut BucketRecord, patch: BucketPatch) -> Result<()> {
    if let Some(v) = patch.description {
        rec.description = v;
    }
    if let Some(v) = patch.max_size_bytes {
        rec.quota.max_size_bytes = v;
    }
    if let Some(v) = patch.max_objects {
        rec.quota.max_objects = v;
    }
    if let Some(v) = patch.public_read {
        rec.public_read = v;
    }
    if let Some(v) = patch.public_list {
        rec.public_list = v;
    }
    if let Some(v) = patch.versioning {
        if !v && rec.object_lock.is_some() {
            return Err(crate::error::Error::custom(
                "InvalidBucketState",
                http::StatusCode::CONFLICT,
                "versioning cannot be suspended on a bucket with object lock",
            ));
        }
        // Turning off versioning that was never on leaves the bucket unversioned.
        if v || rec.versioning.is_some() {
            rec.versioning = Some(versioning_status(v));
        }
    }
    if let Some(v) = patch.encryption {
        rec.encryption = v;
    }
    if let Some(v) = patch.region
        && v != rec.region
    {
        return Err(invalid("region", "a bucket's region cannot change"));
    }
    if let Some(v) = patch.team {
        if let Some(t) = &v {
            validate_id("team", t)?;
        }
        rec.team = v;
    }
    if let Some(v) = patch.workspace {
        if let Some(w) = &v {
            validate_id("workspace", w)?;
        }
        rec.workspace = v;
    }
    if let Some(g) = patch.grants {
        rec.grants = g;
    }
    if let Some(w) = patch.website {
        rec.website = w.map(Into::into);
        if let Some(w) = &rec.website {
            crate::settings::check_website(w).map_err(setting_error)?;
        }
    }
    if let Some(c) = patch.cors {
        rec.cors = c
            .map(crate::settings::cors_from_settings)
            .transpose()
            .map_err(setting_error)?;
    }
    Ok(())
}
