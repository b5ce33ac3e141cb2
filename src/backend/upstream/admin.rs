//! Bucket-level calls on an upstream server: create (and ensure) a bucket, whether it is
//! empty, its usage, deletion, and the versioning and encryption settings carried to it.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use s3s::{Body, S3Result};

use bytes::Bytes;

use super::{Upstream, body_text, unavailable, upstream_error};

impl Upstream {
    /// Sends a request without a body and reads a small answer (at most `cap` bytes).
    pub async fn call_small(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        cap: usize,
    ) -> S3Result<(StatusCode, HeaderMap, String)> {
        let len = body.len() as u64;
        let resp = self
            .send(
                method.clone(),
                path_and_query,
                headers,
                Body::from(body),
                (method == Method::PUT || method == Method::POST).then_some(len),
            )
            .await?;
        let (parts, body) = resp.into_parts();
        Ok((parts.status, parts.headers, body_text(body, cap).await))
    }

    /// A request on the bucket itself (`?subresource` when not empty) whose answer is only
    /// success or an S3 error; the error code `tolerated` counts as success.
    async fn bucket_call(
        &self,
        method: Method,
        bucket: &str,
        subresource: &str,
        headers: HeaderMap,
        body: Bytes,
        tolerated: Option<&str>,
    ) -> S3Result<()> {
        let mut target = format!("/{}", self.upstream_bucket(bucket));
        if !subresource.is_empty() {
            target.push('?');
            target.push_str(subresource);
        }
        let (status, _, text) = self
            .call_small(method, &target, headers, body, 64 << 10)
            .await?;
        if status.is_success() || tolerated.is_some_and(|code| text.contains(code)) {
            return Ok(());
        }
        Err(upstream_error(status, &text))
    }

    /// Creates the bucket on the server (an existing one of ours is fine).
    pub async fn create_bucket(&self, bucket: &str) -> S3Result<()> {
        self.bucket_call(
            Method::PUT,
            bucket,
            "",
            HeaderMap::new(),
            Bytes::new(),
            Some("BucketAlreadyOwnedByYou"),
        )
        .await
    }

    /// Creates the bucket on a server of its own (a bucket's container) unless it is there:
    /// some servers answer a repeated create with `BucketAlreadyExists` even to its owner.
    pub async fn ensure_bucket(&self, bucket: &str) -> S3Result<()> {
        let (status, _, _) = self
            .call_small(
                Method::HEAD,
                &format!("/{}", self.upstream_bucket(bucket)),
                HeaderMap::new(),
                Bytes::new(),
                0,
            )
            .await?;
        if status.is_success() {
            return Ok(());
        }
        self.create_bucket(bucket).await
    }

    /// Whether the bucket holds no object and no multipart upload in progress.
    pub async fn is_empty(&self, bucket: &str) -> S3Result<bool> {
        let path = format!("/{}", self.upstream_bucket(bucket));
        let (status, _, xml) = self
            .call_small(
                Method::GET,
                &format!("{path}?list-type=2&max-keys=1"),
                HeaderMap::new(),
                Bytes::new(),
                1 << 20,
            )
            .await?;
        if !status.is_success() {
            return Err(upstream_error(status, &xml));
        }
        if xml.contains("<Key>") || xml.contains("<Contents>") {
            return Ok(false);
        }
        let (status, _, xml) = self
            .call_small(
                Method::GET,
                &format!("{path}?uploads&max-uploads=1"),
                HeaderMap::new(),
                Bytes::new(),
                1 << 20,
            )
            .await?;
        // A server without ListMultipartUploads has no upload to lose.
        if status == StatusCode::NOT_IMPLEMENTED {
            return Ok(true);
        }
        if !status.is_success() {
            return Err(upstream_error(status, &xml));
        }
        Ok(!xml.contains("<Upload>"))
    }

    /// Counts the objects and bytes the server holds for a bucket (ListObjectsV2, page by
    /// page), to repair the usage that forwarded writes only estimate.
    pub async fn usage(&self, bucket: &str) -> S3Result<crate::meta::UsageRecord> {
        let mut usage = crate::meta::UsageRecord::default();
        let mut token: Option<String> = None;
        loop {
            let mut target = format!(
                "/{}?list-type=2&max-keys=1000",
                self.upstream_bucket(bucket)
            );
            if let Some(t) = &token {
                target.push_str("&continuation-token=");
                target.push_str(&crate::s3util::url_encode(t));
            }
            // A page of 1000 keys is well under this cap; a larger answer is not a listing.
            let (status, _, xml) = self
                .call_small(
                    Method::GET,
                    &target,
                    HeaderMap::new(),
                    Bytes::new(),
                    16 << 20,
                )
                .await?;
            if !status.is_success() {
                return Err(upstream_error(status, &xml));
            }
            if !xml.contains("ListBucketResult") {
                return Err(unavailable(
                    "The bucket's storage server sent an unreadable listing",
                    5,
                ));
            }
            for size in xml.split("<Size>").skip(1) {
                let n = size
                    .split('<')
                    .next()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                usage.objects += 1;
                usage.bytes += n;
            }
            token = crate::s3util::xml_text(&xml, "NextContinuationToken");
            let truncated =
                crate::s3util::xml_text(&xml, "IsTruncated").is_some_and(|v| v == "true");
            if !truncated || token.is_none() {
                return Ok(usage);
            }
        }
    }

    /// Deletes the bucket on the server (S3 rules: it must be empty).
    pub async fn delete_bucket(&self, bucket: &str) -> S3Result<()> {
        self.bucket_call(
            Method::DELETE,
            bucket,
            "",
            HeaderMap::new(),
            Bytes::new(),
            Some("NoSuchBucket"),
        )
        .await
    }

    /// Sets the bucket's versioning (`Enabled` or `Suspended`) on the server.
    pub async fn put_versioning(&self, bucket: &str, status: &str) -> S3Result<()> {
        let xml = format!(
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{}</Status></VersioningConfiguration>",
            quick_xml::escape::escape(status)
        );
        self.put_bucket_config(bucket, "versioning", xml).await
    }

    /// Sets the bucket's default encryption (e.g. `AES256`) on the server.
    pub async fn put_encryption(&self, bucket: &str, algorithm: &str) -> S3Result<()> {
        let xml = format!(
            "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>{}</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
            quick_xml::escape::escape(algorithm)
        );
        self.put_bucket_config(bucket, "encryption", xml).await
    }

    /// Removes the bucket's default encryption on the server.
    pub async fn delete_encryption(&self, bucket: &str) -> S3Result<()> {
        let (h, b) = (HeaderMap::new(), Bytes::new());
        self.bucket_call(Method::DELETE, bucket, "encryption", h, b, None)
            .await
    }

    /// Applies a bucket sub-resource (`versioning`, `encryption`) on the server.
    async fn put_bucket_config(
        &self,
        bucket: &str,
        subresource: &str,
        xml: String,
    ) -> S3Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        let md5 = {
            use s3s::crypto::Checksum as _;
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                s3s::crypto::Md5::checksum(xml.as_bytes()),
            )
        };
        if let Ok(v) = HeaderValue::from_str(&md5) {
            headers.insert("content-md5", v);
        }
        self.bucket_call(
            Method::PUT,
            bucket,
            subresource,
            headers,
            Bytes::from(xml),
            None,
        )
        .await
    }
}
