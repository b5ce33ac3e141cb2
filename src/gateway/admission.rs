//! Quota admission, one for every writer (the S3 door, the pass-through route, the control
//! plane): what a write may add to a bucket, decided before its body is read.

use s3s::dto::*;
use s3s::{S3Result, s3_error};

use super::Gateway;
use crate::policy::{Need, Principal, Reservation, authorize};
use crate::s3util::{internal_request, metadata_bytes, tagging_header_bytes};

impl Gateway {
    /// Admits a write of `need` bytes adding up to `objects` objects against the bucket's
    /// quota: the one admission of every writer (S3 door, forwarded route, control plane),
    /// with the usage row read under the admission lock.
    pub fn admit(&self, bucket: &str, need: Need, objects: u64) -> S3Result<Option<Reservation>> {
        let rec = self.registry().resolve(bucket)?;
        self.inflight.admit(&rec, need, objects, || {
            self.registry().usage(bucket).map_err(Into::into)
        })
    }

    /// Admits a write that stores `key`: one more object, unless the key already exists in an
    /// unversioned bucket at its object limit (an overwrite or an in-place metadata copy adds no
    /// object, so it is admitted with zero). The key is looked up only when the count refuses
    /// it. A key deleted between this look-up and the commit can still add one object past
    /// the limit: a documented, bounded race (one object per such overwrite).
    pub async fn admit_key(
        &self,
        bucket: &str,
        key: &str,
        need: Need,
    ) -> S3Result<Option<Reservation>> {
        // In a versioned bucket every write adds a version, which counts as an object.
        let refused = match self.admit(bucket, need, 1) {
            Err(e)
                if e.code().as_str() == "QuotaExceeded"
                    && self.registry().resolve(bucket).is_ok_and(|r| {
                        r.quota.max_objects.is_some()
                            && r.versioning_state() == crate::meta::Versioning::Unversioned
                    }) =>
            {
                e
            }
            other => return other,
        };
        if self.key_exists(bucket, key).await? {
            return self.admit(bucket, need, 0);
        }
        Err(refused)
    }

    /// Whether `bucket/key` currently exists (a HEAD through the bucket's backend).
    async fn key_exists(&self, bucket: &str, key: &str) -> S3Result<bool> {
        let rec = self.registry().resolve(bucket)?;
        let input = HeadObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .build()
            .map_err(|_| crate::error::internal("building HeadObjectInput"))?;
        match self
            .backends
            .s3(&rec)
            .s3()
            .head_object(internal_request(input, http::Method::HEAD))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status_code() == Some(http::StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Checks that the caller may read the source of a copy and returns what a HEAD of it
    /// says. The copy may see another version of the source (it can be replaced meanwhile):
    /// the backend grows the reservation to what it really copies (see
    /// [`SharedReservation`]), so this is only the first estimate.
    pub async fn copy_source_head(
        &self,
        who: &Principal,
        source: &CopySource,
        credentials: Option<&s3s::auth::Credentials>,
    ) -> S3Result<CopySourceHead> {
        let CopySource::Bucket { bucket, key, .. } = source else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket copy sources are supported"
            ));
        };
        let rec = self.registry().resolve(bucket)?;
        authorize(who, "GetObject", &rec)?;
        let input = HeadObjectInput::builder()
            .bucket(bucket.to_string())
            .key(key.to_string())
            .build()
            .map_err(|_| crate::error::internal("building HeadObjectInput"))?;
        let mut head = internal_request(input, http::Method::HEAD);
        head.credentials = credentials.cloned();
        let out = self.backends.s3(&rec).s3().head_object(head).await?.output;
        Ok(CopySourceHead {
            size: out
                .content_length
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            metadata_bytes: metadata_bytes(out.metadata.as_ref()),
            etag: out.e_tag.map(|e| e.value().to_owned()),
        })
    }

    /// Whether a copy's source bucket lives on another server (so the copy streams through).
    pub(super) fn source_is_forwarded(&self, source: &CopySource) -> bool {
        matches!(source, CopySource::Bucket { bucket, .. }
            if self.registry().cached(bucket).is_some_and(|b| b.backend.is_forwarded()))
    }
}

/// Most of a refused upload's body read and discarded before answering, so that the client,
/// still sending, can read the error instead of a connection reset (closing a socket with
/// unread data resets it). Larger bodies are cut off: such clients should send
/// `Expect: 100-continue`.
const DRAIN_REFUSED_BODY_BYTES: u64 = 1 << 20;

/// Returns `error` after draining up to [`DRAIN_REFUSED_BODY_BYTES`] of the refused body.
pub(super) async fn refuse_upload(
    body: Option<StreamingBlob>,
    error: s3s::S3Error,
) -> s3s::S3Error {
    use futures::StreamExt;
    if let Some(mut body) = body {
        let mut seen = 0u64;
        while seen < DRAIN_REFUSED_BODY_BYTES {
            match body.next().await {
                Some(Ok(chunk)) => seen += chunk.len() as u64,
                _ => break,
            }
        }
    }
    error
}

/// A copy source as a HEAD saw it.
#[derive(Debug, Clone)]
pub struct CopySourceHead {
    /// Body bytes.
    pub size: u64,
    /// Bytes of its user metadata (stored again by a copy with the `COPY` directive).
    pub metadata_bytes: u64,
    /// Its ETag, without quotes.
    pub etag: Option<String>,
}

/// Bytes a copy stores as usage counts them: the source's body, and the metadata it gets
/// (the source's, or the request's with `REPLACE`), plus the request's tags.
pub(super) fn copy_bytes(
    src: &CopySourceHead,
    replace: Option<&Option<Metadata>>,
    tagging: Option<&str>,
) -> u64 {
    let meta = match replace {
        Some(m) => metadata_bytes(m.as_ref()),
        None => src.metadata_bytes,
    };
    src.size + meta + tagging_header_bytes(tagging)
}

/// Bytes an `x-amz-copy-source-range` (`bytes=first-last`) selects from a source of `size`
/// bytes; the whole source when absent or not understood (the backend refuses bad ranges).
pub fn copy_range_len(range: Option<&str>, size: u64) -> u64 {
    let parsed = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
    match parsed {
        Some((first, last)) if first <= last => (last - first + 1).min(size),
        _ => size,
    }
}
