//! `object put` of large files: a multipart upload through the API's upload routes, parts sent
//! in parallel straight to the S3 listener on presigned URLs (each part streamed from its
//! range of the file, retried with backoff), a progress bar when stderr is a terminal, and
//! `--resume`: the upload's id is kept in a state file until it completes, and a resumed run
//! skips the parts the server already holds (ListParts).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{Client, seg};

/// Files at least this large go multipart.
pub const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// Smallest part (S3's minimum is 5 MiB; 8 MiB keeps requests few).
const MIN_PART: u64 = 8 << 20;
const MAX_PARTS: u64 = 10_000;
/// Part URLs are asked for in batches of this many (the API's limit).
const PRESIGN_BATCH: usize = 1000;
/// Validity of part URLs: long enough for slow links.
const URL_EXPIRY_SECS: u64 = 6 * 3600;
const ATTEMPTS: u32 = 4;

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

/// Part size for a file of `len` bytes: at least 8 MiB, and few enough parts for S3's 10,000.
pub fn part_size(len: u64) -> u64 {
    MIN_PART.max(len.div_ceil(MAX_PARTS))
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
    let count = size.div_ceil(part_size).max(1);
    let state_file = state_path(u.bucket, u.key, u.file)?;
    let base = format!("/api/buckets/{}/uploads", seg(u.bucket));

    let previous = if u.resume {
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

/// (offset, length) of part `n` (1-based).
fn range_of(n: u64, part_size: u64, size: u64) -> (u64, u64) {
    let offset = (n - 1) * part_size;
    (offset, part_size.min(size.saturating_sub(offset)))
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
        if n >= 1 && n <= size.div_ceil(part_size).max(1) && range_of(n, part_size, size).1 == len {
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
    let mut attempt = 0;
    loop {
        attempt += 1;
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
        let retry = match result {
            Ok(resp) if resp.status().is_success() => {
                return resp
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("the S3 listener answered part {offset} without ETag"));
            }
            Ok(resp) if resp.status().is_server_error() => {
                format!("HTTP {}", resp.status().as_u16())
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                let code = xml_tag(&body, "Code").unwrap_or_else(|| format!("HTTP {status}"));
                let message = xml_tag(&body, "Message").unwrap_or_default();
                bail!("{code}: {message}");
            }
            Err(e) => format!("{e}"),
        };
        // What this attempt counted is sent again.
        bar.dec(counted.load(Ordering::Relaxed));
        if attempt >= ATTEMPTS {
            bail!(
                "part at offset {offset} failed {ATTEMPTS} times: {retry} (run again with --resume)"
            );
        }
        tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
    }
}

fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_owned())
}

fn progress_bar(size: u64) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Where the state of an upload of `file` to `bucket/key` is kept:
/// `$BUCKETGATE_STATE_DIR`, else `$XDG_STATE_HOME/bucketgate`, else `~/.local/state/bucketgate`.
fn state_path(bucket: &str, key: &str, file: &Path) -> Result<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = env("BUCKETGATE_STATE_DIR")
        .or_else(|| env("XDG_STATE_HOME").map(|d| d.join("bucketgate")))
        .or_else(|| env("HOME").map(|h| h.join(".local/state/bucketgate")))
        .ok_or_else(|| anyhow!("no state directory: set BUCKETGATE_STATE_DIR"))?;
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    let id = fnv1a(format!("{bucket}\n{key}\n{}", abs.display()).as_bytes());
    Ok(dir.join(format!("upload-{id:016x}.json")))
}

/// FNV-1a: a stable hash for state file names (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn read_state(path: &Path) -> Option<State> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_state(path: &Path, state: &State) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_vec(state)?)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file() {
        assert_eq!(part_size(20 << 20), 8 << 20);
        assert_eq!(part_size(200 << 30), (200u64 << 30).div_ceil(10_000));
        let size = (20 << 20) + 5;
        let ps = part_size(size);
        let count = size.div_ceil(ps);
        let total: u64 = (1..=count).map(|n| range_of(n, ps, size).1).sum();
        assert_eq!((count, total), (3, size));
        assert_eq!(range_of(3, ps, size), (16 << 20, (4 << 20) + 5));
    }

    #[test]
    fn state_names_are_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(b"a\nb"), fnv1a(b"a\nc"));
    }
}
