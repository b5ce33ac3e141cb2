//! Object routes, served by the gateway's S3 implementation like any S3 client's request:
//! list (ListObjectsV2), upload (multipart form, streamed), download (streamed), metadata
//! (HeadObject) and delete.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Multipart, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::SinkExt;
use s3s::S3;
use s3s::dto::{
    DeleteObjectInput, ETag, GetObjectInput, GetObjectTaggingInput, HeadObjectInput,
    ListObjectsV2Input, StreamingBlob, Timestamp, TimestampFormat,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, PathArgs, QueryArgs};
use super::presign::check_key;
use crate::s3util::internal_request;

/// Longest `key` form field read before the file part.
const MAX_KEY_FIELD: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub delimiter: Option<String>,
    #[serde(default)]
    pub continuation_token: Option<String>,
    #[serde(default)]
    pub max_keys: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub storage_class: Option<String>,
}

fn rfc3339(ts: Timestamp) -> String {
    let t: time::OffsetDateTime = ts.into();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn http_date(ts: &Timestamp) -> Option<HeaderValue> {
    let mut buf = Vec::new();
    ts.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    HeaderValue::from_bytes(&buf).ok()
}

fn etag_text(e: &ETag) -> String {
    match e {
        ETag::Strong(s) => format!("\"{s}\""),
        ETag::Weak(s) => format!("W/\"{s}\""),
    }
}

fn bad_input() -> ApiError {
    ApiError::internal()
}

pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> ApiResult<axum::Json<Value>> {
    state.control.bucket(&caller.actor, &name)?;
    let max_keys = match q.max_keys {
        None => 1000,
        Some(n @ 1..=1000) => i32::try_from(n).map_err(|_| bad_input())?,
        Some(_) => return Err(ApiError::invalid("maxKeys", "must be between 1 and 1000")),
    };
    let input = ListObjectsV2Input::builder()
        .bucket(name.clone())
        .prefix(q.prefix.clone().filter(|p| !p.is_empty()))
        .delimiter(q.delimiter.clone().filter(|d| !d.is_empty()))
        .continuation_token(q.continuation_token.filter(|t| !t.is_empty()))
        .max_keys(Some(max_keys))
        .build()
        .map_err(|_| bad_input())?;
    let out = state
        .control
        .gateway()
        .list_objects_v2(internal_request(input, http::Method::GET))
        .await?
        .output;
    let objects: Vec<ObjectEntry> = out
        .contents
        .unwrap_or_default()
        .into_iter()
        .map(|o| ObjectEntry {
            key: o.key.unwrap_or_default(),
            size: o.size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            etag: o.e_tag.as_ref().map(|e| e.value().to_owned()),
            last_modified: o.last_modified.map(rfc3339),
            storage_class: o.storage_class.map(|s| s.as_str().to_owned()),
        })
        .collect();
    let prefixes: Vec<String> = out
        .common_prefixes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.prefix)
        .collect();
    Ok(axum::Json(json!({
        "bucket": name,
        "prefix": q.prefix.unwrap_or_default(),
        "delimiter": q.delimiter,
        "objects": objects,
        "commonPrefixes": prefixes,
        "isTruncated": out.is_truncated.unwrap_or(false),
        "nextContinuationToken": out.next_continuation_token,
        "keyCount": out.key_count.unwrap_or(0),
    })))
}

/// One stored file of an upload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

/// `multipart/form-data` upload: a `key` field (optional) followed by one or more file parts.
/// A file is stored under the preceding `key` field, else under its file name; each file is
/// streamed into the gateway as it arrives, within the bucket's remaining quota.
pub async fn upload(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    let mut form = form?;
    let mut next_key: Option<String> = None;
    let mut stored = Vec::new();
    while let Some(mut field) = form.next_field().await? {
        if field.file_name().is_none() {
            if field.name() == Some("key") {
                next_key = Some(read_small_field(&mut field).await?);
            }
            continue;
        }
        let key = match next_key.take().filter(|k| !k.is_empty()) {
            Some(k) => k,
            None => field.file_name().unwrap_or_default().to_owned(),
        };
        check_key(&state, &rec, &key)?;
        let content_type = field
            .content_type()
            .filter(|ct| *ct != "application/octet-stream")
            .map(str::to_owned)
            .or_else(|| mime_guess::from_path(&key).first().map(|m| m.to_string()));
        // The form field borrows the request, so it is pumped into a bounded channel in this
        // task while the gateway reads the other end.
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        let put = state.control.gateway().put_object_streaming(
            &name,
            &key,
            content_type,
            StreamingBlob::wrap(rx),
        );
        let pump = async {
            let mut size = 0u64;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        size += chunk.len() as u64;
                        if tx.send(Ok(chunk)).await.is_err() {
                            break; // the write ended early (quota): its error is the answer
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(std::io::Error::other(e.body_text()))).await;
                        return Err(ApiError::from(e));
                    }
                }
            }
            drop(tx);
            Ok(size)
        };
        let (put, pumped) = tokio::join!(put, pump);
        // A broken form is the client's fault whatever the write made of the cut-off body.
        let size = pumped?;
        let out = put?;
        stored.push(Uploaded {
            key,
            size,
            etag: out.e_tag.as_ref().map(|e| e.value().to_owned()),
        });
    }
    if stored.is_empty() {
        return Err(ApiError::invalid(
            "file",
            "the form holds no file part (a field with a filename)",
        ));
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"bucket": name, "objects": stored})),
    )
        .into_response())
}

async fn read_small_field(field: &mut axum::extract::multipart::Field<'_>) -> ApiResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if buf.len() + chunk.len() > MAX_KEY_FIELD {
            return Err(ApiError::invalid("key", "too long"));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ApiError::invalid("key", "must be UTF-8"))
}

/// `GET …/objects/{key}`: the object's bytes, streamed; with `?metadata` or a trailing
/// `/metadata` path segment (a literal `/`, not `%2F`), its metadata as JSON instead.
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs((name, key)): PathArgs<(String, String)>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> ApiResult<Response> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    let wants_query = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .any(|p| p == "metadata" || p.starts_with("metadata="));
    let suffix = uri.path().ends_with("/metadata") && key.ends_with("/metadata");
    if wants_query || suffix {
        let key = if wants_query {
            key
        } else {
            key.trim_end_matches("/metadata").to_owned()
        };
        check_key(&state, &rec, &key)?;
        return metadata(&state, &name, &key).await;
    }
    check_key(&state, &rec, &key)?;
    let input = GetObjectInput::builder()
        .bucket(name)
        .key(key.clone())
        .build()
        .map_err(|_| bad_input())?;
    let out = state
        .control
        .gateway()
        .get_object(internal_request(input, http::Method::GET))
        .await?
        .output;
    let mut resp = Response::new(match out.body {
        Some(blob) => Body::from_stream(blob),
        None => Body::empty(),
    });
    let h = resp.headers_mut();
    let ct = out
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let mut set = |name: header::HeaderName, v: Option<String>| {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, Some(ct));
    set(
        header::CONTENT_LENGTH,
        out.content_length.map(|n| n.to_string()),
    );
    set(header::ETAG, out.e_tag.as_ref().map(etag_text));
    set(header::CONTENT_ENCODING, out.content_encoding);
    set(header::CACHE_CONTROL, out.cache_control);
    set(
        header::CONTENT_DISPOSITION,
        out.content_disposition.or_else(|| Some(attachment(&key))),
    );
    if let Some(v) = out.last_modified.as_ref().and_then(http_date) {
        h.insert(header::LAST_MODIFIED, v);
    }
    Ok(resp)
}

/// `attachment; filename="<last path segment>"`, with a UTF-8 `filename*` when needed.
fn attachment(key: &str) -> String {
    let base = key.rsplit('/').next().unwrap_or(key);
    let ascii: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        crate::s3util::url_encode(base)
    )
}

async fn metadata(state: &ApiState, bucket: &str, key: &str) -> ApiResult<Response> {
    let input = HeadObjectInput::builder()
        .bucket(bucket.to_owned())
        .key(key.to_owned())
        .build()
        .map_err(|_| bad_input())?;
    let out = state
        .control
        .gateway()
        .head_object(internal_request(input, http::Method::HEAD))
        .await?
        .output;
    let user: BTreeMap<String, String> = out.metadata.unwrap_or_default().into_iter().collect();
    let tags = tags(state, bucket, key).await?;
    Ok(axum::Json(json!({
        "bucket": bucket,
        "key": key,
        "size": out.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        "etag": out.e_tag.as_ref().map(|e| e.value().to_owned()),
        "contentType": out.content_type,
        "contentEncoding": out.content_encoding,
        "contentDisposition": out.content_disposition,
        "cacheControl": out.cache_control,
        "lastModified": out.last_modified.map(rfc3339),
        "storageClass": out.storage_class.map(|s| s.as_str().to_owned()),
        "versionId": out.version_id,
        "metadata": user,
        "tags": tags,
    }))
    .into_response())
}

/// The object's tags (GetObjectTagging through the bucket's backend); `None` where the
/// backend's client does not offer the operation (forwarded buckets answer it on the S3 door).
async fn tags(
    state: &ApiState,
    bucket: &str,
    key: &str,
) -> ApiResult<Option<BTreeMap<String, String>>> {
    let input = GetObjectTaggingInput::builder()
        .bucket(bucket.to_owned())
        .key(key.to_owned())
        .build()
        .map_err(|_| bad_input())?;
    let out = match state
        .control
        .gateway()
        .get_object_tagging(internal_request(input, http::Method::GET))
        .await
    {
        Ok(resp) => resp.output,
        Err(e) if *e.code() == s3s::S3ErrorCode::NotImplemented => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(
        out.tag_set
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value?)))
            .collect(),
    ))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs((name, key)): PathArgs<(String, String)>,
) -> ApiResult<StatusCode> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    check_key(&state, &rec, &key)?;
    let gateway = state.control.gateway();
    // S3 deletes are idempotent; the API says whether there was anything to delete.
    let head = HeadObjectInput::builder()
        .bucket(name.clone())
        .key(key.clone())
        .build()
        .map_err(|_| bad_input())?;
    gateway
        .head_object(internal_request(head, http::Method::HEAD))
        .await?;
    let input = DeleteObjectInput::builder()
        .bucket(name)
        .key(key)
        .build()
        .map_err(|_| bad_input())?;
    gateway
        .delete_object(internal_request(input, http::Method::DELETE))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_are_safe() {
        assert_eq!(
            attachment("dir/a b\".txt"),
            "attachment; filename=\"a_b_.txt\"; filename*=UTF-8''a%20b%22.txt"
        );
    }
}
