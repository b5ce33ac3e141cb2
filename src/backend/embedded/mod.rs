//! The embedded backend: object bytes in files under the data dir, metadata in redb.
//!
//! Writes stream into a temp file (hashing on the way), are fsynced and renamed into place, and
//! become visible with one grouped metadata commit. Small objects are kept inline in redb. Reads
//! take a snapshot of the record and stream the blobs it points at. Copies and completed
//! multipart uploads reference existing blobs instead of copying bytes.

mod blobs;
mod commit;
mod intake;
mod list;
mod lock;
mod multipart;
mod multipart_list;
mod object;
mod object_get;
mod read;
mod versions;
mod versions_list;

pub use versions::VersionRef;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::error::{Error, Result, client_err};
use crate::meta::{BLOB_REFS, INLINE_BLOBS, OBJECTS, ObjectRecord, Store, VERSIONS, get_json};

/// Embedded backend settings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Objects up to this size are stored inside the metadata database instead of a file of
    /// their own: one grouped commit then makes many small writes durable at once.
    pub inline_threshold_bytes: u64,
    /// Size of the chunks read from disk and sent to clients.
    pub read_chunk_bytes: usize,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            inline_threshold_bytes: 64 << 10,
            read_chunk_bytes: 1 << 20,
        }
    }
}

pub use blobs::BlobDirs;
pub use blobs::checksums_from as checksums_of;

/// The embedded backend. Cheap to clone.
#[derive(Clone)]
pub struct Embedded {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    dirs: BlobDirs,
    cfg: EmbeddedConfig,
}

impl Embedded {
    /// Opens the on-disk layout under `data_dir` (clearing interrupted temp files) and sweeps,
    /// in the background, blob files that no committed record references.
    pub fn open(store: Store, data_dir: &std::path::Path, cfg: EmbeddedConfig) -> Result<Self> {
        let dirs = BlobDirs::open(data_dir)?;
        let this = Self {
            inner: Arc::new(Inner { store, dirs, cfg }),
        };
        let sweeper = this.clone();
        let started = std::time::SystemTime::now();
        tokio::task::spawn_blocking(move || {
            let store = &sweeper.inner.store;
            let removed = sweeper.inner.dirs.sweep_orphans(started, |id| {
                store
                    .read(|txn| Ok(txn.open_table(BLOB_REFS)?.get(id)?.is_some()))
                    .unwrap_or(true)
            });
            if removed > 0 {
                tracing::info!(removed, "swept orphaned blob files");
            }
        });
        Ok(this)
    }

    /// Recounts a bucket's usage from its stored objects and parts.
    pub async fn recount_usage(&self, bucket: &str) -> Result<crate::meta::UsageRecord> {
        let bucket = bucket.to_owned();
        self.store()
            .write(move |txn| commit::recount_usage(txn, &bucket))
            .await
    }

    /// Grows the quota reservation the gateway passed with a copy (if any) to the bytes the
    /// copy really stores, read from the same snapshot the commit writes: the source may have
    /// been replaced by a bigger object since the gateway admitted it. Refuses with
    /// `QuotaExceeded`, before anything is written, when the bucket has no room for them.
    fn settle_reservation(&self, ext: &http::Extensions, bucket: &str, bytes: u64) -> Result<()> {
        let Some(r) = ext.get::<crate::policy::SharedReservation>() else {
            return Ok(());
        };
        r.grow_to(bytes, || {
            crate::registry::rows::usage(self.store(), bucket).map_err(Into::into)
        })
        .map_err(Error::from)
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn dirs(&self) -> &BlobDirs {
        &self.inner.dirs
    }

    /// The version `which` names of `bucket/key` (its current object when `None`; a delete
    /// marker when it names one) and the bytes of its inline blobs, read in one snapshot.
    fn load_version(
        &self,
        bucket: &str,
        key: &str,
        which: Option<&VersionRef>,
    ) -> Result<Option<(ObjectRecord, HashMap<String, Bytes>)>> {
        self.store().read(|txn| {
            let objects = txn.open_table(OBJECTS)?;
            let current: Option<ObjectRecord> = get_json(&objects, (bucket, key))?;
            let rec = match (current, which) {
                (cur, None) => cur,
                (Some(cur), Some(w)) if w.names(&cur) => Some(cur),
                (_, Some(w)) => {
                    versions::find_noncurrent(&txn.open_table(VERSIONS)?, bucket, key, w)?
                        .map(|(_, r)| r)
                }
            };
            let Some(rec) = rec else {
                return Ok(None);
            };
            let mut inline = HashMap::new();
            if rec.segments.iter().any(|s| s.inline) {
                let table = txn.open_table(INLINE_BLOBS)?;
                for s in rec.segments.iter().filter(|s| s.inline) {
                    let bytes = table
                        .get(s.blob.as_str())?
                        .ok_or(Error::Bug("inline blob row missing"))?;
                    inline.insert(s.blob.clone(), Bytes::copy_from_slice(bytes.value()));
                }
            }
            Ok(Some((rec, inline)))
        })
    }

    /// The current object of `bucket/key` and its inline bytes.
    fn load(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectRecord, HashMap<String, Bytes>)>> {
        self.load_version(bucket, key, None)
    }

    /// The object version a read names (`versionId`, or the current object), or the error S3
    /// answers: `NoSuchKey` (with `x-amz-delete-marker` when the key's newest version is a
    /// marker), `NoSuchVersion`, or `405 MethodNotAllowed` for a delete marker's id.
    fn load_existing(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(ObjectRecord, HashMap<String, Bytes>)> {
        let which = version_id.map(VersionRef::parse).transpose()?;
        match self.load_version(bucket, key, which.as_ref())? {
            Some((rec, _)) if rec.delete_marker => Err(marker_error(
                client_err!(
                    MethodNotAllowed,
                    "The specified method is not allowed against this resource."
                ),
                &rec,
            )),
            Some(found) => Ok(found),
            None if which.is_some() => Err(versions::no_such_version()),
            None => {
                let missing = client_err!(NoSuchKey, "The specified key does not exist.");
                let newest = self
                    .store()
                    .read(|txn| versions::first_version(&txn.open_table(VERSIONS)?, bucket, key))?;
                Err(match newest {
                    Some((_, m)) if m.delete_marker => marker_error(missing, &m),
                    _ => missing,
                })
            }
        }
    }
}

/// `err` with the headers S3 sends about a delete marker it hit.
fn marker_error(err: Error, marker: &ObjectRecord) -> Error {
    let Error::Client(mut e) = err else {
        return err;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-delete-marker",
        http::HeaderValue::from_static("true"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&versions::shown_id(marker)) {
        headers.insert("x-amz-version-id", v);
    }
    e.set_headers(headers);
    Error::Client(e)
}

#[async_trait::async_trait]
impl S3 for Embedded {
    /// Buckets are recorded by the gateway; the embedded backend needs nothing more.
    async fn create_bucket(
        &self,
        _req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        Ok(S3Response::new(CreateBucketOutput::default()))
    }

    /// Removes the bucket record together with its uploads in one commit, after checking
    /// (inside that commit) that no object was written meanwhile.
    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket;
        let dead = self
            .store()
            .write(move |txn| commit::delete_bucket(txn, &bucket))
            .await?;
        self.dirs().unlink(dead).await;
        Ok(S3Response::with_status(
            DeleteBucketOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        Ok(self.put_object_impl(req).await?)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        Ok(self.get_object_impl(req).await?)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        Ok(self.head_object_impl(req)?)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        Ok(self.delete_object_impl(req).await?)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        Ok(self.delete_objects_impl(req).await?)
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        Ok(self.copy_object_impl(req).await?)
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        Ok(self.get_object_tagging_impl(req)?)
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        Ok(self.put_object_tagging_impl(req).await?)
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        Ok(self.delete_object_tagging_impl(req).await?)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        Ok(self.list_objects_impl(req).await?)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        Ok(self.list_objects_v2_impl(req).await?)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        Ok(self.create_multipart_upload_impl(req).await?)
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        Ok(self.upload_part_impl(req).await?)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        Ok(self.upload_part_copy_impl(req).await?)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        Ok(self.complete_multipart_upload_impl(req).await?)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        Ok(self.abort_multipart_upload_impl(req).await?)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        Ok(self.list_parts_impl(req).await?)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        Ok(self.list_multipart_uploads_impl(req).await?)
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        Ok(self.put_object_retention_impl(req).await?)
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        Ok(self.get_object_retention_impl(req)?)
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        Ok(self.put_object_legal_hold_impl(req).await?)
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        Ok(self.get_object_legal_hold_impl(req)?)
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        Ok(self.list_object_versions_impl(req).await?)
    }
}
