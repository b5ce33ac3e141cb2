//! Bucket life cycle across backends: records, creation and deletion in the backend, start and
//! stop, usage, and the upstream of forwarded buckets.

use std::sync::Arc;

use futures::StreamExt;
use s3s::dto::*;
use s3s::{S3, S3Error, S3Result};
use tokio::io::AsyncWriteExt;

use super::{Gateway, internal_request};
use crate::backend::container::lifecycle::{self, Provision};
use crate::backend::upstream::{Upstream, UpstreamLease};
use crate::error::{Error, Result, client_err};
use crate::meta::{BUCKETS, BackendKind, BucketRecord, BucketStatus, USAGE, UsageRecord, get_json};
use crate::policy::{Principal, WriteLimit};

/// The backend of one bucket as an `s3s::S3`.
pub enum BackendRef<'a> {
    Local(&'a crate::backend::embedded::Embedded),
    Forwarded(crate::backend::forwarded::Forwarded),
}

impl BackendRef<'_> {
    pub fn s3(&self) -> &dyn S3 {
        match self {
            Self::Local(e) => *e,
            Self::Forwarded(f) => f,
        }
    }
}

impl Gateway {
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
    pub async fn register_bucket(&self, record: BucketRecord) -> Result<Arc<BucketRecord>> {
        if record.backend == BackendKind::Remote && self.remote.is_none() {
            return Err(client_err!(
                InvalidArgument,
                "backend: no remote endpoint is configured"
            ));
        }
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
        let name = record.name.clone();
        self.buckets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone(), Arc::new(record));
        match self.create_in_backend(&name).await {
            Ok(()) => {}
            Err(Provision::Refused(e)) => {
                // Undo the record: a bucket its backend does not have must not be listed.
                self.forget_bucket(&name).await?;
                return Err(Error::Client(e));
            }
            Err(Provision::Failed(e)) => return Err(Error::Client(e)),
        }
        self.resolve_bucket(&name)
    }

    async fn create_in_backend(&self, name: &str) -> std::result::Result<(), Provision> {
        let rec = self
            .resolve_bucket(name)
            .map_err(|e| Provision::Refused(e.into()))?;
        match rec.backend {
            BackendKind::Embedded => {
                let input = CreateBucketInput::builder()
                    .bucket(name.to_owned())
                    .build()
                    .map_err(|_| {
                        Provision::Refused(S3Error::new(s3s::S3ErrorCode::InternalError))
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
            BackendKind::Container => lifecycle::provision(self, name).await,
        }
    }

    /// CreateBucket for a name that exists: the owner retrying a container bucket left in
    /// state `error` retries its provisioning; otherwise S3's answers.
    pub async fn create_existing(&self, name: &str, who: &Principal) -> Result<()> {
        let rec = self.resolve_bucket(name)?;
        let owned = match who {
            Principal::Root => rec.owner == super::ROOT_USER,
            Principal::User { id, .. } => rec.owner == *id,
            Principal::Anonymous => false,
        };
        if !owned {
            return Err(client_err!(
                BucketAlreadyExists,
                "The requested bucket name is not available."
            ));
        }
        if rec.backend == BackendKind::Container && rec.status == BucketStatus::Error {
            return lifecycle::start(self, name).await;
        }
        Err(client_err!(
            BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it."
        ))
    }

    /// Removes a bucket's record, usage row and port leases (the backend already dropped its
    /// data).
    async fn forget_bucket(&self, name: &str) -> Result<()> {
        let key = name.to_owned();
        self.store
            .write(move |txn| {
                txn.open_table(BUCKETS)?.remove(key.as_str())?;
                txn.open_table(USAGE)?.remove(key.as_str())?;
                let mut leases = txn.open_table(crate::meta::PORT_LEASES)?;
                let mine: Vec<u16> = redb::ReadableTable::iter(&leases)?
                    .filter_map(|item| item.ok())
                    .filter(|(_, b)| b.value() == key)
                    .map(|(p, _)| p.value())
                    .collect();
                for p in mine {
                    leases.remove(p)?;
                }
                Ok(())
            })
            .await?;
        self.buckets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
        Ok(())
    }

    /// Deletes a bucket through its backend (S3 rules: it must be empty) and forgets it. A
    /// container bucket's container goes, and its volume unless `keep_volume`.
    pub async fn remove_bucket(&self, name: &str, keep_volume: bool) -> Result<()> {
        let record = self.resolve_bucket(name)?;
        match record.backend {
            BackendKind::Embedded => {
                let input = DeleteBucketInput::builder()
                    .bucket(name.to_owned())
                    .build()
                    .map_err(|_| Error::Bug("building DeleteBucketInput"))?;
                self.embedded
                    .delete_bucket(internal_request(input, http::Method::DELETE))
                    .await
                    .map_err(Error::Client)?;
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
                remote.delete_bucket(name).await.map_err(Error::Client)?;
                self.forget_bucket(name).await?;
            }
            BackendKind::Container => {
                lifecycle::destroy(self, name, keep_volume).await?;
                self.forget_bucket(name).await?;
            }
        }
        self.buckets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
        self.counters.remove(name);
        tracing::info!(bucket = %name, "bucket deleted");
        Ok(())
    }

    /// Whether a bucket holds no object and no multipart upload in progress.
    pub async fn is_empty(&self, name: &str) -> Result<bool> {
        let rec = self.resolve_bucket(name)?;
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
    pub async fn start_bucket(&self, name: &str) -> Result<Arc<BucketRecord>> {
        let rec = self.resolve_bucket(name)?;
        if rec.backend == BackendKind::Container {
            lifecycle::start(self, name).await?;
        }
        self.resolve_bucket(name)
    }

    /// Stops a bucket's backend (container buckets; the others always run).
    pub async fn stop_bucket(&self, name: &str) -> Result<Arc<BucketRecord>> {
        let rec = self.resolve_bucket(name)?;
        if rec.backend == BackendKind::Container {
            lifecycle::stop(self, name).await?;
        }
        self.resolve_bucket(name)
    }

    /// Carries changed versioning or encryption settings to a forwarded bucket's server
    /// before they are recorded; a server that refuses them refuses the change.
    pub async fn carry_settings(
        &self,
        name: &str,
        versioning: Option<&str>,
        encryption: Option<Option<&str>>,
    ) -> Result<()> {
        let rec = self.resolve_bucket(name)?;
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
    pub fn bucket_status(&self, rec: &BucketRecord) -> (&'static str, Option<String>) {
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
        let rec = self.resolve_bucket(name)?;
        match rec.backend {
            BackendKind::Remote => Ok(UpstreamLease {
                upstream: self.remote_upstream()?,
                hold: None,
            }),
            BackendKind::Container => lifecycle::lease(self, name, write).await,
            BackendKind::Embedded => Err(S3Error::new(s3s::S3ErrorCode::InternalError)),
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
            .cached(name)
            .is_some_and(|b| b.backend == BackendKind::Container)
        {
            self.containers.mark_unreachable(name);
        }
    }

    /// Counts an upload forwarded to another server: `bytes` and `objects` more. Overwrites
    /// count as new objects, so this usage is an upper bound until a sync.
    pub async fn note_upload(&self, bucket: &str, bytes: u64, objects: u64) {
        let name = bucket.to_owned();
        let result = self
            .store
            .write(move |txn| {
                let mut table = txn.open_table(USAGE)?;
                let mut usage: UsageRecord = get_json(&table, name.as_str())?.unwrap_or_default();
                usage.objects += objects;
                usage.bytes += bytes;
                let encoded = serde_json::to_vec(&usage)?;
                table.insert(name.as_str(), encoded.as_slice())?;
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(bucket, error = %e, "cannot record usage of a forwarded upload");
        }
    }

    /// Recomputes a bucket's usage from what its backend stores.
    pub async fn sync_usage(&self, bucket: &str) -> Result<UsageRecord> {
        let rec = self.resolve_bucket(bucket)?;
        if rec.backend == BackendKind::Embedded {
            return self.embedded.recount_usage(bucket).await;
        }
        let lease = self.upstream_for(bucket).await?;
        let usage = lease.upstream.usage(bucket).await?;
        let (name, encoded) = (bucket.to_owned(), serde_json::to_vec(&usage)?);
        self.store
            .write(move |txn| {
                txn.open_table(USAGE)?
                    .insert(name.as_str(), encoded.as_slice())?;
                Ok(())
            })
            .await?;
        Ok(usage)
    }

    /// Stores a body of unknown length (a browser form upload through the control plane). The
    /// write reserves all the bucket's remaining quota while it runs and is cut off, leaving
    /// nothing, if it crosses it. Forwarded buckets get it spooled to a temp file first (S3
    /// servers want a length), then streamed from there.
    pub async fn put_object_streaming(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<String>,
        body: StreamingBlob,
    ) -> Result<PutObjectOutput> {
        let rec = self.resolve_bucket(bucket)?;
        // The same admission as the S3 door: it reads usage under its own lock and reserves
        // all the headroom left (the write is cut off there).
        let admitted = self
            .admit_key(bucket, key, crate::policy::Need::Rest)
            .await
            .map_err(Error::Client)?;
        let limit = admitted.as_ref().map_or(u64::MAX, |r| r.limit());
        // Kept until the upload is done: the file goes with it.
        let spooled;
        let (body, length) = if rec.backend.is_forwarded() {
            spooled = self.spool(body, limit).await?;
            (spooled.blob().await?, Some(spooled.len))
        } else {
            (body, None)
        };
        let input = PutObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .content_type(content_type)
            .content_length(length.and_then(|n| i64::try_from(n).ok()))
            .body(Some(body))
            .build()
            .map_err(|_| Error::Bug("building PutObjectInput"))?;
        let mut req = internal_request(input, http::Method::PUT);
        req.extensions.insert(WriteLimit(limit));
        let out = self
            .backend(&rec)
            .s3()
            .put_object(req)
            .await
            .map_err(Error::Client)?;
        Ok(out.output)
    }

    /// Writes a body to a temp file, refusing it past `limit` bytes.
    async fn spool(&self, mut body: StreamingBlob, limit: u64) -> Result<Spooled> {
        tokio::fs::create_dir_all(&self.tmp_dir)
            .await
            .map_err(Error::io("creating the spool directory"))?;
        let path = self
            .tmp_dir
            .join(format!("spool-{}", uuid::Uuid::new_v4().simple()));
        let mut spooled = Spooled { path, len: 0 };
        // Owner-only, like every file under the data dir (uploads may be private).
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&spooled.path)
            .await
            .map_err(Error::io("creating a spool file"))?;
        let mut len = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                if crate::idle::is_body_timeout(&e.to_string()) {
                    client_err!(
                        RequestTimeout,
                        "Your socket connection to the server was not read from or written to within the timeout period."
                    )
                } else {
                    client_err!(IncompleteBody, "The upload ended before its end")
                }
            })?;
            len += chunk.len() as u64;
            if len > limit {
                return Err(Error::Client(crate::policy::quota_exceeded(
                    "The upload would exceed the bucket's size quota".to_owned(),
                )));
            }
            file.write_all(&chunk)
                .await
                .map_err(Error::io("writing a spool file"))?;
        }
        file.flush()
            .await
            .map_err(Error::io("writing a spool file"))?;
        spooled.len = len;
        Ok(spooled)
    }
}

/// A spooled upload; the file goes when this does.
struct Spooled {
    path: std::path::PathBuf,
    len: u64,
}

impl Spooled {
    /// The file as a streamed body (1 MiB reads).
    async fn blob(&self) -> Result<StreamingBlob> {
        let file = tokio::fs::File::open(&self.path)
            .await
            .map_err(Error::io("opening a spool file"))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        Ok(StreamingBlob::wrap(stream))
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
