//! Copies between buckets on different servers: every container bucket is a server of its own,
//! so `aws s3 cp s3://a/x s3://b/x` between two of them (or between an embedded and a container
//! bucket) cannot be a server-side copy. The gateway streams the source through instead: a GET
//! of the source (with the copy's conditions and range) feeds the destination's PUT, with
//! bounded buffers, and the answer is the `CopyObjectResult`/`CopyPartResult` S3 clients
//! expect.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use s3s::dto::*;
use s3s::{Body, S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::Backends;
use crate::policy::{Reservation, SharedReservation};
use crate::s3util::internal_request;
use crate::s3util::{metadata_bytes, metadata_header_bytes, tagging_header_bytes};

/// Grows the reservation the gateway passed with a copy to what it really stores.
fn settle(b: &Backends, ext: &http::Extensions, bucket: &str, bytes: u64) -> S3Result<()> {
    match ext.get::<SharedReservation>() {
        Some(r) => r.grow_to(bytes, || b.registry.usage(bucket).map_err(Into::into)),
        None => Ok(()),
    }
}

/// Headers of a copy request that describe the source or the copy itself.
const COPY_HEADERS: &[&str] = &[
    "x-amz-copy-source",
    "x-amz-copy-source-range",
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-modified-since",
    "x-amz-copy-source-if-unmodified-since",
    "x-amz-metadata-directive",
    "x-amz-tagging-directive",
];

/// Object headers taken from the source when the metadata directive is `COPY`.
const CONTENT_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
];

fn text(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The source object of a copy, read with the copy's conditions (a condition that fails is
/// `412 PreconditionFailed`, as S3 answers copies) and range.
pub async fn read_source(
    b: &Backends,
    source: &CopySource,
    headers: &HeaderMap,
    range: Option<&str>,
) -> S3Result<GetObjectOutput> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Only bucket copy sources are supported",
        ));
    };
    let etag = |n: &str| {
        text(headers, n).and_then(|v| ETagCondition::parse_http_header(v.as_bytes()).ok())
    };
    let date = |n: &str| {
        text(headers, n).and_then(|v| Timestamp::parse(TimestampFormat::HttpDate, &v).ok())
    };
    let input = GetObjectInput::builder()
        .bucket(bucket.to_string())
        .key(key.to_string())
        .version_id(version_id.as_ref().map(ToString::to_string))
        .if_match(etag("x-amz-copy-source-if-match"))
        .if_none_match(etag("x-amz-copy-source-if-none-match"))
        .if_modified_since(date("x-amz-copy-source-if-modified-since"))
        .if_unmodified_since(date("x-amz-copy-source-if-unmodified-since"))
        .range(range.map(Range::parse).transpose().map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "The x-amz-copy-source-range value is not valid",
            )
        })?)
        .build()
        .map_err(|_| crate::error::internal("building a copy's request"))?;
    let rec = b.registry.resolve(bucket)?;
    match b
        .s3(&rec)
        .s3()
        .get_object(internal_request(input, Method::GET))
        .await
    {
        Ok(out) => Ok(out.output),
        Err(e) if e.status_code() == Some(StatusCode::NOT_MODIFIED) => Err(S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )),
        Err(e) => Err(e),
    }
}

/// The source's object headers, as a PUT would send them.
fn source_headers(src: &GetObjectOutput) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, v: Option<String>| {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    };
    put("content-type", src.content_type.clone());
    put("content-encoding", src.content_encoding.clone());
    put("content-disposition", src.content_disposition.clone());
    put("content-language", src.content_language.clone());
    put("cache-control", src.cache_control.clone());
    put(
        "expires",
        src.expires.as_ref().and_then(|t| {
            let mut buf = Vec::new();
            t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
            String::from_utf8(buf).ok()
        }),
    );
    for (k, v) in src.metadata.iter().flatten() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from(format!("x-amz-meta-{k}")),
            HeaderValue::from_str(v),
        ) {
            h.insert(n, v);
        }
    }
    h
}

/// Where a streamed copy goes: the destination bucket, the request target after it (key and
/// query), and whether it is a part (UploadPartCopy).
pub struct CopyTarget<'a> {
    pub bucket: &'a str,
    pub tail: &'a str,
    pub part: bool,
}

/// A copy into a forwarded bucket from a bucket on another server: the PUT (or UploadPart,
/// when `part` is set) goes to the destination's upstream with the source streamed as its
/// body. `forward` holds the client's headers as the destination should see them;
/// `admitted` is the quota reservation, grown to what is really copied.
pub async fn stream_into_forwarded(
    b: &Backends,
    source: &CopySource,
    target: CopyTarget<'_>,
    headers: &HeaderMap,
    mut forward: HeaderMap,
    admitted: Option<&mut Reservation>,
) -> S3Result<S3Response<Body>> {
    let CopyTarget {
        bucket: dest_bucket,
        tail: target_tail,
        part,
    } = target;
    let range = text(headers, "x-amz-copy-source-range");
    let src = read_source(b, source, headers, range.as_deref().filter(|_| part)).await?;
    let len = src
        .content_length
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| crate::error::internal("a copy source answered without a length"))?;
    let replace = text(headers, "x-amz-metadata-directive").is_some_and(|d| d == "REPLACE");
    // What this copy really stores (the source read now, not the one the gateway's HEAD
    // saw): the reservation grows to it or the copy is refused before anything is sent.
    // The upstream PUT declares `len`, so no more than that can reach it.
    let meta = match (part, replace) {
        (true, _) => 0,
        (false, true) => metadata_header_bytes(headers),
        (false, false) => metadata_bytes(src.metadata.as_ref()),
    };
    let stored = len + meta + tagging_header_bytes(text(headers, "x-amz-tagging").as_deref());
    if let Some(r) = admitted {
        r.grow_to(stored, || b.registry.usage(dest_bucket).map_err(Into::into))?;
    }
    headers_for_copy(&mut forward, part, replace, &src);
    let body = src.body.map_or_else(Body::empty, Body::from);
    let lease = b.upstream_for(dest_bucket).await?;
    let target = format!(
        "/{}{target_tail}",
        lease.upstream.upstream_bucket(dest_bucket)
    );
    let resp = lease
        .upstream
        .send_holding(Method::PUT, &target, forward, body, Some(len), lease.hold)
        .await
        .map_err(|f| f.error)?;
    let (parts, body) = resp.into_parts();
    if !parts.status.is_success() {
        let xml = crate::backend::upstream::body_text(body, 64 << 10).await;
        return Err(crate::backend::upstream::upstream_error(parts.status, &xml));
    }
    b.registry
        .note_upload(dest_bucket, stored, u64::from(!part))
        .await;
    let etag = text(&parts.headers, "etag").unwrap_or_default();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let root = if part {
        "CopyPartResult"
    } else {
        "CopyObjectResult"
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><{root} xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>{now}</LastModified><ETag>{}</ETag></{root}>",
        quick_xml::escape::escape(etag.as_str())
    );
    let mut out = S3Response::new(Body::from(xml));
    out.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Some(v) = parts.headers.get("x-amz-version-id") {
        out.headers.insert("x-amz-version-id", v.clone());
    }
    Ok(out)
}

/// The destination request's headers for a streamed copy: the copy's own headers go; a part
/// carries no object headers; a `COPY` directive takes the source's content headers and
/// metadata.
fn headers_for_copy(forward: &mut HeaderMap, part: bool, replace: bool, src: &GetObjectOutput) {
    for name in COPY_HEADERS {
        forward.remove(*name);
    }
    if part {
        // A part has no object headers of its own.
        for name in CONTENT_HEADERS {
            forward.remove(*name);
        }
        let metadata: Vec<_> = forward
            .keys()
            .filter(|k| k.as_str().starts_with("x-amz-meta-"))
            .cloned()
            .collect();
        for k in metadata {
            forward.remove(k);
        }
    } else if !replace {
        for name in CONTENT_HEADERS {
            forward.remove(*name);
        }
        forward.extend(source_headers(src));
    }
}

/// CopyObject into an embedded bucket from a forwarded one.
pub async fn copy_into_embedded(
    b: &Backends,
    embedded: &dyn S3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let i = req.input;
    let src = read_source(b, &i.copy_source, &req.headers, None).await?;
    let replace = i
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let meta = if replace {
        metadata_bytes(i.metadata.as_ref())
    } else {
        metadata_bytes(src.metadata.as_ref())
    };
    let len = src
        .content_length
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    // The PUT below declares the length read now; admit that (plus metadata and tags).
    let stored = len + meta + tagging_header_bytes(i.tagging.as_deref());
    settle(b, &req.extensions, &i.bucket, stored)?;
    let mut put = PutObjectInput::builder()
        .bucket(i.bucket)
        .key(i.key)
        .content_length(src.content_length)
        .tagging(i.tagging)
        .storage_class(i.storage_class);
    put = if replace {
        put.content_type(i.content_type)
            .content_encoding(i.content_encoding)
            .content_disposition(i.content_disposition)
            .content_language(i.content_language)
            .cache_control(i.cache_control)
            .expires(i.expires)
            .metadata(i.metadata)
    } else {
        put.content_type(src.content_type)
            .content_encoding(src.content_encoding)
            .content_disposition(src.content_disposition)
            .content_language(src.content_language)
            .cache_control(src.cache_control)
            .expires(src.expires)
            .metadata(src.metadata)
    };
    let input = put
        .body(src.body)
        .build()
        .map_err(|_| crate::error::internal("building a copy's request"))?;
    let out = embedded
        .put_object(internal_request(input, Method::PUT))
        .await?
        .output;
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: out.e_tag,
            last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        }),
        version_id: out.version_id,
        ..Default::default()
    }))
}

/// UploadPartCopy into an embedded bucket's upload from a forwarded source.
pub async fn upload_part_copy_into_embedded(
    b: &Backends,
    embedded: &dyn S3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let i = req.input;
    let range = i.copy_source_range.clone();
    let src = read_source(b, &i.copy_source, &req.headers, range.as_deref()).await?;
    let len = src
        .content_length
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    settle(b, &req.extensions, &i.bucket, len)?;
    let input = UploadPartInput::builder()
        .bucket(i.bucket)
        .key(i.key)
        .upload_id(i.upload_id)
        .part_number(i.part_number)
        .content_length(src.content_length)
        .body(src.body)
        .build()
        .map_err(|_| crate::error::internal("building a copy's request"))?;
    let out = embedded
        .upload_part(internal_request(input, Method::PUT))
        .await?
        .output;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: out.e_tag,
            last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        }),
        ..Default::default()
    }))
}
