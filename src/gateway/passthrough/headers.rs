//! Headers and bodies on the way through: what of the client's request the server sees,
//! what of the server's answer the client sees, and the aws-chunked framing of bodies with
//! checksum trailers.

use crate::backend::upstream::chunked;
use http::{HeaderMap, HeaderValue};
use s3s::{Body, S3Error, S3ErrorCode, S3Result};

/// Headers that describe the client's hop or its signature, not the request: never forwarded.
pub(super) const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "expect",
    "te",
    "upgrade",
    "proxy-connection",
];

/// Response headers of the server's hop, not of the object.
pub(super) const DROPPED_RESPONSE_HEADERS: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "server"];

/// Query parameters of presigned-URL authentication.
pub(super) const PRESIGN_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// The body sent upstream: a client's aws-chunked body with a checksum trailer is re-framed
/// (the trailer verified as it passes, see [`crate::backend::upstream::chunked`]); the
/// headers that framing needs, and its length on the wire.
pub(super) fn outgoing_body(
    body: Body,
    trailing_headers: Option<s3s::TrailingHeaders>,
    headers: &HeaderMap,
    length: Option<u64>,
) -> (Body, HeaderMap, Option<u64>) {
    let mut extra = HeaderMap::new();
    let Some(trailers) = trailing_headers else {
        return (body, extra, None);
    };
    let announced = headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let decoded = length.unwrap_or(0);
    match chunked::reframe_with_trailer(body, trailers, &announced, decoded) {
        Ok(r) => {
            chunked::upstream_chunked_headers(&mut extra, &r.names, decoded);
            (r.body, extra, Some(r.framed_len))
        }
        Err(body) => (body, extra, None),
    }
}

/// Adds the re-framing headers, with `aws-chunked` first in `Content-Encoding`.
pub(super) fn add_chunked_headers(forward: &mut HeaderMap, extra: &HeaderMap) {
    if extra.is_empty() {
        return;
    }
    for (k, v) in extra {
        forward.insert(k.clone(), v.clone());
    }
    let encoding = forward
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("aws-chunked,{v}"))
        .unwrap_or_else(|| "aws-chunked".to_owned());
    if let Ok(v) = HeaderValue::from_str(&encoding) {
        forward.insert(http::header::CONTENT_ENCODING, v);
    }
}

/// Pins a server-side copy to the source version the gateway's HEAD admitted: the upstream
/// then copies that version or answers 412, never a bigger object that replaced it. A
/// client's own `x-amz-copy-source-if-match` naming another ETag would fail there anyway.
pub(super) fn pin_copy_source(forward: &mut HeaderMap, etag: Option<&str>) -> S3Result<()> {
    let Some(etag) = etag else {
        return Ok(());
    };
    let quoted = format!("\"{etag}\"");
    if let Some(own) = forward.get("x-amz-copy-source-if-match")
        && own.as_bytes() != b"*"
        && own.as_bytes() != quoted.as_bytes()
        && own.as_bytes() != etag.as_bytes()
    {
        return Err(S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        ));
    }
    if let Ok(v) = HeaderValue::from_str(&quoted) {
        forward.insert("x-amz-copy-source-if-match", v);
    }
    Ok(())
}

/// The client's headers as the server should see them.
pub(super) fn forward_headers(headers: &HeaderMap, bucket_prefix: &str) -> HeaderMap {
    let mut forward = HeaderMap::new();
    for (name, value) in headers {
        if DROPPED_REQUEST_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if name == http::header::CONTENT_ENCODING {
            let rest = crate::s3util::strip_aws_chunked(value.to_str().ok().map(str::to_owned));
            if let Some(v) = rest.and_then(|r| HeaderValue::from_str(&r).ok()) {
                forward.insert(name.clone(), v);
            }
            continue;
        }
        if name.as_str() == "x-amz-copy-source" && !bucket_prefix.is_empty() {
            let src = value.to_str().unwrap_or("").trim_start_matches('/');
            if let Ok(v) = HeaderValue::from_str(&format!("/{bucket_prefix}{src}")) {
                forward.insert(name.clone(), v);
            }
            continue;
        }
        forward.append(name.clone(), value.clone());
    }
    forward
}
