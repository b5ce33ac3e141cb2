//! Object reads of the embedded backend: GET and HEAD, with ranges, parts and conditions.

use std::collections::BTreeMap;

use http::HeaderMap;
use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Embedded;
use super::intake::*;
use super::read::{open_pieces, stream_pieces};
use crate::error::{Error, Result, client_err};
use crate::meta::{Checksums, ObjectRecord};
use crate::s3util::{to_millis, to_secs, to_timestamp};

fn from_metadata(m: &BTreeMap<String, String>) -> Option<Metadata> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
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
    pub(super) async fn get_object_impl(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        // A blob can be unlinked between our snapshot and opening it (a concurrent overwrite);
        // the retry then sees the new record.
        let mut attempt = 0;
        let (rec, pieces, range) = loop {
            let (rec, inline) =
                self.load_existing(&input.bucket, &input.key, input.version_id.as_deref())?;
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
        let (lock_mode, lock_until, lock_hold) = super::lock::shown(&rec.lock);
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
            version_id: shown_version(&rec, input.version_id.as_deref()),
            object_lock_mode: lock_mode,
            object_lock_retain_until_date: lock_until,
            object_lock_legal_hold_status: lock_hold,
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
        let (rec, _) =
            self.load_existing(&input.bucket, &input.key, input.version_id.as_deref())?;
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
        let (lock_mode, lock_until, lock_hold) = super::lock::shown(&rec.lock);
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
            version_id: shown_version(&rec, input.version_id.as_deref()),
            object_lock_mode: lock_mode,
            object_lock_retain_until_date: lock_until,
            object_lock_legal_hold_status: lock_hold,
            ..Default::default()
        };
        let mut resp = S3Response::new(output);
        if range.is_some() {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }
}

/// The `x-amz-version-id` of a read: the version's id, or `null` when the null version was
/// asked for by name (unversioned reads of unversioned objects carry none).
fn shown_version(rec: &ObjectRecord, asked: Option<&str>) -> Option<String> {
    rec.version_id
        .clone()
        .or_else(|| asked.map(|_| "null".to_owned()))
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
