//! Crash safety of the embedded backend, using the real binary: acknowledged writes survive
//! `kill -9`; an interrupted upload leaves nothing visible and no temp files after restart;
//! SIGTERM drains in-flight requests.
//!
//! The server stages uploads under `<data-dir>/tmp/` (temp file → fsync → rename) and sweeps
//! that directory at start-up.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn acknowledged_put_survives_kill_9() {
    let mut server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let small = random_bytes(1000);
    let large = random_bytes(3 * MIB + 1);
    for (key, data) in [
        ("small", &small),
        ("dir/large", &large),
        ("deleted", &small),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .content_type("application/x-durable")
            .metadata("kept", "yes")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject {key}: {}", dbg_err(&e)));
    }
    // Overwrite and delete are acknowledged writes too.
    s3.put_object()
        .bucket(&bucket)
        .key("small")
        .content_type("application/x-durable")
        .metadata("kept", "yes")
        .body(ByteStream::from(
            small.iter().rev().copied().collect::<Vec<u8>>(),
        ))
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&bucket)
        .key("deleted")
        .send()
        .await
        .unwrap();

    server.kill9();
    server.restart().await;
    let s3 = server.client();

    let names: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, std::slice::from_ref(&bucket));
    let small_rev: Vec<u8> = small.iter().rev().copied().collect();
    assert_eq!(
        get_bytes(&s3, &bucket, "small").await,
        small_rev,
        "overwrite survived"
    );
    assert!(
        get_bytes(&s3, &bucket, "dir/large").await == large,
        "large object intact"
    );
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("dir/large")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(quoted_md5(&large).as_str()));
    assert_eq!(head.content_type(), Some("application/x-durable"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("kept"))
            .map(String::as_str),
        Some("yes")
    );
    let res = s3.get_object().bucket(&bucket).key("deleted").send().await;
    assert_s3_err(res, 404, "NoSuchKey");
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/large", "small"]);
}

#[tokio::test]
async fn completed_multipart_upload_survives_kill_9() {
    let mut server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let parts = vec![
        pattern(11, 0, 5 * MIB),
        pattern(11, 5 * MIB as u64, MIB + 3),
    ];
    let out = multipart_put(&s3, &bucket, "mp", parts.clone()).await;
    let etag = out.e_tag().unwrap().to_string();

    // A second upload left open across the crash is still listed afterwards.
    let open_id = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("open")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    s3.upload_part()
        .bucket(&bucket)
        .key("open")
        .upload_id(&open_id)
        .part_number(1)
        .body(ByteStream::from(random_bytes(1000)))
        .send()
        .await
        .unwrap();

    server.kill9();
    server.restart().await;
    let s3 = server.client();

    let got = get_bytes(&s3, &bucket, "mp").await;
    let want: Vec<u8> = parts.concat();
    assert!(
        got == want,
        "multipart object differs after restart ({} bytes)",
        got.len()
    );
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("mp")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = uploads
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id())
        .collect();
    assert_eq!(
        ids,
        [open_id.as_str()],
        "the completed upload is gone, the open one kept"
    );
    let parts = s3
        .list_parts()
        .bucket(&bucket)
        .key("open")
        .upload_id(&open_id)
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), 1, "acknowledged part survived");
}

/// Bytes of the data dir's temp area after restart (absent counts as empty).
fn tmp_entries(server: &TestServer) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(server.data_dir().join("tmp")) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn interrupted_upload_leaves_nothing_after_kill_9() {
    const DECLARED: usize = 200 * MIB;
    const SENT: usize = 32 * MIB;
    let seed = 0x5EED;
    let mut server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;

    // A raw signed PUT declaring 200 MiB, of which only 32 MiB are sent before the crash.
    let head = server
        .signed("PUT", &format!("/{bucket}/partial"))
        .payload_hash("UNSIGNED-PAYLOAD")
        .no_content_length()
        .header("content-length", &DECLARED.to_string())
        .head_bytes();
    let mut conn = tokio::net::TcpStream::connect(server.s3_addr)
        .await
        .unwrap();
    conn.write_all(&head).await.unwrap();
    let mut off = 0;
    while off < SENT {
        let chunk = pattern(seed, off as u64, MIB);
        // write_all only completes once the server has consumed most of what came before
        // (socket buffers are a few MiB), so the server is provably mid-upload afterwards.
        tokio::time::timeout(Duration::from_secs(30), conn.write_all(&chunk))
            .await
            .expect("server stopped reading the upload")
            .unwrap_or_else(|e| panic!("server closed the upload at {off} bytes: {e}"));
        off += MIB;
    }
    conn.flush().await.unwrap();
    // The partial body is staged under <data-dir>/tmp (poll: the server may lag the socket).
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmp_entries(&server).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let staged = tmp_entries(&server);
    assert!(
        !staged.is_empty(),
        "an upload in progress is staged under <data-dir>/tmp; found nothing there"
    );

    server.kill9();
    drop(conn);
    server.restart().await;
    let s3 = server.client();

    let res = s3.get_object().bucket(&bucket).key("partial").send().await;
    assert_s3_err(res, 404, "NoSuchKey");
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert!(listed.contents().is_empty(), "{listed:?}");
    let left = tmp_entries(&server);
    assert!(
        left.is_empty(),
        "temp files left in <data-dir>/tmp after restart: {left:?}"
    );
    // Nothing of the partial body is kept anywhere in the data dir.
    let probe = pattern(seed, 0, 4096);
    for (path, _) in TestServer::files_under(&server.data_dir()) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !contains(&bytes, &probe),
            "partial upload data left in {path:?}"
        );
    }
    // The key is writable again.
    s3.put_object()
        .bucket(&bucket)
        .key("partial")
        .body(ByteStream::from_static(b"complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&s3, &bucket, "partial").await, b"complete");
}

#[tokio::test]
async fn sigterm_drains_in_flight_request_and_exits_cleanly() {
    let mut server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(2 * MIB);
    let head = server
        .signed("PUT", &format!("/{bucket}/in-flight"))
        .payload_hash("UNSIGNED-PAYLOAD")
        .no_content_length()
        .header("content-length", &data.len().to_string())
        .head_bytes();
    let conn = tokio::net::TcpStream::connect(server.s3_addr)
        .await
        .unwrap();
    let (mut rd, mut wr) = conn.into_split();
    wr.write_all(&head).await.unwrap();
    wr.write_all(&data[..MIB]).await.unwrap();
    wr.flush().await.unwrap();

    server.sigterm();
    // Shutdown has begun once the listener refuses new connections.
    let addr = server.s3_addr;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "S3 listener still accepting 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The in-flight upload still completes.
    tokio::time::timeout(Duration::from_secs(20), wr.write_all(&data[MIB..]))
        .await
        .expect("server stopped reading the in-flight request body after SIGTERM (20 s)")
        .expect("server closed the in-flight connection after SIGTERM");
    wr.flush().await.unwrap();
    let resp = tokio::time::timeout(RAW_TIMEOUT, read_response(&mut rd, false))
        .await
        .expect("response to the in-flight request")
        .expect("in-flight request answered");
    assert_eq!(
        resp.status,
        200,
        "in-flight PUT during shutdown: {}",
        resp.text()
    );

    let exit = server.terminate(Duration::from_secs(30));
    assert!(
        exit.success(),
        "graceful shutdown exit status {exit:?}\n{}",
        server.stderr()
    );

    server.restart().await;
    let s3 = server.client();
    assert_eq!(get_bytes(&s3, &bucket, "in-flight").await, data);
}
