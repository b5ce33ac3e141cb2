//! CORS for browsers talking to the S3 listener: preflight `OPTIONS` answered from the
//! bucket's rules (S3 `PutBucketCors`) plus the configured default rule that lets the console's
//! own origin in; matching actual requests get `Access-Control-Allow-Origin` and friends.

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::meta::CorsRule;

/// Does `pattern` (at most one `*` wildcard, as S3 allows) match `value`?
fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(value),
        Some((pre, post)) => {
            value.len() >= pre.len() + post.len()
                && value[..pre.len()].eq_ignore_ascii_case(pre)
                && value[value.len() - post.len()..].eq_ignore_ascii_case(post)
        }
    }
}

/// The first rule allowing `origin` to use `method` with `headers` (lower-case names).
pub fn find_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard_match(o, origin))
            && r.allowed_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method))
            && headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard_match(a, h)))
    })
}

fn header(v: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(v).ok()
}

/// Adds the CORS headers of `rule` for `origin` to a response.
pub fn apply(headers: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let allow_any = rule.allowed_origins.iter().any(|o| o == "*");
    if let Some(v) = header(if allow_any { "*" } else { origin }) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if !allow_any {
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if !rule.expose_headers.is_empty()
        && let Some(v) = header(&rule.expose_headers.join(", "))
    {
        headers.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    headers.append(http::header::VARY, HeaderValue::from_static("Origin"));
}

/// Answers a preflight request: 200 with the allowed method, headers and max age, or 403 when
/// no rule allows it (as S3 does).
pub fn preflight(rules: &[CorsRule], req_headers: &HeaderMap) -> Response<s3s::Body> {
    let get = |name| {
        req_headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let origin = get(http::header::ORIGIN);
    let method = get(http::header::ACCESS_CONTROL_REQUEST_METHOD);
    let requested: Vec<String> = get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .map(|h| {
            h.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let (Some(origin), Some(method)) = (origin, method) else {
        return forbidden("Insufficient information. Origin request header needed.");
    };
    let Some(rule) = find_rule(rules, origin, method, &requested) else {
        return forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        );
    };
    let mut resp = Response::new(s3s::Body::empty());
    let h = resp.headers_mut();
    apply(h, rule, origin);
    if let Some(v) = header(method) {
        h.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if !requested.is_empty()
        && let Some(v) = header(&requested.join(", "))
    {
        h.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    if let Some(age) = rule.max_age_seconds {
        h.insert(http::header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    resp
}

fn forbidden(msg: &str) -> Response<s3s::Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessForbidden</Code><Message>{msg}</Message></Error>"
    );
    let mut resp = Response::new(s3s::Body::from(body));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

/// The default rule: the console's origins may do everything a browser client needs.
pub fn default_rule(origins: &[String]) -> Option<CorsRule> {
    (!origins.is_empty()).then(|| CorsRule {
        allowed_origins: origins.to_vec(),
        allowed_methods: ["GET", "PUT", "POST", "DELETE", "HEAD"]
            .map(String::from)
            .to_vec(),
        allowed_headers: vec!["*".to_owned()],
        // The console's upload engine reads part ETags; previews read ranges.
        expose_headers: [
            "ETag",
            "Content-Length",
            "Content-Type",
            "x-amz-version-id",
            "Content-Range",
            "Accept-Ranges",
        ]
        .map(String::from)
        .to_vec(),
        max_age_seconds: Some(3600),
    })
}

/// Is this an actual (non-preflight) cross-origin request method?
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> CorsRule {
        CorsRule {
            allowed_origins: vec!["https://*.example.com".into()],
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_headers: vec!["content-type".into(), "x-amz-*".into()],
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(600),
        }
    }

    #[test]
    fn rules_match_origin_method_and_headers() {
        let rules = [rule()];
        assert!(
            find_rule(
                &rules,
                "https://app.example.com",
                "PUT",
                &["x-amz-date".into()]
            )
            .is_some()
        );
        assert!(find_rule(&rules, "https://evil.com", "PUT", &[]).is_none());
        assert!(find_rule(&rules, "https://app.example.com", "DELETE", &[]).is_none());
        assert!(
            find_rule(
                &rules,
                "https://app.example.com",
                "GET",
                &["authorization".into()]
            )
            .is_none()
        );
    }

    #[test]
    fn preflight_answers_or_refuses() {
        let rules = [rule()];
        let mut h = HeaderMap::new();
        h.insert(
            "origin",
            HeaderValue::from_static("https://app.example.com"),
        );
        h.insert(
            "access-control-request-method",
            HeaderValue::from_static("PUT"),
        );
        h.insert(
            "access-control-request-headers",
            HeaderValue::from_static("Content-Type"),
        );
        let ok = preflight(&rules, &h);
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(ok.headers()["access-control-max-age"], "600");
        h.insert("origin", HeaderValue::from_static("https://other.org"));
        assert_eq!(preflight(&rules, &h).status(), StatusCode::FORBIDDEN);
    }
}
