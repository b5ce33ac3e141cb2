//! Authentication: SigV4 header auth failures, anonymous access, presigned URLs, streaming
//! (aws-chunked) uploads, signed and unsigned-with-trailer.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::box_error::BoxError;
use base64::Engine;
use common::*;

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {}", dbg_err(&e)));
}

async fn assert_missing(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    let res = s3.get_object().bucket(bucket).key(key).send().await;
    assert_s3_err(res, 404, "NoSuchKey");
}

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let server = TestServer::start().await;
    let bucket = server.bucket(&server.client()).await;
    let bad = server.client_with(ROOT_ACCESS_KEY, "definitely-not-the-secret");
    assert_s3_err(
        bad.list_buckets().send().await,
        403,
        "SignatureDoesNotMatch",
    );
    let res = bad
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_s3_err(res, 403, "SignatureDoesNotMatch");
    assert_missing(&server.client(), &bucket, "k").await;
}

#[tokio::test]
async fn unknown_access_key_is_invalid_access_key_id() {
    let server = TestServer::start().await;
    let bucket = server.bucket(&server.client()).await;
    let bad = server.client_with("AKIDOESNOTEXIST00000", ROOT_SECRET_KEY);
    assert_s3_err(bad.list_buckets().send().await, 403, "InvalidAccessKeyId");
    let res = bad.get_object().bucket(&bucket).key("k").send().await;
    assert_s3_err(res, 403, "InvalidAccessKeyId");
}

#[tokio::test]
async fn anonymous_requests_are_access_denied() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "secret.txt", b"top secret").await;
    let http = http_client();
    let ep = &server.s3_endpoint;
    let cases = [
        http.get(format!("{ep}/")),
        http.get(format!("{ep}/{bucket}")),
        http.get(format!("{ep}/{bucket}?list-type=2")),
        http.get(format!("{ep}/{bucket}/secret.txt")),
        http.put(format!("{ep}/{bucket}/new.txt")).body("anon"),
        http.delete(format!("{ep}/{bucket}/secret.txt")),
        http.put(format!("{ep}/{}", bucket_name())),
    ];
    for req in cases {
        let req = req.build().unwrap();
        let what = format!("{} {}", req.method(), req.url());
        let resp = http
            .execute(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(
            xml_tag(&body, "Code").as_deref(),
            Some("AccessDenied"),
            "{what}: {body}"
        );
        assert!(
            body.starts_with("<?xml") || body.starts_with("<Error"),
            "{what}: XML body: {body}"
        );
    }
    // Nothing changed.
    assert_eq!(get_bytes(&s3, &bucket, "secret.txt").await, b"top secret");
    assert_missing(&s3, &bucket, "new.txt").await;
    assert_eq!(s3.list_buckets().send().await.unwrap().buckets().len(), 1);
}

fn presign_cfg(secs: u64) -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(secs)).unwrap()
}

fn to_reqwest(p: &PresignedRequest, body: Option<Vec<u8>>) -> reqwest::RequestBuilder {
    let method = reqwest::Method::from_bytes(p.method().as_bytes()).unwrap();
    let mut req = http_client().request(method, p.uri());
    for (k, v) in p.headers() {
        req = req.header(k, v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    req
}

#[tokio::test]
async fn presigned_get_and_put_via_plain_http() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(100_000);
    put(&s3, &bucket, "dl.bin", &data).await;

    let p = s3
        .get_object()
        .bucket(&bucket)
        .key("dl.bin")
        .presigned(presign_cfg(300))
        .await
        .unwrap();
    assert!(p.uri().contains("X-Amz-Signature="), "{}", p.uri());
    let resp = to_reqwest(&p, None).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), data);

    let up = random_bytes(70_000);
    let p = s3
        .put_object()
        .bucket(&bucket)
        .key("ul.bin")
        .presigned(presign_cfg(300))
        .await
        .unwrap();
    let resp = to_reqwest(&p, Some(up.clone())).send().await.unwrap();
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(status, 200, "presigned PUT: {}", resp.text().await.unwrap());
    assert_eq!(etag, Some(quoted_md5(&up)));
    assert_eq!(get_bytes(&s3, &bucket, "ul.bin").await, up);

    // HEAD with a presigned HeadObject URL.
    let p = s3
        .head_object()
        .bucket(&bucket)
        .key("dl.bin")
        .presigned(presign_cfg(300))
        .await
        .unwrap();
    let resp = to_reqwest(&p, None).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some("100000")
    );
}

#[tokio::test]
async fn tampered_presigned_urls_are_rejected() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "k", b"data").await;
    let p = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .presigned(presign_cfg(300))
        .await
        .unwrap();

    // Signature altered.
    let uri = p.uri().to_string();
    let pos = uri.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = uri.clone();
    let c = if &uri[pos..pos + 1] == "0" { "1" } else { "0" };
    tampered.replace_range(pos..pos + 1, c);
    let resp = http_client().get(&tampered).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().await.unwrap();
    assert_eq!(
        xml_tag(&body, "Code").as_deref(),
        Some("SignatureDoesNotMatch"),
        "{body}"
    );

    // Another key with the same signature.
    let other = uri.replacen(&format!("/{bucket}/k?"), &format!("/{bucket}/other?"), 1);
    assert_ne!(other, uri);
    let resp = http_client().get(&other).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().await.unwrap();
    assert_eq!(
        xml_tag(&body, "Code").as_deref(),
        Some("SignatureDoesNotMatch"),
        "{body}"
    );

    // A GET URL used for PUT.
    let resp = http_client()
        .put(&uri)
        .body("overwrite")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(get_bytes(&s3, &bucket, "k").await, b"data");
}

#[tokio::test]
async fn presigned_url_from_the_past_is_expired() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "k", b"data").await;
    let cfg = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(3600))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let p = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .presigned(cfg)
        .await
        .unwrap();
    let resp = to_reqwest(&p, None).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().await.unwrap();
    assert_eq!(
        xml_tag(&body, "Code").as_deref(),
        Some("AccessDenied"),
        "{body}"
    );
}

#[tokio::test]
async fn presigned_url_expires() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "k", b"data").await;
    let signed_at = Instant::now();
    let p = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .presigned(presign_cfg(2))
        .await
        .unwrap();
    // Valid right away (X-Amz-Date is truncated to the second, so 2 s leaves >= 1 s).
    let first = to_reqwest(&p, None).send().await.unwrap();
    assert_eq!(
        first.status().as_u16(),
        200,
        "fresh presigned URL must work"
    );
    // Then poll until it stops working; it must within a few seconds of its expiry.
    let deadline = signed_at + Duration::from_secs(15);
    let (status, body) = loop {
        let resp = to_reqwest(&p, None).send().await.unwrap();
        let status = resp.status().as_u16();
        if status != 200 {
            break (status, resp.text().await.unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "presigned URL still valid after 15 s (expires_in 2 s)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        signed_at.elapsed() >= Duration::from_millis(900),
        "expired too early"
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        xml_tag(&body, "Code").as_deref(),
        Some("AccessDenied"),
        "{body}"
    );
}

/// Records the `x-amz-content-sha256` and `content-encoding` of each request the SDK sends.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Vec<PayloadMode>>>);

/// (`x-amz-content-sha256`, `content-encoding`) of one request.
type PayloadMode = (Option<String>, Option<String>);

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "capture-payload-mode"
    }
    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let h = ctx.request().headers();
        self.0.lock().unwrap().push((
            h.get("x-amz-content-sha256").map(str::to_string),
            h.get("content-encoding").map(str::to_string),
        ));
        Ok(())
    }
}

#[tokio::test]
async fn default_sdk_puts_work_in_every_payload_mode() {
    let server = TestServer::start().await;
    let capture = Capture::default();
    let s3 = aws_sdk_s3::Client::from_conf(
        server
            .config_builder(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
            .force_path_style(true)
            .interceptor(capture.clone())
            .build(),
    );
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(3 * MIB + 5);

    // In-memory body: over plain HTTP the SDK signs the payload and sends its CRC32 in a header.
    capture.0.lock().unwrap().clear();
    put(&s3, &bucket, "in-memory", &data).await;
    let seen = capture.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].0.as_deref(),
        Some(sha256_hex(&data).as_str()),
        "{seen:?}"
    );

    // Streaming body (a file): the SDK sends aws-chunked with an x-amz-checksum-crc32 trailer.
    // Over plain HTTP it signs every chunk and the trailer
    // (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER); over HTTPS it would send
    // STREAMING-UNSIGNED-PAYLOAD-TRAILER, which `unsigned_payload_trailer_checksum_is_verified`
    // builds by hand since this suite has no TLS listener.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    capture.0.lock().unwrap().clear();
    s3.put_object()
        .bucket(&bucket)
        .key("streamed")
        .body(ByteStream::from_path(file.path()).await.unwrap())
        .send()
        .await
        .unwrap_or_else(|e| panic!("streaming PutObject: {}", dbg_err(&e)));
    let seen = capture.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER".to_string()),
            Some("aws-chunked".to_string())
        )],
        "the SDK's streaming PutObject is what this test means to exercise"
    );

    for key in ["in-memory", "streamed"] {
        assert_eq!(get_bytes(&s3, &bucket, key).await, data, "{key}");
        let head = s3
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(data.len() as i64), "{key}");
        assert_eq!(head.e_tag(), Some(quoted_md5(&data).as_str()), "{key}");
        assert!(
            head.content_encoding()
                .is_none_or(|ce| !ce.contains("aws-chunked")),
            "{key}: aws-chunked is a transfer detail and must not be stored: {:?}",
            head.content_encoding()
        );
    }
}

/// How to corrupt a hand-built signed aws-chunked upload.
#[derive(Clone, Copy, PartialEq)]
enum Tamper {
    None,
    /// Flip one hex digit of the second chunk's signature.
    ChunkSignature,
    /// Change one byte of the second chunk's data (signature left as computed for the original).
    ChunkData,
    /// Drop the final zero-length chunk's signature check by signing it with a wrong previous signature.
    FinalChunk,
}

/// PUTs `data` with `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, computing the seed and chunk
/// signatures here.
async fn signed_chunked_put(
    server: &TestServer,
    path: &str,
    data: &[u8],
    chunk: usize,
    tamper: Tamper,
) -> RawResponse {
    const MODE: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    let chunks: Vec<&[u8]> = data.chunks(chunk).collect();
    let sig_part = ";chunk-signature=".len() + 64 + 2;
    let encoded_len: usize = chunks
        .iter()
        .map(|c| format!("{:x}", c.len()).len() + sig_part + c.len() + 2)
        .sum::<usize>()
        + 1
        + sig_part
        + 2;

    let (amz_date, short) = amz_dates(time::OffsetDateTime::now_utc());
    let host = server.s3_addr.to_string();
    let headers: Vec<(String, String)> = vec![
        ("host".into(), host.clone()),
        ("x-amz-date".into(), amz_date.clone()),
        ("x-amz-content-sha256".into(), MODE.into()),
        ("content-encoding".into(), "aws-chunked".into()),
        (
            "x-amz-decoded-content-length".into(),
            data.len().to_string(),
        ),
        ("content-length".into(), encoded_len.to_string()),
        ("content-type".into(), "application/x-chunked-test".into()),
    ];
    let seed = sign_v4(
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "PUT",
        path,
        "",
        &headers,
        MODE,
        &amz_date,
    );
    let key = signing_key(ROOT_SECRET_KEY, &short);
    let chunk_sig = |prev: &str, payload: &[u8]| -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{}\n{prev}\n{EMPTY_SHA256}\n{}",
            seed.scope,
            sha256_hex(payload)
        );
        hex::encode(hmac(&key, sts.as_bytes()))
    };

    let mut body = Vec::with_capacity(encoded_len);
    let mut prev = seed.signature.clone();
    for (i, c) in chunks.iter().enumerate() {
        let mut sig = chunk_sig(&prev, c);
        prev = sig.clone();
        let mut payload = c.to_vec();
        if i == 1 && tamper == Tamper::ChunkSignature {
            let flipped = if sig.starts_with('0') { "1" } else { "0" };
            sig.replace_range(0..1, flipped);
        }
        if i == 1 && tamper == Tamper::ChunkData {
            payload[0] ^= 0xFF;
        }
        body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        body.extend_from_slice(&payload);
        body.extend_from_slice(b"\r\n");
    }
    if tamper == Tamper::FinalChunk {
        prev = seed.signature.clone();
    }
    let last = chunk_sig(&prev, b"");
    body.extend_from_slice(format!("0;chunk-signature={last}\r\n\r\n").as_bytes());
    assert_eq!(body.len(), encoded_len);

    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "authorization: {}\r\nconnection: close\r\n\r\n",
        seed.authorization
    ));
    send_raw(server.s3_addr, head.into_bytes(), body, false, RAW_TIMEOUT).await
}

#[tokio::test]
async fn signed_aws_chunked_upload_round_trips() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(200 * 1024 + 17);
    let resp = signed_chunked_put(
        &server,
        &format!("/{bucket}/chunked"),
        &data,
        64 * 1024,
        Tamper::None,
    )
    .await;
    assert_eq!(resp.status, 200, "signed aws-chunked PUT: {}", resp.text());
    assert_eq!(resp.header("etag"), Some(quoted_md5(&data).as_str()));
    assert_eq!(get_bytes(&s3, &bucket, "chunked").await, data);
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("chunked")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.content_type(), Some("application/x-chunked-test"));
    assert!(
        head.content_encoding()
            .is_none_or(|ce| !ce.contains("aws-chunked")),
        "aws-chunked must not be stored as Content-Encoding: {:?}",
        head.content_encoding()
    );

    // A body that fits in one chunk.
    let small = b"just one chunk".to_vec();
    let resp = signed_chunked_put(
        &server,
        &format!("/{bucket}/one"),
        &small,
        64 * 1024,
        Tamper::None,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(get_bytes(&s3, &bucket, "one").await, small);
}

#[tokio::test]
async fn tampered_aws_chunked_uploads_are_rejected() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(200 * 1024);
    for (tamper, key) in [
        (Tamper::ChunkSignature, "bad-sig"),
        (Tamper::ChunkData, "bad-data"),
        (Tamper::FinalChunk, "bad-final"),
    ] {
        let resp = signed_chunked_put(
            &server,
            &format!("/{bucket}/{key}"),
            &data,
            64 * 1024,
            tamper,
        )
        .await;
        resp.assert_error(403, "SignatureDoesNotMatch");
        assert_missing(&s3, &bucket, key).await;
    }
    server.assert_alive().await;
}

/// PUTs `data` with `STREAMING-UNSIGNED-PAYLOAD-TRAILER` and a CRC32 trailer value.
async fn unsigned_trailer_put(
    server: &TestServer,
    path: &str,
    data: &[u8],
    crc_b64: &str,
) -> RawResponse {
    let mut body = Vec::new();
    for c in data.chunks(64 * 1024) {
        body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{crc_b64}\r\n\r\n").as_bytes());
    server
        .signed("PUT", path)
        .payload_hash("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        .header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", &data.len().to_string())
        .header("x-amz-trailer", "x-amz-checksum-crc32")
        .body(body)
        .send()
        .await
}

#[tokio::test]
async fn unsigned_payload_trailer_checksum_is_verified() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(150_000);
    let b64 = |v: u32| base64::engine::general_purpose::STANDARD.encode(v.to_be_bytes());
    let good = b64(crc32fast::hash(&data));
    let resp = unsigned_trailer_put(&server, &format!("/{bucket}/good"), &data, &good).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(get_bytes(&s3, &bucket, "good").await, data);

    let bad = b64(crc32fast::hash(b"other"));
    let resp = unsigned_trailer_put(&server, &format!("/{bucket}/bad"), &data, &bad).await;
    resp.assert_error(400, "BadDigest");
    assert_missing(&s3, &bucket, "bad").await;
}

#[tokio::test]
async fn payload_hash_mismatch_is_rejected() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let resp = server
        .signed("PUT", &format!("/{bucket}/k"))
        .payload_hash(&sha256_hex(b"what was signed"))
        .body(b"what was sent".to_vec())
        .send()
        .await;
    resp.assert_error(400, "XAmzContentSHA256Mismatch");
    assert_missing(&s3, &bucket, "k").await;
}

#[tokio::test]
async fn request_time_too_skewed() {
    let server = TestServer::start().await;
    let resp = server
        .signed("GET", "/")
        .date(time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .send()
        .await;
    resp.assert_error(403, "RequestTimeTooSkewed");
    // A correctly dated raw signed request works (the test signer itself is right).
    let resp = server.signed("GET", "/").send().await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}
