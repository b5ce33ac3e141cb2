//! Object writes of the embedded backend: PUT, DELETE (one or many), copy and tagging.

use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Embedded;
use super::commit::{FreshBlob, WriteCondition};
use super::intake::*;
use super::object_get::*;
use super::versions::{self, VersionRef};
use crate::error::{Error, Result, client_err};
use crate::meta::{Checksums, ContentHeaders, ObjectRecord, now_millis};
use crate::policy::WriteLimit;
use crate::s3util::{strip_aws_chunked, to_millis, to_timestamp, validate_key, validate_tags};

/// `InvalidStorageClass` unless the class is one S3 stores in its standard tier.
fn check_storage_class(class: Option<&StorageClass>) -> Result<()> {
    const ACCEPTED: &[&str] = &[
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "INTELLIGENT_TIERING",
    ];
    match class {
        Some(sc) if !ACCEPTED.contains(&sc.as_str()) => Err(client_err!(
            InvalidStorageClass,
            "The storage class you specified is not valid"
        )),
        _ => Ok(()),
    }
}

/// One delete, by version or not, inside the caller's transaction.
fn delete_one(
    txn: &redb::WriteTransaction,
    bucket: &str,
    key: &str,
    which: Option<&VersionRef>,
    cond: &WriteCondition,
    bypass_governance: bool,
) -> Result<versions::Outcome> {
    match which {
        None => versions::delete_current(txn, bucket, key, cond),
        Some(w) => versions::delete_version(txn, bucket, key, w, |rec| {
            super::lock::check_delete(rec, bypass_governance)
        }),
    }
}

/// What a delete answers: `x-amz-delete-marker` and `x-amz-version-id` (the marker it added,
/// or the version it removed).
fn deleted_answer(out: &versions::Outcome) -> (Option<bool>, Option<String>) {
    match (&out.written, &out.removed) {
        (Some(marker), _) => (Some(true), Some(versions::shown_id(marker))),
        (None, Some(rec)) if rec.version_id.is_some() || rec.delete_marker => (
            rec.delete_marker.then_some(true),
            Some(versions::shown_id(rec)),
        ),
        _ => (None, None),
    }
}

impl Embedded {
    /// Commits `record` as the newest version of `bucket/key` (under `cond`), with the blob
    /// this request wrote, if any: removed again when the commit fails. The blobs a replaced
    /// object held go. Returns the record as stored (with its version id).
    async fn publish(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        fresh: Option<FreshBlob>,
        cond: WriteCondition,
    ) -> Result<ObjectRecord> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let fresh_list: Vec<FreshBlob> = fresh.iter().cloned().collect();
        let result = self
            .store()
            .write(move |txn| versions::put_newest(txn, &b, &k, record, &fresh_list, &cond))
            .await;
        match result {
            Ok(out) => {
                self.dirs().unlink(out.dead).await;
                out.written.ok_or(Error::Bug("a write stored nothing"))
            }
            Err(e) => {
                self.discard(fresh).await;
                Err(e)
            }
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
        check_storage_class(input.storage_class.as_ref())?;
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
        let lock = super::lock::requested(
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
        )?;
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
            stamp: 0,
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
            lock,
            segments,
        };
        let record = self
            .publish(&input.bucket, &input.key, record, fresh, cond)
            .await?;
        let c = record.checksums;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&record.etag)),
            version_id: record.version_id,
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
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
        let which = input
            .version_id
            .as_deref()
            .map(VersionRef::parse)
            .transpose()?;
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        let (bucket, key) = (input.bucket, input.key);
        let result = self
            .store()
            .write(move |txn| delete_one(txn, &bucket, &key, which.as_ref(), &cond, bypass))
            .await;
        let out = match result {
            Ok(mut out) => {
                self.dirs().unlink(std::mem::take(&mut out.dead)).await;
                out
            }
            // Deleting a missing key succeeds in S3, unless If-Match asked for it to exist.
            Err(Error::Client(e))
                if e.code() == &s3s::S3ErrorCode::NoSuchKey && input.if_match.is_none() =>
            {
                versions::Outcome::default()
            }
            Err(e) => return Err(e),
        };
        let (delete_marker, version_id) = deleted_answer(&out);
        Ok(S3Response::with_status(
            DeleteObjectOutput {
                delete_marker,
                version_id,
                ..Default::default()
            },
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
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        let keys: Vec<(String, Option<String>)> = objects
            .iter()
            .map(|o| (o.key.clone(), o.version_id.clone()))
            .collect();
        let outcome = self
            .store()
            .write(move |txn| {
                let mut results = Vec::with_capacity(keys.len());
                let mut dead = Vec::new();
                for (key, vid) in keys {
                    let which = match vid.as_deref().map(VersionRef::parse).transpose() {
                        Ok(w) => w,
                        Err(e) => {
                            results.push((key, vid, Err(e)));
                            continue;
                        }
                    };
                    if let Err(e) = validate_key(&key) {
                        results.push((key, vid, Err(e)));
                        continue;
                    }
                    let cond = WriteCondition::default();
                    match delete_one(txn, &bucket, &key, which.as_ref(), &cond, bypass) {
                        Ok(mut out) => {
                            dead.append(&mut out.dead);
                            results.push((key, vid, Ok(out)));
                        }
                        Err(Error::Client(e)) if e.code() == &s3s::S3ErrorCode::NoSuchKey => {
                            results.push((key, vid, Ok(versions::Outcome::default())));
                        }
                        Err(e @ Error::Client(_)) => results.push((key, vid, Err(e))),
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
        for (key, vid, result) in results {
            match result {
                Ok(out) => {
                    if !quiet {
                        let (delete_marker, marker_id) = deleted_answer(&out);
                        deleted.push(DeletedObject {
                            key: Some(key),
                            version_id: vid,
                            delete_marker,
                            delete_marker_version_id: marker_id,
                        });
                    }
                }
                Err(e) => {
                    let e: s3s::S3Error = e.into();
                    errors.push(s3s::dto::Error {
                        code: Some(e.code().as_str().to_owned()),
                        key: Some(key),
                        message: e.message().map(str::to_owned),
                        version_id: vid,
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
        // A copy is a new version: it takes the lock it asks for (or the bucket's default),
        // never the source's.
        record.lock = super::lock::requested(
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
        )?;
        // The record committed is this snapshot: admit what it really stores.
        self.settle_reservation(&extensions, &input.bucket, record.usage_bytes())?;
        let src_version = src.version_id.clone();
        let record = self
            .publish(
                &input.bucket,
                &input.key,
                record,
                None,
                WriteCondition::default(),
            )
            .await?;
        let c = record.checksums;
        Ok(S3Response::new(CopyObjectOutput {
            version_id: record.version_id,
            copy_source_version_id: src_version,
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
        let (rec, _) =
            self.load_existing(&input.bucket, &input.key, input.version_id.as_deref())?;
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
            version_id: rec.version_id,
        }))
    }

    /// Replaces the tags of the version `version_id` names (the current object without one).
    async fn set_tags(
        &self,
        bucket: String,
        key: String,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<Option<String>> {
        let which = version_id.map(VersionRef::parse).transpose()?;
        let rec = self
            .store()
            .write(move |txn| {
                versions::modify_version(txn, &bucket, &key, which.as_ref(), |r| {
                    r.tags = tags;
                    Ok(())
                })
            })
            .await?;
        Ok(rec.version_id)
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
        let version_id = self
            .set_tags(input.bucket, input.key, input.version_id.as_deref(), tags)
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
    }

    pub(super) async fn delete_object_tagging_impl(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let version_id = self
            .set_tags(
                input.bucket,
                input.key,
                input.version_id.as_deref(),
                Vec::new(),
            )
            .await?;
        Ok(S3Response::with_status(
            DeleteObjectTaggingOutput { version_id },
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
        let CopySource::Bucket {
            bucket,
            key,
            version_id,
        } = source
        else {
            return Err(client_err!(
                NotImplemented,
                "Only bucket copy sources are supported"
            ));
        };
        // A delete marker as the source is 400 InvalidRequest on S3, not 405.
        let (src, inline) = match self.load_existing(bucket, key, version_id.as_deref()) {
            Err(Error::Client(e)) if e.code() == &s3s::S3ErrorCode::MethodNotAllowed => {
                return Err(client_err!(
                    InvalidRequest,
                    "The source of a copy request may not specifically refer to a delete marker by version id."
                ));
            }
            other => other?,
        };
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
