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

use std::sync::Arc;

use super::host::HostMap;
use super::{Gateway, access};
use crate::backend::upstream::TRAILER_MISMATCH;
use crate::policy::{Need, Principal};
use crate::request::Target;

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

/// The s3s custom route that passes requests of `remote` and `container` buckets through.
pub struct PassThrough {
    pub gateway: Gateway,
    pub hosts: Arc<HostMap>,
}

impl PassThrough {
    /// The request's target, as the front door parsed it (parsed here when it did not: a
    /// request that came another way).
    fn target(&self, uri: &Uri, headers: &HeaderMap, ext: &http::Extensions) -> Target {
        if let Some(t) = ext.get::<Target>() {
            return t.clone();
        }
        let mut probe = http::Request::new(());
        *probe.uri_mut() = uri.clone();
        *probe.headers_mut() = headers.clone();
        self.hosts.target(&probe).0
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
    let upload_id = access::query_names(query).any(|n| n == "uploadId");
    match *method {
        Method::PUT if object && headers.contains_key("x-amz-copy-source") => Write::None,
        Method::PUT if object && upload_id => Write::Part,
        Method::PUT
            if object && !access::query_names(query).any(|n| n == "tagging" || n == "acl") =>
        {
            Write::Object
        }
        Method::POST if object && upload_id => Write::Complete,
        _ => Write::None,
    }
}

#[async_trait::async_trait]
impl S3Route for PassThrough {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        ext: &mut http::Extensions,
    ) -> bool {
        let target = self.target(uri, headers, ext);
        let (Some(bucket), tail) = (target.bucket.as_deref(), target.tail.as_str()) else {
            return false;
        };
        let query = uri.query().unwrap_or("");
        if tail == "/" && access::query_names(query).any(|n| GATEWAY_SUBRESOURCES.contains(&n)) {
            return false;
        }
        // A browser form upload (POST Object): s3s checks its policy and signature and hands
        // the file to the gateway, which stores it through the bucket's upstream.
        if method == Method::POST && tail == "/" && query.is_empty() {
            return false;
        }
        let forwarded = self
            .gateway
            .registry()
            .cached(bucket)
            .is_some_and(|b| b.backend.is_forwarded());
        if forwarded && ext.get::<Target>().is_none() {
            ext.insert(target);
        }
        forwarded
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let who = access::caller(&self.gateway, req.credentials.as_ref())?;
        let target = self.target(&req.uri, &req.headers, &req.extensions);
        let key = target.key();
        let op = access::http_operation(&req.method, key.is_some(), req.uri.query().unwrap_or(""));
        access::decide(
            &self.gateway,
            &who,
            op,
            target.bucket.as_deref(),
            key.as_deref(),
        )?;
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
        let target = self.target(&uri, &headers, &extensions);
        let (Some(bucket), tail) = (target.bucket.clone(), target.tail.clone()) else {
            return Err(S3Error::new(S3ErrorCode::NoSuchBucket));
        };
        let query = uri.query().unwrap_or("");
        if tail == "/" && query.is_empty() {
            if method == Method::DELETE {
                self.gateway.delete_bucket(&bucket, false).await?;
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
        let part = access::query_names(query).any(|n| n == "uploadId");
        let key = percent_encoding::percent_decode_str(tail.get(1..).unwrap_or(""))
            .decode_utf8_lossy()
            .into_owned();
        // User metadata: capped at the door for every backend, and counted in usage.
        let replace = headers
            .get("x-amz-metadata-directive")
            .is_some_and(|d| d.as_bytes() == b"REPLACE");
        let meta = crate::s3util::metadata_header_bytes(&headers);
        if matches!(method, Method::PUT | Method::POST) && tail.len() > 1 {
            crate::s3util::check_metadata_bytes(meta)?;
        }
        let tags = crate::s3util::tagging_header_bytes(
            headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()),
        );
        let mut copied = None;
        let mut pinned_etag = None;
        let mut admitted = match (&copy, write) {
            // The caller must be allowed to read the source, and its size counts.
            (Some(src), _) => {
                let head = self
                    .gateway
                    .copy_source_head(&who, src, credentials.as_ref())
                    .await?;
                let range = headers
                    .get("x-amz-copy-source-range")
                    .and_then(|v| v.to_str().ok());
                let size = match (part, replace) {
                    (true, _) => super::copy_range_len(range, head.size),
                    (false, true) => head.size + meta + tags,
                    (false, false) => head.size + head.metadata_bytes + tags,
                };
                copied = Some(size);
                pinned_etag = head.etag;
                if part {
                    self.gateway.admit(&bucket, Need::Bytes(size), 0)?
                } else {
                    self.gateway
                        .admit_key(&bucket, &key, Need::Bytes(size))
                        .await?
                }
            }
            (None, Write::Object) => {
                let need = Need::Bytes(length.unwrap_or(0) + meta + tags);
                self.gateway.admit_key(&bucket, &key, need).await?
            }
            (None, Write::Part) => {
                self.gateway
                    .admit(&bucket, Need::Bytes(length.unwrap_or(0)), 0)?
            }
            (None, Write::Complete) => {
                self.gateway
                    .admit_key(&bucket, &key, Need::Bytes(0))
                    .await?
            }
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
            let mut target_tail = crate::backend::upstream::canonical_path(&tail);
            if !kept.is_empty() {
                target_tail.push('?');
                target_tail.push_str(&kept.join("&"));
            }
            let forward = forward_headers(&headers, "");
            return crate::backend::copy::stream_into_forwarded(
                self.gateway.backends(),
                src,
                crate::backend::copy::CopyTarget {
                    bucket: &bucket,
                    tail: &target_tail,
                    part,
                },
                &headers,
                forward,
                admitted.as_mut(),
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
                .registry()
                .cached(&bucket)
                .is_some_and(|b| b.backend == crate::meta::BackendKind::Container);
        let mut forward_extra = HeaderMap::new();
        let mut sent_override = None;
        let mut body = Some(match trailing_headers {
            Some(trailers) => {
                let announced = headers
                    .get("x-amz-trailer")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                match reframe_with_trailer(body, trailers, &announced, length.unwrap_or(0)) {
                    Ok(r) => {
                        sent_override = Some(r.framed_len);
                        upstream_chunked_headers(&mut forward_extra, &r.names, length.unwrap_or(0));
                        r.body
                    }
                    Err(body) => body,
                }
            }
            None => body,
        });
        let sent_length =
            (method == Method::PUT || method == Method::POST).then_some(sent_override.or(length));
        let resp = loop {
            let lease = if method == Method::GET || method == Method::HEAD {
                self.gateway.backends().upstream_for_read(&bucket).await?
            } else {
                self.gateway.backends().upstream_for(&bucket).await?
            };
            let upstream = &lease.upstream;
            let mut target = format!(
                "/{}{}",
                upstream.upstream_bucket(&bucket),
                if tail == "/" {
                    String::new()
                } else {
                    crate::backend::upstream::canonical_path(&tail)
                }
            );
            if !kept.is_empty() {
                target.push('?');
                target.push_str(&kept.join("&"));
            }
            let mut forward = forward_headers(&headers, upstream.bucket_prefix());
            pin_copy_source(&mut forward, pinned_etag.as_deref())?;
            if !forward_extra.is_empty() {
                for (k, v) in &forward_extra {
                    forward.insert(k.clone(), v.clone());
                }
                let rest = forward
                    .get(http::header::CONTENT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| format!("aws-chunked,{v}"))
                    .unwrap_or_else(|| "aws-chunked".to_owned());
                if let Ok(v) = HeaderValue::from_str(&rest) {
                    forward.insert(http::header::CONTENT_ENCODING, v);
                }
            }
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
                        self.gateway.backends().upstream_unreachable(&bucket);
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
                    .registry()
                    .note_upload(&bucket, size, u64::from(!part))
                    .await;
            }
            match write {
                Write::Object => {
                    self.gateway
                        .registry()
                        .note_upload(&bucket, length.unwrap_or(0) + meta + tags, 1)
                        .await
                }
                Write::Part => {
                    self.gateway
                        .registry()
                        .note_upload(&bucket, length.unwrap_or(0), 0)
                        .await
                }
                Write::Complete => self.gateway.registry().note_upload(&bucket, 0, 1).await,
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

impl PassThrough {
    /// Whether a copy's source is on the destination's own server (a server-side copy):
    /// a container serves one bucket; the remote endpoint serves all remote buckets.
    fn same_server(&self, source: &s3s::dto::CopySource, dest: &str) -> bool {
        let s3s::dto::CopySource::Bucket { bucket, .. } = source else {
            return false;
        };
        let (Some(src), Some(dst)) = (
            self.gateway.registry().cached(bucket),
            self.gateway.registry().cached(dest),
        ) else {
            return false;
        };
        match dst.backend {
            crate::meta::BackendKind::Container => src.name == dst.name,
            crate::meta::BackendKind::Remote => src.backend == crate::meta::BackendKind::Remote,
            crate::meta::BackendKind::Embedded => false,
        }
    }
}

/// Pins a server-side copy to the source version the gateway's HEAD admitted: the upstream
/// then copies that version or answers 412, never a bigger object that replaced it. A
/// client's own `x-amz-copy-source-if-match` naming another ETag would fail there anyway.
fn pin_copy_source(forward: &mut HeaderMap, etag: Option<&str>) -> S3Result<()> {
    let Some(etag) = etag else {
        return Ok(());
    };
    let quoted = format!("\"{etag}\"");
    if let Some(own) = forward.get("x-amz-copy-source-if-match")
        && own.as_bytes() != b"*"
        && own.as_bytes() != quoted.as_bytes()
        && own.as_bytes() != etag.as_bytes()
    {
        return Err(S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        ));
    }
    if let Ok(v) = HeaderValue::from_str(&quoted) {
        forward.insert("x-amz-copy-source-if-match", v);
    }
    Ok(())
}

/// Headers of an upstream request whose body is re-framed as aws-chunked with a trailer.
fn upstream_chunked_headers(h: &mut HeaderMap, names: &[&str], decoded: u64) {
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
    );
    h.insert("x-amz-decoded-content-length", HeaderValue::from(decoded));
    if let Ok(v) = HeaderValue::from_str(&names.join(",")) {
        h.insert("x-amz-trailer", v);
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

/// Size of the aws-chunked chunks a body with a trailer is re-framed into.
const REFRAME_CHUNK: u64 = 256 << 10;

/// Base64 length of each checksum a trailer may carry.
const TRAILER_CHECKSUMS: &[(&str, usize)] = &[
    ("x-amz-checksum-crc32", 8),
    ("x-amz-checksum-crc32c", 8),
    ("x-amz-checksum-crc64nvme", 12),
    ("x-amz-checksum-sha1", 28),
    ("x-amz-checksum-sha256", 44),
];

/// A body whose checksum came as an aws-chunked trailer, on its way to the server.
struct Reframed {
    body: Body,
    /// Bytes on the wire (`Content-Length` of the upstream request).
    framed_len: u64,
    /// The trailer names, as `x-amz-trailer` lists them.
    names: Vec<&'static str>,
}

/// Re-frames a decoded body as `aws-chunked` with an unsigned trailer, so the checksum the
/// client sent reaches the server (which verifies and stores it): fixed-size chunks, whose
/// framing is known before the first byte, so the length is too; data passes through as the
/// client's own buffers (no copy). The gateway checks the client's trailer itself too: the
/// trailer goes out only after the client's stream ended (which parses its trailer) and
/// matched, so hyper, which stops at `Content-Length`, cannot complete a bad upload; on a
/// mismatch the stream fails and the upstream request is aborted.
fn reframe_with_trailer(
    body: Body,
    trailers: s3s::TrailingHeaders,
    announced: &str,
    length: u64,
) -> Result<Reframed, Body> {
    let mut hasher = s3s::checksum::ChecksumHasher::default();
    let mut names = Vec::new();
    let mut trailer_len = 0u64;
    for name in announced.split(',').map(str::trim) {
        let Some((n, b64_len)) = TRAILER_CHECKSUMS.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        match *n {
            "x-amz-checksum-crc32" => hasher.crc32 = Some(Default::default()),
            "x-amz-checksum-crc32c" => hasher.crc32c = Some(Default::default()),
            "x-amz-checksum-sha1" => hasher.sha1 = Some(Default::default()),
            "x-amz-checksum-sha256" => hasher.sha256 = Some(Default::default()),
            _ => hasher.crc64nvme = Some(Default::default()),
        }
        names.push(*n);
        trailer_len += (n.len() + 1 + b64_len + 2) as u64;
    }
    if names.is_empty() {
        // No checksum announced: nothing to carry, the body goes as it is.
        return Err(body);
    }
    let chunk_frame = |len: u64| format!("{len:x}").len() as u64 + 2 + len + 2;
    let full = length / REFRAME_CHUNK;
    let rest = length % REFRAME_CHUNK;
    let framed_len = full * chunk_frame(REFRAME_CHUNK)
        + if rest > 0 { chunk_frame(rest) } else { 0 }
        + 3
        + trailer_len
        + 2;
    struct State {
        body: Body,
        hasher: Option<s3s::checksum::ChecksumHasher>,
        trailers: s3s::TrailingHeaders,
        names: Vec<&'static str>,
        /// Decoded bytes not yet sent.
        left: u64,
        /// Bytes left in the chunk being sent.
        in_chunk: u64,
        /// Frames ready to go out.
        queue: std::collections::VecDeque<Bytes>,
        done: bool,
    }
    let state = State {
        body,
        hasher: Some(hasher),
        trailers,
        names: names.clone(),
        left: length,
        in_chunk: 0,
        queue: std::collections::VecDeque::new(),
        done: false,
    };
    let fail = |msg: &str| std::io::Error::other(msg.to_owned());
    let stream = futures::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(b) = st.queue.pop_front() {
                return Some((Ok(b), st));
            }
            if st.done {
                return None;
            }
            if st.left == 0 {
                // Everything sent: the client's trailer must be in and match before ours goes.
                while let Some(item) = st.body.next().await {
                    if item.is_err() {
                        st.done = true;
                        return Some((Err(fail("the client's body failed")), st));
                    }
                }
                let hasher = st.hasher.take()?;
                let computed = crate::backend::embedded::checksums_of(hasher.finalize());
                st.done = true;
                if !trailer_matches_computed(&st.trailers, &computed) {
                    return Some((Err(fail(TRAILER_MISMATCH)), st));
                }
                let mut end = String::from("0\r\n");
                for name in &st.names {
                    let value = match *name {
                        "x-amz-checksum-crc32" => computed.crc32.clone(),
                        "x-amz-checksum-crc32c" => computed.crc32c.clone(),
                        "x-amz-checksum-sha1" => computed.sha1.clone(),
                        "x-amz-checksum-sha256" => computed.sha256.clone(),
                        _ => computed.crc64nvme.clone(),
                    };
                    end.push_str(&format!("{name}:{}\r\n", value.unwrap_or_default()));
                }
                end.push_str("\r\n");
                return Some((Ok(Bytes::from(end)), st));
            }
            let mut chunk = match st.body.next().await {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(std::io::Error::other(e.to_string())), st));
                }
                None => {
                    st.done = true;
                    return Some((Err(fail("the body ended before its decoded length")), st));
                }
            };
            if chunk.len() as u64 > st.left {
                st.done = true;
                return Some((Err(fail("the body is longer than its decoded length")), st));
            }
            if let Some(h) = st.hasher.as_mut() {
                h.update(&chunk);
            }
            while !chunk.is_empty() {
                if st.in_chunk == 0 {
                    st.in_chunk = st.left.min(REFRAME_CHUNK);
                    st.queue
                        .push_back(Bytes::from(format!("{:x}\r\n", st.in_chunk)));
                }
                let take = usize::try_from(st.in_chunk)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                st.queue.push_back(chunk.split_to(take));
                st.in_chunk -= take as u64;
                st.left -= take as u64;
                if st.in_chunk == 0 {
                    st.queue.push_back(Bytes::from_static(b"\r\n"));
                }
            }
        }
    });
    Ok(Reframed {
        body: Body::http_body_unsync(http_body_util::StreamBody::new(
            stream.map(|r: std::io::Result<Bytes>| r.map(hyper::body::Frame::data)),
        )),
        framed_len,
        names,
    })
}

/// Whether every checksum the client's trailer carries equals the computed one (no trailer:
/// true; an algorithm that was not announced in `x-amz-trailer` was not computed).
fn trailer_matches_computed(
    trailers: &s3s::TrailingHeaders,
    computed: &crate::meta::Checksums,
) -> bool {
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
                _ => true,
            })
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_classified() {
        let h = HeaderMap::new();
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
}
