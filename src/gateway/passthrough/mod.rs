//! The pass-through route: requests for buckets on another S3 server (`remote` and
//! `container` buckets) go there at the HTTP level, after s3s has verified the client's
//! signature (and decoded an aws-chunked body).
//!
//! An s3s custom route takes these requests before they are parsed into operations, so every
//! S3 operation the server supports passes through unchanged: user metadata, content headers,
//! tagging, checksums and multipart ETags are the server's own. The gateway keeps what is its
//! own business: the access rules, quota admission, bucket deletion (S3 rules, then the
//! backend's resources), and the bucket settings it enforces itself (CORS, websites, public
//! access through canned ACLs), which s3s routes to the gateway's `S3` instead. The access decision is
//! [`super::access::decide`], the admission the gateway's one quota admission.
//!
//! A checksum the client sent as an aws-chunked trailer is verified as the body passes
//! ([`crate::backend::upstream::chunked`]); on a mismatch the upstream request is aborted, so
//! the object is never completed.

use http::{HeaderMap, HeaderValue, Method, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

mod headers;

use std::sync::Arc;

use crate::gateway::host::HostMap;
use crate::gateway::{Gateway, access};
use crate::policy::{Need, Principal};
use crate::request::Target;
use headers::{
    DROPPED_RESPONSE_HEADERS, PRESIGN_PARAMS, add_chunked_headers, forward_headers, outgoing_body,
    pin_copy_source,
};

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
        let who = extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or(Principal::Anonymous);
        let p = Passing::of(&target, &method, uri.query().unwrap_or(""), &headers)?;
        if let Some(answer) = self.bucket_request(&p, &method, &who).await {
            return answer;
        }
        let copy = copy_source(&method, &p, &headers)?;
        let mut admitted = self
            .admit(&p, &who, copy.as_ref(), credentials.as_ref(), &headers)
            .await?;
        if let Some(src) = copy.as_ref().filter(|s| !self.same_server(s, &p.bucket)) {
            let forward = forward_headers(&headers, "");
            return crate::backend::copy::stream_into_forwarded(
                self.gateway.backends(),
                src,
                crate::backend::copy::CopyTarget {
                    bucket: &p.bucket,
                    tail: &p.upstream_tail(),
                    part: p.part,
                },
                &headers,
                forward,
                admitted.reservation.as_mut(),
            )
            .await;
        }
        let resp = self
            .send(&p, method, &headers, body, trailing_headers, &admitted)
            .await?;
        let (parts, body) = resp.into_parts();
        if parts.status.is_success() {
            self.settle(&p, admitted.copied).await;
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

/// One request on its way through, as the route reads it.
struct Passing {
    bucket: String,
    /// The path after the bucket, from its `/`.
    tail: String,
    /// The query without presigned-URL parameters (the server gets our signature).
    query: String,
    /// The body's (decoded) length, when declared.
    length: Option<u64>,
    write: Write,
    /// The object key, decoded (empty for bucket requests).
    key: String,
    /// An UploadPart (or UploadPartCopy).
    part: bool,
    /// Bytes of the request's user metadata and tags, as usage counts them.
    meta: u64,
    tags: u64,
    /// A copy that replaces the source's metadata.
    replace: bool,
}

impl Passing {
    fn of(target: &Target, method: &Method, query: &str, headers: &HeaderMap) -> S3Result<Self> {
        let (Some(bucket), tail) = (target.bucket.clone(), target.tail.clone()) else {
            return Err(S3Error::new(S3ErrorCode::NoSuchBucket));
        };
        let length = headers
            .get("x-amz-decoded-content-length")
            .or_else(|| headers.get(http::header::CONTENT_LENGTH))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // User metadata: capped at the door for every backend, and counted in usage.
        let meta = crate::s3util::metadata_header_bytes(headers);
        if matches!(*method, Method::PUT | Method::POST) && tail.len() > 1 {
            crate::s3util::check_metadata_bytes(meta)?;
        }
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                !p.is_empty()
                    && !PRESIGN_PARAMS
                        .iter()
                        .any(|q| p.split('=').next() == Some(q))
            })
            .collect();
        Ok(Self {
            write: write_kind(method, &tail, query, headers),
            key: target.key().map(|k| k.into_owned()).unwrap_or_default(),
            part: access::query_names(query).any(|n| n == "uploadId"),
            tags: crate::s3util::tagging_header_bytes(
                headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()),
            ),
            replace: headers
                .get("x-amz-metadata-directive")
                .is_some_and(|d| d.as_bytes() == b"REPLACE"),
            query: kept.join("&"),
            bucket,
            tail,
            length,
            meta,
        })
    }

    /// The path after the bucket as the server gets it (S3's canonical encoding), with the
    /// kept query.
    fn upstream_tail(&self) -> String {
        let mut tail = if self.tail == "/" {
            String::new()
        } else {
            crate::backend::upstream::canonical_path(&self.tail)
        };
        if !self.query.is_empty() {
            tail.push('?');
            tail.push_str(&self.query);
        }
        tail
    }
}

/// The source of a CopyObject or UploadPartCopy.
fn copy_source(
    method: &Method,
    p: &Passing,
    headers: &HeaderMap,
) -> S3Result<Option<s3s::dto::CopySource>> {
    match (
        *method == Method::PUT && p.tail.len() > 1,
        headers.get("x-amz-copy-source"),
    ) {
        (true, Some(v)) => s3s::dto::CopySource::parse(v.to_str().unwrap_or(""))
            .map(Some)
            .map_err(|_| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "The x-amz-copy-source header is not valid",
                )
            }),
        _ => Ok(None),
    }
}

/// What the admission of a forwarded write decided.
struct Admitted {
    reservation: Option<crate::policy::Reservation>,
    /// Bytes a copy stores.
    copied: Option<u64>,
    /// The source version a server-side copy must copy.
    pinned_etag: Option<String>,
}

impl PassThrough {
    /// DeleteBucket and CreateBucket of an existing name are the gateway's own business.
    async fn bucket_request(
        &self,
        p: &Passing,
        method: &Method,
        who: &Principal,
    ) -> Option<S3Result<S3Response<Body>>> {
        if p.tail != "/" || !p.query.is_empty() {
            return None;
        }
        if *method == Method::DELETE {
            return Some(
                self.gateway
                    .delete_bucket(&p.bucket, false)
                    .await
                    .map(|()| S3Response::with_status(Body::empty(), http::StatusCode::NO_CONTENT))
                    .map_err(Into::into),
            );
        }
        if *method == Method::PUT {
            return Some(match self.gateway.create_existing(&p.bucket, who).await {
                Ok(()) => {
                    let mut resp = S3Response::new(Body::empty());
                    if let Ok(v) = HeaderValue::from_str(&format!("/{}", p.bucket)) {
                        resp.headers.insert(http::header::LOCATION, v);
                    }
                    Ok(resp)
                }
                Err(e) => Err(e.into()),
            });
        }
        None
    }

    /// The quota admission of a write: a copy's size comes from a HEAD of its source (which
    /// the caller must be allowed to read).
    async fn admit(
        &self,
        p: &Passing,
        who: &Principal,
        copy: Option<&s3s::dto::CopySource>,
        credentials: Option<&s3s::auth::Credentials>,
        headers: &HeaderMap,
    ) -> S3Result<Admitted> {
        let gw = &self.gateway;
        let (bucket, key, length) = (&p.bucket, &p.key, p.length.unwrap_or(0));
        let mut admitted = Admitted {
            reservation: None,
            copied: None,
            pinned_etag: None,
        };
        admitted.reservation = match (copy, p.write) {
            (Some(src), _) => {
                let head = gw.copy_source_head(who, src, credentials).await?;
                let range = headers
                    .get("x-amz-copy-source-range")
                    .and_then(|v| v.to_str().ok());
                let size = match (p.part, p.replace) {
                    (true, _) => super::copy_range_len(range, head.size),
                    (false, true) => head.size + p.meta + p.tags,
                    (false, false) => head.size + head.metadata_bytes + p.tags,
                };
                admitted.copied = Some(size);
                admitted.pinned_etag = head.etag;
                if p.part {
                    gw.admit(bucket, Need::Bytes(size), 0)?
                } else {
                    gw.admit_key(bucket, key, Need::Bytes(size)).await?
                }
            }
            (None, Write::Object) => {
                let need = Need::Bytes(length + p.meta + p.tags);
                gw.admit_key(bucket, key, need).await?
            }
            (None, Write::Part) => gw.admit(bucket, Need::Bytes(length), 0)?,
            (None, Write::Complete) => gw.admit_key(bucket, key, Need::Bytes(0)).await?,
            (None, Write::None) => None,
        };
        Ok(admitted)
    }

    /// Sends the request to the bucket's server. A request without a body may be sent again:
    /// when a bucket's container turns out to be dead (killed from outside, before Docker's
    /// event arrived), it is started and the request retried once, so the client sees
    /// latency instead of an error.
    async fn send(
        &self,
        p: &Passing,
        method: Method,
        headers: &HeaderMap,
        body: Body,
        trailing_headers: Option<s3s::TrailingHeaders>,
        admitted: &Admitted,
    ) -> S3Result<http::Response<Body>> {
        let backends = self.gateway.backends();
        let retryable = p.length.unwrap_or(0) == 0
            && trailing_headers.is_none()
            && self
                .gateway
                .registry()
                .cached(&p.bucket)
                .is_some_and(|b| b.backend == crate::meta::BackendKind::Container);
        let (body, extra, framed_len) = outgoing_body(body, trailing_headers, headers, p.length);
        let sent_length =
            (method == Method::PUT || method == Method::POST).then_some(framed_len.or(p.length));
        let mut body = Some(body);
        loop {
            let lease = if method == Method::GET || method == Method::HEAD {
                backends.upstream_for_read(&p.bucket).await?
            } else {
                backends.upstream_for(&p.bucket).await?
            };
            let upstream = &lease.upstream;
            let target = format!(
                "/{}{}",
                upstream.upstream_bucket(&p.bucket),
                p.upstream_tail()
            );
            let mut forward = forward_headers(headers, upstream.bucket_prefix());
            pin_copy_source(&mut forward, admitted.pinned_etag.as_deref())?;
            add_chunked_headers(&mut forward, &extra);
            let first = body.take();
            let retry_left = first.is_some() && retryable;
            let sent = upstream
                .send_holding(
                    method.clone(),
                    &target,
                    forward,
                    first.unwrap_or_default(),
                    sent_length.flatten(),
                    lease.hold,
                )
                .await;
            match sent {
                Ok(resp) => return Ok(resp),
                Err(failure) if failure.unreachable => {
                    backends.upstream_unreachable(&p.bucket);
                    if !retry_left {
                        return Err(failure.error);
                    }
                    tracing::info!(
                        bucket = %p.bucket,
                        "storage container unreachable; starting it and retrying"
                    );
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// Counts what a successful write stored in the bucket's usage.
    async fn settle(&self, p: &Passing, copied: Option<u64>) {
        let registry = self.gateway.registry();
        let length = p.length.unwrap_or(0);
        if let Some(size) = copied {
            registry
                .note_upload(&p.bucket, size, u64::from(!p.part))
                .await;
        }
        match p.write {
            Write::Object => {
                registry
                    .note_upload(&p.bucket, length + p.meta + p.tags, 1)
                    .await;
            }
            Write::Part => registry.note_upload(&p.bucket, length, 0).await,
            Write::Complete => registry.note_upload(&p.bucket, 0, 1).await,
            Write::None => {}
        }
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
