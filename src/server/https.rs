//! The S3 listener's part in automatic HTTPS: ACME HTTP-01 challenges, `http` ownership
//! proofs and the gateway's own reachability answer served before any routing, HTTP → HTTPS redirects and HSTS for website hosts
//! that have an issued certificate.

use super::App;
use crate::acme::{ANSWER_PATH, HTTP01_PATH, PROOF_PATH};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};

/// The request's Host, canonical (empty when it has none).
pub(super) fn request_host<B>(req: &Request<B>) -> String {
    crate::request::request_host(req)
        .map(|h| crate::hosts::canonical(h).into_owned())
        .unwrap_or_default()
}

/// The answer to `GET /.well-known/acme-challenge/<token>` (the key authorization), to
/// `GET /.well-known/bucketgate-challenge/<token>` (the token) or to
/// `GET /.well-known/bucketgate/<token>` (the token, when it is this process's for the Host:
/// the reachability check of linked domains); `None` for other paths, and for that last path
/// with any other token or method: it is then an ordinary request (an object under that prefix
/// stays reachable), since only the secret token is ours.
pub(super) fn well_known<B>(app: &App, req: &Request<B>) -> Option<Response<s3s::Body>> {
    let path = req.uri().path();
    let read = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
    if let Some(token) = path.strip_prefix(ANSWER_PATH) {
        let answer = app.acme.gateway_answer(&request_host(req), token);
        return answer.filter(|_| read).map(|t| plain(StatusCode::OK, t));
    }
    let acme = path.strip_prefix(HTTP01_PATH);
    let proof = path.strip_prefix(PROOF_PATH);
    let token = acme.or(proof)?;
    if !read {
        return Some(plain(StatusCode::METHOD_NOT_ALLOWED, String::new()));
    }
    let host = request_host(req);
    let answer = if acme.is_some() {
        app.acme.http01_answer(&host, token)
    } else {
        app.acme.proof_answer(&host, token)
    };
    Some(match answer {
        Some(text) => plain(StatusCode::OK, text),
        None => plain(StatusCode::NOT_FOUND, "no such challenge\n".to_owned()),
    })
}

/// A `308` to the same URL over HTTPS, when redirects are on and `host` has a certificate.
pub(super) fn redirect(app: &App, host: &str, uri: &Uri) -> Option<Response<s3s::Body>> {
    if !app.acme.acme_config().redirect_http || !app.acme.has_cert(host) {
        return None;
    }
    let port = app
        .https_port
        .filter(|p| *p != 443)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let location = HeaderValue::try_from(format!("https://{host}{port}{target}")).ok()?;
    let mut resp = plain(StatusCode::PERMANENT_REDIRECT, String::new());
    resp.headers_mut().insert(http::header::LOCATION, location);
    Some(resp)
}

/// `Strict-Transport-Security` on an HTTPS website answer, when configured and `host` has a
/// certificate of its own.
pub(super) fn add_hsts(app: &App, host: &str, headers: &mut HeaderMap) {
    let age = app.acme.acme_config().hsts_max_age_secs;
    if age == 0 || !app.acme.has_cert(host) {
        return;
    }
    if let Ok(v) = HeaderValue::try_from(format!("max-age={age}")) {
        headers.insert(http::header::STRICT_TRANSPORT_SECURITY, v);
    }
}

fn plain(status: StatusCode, body: String) -> Response<s3s::Body> {
    let mut resp = Response::new(s3s::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    resp
}
