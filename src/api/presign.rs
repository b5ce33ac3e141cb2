//! Presigned S3 URLs for one object, signed with the caller's access key (root's for the admin
//! token) and verified by the S3 door like any client's.

use std::time::{Duration, SystemTime};

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Json, PathArgs};
use crate::presign::{MAX_EXPIRY, Presign, presign};

/// Validity when `expiresIn` is left out.
const DEFAULT_EXPIRY_SECS: u64 = 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresignBody {
    pub key: String,
    /// Seconds, 1 to `limits.max_presign_expiry_secs` (at most 604800, 7 days); 3600 (or the
    /// cap, if lower) when absent.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignedUrl {
    pub url: String,
    pub method: &'static str,
    pub expires_at: String,
}

pub async fn upload(
    state: State<ApiState>,
    caller: Caller,
    path: PathArgs<String>,
    body: Json<PresignBody>,
) -> ApiResult<axum::Json<PresignedUrl>> {
    issue("PUT", state, caller, path, body)
}

pub async fn download(
    state: State<ApiState>,
    caller: Caller,
    path: PathArgs<String>,
    body: Json<PresignBody>,
) -> ApiResult<axum::Json<PresignedUrl>> {
    issue("GET", state, caller, path, body)
}

fn issue(
    method: &'static str,
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    Json(body): Json<PresignBody>,
) -> ApiResult<axum::Json<PresignedUrl>> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    crate::s3util::validate_key(&body.key).map_err(|e| {
        let mut e = ApiError::from(e);
        e.message = format!("key: {}", e.message);
        e
    })?;
    // Refused rather than clamped: a caller who asked for longer must not hand out a URL that
    // dies earlier than they promised.
    let max = state.max_presign_expiry_secs.min(MAX_EXPIRY.as_secs());
    let secs = body
        .expires_in
        .unwrap_or_else(|| DEFAULT_EXPIRY_SECS.min(max));
    if secs == 0 || secs > max {
        return Err(ApiError::invalid(
            "expiresIn",
            &format!("must be between 1 and {max} seconds on this gateway"),
        ));
    }
    let (access_key, secret_key) = state
        .control
        .signing_key(&caller.actor, caller.access_key.as_deref())?;
    let url = format!(
        "{}/{}/{}",
        state.s3_endpoint.trim_end_matches('/'),
        rec.name,
        crate::s3util::url_encode(&body.key)
    );
    let (url, expires) = presign(
        &Presign {
            method,
            url: &url,
            region: &rec.region,
            access_key: &access_key,
            secret_key: &secret_key,
            expires_in: Duration::from_secs(secs),
        },
        SystemTime::now(),
    )?;
    let expires_at = time::OffsetDateTime::from(expires)
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::internal())?;
    Ok(axum::Json(PresignedUrl {
        url,
        method,
        expires_at,
    }))
}
