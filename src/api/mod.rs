//! The control-plane REST API under `/api` on the admin listener (JSON in, JSON out).
//!
//! Authentication: `Authorization: Bearer <admin token>` acts as the admin; a user's access
//! key pair (`Authorization: Bearer <access key>:<secret key>`) acts as that user, who sees only
//! their own buckets and keys. Errors are `{"error": {"code", "message"}}` with a proper status.

use std::sync::Arc;

use axum::Router;

use crate::control::Control;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    pub control: Arc<Control>,
    /// The admin token, compared in constant time.
    pub admin_token: Arc<str>,
    /// Public S3 endpoint URL used in connection details and presigned URLs.
    pub s3_endpoint: Arc<str>,
}

/// The router of the admin listener: `/api/…` (and, later, the console).
pub fn router(state: ApiState) -> Router {
    Router::new().with_state(state)
}
