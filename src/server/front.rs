//! The S3 listener's own work around s3s: website hosts, CORS preflights, request screens,
//! the request's target parsed once, and the final touches and accounting on each answer.

use super::App;
use crate::request::Target;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::time::{Duration, Instant};

/// What the S3 listener learns about a request before s3s takes it.
struct S3Ctx {
    started: Instant,
    method: http::Method,
    path: String,
    /// The bucket addressed (virtual-host, website or path style), if any.
    bucket: Option<String>,
    origin: Option<String>,
    /// `Expect: 100-continue` was sent; hyper answers 100 only when the body is read.
    expects_continue: bool,
    empty_body: bool,
    /// Request body bytes (decoded length for aws-chunked).
    bytes_in: u64,
}

impl S3Ctx {
    fn of(req: &Request<Incoming>, target: &Target) -> Self {
        let headers = req.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let path = req.uri().path().to_owned();
        let bucket = target.bucket.clone();
        Self {
            started: Instant::now(),
            method: req.method().clone(),
            bucket,
            path,
            origin: text("origin").map(str::to_owned),
            expects_continue: text("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue")),
            empty_body: text("content-length") == Some("0"),
            bytes_in: text("x-amz-decoded-content-length")
                .or_else(|| text("content-length"))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }
}

/// The S3 listener (`secure`: its HTTPS side): ACME challenges and ownership proofs, websites
/// (redirected to HTTPS when asked), CORS preflights, then the s3s service.
pub(super) async fn handle_s3(
    app: &App,
    mut req: Request<Incoming>,
    secure: bool,
) -> Response<s3s::Body> {
    // Answered before any bucket routing: a challenge must work for a domain not routing yet.
    if let Some(resp) = super::https::well_known(app, &req) {
        return resp;
    }
    // Where the request goes, parsed once; the pass-through route reads it back.
    let (target, website) = app.hosts.target(&req);
    let ctx = S3Ctx::of(&req, &target);
    req.extensions_mut().insert(target);
    // A website host serves its bucket as a website; signed requests (a presigned URL on the
    // bucket's own domain) go to the S3 API, which maps the host to the bucket.
    if let Some(bucket) = website.filter(|_| !crate::request::is_signed(&req)) {
        let host = super::https::request_host(&req);
        if !secure && let Some(resp) = super::https::redirect(app, &host, req.uri()) {
            app.metrics
                .record(resp.status().as_u16(), elapsed_micros(ctx.started));
            return resp;
        }
        let mut resp =
            crate::website::serve(&app.gateway, &bucket, &ctx.method, &ctx.path, req.headers())
                .await;
        if secure {
            super::https::add_hsts(app, &host, resp.headers_mut());
        }
        app.metrics
            .record(resp.status().as_u16(), elapsed_micros(ctx.started));
        return resp;
    }
    if crate::cors::is_preflight(&ctx.method, req.headers()) {
        let resp = crate::cors::preflight(&app.cors_rules(ctx.bucket.as_deref()), req.headers());
        app.metrics
            .record(resp.status().as_u16(), elapsed_micros(ctx.started));
        return resp;
    }
    if let Some(refused) =
        crate::request::screen_request(&mut req, app.config.limits.max_xml_body_bytes)
    {
        app.metrics
            .record(refused.status().as_u16(), elapsed_micros(ctx.started));
        return refused;
    }
    if let Some(refused) = crate::request::screen_presign(
        &req,
        app.config.limits.max_presign_expiry_secs,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    ) {
        app.metrics
            .record(refused.status().as_u16(), elapsed_micros(ctx.started));
        return refused;
    }
    let idle = app.body_idle_timeout();
    let resp = match app.s3.call(req.map(|b| request_body(b, idle))).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = ?e, "s3 service failed");
            let mut r = Response::new(s3s::Body::from(Bytes::from_static(
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>",
            )));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    };
    finish_s3(app, &ctx, resp)
}

/// Final touches on an S3 response, then accounting.
fn finish_s3(app: &App, ctx: &S3Ctx, mut resp: Response<s3s::Body>) -> Response<s3s::Body> {
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        // A 304 carries no body; s3s renders the error document anyway.
        *resp.body_mut() = s3s::Body::empty();
        resp.headers_mut().remove(http::header::CONTENT_LENGTH);
        resp.headers_mut().remove(http::header::CONTENT_TYPE);
    }
    if let Some(origin) = &ctx.origin {
        let rules = app.cors_rules(ctx.bucket.as_deref());
        if let Some(rule) = crate::cors::find_rule(&rules, origin, ctx.method.as_str(), &[]) {
            crate::cors::apply(resp.headers_mut(), rule, origin);
        }
    }
    // A client that sent `Expect: 100-continue` and got a final answer instead of 100 (an empty
    // body, or an error before the body) must not reuse the connection: botocore keeps that
    // answer's status line for the next response on it and stalls. AWS always sends 100; we
    // close instead.
    if ctx.expects_continue && (ctx.empty_body || !status.is_success()) {
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    resp.headers_mut().insert(
        http::header::SERVER,
        http::HeaderValue::from_static("bucketgate"),
    );
    if let Some(b) = ctx
        .bucket
        .as_deref()
        .filter(|b| app.gateway.registry().cached(b).is_some())
    {
        // HEAD answers carry the object's Content-Length but no body.
        let out = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .filter(|_| ctx.method != http::Method::HEAD)
            .unwrap_or(0);
        app.gateway
            .counters
            .record(b, status.as_u16(), ctx.bytes_in, out);
    }
    let micros = elapsed_micros(ctx.started);
    app.metrics.record(status.as_u16(), micros);
    // The path only: the query may hold a presigned URL's signature. Client errors stay at
    // debug so that refused callers cannot flood the error log; 501 is a client's choice too.
    let code = status.as_u16();
    if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
        tracing::error!(method = %ctx.method, path = %ctx.path, status = code, micros, "s3 request failed");
    } else {
        tracing::debug!(method = %ctx.method, path = %ctx.path, status = code, micros, "s3 request");
    }
    resp
}

/// The request body as s3s takes it: behind the body idle timeout when there is one (a
/// request without a body keeps hyper's body as is).
fn request_body(body: Incoming, idle: Duration) -> s3s::Body {
    if http_body::Body::is_end_stream(&body) {
        s3s::Body::from(body)
    } else {
        s3s::Body::http_body(crate::idle::IdleBody::new(body, idle))
    }
}

fn elapsed_micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl App {
    pub(super) fn body_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.config.limits.body_idle_timeout_secs.max(1))
    }

    /// CORS rules for a bucket: its own, then the default rule for the console's origins.
    fn cors_rules(&self, bucket: Option<&str>) -> Vec<crate::meta::CorsRule> {
        let mut rules = bucket
            .and_then(|b| self.gateway.registry().cached(b))
            .and_then(|b| b.cors.clone())
            .unwrap_or_default();
        rules.extend(crate::cors::default_rule(&self.config.console_origins));
        rules
    }
}
