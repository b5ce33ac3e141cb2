//! The admin listener: the control-plane API and console, and `/metrics`.

use super::App;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

pub(super) async fn handle_admin(app: &App, req: Request<Incoming>) -> Response<s3s::Body> {
    use tower::ServiceExt;
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") || (path == "/" || path.starts_with("/console"))
    {
        let resp = match app
            .api
            .clone()
            .oneshot(req.map(|b| {
                axum::body::Body::new(crate::idle::IdleBody::new(b, app.body_idle_timeout()))
            }))
            .await
        {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        return resp.map(s3s::Body::http_body_unsync);
    }
    match (req.method().as_str(), req.uri().path()) {
        ("GET" | "HEAD", "/health") => text_response(StatusCode::OK, "text/plain", "ok\n".into()),
        _ => handle_metrics(app, &req, true),
    }
}

/// `GET /metrics` (anything else is 404). On the admin listener (`authenticate`) it lists every
/// tenant's buckets and traffic, so it needs the admin token or `metrics_token` as a Bearer
/// token; the `metrics_listen` listener serves it without.
pub(super) fn handle_metrics<B>(
    app: &App,
    req: &Request<B>,
    authenticate: bool,
) -> Response<s3s::Body> {
    if (req.method(), req.uri().path()) != (&http::Method::GET, "/metrics") {
        return text_response(StatusCode::NOT_FOUND, "text/plain", "not found\n".into());
    }
    if authenticate && !app.may_read_metrics(req.headers()) {
        let mut resp = text_response(
            StatusCode::UNAUTHORIZED,
            "text/plain",
            "/metrics needs Authorization: Bearer <admin token or metrics_token>\n".into(),
        );
        resp.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"bucketgate metrics\""),
        );
        return resp;
    }
    let mut body = app
        .metrics
        .render(app.gateway.registry().count(), &app.gateway.counters);
    body.push_str(&app.acme.render_metrics());
    text_response(StatusCode::OK, "text/plain; version=0.0.4", body)
}

fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<s3s::Body> {
    let mut resp = Response::new(s3s::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

impl App {
    /// Whether the request's Bearer token is the admin token or `metrics_token`.
    fn may_read_metrics(&self, headers: &http::HeaderMap) -> bool {
        let Some(token) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
        else {
            return false;
        };
        let is = |expected: &str| crate::api::ct_eq(token.as_bytes(), expected.as_bytes());
        is(&self.admin_token.0) || self.config.metrics_token.as_deref().is_some_and(is)
    }
}
