//! Inspecting and screening S3 requests before s3s sees them.

use http::{Request, Response, StatusCode};

/// Fixes or refuses what s3s would mishandle, before it sees the request:
/// - a malformed `Range` header is ignored, as S3 does (s3s would answer 400);
/// - a declared XML body (any request but an object upload or a form POST) larger than the
///   cap is refused at once with `MaxMessageLengthExceeded` instead of being read.
pub fn screen_request<B>(req: &mut Request<B>, max_xml: usize) -> Option<Response<s3s::Body>> {
    let bad_range = req.headers().get(http::header::RANGE).is_some_and(|v| {
        v.to_str()
            .map_or(true, |r| s3s::dto::Range::parse(r).is_err())
    });
    // A signed Range header must stay (the signature covers it); s3s then answers 400.
    if bad_range && !range_is_signed(req) {
        req.headers_mut().remove(http::header::RANGE);
    }
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())?;
    let query = req.uri().query().unwrap_or("");
    let is_xml_subresource = query.split('&').any(|p| {
        let name = p.split('=').next().unwrap_or("");
        matches!(
            name,
            "delete"
                | "tagging"
                | "cors"
                | "website"
                | "acl"
                | "versioning"
                | "lifecycle"
                | "policy"
                | "encryption"
                | "notification"
                | "replication"
                | "object-lock"
                | "retention"
                | "legal-hold"
                | "ownershipControls"
                | "publicAccessBlock"
        )
    });
    let completes_upload =
        req.method() == http::Method::POST && query.split('&').any(|p| p.starts_with("uploadId="));
    let xml = is_xml_subresource || completes_upload;
    if xml && declared > max_xml as u64 {
        let mut resp = Response::new(s3s::Body::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>MaxMessageLengthExceeded</Code><Message>Your request was too big: XML bodies are limited to {max_xml} bytes.</Message></Error>"
        )));
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/xml"),
        );
        // The body is not read: the connection cannot be reused.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return Some(resp);
    }
    None
}

/// Whether `range` is among the SigV4 signed headers (header or presigned-query auth).
fn range_is_signed<B>(req: &Request<B>) -> bool {
    let from_header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("SignedHeaders=").nth(1))
        .map(|rest| rest.split([',', ' ']).next().unwrap_or("").to_owned());
    let from_query = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|p| p.strip_prefix("X-Amz-SignedHeaders="))
            .map(|v| v.replace("%3B", ";").replace("%3b", ";"))
    });
    from_header
        .or(from_query)
        .is_some_and(|list| list.split(';').any(|h| h.eq_ignore_ascii_case("range")))
}

/// Whether a request carries SigV4 credentials (header or presigned query).
pub fn is_signed<B>(req: &Request<B>) -> bool {
    req.headers().contains_key(http::header::AUTHORIZATION)
        || req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("X-Amz-Signature=")))
}

/// The Host of a request without its port, lower-cased (HTTP/2 uses the URI authority).
pub fn request_host<B>(req: &Request<B>) -> Option<&str> {
    let raw = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(http::uri::Authority::as_str))?;
    Some(strip_port(raw))
}

/// A Host value without its port (`[v6]:port` gives `v6`).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}
