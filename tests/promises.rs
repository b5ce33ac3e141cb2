//! What the README promises and no other test drove end to end: grants and the ListBuckets
//! they open, quotas and per-user access on forwarded (remote) buckets, a silent upstream
//! answered `503` with `Retry-After`, CRC64NVME checksums, conditional PUT with `If-Match`, the
//! POST-form size cap and `public_endpoint`.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// One admin-API call: status and JSON body (null when empty).
async fn api(
    server: &TestServer,
    bearer: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http_client()
        .request(method, format!("{}{path}", server.admin_endpoint))
        .bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("API request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }))
    };
    (status, v)
}

/// A user with one access key: `(access key, secret key)`.
async fn user(server: &TestServer, id: &str) -> (String, String) {
    let token = server.admin_token();
    let (s, v) = api(
        server,
        &token,
        Method::POST,
        "/api/users",
        Some(json!({"id": id})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, k) = api(
        server,
        &token,
        Method::POST,
        &format!("/api/users/{id}/keys"),
        None,
    )
    .await;
    assert_eq!(s, 201, "{k}");
    (
        k["accessKey"].as_str().unwrap().to_owned(),
        k["secretKey"].as_str().unwrap().to_owned(),
    )
}

async fn listed(s3: &aws_sdk_s3::Client) -> Vec<String> {
    let out = s3
        .list_buckets()
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListBuckets: {}", dbg_err(&e)));
    let mut names: Vec<String> = out
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    data: &[u8],
) -> Result<(), (u16, String)> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| status_code(&e))
}

fn denied() -> Result<(), (u16, String)> {
    Err((403, "AccessDenied".to_owned()))
}

/// `read` lets a granted key list and read a bucket, `read-write` lets it write too; ListBuckets
/// shows exactly the caller's own and granted buckets; removing the grant closes it again.
#[tokio::test]
async fn grants_open_a_bucket_to_another_key_and_list_buckets_follows() {
    let server = TestServer::start().await;
    let token = server.admin_token();
    let (alice_ak, alice_sk) = user(&server, "alice").await;
    let (bob_ak, bob_sk) = user(&server, "bob").await;
    let alice = server.client_with(&alice_ak, &alice_sk);
    let bob = server.client_with(&bob_ak, &bob_sk);
    let shared = bucket_name();
    let own = bucket_name();
    alice.create_bucket().bucket(&shared).send().await.unwrap();
    bob.create_bucket().bucket(&own).send().await.unwrap();
    put(&alice, &shared, "doc", b"alice's").await.unwrap();

    assert_eq!(listed(&bob).await, std::slice::from_ref(&own));
    assert_s3_err(
        bob.get_object().bucket(&shared).key("doc").send().await,
        403,
        "AccessDenied",
    );
    assert_s3_err(
        bob.list_objects_v2().bucket(&shared).send().await,
        403,
        "AccessDenied",
    );

    let path = format!("/api/buckets/{shared}");
    let grant = |level: &str| json!({"grants": [{"accessKey": bob_ak, "level": level}]});
    let (s, b) = api(&server, &token, Method::PATCH, &path, Some(grant("read"))).await;
    assert_eq!(
        (s, &b["grants"]),
        (200, &json!([{"accessKey": bob_ak, "level": "read"}])),
        "{b}"
    );

    let mut both = vec![own.clone(), shared.clone()];
    both.sort();
    assert_eq!(
        listed(&bob).await,
        both,
        "ListBuckets shows the granted bucket"
    );
    assert_eq!(
        listed(&alice).await,
        std::slice::from_ref(&shared),
        "and not the grantee's to the owner"
    );
    assert_eq!(get_bytes(&bob, &shared, "doc").await, b"alice's");
    let keys = bob.list_objects_v2().bucket(&shared).send().await.unwrap();
    assert_eq!(
        keys.contents()
            .iter()
            .filter_map(|o| o.key())
            .collect::<Vec<_>>(),
        ["doc"]
    );
    assert_eq!(
        put(&bob, &shared, "bob", b"x").await,
        denied(),
        "read is not write"
    );
    assert_s3_err(
        bob.delete_object().bucket(&shared).key("doc").send().await,
        403,
        "AccessDenied",
    );

    let (s, b) = api(
        &server,
        &token,
        Method::PATCH,
        &path,
        Some(grant("read-write")),
    )
    .await;
    assert_eq!(
        (s, &b["grants"][0]["level"]),
        (200, &json!("read-write")),
        "{b}"
    );
    put(&bob, &shared, "bob", b"bob's").await.unwrap();
    assert_eq!(get_bytes(&alice, &shared, "bob").await, b"bob's");
    bob.delete_object()
        .bucket(&shared)
        .key("bob")
        .send()
        .await
        .unwrap();

    // The owner's key may set grants too; an empty list takes them back.
    let (s, b) = api(
        &server,
        &format!("{alice_ak}:{alice_sk}"),
        Method::PATCH,
        &path,
        Some(json!({"grants": []})),
    )
    .await;
    assert_eq!((s, &b["grants"]), (200, &json!([])), "{b}");
    assert_eq!(listed(&bob).await, std::slice::from_ref(&own));
    assert_s3_err(
        bob.get_object().bucket(&shared).key("doc").send().await,
        403,
        "AccessDenied",
    );
    server.assert_no_panics();
}

/// Config of a gateway whose buckets live on `upstream` (another bucketgate), prefixed `gw-`.
fn remote_config(upstream: &str, timeout_secs: u64) -> String {
    format!(
        "default_backend = \"remote\"\n\n[remote]\nendpoint = \"{upstream}\"\naccess_key = \"{ROOT_ACCESS_KEY}\"\nsecret_key = \"{ROOT_SECRET_KEY}\"\nbucket_prefix = \"gw-\"\ntimeout_secs = {timeout_secs}\n"
    )
}

const GW_ACCESS_KEY: &str = "PROMISESGWROOTKEY001";
const GW_SECRET_KEY: &str = "promisesGatewayRootSecret0123456789abc";

async fn gateway(config: &str) -> TestServer {
    TestServer::start_with_config_env(
        config,
        &[
            ("BUCKETGATE_ROOT_ACCESS_KEY", GW_ACCESS_KEY),
            ("BUCKETGATE_ROOT_SECRET_KEY", GW_SECRET_KEY),
        ],
    )
    .await
}

/// On a forwarded bucket the gateway still enforces who may do what and the quota, before
/// anything reaches the bucket's server.
#[tokio::test]
async fn forwarded_buckets_keep_quotas_and_per_user_access() {
    let upstream = TestServer::start().await;
    let gw = gateway(&remote_config(&upstream.s3_endpoint, 5)).await;
    let direct = upstream.client();
    let (alice_ak, alice_sk) = user(&gw, "alice").await;
    let (bob_ak, bob_sk) = user(&gw, "bob").await;
    let alice = gw.client_with(&alice_ak, &alice_sk);
    let bob = gw.client_with(&bob_ak, &bob_sk);
    let bucket = bucket_name();
    let (s, v) = api(
        &gw,
        &format!("{alice_ak}:{alice_sk}"),
        Method::POST,
        "/api/buckets",
        Some(json!({"name": bucket, "maxSizeBytes": 1000, "maxObjects": 3})),
    )
    .await;
    assert_eq!(
        (s, v["bucket"]["backend"].as_str()),
        (201, Some("remote")),
        "{v}"
    );
    let remote = format!("gw-{bucket}");

    put(&alice, &bucket, "a", &[1; 600]).await.unwrap();
    assert_eq!(
        get_bytes(&direct, &remote, "a").await,
        vec![1; 600],
        "stored upstream"
    );
    assert_eq!(
        put(&alice, &bucket, "b", &[2; 600]).await,
        Err((403, "QuotaExceeded".to_owned())),
        "600 + 600 bytes in a 1000-byte bucket"
    );
    assert_s3_err(
        direct.head_object().bucket(&remote).key("b").send().await,
        404,
        "NotFound",
    );
    put(&alice, &bucket, "b", &[2; 300]).await.unwrap();
    put(&alice, &bucket, "c", &[3; 10]).await.unwrap();
    assert_eq!(
        put(&alice, &bucket, "d", &[4; 10]).await,
        Err((403, "QuotaExceeded".to_owned())),
        "a fourth object in a 3-object bucket"
    );

    // Another user sees nothing of it and can touch nothing, the root key everything.
    assert!(!listed(&bob).await.contains(&bucket));
    assert_s3_err(
        bob.get_object().bucket(&bucket).key("a").send().await,
        403,
        "AccessDenied",
    );
    assert_eq!(put(&bob, &bucket, "x", b"x").await, denied());
    assert_s3_err(
        bob.delete_object().bucket(&bucket).key("a").send().await,
        403,
        "AccessDenied",
    );
    assert_s3_err(
        bob.delete_bucket().bucket(&bucket).send().await,
        403,
        "AccessDenied",
    );
    assert_s3_err(
        direct.head_object().bucket(&remote).key("x").send().await,
        404,
        "NotFound",
    );
    let root = gw.client_with(GW_ACCESS_KEY, GW_SECRET_KEY);
    assert_eq!(get_bytes(&root, &bucket, "c").await, vec![3; 10]);
    gw.assert_no_panics();
}

/// An endpoint that accepts connections and never answers: every request through it ends in
/// `503 ServiceUnavailable` with `Retry-After` once the backend's timeout passes, not a hang.
#[tokio::test]
async fn a_silent_upstream_is_503_with_retry_after() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    // Accepted sockets are kept open (and never read from or written to) until the test ends.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let gw = gateway(&remote_config(&format!("http://{addr}"), 1)).await;
    let root = gw.client_with(GW_ACCESS_KEY, GW_SECRET_KEY);
    let err = root
        .create_bucket()
        .bucket(bucket_name())
        .send()
        .await
        .expect_err("the endpoint never answers");
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
    assert_eq!(retry_after.as_deref(), Some("5"), "{}", dbg_err(&err));
    holder.abort();
    gw.assert_no_panics();
}

/// CRC64NVME: computed by the SDK, verified and stored by the gateway, returned with checksum
/// mode (the SDK checks it against the body), and a wrong one refused with `BadDigest`.
#[tokio::test]
async fn crc64nvme_checksums_are_verified_and_returned() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = pattern(9, 0, 300_000);
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT with CRC64NVME: {}", dbg_err(&e)));
    let sent = put
        .checksum_crc64_nvme()
        .expect("CRC64NVME echoed")
        .to_owned();
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_crc64_nvme(), Some(sent.as_str()));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[..]
    );
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc64_nvme(), Some(sent.as_str()));

    server
        .signed("PUT", &format!("/{bucket}/bad"))
        .header("x-amz-checksum-crc64nvme", "AAAAAAAAAAA=")
        .body(data)
        .send()
        .await
        .assert_error(400, "BadDigest");
    assert_s3_err(
        s3.head_object().bucket(&bucket).key("bad").send().await,
        404,
        "NotFound",
    );
}

/// `If-Match` on PutObject: the current ETag lets the write through, another one is `412`.
#[tokio::test]
async fn conditional_put_with_if_match() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "k", b"one").await.unwrap();
    let etag = quoted_md5(b"one");
    let out = s3
        .put_object()
        .bucket(&bucket)
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("If-Match with the current ETag: {}", dbg_err(&e)));
    assert_eq!(out.e_tag(), Some(quoted_md5(b"two").as_str()));
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("k")
            .if_match(&etag)
            .body(ByteStream::from_static(b"three"))
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
    assert_eq!(get_bytes(&s3, &bucket, "k").await, b"two");
    // No object, no match.
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("missing")
            .if_match(&etag)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        404,
        "NoSuchKey",
    );
}

/// `limits.max_post_object_bytes` caps browser POST-form uploads: over it is `EntityTooLarge`
/// and nothing is stored; under it the upload works.
#[tokio::test]
async fn post_form_uploads_are_capped() {
    let server = TestServer::start_with_config("[limits]\nmax_post_object_bytes = 1000\n").await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let resp = post_form(
        &server.s3_endpoint,
        &bucket,
        "big",
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        vec![7; 5000],
    )
    .await;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(
        (status, xml_tag(&body, "Code").as_deref()),
        (400, Some("EntityTooLarge")),
        "{body}"
    );
    assert_s3_err(
        s3.head_object().bucket(&bucket).key("big").send().await,
        404,
        "NotFound",
    );

    let resp = post_form(
        &server.s3_endpoint,
        &bucket,
        "small",
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        vec![7; 900],
    )
    .await;
    assert_eq!(
        resp.status().as_u16(),
        204,
        "{}",
        resp.text().await.unwrap()
    );
    assert_eq!(get_bytes(&s3, &bucket, "small").await, vec![7; 900]);
}

/// `public_endpoint`: the API's connection details and presigned URLs name it, and a URL
/// signed for it works when a proxy forwards it with its Host unchanged.
#[tokio::test]
async fn public_endpoint_is_used_in_connection_details_and_presigned_urls() {
    const PUBLIC: &str = "https://s3.example.test";
    let server = TestServer::start_with_config(&format!("public_endpoint = \"{PUBLIC}\"\n")).await;
    let token = server.admin_token();
    let bucket = bucket_name();
    let (s, v) = api(
        &server,
        &token,
        Method::POST,
        "/api/buckets",
        Some(json!({"name": bucket})),
    )
    .await;
    assert_eq!(
        (s, v["connection"]["endpoint"].as_str()),
        (201, Some(PUBLIC)),
        "{v}"
    );
    let s3 = server.client();
    put(&s3, &bucket, "dir/file.txt", b"behind a proxy")
        .await
        .unwrap();

    let (s, v) = api(
        &server,
        &token,
        Method::POST,
        &format!("/api/buckets/{bucket}/presigned-download"),
        Some(json!({"key": "dir/file.txt", "expiresIn": 300})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let url = v["url"].as_str().unwrap();
    let prefix = format!("{PUBLIC}/{bucket}/dir/file.txt?");
    assert!(url.starts_with(&prefix), "{url}");
    // What the proxy sends on: the same target, the public Host.
    let target = &url[PUBLIC.len()..];
    let got = server
        .raw("GET", target)
        .host("s3.example.test")
        .send()
        .await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.body, b"behind a proxy");
}
