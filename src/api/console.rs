//! The web console's static assets (`console/` embedded with rust-embed; debug builds read the
//! folder from disk so edits need no rebuild), and the two key-less routes it starts with:
//! `GET /api/config` and `GET /api/whoami`.
//!
//! Every asset answer carries a strict CSP (no inline script or style; media and downloads only
//! from the S3 listener), `nosniff`, an ETag that is the hash of the bytes, and `Cache-Control`:
//! the page and unversioned asset URLs are `no-cache` (revalidated by ETag); the page names its
//! assets, and modules their imports, by content-versioned URLs (`?v=`, see [`super::assets`]),
//! which are cached for a year as immutable. Gzip is computed once per asset content and kept.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::error::ApiError;
use crate::control::Actor;

/// Whether a decoded asset path is a plain relative path inside `console/`: no `.`/`..` or
/// empty segments, no backslashes, no control characters (NUL included), no drive letters.
fn safe_asset_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 256
        && !path
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == ':')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Cache lifetime of a versioned asset URL: its bytes never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /`: the console page.
pub async fn index(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    serve(&state, "index.html", &headers, None)
}

/// `GET /console/{*path}`: one asset. The path is taken from the raw URI and decoded here so
/// that `%2e%2e`, `%5c` and `%00` are judged after decoding.
pub async fn asset(State(state): State<ApiState>, headers: HeaderMap, uri: Uri) -> Response {
    let raw = uri.path().strip_prefix("/console/").unwrap_or_default();
    let Ok(path) = percent_encoding::percent_decode_str(raw).decode_utf8() else {
        return not_found();
    };
    if !safe_asset_path(&path) {
        return not_found();
    }
    let version = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("v=")));
    serve(&state, &path, &headers, version)
}

fn not_found() -> Response {
    ApiError::not_found("NoSuchAsset", "no such console asset").into_response()
}

/// One asset; `version` is the `v` of its URL: immutable when it names the current content, and
/// revalidated otherwise (an old page asking for an old version gets today's bytes, which must
/// not be kept under the old URL).
fn serve(state: &ApiState, path: &str, req: &HeaderMap, version: Option<&str>) -> Response {
    let Some(asset) = state.assets.get(path) else {
        return not_found();
    };
    let cache_control = if version == Some(asset.version.as_str()) {
        IMMUTABLE
    } else {
        "no-cache"
    };
    let not_modified = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| etag_matches(v, &asset.etag));
    let gzip = asset.gzip.as_ref().filter(|_| accepts_gzip(req));
    let mut resp = if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::from(gzip.unwrap_or(&asset.raw).clone()))
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if !not_modified {
        h.insert(header::CONTENT_TYPE, asset.content_type.clone());
        if gzip.is_some() {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    security_headers(h, &state.s3_endpoint);
    resp
}

/// Whether an `If-None-Match` list names `etag` (or is `*`); weak forms compare equal.
fn etag_matches(list: &str, etag: &HeaderValue) -> bool {
    let etag = etag.to_str().unwrap_or_default();
    list.split(',')
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// Whether `Accept-Encoding` allows gzip (present with a non-zero q).
fn accepts_gzip(req: &HeaderMap) -> bool {
    req.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

/// The console's Content-Security-Policy: everything from its own origin; media, previews and
/// direct uploads may also reach the S3 listener.
pub fn csp(s3_endpoint: &str) -> String {
    let s3 = csp_source(s3_endpoint);
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: {s3}; \
         media-src {s3} blob:; connect-src 'self' {s3}; frame-src {s3}; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

/// The origin of the S3 endpoint as a CSP source (no path, nothing that could end the
/// directive).
fn csp_source(endpoint: &str) -> String {
    let origin = match endpoint.find("://") {
        Some(i) => {
            let rest = &endpoint[i + 3..];
            let end = rest.find('/').unwrap_or(rest.len());
            &endpoint[..i + 3 + end]
        }
        None => endpoint,
    };
    origin
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != ';' && *c != ',' && *c != '\'')
        .collect()
}

fn security_headers(h: &mut HeaderMap, s3_endpoint: &str) {
    if let Ok(v) = HeaderValue::from_str(&csp(s3_endpoint)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// `GET /api/config` (no credentials): what the console needs before sign-in.
pub async fn config(State(state): State<ApiState>) -> axum::Json<Value> {
    axum::Json(json!({
        "s3Endpoint": state.s3_endpoint.as_ref(),
        "region": state.control.gateway().region(),
        "baseDomain": state.site.base_domain,
        "websiteBaseDomain": state.site.website_base_domain,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /api/whoami`: who the credentials belong to.
pub async fn whoami(caller: Caller) -> axum::Json<Value> {
    let user = match &caller.actor {
        Actor::Admin => None,
        Actor::User(id) => Some(id.clone()),
    };
    axum::Json(json!({
        "admin": caller.is_admin(),
        "user": user,
        "accessKey": caller.access_key,
    }))
}

/// Host names the console shows in connection details and website links.
#[derive(Debug, Clone, Default)]
pub struct Site {
    pub base_domain: String,
    pub website_base_domain: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_stay_inside_the_folder() {
        for ok in ["index.html", "js/api.js", "js/pages/buckets.js"] {
            assert!(safe_asset_path(ok), "{ok}");
        }
        for bad in [
            "",
            "../Cargo.toml",
            "js/../../x",
            "./index.html",
            "js//a.js",
            "a\\b",
            "a\0b",
            "C:x",
            "/etc/passwd",
        ] {
            assert!(!safe_asset_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.5"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, identity"),
        );
        assert!(!accepts_gzip(&h));
    }

    #[test]
    fn csp_names_the_s3_origin_only() {
        let c = csp("http://127.0.0.1:9000/some/path");
        assert!(
            c.contains("connect-src 'self' http://127.0.0.1:9000;"),
            "{c}"
        );
        assert!(!c.contains("/some"));
        assert!(csp("http://x;script-src *").contains("http://xscript-src"));
    }

    #[test]
    fn etags_match_strong_weak_and_star() {
        let e = HeaderValue::from_static("\"abc\"");
        assert!(etag_matches("\"abc\"", &e));
        assert!(etag_matches("\"x\", W/\"abc\"", &e));
        assert!(etag_matches("*", &e));
        assert!(!etag_matches("\"abd\"", &e));
    }
}
