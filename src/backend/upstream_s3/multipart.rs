//! Multipart uploads on buckets of another S3 server, for the gateway's own calls (the API's
//! upload routes): create, list parts, complete and abort as signed requests to the bucket's
//! upstream. The parts themselves never pass here: clients send them to the S3 listener,
//! which forwards them whole.

use http::{HeaderMap, Method};
use s3s::dto::*;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::{UpstreamS3, encode_key, failure};
use crate::backend::upstream::{body_text, upstream_error};
use crate::s3util::url_encode;

/// Largest answer read (a ListParts page of 1000 parts fits many times over).
const MAX_ANSWER: usize = 4 << 20;

/// Sends one request to the bucket's upstream and returns the answer's text.
async fn call(
    f: &UpstreamS3,
    bucket: &str,
    method: Method,
    key: &str,
    query: &str,
    body: Option<String>,
) -> S3Result<String> {
    let lease = f.lease(bucket).await?;
    let target = format!(
        "/{}/{}?{query}",
        lease.upstream.upstream_bucket(bucket),
        encode_key(key)
    );
    let (body, len) = match body {
        Some(b) => {
            let len = b.len() as u64;
            (Body::from(b), Some(len))
        }
        None => (Body::empty(), None),
    };
    let resp = lease
        .upstream
        .send_holding(method, &target, HeaderMap::new(), body, len, lease.hold)
        .await
        .map_err(|e| e.error)?;
    let (parts, body) = resp.into_parts();
    if !parts.status.is_success() {
        return Err(failure(parts.status, body).await);
    }
    let text = body_text(body, MAX_ANSWER).await;
    // CompleteMultipartUpload may fail after its 200 head: the body is then an <Error>.
    if text.contains("<Error>") {
        return Err(upstream_error(http::StatusCode::BAD_REQUEST, &text));
    }
    Ok(text)
}

fn unreadable() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::ServiceUnavailable,
        "The bucket's storage server sent an unreadable answer",
    )
}

/// The text of `<tag>` in `xml`, XML entities decoded.
fn text(xml: &str, tag: &str) -> Option<String> {
    crate::s3util::xml_text(xml, tag).map(|t| {
        t.replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#34;", "\"")
            .replace("&amp;", "&")
    })
}

fn etag(xml: &str) -> Option<ETag> {
    let t = text(xml, "ETag")?;
    ETag::parse_http_header(t.trim().as_bytes())
        .ok()
        .or_else(|| Some(ETag::Strong(t.trim().trim_matches('"').to_owned())))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub async fn create(
    f: &UpstreamS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let i = &req.input;
    let lease = f.lease(&i.bucket).await?;
    let target = format!(
        "/{}/{}?uploads",
        lease.upstream.upstream_bucket(&i.bucket),
        encode_key(&i.key)
    );
    let mut h = HeaderMap::new();
    if let Some(v) = i
        .content_type
        .as_deref()
        .and_then(|ct| http::HeaderValue::from_str(ct).ok())
    {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    let resp = lease
        .upstream
        .send_holding(Method::POST, &target, h, Body::empty(), None, lease.hold)
        .await
        .map_err(|e| e.error)?;
    let (parts, body) = resp.into_parts();
    if !parts.status.is_success() {
        return Err(failure(parts.status, body).await);
    }
    let xml = body_text(body, MAX_ANSWER).await;
    let upload_id = text(&xml, "UploadId").ok_or_else(unreadable)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        upload_id: Some(upload_id),
        ..Default::default()
    }))
}

pub async fn list_parts(
    f: &UpstreamS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let i = &req.input;
    let mut query = format!("uploadId={}", url_encode(&i.upload_id));
    if let Some(m) = i.part_number_marker {
        query.push_str(&format!("&part-number-marker={m}"));
    }
    let xml = call(f, &i.bucket, Method::GET, &i.key, &query, None).await?;
    let mut parts = Vec::new();
    for chunk in xml.split("<Part>").skip(1) {
        let chunk = chunk.split("</Part>").next().unwrap_or_default();
        parts.push(Part {
            part_number: text(chunk, "PartNumber").and_then(|n| n.trim().parse().ok()),
            size: text(chunk, "Size").and_then(|n| n.trim().parse().ok()),
            e_tag: etag(chunk),
            ..Default::default()
        });
    }
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        upload_id: Some(i.upload_id.clone()),
        is_truncated: text(&xml, "IsTruncated").map(|t| t.trim() == "true"),
        next_part_number_marker: text(&xml, "NextPartNumberMarker")
            .and_then(|n| n.trim().parse().ok()),
        parts: Some(parts),
        ..Default::default()
    }))
}

pub async fn complete(
    f: &UpstreamS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let i = &req.input;
    let mut body = String::from("<CompleteMultipartUpload>");
    for p in i
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_ref())
        .into_iter()
        .flatten()
    {
        let n = p.part_number.unwrap_or_default();
        let e = p
            .e_tag
            .as_ref()
            .map(|e| e.value().to_owned())
            .unwrap_or_default();
        body.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>\"{}\"</ETag></Part>",
            escape(&e)
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    let query = format!("uploadId={}", url_encode(&i.upload_id));
    let xml = call(f, &i.bucket, Method::POST, &i.key, &query, Some(body)).await?;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        e_tag: etag(&xml),
        version_id: text(&xml, "VersionId"),
        ..Default::default()
    }))
}

pub async fn abort(
    f: &UpstreamS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let i = &req.input;
    let query = format!("uploadId={}", url_encode(&i.upload_id));
    call(f, &i.bucket, Method::DELETE, &i.key, &query, None).await?;
    Ok(S3Response::with_status(
        AbortMultipartUploadOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}
