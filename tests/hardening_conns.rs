//! Connection exhaustion and stalled bodies, attacked over raw sockets: silent connections,
//! one address taking every slot, idle keep-alive connections holding every slot, and a PUT
//! that declares a large body and stalls while holding the bucket's quota.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Overall bound for anything the server should do promptly; the timeouts configured in these
/// tests are 1-2 s, the limits they break are tens of seconds or forever.
const BOUND: Duration = Duration::from_secs(30);

/// Connects from a chosen loopback address (all of 127.0.0.0/8 is loopback on Linux).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.expect("connect")
}

/// Reads until the peer closes; the bytes received (none when it closed or reset at once).
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(BOUND, stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    got
}

/// Sends one keep-alive request and reads its whole response (Content-Length framed); the
/// status code.
async fn keep_alive_request(stream: &mut TcpStream, host: SocketAddr) -> u16 {
    let req = format!("GET / HTTP/1.1\r\nhost: {host}\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(BOUND, stream.read(&mut chunk))
            .await
            .expect("response in time")
            .unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside a response");
        buf.extend_from_slice(&chunk[..n]);
    }
    head[9..12].parse().unwrap()
}

#[tokio::test]
async fn silent_connections_are_dropped_and_clients_get_served() {
    let server = TestServer::start_with_config(
        "[limits]\nmax_connections = 16\nheader_read_timeout_secs = 1\n",
    )
    .await;
    // Every slot taken by connections that never send a byte.
    let mut silent = Vec::new();
    for _ in 0..16 {
        silent.push(TcpStream::connect(server.s3_addr).await.unwrap());
    }
    // They are closed by the server within the header timeout (before: never).
    for s in &mut silent {
        assert_eq!(read_to_close(s).await, b"", "a silent connection got bytes");
    }
    // Again a full house of silent connections: a real client still gets its answer.
    let mut silent = Vec::new();
    for _ in 0..16 {
        silent.push(TcpStream::connect(server.s3_addr).await.unwrap());
    }
    let client = server.client();
    let bucket = tokio::time::timeout(BOUND, server.bucket(&client))
        .await
        .expect("CreateBucket answered while silent connections held every slot");
    let listed = tokio::time::timeout(BOUND, client.list_objects_v2().bucket(&bucket).send())
        .await
        .expect("ListObjectsV2 answered")
        .unwrap();
    assert_eq!(listed.key_count(), Some(0));
    // A connection that sends the first bytes of the HTTP/2 preface and stops is dropped too.
    let mut partial = TcpStream::connect(server.s3_addr).await.unwrap();
    partial.write_all(b"PRI * HTTP/2.0").await.unwrap();
    assert_eq!(read_to_close(&mut partial).await, b"");
    drop(silent);
    server.assert_alive().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_slot() {
    let server = TestServer::start_with_config(
        "[limits]\nmax_connections = 64\nmax_connections_per_ip = 4\nheader_read_timeout_secs = 60\n",
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from([127, 0, 0, 1], server.s3_addr).await);
    }
    // The fifth from the same address is closed without an answer...
    let mut fifth = connect_from([127, 0, 0, 1], server.s3_addr).await;
    let req = format!(
        "GET / HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        server.s3_addr
    );
    let _ = fifth.write_all(req.as_bytes()).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(BOUND, fifth.read_to_end(&mut got)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "fifth connection from one address: {read:?} {:?}",
        String::from_utf8_lossy(&got)
    );
    // ...while another address is served (anonymous ListBuckets: 403 AccessDenied).
    let mut other = connect_from([127, 0, 0, 2], server.s3_addr).await;
    other.write_all(req.as_bytes()).await.unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut other).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");
    // Slots are given back when connections end.
    drop(held);
    let client = server.client();
    tokio::time::timeout(BOUND, async {
        loop {
            let mut again = connect_from([127, 0, 0, 1], server.s3_addr).await;
            let _ = again.write_all(req.as_bytes()).await;
            let mut got = Vec::new();
            let _ = again.read_to_end(&mut got).await;
            if got.starts_with(b"HTTP/1.1 403") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the address is served again once its connections closed");
    client.list_buckets().send().await.unwrap();
}

#[tokio::test]
async fn idle_keep_alive_connections_make_room_for_new_clients() {
    // The header timeout (which also closes idle keep-alive connections) is far longer than
    // the test: only the reclaim can free a slot.
    let server = TestServer::start_with_config(
        "[limits]\nmax_connections = 4\nheader_read_timeout_secs = 300\n",
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(server.s3_addr).await.unwrap();
        assert_eq!(keep_alive_request(&mut s, server.s3_addr).await, 403);
        idle.push(s);
    }
    // A new client is served now, not when a keep-alive connection times out.
    let client = server.client();
    tokio::time::timeout(BOUND, client.list_buckets().send())
        .await
        .expect("a new client is served while idle keep-alive connections hold every slot")
        .unwrap();
    // One of the idle connections was closed to make room.
    let mut closed = 0;
    for s in &mut idle {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(200), s.read(&mut b)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no idle connection was closed");
}

async fn api(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http_client()
        .request(method, format!("{}{path}", server.admin_endpoint))
        .bearer_auth(server.admin_token());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_and_gives_back_its_quota() {
    let server = TestServer::start_with_config("[limits]\nbody_idle_timeout_secs = 1\n").await;
    let bucket = bucket_name();
    let (s, v) = api(
        &server,
        reqwest::Method::POST,
        "/api/buckets",
        Some(json!({"name": bucket, "maxSizeBytes": 10 * MIB})),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    // Declares 10 MiB (the whole quota), sends 100 bytes, stalls.
    let head = server
        .signed("PUT", &format!("/{bucket}/stalled"))
        .payload_hash("UNSIGNED-PAYLOAD")
        .no_content_length()
        .header("content-length", &(10 * MIB).to_string())
        .head_bytes();
    let mut stalled = TcpStream::connect(server.s3_addr).await.unwrap();
    stalled.write_all(&head).await.unwrap();
    stalled.write_all(&[7u8; 100]).await.unwrap();

    // The stalled request is answered 400 RequestTimeout, and its connection closed.
    let answer = String::from_utf8_lossy(&read_to_close(&mut stalled).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert_eq!(
        xml_tag(&answer, "Code").as_deref(),
        Some("RequestTimeout"),
        "{answer}"
    );

    // Another writer gets the quota (before: QuotaExceeded for as long as the stall lasted).
    let client = server.client();
    let data = random_bytes(MIB);
    tokio::time::timeout(BOUND, async {
        loop {
            match client
                .put_object()
                .bucket(&bucket)
                .key("next")
                .body(data.clone().into())
                .send()
                .await
            {
                Ok(_) => break,
                Err(e) => {
                    assert_eq!(status_code(&e), (403, "QuotaExceeded".to_owned()));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
    .await
    .expect("the quota held by the stalled upload is released");

    // Nothing of the stalled upload is left: no temp file, no object, no usage.
    let tmp = TestServer::files_under(&server.data_dir().join("tmp"));
    assert!(tmp.is_empty(), "leftover temp files: {tmp:?}");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("stalled")
        .send()
        .await;
    assert_eq!(status_code(&head.unwrap_err()).0, 404);
    let (s, st) = api(
        &server,
        reqwest::Method::GET,
        &format!("/api/buckets/{bucket}/stats"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(1), Some(MIB as u64)),
        "{st}"
    );
    server.assert_alive().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    let server = TestServer::start_with_config("[limits]\nbody_idle_timeout_secs = 1\n").await;
    let client = server.client();
    let bucket = server.bucket(&client).await;
    client
        .put_object()
        .bucket(&bucket)
        .key("big")
        .body(random_bytes(16 * MIB).into())
        .send()
        .await
        .unwrap();
    // A small receive buffer and no reading: the server's writes stall.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut reader = socket.connect(server.s3_addr).await.unwrap();
    let head = server
        .signed("GET", &format!("/{bucket}/big"))
        .payload_hash(EMPTY_SHA256)
        .head_bytes();
    reader.write_all(&head).await.unwrap();
    // Wait until the server gave up on it: a write on our side fails or reads end early.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1024];
    // Not reading for longer than the body idle timeout (1 s) is the attack itself, not a
    // wait for readiness.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let drained = tokio::time::timeout(BOUND, async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "the stalled response's connection was not ended"
    );
    assert!(
        got.len() < 16 * MIB,
        "the whole object arrived: the connection was never cut"
    );
    server.assert_alive().await;
}

#[tokio::test]
async fn a_stalled_control_plane_upload_is_cut_off() {
    let server = TestServer::start_with_config("[limits]\nbody_idle_timeout_secs = 1\n").await;
    let bucket = bucket_name();
    let (s, v) = api(
        &server,
        reqwest::Method::POST,
        "/api/buckets",
        Some(json!({"name": bucket})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    // A multipart form declaring 1 MiB that stalls inside its file part.
    let head = format!(
        "POST /api/buckets/{bucket}/objects HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: multipart/form-data; boundary=XyZ\r\ncontent-length: {}\r\n\r\n--XyZ\r\ncontent-disposition: form-data; name=\"key\"\r\n\r\nstalled\r\n--XyZ\r\ncontent-disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n",
        server.admin_addr,
        server.admin_token(),
        MIB
    );
    let mut stalled = TcpStream::connect(server.admin_addr).await.unwrap();
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&[7u8; 100]).await.unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut stalled).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("\"RequestTimeout\""), "{answer}");
    let tmp = TestServer::files_under(&server.data_dir().join("tmp"));
    assert!(tmp.is_empty(), "leftover spool files: {tmp:?}");
}
