//! The operations the gateway itself makes on buckets of another S3 server (the control
//! plane's object routes, static websites, copy-source checks), as an `s3s::S3`: each one a
//! signed HTTP request to the bucket's upstream, its answer turned back into s3s types.
//!
//! S3 clients never come through here: their requests for such buckets are forwarded whole by
//! the gateway's pass-through route. Bodies stream both ways; only listings (capped) are read into memory.

mod multipart;

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use s3s::dto::*;
use s3s::{Body, S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::backend::Backends;
use crate::backend::upstream::{UpstreamLease, body_text, upstream_error};

/// Largest listing page read (1000 keys of 1 KiB fit several times over).
const MAX_LISTING_BYTES: usize = 16 << 20;

/// A typed S3 client for buckets on another server (remote and container buckets), for the
/// gateway's own calls.
pub struct UpstreamS3(pub Backends);

pub(super) fn encode_key(key: &str) -> String {
    // Keys keep their slashes; everything else outside the unreserved set is escaped.
    key.split('/')
        .map(crate::s3util::url_encode)
        .collect::<Vec<_>>()
        .join("/")
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn http_date(h: &HeaderMap, name: &str) -> Option<Timestamp> {
    header(h, name).and_then(|v| Timestamp::parse(TimestampFormat::HttpDate, &v).ok())
}

fn format_date(t: &Timestamp) -> Option<HeaderValue> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    HeaderValue::from_bytes(&buf).ok()
}

fn metadata_of(h: &HeaderMap) -> Option<HashMap<String, String>> {
    let m: HashMap<String, String> = h
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_owned(), v.to_str().ok()?.to_owned()))
        })
        .collect();
    (!m.is_empty()).then_some(m)
}

/// An object's attributes, as GET and HEAD answers carry them in headers.
struct ObjectHeaders {
    content_length: Option<i64>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    content_disposition: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
    e_tag: Option<ETag>,
    last_modified: Option<Timestamp>,
    metadata: Option<HashMap<String, String>>,
    version_id: Option<String>,
}

impl ObjectHeaders {
    fn of(h: &HeaderMap) -> Self {
        Self {
            content_length: header(h, "content-length").and_then(|v| v.parse().ok()),
            content_type: header(h, "content-type"),
            content_encoding: header(h, "content-encoding"),
            content_language: header(h, "content-language"),
            content_disposition: header(h, "content-disposition"),
            cache_control: header(h, "cache-control"),
            expires: http_date(h, "expires"),
            e_tag: header(h, "etag").and_then(|v| ETag::parse_http_header(v.as_bytes()).ok()),
            last_modified: http_date(h, "last-modified"),
            metadata: metadata_of(h),
            version_id: header(h, "x-amz-version-id"),
        }
    }
}

/// The error of a failed answer; answers without a body (HEAD, 304) get one from the status.
pub(super) async fn failure(status: StatusCode, body: Body) -> S3Error {
    let text = body_text(body, 64 << 10).await;
    if text.contains("<Code>") {
        return upstream_error(status, &text);
    }
    let code = match status {
        StatusCode::NOT_FOUND => S3ErrorCode::NoSuchKey,
        StatusCode::FORBIDDEN => S3ErrorCode::AccessDenied,
        StatusCode::NOT_MODIFIED => S3ErrorCode::Custom("NotModified".into()),
        StatusCode::PRECONDITION_FAILED => S3ErrorCode::PreconditionFailed,
        StatusCode::RANGE_NOT_SATISFIABLE => S3ErrorCode::InvalidRange,
        StatusCode::SERVICE_UNAVAILABLE => S3ErrorCode::ServiceUnavailable,
        _ => S3ErrorCode::InternalError,
    };
    let mut e = S3Error::new(code);
    e.set_status_code(status);
    e
}

impl UpstreamS3 {
    pub(super) async fn lease(&self, bucket: &str) -> S3Result<UpstreamLease> {
        self.0.upstream_for(bucket).await
    }

    /// GET or HEAD of one object with the input's conditions and range.
    #[allow(
        clippy::too_many_arguments,
        reason = "the fields GetObject and HeadObject share"
    )]
    async fn fetch(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        range: Option<&Range>,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
        if_unmodified_since: Option<&Timestamp>,
        part_number: Option<i32>,
        version_id: Option<&str>,
    ) -> S3Result<(HeaderMap, Body, StatusCode)> {
        let lease = self.0.upstream_for_read(bucket).await?;
        let mut h = HeaderMap::new();
        if let Some(r) = range
            && let Ok(v) = HeaderValue::from_str(&r.to_header_string())
        {
            h.insert(http::header::RANGE, v);
        }
        if let Some(v) = if_match.and_then(|c| c.to_http_header().ok()) {
            h.insert(http::header::IF_MATCH, v);
        }
        if let Some(v) = if_none_match.and_then(|c| c.to_http_header().ok()) {
            h.insert(http::header::IF_NONE_MATCH, v);
        }
        if let Some(v) = if_modified_since.and_then(format_date) {
            h.insert(http::header::IF_MODIFIED_SINCE, v);
        }
        if let Some(v) = if_unmodified_since.and_then(format_date) {
            h.insert(http::header::IF_UNMODIFIED_SINCE, v);
        }
        let mut query = Vec::new();
        if let Some(n) = part_number {
            query.push(format!("partNumber={n}"));
        }
        if let Some(v) = version_id {
            query.push(format!("versionId={}", crate::s3util::url_encode(v)));
        }
        let mut target = format!(
            "/{}/{}",
            lease.upstream.upstream_bucket(bucket),
            encode_key(key)
        );
        if !query.is_empty() {
            target.push('?');
            target.push_str(&query.join("&"));
        }
        let resp = lease
            .upstream
            .send_holding(method, &target, h, Body::empty(), None, lease.hold)
            .await
            .map_err(|f| f.error)?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            return Err(failure(parts.status, body).await);
        }
        Ok((parts.headers, body, parts.status))
    }
}

#[async_trait::async_trait]
impl S3 for UpstreamS3 {
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort(self, req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let i = &req.input;
        let (h, body, _) = self
            .fetch(
                Method::GET,
                &i.bucket,
                &i.key,
                i.range.as_ref(),
                i.if_match.as_ref(),
                i.if_none_match.as_ref(),
                i.if_modified_since.as_ref(),
                i.if_unmodified_since.as_ref(),
                i.part_number,
                i.version_id.as_deref(),
            )
            .await?;
        let m = ObjectHeaders::of(&h);
        let out = GetObjectOutput {
            body: Some(StreamingBlob::from(body)),
            content_length: m.content_length,
            content_range: header(&h, "content-range"),
            content_type: m.content_type,
            content_encoding: m.content_encoding,
            content_language: m.content_language,
            content_disposition: m.content_disposition,
            cache_control: m.cache_control,
            expires: m.expires,
            e_tag: m.e_tag,
            last_modified: m.last_modified,
            metadata: m.metadata,
            version_id: m.version_id,
            accept_ranges: header(&h, "accept-ranges"),
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let i = &req.input;
        let (h, _, _) = self
            .fetch(
                Method::HEAD,
                &i.bucket,
                &i.key,
                i.range.as_ref(),
                i.if_match.as_ref(),
                i.if_none_match.as_ref(),
                i.if_modified_since.as_ref(),
                i.if_unmodified_since.as_ref(),
                i.part_number,
                i.version_id.as_deref(),
            )
            .await?;
        let m = ObjectHeaders::of(&h);
        let out = HeadObjectOutput {
            content_length: m.content_length,
            content_type: m.content_type,
            content_encoding: m.content_encoding,
            content_language: m.content_language,
            content_disposition: m.content_disposition,
            cache_control: m.cache_control,
            expires: m.expires,
            e_tag: m.e_tag,
            last_modified: m.last_modified,
            metadata: m.metadata,
            version_id: m.version_id,
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let i = req.input;
        // A browser form upload has no Content-Length of its own; s3s knows the file's.
        let known = i.body.as_ref().and_then(|b| {
            use s3s::stream::ByteStream as _;
            b.remaining_length().exact().map(|n| n as u64)
        });
        let len = i
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .or(known)
            .ok_or_else(|| S3Error::new(S3ErrorCode::MissingContentLength))?;
        let lease = self.lease(&i.bucket).await?;
        let mut h = HeaderMap::new();
        let mut put = |name: &'static str, v: Option<String>| {
            if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
                h.insert(name, v);
            }
        };
        put("content-type", i.content_type);
        put("content-encoding", i.content_encoding);
        put("content-disposition", i.content_disposition);
        put("content-language", i.content_language);
        put("cache-control", i.cache_control);
        for (k, v) in i.metadata.unwrap_or_default() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::try_from(format!("x-amz-meta-{k}")),
                HeaderValue::from_str(&v),
            ) {
                h.insert(n, v);
            }
        }
        let body = i.body.map_or_else(Body::empty, Body::from);
        let target = format!(
            "/{}/{}",
            lease.upstream.upstream_bucket(&i.bucket),
            encode_key(&i.key)
        );
        let resp = lease
            .upstream
            .send_holding(Method::PUT, &target, h, body, Some(len), lease.hold)
            .await
            .map_err(|f| f.error)?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            return Err(failure(parts.status, body).await);
        }
        self.0.registry.note_upload(&i.bucket, len, 1).await;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: header(&parts.headers, "etag")
                .and_then(|v| ETag::parse_http_header(v.as_bytes()).ok()),
            version_id: header(&parts.headers, "x-amz-version-id"),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let i = &req.input;
        let lease = self.lease(&i.bucket).await?;
        let mut target = format!(
            "/{}/{}",
            lease.upstream.upstream_bucket(&i.bucket),
            encode_key(&i.key)
        );
        if let Some(v) = &i.version_id {
            target.push_str("?versionId=");
            target.push_str(&crate::s3util::url_encode(v));
        }
        let resp = lease
            .upstream
            .send_holding(
                Method::DELETE,
                &target,
                HeaderMap::new(),
                Body::empty(),
                None,
                lease.hold,
            )
            .await
            .map_err(|f| f.error)?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            return Err(failure(parts.status, body).await);
        }
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            StatusCode::NO_CONTENT,
        ))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let i = &req.input;
        let lease = self.lease(&i.bucket).await?;
        let mut query = vec!["list-type=2".to_owned()];
        let mut add = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                query.push(format!("{name}={}", crate::s3util::url_encode(&v)));
            }
        };
        add("prefix", i.prefix.clone());
        add("delimiter", i.delimiter.clone());
        add("continuation-token", i.continuation_token.clone());
        add("start-after", i.start_after.clone());
        add("max-keys", i.max_keys.map(|n| n.to_string()));
        let target = format!(
            "/{}?{}",
            lease.upstream.upstream_bucket(&i.bucket),
            query.join("&")
        );
        let resp = lease
            .upstream
            .send_holding(
                Method::GET,
                &target,
                HeaderMap::new(),
                Body::empty(),
                None,
                lease.hold,
            )
            .await
            .map_err(|f| f.error)?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            return Err(failure(parts.status, body).await);
        }
        let xml = body_text(body, MAX_LISTING_BYTES).await;
        let mut out = parse_listing(&xml).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "The bucket's storage server sent an unreadable listing",
            )
        })?;
        out.name = Some(i.bucket.clone());
        Ok(S3Response::new(out))
    }
}

/// The character an XML entity or character reference (`amp`, `#38`, `#x26`) stands for.
fn entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        other => other.strip_prefix('#').and_then(|n| {
            let code = match n.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => n.parse().ok(),
            };
            code.and_then(char::from_u32)
        }),
    }
}

/// Reads a `ListBucketResult` (ListObjectsV2) document.
pub fn parse_listing(xml: &str) -> Option<ListObjectsV2Output> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut out = ListObjectsV2Output::default();
    let mut object = Object::default();
    let mut seen_root = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_owned());
                text.clear();
            }
            Event::Empty(_) => {}
            Event::Text(t) => text.push_str(&t.into_inner()),
            Event::CData(t) => text.push_str(&t.into_inner()),
            Event::GeneralRef(r) => text.push(entity(&r.into_inner())?),
            Event::End(_) => {
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                let value = std::mem::take(&mut text);
                match p.as_slice() {
                    ["ListBucketResult"] => seen_root = true,
                    ["ListBucketResult", "Contents"] => {
                        out.contents
                            .get_or_insert_with(Vec::new)
                            .push(std::mem::take(&mut object));
                    }
                    ["ListBucketResult", "Contents", "Key"] => object.key = Some(value),
                    ["ListBucketResult", "Contents", "Size"] => {
                        object.size = value.trim().parse().ok()
                    }
                    ["ListBucketResult", "Contents", "ETag"] => {
                        object.e_tag = ETag::parse_http_header(value.trim().as_bytes()).ok();
                    }
                    ["ListBucketResult", "Contents", "LastModified"] => {
                        object.last_modified =
                            Timestamp::parse(TimestampFormat::DateTime, value.trim()).ok();
                    }
                    ["ListBucketResult", "Contents", "StorageClass"] => {
                        object.storage_class = Some(ObjectStorageClass::from(value));
                    }
                    ["ListBucketResult", "CommonPrefixes", "Prefix"] => {
                        out.common_prefixes
                            .get_or_insert_with(Vec::new)
                            .push(CommonPrefix {
                                prefix: Some(value),
                            });
                    }
                    ["ListBucketResult", "IsTruncated"] => {
                        out.is_truncated = Some(value.trim() == "true")
                    }
                    ["ListBucketResult", "NextContinuationToken"] => {
                        out.next_continuation_token = Some(value)
                    }
                    ["ListBucketResult", "ContinuationToken"] => {
                        out.continuation_token = Some(value)
                    }
                    ["ListBucketResult", "KeyCount"] => out.key_count = value.trim().parse().ok(),
                    ["ListBucketResult", "MaxKeys"] => out.max_keys = value.trim().parse().ok(),
                    ["ListBucketResult", "Prefix"] => out.prefix = Some(value),
                    ["ListBucketResult", "Delimiter"] => out.delimiter = Some(value),
                    ["ListBucketResult", "StartAfter"] => out.start_after = Some(value),
                    _ => {}
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    seen_root.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_read_with_entities_and_unknown_elements() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>a/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
<Contents><Key>a/x &amp; y&#x2F;z</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>
<ETag>&quot;abc&quot;</ETag><Size>12</Size><Owner><ID>o</ID></Owner><StorageClass>STANDARD</StorageClass>
<ChecksumAlgorithm>CRC32</ChecksumAlgorithm></Contents>
<CommonPrefixes><Prefix>a/d/</Prefix></CommonPrefixes>
<NextContinuationToken>tok+1</NextContinuationToken></ListBucketResult>"#;
        let out = parse_listing(xml).unwrap();
        let objects = out.contents.unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].key.as_deref(), Some("a/x & y/z"));
        assert_eq!(objects[0].size, Some(12));
        assert_eq!(objects[0].e_tag.as_ref().map(ETag::value), Some("abc"));
        assert!(objects[0].last_modified.is_some());
        assert_eq!(
            out.common_prefixes.unwrap()[0].prefix.as_deref(),
            Some("a/d/")
        );
        assert_eq!(out.is_truncated, Some(true));
        assert_eq!(out.next_continuation_token.as_deref(), Some("tok+1"));
        assert_eq!(out.key_count, Some(2));
        assert!(parse_listing("<Error><Code>NoSuchBucket</Code></Error>").is_none());
        assert!(parse_listing("<ListBucketResult><Key>").is_none());
    }
}
