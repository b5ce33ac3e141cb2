//! What the upload and download engines share: part sizes, retries with backoff, the progress
//! bar, state files that make a transfer resumable, and the S3 listener's error answers.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Objects and files at least this large are transferred in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// Smallest part (S3's minimum is 5 MiB; 8 MiB keeps requests few).
const MIN_PART: u64 = 8 << 20;
const MAX_PARTS: u64 = 10_000;
/// Validity of presigned URLs: long enough for slow links.
pub const URL_EXPIRY_SECS: u64 = 6 * 3600;
const ATTEMPTS: u32 = 4;

/// Part size for `len` bytes: at least 8 MiB, and few enough parts for S3's 10,000.
pub fn part_size(len: u64) -> u64 {
    MIN_PART.max(len.div_ceil(MAX_PARTS))
}

/// Number of parts of `size` bytes (one, even when empty).
pub fn part_count(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size).max(1)
}

/// (offset, length) of part `n` (1-based).
pub fn range_of(n: u64, part_size: u64, size: u64) -> (u64, u64) {
    let offset = (n - 1) * part_size;
    (offset, part_size.min(size.saturating_sub(offset)))
}

/// How one attempt of a part failed.
pub enum Failure {
    /// Connection errors and 5xx answers: worth another try.
    Retry(String),
    /// 4xx answers (quota, expired URL, changed object) and local errors: final.
    Final(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Final(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Final(e.into())
    }
}

/// Runs `attempt` until it succeeds, fails finally, or has been retried too often, waiting
/// longer after each retryable failure.
pub async fn with_retries<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Retry(why)) if tries >= ATTEMPTS => {
                bail!("{what} failed {ATTEMPTS} times: {why} (run again with --resume)")
            }
            Err(Failure::Retry(_)) => {
                tokio::time::sleep(Duration::from_millis(250 << tries)).await;
            }
        }
    }
}

/// Classifies a non-2xx answer of the S3 listener: 5xx retryable, anything else final with
/// the S3 error's code and message.
pub async fn failure_of(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    if status.is_server_error() {
        return Failure::Retry(format!("HTTP {}", status.as_u16()));
    }
    let body = resp.text().await.unwrap_or_default();
    let code = xml_tag(&body, "Code").unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let message = xml_tag(&body, "Message").unwrap_or_default();
    Failure::Final(anyhow!("{code}: {message}"))
}

fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_owned())
}

/// A byte progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(size: u64) -> indicatif::ProgressBar {
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

/// Where the state of a transfer (`kind`: upload or download) between `bucket/key` and the
/// local `file` is kept: `$BUCKETGATE_STATE_DIR`, else `$XDG_STATE_HOME/bucketgate`, else
/// `~/.local/state/bucketgate`.
pub fn state_path(kind: &str, bucket: &str, key: &str, file: &Path) -> Result<PathBuf> {
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
    Ok(dir.join(format!("{kind}-{id:016x}.json")))
}

/// FNV-1a: a stable hash for state file names (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The saved state, if there is a readable one.
pub fn read_state<T: DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

pub fn write_state<T: Serialize>(path: &Path, state: &T) -> Result<()> {
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
        let count = part_count(size, ps);
        let total: u64 = (1..=count).map(|n| range_of(n, ps, size).1).sum();
        assert_eq!((count, total), (3, size));
        assert_eq!(range_of(3, ps, size), (16 << 20, (4 << 20) + 5));
        assert_eq!(part_count(0, ps), 1);
    }

    #[test]
    fn state_names_are_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(b"a\nb"), fnv1a(b"a\nc"));
    }

    #[test]
    fn s3_errors_name_their_code() {
        let body = "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
        assert_eq!(xml_tag(body, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(xml_tag(body, "Message").as_deref(), Some("gone"));
        assert_eq!(xml_tag(body, "Other"), None);
    }
}
