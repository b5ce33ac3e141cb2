//! Presigned S3 URLs for one object, signed with the caller's access key (root's for the admin
//! token) and verified by the S3 door like any client's.

use std::time::{Duration, SystemTime};

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Json, PathArgs};
use crate::meta::BucketRecord;
use crate::presign::{MAX_EXPIRY, Presign, presign};

/// Validity when `expiresIn` is left out.
const DEFAULT_EXPIRY_SECS: u64 = 3600;

/// Longest download file name accepted (bytes).
const MAX_FILENAME: usize = 255;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresignBody {
    pub key: String,
    /// Seconds, 1 to `limits.max_presign_expiry_secs` (at most 604800, 7 days); 3600 (or the
    /// cap, if lower) when absent.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Downloads only: `attachment` or `inline`, sent back as `Content-Disposition`.
    #[serde(default)]
    pub disposition: Option<Disposition>,
    /// Downloads only: the file name the browser saves under (default: the key's last segment).
    #[serde(default)]
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    Attachment,
    Inline,
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
    let field = match (&body.0.disposition, &body.0.filename) {
        (Some(_), _) => Some("disposition"),
        (None, Some(_)) => Some("filename"),
        (None, None) => None,
    };
    if let Some(field) = field {
        return Err(ApiError::invalid(
            field,
            "only presigned downloads carry a disposition",
        ));
    }
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
    check_key(&state, &rec, &body.key)?;
    let secs = expiry(&state, body.expires_in)?;
    let mut url = object_url(&state, &rec, &body.key);
    if body.disposition.is_some() || body.filename.is_some() {
        let value = content_disposition(
            body.disposition.unwrap_or(Disposition::Attachment),
            body.filename.as_deref(),
            &body.key,
        )?;
        url.push_str("?response-content-disposition=");
        url.push_str(&query_encode(&value));
    }
    let (url, expires_at) = sign(&state, &caller, &rec, method, &url, secs)?;
    Ok(axum::Json(PresignedUrl {
        url,
        method,
        expires_at,
    }))
}

/// The key, checked by the S3 rules and what the bucket's backend can store; errors name the
/// `key` field.
pub(super) fn check_key(state: &ApiState, rec: &BucketRecord, key: &str) -> ApiResult<()> {
    let max = state.control.gateway().backends().max_key_bytes(rec);
    crate::s3util::validate_key_within(key, max).map_err(|e| {
        let mut e = ApiError::from(e).on_field("key");
        e.message = format!("key: {}", e.message);
        e
    })
}

/// `expiresIn` checked against the gateway's presign cap (`limits.max_presign_expiry_secs`, at
/// most SigV4's seven days); one hour (or the cap, if lower) when absent. Refused rather than
/// clamped: a caller who asked for longer must not hand out a URL that dies earlier than they
/// promised.
pub(super) fn expiry(state: &ApiState, expires_in: Option<u64>) -> ApiResult<u64> {
    let max = state.max_presign_expiry_secs.min(MAX_EXPIRY.as_secs());
    let secs = expires_in.unwrap_or_else(|| DEFAULT_EXPIRY_SECS.min(max));
    if secs == 0 || secs > max {
        return Err(ApiError::invalid(
            "expiresIn",
            &format!("must be between 1 and {max} seconds on this gateway"),
        ));
    }
    Ok(secs)
}

/// The object's path-style URL on the S3 listener (no query).
pub(super) fn object_url(state: &ApiState, rec: &BucketRecord, key: &str) -> String {
    format!(
        "{}/{}/{}",
        state.s3_endpoint.trim_end_matches('/'),
        rec.name,
        crate::s3util::url_encode(key)
    )
}

/// A query value encoded the RFC 3986 way (what SigV4 signs).
pub(super) fn query_encode(v: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(v, SET).to_string()
}

/// Presigns `url` (query included) with the caller's key; returns it and its RFC 3339 expiry.
pub(super) fn sign(
    state: &ApiState,
    caller: &Caller,
    rec: &BucketRecord,
    method: &str,
    url: &str,
    secs: u64,
) -> ApiResult<(String, String)> {
    let (access_key, secret_key) = state
        .control
        .signing_key(&caller.actor, caller.access_key.as_deref())?;
    let (url, expires) = presign(
        &Presign {
            method,
            url,
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
    Ok((url, expires_at))
}

/// `attachment; filename="…"; filename*=UTF-8''…` (or `inline`): the quoted name is an ASCII
/// fallback with quotes, backslashes and non-ASCII replaced, the RFC 5987 form carries the
/// real name. Control characters are refused rather than replaced: they are never a name.
fn content_disposition(kind: Disposition, filename: Option<&str>, key: &str) -> ApiResult<String> {
    let name = match filename {
        Some(n) => {
            if n.is_empty() || n.len() > MAX_FILENAME {
                return Err(ApiError::invalid("filename", "must be 1 to 255 bytes long"));
            }
            if n.chars().any(char::is_control) {
                return Err(ApiError::invalid(
                    "filename",
                    "must not contain control characters",
                ));
            }
            n
        }
        None => key
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or("download"),
    };
    let kind = match kind {
        Disposition::Attachment => "attachment",
        Disposition::Inline => "inline",
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' && c != ';' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        query_encode(name)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_quote_safely() {
        let d =
            content_disposition(Disposition::Attachment, Some("a \"b\";c\\d é.txt"), "k").unwrap();
        assert_eq!(
            d,
            "attachment; filename=\"a _b__c_d _.txt\"; filename*=UTF-8''a%20%22b%22%3Bc%5Cd%20%C3%A9.txt"
        );
        let d = content_disposition(Disposition::Inline, None, "dir/pic.png").unwrap();
        assert_eq!(d, "inline; filename=\"pic.png\"; filename*=UTF-8''pic.png");
        for bad in ["a\r\nSet-Cookie: x", "a\0", ""] {
            let e = content_disposition(Disposition::Attachment, Some(bad), "k").unwrap_err();
            assert_eq!(e.field.as_deref(), Some("filename"));
        }
    }
}
