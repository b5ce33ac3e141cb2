//! One S3 server the gateway forwards to: a remote endpoint, or a bucket's own container.
//!
//! Requests are re-signed with the server's credentials (SigV4, `UNSIGNED-PAYLOAD`, so bodies
//! stream) and sent over one pooled hyper client shared by every upstream. Bodies are never
//! collected: the request body is handed to hyper as it arrives, the response body is handed
//! back to the client as it arrives, each behind an inactivity watchdog instead of a total
//! timeout, so a slow but steady 10 GiB transfer is fine and a dead server is a `503`, never a
//! hang.
//!
//! The bucket-level calls the gateway makes on a server (create, empty check, usage, settings)
//! are in [`admin`]; the inactivity watchdogs around bodies in [`watched`]; the aws-chunked
//! re-framing of bodies with checksum trailers in [`chunked`].

mod admin;
pub mod chunked;
mod watched;

use watched::{Progress, WatchedRequestBody, WatchedResponseBody};

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use s3s::{Body, S3Error, S3ErrorCode, S3Result};

/// The pooled HTTP client all upstreams share (one pool, keyed by host and port).
pub type HttpClient = Client<super::paced::PacedConnector, Body>;

/// Something kept alive while a forwarded response streams (a container's activity count).
pub type Hold = Box<dyn Holder>;

/// What a forwarded request holds while its response streams.
pub trait Holder: Send + Sync {
    /// True once the response must end at once (a download from a bucket being deleted).
    /// Asked per body chunk: keep it to an atomic load.
    fn is_cut(&self) -> bool {
        false
    }
}

/// Builds the shared client: `TCP_NODELAY` (a keep-alive request otherwise waits ~40 ms on
/// Nagle and delayed ACK), TCP keep-alive, idle connections kept for a minute.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(60)));
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(super::paced::PacedConnector(connector))
}

/// Where an upstream is and how to sign for it.
#[derive(Clone)]
pub struct UpstreamConfig {
    /// Base URL, e.g. `http://127.0.0.1:40001` (path-style requests go below it).
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// Prepended to bucket names on the server.
    pub bucket_prefix: String,
    /// Longest silence tolerated from the server (no connection, no response head, no body
    /// progress) before the request fails with `503`.
    pub timeout: Duration,
}

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .field("bucket_prefix", &self.bucket_prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One S3 server to forward to.
pub struct Upstream {
    cfg: UpstreamConfig,
    base: String,
    host: HeaderValue,
    client: HttpClient,
}

/// Why a request did not get a response from the server.
#[derive(Debug)]
pub struct SendFailure {
    /// The S3 error for the client.
    pub error: S3Error,
    /// The server could not be reached or stopped answering (as opposed to the client's body
    /// failing): a container behind it may have died.
    pub unreachable: bool,
}

/// The error a forwarded body ends with when its trailing checksum does not match.
pub const TRAILER_MISMATCH: &str = "trailing checksum mismatch";

/// `503 ServiceUnavailable` with `Retry-After`, so SDKs retry instead of failing.
pub fn unavailable(msg: &str, retry_after_secs: u32) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::ServiceUnavailable, msg.to_owned());
    let mut h = HeaderMap::new();
    h.insert(
        http::header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs),
    );
    e.set_headers(h);
    e
}

impl Upstream {
    pub fn new(cfg: UpstreamConfig, client: HttpClient) -> Result<Self, String> {
        let base = cfg.endpoint.trim_end_matches('/').to_owned();
        let uri: Uri = base.parse().map_err(|e| format!("endpoint {base}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "endpoint {base}: only http:// endpoints are supported for now"
            ));
        }
        let host = uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .ok_or_else(|| format!("endpoint {base}: no host"))?;
        Ok(Self {
            cfg,
            base,
            host,
            client,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// The bucket's name on the server.
    pub fn upstream_bucket(&self, bucket: &str) -> String {
        format!("{}{bucket}", self.cfg.bucket_prefix)
    }

    pub fn bucket_prefix(&self) -> &str {
        &self.cfg.bucket_prefix
    }

    /// Sends one request, signed with the server's credentials, and returns its response
    /// head as soon as it arrives (the body streams behind the same inactivity watchdog).
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Body,
        content_length: Option<u64>,
    ) -> S3Result<http::Response<Body>> {
        self.send_holding(method, path_and_query, headers, body, content_length, None)
            .await
            .map_err(|f| f.error)
    }

    /// [`Upstream::send`], holding `hold` until the response body ends, and telling an
    /// unreachable server apart from a failing client body.
    /// `hold` is dropped with the response body, once the client has it all (or is gone).
    pub async fn send_holding(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Body,
        content_length: Option<u64>,
        hold: Option<Hold>,
    ) -> Result<http::Response<Body>, SendFailure> {
        let url = format!("{}{path_and_query}", self.base);
        headers.insert(http::header::HOST, self.host.clone());
        // A body re-framed with a checksum trailer says so; every other body is unsigned.
        let streaming = headers
            .get("x-amz-content-sha256")
            .is_some_and(|v| v == "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
        if !streaming {
            headers.insert(
                "x-amz-content-sha256",
                HeaderValue::from_static("UNSIGNED-PAYLOAD"),
            );
        }
        if let Some(n) = content_length {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        self.sign(&method, &url, &mut headers, streaming)
            .map_err(|error| SendFailure {
                error,
                unreachable: false,
            })?;
        let progress = Arc::new(Progress::new(content_length.is_none_or(|n| n == 0)));
        let body = Body::http_body_unsync(WatchedRequestBody {
            inner: body,
            progress: progress.clone(),
        });
        let mut req = http::Request::builder()
            .method(method)
            .uri(&url)
            .body(body)
            .map_err(|_| SendFailure {
                error: S3Error::with_message(
                    S3ErrorCode::InvalidURI,
                    "cannot forward this request",
                ),
                unreachable: false,
            })?;
        *req.headers_mut() = headers;
        let timeout = self.cfg.timeout.max(Duration::from_millis(100));
        let response = self.client.request(req);
        tokio::pin!(response);
        let result = loop {
            let deadline = tokio::time::Instant::from_std(progress.last_progress() + timeout);
            tokio::select! {
                r = &mut response => break r,
                () = tokio::time::sleep_until(deadline) => {
                    if progress.last_progress() + timeout > Instant::now() {
                        continue;
                    }
                    if progress.waiting_on_client() {
                        return Err(SendFailure {
                            error: S3Error::with_message(
                                S3ErrorCode::RequestTimeout,
                                "Your socket connection to the server was not read from or written to within the timeout period.",
                            ),
                            unreachable: false,
                        });
                    }
                    return Err(SendFailure {
                        error: unavailable("The bucket's storage server did not answer in time", 5),
                        unreachable: true,
                    });
                }
            }
        };
        match result {
            Ok(resp) => {
                let (parts, incoming) = resp.into_parts();
                let lowat = parts.extensions.get::<super::paced::Lowat>().cloned();
                let body = WatchedResponseBody::new(incoming, timeout, lowat, hold);
                Ok(http::Response::from_parts(parts, Body::http_body(body)))
            }
            Err(e) => Err(self.classify(&e, &progress)),
        }
    }

    /// What a failed request means for the client.
    fn classify(&self, e: &hyper_util::client::legacy::Error, progress: &Progress) -> SendFailure {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if err.to_string().contains(TRAILER_MISMATCH) {
                return SendFailure {
                    error: S3Error::with_message(
                        S3ErrorCode::BadDigest,
                        "The trailing checksum you specified did not match the calculated checksum.",
                    ),
                    unreachable: false,
                };
            }
            source = err.source();
        }
        if progress.client_failed.load(Ordering::Acquire) && chain_has_body_timeout(e) {
            return SendFailure {
                error: S3Error::with_message(
                    S3ErrorCode::RequestTimeout,
                    "Your socket connection to the server was not read from or written to within the timeout period.",
                ),
                unreachable: false,
            };
        }
        if progress.client_failed.load(Ordering::Acquire) {
            return SendFailure {
                error: S3Error::with_message(
                    S3ErrorCode::IncompleteBody,
                    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                ),
                unreachable: false,
            };
        }
        tracing::warn!(error = %e, endpoint = %self.base, "storage server failed");
        SendFailure {
            error: unavailable("The bucket's storage server is unreachable", 2),
            unreachable: true,
        }
    }

    fn sign(
        &self,
        method: &Method,
        url: &str,
        headers: &mut HeaderMap,
        streaming: bool,
    ) -> S3Result<()> {
        let identity = aws_credential_types::Credentials::new(
            &self.cfg.access_key,
            &self.cfg.secret_key,
            None,
            None,
            "bucketgate-upstream",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.cfg.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(s3_signing_settings())
            .build()
            .map_err(|_| crate::error::internal("building the upstream's SigV4 parameters"))?
            .into();
        // Signed: what S3 requires (host, every x-amz-* header) and what protects the body's
        // meaning (Content-MD5, Content-Type). Hop headers such as User-Agent stay unsigned,
        // as the AWS SDKs leave them: fewer headers to canonicalize per request.
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| {
                let k = k.as_str();
                k == "host" || k == "content-md5" || k == "content-type" || k.starts_with("x-amz-")
            })
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect();
        let signable = SignableRequest::new(
            method.as_str(),
            url,
            pairs.into_iter(),
            if streaming {
                SignableBody::StreamingUnsignedPayloadTrailer
            } else {
                SignableBody::UnsignedPayload
            },
        )
        .map_err(|_| S3Error::with_message(S3ErrorCode::InvalidURI, "cannot sign this request"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|_| crate::error::internal("signing an upstream request"))?
            .into_parts();
        for (name, value) in instructions.headers() {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
                headers.insert(n, v);
            }
        }
        Ok(())
    }
}

/// S3's flavour of SigV4: the path is signed as sent (single encoding, no normalisation).
/// Paths sent upstream are in S3's canonical encoding (see [`canonical_path`]), so the
/// server computes the same canonical request whatever its own decoding.
fn s3_signing_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    settings.uri_path_normalization_mode =
        aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
    settings
}

/// A request path in S3's canonical URI encoding: each segment percent-decoded, then encoded
/// with only `A-Za-z0-9-._~` left as they are; `/` separates segments.
pub fn canonical_path(raw: &str) -> String {
    raw.split('/')
        .map(|seg| {
            let decoded = percent_encoding::percent_decode_str(seg).collect::<Vec<u8>>();
            percent_encoding::percent_encode(&decoded, AWS_URI_SET).to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

const AWS_URI_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A small response body as text, read up to `cap` bytes (error documents, listing pages).
pub async fn body_text(body: Body, cap: usize) -> String {
    match http_body_util::Limited::new(body, cap).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

/// The server's S3 error, as the same S3 error.
pub fn upstream_error(status: StatusCode, xml: &str) -> S3Error {
    let code = crate::s3util::xml_text(xml, "Code").unwrap_or_else(|| "InternalError".to_owned());
    let message = crate::s3util::xml_text(xml, "Message").unwrap_or_default();
    let mut e = S3Error::with_message(
        S3ErrorCode::from_bytes(code.as_bytes()).unwrap_or(S3ErrorCode::Custom(code.into())),
        message,
    );
    e.set_status_code(status);
    e
}

/// True when the client's body was cut off by the gateway's body idle timeout.
fn chain_has_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if crate::idle::is_body_timeout(&err.to_string()) {
            return true;
        }
        source = err.source();
    }
    false
}

/// The upstream a request goes to, and what must stay alive while it streams.
pub struct UpstreamLease {
    pub upstream: Arc<Upstream>,
    pub hold: Option<Hold>,
}
