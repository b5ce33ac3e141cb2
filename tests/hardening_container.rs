//! Deleting a container bucket while a client holds a download open: only writes are drained
//! before the emptiness check; the stalled reader does not block the deletion and its download
//! is cut off.
//!
//! Needs a Docker engine and the locally built test image (`tests/docker/build-test-image.sh`),
//! like `tests/container.rs`; `BUCKETGATE_SKIP_DOCKER_TESTS=1` skips it knowingly.

mod common;

use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// Whether the engine answers (panics without one unless skipping was asked for), and the test
/// image is built.
fn docker_ready() -> bool {
    let info = Command::new("docker").args(["info"]).output();
    if !info.is_ok_and(|o| o.status.success()) {
        if std::env::var("BUCKETGATE_SKIP_DOCKER_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("docker test: NOT RUN (BUCKETGATE_SKIP_DOCKER_TESTS=1, no engine)");
            return false;
        }
        panic!("no Docker engine; start dockerd or set BUCKETGATE_SKIP_DOCKER_TESTS=1");
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/docker/build-test-image.sh"
    );
    let status = Command::new("bash").arg(script).status().unwrap();
    assert!(status.success(), "building the test image failed");
    true
}

/// Removes this test's containers and volumes whatever happened.
struct Instance(String);

impl Drop for Instance {
    fn drop(&mut self) {
        let filter = format!("label=io.bucketgate.instance={}", self.0);
        for kind in [["ps", "-aq"], ["volume", "ls"]] {
            let mut args = kind.to_vec();
            if kind[0] == "volume" {
                args.push("-q");
            }
            args.extend(["--filter", &filter]);
            let out = Command::new("docker").args(&args).output().unwrap();
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let rm: &[&str] = if kind[0] == "ps" {
                    &["rm", "-f", id]
                } else {
                    &["volume", "rm", "-f", id]
                };
                let _ = Command::new("docker").args(rm).output();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_download_does_not_block_deleting_the_bucket() {
    if !docker_ready() {
        return;
    }
    let inst = Instance(format!(
        "hc{:012x}",
        rand::random::<u64>() & 0xffff_ffff_ffff
    ));
    let base = 45000 + (std::process::id() as u16 % 40) * 100;
    let server = TestServer::start_with_config(&format!(
        "default_backend = \"container\"\n\n[container]\nprofile = \"s3s-fs-test\"\ninstance = \"{}\"\nport_min = {base}\nport_max = {}\nready_timeout_secs = 30\n\n[limits]\nbody_idle_timeout_secs = 300\n",
        inst.0,
        base + 19
    ))
    .await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    s3.put_object()
        .bucket(&bucket)
        .key("big")
        .body(random_bytes(30 * MIB).into())
        .send()
        .await
        .unwrap();

    // A presigned download on a socket with a 4 KiB receive buffer that is never read.
    let url = s3
        .get_object()
        .bucket(&bucket)
        .key("big")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let target = url.uri().split_once("://").unwrap().1;
    let path = &target[target.find('/').unwrap()..];
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut reader = socket.connect(server.s3_addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: {}\r\n\r\n", server.s3_addr);
    reader.write_all(req.as_bytes()).await.unwrap();
    // The download has started (its first bytes are here) and then stalls.
    let mut first = [0u8; 12];
    reader.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    s3.delete_object()
        .bucket(&bucket)
        .key("big")
        .send()
        .await
        .unwrap();
    // Before: every request in flight was waited for, 30 s, then OperationAborted.
    let deleted = tokio::time::timeout(
        Duration::from_secs(120),
        s3.delete_bucket().bucket(&bucket).send(),
    )
    .await
    .expect("DeleteBucket answered");
    if let Err(e) = deleted {
        panic!("DeleteBucket failed: {}", dbg_err(&e));
    }
    let missing = s3.head_bucket().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(status_code(&missing).0, 404);

    // The stalled reader's download is cut off (the object never arrives whole) as soon as
    // it reads again; the body idle timeout (300 s) plays no part in this test.
    let mut got = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stalled download's connection stayed open"
    );
    assert!(
        got.len() < 30 * MIB,
        "the whole object arrived after its bucket was deleted"
    );
    server.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_to_a_container_bucket_is_cut_off() {
    if !docker_ready() {
        return;
    }
    let inst = Instance(format!(
        "hc{:012x}",
        rand::random::<u64>() & 0xffff_ffff_ffff
    ));
    let base = 45000 + (std::process::id() as u16 % 40) * 100 + 50;
    let server = TestServer::start_with_config(&format!(
        "default_backend = \"container\"\n\n[container]\nprofile = \"s3s-fs-test\"\ninstance = \"{}\"\nport_min = {base}\nport_max = {}\nready_timeout_secs = 30\n\n[limits]\nbody_idle_timeout_secs = 1\n",
        inst.0,
        base + 19
    ))
    .await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    // Declares 10 MiB, sends 100 bytes, stalls: the forwarded request is cut off with the
    // client's error, not the storage server's.
    let head = server
        .signed("PUT", &format!("/{bucket}/stalled"))
        .payload_hash("UNSIGNED-PAYLOAD")
        .no_content_length()
        .header("content-length", &(10 * MIB).to_string())
        .head_bytes();
    let mut stalled = tokio::net::TcpStream::connect(server.s3_addr)
        .await
        .unwrap();
    stalled.write_all(&head).await.unwrap();
    stalled.write_all(&[7u8; 100]).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stalled.read_to_end(&mut got))
        .await
        .expect("the stalled upload's connection was closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&got).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert_eq!(
        xml_tag(&answer, "Code").as_deref(),
        Some("RequestTimeout"),
        "{answer}"
    );
    let missing = s3
        .head_object()
        .bucket(&bucket)
        .key("stalled")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&missing).0, 404);
    // Nothing is left in flight: the bucket deletes at once.
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}

/// A container profile's `max_key_bytes` (the s3s-fs test image: 72, its file names hold the
/// key) is enforced at the S3 door and in the API as `KeyTooLongError` (found by the API fuzz:
/// the server answered longer keys with `500 InternalError`); a key of the limit still works.
/// Completing an upload through the API with a part the server does not hold is `InvalidPart`
/// (the s3s-fs server answers it with a `500`), parts out of order `InvalidPartOrder`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_buckets_answer_what_their_server_cannot_store_with_client_errors() {
    if !docker_ready() {
        return;
    }
    let inst = Instance(format!(
        "hk{:012x}",
        rand::random::<u64>() & 0xffff_ffff_ffff
    ));
    let base = 45000 + (std::process::id() as u16 % 40) * 100 + 75;
    let server = TestServer::start_with_config(&format!(
        "default_backend = \"container\"\n\n[container]\nprofile = \"s3s-fs-test\"\ninstance = \"{}\"\nport_min = {base}\nport_max = {}\nready_timeout_secs = 30\n",
        inst.0,
        base + 19
    ))
    .await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let long = format!("dir/{}", "a".repeat(69));
    let ok = format!("dir/{}", "a".repeat(68));
    let refused = s3
        .put_object()
        .bucket(&bucket)
        .key(&long)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_s3_err(refused, 400, "KeyTooLongError");
    s3.put_object()
        .bucket(&bucket)
        .key(&ok)
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("a key of the limit is stored");

    let http = http_client();
    let token = server.admin_token();
    let resp = http
        .post(format!(
            "{}/api/buckets/{bucket}/uploads",
            server.admin_endpoint
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "key": long }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (Some("KeyTooLongError"), Some("key")),
        "{body}"
    );
    let resp = http
        .get(format!(
            "{}/api/buckets/{bucket}/objects/{ok}?metadata",
            server.admin_endpoint
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let api = |path: &str| format!("{}/api/buckets/{bucket}{path}", server.admin_endpoint);
    let created: serde_json::Value = http
        .post(api("/uploads"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "key": "mp" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload = created["uploadId"]
        .as_str()
        .expect("an upload id")
        .to_owned();
    for (parts, code) in [
        (
            serde_json::json!([{"partNumber": 1, "etag": "0"}]),
            "InvalidPart",
        ),
        (
            serde_json::json!([{"partNumber": 2, "etag": "0"}, {"partNumber": 1, "etag": "0"}]),
            "InvalidPartOrder",
        ),
    ] {
        let resp = http
            .post(api(&format!("/uploads/{upload}/complete")))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "key": "mp", "parts": parts }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"].as_str(), Some(code), "{body}");
    }
    server.assert_no_panics();
}
