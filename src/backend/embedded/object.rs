//! Single-object operations of the embedded backend.

use std::collections::BTreeMap;

use bytes::BytesMut;
use futures::StreamExt;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Embedded;
use super::blobs::{Written, body_error, hash_bytes};
use super::commit::{self, FreshBlob, WriteCondition};
use super::read::{open_pieces, stream_pieces};
use crate::error::{Error, Result, client_err};
use crate::meta::{Checksums, ContentHeaders, ObjectRecord, Segment, now_millis};
use crate::policy::WriteLimit;
use crate::s3util::{
    parse_tagging_header, strip_aws_chunked, to_millis, to_secs, to_timestamp, validate_key,
    validate_tags,
};

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

fn from_metadata(m: &BTreeMap<String, String>) -> Option<Metadata> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub(super) fn tags_from_header(h: Option<&str>) -> Result<Vec<(String, String)>> {
    h.map(parse_tagging_header)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// RFC 9110 precondition evaluation for reads: `Err(PreconditionFailed)` (412) or
/// `Err(NotModified)` (304, carrying the ETag and Last-Modified headers).
pub(super) fn check_read_conditions(
    rec: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> Result<()> {
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == rec.etag,
    };
    let modified = to_secs(rec.last_modified);
    let failed = || {
        client_err!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    if let Some(c) = if_match {
        if !matches(c) {
            return Err(failed());
        }
    } else if let Some(t) = if_unmodified_since
        && modified > to_secs(to_millis(t.clone()))
    {
        return Err(failed());
    }
    let not_modified = if let Some(c) = if_none_match {
        matches(c)
    } else if let Some(t) = if_modified_since {
        modified <= to_secs(to_millis(t.clone()))
    } else {
        false
    };
    if not_modified {
        let mut e = s3s::S3Error::new(s3s::S3ErrorCode::NotModified);
        let mut headers = HeaderMap::new();
        if let Ok(v) = etag(&rec.etag).to_http_header() {
            headers.insert(http::header::ETAG, v);
        }
        e.set_headers(headers);
        return Err(Error::Client(e));
    }
    Ok(())
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
        let Some(mut body) = body else {
            return Ok((None, Vec::new(), hash_bytes(&[], hasher)));
        };
        if declared <= threshold {
            let len = declared;
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
            return Ok((Some(fresh), vec![seg], written));
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

    pub(super) async fn put_object_impl(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> Result<S3Response<PutObjectOutput>> {
        let S3Request {
            input,
            headers,
            trailing_headers,
            extensions,
            ..
        } = req;
        validate_key(&input.key)?;
        if let Some(sc) = &input.storage_class
            && ![
                "STANDARD",
                "REDUCED_REDUNDANCY",
                "STANDARD_IA",
                "INTELLIGENT_TIERING",
            ]
            .contains(&sc.as_str())
        {
            return Err(client_err!(
                InvalidStorageClass,
                "The storage class you specified is not valid"
            ));
        }
        let cond = WriteCondition {
            if_match: input.if_match.clone(),
            if_none_match: input.if_none_match.clone(),
        };
        // Refuse a failing precondition before reading the body; the commit checks again.
        if input.if_match.is_some() || input.if_none_match.is_some() {
            let current = self.load(&input.bucket, &input.key)?.map(|(r, _)| r);
            cond.check(current.as_ref())?;
        }
        let tags = tags_from_header(input.tagging.as_deref())?;
        let upload = Upload {
            headers: &headers,
            trailers: trailing_headers.as_ref(),
            algorithm: input.checksum_algorithm.as_ref(),
            expected: Checksums {
                crc32: input.checksum_crc32,
                crc32c: input.checksum_crc32c,
                sha1: input.checksum_sha1,
                sha256: input.checksum_sha256,
                crc64nvme: input.checksum_crc64nvme,
            },
            content_md5: input.content_md5.as_deref(),
            content_length: input.content_length,
            limit: extensions.get::<WriteLimit>().copied(),
        };
        let (fresh, segments, written) = self.receive(input.body, upload).await?;
        let record = ObjectRecord {
            version_id: None,
            delete_marker: false,
            size: written.size,
            etag: written.md5_hex,
            last_modified: now_millis(),
            headers: ContentHeaders {
                content_type: input.content_type,
                content_encoding: strip_aws_chunked(input.content_encoding),
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires.map(to_millis),
                website_redirect_location: input.website_redirect_location,
            },
            user_metadata: to_metadata(input.metadata),
            checksums: written.checksums,
            tags,
            parts_count: None,
            part_sizes: Vec::new(),
            storage_class: input.storage_class.map(|s| s.as_str().to_owned()),
            segments,
        };
        let (bucket, key) = (input.bucket, input.key);
        let fresh_list: Vec<FreshBlob> = fresh.iter().cloned().collect();
        let rec = record.clone();
        let result = self
            .store()
            .write(move |txn| {
                commit::replace_object(txn, &bucket, &key, Some(&rec), &fresh_list, &cond)
            })
            .await;
        let dead = match result {
            Ok((dead, _)) => dead,
            Err(e) => {
                self.discard(fresh).await;
                return Err(e);
            }
        };
        self.dirs().unlink(dead).await;
        let c = record.checksums;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    pub(super) async fn get_object_impl(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        // A blob can be unlinked between our snapshot and opening it (a concurrent overwrite);
        // the retry then sees the new record.
        let mut attempt = 0;
        let (rec, pieces, range) = loop {
            let (rec, inline) = self.load_existing(&input.bucket, &input.key)?;
            check_read_conditions(
                &rec,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            )?;
            let range = match input.part_number {
                Some(n) => part_range(&rec, n)?,
                None => requested_range(input.range.as_ref(), rec.size)?,
            };
            let span = range.clone().unwrap_or(0..rec.size);
            match open_pieces(self.dirs(), &rec.segments, span, |id| {
                inline.get(id).cloned()
            })
            .await
            {
                Ok(pieces) => break (rec, pieces, range),
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < 3 =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let (content_length, content_range) = content_span(range.as_ref(), rec.size);
        let body = stream_pieces(pieces, self.inner.cfg.read_chunk_bytes);
        let with_checksums = range.is_none()
            && input
                .checksum_mode
                .as_ref()
                .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let c = if with_checksums {
            rec.checksums.clone()
        } else {
            Checksums::default()
        };
        let h = rec.headers.clone();
        let output = GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: i64::try_from(content_length).ok(),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&rec.etag)),
            last_modified: Some(to_timestamp(rec.last_modified)),
            metadata: from_metadata(&rec.user_metadata),
            content_type: input
                .response_content_type
                .or(h.content_type)
                .or_else(|| Some("binary/octet-stream".to_owned())),
            content_encoding: input.response_content_encoding.or(h.content_encoding),
            content_disposition: input.response_content_disposition.or(h.content_disposition),
            content_language: input.response_content_language.or(h.content_language),
            cache_control: input.response_cache_control.or(h.cache_control),
            expires: input.response_expires.or(h.expires.map(to_timestamp)),
            website_redirect_location: h.website_redirect_location,
            tag_count: (!rec.tags.is_empty())
                .then(|| i32::try_from(rec.tags.len()).unwrap_or(i32::MAX)),
            parts_count: rec.parts_count.and_then(|n| i32::try_from(n).ok()),
            storage_class: rec.storage_class.clone().map(StorageClass::from),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: checksum_type(&rec, with_checksums),
            ..Default::default()
        };
        let status = content_range_status(&output);
        let mut resp = S3Response::new(output);
        resp.status = status;
        Ok(resp)
    }

    pub(super) fn head_object_impl(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let (rec, _) = self.load_existing(&input.bucket, &input.key)?;
        check_read_conditions(
            &rec,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let range = match input.part_number {
            Some(n) => part_range(&rec, n)?,
            None => requested_range(input.range.as_ref(), rec.size)?,
        };
        let (content_length, content_range) = content_span(range.as_ref(), rec.size);
        let with_checksums = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let c = if with_checksums {
            rec.checksums.clone()
        } else {
            Checksums::default()
        };
        let h = rec.headers.clone();
        let output = HeadObjectOutput {
            content_length: i64::try_from(content_length).ok(),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&rec.etag)),
            last_modified: Some(to_timestamp(rec.last_modified)),
            metadata: from_metadata(&rec.user_metadata),
            content_type: h
                .content_type
                .or_else(|| Some("binary/octet-stream".to_owned())),
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires.map(to_timestamp),
            website_redirect_location: h.website_redirect_location,
            parts_count: rec.parts_count.and_then(|n| i32::try_from(n).ok()),
            storage_class: rec.storage_class.clone().map(StorageClass::from),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: checksum_type(&rec, with_checksums),
            ..Default::default()
        };
        let mut resp = S3Response::new(output);
        if range.is_some() {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    pub(super) async fn delete_object_impl(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let cond = WriteCondition {
            if_match: input.if_match.clone(),
            if_none_match: None,
        };
        let (bucket, key) = (input.bucket, input.key);
        let result = self
            .store()
            .write(move |txn| commit::replace_object(txn, &bucket, &key, None, &[], &cond))
            .await;
        match result {
            Ok((dead, _)) => self.dirs().unlink(dead).await,
            // Deleting a missing key succeeds in S3, unless If-Match asked for it to exist.
            Err(Error::Client(e))
                if e.code() == &s3s::S3ErrorCode::NoSuchKey && input.if_match.is_none() => {}
            Err(e) => return Err(e),
        }
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(super) async fn delete_objects_impl(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let objects = input.delete.objects;
        if objects.len() > 1000 {
            return Err(client_err!(
                MalformedXML,
                "A DeleteObjects request may name at most 1000 keys"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bucket = input.bucket;
        let keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
        let outcome = self
            .store()
            .write(move |txn| {
                let mut results = Vec::with_capacity(keys.len());
                let mut dead = Vec::new();
                for key in keys {
                    if let Err(e) = validate_key(&key) {
                        results.push((key, Some(e)));
                        continue;
                    }
                    match commit::replace_object(
                        txn,
                        &bucket,
                        &key,
                        None,
                        &[],
                        &WriteCondition::default(),
                    ) {
                        Ok((d, _)) => {
                            dead.extend(d);
                            results.push((key, None));
                        }
                        Err(e @ Error::Client(_)) => results.push((key, Some(e))),
                        Err(e) => return Err(e),
                    }
                }
                Ok((results, dead))
            })
            .await?;
        let (results, dead) = outcome;
        self.dirs().unlink(dead).await;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for (key, err) in results {
            match err {
                None => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(key),
                            ..Default::default()
                        });
                    }
                }
                Some(e) => {
                    let e: s3s::S3Error = e.into();
                    errors.push(s3s::dto::Error {
                        code: Some(e.code().as_str().to_owned()),
                        key: Some(key),
                        message: e.message().map(str::to_owned),
                        version_id: None,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    pub(super) async fn copy_object_impl(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> Result<S3Response<CopyObjectOutput>> {
        let S3Request {
            input, extensions, ..
        } = req;
        validate_key(&input.key)?;
        let (src, _) = self.load_copy_source(
            &input.copy_source,
            CopyConditions {
                if_match: input.copy_source_if_match.as_ref(),
                if_none_match: input.copy_source_if_none_match.as_ref(),
                if_modified_since: input.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
            },
        )?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(Error::Bug("copy source checked above"));
        };
        let replace_meta = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        let same = **src_bucket == *input.bucket && **src_key == *input.key;
        if same && !replace_meta && !replace_tags && input.storage_class.is_none() {
            return Err(client_err!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut record = src.clone();
        record.last_modified = now_millis();
        if replace_meta {
            record.headers = ContentHeaders {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires.map(to_millis),
                website_redirect_location: input.website_redirect_location,
            };
            record.user_metadata = to_metadata(input.metadata);
        }
        if replace_tags {
            record.tags = tags_from_header(input.tagging.as_deref())?;
        }
        if let Some(sc) = input.storage_class {
            record.storage_class = Some(sc.as_str().to_owned());
        }
        // The record committed is this snapshot: admit what it really stores.
        self.settle_reservation(&extensions, &input.bucket, record.usage_bytes())?;
        let (bucket, key) = (input.bucket, input.key);
        let rec = record.clone();
        let (dead, _) = self
            .store()
            .write(move |txn| {
                commit::replace_object(
                    txn,
                    &bucket,
                    &key,
                    Some(&rec),
                    &[],
                    &WriteCondition::default(),
                )
            })
            .await?;
        self.dirs().unlink(dead).await;
        let c = record.checksums;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&record.etag)),
                last_modified: Some(to_timestamp(record.last_modified)),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
                checksum_crc64nvme: c.crc64nvme,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(super) fn get_object_tagging_impl(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let (rec, _) = self.load_existing(&input.bucket, &input.key)?;
        let tag_set = rec
            .tags
            .into_iter()
            .map(|(k, v)| Tag {
                key: Some(k),
                value: Some(v),
            })
            .collect();
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set,
            version_id: None,
        }))
    }

    pub(super) async fn put_object_tagging_impl(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags: Vec<(String, String)> = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        validate_tags(&tags)?;
        let (bucket, key) = (input.bucket, input.key);
        self.store()
            .write(move |txn| commit::set_tags(txn, &bucket, &key, tags))
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    pub(super) async fn delete_object_tagging_impl(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let (bucket, key) = (input.bucket, input.key);
        self.store()
            .write(move |txn| commit::set_tags(txn, &bucket, &key, Vec::new()))
            .await?;
        Ok(S3Response::with_status(
            DeleteObjectTaggingOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}

/// The `x-amz-copy-source-if-*` headers of a copy.
pub(super) struct CopyConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl Embedded {
    /// The source object of a copy and its inline bytes, after its conditions held: every
    /// failed condition is 412 (there is no 304 for a copy).
    pub(super) fn load_copy_source(
        &self,
        source: &CopySource,
        cond: CopyConditions<'_>,
    ) -> Result<(
        ObjectRecord,
        std::collections::HashMap<String, bytes::Bytes>,
    )> {
        let CopySource::Bucket { bucket, key, .. } = source else {
            return Err(client_err!(
                NotImplemented,
                "Only bucket copy sources are supported"
            ));
        };
        let (src, inline) = self
            .load(bucket, key)?
            .ok_or_else(|| client_err!(NoSuchKey, "The specified key does not exist."))?;
        match check_read_conditions(
            &src,
            cond.if_match,
            cond.if_none_match,
            cond.if_modified_since,
            cond.if_unmodified_since,
        ) {
            Err(Error::Client(e)) if e.code() == &s3s::S3ErrorCode::NotModified => {
                Err(client_err!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ))
            }
            Err(e) => Err(e),
            Ok(()) => Ok((src, inline)),
        }
    }
}

/// The byte range a GET or HEAD asks for, checked against the object size (416 otherwise).
fn requested_range(range: Option<&Range>, size: u64) -> Result<Option<std::ops::Range<u64>>> {
    range
        .map(|r| {
            r.check(size)
                .map_err(|_| client_err!(InvalidRange, "The requested range is not satisfiable"))
        })
        .transpose()
}

/// The byte range of part `n` (1-based) of an object; a single-part object has one part.
fn part_range(rec: &ObjectRecord, n: i32) -> Result<Option<std::ops::Range<u64>>> {
    let invalid = || {
        let mut e = s3s::S3Error::with_message(
            s3s::S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        Error::Client(e)
    };
    let index = usize::try_from(n)
        .ok()
        .filter(|&i| i >= 1)
        .ok_or_else(invalid)?
        - 1;
    if rec.part_sizes.is_empty() {
        return match index {
            0 if rec.size == 0 => Ok(None),
            0 => Ok(Some(0..rec.size)),
            _ => Err(invalid()),
        };
    }
    let size = *rec.part_sizes.get(index).ok_or_else(invalid)?;
    let start: u64 = rec.part_sizes[..index].iter().sum();
    Ok((size > 0).then_some(start..start + size))
}

/// Content-Length and Content-Range of a (possibly ranged) response.
fn content_span(range: Option<&std::ops::Range<u64>>, size: u64) -> (u64, Option<String>) {
    match range {
        Some(r) => (
            r.end - r.start,
            Some(format!("bytes {}-{}/{size}", r.start, r.end - 1)),
        ),
        None => (size, None),
    }
}

fn checksum_type(rec: &ObjectRecord, with_checksums: bool) -> Option<ChecksumType> {
    if !with_checksums || rec.checksums.is_empty() {
        return None;
    }
    Some(ChecksumType::from(
        if rec.parts_count.is_some() {
            ChecksumType::COMPOSITE
        } else {
            ChecksumType::FULL_OBJECT
        }
        .to_owned(),
    ))
}

fn content_range_status(output: &GetObjectOutput) -> Option<http::StatusCode> {
    output
        .content_range
        .as_ref()
        .map(|_| http::StatusCode::PARTIAL_CONTENT)
}
