//! The forwarding route: requests for buckets on another S3 server (`remote` and `container`
//! buckets) go there at the HTTP level, after s3s has verified the client's signature (and
//! decoded an aws-chunked body).
//!
//! An s3s custom route takes these requests before they are parsed into operations, so every
//! S3 operation the server supports passes through unchanged: user metadata, content headers,
//! tagging, checksums and multipart ETags are the server's own. The gateway keeps what is its
//! own business: the access rules, quota admission, bucket deletion (S3 rules, then the
//! backend's resources), and the bucket settings it enforces itself (CORS, websites, public
//! access through canned ACLs), which s3s routes to [`crate::gateway::Gateway`] instead.
//!
//! A checksum the client sent as an aws-chunked trailer is verified here as the body passes;
//! on a mismatch the upstream request is aborted, so the object is never completed.

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::upstream::TRAILER_MISMATCH;
use crate::gateway::Gateway;
use crate::policy::{Principal, authorize};

/// Headers that describe the client's hop or its signature, not the request: never forwarded.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "expect",
    "te",
    "upgrade",
    "proxy-connection",
];

/// Response headers of the server's hop, not of the object.
const DROPPED_RESPONSE_HEADERS: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "server"];

/// Query parameters of presigned-URL authentication.
const PRESIGN_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// Bucket sub-resources the gateway answers itself for every backend (it enforces them).
const GATEWAY_SUBRESOURCES: &[&str] = &["cors", "website", "acl"];

/// The s3s custom route that forwards requests of `remote` and `container` buckets.
pub struct ForwardRoute {
    pub gateway: Gateway,
    pub base_domain: String,
}

/// Bucket, and the path after it, of a request (virtual-host style under the base domain,
/// else path style).
pub fn split_target(uri: &Uri, headers: &HeaderMap, base_domain: &str) -> Option<(String, String)> {
    let path = uri.path();
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host = crate::request::strip_port(host);
    if let Some(bucket) = host
        .to_ascii_lowercase()
        .strip_suffix(base_domain)
        .and_then(|p| p.strip_suffix('.'))
        .filter(|b| !b.is_empty())
    {
        return Some((bucket.to_owned(), path.to_owned()));
    }
    let rest = path.strip_prefix('/')?;
    let (bucket, tail) = rest.split_once('/').map_or((rest, ""), |(b, t)| (b, t));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), format!("/{tail}")))
}

fn query_names(query: &str) -> impl Iterator<Item = &str> {
    query
        .split('&')
        .map(|p| p.split('=').next().unwrap_or(""))
        .filter(|n| !n.is_empty())
}

/// A coarse operation name for the access rules (the route sees HTTP, not S3 operations).
fn operation(method: &Method, object: bool, query: &str) -> &'static str {
    let subresource = query_names(query).any(|n| {
        !n.starts_with("X-Amz-")
            && !matches!(
                n,
                "list-type"
                    | "prefix"
                    | "delimiter"
                    | "max-keys"
                    | "continuation-token"
                    | "start-after"
                    | "encoding-type"
                    | "marker"
                    | "versionId"
                    | "partNumber"
                    | "uploadId"
                    | "uploads"
                    | "response-content-type"
                    | "response-content-disposition"
                    | "response-cache-control"
                    | "response-content-encoding"
                    | "response-content-language"
                    | "response-expires"
                    | "fetch-owner"
                    | "x-id"
            )
    });
    match (method.as_str(), object, subresource) {
        ("GET", true, false) => "GetObject",
        ("GET", true, true) if query_names(query).any(|n| n == "tagging") => "GetObjectTagging",
        ("HEAD", true, _) => "HeadObject",
        ("GET", false, false) => "ListObjects",
        ("HEAD", false, _) => "HeadBucket",
        (_, true, _) => "PutObject",
        ("PUT", false, false) => "CreateBucket",
        _ => "PutBucketConfiguration",
    }
}

/// What the quota sees of a forwarded write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// PutObject: `bytes` and one object.
    Object,
    /// UploadPart: bytes only.
    Part,
    /// CompleteMultipartUpload: one object, its bytes were counted with the parts.
    Complete,
    None,
}

fn write_kind(method: &Method, tail: &str, query: &str, headers: &HeaderMap) -> Write {
    let object = tail.len() > 1;
    let upload_id = query_names(query).any(|n| n == "uploadId");
    match *method {
        Method::PUT if object && headers.contains_key("x-amz-copy-source") => Write::None,
        Method::PUT if object && upload_id => Write::Part,
        Method::PUT if object && !query_names(query).any(|n| n == "tagging" || n == "acl") => {
            Write::Object
        }
        Method::POST if object && upload_id => Write::Complete,
        _ => Write::None,
    }
}

#[async_trait::async_trait]
impl S3Route for ForwardRoute {
    fn is_match(
        &self,
        _method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        _: &mut http::Extensions,
    ) -> bool {
        let Some((bucket, tail)) = split_target(uri, headers, &self.base_domain) else {
            return false;
        };
        if tail == "/"
            && query_names(uri.query().unwrap_or("")).any(|n| GATEWAY_SUBRESOURCES.contains(&n))
        {
            return false;
        }
        self.gateway
            .cached(&bucket)
            .is_some_and(|b| b.backend.is_forwarded())
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let who = match &req.credentials {
            Some(c) => self.gateway.principal(&c.access_key)?,
            None => Principal::Anonymous,
        };
        let (bucket, tail) = split_target(&req.uri, &req.headers, &self.base_domain)
            .ok_or_else(|| S3Error::new(S3ErrorCode::NoSuchBucket))?;
        let rec = self
            .gateway
            .cached(&bucket)
            .ok_or_else(|| S3Error::new(S3ErrorCode::NoSuchBucket))?;
        let object = tail.len() > 1;
        if object {
            let key = percent_encoding::percent_decode_str(&tail[1..]).decode_utf8_lossy();
            crate::s3util::validate_key(&key)?;
        }
        let op = operation(&req.method, object, req.uri.query().unwrap_or(""));
        match op {
            // Creating a taken name is answered in `call` (BucketAlreadyExists), not 403.
            "CreateBucket" if who != Principal::Anonymous => {}
            _ => authorize(&who, op, &rec)?,
        }
        req.extensions.insert(who);
        Ok(())
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let S3Request {
            input: body,
            method,
            uri,
            headers,
            trailing_headers,
            extensions,
            credentials,
            ..
        } = req;
        let (bucket, tail) = split_target(&uri, &headers, &self.base_domain)
            .ok_or_else(|| S3Error::new(S3ErrorCode::NoSuchBucket))?;
        let query = uri.query().unwrap_or("");
        if tail == "/" && query.is_empty() {
            if method == Method::DELETE {
                self.gateway.remove_bucket(&bucket, false).await?;
                return Ok(S3Response::with_status(
                    Body::empty(),
                    http::StatusCode::NO_CONTENT,
                ));
            }
            if method == Method::PUT {
                let who = extensions.get::<Principal>().cloned();
                self.gateway
                    .create_existing(&bucket, who.as_ref().unwrap_or(&Principal::Anonymous))
                    .await?;
                let mut resp = S3Response::new(Body::empty());
                if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}")) {
                    resp.headers.insert(http::header::LOCATION, v);
                }
                return Ok(resp);
            }
        }
        let length = headers
            .get("x-amz-decoded-content-length")
            .or_else(|| headers.get(http::header::CONTENT_LENGTH))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let write = write_kind(&method, &tail, query, &headers);
        let who = extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or(Principal::Anonymous);
        let copy = match (
            method == Method::PUT && tail.len() > 1,
            headers.get("x-amz-copy-source"),
        ) {
            (true, Some(v)) => Some(
                s3s::dto::CopySource::parse(v.to_str().unwrap_or("")).map_err(|_| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "The x-amz-copy-source header is not valid",
                    )
                })?,
            ),
            _ => None,
        };
        let part = query_names(query).any(|n| n == "uploadId");
        let mut copied = None;
        let _admitted = match (&copy, write) {
            // The caller must be allowed to read the source, and its size counts.
            (Some(src), _) => {
                let size = self
                    .gateway
                    .copy_source_size(&who, src, credentials.as_ref())
                    .await?;
                copied = Some(size);
                self.gateway.admit_write(&bucket, size, u64::from(!part))?
            }
            (None, Write::Object) => self.gateway.admit_write(&bucket, length.unwrap_or(0), 1)?,
            (None, Write::Part) => self.gateway.admit_write(&bucket, length.unwrap_or(0), 0)?,
            (None, Write::Complete) => self.gateway.admit_write(&bucket, 0, 1)?,
            (None, Write::None) => None,
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                !p.is_empty()
                    && !PRESIGN_PARAMS
                        .iter()
                        .any(|q| p.split('=').next() == Some(q))
            })
            .collect();
        if let Some(src) = copy.as_ref().filter(|s| !self.same_server(s, &bucket)) {
            let mut target_tail = tail.clone();
            if !kept.is_empty() {
                target_tail.push('?');
                target_tail.push_str(&kept.join("&"));
            }
            let forward = forward_headers(&headers, "");
            return crate::backend::copy::stream_into_forwarded(
                &self.gateway,
                src,
                &bucket,
                &target_tail,
                &headers,
                forward,
                part,
            )
            .await;
        }
        // A request without a body may be sent again: when a bucket's container turns out to
        // be dead (killed from outside, before Docker's event arrived), it is started and the
        // request retried once, so the client sees latency instead of an error.
        let retryable = length.unwrap_or(0) == 0
            && trailing_headers.is_none()
            && self
                .gateway
                .cached(&bucket)
                .is_some_and(|b| b.backend == crate::meta::BackendKind::Container);
        let mut body = Some(match trailing_headers {
            Some(trailers) => {
                let announced = headers
                    .get("x-amz-trailer")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                verify_trailer(body, trailers, &announced, length)
            }
            None => body,
        });
        let sent_length = (method == Method::PUT || method == Method::POST).then_some(length);
        let resp = loop {
            let lease = self.gateway.upstream_for(&bucket).await?;
            let upstream = &lease.upstream;
            let mut target = format!(
                "/{}{}",
                upstream.upstream_bucket(&bucket),
                if tail == "/" { "" } else { &tail }
            );
            if !kept.is_empty() {
                target.push('?');
                target.push_str(&kept.join("&"));
            }
            let forward = forward_headers(&headers, upstream.bucket_prefix());
            let first = body.take();
            let retry_left = first.is_some() && retryable;
            match upstream
                .send_checked(
                    method.clone(),
                    &target,
                    forward,
                    first.unwrap_or_default(),
                    sent_length.flatten(),
                    lease.hold,
                )
                .await
            {
                Ok(resp) => break resp,
                Err(failure) => {
                    if failure.unreachable {
                        self.gateway.upstream_unreachable(&bucket);
                        if retry_left {
                            tracing::info!(
                                bucket,
                                "storage container unreachable; starting it and retrying"
                            );
                            continue;
                        }
                    }
                    return Err(failure.error);
                }
            }
        };
        let (parts, body) = resp.into_parts();
        if parts.status.is_success() {
            if let Some(size) = copied {
                self.gateway
                    .note_upload(&bucket, size, u64::from(!part))
                    .await;
            }
            match write {
                Write::Object => {
                    self.gateway
                        .note_upload(&bucket, length.unwrap_or(0), 1)
                        .await
                }
                Write::Part => {
                    self.gateway
                        .note_upload(&bucket, length.unwrap_or(0), 0)
                        .await
                }
                Write::Complete => self.gateway.note_upload(&bucket, 0, 1).await,
                Write::None => {}
            }
        }
        let mut out = S3Response::with_status(body, parts.status);
        for (name, value) in &parts.headers {
            if !DROPPED_RESPONSE_HEADERS.contains(&name.as_str()) {
                out.headers.append(name.clone(), value.clone());
            }
        }
        Ok(out)
    }
}

impl ForwardRoute {
    /// Whether a copy's source is on the destination's own server (a server-side copy):
    /// a container serves one bucket; the remote endpoint serves all remote buckets.
    fn same_server(&self, source: &s3s::dto::CopySource, dest: &str) -> bool {
        let s3s::dto::CopySource::Bucket { bucket, .. } = source else {
            return false;
        };
        let (Some(src), Some(dst)) = (self.gateway.cached(bucket), self.gateway.cached(dest))
        else {
            return false;
        };
        match dst.backend {
            crate::meta::BackendKind::Container => src.name == dst.name,
            crate::meta::BackendKind::Remote => src.backend == crate::meta::BackendKind::Remote,
            crate::meta::BackendKind::Embedded => false,
        }
    }
}

/// The client's headers as the server should see them.
fn forward_headers(headers: &HeaderMap, bucket_prefix: &str) -> HeaderMap {
    let mut forward = HeaderMap::new();
    for (name, value) in headers {
        if DROPPED_REQUEST_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if name == http::header::CONTENT_ENCODING {
            let rest = crate::s3util::strip_aws_chunked(value.to_str().ok().map(str::to_owned));
            if let Some(v) = rest.and_then(|r| HeaderValue::from_str(&r).ok()) {
                forward.insert(name.clone(), v);
            }
            continue;
        }
        if name.as_str() == "x-amz-copy-source" && !bucket_prefix.is_empty() {
            let src = value.to_str().unwrap_or("").trim_start_matches('/');
            if let Ok(v) = HeaderValue::from_str(&format!("/{bucket_prefix}{src}")) {
                forward.insert(name.clone(), v);
            }
            continue;
        }
        forward.append(name.clone(), value.clone());
    }
    forward
}

/// Passes `body` through, computing the checksum a trailer will announce, and fails the stream
/// instead of finishing it when the trailer does not match (the upstream upload is then
/// aborted). hyper stops polling a body once it has sent `Content-Length` bytes, so the check
/// runs before the last bytes are handed over: the client's stream is read to its end (which
/// parses the trailer) first.
fn verify_trailer(
    body: Body,
    trailers: s3s::TrailingHeaders,
    announced: &str,
    length: Option<u64>,
) -> Body {
    // Only the algorithms the client announced in `x-amz-trailer` are computed.
    let mut hasher = s3s::checksum::ChecksumHasher::default();
    for name in announced.split(',').map(str::trim) {
        match name {
            "x-amz-checksum-crc32" => hasher.crc32 = Some(Default::default()),
            "x-amz-checksum-crc32c" => hasher.crc32c = Some(Default::default()),
            "x-amz-checksum-sha1" => hasher.sha1 = Some(Default::default()),
            "x-amz-checksum-sha256" => hasher.sha256 = Some(Default::default()),
            "x-amz-checksum-crc64nvme" => hasher.crc64nvme = Some(Default::default()),
            _ => {}
        }
    }
    struct State {
        body: Body,
        hasher: Option<s3s::checksum::ChecksumHasher>,
        trailers: s3s::TrailingHeaders,
        seen: u64,
        length: Option<u64>,
    }
    let state = State {
        body,
        hasher: Some(hasher),
        trailers,
        seen: 0,
        length,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        let h = st.hasher.as_mut()?;
        let chunk = match st.body.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                st.hasher = None;
                return Some((Err(std::io::Error::other(e.to_string())), st));
            }
            None => {
                return match trailer_matches(&st.trailers, st.hasher.take()?) {
                    false => Some((Err(std::io::Error::other(TRAILER_MISMATCH)), st)),
                    true => None,
                };
            }
        };
        h.update(&chunk);
        st.seen += chunk.len() as u64;
        if st.length.is_some_and(|n| st.seen >= n) {
            // The last bytes: finish the client's stream (parsing its trailer) and check it
            // before letting hyper complete the upstream request.
            while let Some(Ok(_)) = st.body.next().await {}
            let ok = trailer_matches(&st.trailers, st.hasher.take()?);
            if !ok {
                return Some((Err(std::io::Error::other(TRAILER_MISMATCH)), st));
            }
        }
        Some((Ok(chunk), st))
    });
    Body::http_body_unsync(http_body_util::StreamBody::new(
        stream.map(|r: std::io::Result<Bytes>| r.map(hyper::body::Frame::data)),
    ))
}

/// Whether every checksum the trailer announces equals the computed one (no trailer: true).
fn trailer_matches(trailers: &s3s::TrailingHeaders, hasher: s3s::checksum::ChecksumHasher) -> bool {
    let computed = crate::backend::embedded::checksums_of(hasher.finalize());
    trailers
        .read(|t| {
            let want = |n: &str| t.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
            [
                (want("x-amz-checksum-crc32"), &computed.crc32),
                (want("x-amz-checksum-crc32c"), &computed.crc32c),
                (want("x-amz-checksum-sha1"), &computed.sha1),
                (want("x-amz-checksum-sha256"), &computed.sha256),
                (want("x-amz-checksum-crc64nvme"), &computed.crc64nvme),
            ]
            .iter()
            .all(|(want, got)| match (want, got) {
                (Some(w), Some(g)) => w == g,
                // Not announced in x-amz-trailer, so not computed.
                _ => true,
            })
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_and_writes_are_classified() {
        let h = HeaderMap::new();
        assert_eq!(operation(&Method::GET, true, ""), "GetObject");
        assert_eq!(operation(&Method::GET, true, "tagging"), "GetObjectTagging");
        // Other object sub-resources count as writes: read grants do not reach them.
        assert_eq!(operation(&Method::GET, true, "acl"), "PutObject");
        assert_eq!(
            operation(&Method::GET, false, "list-type=2&prefix=a"),
            "ListObjects"
        );
        assert_eq!(operation(&Method::PUT, false, ""), "CreateBucket");
        assert_eq!(
            operation(&Method::PUT, false, "versioning"),
            "PutBucketConfiguration"
        );
        assert_eq!(write_kind(&Method::PUT, "/k", "", &h), Write::Object);
        assert_eq!(
            write_kind(&Method::PUT, "/k", "partNumber=1&uploadId=x", &h),
            Write::Part
        );
        assert_eq!(
            write_kind(&Method::POST, "/k", "uploadId=x", &h),
            Write::Complete
        );
        assert_eq!(write_kind(&Method::POST, "/k", "uploads", &h), Write::None);
        assert_eq!(write_kind(&Method::PUT, "/k", "tagging", &h), Write::None);
        let mut copy = HeaderMap::new();
        copy.insert("x-amz-copy-source", HeaderValue::from_static("/b/k"));
        assert_eq!(write_kind(&Method::PUT, "/k", "", &copy), Write::None);
    }

    #[test]
    fn targets_split_in_both_styles() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::HOST,
            HeaderValue::from_static("photos.s3.localhost:9000"),
        );
        let uri: Uri = "/a/b".parse().unwrap();
        assert_eq!(
            split_target(&uri, &h, "s3.localhost"),
            Some(("photos".to_owned(), "/a/b".to_owned()))
        );
        h.insert(
            http::header::HOST,
            HeaderValue::from_static("127.0.0.1:9000"),
        );
        assert_eq!(
            split_target(&uri, &h, "s3.localhost"),
            Some(("a".to_owned(), "/b".to_owned()))
        );
    }
}
