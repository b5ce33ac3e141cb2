//! Object bytes on local disk.
//!
//! A blob is written to `tmp/<id>`, fsynced, renamed to `blobs/<id[..2]>/<id>` and its directory
//! fsynced; only then does the metadata commit that references it make it visible. A blob's
//! reference count lives in redb (copies and completed multipart uploads share blobs), and a
//! blob is unlinked after the commit that drops its last reference. At start-up `tmp/` is
//! emptied and blobs that no committed record references (a crash between rename and commit,
//! or between commit and unlink) are swept.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::meta::Checksums;

/// Chunks in flight between the network task and the disk thread: enough to overlap the two,
/// small enough that memory per upload stays bounded (chunks are at most a few hundred KiB).
const PIPELINE_DEPTH: usize = 4;

/// Paths of the on-disk layout.
#[derive(Debug, Clone)]
pub struct BlobDirs {
    tmp: PathBuf,
    blobs: PathBuf,
}

/// What was written: size and digests of the bytes.
#[derive(Debug)]
pub struct Written {
    pub size: u64,
    pub md5_hex: String,
    pub checksums: Checksums,
}

impl BlobDirs {
    /// Creates the layout under `data_dir` and removes leftovers of interrupted writes.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let tmp = data_dir.join("tmp");
        let blobs = data_dir.join("blobs");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(Error::io("clearing tmp dir"))?;
        }
        // Owner-only (0700), set explicitly: the bytes of private objects live here.
        crate::datadir::create_private_dir(&tmp).map_err(Error::io("creating tmp dir"))?;
        for shard in 0..=255u8 {
            crate::datadir::create_private_dir(&blobs.join(format!("{shard:02x}")))
                .map_err(Error::io("creating blob dirs"))?;
        }
        // The new entries (shard dirs, `blobs`, `tmp`, and the data dir's files created before
        // this: `meta.redb`, the master key) are only durable once their parents are synced; a
        // blob renamed into a shard whose own entry was lost would be lost with it.
        for dir in [blobs.as_path(), data_dir] {
            sync_dir(dir)?;
        }
        Ok(Self { tmp, blobs })
    }

    pub fn blob_path(&self, id: &str) -> PathBuf {
        self.blobs.join(&id[..2]).join(id)
    }

    /// Streams `body` into a new durable blob named `id`, hashing it on the way.
    ///
    /// The network side and the disk side run concurrently: this task pulls chunks from the
    /// client while a blocking thread hashes and writes the previous ones. If the body fails
    /// (client gone, bad chunk signature) or `limit` is crossed, the temp file is removed and
    /// nothing becomes visible.
    pub async fn write_stream<S, E>(
        &self,
        id: &str,
        body: S,
        hasher: ChecksumHasher,
        limit: Option<u64>,
    ) -> Result<Written>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp_path = self.tmp.join(id);
        let final_path = self.blob_path(id);
        let (tx, rx) = mpsc::channel::<Option<Bytes>>(PIPELINE_DEPTH);
        let disk =
            tokio::task::spawn_blocking(move || write_blob(&tmp_path, &final_path, rx, hasher));

        let fed = feed(body, &tx, limit).await;
        if fed.is_ok() {
            // The end marker: without it the disk thread discards the blob.
            let _ = tx.send(None).await;
        }
        drop(tx);
        let written = disk.await.map_err(|_| Error::Bug("blob writer panicked"))?;
        fed?;
        written
    }

    /// Removes blob files (after the commit that dropped their last reference).
    pub async fn unlink(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let paths: Vec<PathBuf> = ids.iter().map(|id| self.blob_path(id)).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for p in paths {
                if let Err(e) = std::fs::remove_file(&p)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove blob");
                }
            }
        })
        .await;
    }

    /// Removes blob files older than `before` that `is_live` does not know: left by a crash
    /// between a blob's rename and its commit, or between a commit and the unlink.
    pub fn sweep_orphans(
        &self,
        before: std::time::SystemTime,
        is_live: impl Fn(&str) -> bool,
    ) -> usize {
        let mut removed = 0;
        let Ok(shards) = std::fs::read_dir(&self.blobs) else {
            return 0;
        };
        for shard in shards.flatten() {
            let Ok(files) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                let Some(id) = name.to_str() else { continue };
                let old = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < before);
                if old && !is_live(id) && std::fs::remove_file(file.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// Sends the body's chunks to the disk thread, enforcing `limit`.
async fn feed<S, E>(mut body: S, tx: &mpsc::Sender<Option<Bytes>>, limit: Option<u64>) -> Result<()>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut total: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| body_error(&e))?;
        total += chunk.len() as u64;
        if let Some(limit) = limit
            && total > limit
        {
            return Err(crate::error::client_err!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size"
            ));
        }
        if tx.send(Some(chunk)).await.is_err() {
            // The disk thread stopped: its own error is the one to report.
            return Ok(());
        }
    }
    Ok(())
}

/// Maps a failure while reading the request body to the S3 error a client expects. s3s's body
/// error types are private, so their names are matched in the message.
pub fn body_error(e: &impl std::fmt::Display) -> Error {
    let text = e.to_string();
    tracing::debug!(error = %text, "request body failed");
    if crate::idle::is_body_timeout(&text) {
        crate::error::client_err!(
            RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period."
        )
    } else if text.contains("SignatureMismatch") {
        crate::error::client_err!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided (aws-chunked chunk signature)."
        )
    } else if text.contains("Sha256Mismatch") {
        // Not in s3s's code list: a custom code needs its status set, or it renders as 500.
        let mut e = s3s::S3Error::with_message(
            s3s::S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        Error::Client(e)
    } else if text.contains("TooLarge") || text.contains("TooMany") || text.contains("FormatError")
    {
        crate::error::client_err!(InvalidRequest, "The aws-chunked body is malformed")
    } else {
        crate::error::client_err!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        )
    }
}

/// The disk side of [`BlobDirs::write_stream`]: hash, write, fsync, rename, fsync the directory.
///
/// Hashing (MD5 for the ETag, plus any requested checksums) and writing run on two threads
/// joined by a short bounded channel, so a large upload uses a core for each instead of doing
/// both in turn; writes go through a 1 MiB buffer to keep system calls few.
fn write_blob(
    tmp_path: &Path,
    final_path: &Path,
    mut rx: mpsc::Receiver<Option<Bytes>>,
    mut hasher: ChecksumHasher,
) -> Result<Written> {
    let mut guard = TempGuard(Some(tmp_path.to_owned()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(crate::datadir::FILE_MODE)
        .open(tmp_path)
        .map_err(Error::io("creating temp blob"))?;
    let (to_disk, from_hasher) = std::sync::mpsc::sync_channel::<Bytes>(PIPELINE_DEPTH);
    let disk = std::thread::Builder::new()
        .name("blob-write".into())
        .spawn(move || -> Result<File> {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            for chunk in from_hasher {
                out.write_all(&chunk)
                    .map_err(Error::io("writing temp blob"))?;
            }
            out.into_inner()
                .map_err(|e| Error::io("writing temp blob")(e.into_error()))
        })
        .map_err(Error::io("spawning blob writer"))?;
    let mut md5 = Md5::new();
    let mut size: u64 = 0;
    let complete = loop {
        match rx.blocking_recv() {
            Some(Some(chunk)) => {
                md5.update(&chunk);
                hasher.update(&chunk);
                size += chunk.len() as u64;
                if to_disk.send(chunk).is_err() {
                    break true; // the writer failed: its error is returned below
                }
            }
            Some(None) => break true,
            // Closed without the end marker: the body failed; the guard drops the temp file.
            None => break false,
        }
    };
    drop(to_disk);
    let file = disk
        .join()
        .map_err(|_| Error::Bug("blob writer thread panicked"))??;
    if !complete {
        return Err(crate::error::client_err!(IncompleteBody));
    }
    file.sync_all().map_err(Error::io("fsync of blob"))?;
    drop(file);
    std::fs::rename(tmp_path, final_path).map_err(Error::io("publishing blob"))?;
    guard.0 = None;
    if let Some(dir) = final_path.parent() {
        sync_dir(dir)?;
    }
    Ok(Written {
        size,
        md5_hex: hex::encode(md5.finalize()),
        checksums: checksums_from(hasher.finalize()),
    })
}

/// Makes a directory's entries (files created, renamed or removed in it) durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync of blob dir"))
}

/// Removes a temp file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub fn checksums_from(c: s3s::dto::Checksum) -> Checksums {
    Checksums {
        crc32: c.checksum_crc32,
        crc32c: c.checksum_crc32c,
        sha1: c.checksum_sha1,
        sha256: c.checksum_sha256,
        crc64nvme: c.checksum_crc64nvme,
    }
}

/// Hashes an in-memory body (small objects stored inline).
pub fn hash_bytes(data: &[u8], mut hasher: ChecksumHasher) -> Written {
    let mut md5 = Md5::new();
    md5.update(data);
    hasher.update(data);
    Written {
        size: data.len() as u64,
        md5_hex: hex::encode(md5.finalize()),
        checksums: checksums_from(hasher.finalize()),
    }
}
