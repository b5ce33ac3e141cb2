//! The `remote` backend: buckets kept on an existing S3 endpoint (a shared MinIO, AWS S3).
//!
//! Requests for a remote bucket are forwarded at the HTTP level, after s3s has verified the
//! client's signature (and decoded an aws-chunked body): an s3s custom route takes them before
//! they are parsed into operations, so every S3 operation the endpoint supports passes through
//! unchanged. The request is re-signed with the endpoint's own credentials (SigV4,
//! `UNSIGNED-PAYLOAD`, so the body streams), the body is streamed up and the response streamed
//! back, both through bounded buffers. A checksum the client sent as an aws-chunked trailer is
//! verified here as the body passes; on a mismatch the upstream request is aborted, so the
//! object is never completed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use serde::Deserialize;

use crate::gateway::Gateway;
use crate::meta::BackendKind;
use crate::policy::{Principal, authorize};

/// `[remote]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// Base URL of the S3 endpoint, e.g. `http://127.0.0.1:9100` (path-style requests).
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// Prepended to bucket names on the endpoint (to share one endpoint between gateways).
    #[serde(default)]
    pub bucket_prefix: String,
    /// Seconds to wait for the endpoint to answer before `503 ServiceUnavailable`.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_timeout() -> u64 {
    30
}

/// Forwards requests to the remote endpoint.
#[derive(Clone)]
pub struct Remote {
    cfg: Arc<RemoteConfig>,
    endpoint: Uri,
    client: Client<HttpConnector, Body>,
}

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

/// The error a forwarded body ends with when its trailing checksum does not match.
const TRAILER_MISMATCH: &str = "trailing checksum mismatch";

fn unavailable(msg: &str) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::ServiceUnavailable, msg.to_owned());
    let mut h = HeaderMap::new();
    h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    e.set_headers(h);
    e
}

impl Remote {
    pub fn new(cfg: RemoteConfig) -> Result<Self, String> {
        let endpoint: Uri = cfg
            .endpoint
            .trim_end_matches('/')
            .parse()
            .map_err(|e| format!("remote.endpoint: {e}"))?;
        if endpoint.scheme_str() != Some("http") {
            return Err("remote.endpoint: only http:// endpoints are supported for now".into());
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self {
            cfg: Arc::new(cfg),
            endpoint,
            client,
        })
    }

    /// The bucket's name on the endpoint.
    pub fn upstream_bucket(&self, bucket: &str) -> String {
        format!("{}{bucket}", self.cfg.bucket_prefix)
    }

    /// Sends one request to the endpoint, signed with its credentials.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Body,
        content_length: Option<u64>,
    ) -> S3Result<http::Response<hyper::body::Incoming>> {
        let url = format!(
            "{}{path_and_query}",
            self.cfg.endpoint.trim_end_matches('/')
        );
        let authority = self
            .endpoint
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(&authority)
                .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?,
        );
        headers.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static("UNSIGNED-PAYLOAD"),
        );
        if let Some(n) = content_length {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        self.sign(&method, &url, &mut headers)?;
        let mut req = http::Request::builder()
            .method(method)
            .uri(&url)
            .body(body)
            .map_err(|_| {
                S3Error::with_message(S3ErrorCode::InvalidURI, "cannot forward this request")
            })?;
        *req.headers_mut() = headers;
        let timeout = Duration::from_secs(self.cfg.timeout_secs.max(1));
        match tokio::time::timeout(timeout, self.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                // The request body failing is the client's doing, not the endpoint's.
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(err) = source {
                    if err.to_string().contains(TRAILER_MISMATCH) {
                        return Err(S3Error::with_message(
                            S3ErrorCode::BadDigest,
                            "The trailing checksum you specified did not match the calculated checksum.",
                        ));
                    }
                    source = err.source();
                }
                tracing::warn!(error = %e, endpoint = %self.cfg.endpoint, "remote endpoint failed");
                Err(unavailable("The bucket's storage endpoint is unreachable"))
            }
            Err(_) => Err(unavailable(
                "The bucket's storage endpoint did not answer in time",
            )),
        }
    }

    fn sign(&self, method: &Method, url: &str, headers: &mut HeaderMap) -> S3Result<()> {
        let identity = aws_credential_types::Credentials::new(
            &self.cfg.access_key,
            &self.cfg.secret_key,
            None,
            None,
            "bucketgate-remote",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.cfg.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?
            .into();
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect();
        let signable = SignableRequest::new(
            method.as_str(),
            url,
            pairs.into_iter(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|_| S3Error::with_message(S3ErrorCode::InvalidURI, "cannot sign this request"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?
            .into_parts();
        for (name, value) in instructions.headers() {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
                headers.insert(n, v);
            }
        }
        Ok(())
    }

    /// Creates the bucket on the endpoint (an existing one of ours is fine).
    pub async fn create_bucket(&self, bucket: &str) -> S3Result<()> {
        let resp = self
            .send(
                Method::PUT,
                &format!("/{}", self.upstream_bucket(bucket)),
                HeaderMap::new(),
                Body::empty(),
                Some(0),
            )
            .await?;
        let status = resp.status();
        let text = body_text(resp, 64 << 10).await;
        if status.is_success() || text.contains("BucketAlreadyOwnedByYou") {
            return Ok(());
        }
        Err(upstream_error(status, &text))
    }

    /// Counts the objects and bytes the endpoint holds for a bucket (ListObjectsV2, page by
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
                target.push_str(
                    &percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC)
                        .to_string(),
                );
            }
            let resp = self
                .send(Method::GET, &target, HeaderMap::new(), Body::empty(), None)
                .await?;
            let status = resp.status();
            // A page of 1000 keys is well under this cap; a larger answer is not a listing.
            let xml = body_text(resp, 16 << 20).await;
            if status.is_success() && !xml.contains("ListBucketResult") {
                return Err(unavailable(
                    "The bucket's storage endpoint sent an unreadable listing",
                ));
            }
            if !status.is_success() {
                return Err(upstream_error(status, &xml));
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

    /// Deletes the bucket on the endpoint (S3 rules: it must be empty).
    pub async fn delete_bucket(&self, bucket: &str) -> S3Result<()> {
        let resp = self
            .send(
                Method::DELETE,
                &format!("/{}", self.upstream_bucket(bucket)),
                HeaderMap::new(),
                Body::empty(),
                None,
            )
            .await?;
        let status = resp.status();
        let text = body_text(resp, 64 << 10).await;
        if status.is_success() || text.contains("NoSuchBucket") {
            return Ok(());
        }
        Err(upstream_error(status, &text))
    }
}

/// A small response body as text, read up to `cap` bytes (error documents, listing pages).
async fn body_text(resp: http::Response<hyper::body::Incoming>, cap: usize) -> String {
    match http_body_util::Limited::new(resp.into_body(), cap)
        .collect()
        .await
    {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

/// The endpoint's S3 error, as the same S3 error.
fn upstream_error(status: http::StatusCode, xml: &str) -> S3Error {
    let code = crate::s3util::xml_text(xml, "Code").unwrap_or_else(|| "InternalError".to_owned());
    let message = crate::s3util::xml_text(xml, "Message").unwrap_or_default();
    let mut e = S3Error::with_message(
        S3ErrorCode::from_bytes(code.as_bytes()).unwrap_or(S3ErrorCode::Custom(code.into())),
        message,
    );
    e.set_status_code(status);
    e
}

/// The s3s custom route that forwards requests of remote buckets.
pub struct RemoteRoute {
    pub gateway: Gateway,
    pub remote: Remote,
    pub base_domain: String,
}

/// Bucket, and the path after it, of a request (virtual-host style under the base domain,
/// else path style).
fn split_target(uri: &Uri, headers: &HeaderMap, base_domain: &str) -> Option<(String, String)> {
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

/// A coarse operation name for the access rules (the route sees HTTP, not S3 operations).
fn operation(method: &Method, object: bool, query: &str) -> &'static str {
    let subresource = query.split('&').any(|p| {
        let n = p.split('=').next().unwrap_or("");
        !n.is_empty()
            && !n.starts_with("X-Amz-")
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
        ("HEAD", true, _) => "HeadObject",
        ("GET", false, false) => "ListObjects",
        ("HEAD", false, _) => "HeadBucket",
        (_, true, _) => "PutObject",
        _ => "PutBucketConfiguration",
    }
}

#[async_trait::async_trait]
impl S3Route for RemoteRoute {
    fn is_match(
        &self,
        _method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        _: &mut http::Extensions,
    ) -> bool {
        split_target(uri, headers, &self.base_domain)
            .and_then(|(b, _)| self.gateway.cached(&b))
            .is_some_and(|b| b.backend == BackendKind::Remote)
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
        authorize(&who, op, &rec)?;
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
            ..
        } = req;
        let (bucket, tail) = split_target(&uri, &headers, &self.base_domain)
            .ok_or_else(|| S3Error::new(S3ErrorCode::NoSuchBucket))?;
        if method == Method::DELETE && tail == "/" && uri.query().is_none() {
            self.gateway.remove_bucket(&bucket).await?;
            return Ok(S3Response::with_status(
                Body::empty(),
                http::StatusCode::NO_CONTENT,
            ));
        }
        let length = headers
            .get("x-amz-decoded-content-length")
            .or_else(|| headers.get(http::header::CONTENT_LENGTH))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let is_upload =
            method == Method::PUT && tail.len() > 1 && !headers.contains_key("x-amz-copy-source");
        let _admitted = if is_upload {
            self.gateway.admit_write(&bucket, length.unwrap_or(0), 1)?
        } else {
            None
        };
        let query: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| {
                !p.is_empty()
                    && !PRESIGN_PARAMS
                        .iter()
                        .any(|q| p.split('=').next() == Some(q))
            })
            .collect();
        let mut target = format!(
            "/{}{}",
            self.remote.upstream_bucket(&bucket),
            if tail == "/" { "" } else { &tail }
        );
        if !query.is_empty() {
            target.push('?');
            target.push_str(&query.join("&"));
        }
        let mut forward = HeaderMap::new();
        for (name, value) in &headers {
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
            if name.as_str() == "x-amz-copy-source" {
                let src = value.to_str().unwrap_or("").trim_start_matches('/');
                let v = format!("/{}{src}", self.remote.cfg.bucket_prefix);
                if let Ok(v) = HeaderValue::from_str(&v) {
                    forward.insert(name.clone(), v);
                }
                continue;
            }
            forward.append(name.clone(), value.clone());
        }
        let body = match trailing_headers {
            Some(trailers) => {
                let announced = headers
                    .get("x-amz-trailer")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                verify_trailer(body, trailers, &announced, length)
            }
            None => body,
        };
        let resp = self
            .remote
            .send(
                method.clone(),
                &target,
                forward,
                body,
                if method == Method::PUT || method == Method::POST {
                    length
                } else {
                    None
                },
            )
            .await?;
        let (parts, incoming) = resp.into_parts();
        if is_upload && parts.status.is_success() {
            self.gateway.note_upload(&bucket, length.unwrap_or(0)).await;
        }
        let mut out = S3Response::with_status(Body::from(incoming), parts.status);
        for (name, value) in &parts.headers {
            if !matches!(
                name.as_str(),
                "connection" | "keep-alive" | "transfer-encoding" | "server"
            ) {
                out.headers.append(name.clone(), value.clone());
            }
        }
        Ok(out)
    }
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
