//! The control-plane REST API under `/api` on the admin listener (JSON in, JSON out).
//!
//! Authentication: `Authorization: Bearer <admin token>` acts as the admin; a user's access
//! key pair (`Authorization: Bearer <access key>:<secret key>`) acts as that user, who sees only
//! their own buckets and keys (another user's bucket is "not found"); root's key pair acts as
//! the admin. Errors are `{"error": {"code", "message"}}` with a proper status.
//!
//! One route table ([`ROUTES`]) builds the router and is checked against the OpenAPI document.

mod assets;
mod auth;
mod buckets;
mod console;
mod error;
mod history;
mod objects;
pub mod openapi;
mod presign;
mod uploads;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub use assets::AssetCache;
pub use auth::ct_eq;
pub use console::Site;
pub use error::{ApiError, MAX_JSON_BODY};

use crate::control::Control;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    pub control: Arc<Control>,
    /// The admin token, compared in constant time.
    pub admin_token: Arc<str>,
    /// Public S3 endpoint URL used in connection details and presigned URLs.
    pub s3_endpoint: Arc<str>,
    /// Longest validity of the presigned URLs the API issues (`limits.max_presign_expiry_secs`).
    pub max_presign_expiry_secs: u64,
    /// Host names the console shows (`GET /api/config`).
    pub site: Arc<Site>,
    /// The console's assets, prepared (versioned references, ETag, gzip) once per content.
    pub assets: Arc<AssetCache>,
}

/// Declares every route once: [`ROUTES`] lists them (method, axum path) and `api_routes`
/// registers them.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:expr;)*) => {
        /// Every route of the admin listener's router: (method, path in axum syntax).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn api_routes() -> Router<ApiState> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

route_table! {
    get "/" => console::index;
    get "/console/{*path}" => console::asset;
    get "/api/openapi.json" => openapi_json;
    get "/api/config" => console::config;
    get "/api/whoami" => console::whoami;
    post "/api/buckets" => buckets::create;
    get "/api/buckets" => buckets::list;
    get "/api/buckets/{name}" => buckets::show;
    patch "/api/buckets/{name}" => buckets::update;
    delete "/api/buckets/{name}" => buckets::delete;
    post "/api/buckets/{name}/start" => buckets::start;
    post "/api/buckets/{name}/stop" => buckets::stop;
    get "/api/buckets/{name}/stats" => buckets::stats;
    get "/api/buckets/{name}/stats/history" => history::get;
    post "/api/buckets/{name}/sync" => buckets::sync;
    get "/api/buckets/{name}/objects" => objects::list;
    post "/api/buckets/{name}/objects" => objects::upload;
    get "/api/buckets/{name}/objects/{*key}" => objects::get;
    delete "/api/buckets/{name}/objects/{*key}" => objects::delete;
    post "/api/buckets/{name}/presigned-upload" => presign::upload;
    post "/api/buckets/{name}/presigned-download" => presign::download;
    post "/api/buckets/{name}/uploads" => uploads::create;
    post "/api/buckets/{name}/uploads/{uploadId}/parts" => uploads::presign_parts;
    get "/api/buckets/{name}/uploads/{uploadId}/parts" => uploads::list_parts;
    post "/api/buckets/{name}/uploads/{uploadId}/complete" => uploads::complete;
    delete "/api/buckets/{name}/uploads/{uploadId}" => uploads::abort;
    post "/api/buckets/{name}/domain" => buckets::link_domain;
    delete "/api/buckets/{name}/domain" => buckets::unlink_domain;
    get "/api/buckets/{name}/domain/check" => buckets::check_domain;
    post "/api/users" => users::create;
    get "/api/users" => users::list;
    get "/api/users/{id}" => users::show;
    delete "/api/users/{id}" => users::delete;
    post "/api/users/{id}/keys" => users::create_key;
    get "/api/users/{id}/keys" => users::list_keys;
    patch "/api/users/{id}/keys/{accessKey}" => users::update_key;
    delete "/api/users/{id}/keys/{accessKey}" => users::delete_key;
}

/// The router of the admin listener: `/api/…` and the console (`/`, `/console/…`).
pub fn router(state: ApiState) -> Router {
    api_routes()
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        // JSON bodies have their own cap; uploads stream without one (quotas bound them).
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::not_found("NoSuchRoute", "no such API route")
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "this route does not accept the method",
    )
}

async fn openapi_json() -> Response {
    axum::Json(openapi::document()).into_response()
}
