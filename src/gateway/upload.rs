//! Uploads through the control plane: bodies of unknown length (a browser form), admitted
//! with all the bucket's remaining quota and cut off past it. Forwarded buckets get the body
//! spooled to a temp file first (S3 servers want a length), then streamed from there.

use futures::StreamExt;
use s3s::dto::*;
use tokio::io::AsyncWriteExt;

use super::Gateway;
use crate::error::{Error, Result, client_err};
use crate::policy::WriteLimit;
use crate::s3util::internal_request;

impl Gateway {
    /// Stores a body of unknown length (a browser form upload through the control plane). The
    /// write reserves all the bucket's remaining quota while it runs and is cut off, leaving
    /// nothing, if it crosses it. Forwarded buckets get it spooled to a temp file first (S3
    /// servers want a length), then streamed from there.
    pub async fn put_object_streaming(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<String>,
        body: StreamingBlob,
    ) -> Result<PutObjectOutput> {
        let rec = self.registry().resolve(bucket)?;
        // The same admission as the S3 door: it reads usage under its own lock and reserves
        // all the headroom left (the write is cut off there).
        let admitted = self
            .admit_key(bucket, key, crate::policy::Need::Rest)
            .await
            .map_err(Error::from)?;
        let limit = admitted.as_ref().map_or(u64::MAX, |r| r.limit());
        // Kept until the upload is done: the file goes with it.
        let spooled;
        let (body, length) = if rec.backend.is_forwarded() {
            spooled = self.spool(body, limit).await?;
            (spooled.blob().await?, Some(spooled.len))
        } else {
            (body, None)
        };
        let input = PutObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .content_type(content_type)
            .content_length(length.and_then(|n| i64::try_from(n).ok()))
            .body(Some(body))
            .build()
            .map_err(|_| Error::Bug("building PutObjectInput"))?;
        let mut req = internal_request(input, http::Method::PUT);
        req.extensions.insert(WriteLimit(limit));
        let out = self
            .backends
            .s3(&rec)
            .s3()
            .put_object(req)
            .await
            .map_err(Error::from)?;
        Ok(out.output)
    }

    /// Writes a body to a temp file, refusing it past `limit` bytes.
    async fn spool(&self, mut body: StreamingBlob, limit: u64) -> Result<Spooled> {
        tokio::fs::create_dir_all(&self.tmp_dir)
            .await
            .map_err(Error::io("creating the spool directory"))?;
        let path = self
            .tmp_dir
            .join(format!("spool-{}", uuid::Uuid::new_v4().simple()));
        let mut spooled = Spooled { path, len: 0 };
        // Owner-only, like every file under the data dir (uploads may be private).
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&spooled.path)
            .await
            .map_err(Error::io("creating a spool file"))?;
        let mut len = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                if crate::idle::is_body_timeout(&e.to_string()) {
                    client_err!(
                        RequestTimeout,
                        "Your socket connection to the server was not read from or written to within the timeout period."
                    )
                } else {
                    client_err!(IncompleteBody, "The upload ended before its end")
                }
            })?;
            len += chunk.len() as u64;
            if len > limit {
                return Err(Error::from(crate::policy::quota_exceeded(
                    "The upload would exceed the bucket's size quota".to_owned(),
                )));
            }
            file.write_all(&chunk)
                .await
                .map_err(Error::io("writing a spool file"))?;
        }
        file.flush()
            .await
            .map_err(Error::io("writing a spool file"))?;
        spooled.len = len;
        Ok(spooled)
    }
}

/// A spooled upload; the file goes when this does.
struct Spooled {
    path: std::path::PathBuf,
    len: u64,
}

impl Spooled {
    /// The file as a streamed body (1 MiB reads).
    async fn blob(&self) -> Result<StreamingBlob> {
        let file = tokio::fs::File::open(&self.path)
            .await
            .map_err(Error::io("opening a spool file"))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        Ok(StreamingBlob::wrap(stream))
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
