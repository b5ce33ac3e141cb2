//! Body intake of the embedded backend: a request body checked (checksums, Content-MD5,
//! length, quota) and stored as a new blob, inline or as a durable file.

use std::collections::BTreeMap;

use bytes::BytesMut;
use futures::StreamExt;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::dto::*;

use super::Embedded;
use super::blobs::{Written, body_error, hash_bytes};
use super::commit::FreshBlob;
use crate::error::{Error, Result, client_err};
use crate::meta::{Checksums, Segment};
use crate::policy::WriteLimit;
use crate::s3util::parse_tagging_header;

/// A new blob id: 32 hex characters, the first two naming its shard directory.
pub(super) fn new_blob_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub(super) fn etag(hex: &str) -> ETag {
    ETag::Strong(hex.to_owned())
}

/// What an upload request says about its body.
pub(super) struct Upload<'a> {
    pub headers: &'a HeaderMap,
    pub trailers: Option<&'a s3s::TrailingHeaders>,
    pub algorithm: Option<&'a ChecksumAlgorithm>,
    /// Checksums sent in headers.
    pub expected: Checksums,
    pub content_md5: Option<&'a str>,
    pub content_length: Option<i64>,
    pub limit: Option<WriteLimit>,
}

/// Which checksums to compute for an upload, and the values the client announced in headers.
struct ChecksumPlan {
    pub hasher: ChecksumHasher,
    pub expected: Checksums,
}

impl ChecksumPlan {
    pub fn new(
        headers: &HeaderMap,
        algorithm: Option<&ChecksumAlgorithm>,
        expected: Checksums,
    ) -> Result<Self> {
        let mut hasher = ChecksumHasher::default();
        let mut enable = |name: &str| -> Result<()> {
            match name.to_ascii_uppercase().as_str() {
                "CRC32" => hasher.crc32 = Some(Default::default()),
                "CRC32C" => hasher.crc32c = Some(Default::default()),
                "SHA1" => hasher.sha1 = Some(Default::default()),
                "SHA256" => hasher.sha256 = Some(Default::default()),
                "CRC64NVME" => hasher.crc64nvme = Some(Default::default()),
                other => {
                    return Err(client_err!(
                        InvalidArgument,
                        "Unsupported checksum algorithm: {other}"
                    ));
                }
            }
            Ok(())
        };
        if let Some(a) = algorithm {
            enable(a.as_str())?;
        }
        for (name, v) in [
            ("CRC32", &expected.crc32),
            ("CRC32C", &expected.crc32c),
            ("SHA1", &expected.sha1),
            ("SHA256", &expected.sha256),
            ("CRC64NVME", &expected.crc64nvme),
        ] {
            if v.is_some() {
                enable(name)?;
            }
        }
        // aws-chunked uploads name their trailing checksum in `x-amz-trailer`.
        if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            for name in trailer.split(',') {
                if let Some(alg) = name.trim().strip_prefix("x-amz-checksum-") {
                    enable(alg)?;
                }
            }
        }
        Ok(Self { hasher, expected })
    }

    /// Compares what was computed with what the client sent in headers or trailers.
    pub fn verify(
        expected: &Checksums,
        trailers: Option<&s3s::TrailingHeaders>,
        computed: &Checksums,
    ) -> Result<()> {
        let mut expected = expected.clone();
        if let Some(t) = trailers.and_then(s3s::TrailingHeaders::take) {
            let get = |n: &str| t.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
            expected.crc32 = expected.crc32.or_else(|| get("x-amz-checksum-crc32"));
            expected.crc32c = expected.crc32c.or_else(|| get("x-amz-checksum-crc32c"));
            expected.sha1 = expected.sha1.or_else(|| get("x-amz-checksum-sha1"));
            expected.sha256 = expected.sha256.or_else(|| get("x-amz-checksum-sha256"));
            expected.crc64nvme = expected
                .crc64nvme
                .or_else(|| get("x-amz-checksum-crc64nvme"));
        }
        for (name, want, got) in [
            ("CRC32", &expected.crc32, &computed.crc32),
            ("CRC32C", &expected.crc32c, &computed.crc32c),
            ("SHA1", &expected.sha1, &computed.sha1),
            ("SHA256", &expected.sha256, &computed.sha256),
            ("CRC64NVME", &expected.crc64nvme, &computed.crc64nvme),
        ] {
            if let Some(want) = want
                && Some(want) != got.as_ref()
            {
                return Err(client_err!(
                    BadDigest,
                    "The {name} you specified did not match the calculated checksum."
                ));
            }
        }
        Ok(())
    }
}

fn verify_content_md5(content_md5: Option<&str>, md5_hex: &str) -> Result<()> {
    use base64::Engine;
    let Some(b64) = content_md5 else {
        return Ok(());
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .filter(|r| r.len() == 16)
        .ok_or_else(|| client_err!(InvalidDigest, "The Content-MD5 you specified is not valid."))?;
    if hex::encode(raw) != md5_hex {
        return Err(client_err!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        ));
    }
    Ok(())
}

pub(super) fn to_metadata(m: Option<Metadata>) -> BTreeMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

pub(super) fn tags_from_header(h: Option<&str>) -> Result<Vec<(String, String)>> {
    h.map(parse_tagging_header)
        .transpose()
        .map(Option::unwrap_or_default)
}

impl Embedded {
    /// Stores a request body as a new blob: inline when it is known to be small, else as a
    /// durable file. Returns the blob (none for an empty body), its segment and its digests.
    pub(super) async fn store_body(
        &self,
        body: Option<StreamingBlob>,
        content_length: Option<i64>,
        limit: Option<WriteLimit>,
        hasher: ChecksumHasher,
    ) -> Result<(Option<FreshBlob>, Vec<Segment>, Written)> {
        let id = new_blob_id();
        let threshold = self.inner.cfg.inline_threshold_bytes;
        let declared = content_length.and_then(|n| u64::try_from(n).ok());
        let Some(declared) = declared else {
            // Only the control plane streams bodies of unknown length, and always with a limit;
            // S3 refuses uploads without a length (no chunked transfer encoding): 411.
            let Some(WriteLimit(max)) = limit else {
                return Err(client_err!(
                    MissingContentLength,
                    "You must provide the Content-Length HTTP header."
                ));
            };
            let Some(body) = body else {
                return Ok((None, Vec::new(), hash_bytes(&[], hasher)));
            };
            let written = match self.dirs().write_stream(&id, body, hasher, Some(max)).await {
                Err(Error::Client(e)) if e.code() == &s3s::S3ErrorCode::EntityTooLarge => {
                    return Err(Error::Client(crate::policy::quota_exceeded(format!(
                        "The upload crossed the bucket's remaining quota of {max} bytes"
                    ))));
                }
                other => other?,
            };
            let seg = Segment {
                blob: id.clone(),
                inline: false,
                offset: 0,
                len: written.size,
            };
            return Ok((Some(FreshBlob { id, inline: None }), vec![seg], written));
        };
        let Some(body) = body else {
            return Ok((None, Vec::new(), hash_bytes(&[], hasher)));
        };
        if declared <= threshold {
            return store_inline(id, body, declared, hasher).await;
        }
        // The limit cuts off a body that runs past its declared length.
        let written = self
            .dirs()
            .write_stream(&id, body, hasher, Some(declared))
            .await?;
        if written.size != declared {
            self.dirs().unlink(vec![id]).await;
            return Err(client_err!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
            ));
        }
        let seg = Segment {
            blob: id.clone(),
            inline: false,
            offset: 0,
            len: written.size,
        };
        Ok((Some(FreshBlob { id, inline: None }), vec![seg], written))
    }

    /// Stores an upload's body and checks it against what the client announced (Content-MD5,
    /// checksum headers or aws-chunked trailers); a body that fails a check is discarded.
    pub(super) async fn receive(
        &self,
        body: Option<StreamingBlob>,
        upload: Upload<'_>,
    ) -> Result<(Option<FreshBlob>, Vec<Segment>, Written)> {
        let plan = ChecksumPlan::new(upload.headers, upload.algorithm, upload.expected)?;
        let (fresh, segments, written) = self
            .store_body(body, upload.content_length, upload.limit, plan.hasher)
            .await?;
        let verified = verify_content_md5(upload.content_md5, &written.md5_hex).and_then(|()| {
            ChecksumPlan::verify(&plan.expected, upload.trailers, &written.checksums)
        });
        if let Err(e) = verified {
            self.discard(fresh).await;
            return Err(e);
        }
        Ok((fresh, segments, written))
    }

    /// Drops a blob written for a request that then failed.
    pub(super) async fn discard(&self, fresh: Option<FreshBlob>) {
        if let Some(f) = fresh
            && f.inline.is_none()
        {
            self.dirs().unlink(vec![f.id]).await;
        }
    }
}

/// A small body of `len` declared bytes, read into memory: it is stored inline, in the
/// metadata table (an empty body stores nothing).
async fn store_inline(
    id: String,
    mut body: StreamingBlob,
    len: u64,
    hasher: ChecksumHasher,
) -> Result<(Option<FreshBlob>, Vec<Segment>, Written)> {
    let cap = usize::try_from(len).map_err(|_| Error::Bug("small length overflow"))?;
    let mut buf = BytesMut::with_capacity(cap);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| body_error(&e))?;
        if (buf.len() + chunk.len()) as u64 > len {
            return Err(client_err!(
                IncompleteBody,
                "The request body is longer than its declared length"
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    if (buf.len() as u64) < len {
        return Err(client_err!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        ));
    }
    let written = hash_bytes(&buf, hasher);
    if buf.is_empty() {
        return Ok((None, Vec::new(), written));
    }
    let seg = Segment {
        blob: id.clone(),
        inline: true,
        offset: 0,
        len: buf.len() as u64,
    };
    let fresh = FreshBlob {
        id,
        inline: Some(buf.freeze()),
    };
    Ok((Some(fresh), vec![seg], written))
}
