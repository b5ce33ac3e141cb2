//! Multipart uploads of the embedded backend.
//!
//! Parts are blobs like any object body. Completing an upload writes no bytes: the object's
//! segments are the parts' segments, in order, and the parts' references move to the object.

use futures::StreamExt;
use redb::ReadableTable;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Embedded;
use super::commit::{self, WriteCondition};
use super::intake::{Upload, etag, tags_from_header, to_metadata};
use super::object::CopyConditions;
use super::read::{open_pieces, stream_pieces};
use crate::error::{Error, Result, client_err};
use crate::meta::{
    Checksums, ContentHeaders, ObjectRecord, PartRecord, Segment, UPLOADS, UploadRecord, get_json,
    now_millis,
};
use crate::s3util::{to_millis, to_timestamp, validate_key};

/// S3's smallest part, except for the last one.
const MIN_PART_SIZE: u64 = 5 << 20;
const MAX_PART_NUMBER: i32 = 10_000;

fn no_such_upload() -> Error {
    client_err!(
        NoSuchUpload,
        "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn part_number(n: i32) -> Result<u32> {
    if !(1..=MAX_PART_NUMBER).contains(&n) {
        return Err(client_err!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    u32::try_from(n).map_err(|_| Error::Bug("part number sign"))
}

/// The segments covering `range` of an object made of `segments`.
fn slice_segments(segments: &[Segment], range: std::ops::Range<u64>) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    for s in segments {
        let (seg_start, seg_end) = (pos, pos + s.len);
        pos = seg_end;
        let start = range.start.max(seg_start);
        let end = range.end.min(seg_end);
        if start < end {
            out.push(Segment {
                blob: s.blob.clone(),
                inline: s.inline,
                offset: s.offset + (start - seg_start),
                len: end - start,
            });
        }
    }
    out
}

/// Parses `x-amz-copy-source-range: bytes=first-last` against the source size.
fn parse_copy_range(s: &str, size: u64) -> Result<std::ops::Range<u64>> {
    let bad = || {
        client_err!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last"
        )
    };
    let spec = s.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first: u64 = a.parse().map_err(|_| bad())?;
    let last: u64 = b.parse().map_err(|_| bad())?;
    if first > last || last >= size {
        return Err(client_err!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok(first..last + 1)
}

/// Composite checksum of an upload: the digest of the parts' binary digests, `-N`.
fn composite_checksum(algorithm: &str, parts: &[&PartRecord]) -> Option<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut hasher = s3s::checksum::ChecksumHasher::default();
    let pick: fn(&Checksums) -> &Option<String> = match algorithm {
        "CRC32" => {
            hasher.crc32 = Some(Default::default());
            |c| &c.crc32
        }
        "CRC32C" => {
            hasher.crc32c = Some(Default::default());
            |c| &c.crc32c
        }
        "SHA1" => {
            hasher.sha1 = Some(Default::default());
            |c| &c.sha1
        }
        "SHA256" => {
            hasher.sha256 = Some(Default::default());
            |c| &c.sha256
        }
        _ => return None,
    };
    for p in parts {
        let raw = b64.decode(pick(&p.checksums).as_ref()?).ok()?;
        hasher.update(&raw);
    }
    let c = super::blobs::checksums_from(hasher.finalize());
    let value = pick(&c).clone()?;
    Some(format!("{value}-{}", parts.len()))
}

impl Embedded {
    pub(super) fn load_upload(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<UploadRecord> {
        let upload = self.store().read(|txn| {
            let uploads = txn.open_table(UPLOADS)?;
            get_json::<&str, UploadRecord>(&uploads, upload_id)
        })?;
        match upload {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(no_such_upload()),
        }
    }

    pub(super) async fn create_multipart_upload_impl(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        validate_key(&input.key)?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let record = UploadRecord {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            initiated: now_millis(),
            headers: ContentHeaders {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires.map(to_millis),
                website_redirect_location: input.website_redirect_location,
            },
            user_metadata: to_metadata(input.metadata),
            tags: tags_from_header(input.tagging.as_deref())?,
            checksum_algorithm: input
                .checksum_algorithm
                .as_ref()
                .map(|a| a.as_str().to_owned()),
            storage_class: input.storage_class.map(|s| s.as_str().to_owned()),
            initiator: req.credentials.map(|c| c.access_key),
            lock: super::lock::requested(
                input.object_lock_mode.as_ref(),
                input.object_lock_retain_until_date.as_ref(),
                input.object_lock_legal_hold_status.as_ref(),
            )?,
        };
        let id = upload_id.clone();
        self.store()
            .write(move |txn| commit::create_upload(txn, &id, &record))
            .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part_impl(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> Result<S3Response<UploadPartOutput>> {
        let S3Request {
            input,
            headers,
            trailing_headers,
            ..
        } = req;
        let number = part_number(input.part_number)?;
        // Refuse an unknown upload before reading the body; the commit checks again.
        self.load_upload(&input.upload_id, &input.bucket, &input.key)?;
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
            limit: None,
        };
        let (fresh, segments, written) = self.receive(input.body, upload).await?;
        let part = PartRecord {
            size: written.size,
            etag: written.md5_hex,
            last_modified: now_millis(),
            checksums: written.checksums,
            segments,
        };
        let (bucket, key, upload_id) = (input.bucket, input.key, input.upload_id);
        let fresh_list: Vec<_> = fresh.iter().cloned().collect();
        let p = part.clone();
        let result = self
            .store()
            .write(move |txn| {
                commit::put_part(txn, &bucket, &key, &upload_id, number, &p, &fresh_list)
            })
            .await;
        match result {
            Ok(dead) => self.dirs().unlink(dead).await,
            Err(e) => {
                self.discard(fresh).await;
                return Err(e);
            }
        }
        let c = part.checksums;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part_copy_impl(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> Result<S3Response<UploadPartCopyOutput>> {
        let S3Request {
            input, extensions, ..
        } = req;
        let number = part_number(input.part_number)?;
        self.load_upload(&input.upload_id, &input.bucket, &input.key)?;
        let (src, inline) = self.load_copy_source(
            &input.copy_source,
            CopyConditions {
                if_match: input.copy_source_if_match.as_ref(),
                if_none_match: input.copy_source_if_none_match.as_ref(),
                if_modified_since: input.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
            },
        )?;
        let range = match &input.copy_source_range {
            Some(r) => parse_copy_range(r, src.size)?,
            None => 0..src.size,
        };
        // The part committed comes from this snapshot: admit what it really stores.
        self.settle_reservation(&extensions, &input.bucket, range.end - range.start)?;
        let segments = slice_segments(&src.segments, range.clone());
        // The part's ETag is the MD5 of its bytes: read them once to hash, write nothing.
        let pieces = open_pieces(self.dirs(), &src.segments, range.clone(), |id| {
            inline.get(id).cloned()
        })
        .await?;
        let mut stream = Box::pin(stream_pieces(pieces, self.inner.cfg.read_chunk_bytes));
        let mut md5 = Md5::new();
        while let Some(chunk) = stream.next().await {
            md5.update(&chunk.map_err(Error::io("reading copy source"))?);
        }
        let part = PartRecord {
            size: range.end - range.start,
            etag: hex::encode(md5.finalize()),
            last_modified: now_millis(),
            checksums: Checksums::default(),
            segments,
        };
        let (bucket, key, upload_id) = (input.bucket, input.key, input.upload_id);
        let p = part.clone();
        let dead = self
            .store()
            .write(move |txn| commit::put_part(txn, &bucket, &key, &upload_id, number, &p, &[]))
            .await?;
        self.dirs().unlink(dead).await;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(to_timestamp(part.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn complete_multipart_upload_impl(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let listed: Vec<(i32, Option<String>)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.part_number.unwrap_or(0), p.e_tag.map(ETag::into_value)))
            .collect();
        if listed.is_empty() {
            return Err(client_err!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        for w in listed.windows(2) {
            if w[0].0 >= w[1].0 {
                return Err(client_err!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
        }
        let cond = WriteCondition {
            if_match: input.if_match.clone(),
            if_none_match: input.if_none_match.clone(),
        };
        let (bucket, key, upload_id) = (
            input.bucket.clone(),
            input.key.clone(),
            input.upload_id.clone(),
        );
        let (dead, record) = self
            .store()
            .write(move |txn| {
                commit::complete_upload(txn, &bucket, &key, &upload_id, &cond, |upload, stored| {
                    build_record(upload, stored, &listed)
                })
            })
            .await?;
        self.dirs().unlink(dead).await;
        let c = record.checksums;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            version_id: record.version_id,
            ..Default::default()
        }))
    }

    pub(super) async fn abort_multipart_upload_impl(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let dead = self
            .store()
            .write(move |txn| {
                commit::abort_upload(txn, &input.bucket, &input.key, &input.upload_id)
            })
            .await?;
        self.dirs().unlink(dead).await;
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}

/// The object a completed upload becomes, or the S3 error that refuses the part list.
fn build_record(
    upload: &UploadRecord,
    stored: &[(u32, PartRecord)],
    listed: &[(i32, Option<String>)],
) -> Result<ObjectRecord> {
    let invalid = |n: i32| {
        client_err!(
            InvalidPart,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {n})"
        )
    };
    let mut chosen: Vec<&PartRecord> = Vec::with_capacity(listed.len());
    for (n, tag) in listed {
        let number = u32::try_from(*n).map_err(|_| invalid(*n))?;
        let part = stored
            .iter()
            .find(|(pn, _)| *pn == number)
            .map(|(_, p)| p)
            .ok_or_else(|| invalid(*n))?;
        if let Some(tag) = tag
            && tag.trim_matches('"') != part.etag
        {
            return Err(invalid(*n));
        }
        chosen.push(part);
    }
    if let Some((_, init)) = chosen.split_last()
        && let Some(small) = init.iter().position(|p| p.size < MIN_PART_SIZE)
    {
        return Err(client_err!(
            EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size. (part {})",
            listed[small].0
        ));
    }
    let mut md5s = Md5::new();
    for p in &chosen {
        let raw = hex::decode(&p.etag).map_err(|_| Error::Bug("stored part etag is not hex"))?;
        md5s.update(&raw);
    }
    let etag = format!("{}-{}", hex::encode(md5s.finalize()), chosen.len());
    let mut checksums = Checksums::default();
    if let Some(alg) = &upload.checksum_algorithm
        && let Some(v) = composite_checksum(alg, &chosen)
    {
        match alg.as_str() {
            "CRC32" => checksums.crc32 = Some(v),
            "CRC32C" => checksums.crc32c = Some(v),
            "SHA1" => checksums.sha1 = Some(v),
            "SHA256" => checksums.sha256 = Some(v),
            _ => {}
        }
    }
    Ok(ObjectRecord {
        version_id: None,
        delete_marker: false,
        stamp: 0,
        size: chosen.iter().map(|p| p.size).sum(),
        etag,
        last_modified: now_millis(),
        headers: upload.headers.clone(),
        user_metadata: upload.user_metadata.clone(),
        checksums,
        tags: upload.tags.clone(),
        parts_count: u32::try_from(chosen.len()).ok(),
        part_sizes: chosen.iter().map(|p| p.size).collect(),
        storage_class: upload.storage_class.clone(),
        lock: upload.lock.clone(),
        segments: chosen
            .iter()
            .flat_map(|p| p.segments.iter().cloned())
            .collect(),
    })
}

impl Embedded {
    /// Aborts the multipart uploads initiated before `cutoff` (abandoned ones), releasing
    /// their pending bytes and deleting their parts. One read scan finds them (cheap when none
    /// expired); each is then aborted in a short commit of its own, and its blob files are
    /// unlinked after that commit, never inside it. An upload completed or aborted meanwhile
    /// is skipped. Returns how many were aborted.
    pub async fn expire_uploads(&self, cutoff: crate::meta::UnixMillis) -> Result<usize> {
        let stale: Vec<(String, String, String)> = self.store().read(|txn| {
            let uploads = txn.open_table(UPLOADS)?;
            let mut out = Vec::new();
            for item in uploads.iter()? {
                let (k, v) = item?;
                let rec: UploadRecord = serde_json::from_slice(v.value())?;
                if rec.initiated < cutoff {
                    out.push((k.value().to_owned(), rec.bucket, rec.key));
                }
            }
            Ok(out)
        })?;
        let mut aborted = 0;
        for (id, bucket, key) in stale {
            let result = self
                .store()
                .write(move |txn| commit::abort_upload(txn, &bucket, &key, &id))
                .await;
            match result {
                Ok(dead) => {
                    self.dirs().unlink(dead).await;
                    aborted += 1;
                }
                Err(Error::Client(e)) if e.code() == &s3s::S3ErrorCode::NoSuchUpload => {}
                Err(e) => return Err(e),
            }
        }
        Ok(aborted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(blob: &str, offset: u64, len: u64) -> Segment {
        Segment {
            blob: blob.into(),
            inline: false,
            offset,
            len,
        }
    }

    #[test]
    fn slicing_segments_maps_ranges_into_blobs() {
        let segs = vec![seg("a", 0, 10), seg("b", 5, 10)];
        assert_eq!(slice_segments(&segs, 0..20), segs);
        assert_eq!(
            slice_segments(&segs, 8..12),
            vec![seg("a", 8, 2), seg("b", 5, 2)]
        );
        assert_eq!(slice_segments(&segs, 12..20), vec![seg("b", 7, 8)]);
    }

    #[test]
    fn copy_ranges_are_checked() {
        assert_eq!(parse_copy_range("bytes=0-9", 10).unwrap(), 0..10);
        assert!(parse_copy_range("bytes=0-10", 10).is_err());
        assert!(parse_copy_range("bytes=5-4", 10).is_err());
        assert!(parse_copy_range("0-4", 10).is_err());
    }
}
