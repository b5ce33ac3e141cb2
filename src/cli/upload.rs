//! `object put` of large files: a multipart upload through the API's upload routes, parts sent
//! in parallel straight to the S3 listener on presigned URLs (each part streamed from its
//! range of the file, retried with backoff), a progress bar when stderr is a terminal, and
//! `--resume`: the upload's id is kept in a state file until it completes, and a resumed run
//! skips the parts the server already holds (ListParts).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow};
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::transfer::{
    Failure, URL_EXPIRY_SECS, failure_of, part_count, part_size, progress_bar, range_of,
    read_state, state_path, with_retries, write_state,
};
use super::{Client, seg};

/// Part URLs are asked for in batches of this many (the API's limit).
const PRESIGN_BATCH: usize = 1000;

/// What the CLI remembers about an upload in progress.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct State {
    bucket: String,
    key: String,
    upload_id: String,
    size: u64,
    part_size: u64,
    modified_ms: u128,
}

pub struct Upload<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub file: &'a Path,
    pub content_type: Option<String>,
    pub parallel: usize,
    pub resume: bool,
}

/// Uploads the file; returns the API's answer of the completion (`{key, etag, versionId}`).
pub async fn put(c: &Client, u: Upload<'_>) -> Result<Value> {
    let meta = tokio::fs::metadata(u.file)
        .await
        .with_context(|| format!("reading {}", u.file.display()))?;
    let size = meta.len();
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let part_size = part_size(size);
    let count = part_count(size, part_size);
    let state_file = state_path("upload", u.bucket, u.key, u.file)?;
    let base = format!("/api/buckets/{}/uploads", seg(u.bucket));

    let previous: Option<State> = if u.resume {
        read_state(&state_file)
    } else {
        None
    };
    let resumable = previous.filter(|s| {
        s.bucket == u.bucket
            && s.key == u.key
            && s.size == size
            && s.part_size == part_size
            && s.modified_ms == modified_ms
    });
    let (upload_id, done) = match resumable {
        Some(s) => {
            let done = uploaded_parts(c, &base, &s.upload_id, u.key, part_size, size).await?;
            eprintln!(
                "resuming upload {}: {} of {count} parts already uploaded",
                s.upload_id,
                done.len()
            );
            (s.upload_id, done)
        }
        None => {
            let mut body = json!({ "key": u.key });
            if let Some(ct) = &u.content_type {
                body["contentType"] = json!(ct);
            }
            let v = c.send(Method::POST, &base, Some(body)).await?;
            let id = v["uploadId"]
                .as_str()
                .ok_or_else(|| anyhow!("the API answered no uploadId"))?
                .to_owned();
            (id, Vec::new())
        }
    };
    let state = State {
        bucket: u.bucket.to_owned(),
        key: u.key.to_owned(),
        upload_id: upload_id.clone(),
        size,
        part_size,
        modified_ms,
    };
    write_state(&state_file, &state)?;

    let bar = progress_bar(size);
    let already: u64 = done
        .iter()
        .map(|(n, _)| range_of(*n, part_size, size).1)
        .sum();
    bar.inc(already);
    let todo: Vec<u64> = (1..=count)
        .filter(|n| !done.iter().any(|(d, _)| d == n))
        .collect();
    let mut etags: Vec<(u64, String)> = done;
    let upload_path = format!("{base}/{}", seg(&upload_id));
    for batch in todo.chunks(PRESIGN_BATCH) {
        let urls = presign(c, &upload_path, u.key, batch).await?;
        let sent: Vec<(u64, String)> = futures::stream::iter(urls)
            .map(|(n, url)| {
                let bar = &bar;
                async move {
                    let (offset, len) = range_of(n, part_size, size);
                    let etag = put_part(c, &url, u.file, offset, len, bar).await?;
                    Ok::<_, anyhow::Error>((n, etag))
                }
            })
            .buffer_unordered(u.parallel.max(1))
            .try_collect()
            .await?;
        etags.extend(sent);
    }
    etags.sort_by_key(|(n, _)| *n);
    let parts: Vec<Value> = etags
        .iter()
        .map(|(n, e)| json!({"partNumber": n, "etag": e}))
        .collect();
    let v = c
        .send(
            Method::POST,
            &format!("{upload_path}/complete"),
            Some(json!({"key": u.key, "parts": parts})),
        )
        .await?;
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&state_file);
    Ok(v)
}

/// Parts the server holds whose size matches what this file's part would be.
async fn uploaded_parts(
    c: &Client,
    base: &str,
    upload_id: &str,
    key: &str,
    part_size: u64,
    size: u64,
) -> Result<Vec<(u64, String)>> {
    let req = c
        .request(Method::GET, &format!("{base}/{}/parts", seg(upload_id)))
        .query(&[("key", key)]);
    let v = c.call(req).await?;
    let mut out = Vec::new();
    for p in v["parts"].as_array().into_iter().flatten() {
        let (Some(n), Some(etag), Some(len)) = (
            p["partNumber"].as_u64(),
            p["etag"].as_str(),
            p["size"].as_u64(),
        ) else {
            continue;
        };
        if n >= 1 && n <= part_count(size, part_size) && range_of(n, part_size, size).1 == len {
            out.push((n, etag.to_owned()));
        }
    }
    Ok(out)
}

async fn presign(
    c: &Client,
    upload_path: &str,
    key: &str,
    parts: &[u64],
) -> Result<Vec<(u64, String)>> {
    let v = c
        .send(
            Method::POST,
            &format!("{upload_path}/parts"),
            Some(json!({"key": key, "partNumbers": parts, "expiresIn": URL_EXPIRY_SECS})),
        )
        .await?;
    v["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            Ok((
                p["partNumber"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("part without number"))?,
                p["url"]
                    .as_str()
                    .ok_or_else(|| anyhow!("part without url"))?
                    .to_owned(),
            ))
        })
        .collect()
}

/// Sends one part, retrying connection failures and 5xx answers with backoff; 4xx answers
/// (quota, expired URL) are final.
async fn put_part(
    c: &Client,
    url: &str,
    file: &Path,
    offset: u64,
    len: u64,
    bar: &indicatif::ProgressBar,
) -> Result<String> {
    with_retries(&format!("part at offset {offset}"), || async {
        let mut f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("opening {}", file.display()))?;
        f.seek(std::io::SeekFrom::Start(offset)).await?;
        let (sent, counted) = (bar.clone(), std::sync::Arc::new(AtomicU64::new(0)));
        let counter = counted.clone();
        let stream = tokio_util::io::ReaderStream::new(f.take(len)).inspect(move |chunk| {
            if let Ok(b) = chunk {
                sent.inc(b.len() as u64);
                counter.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
        });
        let result = c
            .http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await;
        let failure = match result {
            Ok(resp) if resp.status().is_success() => {
                return resp
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Failure::Final(anyhow!(
                            "the S3 listener answered part {offset} without ETag"
                        ))
                    });
            }
            Ok(resp) => failure_of(resp).await,
            Err(e) => Failure::Retry(format!("{e}")),
        };
        // What this attempt counted is sent again.
        bar.dec(counted.load(Ordering::Relaxed));
        Err(failure)
    })
    .await
}
