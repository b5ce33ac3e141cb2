//! Presigned URL lifetime is capped at the S3 door for every presign form: SigV4
//! `X-Amz-Expires` (AWS: at most 604800 s, else 400 `AuthorizationQueryParametersError`),
//! SigV2 `Expires` (an epoch second, at most seven days from now), and the lower
//! `limits.max_presign_expiry_secs` of the gateway, which the API's presign routes obey too.
//!
//! Every URL here is correctly signed, so a refusal can only come from the lifetime check.

mod common;

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;

const BODY: &[u8] = b"presigned bytes";

/// A server with one bucket holding `k`.
async fn server_with_object(toml: Option<&str>) -> (TestServer, String) {
    let server = match toml {
        Some(t) => TestServer::start_with_config(t).await,
        None => TestServer::start().await,
    };
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from_static(BODY))
        .send()
        .await
        .unwrap();
    (server, bucket)
}

/// A SigV4 presigned GET target (`/bucket/k?…`) with `X-Amz-Expires` set to `expires` as is.
fn sigv4_target(server: &TestServer, bucket: &str, expires: &str) -> String {
    let (amz_date, date) = amz_dates(time::OffsetDateTime::now_utc());
    let path = format!("/{bucket}/k");
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={ROOT_ACCESS_KEY}%2F{date}%2F{REGION}%2Fs3%2Faws4_request&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
    );
    let headers = [("host".to_owned(), server.s3_addr.to_string())];
    let sig = sign_v4(
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "GET",
        &path,
        &query,
        &headers,
        "UNSIGNED-PAYLOAD",
        &amz_date,
    );
    format!("{path}?{query}&X-Amz-Signature={}", sig.signature)
}

/// A SigV2 presigned GET target expiring at `expires` (epoch seconds).
fn sigv2_target(bucket: &str, expires: i64) -> String {
    let path = format!("/{bucket}/k");
    let string_to_sign = format!("GET\n\n\n{expires}\n{path}");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(ROOT_SECRET_KEY.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig: String = sig
        .bytes()
        .map(|b| match b {
            b'+' => "%2B".to_owned(),
            b'/' => "%2F".to_owned(),
            b'=' => "%3D".to_owned(),
            _ => (b as char).to_string(),
        })
        .collect();
    format!("{path}?AWSAccessKeyId={ROOT_ACCESS_KEY}&Expires={expires}&Signature={sig}")
}

async fn get(server: &TestServer, target: &str) -> RawResponse {
    server.raw("GET", target).send().await
}

#[track_caller]
fn assert_served(resp: &RawResponse) {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.body, BODY);
}

#[tokio::test]
async fn sigv4_presigned_lifetime_is_capped_at_seven_days() {
    let (server, bucket) = server_with_object(None).await;

    // The SDK presigns up to seven days, and such a URL works.
    let p = server
        .client()
        .get_object()
        .bucket(&bucket)
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(604_800)).unwrap())
        .await
        .unwrap();
    assert!(p.uri().contains("X-Amz-Expires=604800"), "{}", p.uri());
    let resp = http_client().get(p.uri()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), BODY);

    // The hand-made URLs are signed right: the same one valid for a week is served.
    assert_served(&get(&server, &sigv4_target(&server, &bucket, "604800")).await);

    for (expires, message) in [
        (
            "604801",
            "X-Amz-Expires must be less than a week (in seconds) that is; 604800",
        ),
        (
            "1000000000",
            "X-Amz-Expires must be less than a week (in seconds) that is; 604800",
        ),
        ("-1", "X-Amz-Expires must be non-negative"),
        ("abc", "X-Amz-Expires should be a number"),
    ] {
        let resp = get(&server, &sigv4_target(&server, &bucket, expires)).await;
        resp.assert_error(400, "AuthorizationQueryParametersError");
        assert_eq!(
            xml_tag(&resp.text(), "Message").as_deref(),
            Some(message),
            "X-Amz-Expires={expires}"
        );
    }
    server.assert_no_panics();
}

#[tokio::test]
async fn sigv2_presigned_expiry_is_capped_relative_to_now() {
    let (server, bucket) = server_with_object(None).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    // SigV2 query authentication is supported (s3s verifies it): an hour is fine.
    assert_served(&get(&server, &sigv2_target(&bucket, now + 3600)).await);

    // 2058-09-23: far more than seven days away.
    let resp = get(&server, &sigv2_target(&bucket, 2_800_000_000)).await;
    resp.assert_error(400, "AuthorizationQueryParametersError");
    let resp = get(&server, &sigv2_target(&bucket, now + 8 * 24 * 3600)).await;
    resp.assert_error(400, "AuthorizationQueryParametersError");

    // An expired SigV2 URL stays refused by s3s.
    let resp = get(&server, &sigv2_target(&bucket, now - 60)).await;
    resp.assert_error(403, "AccessDenied");
    server.assert_no_panics();
}

#[tokio::test]
async fn configured_presign_cap_applies_to_s3_urls_and_the_api() {
    let (server, bucket) =
        server_with_object(Some("[limits]\nmax_presign_expiry_secs = 3600\n")).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    assert_served(&get(&server, &sigv4_target(&server, &bucket, "3600")).await);
    let resp = get(&server, &sigv4_target(&server, &bucket, "7200")).await;
    resp.assert_error(400, "AuthorizationQueryParametersError");
    assert_eq!(
        xml_tag(&resp.text(), "Message").as_deref(),
        Some("X-Amz-Expires must be at most 3600 seconds on this gateway")
    );

    // An SDK presign of two hours is refused too, and so is a SigV2 URL of two hours.
    let p = server
        .client()
        .get_object()
        .bucket(&bucket)
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(7200)).unwrap())
        .await
        .unwrap();
    let resp = http_client().get(p.uri()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let text = resp.text().await.unwrap();
    assert_eq!(
        xml_tag(&text, "Code").as_deref(),
        Some("AuthorizationQueryParametersError"),
        "{text}"
    );
    get(&server, &sigv2_target(&bucket, now + 7200))
        .await
        .assert_error(400, "AuthorizationQueryParametersError");
    assert_served(&get(&server, &sigv2_target(&bucket, now + 1800)).await);

    // The control plane refuses (JSON 400) rather than clamping a longer lifetime.
    let token = server.admin_token();
    let url = format!(
        "{}/api/buckets/{bucket}/presigned-download",
        server.admin_endpoint
    );
    let resp = http_client()
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"key": "k", "expiresIn": 7200}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidArgument", "{body}");
    assert_eq!(
        body["error"]["message"],
        "expiresIn: must be between 1 and 3600 seconds on this gateway"
    );
    let resp = http_client()
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"key": "k", "expiresIn": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let presigned = body["url"].as_str().unwrap();
    let resp = http_client().get(presigned).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), BODY);
    server.assert_no_panics();
}
