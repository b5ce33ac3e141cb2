//! `object get` of large objects to a file: a presigned download URL from the API, then
//! ranged GETs in parallel straight from the S3 listener, each written at its offset of
//! `FILE.part` (retried with backoff), a progress bar when stderr is a terminal, and
//! `--resume`: the finished ranges and the object's ETag are kept in a state file, and every
//! ranged GET carries `If-Match`, so a replaced object is never stitched into the same file.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::transfer::{
    Failure, MULTIPART_THRESHOLD, URL_EXPIRY_SECS, failure_of, part_count, part_size, progress_bar,
    range_of, read_state, state_path, with_retries, write_state,
};
use super::{Client, seg};

/// What the CLI remembers about a download in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct State {
    bucket: String,
    key: String,
    etag: String,
    size: u64,
    part_size: u64,
    /// Parts (1-based) already written to the `.part` file.
    done: Vec<u64>,
}

pub struct Download<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub file: &'a Path,
    pub parallel: usize,
    pub resume: bool,
}

/// Downloads the object into the file if it is large (or `resume` is asked); `None` when it
/// is small and left to the simple path. Returns the object's size.
pub async fn get(c: &Client, d: Download<'_>) -> Result<Option<u64>> {
    let url = presign(c, d.bucket, d.key).await?;
    let (size, etag) = probe(&url).await?;
    let state_file = state_path("download", d.bucket, d.key, &absolute(d.file)?)?;
    let previous: Option<State> = if d.resume {
        read_state(&state_file)
    } else {
        None
    };
    let part_size = part_size(size);
    let part_file = part_path(d.file);
    let previous = previous.filter(|s| {
        s.bucket == d.bucket
            && s.key == d.key
            && s.size == size
            && s.part_size == part_size
            && std::fs::metadata(&part_file).is_ok_and(|m| m.len() == size)
    });
    // A state is only written for large objects, so small ones (even empty) never get here.
    if previous.is_none() && size < MULTIPART_THRESHOLD {
        return Ok(None);
    }
    let done = match previous {
        Some(s) if s.etag != etag => {
            eprintln!("the object changed since the interrupted download: starting over");
            Vec::new()
        }
        Some(s) => {
            eprintln!(
                "resuming download: {} of {} parts already downloaded",
                s.done.len(),
                part_count(size, part_size)
            );
            s.done
        }
        None => Vec::new(),
    };
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(done.is_empty())
        .open(&part_file)
        .with_context(|| format!("creating {}", part_file.display()))?;
    f.set_len(size)?;
    drop(f);
    let state = Mutex::new(State {
        bucket: d.bucket.to_owned(),
        key: d.key.to_owned(),
        etag: etag.clone(),
        size,
        part_size,
        done,
    });
    write_state(&state_file, &*lock(&state))?;

    let bar = progress_bar(size);
    let todo: Vec<u64> = {
        let s = lock(&state);
        let already: u64 = s.done.iter().map(|n| range_of(*n, part_size, size).1).sum();
        bar.inc(already);
        (1..=part_count(size, part_size))
            .filter(|n| !s.done.contains(n))
            .collect()
    };
    futures::stream::iter(todo)
        .map(|n| {
            let (bar, state, url, etag) = (&bar, &state, &url, &etag);
            let (part_file, state_file) = (&part_file, &state_file);
            async move {
                let (offset, len) = range_of(n, part_size, size);
                get_part(url, etag, d.key, part_file, offset, len, bar).await?;
                // Recorded only once the bytes are on disk, so a resumed run trusts it.
                let mut s = lock(state);
                s.done.push(n);
                write_state(state_file, &*s)
            }
        })
        .buffer_unordered(d.parallel.max(1))
        .try_collect::<()>()
        .await?;
    bar.finish_and_clear();

    let written = std::fs::metadata(&part_file)?.len();
    if written != size {
        bail!(
            "{} holds {written} bytes, the object {size}",
            part_file.display()
        );
    }
    std::fs::rename(&part_file, d.file)
        .with_context(|| format!("renaming {} to {}", part_file.display(), d.file.display()))?;
    let _ = std::fs::remove_file(&state_file);
    Ok(Some(size))
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// `FILE.part`, next to the file.
fn part_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// The file's absolute path (its directory resolved), so that state names do not depend on
/// the working directory; the file itself need not exist yet.
fn absolute(file: &Path) -> Result<PathBuf> {
    let name = file
        .file_name()
        .ok_or_else(|| anyhow!("{} has no file name", file.display()))?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("{}", dir.display()))?;
    Ok(dir.join(name))
}

async fn presign(c: &Client, bucket: &str, key: &str) -> Result<String> {
    let v = c
        .send(
            Method::POST,
            &format!("/api/buckets/{}/presigned-download", seg(bucket)),
            Some(json!({"key": key, "expiresIn": URL_EXPIRY_SECS})),
        )
        .await?;
    v["url"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the API answered no url"))
}

/// The object's size and ETag. The URL is signed for GET (a HEAD would not match its
/// signature), so this asks for its first byte.
async fn probe(url: &str) -> Result<(u64, String)> {
    let http = http()?;
    with_retries("reading the object's size", || async {
        let resp = http
            .get(url)
            .header(header::RANGE, "bytes=0-0")
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("{e}")))?;
        let status = resp.status();
        let total = match status {
            StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE => resp
                .headers()
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, t)| t.parse().ok()),
            StatusCode::OK => resp.content_length(),
            _ => return Err(failure_of(resp).await),
        };
        let etag = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match (total, etag) {
            (Some(t), Some(e)) => Ok((t, e)),
            (Some(0), None) => Ok((0, String::new())),
            _ => Err(Failure::Final(anyhow!(
                "the S3 listener answered HTTP {} without size or ETag",
                status.as_u16()
            ))),
        }
    })
    .await
}

fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building the HTTP client")
}

/// Fetches one range into its place in the `.part` file, retrying connection failures and
/// 5xx answers with backoff; 4xx answers are final, and 412 means the object was replaced.
async fn get_part(
    url: &str,
    etag: &str,
    key: &str,
    part_file: &Path,
    offset: u64,
    len: u64,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let http = http()?;
    with_retries(&format!("range at offset {offset}"), || async {
        let resp = http
            .get(url)
            .header(
                header::RANGE,
                format!("bytes={offset}-{}", offset + len - 1),
            )
            .header(header::IF_MATCH, etag)
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("{e}")))?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::PRECONDITION_FAILED => {
                return Err(Failure::Final(anyhow!(
                    "PreconditionFailed: {key} was replaced during the download (run again \
                     without --resume)"
                )));
            }
            s if s.is_success() => {
                return Err(Failure::Final(anyhow!(
                    "the S3 listener answered HTTP {} to a ranged GET",
                    s.as_u16()
                )));
            }
            _ => return Err(failure_of(resp).await),
        }
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .open(part_file)
            .await
            .with_context(|| format!("opening {}", part_file.display()))?;
        f.seek(SeekFrom::Start(offset)).await?;
        let mut stream = resp.bytes_stream();
        let mut got = 0u64;
        let mut failed = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => {
                    f.write_all(&b).await?;
                    got += b.len() as u64;
                    bar.inc(b.len() as u64);
                }
                Err(e) => {
                    failed = Some(format!("{e}"));
                    break;
                }
            }
        }
        if failed.is_none() && got != len {
            failed = Some(format!("{got} of {len} bytes"));
        }
        if let Some(why) = failed {
            // What this attempt counted is fetched again.
            bar.dec(got);
            return Err(Failure::Retry(why));
        }
        f.flush().await?;
        f.sync_data().await?;
        Ok(())
    })
    .await
}
