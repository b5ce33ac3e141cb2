//! The `remote` backend: a gateway whose buckets live on another S3 endpoint (here a second
//! bucketgate, started separately), driven with the AWS SDK through the gateway.

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::*;

const GW_ACCESS_KEY: &str = "GATEWAYROOTKEY000001";
const GW_SECRET_KEY: &str = "gatewayRootSecret0123456789abcdefghij";

/// The gateway under test: a [`TestServer`] (stderr watched, a panic fails the test) with its
/// own root credentials, in front of `upstream`.
struct Gateway {
    server: TestServer,
    s3_endpoint: String,
    admin_endpoint: String,
}

impl Gateway {
    async fn start(upstream: &str) -> Gateway {
        let config = format!(
            "default_backend = \"remote\"\n\n[remote]\nendpoint = \"{upstream}\"\naccess_key = \"{ROOT_ACCESS_KEY}\"\nsecret_key = \"{ROOT_SECRET_KEY}\"\nbucket_prefix = \"gw-\"\ntimeout_secs = 5\n",
        );
        let server = TestServer::start_with_config_env(
            &config,
            &[
                ("BUCKETGATE_ROOT_ACCESS_KEY", GW_ACCESS_KEY),
                ("BUCKETGATE_ROOT_SECRET_KEY", GW_SECRET_KEY),
            ],
        )
        .await;
        Gateway {
            s3_endpoint: server.s3_endpoint.clone(),
            admin_endpoint: server.admin_endpoint.clone(),
            server,
        }
    }

    fn client(&self, server: &TestServer) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            server
                .config_builder(GW_ACCESS_KEY, GW_SECRET_KEY)
                .endpoint_url(&self.s3_endpoint)
                .force_path_style(true)
                .build(),
        )
    }
}

#[tokio::test]
async fn remote_buckets_are_served_through_the_gateway() {
    let mut upstream = TestServer::start().await;
    let gw = Gateway::start(&upstream.s3_endpoint).await;
    let s3 = gw.client(&upstream);
    let direct = upstream.client();
    let bucket = bucket_name();

    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    direct
        .head_bucket()
        .bucket(format!("gw-{bucket}"))
        .send()
        .await
        .expect("the bucket exists on the endpoint, prefixed");
    let listed = s3.list_buckets().send().await.unwrap();
    assert!(
        listed
            .buckets()
            .iter()
            .any(|b| b.name() == Some(bucket.as_str()))
    );

    // Object operations through the gateway land on the endpoint.
    let RoundTrip {
        small,
        streamed: big,
    } = object_round_trip(&s3, &bucket, "a/").await;
    assert_eq!(
        get_bytes(&direct, &format!("gw-{bucket}"), "a/streamed").await,
        big
    );

    // Usage of a remote bucket is recounted from the endpoint on request.
    let token = gw.server.admin_token();
    let synced = http_client()
        .post(format!("{}/api/buckets/{bucket}/sync", gw.admin_endpoint))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(synced.status(), 200, "sync");
    let synced: serde_json::Value = synced.json().await.unwrap();
    assert_eq!(synced["objects"].as_u64(), Some(3), "{synced}");
    assert_eq!(
        synced["bytes"].as_u64(),
        Some(2000 + big.len() as u64),
        "{synced}"
    );

    // Multipart through the gateway.
    let p1 = pattern(3, 0, 5 * MIB);
    let p2 = pattern(3, 5 * MIB as u64, MIB);
    multipart_put(&s3, &bucket, "mp", vec![p1.clone(), p2.clone()]).await;
    let whole = get_bytes(&s3, &bucket, "mp").await;
    assert_eq!(whole.len(), 6 * MIB);
    assert!(whole[..5 * MIB] == p1[..] && whole[5 * MIB..] == p2[..]);

    // A presigned URL issued for the gateway works with a plain HTTP client.
    let presigned = s3
        .get_object()
        .bucket(&bucket)
        .key("a/small")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).unwrap(),
        )
        .await
        .unwrap();
    let got = http_client().get(presigned.uri()).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), small.as_slice());

    // Anonymous callers are refused at the gateway; errors of the endpoint come back as S3 errors.
    let anon = http_client()
        .get(format!("{}/{bucket}/a/small", gw.s3_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 403);
    let anon = anon.text().await.unwrap();
    assert_eq!(
        xml_tag(&anon, "Code").as_deref(),
        Some("AccessDenied"),
        "{anon}"
    );
    let missing = s3
        .get_object()
        .bucket(&bucket)
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&missing), (404, "NoSuchKey".to_owned()));

    // S3 rules for deleting: not while it holds objects.
    let err = s3.delete_bucket().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(status_code(&err), (409, "BucketNotEmpty".to_owned()));
    for key in ["a/small", "a/streamed", "a/copy", "mp"] {
        s3.delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let gone = direct
        .head_bucket()
        .bucket(format!("gw-{bucket}"))
        .send()
        .await
        .expect_err("the bucket is gone from the endpoint");
    assert_eq!(status_code(&gone).0, 404, "{}", dbg_err(&gone));

    // A wrong aws-chunked trailer checksum aborts the upstream upload: nothing is stored.
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let data = random_bytes(200_000);
    let mut body = Vec::new();
    for c in data.chunks(64 * 1024) {
        body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    let gw_addr: std::net::SocketAddr = gw
        .s3_endpoint
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let resp = upstream
        .signed("PUT", &format!("/{bucket}/bad-trailer"))
        .to(gw_addr)
        .credentials(GW_ACCESS_KEY, GW_SECRET_KEY)
        .payload_hash("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        .header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", &data.len().to_string())
        .header("x-amz-trailer", "x-amz-checksum-crc32")
        .body(body)
        .send()
        .await;
    resp.assert_error(400, "BadDigest");
    let err = direct
        .head_object()
        .bucket(format!("gw-{bucket}"))
        .key("bad-trailer")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&err).0, 404);

    // A dead endpoint is a 503, not a hang.
    upstream.kill9();
    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_code(&err),
        (503, "ServiceUnavailable".to_owned()),
        "{}",
        dbg_err(&err)
    );
    let retry_after = err
        .raw_response()
        .and_then(|r| r.headers().get("retry-after"))
        .map(str::to_owned);
    assert_eq!(
        retry_after.as_deref(),
        Some("2"),
        "Retry-After of an unreachable endpoint"
    );
}

/// What the hop must not change: checksums (sent as the SDK's default aws-chunked CRC32
/// trailer, verified, and returned with checksum mode), content headers, user metadata,
/// tagging and multipart ETags, as the endpoint itself reports them.
#[tokio::test]
async fn object_attributes_survive_the_hop() {
    use base64::Engine as _;
    let upstream = TestServer::start().await;
    let gw = Gateway::start(&upstream.s3_endpoint).await;
    let s3 = gw.client(&upstream);
    let direct = upstream.client();
    let bucket = bucket_name();
    let remote_name = format!("gw-{bucket}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc");
    let data = random_bytes(MIB + 3);
    std::fs::write(&path, &data).unwrap();
    let crc =
        base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(&data).to_be_bytes());
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("doc")
        .content_type("application/pdf")
        .content_disposition("attachment; filename=\"a.pdf\"")
        .cache_control("max-age=60")
        .content_language("fr")
        .metadata("owner", "ana")
        .tagging("team=blue&tier=1")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(put.checksum_crc32(), Some(crc.as_str()));

    for client in [&s3, &direct] {
        let b = if std::ptr::eq(client, &s3) {
            &bucket
        } else {
            &remote_name
        };
        let got = client
            .get_object()
            .bucket(b)
            .key("doc")
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(got.checksum_crc32(), Some(crc.as_str()), "bucket {b}");
        assert_eq!(got.content_type(), Some("application/pdf"));
        assert_eq!(
            got.content_disposition(),
            Some("attachment; filename=\"a.pdf\"")
        );
        assert_eq!(got.cache_control(), Some("max-age=60"));
        assert_eq!(got.content_language(), Some("fr"));
        assert_eq!(
            got.metadata()
                .and_then(|m| m.get("owner"))
                .map(String::as_str),
            Some("ana")
        );
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            &data[..]
        );
    }
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("doc")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc32(), Some(crc.as_str()));
    // Bodies ending on the gateway's re-framing chunk boundary (256 KiB) and an empty one.
    for (key, len) in [("exact", 512 << 10), ("one-chunk", 256 << 10), ("empty", 0)] {
        let body = random_bytes(len);
        let p = dir.path().join(key);
        std::fs::write(&p, &body).unwrap();
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
            .body(ByteStream::from_path(&p).await.unwrap())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {}", dbg_err(&e)));
        assert_eq!(get_bytes(&direct, &remote_name, key).await, body, "{key}");
    }
    let tags = s3
        .get_object_tagging()
        .bucket(&bucket)
        .key("doc")
        .send()
        .await
        .unwrap();
    let mut pairs: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [("team".into(), "blue".into()), ("tier".into(), "1".into())]
    );

    // Multipart: the ETag the client gets is the endpoint's own.
    let parts = vec![pattern(1, 0, 5 * MIB), pattern(2, 0, 1000)];
    let done = multipart_put(&s3, &bucket, "mp", parts).await;
    let direct_head = direct
        .head_object()
        .bucket(&remote_name)
        .key("mp")
        .send()
        .await
        .unwrap();
    assert_eq!(done.e_tag(), direct_head.e_tag());
    assert!(done.e_tag().unwrap().ends_with("-2\""));
}

/// A client that disconnects mid-upload aborts the upstream request: nothing is stored.
#[tokio::test]
async fn a_client_gone_mid_upload_leaves_nothing_upstream() {
    use tokio::io::AsyncWriteExt;
    let upstream = TestServer::start().await;
    let gw = Gateway::start(&upstream.s3_endpoint).await;
    let s3 = gw.client(&upstream);
    let direct = upstream.client();
    let bucket = bucket_name();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let addr: std::net::SocketAddr = gw
        .s3_endpoint
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let req = upstream
        .raw("PUT", &format!("/{bucket}/cut"))
        .to(addr)
        .credentials(GW_ACCESS_KEY, GW_SECRET_KEY)
        .payload_hash("UNSIGNED-PAYLOAD")
        .header("content-length", &(4 * MIB).to_string())
        .no_content_length();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(&req.head_bytes()).await.unwrap();
    conn.write_all(&random_bytes(MIB)).await.unwrap();
    conn.flush().await.unwrap();
    // The upload is under way at the endpoint (its temp file exists), then the client vanishes.
    let tmp = upstream.data_dir().join("tmp");
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while TestServer::files_under(&tmp).is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the upload never reached the endpoint"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(conn);

    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let head = direct
            .head_object()
            .bucket(format!("gw-{bucket}"))
            .key("cut")
            .send()
            .await;
        assert_eq!(
            status_code(&head.unwrap_err()).0,
            404,
            "no half object upstream"
        );
        // The endpoint leaves no upload in flight either once the abort has reached it.
        if TestServer::files_under(&tmp).is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "the upstream upload was not aborted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the gateway still serves.
    s3.put_object()
        .bucket(&bucket)
        .key("after")
        .body(ByteStream::from_static(b"ok"))
        .send()
        .await
        .unwrap();
}

/// A presigned URL on a forwarded bucket's linked domain reaches the bucket: the request's
/// target (bucket from the domain) is parsed once and the pass-through route uses it.
#[tokio::test]
async fn presigned_urls_work_on_a_remote_buckets_linked_domain() {
    let upstream = TestServer::start().await;
    let gw = Gateway::start(&upstream.s3_endpoint).await;
    let s3 = gw.client(&upstream);
    let bucket = bucket_name();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let host = "files.example.test";
    let linked = http_client()
        .post(format!("{}/api/buckets/{bucket}/domain", gw.admin_endpoint))
        .bearer_auth(gw.server.admin_token())
        .json(&serde_json::json!({ "domain": host }))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 200, "{}", linked.text().await.unwrap());

    let base = format!("http://{host}:{}", gw.server.s3_addr.port());
    let sign = |method: &'static str, key: &str| {
        bucketgate::presign::presign(
            &bucketgate::presign::Presign {
                method,
                url: &format!("{base}/{key}"),
                region: REGION,
                access_key: GW_ACCESS_KEY,
                secret_key: GW_SECRET_KEY,
                expires_in: Duration::from_secs(300),
            },
            std::time::SystemTime::now(),
        )
        .unwrap()
        .0
    };
    let web = reqwest::Client::builder()
        .resolve(host, gw.server.s3_addr)
        .build()
        .unwrap();
    // The key's first segment is the bucket's own name: read path style, the URL would name
    // this bucket and the key "inside.txt"; on the domain it names the key as written.
    let key = format!("{bucket}/inside.txt");
    let put = web
        .put(sign("PUT", &key))
        .body("through the domain")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let got = web.get(sign("GET", &key)).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "through the domain");
    // Stored in the bucket on the remote endpoint, under the key the URL named.
    assert_eq!(get_bytes(&s3, &bucket, &key).await, b"through the domain");
    let mangled = s3
        .head_object()
        .bucket(&bucket)
        .key("inside.txt")
        .send()
        .await;
    assert_s3_err(mangled, 404, "NotFound");
    // A URL signed for another key does not reach this one.
    let other = sign("GET", &format!("{bucket}/other.txt"));
    let tampered = other.replace("other.txt", "inside.txt");
    let refused = web.get(tampered).send().await.unwrap();
    assert_eq!(refused.status(), 403);
}
