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

/// The longest validity SigV4 allows for a presigned URL: seven days, in seconds.
pub const PRESIGN_MAX_SECS: u64 = 7 * 24 * 3600;

/// Clock skew allowed on a SigV2 `Expires` (an absolute time computed on the client's clock),
/// as s3s allows on a SigV4 `X-Amz-Date` (`presigned_url_max_skew_time_secs`).
const PRESIGN_V2_SKEW_SECS: i64 = 900;

/// Refuses a presigned URL valid for longer than `max_secs` (at most seven days), with
/// `AuthorizationQueryParametersError` as AWS does, before s3s checks its signature: s3s takes
/// any `X-Amz-Expires` that fits a `u32` (136 years) and any SigV2 `Expires` in the future.
///
/// Both forms are screened the way s3s detects them: SigV4 by `X-Amz-Signature`
/// (`X-Amz-Expires` in seconds), SigV2 by `Signature` (`Expires` in epoch seconds, capped
/// relative to `now_unix`). A malformed or negative value is refused the same way.
pub fn screen_presign<B>(
    req: &Request<B>,
    max_secs: u64,
    now_unix: i64,
) -> Option<Response<s3s::Body>> {
    let query = req.uri().query()?;
    let max_secs = max_secs.min(PRESIGN_MAX_SECS);
    let params = || {
        query.split('&').map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                k,
                percent_encoding::percent_decode_str(v).decode_utf8_lossy(),
            )
        })
    };
    let has = |name: &str| params().any(|(k, _)| k == name);
    let mut refusal = None;
    if has("X-Amz-Signature") {
        for (_, v) in params().filter(|(k, _)| *k == "X-Amz-Expires") {
            refusal = refusal.or_else(|| v4_expires_refusal(&v, max_secs));
        }
    }
    if has("Signature") {
        for (_, v) in params().filter(|(k, _)| *k == "Expires") {
            refusal = refusal.or_else(|| v2_expires_refusal(&v, max_secs, now_unix));
        }
    }
    refusal.map(|message| {
        s3_error_response(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            &message,
        )
    })
}

/// Why a SigV4 `X-Amz-Expires` is refused (AWS's messages), if it is.
fn v4_expires_refusal(value: &str, max_secs: u64) -> Option<String> {
    let Ok(secs) = value.parse::<i64>() else {
        return Some("X-Amz-Expires should be a number".to_owned());
    };
    if secs < 0 {
        return Some("X-Amz-Expires must be non-negative".to_owned());
    }
    if secs.unsigned_abs() <= max_secs {
        return None;
    }
    Some(if max_secs == PRESIGN_MAX_SECS {
        "X-Amz-Expires must be less than a week (in seconds) that is; 604800".to_owned()
    } else {
        format!("X-Amz-Expires must be at most {max_secs} seconds on this gateway")
    })
}

/// Why a SigV2 `Expires` (epoch seconds) is refused, if it is.
fn v2_expires_refusal(value: &str, max_secs: u64, now_unix: i64) -> Option<String> {
    let Ok(at) = value.parse::<i64>() else {
        return Some("Expires should be a number".to_owned());
    };
    if at < 0 {
        return Some("Expires must be non-negative".to_owned());
    }
    let latest = now_unix
        .saturating_add(i64::try_from(max_secs).unwrap_or(i64::MAX))
        .saturating_add(PRESIGN_V2_SKEW_SECS);
    (at > latest).then(|| format!("Expires must be at most {max_secs} seconds from now"))
}

/// An S3 XML error answer built before s3s sees the request. The body is not read, so the
/// connection is closed after the answer.
fn s3_error_response(status: StatusCode, code: &str, message: &str) -> Response<s3s::Body> {
    let mut resp = Response::new(s3s::Body::from(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

#[cfg(test)]
mod presign_tests {
    use super::*;

    fn screened(query: &str, max: u64) -> Option<u16> {
        let req = Request::get(format!("/b/k?{query}")).body(()).unwrap();
        screen_presign(&req, max, 1_000_000).map(|r| r.status().as_u16())
    }

    #[test]
    fn sigv4_lifetimes_are_capped() {
        let sig = "X-Amz-Signature=00";
        assert_eq!(
            screened(&format!("X-Amz-Expires=604800&{sig}"), PRESIGN_MAX_SECS),
            None
        );
        for bad in ["604801", "1000000000", "-1", "abc", "", "1e3"] {
            assert_eq!(
                screened(&format!("X-Amz-Expires={bad}&{sig}"), PRESIGN_MAX_SECS),
                Some(400),
                "{bad}"
            );
        }
        // The configured cap is lower; a larger one is clamped to seven days.
        assert_eq!(
            screened(&format!("X-Amz-Expires=3601&{sig}"), 3600),
            Some(400)
        );
        assert_eq!(
            screened(&format!("X-Amz-Expires=604801&{sig}"), u64::MAX),
            Some(400)
        );
        // Without a signature it is not a presigned URL (anonymous, as s3s sees it).
        assert_eq!(screened("X-Amz-Expires=abc", PRESIGN_MAX_SECS), None);
    }

    #[test]
    fn sigv2_expiry_is_capped_relative_to_now() {
        let q = |at: &str| format!("AWSAccessKeyId=AK&Expires={at}&Signature=x");
        assert_eq!(screened(&q("1003600"), PRESIGN_MAX_SECS), None);
        assert_eq!(screened(&q("2000000000"), PRESIGN_MAX_SECS), Some(400));
        // Beyond the cap plus the allowed clock skew (900 s).
        assert_eq!(screened(&q("1003600"), 2600), Some(400));
        assert_eq!(screened(&q("1003600"), 2700), None);
        assert_eq!(screened(&q("-5"), PRESIGN_MAX_SECS), Some(400));
        assert_eq!(screened(&q("soon"), PRESIGN_MAX_SECS), Some(400));
    }
}

/// How a request names its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `/<bucket>/<key>` (or no bucket: the service itself).
    Path,
    /// `<bucket>.<S3 base domain>`.
    VirtualHost,
    /// A website host: a linked domain or `<bucket>.<website base domain>`.
    Website,
}

/// Where a request goes, parsed once from its Host and path and carried in its extensions
/// (the pass-through route and the access check read it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The Host, canonical (lower case, no port, no trailing dot).
    pub host: Option<String>,
    pub style: Style,
    /// The bucket addressed, if any.
    pub bucket: Option<String>,
    /// The path after the bucket, from its `/` (still percent-encoded); the whole path when
    /// no bucket is named.
    pub tail: String,
}

impl Target {
    /// The target of `path` under a Host that named `host_bucket` (and how), or path style.
    pub fn new(host: Option<String>, host_bucket: Option<(Style, String)>, path: &str) -> Self {
        if let Some((style, bucket)) = host_bucket {
            return Self {
                host,
                style,
                bucket: Some(bucket),
                tail: path.to_owned(),
            };
        }
        let rest = path.strip_prefix('/').unwrap_or(path);
        let (bucket, tail) = rest.split_once('/').map_or((rest, ""), |(b, t)| (b, t));
        if bucket.is_empty() {
            return Self {
                host,
                style: Style::Path,
                bucket: None,
                tail: path.to_owned(),
            };
        }
        Self {
            host,
            style: Style::Path,
            bucket: Some(bucket.to_owned()),
            tail: format!("/{tail}"),
        }
    }

    /// The object key, percent-decoded, when the request names one.
    pub fn key(&self) -> Option<std::borrow::Cow<'_, str>> {
        let key = self.tail.strip_prefix('/').filter(|k| !k.is_empty())?;
        Some(percent_encoding::percent_decode_str(key).decode_utf8_lossy())
    }
}
