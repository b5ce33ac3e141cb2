//! Admin listener: /health and /metrics; the ready line.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::*;

#[tokio::test]
async fn ready_line_reports_bound_loopback_ports() {
    let server = TestServer::start().await;
    for addr in [server.s3_addr, server.admin_addr] {
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_ne!(addr.port(), 0, "ready line shows the bound port, not 0");
    }
    assert_ne!(server.s3_addr, server.admin_addr);
}

#[tokio::test]
async fn health_is_ok() {
    let server = TestServer::start().await;
    let resp = http_client()
        .get(format!("{}/health", server.admin_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    s3.put_object()
        .bucket(&bucket)
        .key("m")
        .body(ByteStream::from_static(b"metrics"))
        .send()
        .await
        .unwrap();
    s3.get_object()
        .bucket(&bucket)
        .key("m")
        .send()
        .await
        .unwrap();

    let resp = http_client()
        .get(format!("{}/metrics", server.admin_endpoint))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        ct.starts_with("text/plain"),
        "Prometheus text content type, got {ct:?}"
    );
    let body = resp.text().await.unwrap();
    assert!(
        body.lines().any(|l| l.starts_with("bucketgate_")),
        "no bucketgate_ sample in:\n{body}"
    );
    assert!(
        body.contains("# TYPE bucketgate_"),
        "no TYPE line for bucketgate_ metrics:\n{body}"
    );
    // Every sample line is `name{labels} value`.
    for line in body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}

#[tokio::test]
async fn admin_listener_is_not_the_s3_api() {
    let server = TestServer::start().await;
    // The S3 API is only on the S3 listener: a signed ListBuckets on the admin port is not
    // answered as S3 ListBuckets.
    let resp = send_raw(
        server.admin_addr,
        server.signed("GET", "/").head_bytes(),
        Vec::new(),
        false,
        RAW_TIMEOUT,
    )
    .await;
    assert!(
        !resp.text().contains("<ListAllMyBucketsResult"),
        "admin listener served S3: {}",
        resp.text()
    );
}
