//! Multipart uploads for browsers and the CLI: the API creates, lists, completes and aborts the
//! upload on the bucket's backend (through the gateway, like the object routes), and hands out
//! presigned `UploadPart` URLs so the bytes go straight to the S3 listener, where signatures,
//! access and quotas are checked per part like any client's.
//!
//! Creating an upload is admitted against the quota like an S3 write: it needs room for at
//! least one more byte and one more object, so a full bucket refuses before any part is sent.

use axum::extract::State;
use axum::http::StatusCode;
use s3s::S3;
use s3s::dto::{
    AbortMultipartUploadInput, CompleteMultipartUploadInput, CompletedMultipartUpload,
    CompletedPart, CreateMultipartUploadInput, ETag, ListPartsInput,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Json, PathArgs, QueryArgs};
use super::presign::{check_key, expiry, object_url, query_encode, sign};
use crate::meta::BucketRecord;
use crate::s3util::internal_request;

/// Highest part number S3 accepts.
const MAX_PART_NUMBER: u32 = 10_000;
/// Most part URLs one call presigns.
const MAX_PARTS_PER_CALL: usize = 1000;
/// Longest upload id accepted (AWS's are ~100 characters, MinIO's and s3s's shorter).
const MAX_UPLOAD_ID: usize = 512;
/// Longest content type accepted.
const MAX_CONTENT_TYPE: usize = 256;
/// Longest part ETag accepted (an MD5 in hex, quoted, with room for other servers' forms).
const MAX_ETAG: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateBody {
    pub key: String,
    #[serde(default)]
    pub content_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresignPartsBody {
    pub key: String,
    pub part_numbers: Vec<u32>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyQuery {
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CompletePart {
    pub part_number: u32,
    pub etag: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CompleteBody {
    pub key: String,
    pub parts: Vec<CompletePart>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartUrl {
    pub part_number: u32,
    pub url: String,
}

/// `POST /api/buckets/{name}/uploads` → 201 `{uploadId, key}`.
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    Json(body): Json<CreateBody>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    check_key(&state, &rec, &body.key)?;
    let content_type = body
        .content_type
        .filter(|ct| !ct.is_empty())
        .map(check_content_type)
        .transpose()?;
    let gateway = state.control.gateway();
    // Dropped at once: the reservation only asks whether there is room now.
    drop(gateway.admit(&name, crate::policy::Need::Bytes(1), 1)?);
    let input = CreateMultipartUploadInput::builder()
        .bucket(name)
        .key(body.key.clone())
        .content_type(content_type)
        .build()
        .map_err(|_| ApiError::internal())?;
    let out = gateway
        .create_multipart_upload(internal_request(input, http::Method::POST))
        .await?
        .output;
    let upload_id = out.upload_id.ok_or_else(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"uploadId": upload_id, "key": body.key})),
    ))
}

/// `POST /api/buckets/{name}/uploads/{uploadId}/parts` → presigned `UploadPart` URLs.
pub async fn presign_parts(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs((name, upload_id)): PathArgs<(String, String)>,
    Json(body): Json<PresignPartsBody>,
) -> ApiResult<axum::Json<Value>> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    check_upload_id(&upload_id)?;
    check_key(&state, &rec, &body.key)?;
    if body.part_numbers.is_empty() || body.part_numbers.len() > MAX_PARTS_PER_CALL {
        return Err(ApiError::invalid(
            "partNumbers",
            "must hold 1 to 1000 part numbers",
        ));
    }
    for &n in &body.part_numbers {
        check_part_number("partNumbers", n)?;
    }
    let secs = expiry(&state, body.expires_in)?;
    let base = object_url(&state, &rec, &body.key);
    let upload = query_encode(&upload_id);
    let mut parts = Vec::with_capacity(body.part_numbers.len());
    let mut expires_at = String::new();
    for n in body.part_numbers {
        let url = format!("{base}?partNumber={n}&uploadId={upload}");
        let (url, at) = sign(&state, &caller, &rec, "PUT", &url, secs)?;
        expires_at = at;
        parts.push(PartUrl {
            part_number: n,
            url,
        });
    }
    Ok(axum::Json(json!({"parts": parts, "expiresAt": expires_at})))
}

/// `GET /api/buckets/{name}/uploads/{uploadId}/parts?key=` → every uploaded part (all pages).
pub async fn list_parts(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs((name, upload_id)): PathArgs<(String, String)>,
    QueryArgs(q): QueryArgs<KeyQuery>,
) -> ApiResult<axum::Json<Value>> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    check_upload_id(&upload_id)?;
    check_key(&state, &rec, &q.key)?;
    let parts: Vec<Value> = uploaded_parts(&state, &name, &q.key, &upload_id)
        .await?
        .into_iter()
        .map(|p| {
            json!({
                "partNumber": p.part_number,
                "etag": p.e_tag.as_ref().map(|e| format!("\"{}\"", e.value())),
                "size": p.size,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "parts": parts })))
}

/// Every part the bucket's server holds for the upload (ListParts, all pages).
async fn uploaded_parts(
    state: &ApiState,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> ApiResult<Vec<s3s::dto::Part>> {
    let gateway = state.control.gateway();
    let mut parts = Vec::new();
    let mut marker: Option<i32> = None;
    let mut marker_seen: Option<i32> = None;
    loop {
        let input = ListPartsInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .upload_id(upload_id.to_owned())
            .part_number_marker(marker.take())
            .build()
            .map_err(|_| ApiError::internal())?;
        let out = gateway
            .list_parts(internal_request(input, http::Method::GET))
            .await?
            .output;
        parts.extend(out.parts.unwrap_or_default());
        let next = out.next_part_number_marker.filter(|m| *m > 0);
        // A server that says "truncated" without moving the marker forward would loop forever.
        if out.is_truncated != Some(true)
            || next.is_none()
            || next <= marker_seen
            || parts.len() > 10_000
        {
            break;
        }
        marker_seen = next;
        marker = next;
    }
    Ok(parts)
}

/// The parts a completion names, checked against what the bucket's server holds, so every
/// backend answers `InvalidPartOrder` / `InvalidPart` alike (some servers, such as the s3s-fs
/// test image, answer a missing part with a `500`). Embedded buckets check this in their own
/// commit; forwarded ones cost one ListParts more per completion.
async fn check_completed_parts(
    state: &ApiState,
    rec: &BucketRecord,
    key: &str,
    upload_id: &str,
    parts: &[CompletedPart],
) -> ApiResult<()> {
    let numbers: Vec<i32> = parts.iter().filter_map(|p| p.part_number).collect();
    if numbers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(s3s::s3_error!(
            InvalidPartOrder,
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        )
        .into());
    }
    if rec.backend == crate::meta::BackendKind::Embedded {
        return Ok(());
    }
    let held = uploaded_parts(state, &rec.name, key, upload_id).await?;
    for p in parts {
        let found = held.iter().any(|h| {
            h.part_number == p.part_number
                && h.e_tag.as_ref().map(|e| e.value()) == p.e_tag.as_ref().map(|e| e.value())
        });
        if !found {
            return Err(s3s::s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {})",
                p.part_number.unwrap_or_default()
            )
            .into());
        }
    }
    Ok(())
}

/// `POST /api/buckets/{name}/uploads/{uploadId}/complete` → the object's key, ETag, version.
pub async fn complete(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs((name, upload_id)): PathArgs<(String, String)>,
    Json(body): Json<CompleteBody>,
) -> ApiResult<axum::Json<Value>> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    check_upload_id(&upload_id)?;
    check_key(&state, &rec, &body.key)?;
    if body.parts.is_empty() || body.parts.len() > MAX_PART_NUMBER as usize {
        return Err(ApiError::invalid("parts", "must hold 1 to 10000 parts"));
    }
    let mut completed = Vec::with_capacity(body.parts.len());
    for p in body.parts {
        check_part_number("parts", p.part_number)?;
        completed.push(CompletedPart {
            part_number: Some(i32::try_from(p.part_number).map_err(|_| ApiError::internal())?),
            e_tag: Some(parse_etag(&p.etag)?),
            ..Default::default()
        });
    }
    check_completed_parts(&state, &rec, &body.key, &upload_id, &completed).await?;
    let input = CompleteMultipartUploadInput::builder()
        .bucket(name)
        .key(body.key.clone())
        .upload_id(upload_id)
        .multipart_upload(Some(CompletedMultipartUpload {
            parts: Some(completed),
        }))
        .build()
        .map_err(|_| ApiError::internal())?;
    let out = state
        .control
        .gateway()
        .complete_multipart_upload(internal_request(input, http::Method::POST))
        .await?
        .output;
    Ok(axum::Json(json!({
        "key": body.key,
        "etag": out.e_tag.as_ref().map(|e| format!("\"{}\"", e.value())),
        "versionId": out.version_id,
    })))
}

/// `DELETE /api/buckets/{name}/uploads/{uploadId}?key=` → 204.
pub async fn abort(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs((name, upload_id)): PathArgs<(String, String)>,
    QueryArgs(q): QueryArgs<KeyQuery>,
) -> ApiResult<StatusCode> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    check_upload_id(&upload_id)?;
    check_key(&state, &rec, &q.key)?;
    let input = AbortMultipartUploadInput::builder()
        .bucket(name)
        .key(q.key)
        .upload_id(upload_id)
        .build()
        .map_err(|_| ApiError::internal())?;
    state
        .control
        .gateway()
        .abort_multipart_upload(internal_request(input, http::Method::DELETE))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Upload ids are opaque to us but travel in URLs and XML: non-empty, bounded, URL-safe.
fn check_upload_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~+=".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "uploadId: must be 1 to 512 characters of A-Z a-z 0-9 - _ . ~ + =",
        )
        .on_field("uploadId"))
    }
}

fn check_part_number(field: &str, n: u32) -> ApiResult<()> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "part numbers must be between 1 and 10000",
        ))
    }
}

fn check_content_type(ct: String) -> ApiResult<String> {
    let ok = ct.len() <= MAX_CONTENT_TYPE && ct.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if ok {
        Ok(ct)
    } else {
        Err(ApiError::invalid(
            "contentType",
            "must be at most 256 printable ASCII characters",
        ))
    }
}

/// A part's ETag as the S3 answer gave it (quoted or not).
fn parse_etag(etag: &str) -> ApiResult<ETag> {
    let v = etag.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    let ok = !v.is_empty()
        && v.len() <= MAX_ETAG
        && v.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
    if ok {
        Ok(ETag::Strong(v.to_owned()))
    } else {
        Err(ApiError::invalid(
            "parts",
            "etag must be the part's ETag as the upload answered it",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_and_etags_are_checked() {
        assert!(check_upload_id("abc-DEF_1.2~3+4=").is_ok());
        for bad in ["", "a/b", "a b", "a%2F", "a\0", &"x".repeat(513)] {
            let e = check_upload_id(bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("uploadId"), "{bad:?}");
        }
        assert_eq!(parse_etag("\"abc\"").unwrap().value(), "abc");
        assert_eq!(parse_etag("abc").unwrap().value(), "abc");
        assert!(parse_etag("\"\"").is_err());
        assert!(parse_etag("a\"b").is_err());
        assert!(check_part_number("p", 0).is_err());
        assert!(check_part_number("p", 10_001).is_err());
        assert!(check_part_number("p", 10_000).is_ok());
    }
}
