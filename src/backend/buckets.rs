//! Bucket life cycle across backend kinds: creation and deletion in the backend, start and
//! stop, emptiness, usage recounts, settings carried to a bucket's own server, and the upstream
//! of a forwarded bucket for one request.

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3, S3Error, S3Result};

use super::Backends;
use super::container::lifecycle;
use super::upstream::{Upstream, UpstreamLease};
use crate::error::{Error, Result, client_err};
use crate::meta::{BackendKind, BucketRecord, BucketStatus, UsageRecord};
use crate::s3util::internal_request;

pub use super::container::lifecycle::Provision;

impl Backends {
    /// A new private bucket's record; container buckets get their container's description
    /// (`profile`, or the configured default).
    pub fn new_record(
        &self,
        name: &str,
        owner: &str,
        backend: BackendKind,
        region: &str,
        profile: Option<&str>,
    ) -> Result<BucketRecord> {
        let mut rec = BucketRecord::new(name, owner, backend, region);
        match backend {
            BackendKind::Container => {
                rec.container = Some(self.containers.new_spec(&rec, profile)?);
                rec.status = BucketStatus::Creating;
            }
            _ if profile.is_some() => {
                return Err(client_err!(
                    InvalidArgument,
                    "profile: only container buckets have a backend profile"
                ));
            }
            _ => {}
        }
        Ok(rec)
    }

    /// Records a new bucket and asks its backend to create it. The name is unique per
    /// gateway: `BucketAlreadyOwnedByYou` / `BucketAlreadyExists` otherwise. A container
    /// bucket whose container could not be made ready stays recorded in state `error` (start
    /// it, or create it again, to retry); the error is returned.
    pub async fn create(&self, record: BucketRecord) -> Result<Arc<BucketRecord>> {
        if record.backend == BackendKind::Remote && self.remote.is_none() {
            return Err(client_err!(
                InvalidArgument,
                "backend: no remote endpoint is configured"
            ));
        }
        let name = self.registry.insert_new(record).await?.name.clone();
        match self.create_in_backend(&name).await {
            Ok(()) => {}
            Err(Provision::Refused(e)) => {
                // Undo the record: a bucket its backend does not have must not be listed.
                self.forget(&name).await?;
                return Err(e.into());
            }
            Err(Provision::Failed(e)) => return Err(e.into()),
        }
        self.registry.resolve(&name)
    }

    async fn create_in_backend(&self, name: &str) -> std::result::Result<(), Provision> {
        let rec = self
            .registry
            .resolve(name)
            .map_err(|e| Provision::Refused(e.into()))?;
        match rec.backend {
            BackendKind::Embedded => {
                let input = CreateBucketInput::builder()
                    .bucket(name.to_owned())
                    .build()
                    .map_err(|_| {
                        Provision::Refused(crate::error::internal("building CreateBucketInput"))
                    })?;
                self.embedded
                    .create_bucket(internal_request(input, http::Method::PUT))
                    .await
                    .map_err(Provision::Refused)?;
                Ok(())
            }
            BackendKind::Remote => {
                let remote = self.remote.as_ref().ok_or_else(|| {
                    Provision::Refused(S3Error::new(s3s::S3ErrorCode::InvalidArgument))
                })?;
                remote.create_bucket(name).await.map_err(Provision::Refused)
            }
            BackendKind::Container => lifecycle::provision(&self.containers, name).await,
        }
    }

    /// Removes a bucket's record, usage row, links and port leases (the backend already
    /// dropped its data).
    async fn forget(&self, name: &str) -> Result<()> {
        self.registry
            .forget(name, |txn, bucket| {
                super::container::ports::release_in(txn, bucket)
            })
            .await
    }

    /// Deletes a bucket through its backend (S3 rules: it must be empty) and forgets it. A
    /// container bucket's container goes, and its volume unless `keep_volume`.
    pub async fn delete(&self, name: &str, keep_volume: bool) -> Result<()> {
        let record = self.registry.resolve(name)?;
        match record.backend {
            BackendKind::Embedded => {
                let input = DeleteBucketInput::builder()
                    .bucket(name.to_owned())
                    .build()
                    .map_err(|_| Error::Bug("building DeleteBucketInput"))?;
                self.embedded
                    .delete_bucket(internal_request(input, http::Method::DELETE))
                    .await
                    .map_err(Error::from)?;
            }
            BackendKind::Remote => {
                let remote = self
                    .remote
                    .as_ref()
                    .ok_or(Error::Bug("remote bucket without endpoint"))?;
                if !remote.is_empty(name).await? {
                    return Err(client_err!(
                        BucketNotEmpty,
                        "The bucket you tried to delete is not empty"
                    ));
                }
                remote.delete_bucket(name).await.map_err(Error::from)?;
            }
            BackendKind::Container => {
                lifecycle::destroy(&self.containers, name, keep_volume).await?;
            }
        }
        // The embedded delete removed the record and usage row with its data; the links (and
        // a container's leases) go here, for every kind.
        self.forget(name).await?;
        tracing::info!(bucket = %name, "bucket deleted");
        Ok(())
    }

    /// Whether a bucket holds no object and no multipart upload in progress.
    pub async fn is_empty(&self, name: &str) -> Result<bool> {
        let rec = self.registry.resolve(name)?;
        if rec.backend.is_forwarded() {
            let lease = self.upstream_for(name).await?;
            return Ok(lease.upstream.is_empty(name).await?);
        }
        let input = ListObjectsV2Input::builder()
            .bucket(name.to_owned())
            .max_keys(Some(1))
            .build()
            .map_err(|_| Error::Bug("building ListObjectsV2Input"))?;
        let out = self
            .embedded
            .list_objects_v2(internal_request(input, http::Method::GET))
            .await?;
        let uploads = ListMultipartUploadsInput::builder()
            .bucket(name.to_owned())
            .max_uploads(Some(1))
            .build()
            .map_err(|_| Error::Bug("building ListMultipartUploadsInput"))?;
        let pending = self
            .embedded
            .list_multipart_uploads(internal_request(uploads, http::Method::GET))
            .await?;
        Ok(out.output.contents.is_none_or(|c| c.is_empty())
            && pending.output.uploads.is_none_or(|u| u.is_empty()))
    }

    /// Starts a bucket's backend (container buckets; the others always run).
    pub async fn start(&self, name: &str) -> Result<Arc<BucketRecord>> {
        let rec = self.registry.resolve(name)?;
        if rec.backend == BackendKind::Container {
            lifecycle::start(&self.containers, name).await?;
        }
        self.registry.resolve(name)
    }

    /// Stops a bucket's backend (container buckets; the others always run).
    pub async fn stop(&self, name: &str) -> Result<Arc<BucketRecord>> {
        let rec = self.registry.resolve(name)?;
        if rec.backend == BackendKind::Container {
            lifecycle::stop(&self.containers, name).await?;
        }
        self.registry.resolve(name)
    }

    /// Carries changed versioning or encryption settings to a forwarded bucket's server
    /// before they are recorded; a server that refuses them refuses the change.
    pub async fn push_settings(
        &self,
        name: &str,
        versioning: Option<&str>,
        encryption: Option<Option<&str>>,
    ) -> Result<()> {
        let rec = self.registry.resolve(name)?;
        if !rec.backend.is_forwarded() || (versioning.is_none() && encryption.is_none()) {
            return Ok(());
        }
        let lease = self.upstream_for(name).await?;
        if let Some(v) = versioning {
            lease.upstream.put_versioning(name, v).await?;
        }
        match encryption {
            Some(Some(alg)) => lease.upstream.put_encryption(name, alg).await?,
            Some(None) => lease.upstream.delete_encryption(name).await?,
            None => {}
        }
        Ok(())
    }

    /// A bucket's state as shown to people: `creating|running|stopped|error` and why.
    pub fn status(&self, rec: &BucketRecord) -> (&'static str, Option<String>) {
        match rec.backend {
            BackendKind::Container => self.containers.status(rec),
            _ => (rec.status.as_str(), rec.status_message.clone()),
        }
    }

    /// The upstream serving a forwarded bucket for one request; a stopped container is
    /// started first (bounded by the readiness timeout).
    pub async fn upstream_for(&self, name: &str) -> S3Result<UpstreamLease> {
        self.upstream_lease(name, true).await
    }

    /// [`Self::upstream_for`] for a GET or HEAD, which a deletion of the bucket does not wait
    /// for.
    pub async fn upstream_for_read(&self, name: &str) -> S3Result<UpstreamLease> {
        self.upstream_lease(name, false).await
    }

    async fn upstream_lease(&self, name: &str, write: bool) -> S3Result<UpstreamLease> {
        let rec = self.registry.resolve(name)?;
        match rec.backend {
            BackendKind::Remote => Ok(UpstreamLease {
                upstream: self.remote_upstream()?,
                hold: None,
            }),
            BackendKind::Container => lifecycle::lease(&self.containers, name, write).await,
            BackendKind::Embedded => Err(crate::error::internal(
                "an upstream asked for an embedded bucket",
            )),
        }
    }

    fn remote_upstream(&self) -> S3Result<Arc<Upstream>> {
        self.remote.clone().ok_or_else(|| {
            S3Error::with_message(
                s3s::S3ErrorCode::ServiceUnavailable,
                "The bucket's remote endpoint is not configured",
            )
        })
    }

    /// A forwarded request found the bucket's server unreachable.
    pub fn upstream_unreachable(&self, name: &str) {
        if self
            .registry
            .cached(name)
            .is_some_and(|b| b.backend == BackendKind::Container)
        {
            self.containers.mark_unreachable(name);
        }
    }

    /// Recomputes a bucket's usage from what its backend stores.
    pub async fn sync_usage(&self, bucket: &str) -> Result<UsageRecord> {
        let rec = self.registry.resolve(bucket)?;
        if rec.backend == BackendKind::Embedded {
            return self.embedded.recount_usage(bucket).await;
        }
        let lease = self.upstream_for(bucket).await?;
        let usage = lease.upstream.usage(bucket).await?;
        self.registry.set_usage(bucket, &usage).await?;
        Ok(usage)
    }
}
