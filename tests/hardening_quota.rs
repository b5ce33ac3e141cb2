//! Quota holes found by the hardening review (issue 8), each reproduced over TCP against the
//! real server: copies racing a source that grows, user metadata that was neither capped nor
//! counted, overwrites refused at `max_objects`, abandoned multipart uploads holding quota
//! forever, and the control-plane upload admitted on a stale usage reading.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::MetadataDirective;
use common::*;
use serde_json::{Value, json};

const TEN_MIB: u64 = 10 * 1024 * 1024;

/// The admin API of a test server.
struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    fn of(server: &TestServer) -> Admin {
        let token = server.admin_token();
        Admin {
            http: http_client(),
            base: server.admin_endpoint.clone(),
            token,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("API request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        (status, v)
    }

    /// Creates a bucket with the given quota fields (`maxSizeBytes`, `maxObjects`).
    async fn bucket(&self, quota: Value) -> String {
        let name = bucket_name();
        let mut body = json!({ "name": name });
        for (k, v) in quota.as_object().unwrap() {
            body[k] = v.clone();
        }
        let url = format!("{}/api/buckets", self.base);
        let (s, v) = self.send(self.http.post(url).json(&body)).await;
        assert_eq!(s, 201, "{v}");
        name
    }

    async fn stats(&self, bucket: &str) -> Value {
        let url = format!("{}/api/buckets/{bucket}/stats", self.base);
        let (s, v) = self.send(self.http.get(url)).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn upload(&self, bucket: &str, key: &str, data: Vec<u8>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("key", key.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(data).file_name("upload.bin"),
            );
        let url = format!("{}/api/buckets/{bucket}/objects", self.base);
        self.send(self.http.post(url).multipart(form)).await
    }
}

/// Sum of the sizes ListObjectsV2 reports for a bucket.
async fn listed_bytes(s3: &aws_sdk_s3::Client, bucket: &str) -> u64 {
    let mut total = 0;
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        total += page
            .contents()
            .iter()
            .map(|o| o.size().unwrap_or(0) as u64)
            .sum::<u64>();
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return total,
        }
    }
}

/// 8 copiers race a source that flips between 1 B and 8 MiB into a 10 MiB bucket. Each
/// copy is admitted on the size a HEAD saw; before the fix the 8 MiB version was committed
/// on a 1 B admission and the bucket ended far over its quota.
#[tokio::test]
async fn copies_racing_a_growing_source_never_overshoot_the_quota() {
    let server = TestServer::start().await;
    let admin = Admin::of(&server);
    let s3 = server.client();
    let src_bucket = admin.bucket(json!({})).await;
    let dst = admin.bucket(json!({ "maxSizeBytes": TEN_MIB })).await;
    let small = vec![1u8; 1];
    let big = vec![2u8; 8 * MIB];
    s3.put_object()
        .bucket(&src_bucket)
        .key("src")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();

    // The flipper makes a bounded number of flips; the copiers copy (each to new keys, so an
    // overshoot stays visible) until it is done.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (s3, bucket, done) = (s3.clone(), src_bucket.clone(), done.clone());
        tokio::spawn(async move {
            for flip in 0..120 {
                let body = if flip % 2 == 0 {
                    big.clone()
                } else {
                    small.clone()
                };
                s3.put_object()
                    .bucket(&bucket)
                    .key("src")
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let mut copiers = Vec::new();
    for c in 0..8 {
        let (s3, src_bucket, dst, done) =
            (s3.clone(), src_bucket.clone(), dst.clone(), done.clone());
        copiers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..5000 {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let r = s3
                    .copy_object()
                    .bucket(&dst)
                    .key(format!("c{c}-{i}"))
                    .copy_source(format!("{src_bucket}/src"))
                    .send()
                    .await;
                outcomes.push(match r {
                    Ok(_) => (200, String::new(), String::new()),
                    Err(e) => {
                        let (status, code) = status_code(&e);
                        (status, code, dbg_err(&e))
                    }
                });
            }
            outcomes
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for c in copiers {
        for (status, code, detail) in c.await.unwrap() {
            match (status, code.as_str()) {
                (200, _) => ok += 1,
                (403, "QuotaExceeded") => refused += 1,
                // The source was replaced between the snapshot the copy read and its commit
                // (the blobs it pointed at are gone): the embedded backend's answer to a
                // source that changed under a copy.
                (404, "NoSuchKey") if detail.contains("changed while it was being copied") => {}
                other => panic!("unexpected copy outcome {other:?}: {detail}"),
            }
        }
    }
    flipper.await.unwrap();
    assert!(ok > 0, "some copies must succeed");
    assert!(refused > 0, "8 MiB copies cannot all fit in 10 MiB");
    let st = admin.stats(&dst).await;
    let used = st["bytes"].as_u64().unwrap();
    let listed = listed_bytes(&s3, &dst).await;
    eprintln!("copy race: {ok} copies stored, {refused} refused, {used} bytes used of {TEN_MIB}");
    assert!(used <= TEN_MIB, "usage {used} over the quota ({st})");
    assert!(listed <= TEN_MIB, "{listed} bytes listed over the quota");
    assert_eq!(listed, used, "usage matches the listing (no metadata here)");
    assert_eq!(st["pendingBytes"].as_u64(), Some(0), "{st}");
}

/// UploadPartCopy of a source that grew after the HEAD is admitted on the part it copies.
#[tokio::test]
async fn part_copies_are_admitted_on_the_part_really_copied() {
    let server = TestServer::start().await;
    let admin = Admin::of(&server);
    let s3 = server.client();
    let dst = admin.bucket(json!({ "maxSizeBytes": 1000 })).await;
    s3.put_object()
        .bucket(&dst)
        .key("src")
        .body(ByteStream::from(vec![5u8; 600]))
        .send()
        .await
        .unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket(&dst)
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    assert_s3_err(
        s3.upload_part_copy()
            .bucket(&dst)
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .copy_source(format!("{dst}/src"))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    // A 300-byte range fits next to the 600 stored.
    s3.upload_part_copy()
        .bucket(&dst)
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .copy_source(format!("{dst}/src"))
        .copy_source_range("bytes=0-299")
        .send()
        .await
        .unwrap();
    let st = admin.stats(&dst).await;
    assert_eq!(
        (st["bytes"].as_u64(), st["pendingBytes"].as_u64()),
        (Some(600), Some(300)),
        "{st}"
    );
}

/// Bytes of `x-amz-meta-*` as AWS counts them: names (without the prefix) and values.
fn meta_headers(n: usize, value_len: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("x-amz-meta-m{i}"), "v".repeat(value_len)))
        .collect()
}

#[tokio::test]
async fn user_metadata_is_capped_at_2_kb_and_counted_in_usage() {
    let server = TestServer::start().await;
    let admin = Admin::of(&server);
    let s3 = server.client();
    let bucket = admin.bucket(json!({ "maxSizeBytes": MIB })).await;

    // Twenty 1-byte PUTs with eight 40 KB metadata headers each: all refused.
    for i in 0..20 {
        let mut req = server
            .signed("PUT", &format!("/{bucket}/fat{i}"))
            .body(vec![1u8]);
        for (k, v) in meta_headers(8, 40 * 1024) {
            req = req.header(&k, &v);
        }
        req.send().await.assert_error(400, "MetadataTooLarge");
    }
    // A header section over hyper's limit never reaches the gateway: 431 (hyper reads a head
    // into a buffer of at most ~400 KB plus what its last read brought; 2 MB is over that).
    let mut req = server
        .signed("PUT", &format!("/{bucket}/huge"))
        .body(vec![1u8]);
    for (k, v) in meta_headers(50, 40 * 1024) {
        req = req.header(&k, &v);
    }
    let resp = req.send().await;
    assert_eq!(resp.status, 431, "{}", resp.text());
    let st = admin.stats(&bucket).await;
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(0), Some(0)),
        "{st}"
    );

    // Just over 2 KB (names without the prefix plus values): refused, with the SDK too.
    let over = (0..2)
        .map(|i| (format!("k{i}"), "x".repeat(1023)))
        .collect::<std::collections::HashMap<_, _>>();
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("over")
            .set_metadata(Some(over.clone()))
            .body(ByteStream::from(vec![1u8; 10]))
            .send()
            .await,
        400,
        "MetadataTooLarge",
    );
    assert_s3_err(
        s3.create_multipart_upload()
            .bucket(&bucket)
            .key("over")
            .set_metadata(Some(over.clone()))
            .send()
            .await,
        400,
        "MetadataTooLarge",
    );

    // ~2,000 bytes of metadata: stored, and counted with the body.
    let meta: std::collections::HashMap<String, String> = (0..4)
        .map(|i| (format!("key{i}"), "y".repeat(496)))
        .collect();
    let meta_bytes: u64 = meta.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    assert_eq!(meta_bytes, 2000);
    s3.put_object()
        .bucket(&bucket)
        .key("ok")
        .set_metadata(Some(meta.clone()))
        .tagging("t=1")
        .body(ByteStream::from(vec![7u8; 100]))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("ok")
        .send()
        .await
        .unwrap();
    assert_eq!(head.metadata().unwrap(), &meta);
    let st = admin.stats(&bucket).await;
    let expected = 100 + meta_bytes + 2; // body + metadata + tag "t"="1"
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(1), Some(expected)),
        "{st}"
    );

    // CopyObject with REPLACE is capped too; an in-place copy with less metadata shrinks usage.
    assert_s3_err(
        s3.copy_object()
            .bucket(&bucket)
            .key("ok")
            .copy_source(format!("{bucket}/ok"))
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(Some(over))
            .send()
            .await,
        400,
        "MetadataTooLarge",
    );
    s3.copy_object()
        .bucket(&bucket)
        .key("ok")
        .copy_source(format!("{bucket}/ok"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("a", "bc")
        .send()
        .await
        .unwrap();
    let st = admin.stats(&bucket).await;
    assert_eq!(st["bytes"].as_u64(), Some(100 + 3 + 2), "{st}");

    // Tags count as they change, and everything is released on delete.
    s3.delete_object_tagging()
        .bucket(&bucket)
        .key("ok")
        .send()
        .await
        .unwrap();
    assert_eq!(admin.stats(&bucket).await["bytes"].as_u64(), Some(103));
    let url = format!("{}/api/buckets/{bucket}/sync", admin.base);
    let (s, synced) = admin.send(admin.http.post(url)).await;
    assert_eq!(s, 200, "{synced}");
    assert_eq!(synced["bytes"].as_u64(), Some(103), "a recount agrees");
    s3.delete_object()
        .bucket(&bucket)
        .key("ok")
        .send()
        .await
        .unwrap();
    let st = admin.stats(&bucket).await;
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(0), Some(0)),
        "{st}"
    );
}

/// Metadata counts against the byte quota: a body that fits alone is refused with it.
#[tokio::test]
async fn metadata_bytes_count_against_the_quota() {
    let server = TestServer::start().await;
    let admin = Admin::of(&server);
    let s3 = server.client();
    let bucket = admin.bucket(json!({ "maxSizeBytes": 1000 })).await;
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("k")
            .metadata("m", "z".repeat(500))
            .body(ByteStream::from(vec![1u8; 600]))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .metadata("m", "z".repeat(399))
        .body(ByteStream::from(vec![1u8; 600]))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.stats(&bucket).await["bytes"].as_u64(), Some(1000));
}

#[tokio::test]
async fn a_bucket_at_max_objects_takes_overwrites_and_metadata_copies() {
    let server = TestServer::start().await;
    let admin = Admin::of(&server);
    let s3 = server.client();
    let bucket = admin.bucket(json!({ "maxObjects": 2 })).await;
    for k in ["a", "b"] {
        s3.put_object()
            .bucket(&bucket)
            .key(k)
            .body(ByteStream::from(vec![1u8; 10]))
            .send()
            .await
            .unwrap();
    }
    // An overwrite adds no object.
    s3.put_object()
        .bucket(&bucket)
        .key("a")
        .body(ByteStream::from(vec![2u8; 20]))
        .send()
        .await
        .unwrap();
    // Nor does an in-place metadata copy, or a copy onto an existing key.
    s3.copy_object()
        .bucket(&bucket)
        .key("a")
        .copy_source(format!("{bucket}/a"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("x", "1")
        .send()
        .await
        .unwrap();
    s3.copy_object()
        .bucket(&bucket)
        .key("b")
        .copy_source(format!("{bucket}/a"))
        .send()
        .await
        .unwrap();
    // A multipart upload completing onto an existing key neither.
    multipart_put(&s3, &bucket, "b", vec![vec![3u8; 5]]).await;
    // A third key is refused, by PUT, copy and the control plane alike.
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("c")
            .body(ByteStream::from(vec![1u8; 10]))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    assert_s3_err(
        s3.copy_object()
            .bucket(&bucket)
            .key("c")
            .copy_source(format!("{bucket}/a"))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    let (s, v) = admin.upload(&bucket, "c", vec![1u8; 3]).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("QuotaExceeded")),
        "{v}"
    );
    // The control plane overwrites like S3 does.
    let (s, v) = admin.upload(&bucket, "a", vec![1u8; 3]).await;
    assert!((200..300).contains(&s), "{s} {v}");
    let st = admin.stats(&bucket).await;
    assert_eq!(st["objects"].as_u64(), Some(2), "{st}");
}

/// The control-plane upload reserves the headroom under the admission lock: concurrent form
/// uploads and S3 PUTs never exceed the quota together.
#[tokio::test]
async fn control_plane_uploads_share_the_s3_admission() {
    let server = TestServer::start().await;
    let admin = std::sync::Arc::new(Admin::of(&server));
    let s3 = server.client();
    let bucket = admin.bucket(json!({ "maxSizeBytes": 4000 })).await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (admin, b) = (admin.clone(), bucket.clone());
        tasks.push(tokio::spawn(async move {
            let (s, v) = admin.upload(&b, &format!("f{i}"), vec![4u8; 1500]).await;
            (s, v["error"]["code"].as_str().unwrap_or("").to_owned())
        }));
        let (s3, bucket) = (s3.clone(), bucket.clone());
        tasks.push(tokio::spawn(async move {
            match s3
                .put_object()
                .bucket(&bucket)
                .key(format!("p{i}"))
                .body(ByteStream::from(vec![4u8; 1500]))
                .send()
                .await
            {
                Ok(_) => (200, String::new()),
                Err(e) => status_code(&e),
            }
        }));
    }
    let mut ok = 0u64;
    for t in tasks {
        match t.await.unwrap() {
            (s, _) if (200..300).contains(&s) => ok += 1,
            (403, code) if code == "QuotaExceeded" => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert!((1..=2).contains(&ok), "{ok} uploads of 1500 bytes fit 4000");
    let st = admin.stats(&bucket).await;
    assert_eq!(st["bytes"].as_u64(), Some(ok * 1500), "{st}");
    assert!(st["bytes"].as_u64().unwrap() <= 4000);
}

#[tokio::test]
async fn abandoned_multipart_uploads_expire_and_release_their_quota() {
    let server = TestServer::start_with_config(
        "[limits]\nabandoned_upload_secs = 1\nupload_sweep_interval_secs = 1\n",
    )
    .await;
    let admin = Admin::of(&server);
    let s3 = server.client();
    let bucket = admin.bucket(json!({ "maxSizeBytes": 1000 })).await;
    let up = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("left")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    s3.upload_part()
        .bucket(&bucket)
        .key("left")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(vec![6u8; 800]))
        .send()
        .await
        .unwrap();
    // The pending part holds the quota.
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("k")
            .body(ByteStream::from(vec![1u8; 500]))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = s3
            .list_multipart_uploads()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let st = admin.stats(&bucket).await;
        if listed.uploads().is_empty() && st["pendingBytes"].as_u64() == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "upload not expired within 30 s: {st}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_s3_err(
        s3.list_parts()
            .bucket(&bucket)
            .key("left")
            .upload_id(&id)
            .send()
            .await,
        404,
        "NoSuchUpload",
    );
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from(vec![1u8; 900]))
        .send()
        .await
        .unwrap();
    server.assert_no_panics();
}

/// The same rules on a forwarded bucket (remote backend: another bucketgate upstream): the
/// metadata cap at the door, metadata counted in usage, overwrites admitted at max_objects.
#[tokio::test]
async fn forwarded_buckets_cap_and_count_metadata_and_take_overwrites() {
    let upstream = TestServer::start().await;
    let gw = TestServer::start_with_config(&format!(
        "default_backend = \"remote\"\n\n[remote]\nendpoint = \"{}\"\naccess_key = \"{ROOT_ACCESS_KEY}\"\nsecret_key = \"{ROOT_SECRET_KEY}\"\nbucket_prefix = \"gw-\"\n",
        upstream.s3_endpoint
    ))
    .await;
    let admin = Admin::of(&gw);
    let s3 = gw.client();
    let bucket = admin
        .bucket(json!({ "maxSizeBytes": 10_000, "maxObjects": 1 }))
        .await;
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("k")
            .metadata("m", "x".repeat(2100))
            .body(ByteStream::from(vec![1u8; 10]))
            .send()
            .await,
        400,
        "MetadataTooLarge",
    );
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .metadata("m", "x".repeat(999))
        .body(ByteStream::from(vec![1u8; 100]))
        .send()
        .await
        .unwrap();
    let st = admin.stats(&bucket).await;
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(1), Some(1100)),
        "{st}"
    );
    // At max_objects = 1: an overwrite is admitted, a second key is not.
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from(vec![2u8; 10]))
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("k2")
            .body(ByteStream::from(vec![2u8; 10]))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    gw.assert_no_panics();
    upstream.assert_no_panics();
}
