//! README promises for container buckets that no other test drove: the gateway's quota and
//! per-user access on a forwarded container bucket, reconciliation on its interval while the
//! gateway runs (a container removed from outside comes back without any request), and a
//! missing volume turning the bucket to `error` instead of being replaced by an empty one.
//!
//! Like `tests/container.rs`, these need a Docker engine and the locally built test image
//! (`tests/docker/build-test-image.sh`); without an engine they fail unless
//! `BUCKETGATE_SKIP_DOCKER_TESTS=1` is set.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use serde_json::{Value, json};

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// Whether the tests run: the engine answers (else a panic, unless skipping was asked for)
/// and the test image is built.
fn docker_ready(test: &str) -> bool {
    if !docker(&["info"]).status.success() {
        if std::env::var("BUCKETGATE_SKIP_DOCKER_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("docker test {test}: NOT RUN (BUCKETGATE_SKIP_DOCKER_TESTS=1, no engine)");
            return false;
        }
        panic!(
            "docker test {test}: no Docker engine; start dockerd or set BUCKETGATE_SKIP_DOCKER_TESTS=1"
        );
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/docker/build-test-image.sh"
    );
    let status = Command::new("bash")
        .arg(script)
        .status()
        .expect("run build-test-image.sh");
    assert!(status.success(), "building the test image failed");
    true
}

fn running(name: &str) -> bool {
    let out = docker(&[
        "inspect",
        "--type",
        "container",
        "--format",
        "{{.State.Running}}",
        name,
    ]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "true"
}

fn volume_exists(name: &str) -> bool {
    docker(&["volume", "inspect", name]).status.success()
}

/// This test's gateway instance: its containers and volumes go at the end, whatever happened.
struct Instance {
    id: String,
    ports: (u16, u16),
}

impl Instance {
    /// Port ranges of their own (slots 10+; `tests/container.rs` uses the lower ones).
    fn new(slot: u16) -> Self {
        let base = 41000 + (std::process::id() as u16 % 40) * 200 + slot * 15;
        Self {
            id: format!("itp{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff),
            ports: (base, base + 14),
        }
    }

    fn config(&self) -> String {
        format!(
            "default_backend = \"container\"\n\n[container]\nprofile = \"s3s-fs-test\"\ninstance = \"{}\"\nport_min = {}\nport_max = {}\nready_timeout_secs = 30\nreconcile_interval_secs = 1\n",
            self.id, self.ports.0, self.ports.1
        )
    }

    fn listed(&self, what: &[&str]) -> Vec<String> {
        let filter = format!("label=io.bucketgate.instance={}", self.id);
        let mut args = what.to_vec();
        args.extend(["--filter", &filter]);
        let out = docker(&args);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        for c in self.listed(&["ps", "-aq"]) {
            let _ = docker(&["rm", "-f", &c]);
        }
        for v in self.listed(&["volume", "ls", "-q"]) {
            let _ = docker(&["volume", "rm", "-f", &v]);
        }
    }
}

async fn api(
    server: &TestServer,
    bearer: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http_client()
        .request(method, format!("{}{path}", server.admin_endpoint))
        .bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("admin API request");
    let status = resp.status().as_u16();
    (status, resp.json::<Value>().await.unwrap_or(Value::Null))
}

async fn bucket_view(server: &TestServer, bucket: &str) -> Value {
    let path = format!("/api/buckets/{bucket}");
    let (status, v) = api(
        server,
        &server.admin_token(),
        reqwest::Method::GET,
        &path,
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Polls `cond` (async) every 100 ms for at most `limit`.
async fn wait_until(what: &str, limit: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_buckets_keep_quotas_and_per_user_access() {
    if !docker_ready("container_buckets_keep_quotas_and_per_user_access") {
        return;
    }
    let inst = Instance::new(10);
    let server = TestServer::start_with_config(&inst.config()).await;
    let token = server.admin_token();
    let mut keys = Vec::new();
    for id in ["alice", "bob"] {
        let (s, v) = api(
            &server,
            &token,
            reqwest::Method::POST,
            "/api/users",
            Some(json!({"id": id})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let (s, k) = api(
            &server,
            &token,
            reqwest::Method::POST,
            &format!("/api/users/{id}/keys"),
            None,
        )
        .await;
        assert_eq!(s, 201, "{k}");
        keys.push((
            k["accessKey"].as_str().unwrap().to_owned(),
            k["secretKey"].as_str().unwrap().to_owned(),
        ));
    }
    let alice = server.client_with(&keys[0].0, &keys[0].1);
    let bob = server.client_with(&keys[1].0, &keys[1].1);
    let bucket = bucket_name();
    let (s, v) = api(
        &server,
        &format!("{}:{}", keys[0].0, keys[0].1),
        reqwest::Method::POST,
        "/api/buckets",
        Some(json!({"name": bucket, "maxSizeBytes": 1000, "maxObjects": 3})),
    )
    .await;
    assert_eq!(
        (s, v["bucket"]["backend"].as_str()),
        (201, Some("container")),
        "{v}"
    );

    put(&alice, &bucket, "a", &[1; 600]).await.unwrap();
    assert_eq!(
        put(&alice, &bucket, "b", &[2; 600]).await,
        Err((403, "QuotaExceeded".to_owned())),
        "600 + 600 bytes in a 1000-byte bucket"
    );
    assert_s3_err(
        alice.head_object().bucket(&bucket).key("b").send().await,
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

    let listed = bob.list_buckets().send().await.unwrap();
    assert!(
        listed
            .buckets()
            .iter()
            .all(|b| b.name() != Some(bucket.as_str()))
    );
    assert_s3_err(
        bob.get_object().bucket(&bucket).key("a").send().await,
        403,
        "AccessDenied",
    );
    assert_eq!(
        put(&bob, &bucket, "x", b"x").await,
        Err((403, "AccessDenied".to_owned()))
    );
    assert_s3_err(
        bob.delete_object().bucket(&bucket).key("a").send().await,
        403,
        "AccessDenied",
    );
    assert_s3_err(
        bob.list_objects_v2().bucket(&bucket).send().await,
        403,
        "AccessDenied",
    );
    assert_eq!(get_bytes(&alice, &bucket, "a").await, vec![1; 600]);
    let st = api(
        &server,
        &token,
        reqwest::Method::GET,
        &format!("/api/buckets/{bucket}/stats"),
        None,
    )
    .await;
    assert_eq!(
        (st.0, st.1["objects"].as_u64(), st.1["bytes"].as_u64()),
        (200, Some(3), Some(910)),
        "{}",
        st.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_recreates_a_removed_container_and_a_missing_volume_is_an_error() {
    if !docker_ready(
        "reconciliation_recreates_a_removed_container_and_a_missing_volume_is_an_error",
    ) {
        return;
    }
    let inst = Instance::new(11);
    let mut server = TestServer::start_with_config(&inst.config()).await;
    let s3 = server.client();
    let bucket = bucket_name();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    put(&s3, &bucket, "kept", b"on the volume").await.unwrap();
    let view = bucket_view(&server, &bucket).await;
    let name = view["container"]["name"].as_str().unwrap().to_owned();
    let volume = view["container"]["volume"].as_str().unwrap().to_owned();

    // Removed from outside while the gateway runs: the periodic reconciliation recreates it on
    // its kept volume, with no request asking for it.
    assert!(docker(&["rm", "-f", &name]).status.success());
    wait_until(
        "the container to be recreated",
        Duration::from_secs(60),
        async || running(&name),
    )
    .await;
    assert_eq!(get_bytes(&s3, &bucket, "kept").await, b"on the volume");

    // Container and volume gone: the bucket is an error, its volume is not replaced by an
    // empty one, and S3 requests get 503 instead of an empty bucket.
    server.terminate(Duration::from_secs(30));
    assert!(docker(&["rm", "-f", &name]).status.success());
    let rm = docker(&["volume", "rm", &volume]);
    assert!(rm.status.success(), "{rm:?}");
    server.restart().await;
    let view_of = async |server: &TestServer| bucket_view(server, &bucket).await;
    wait_until(
        "the bucket to be an error",
        Duration::from_secs(60),
        async || view_of(&server).await["status"] == "error",
    )
    .await;
    let view = bucket_view(&server, &bucket).await;
    let msg = view["statusMessage"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&volume),
        "the status says which volume is missing: {view}"
    );
    assert!(!volume_exists(&volume), "the volume was recreated");
    assert!(
        !running(&name),
        "a container was started without its volume"
    );
    let s3 = server.client();
    let err = s3
        .get_object()
        .bucket(&bucket)
        .key("kept")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_code(&err),
        (503, "ServiceUnavailable".to_owned()),
        "{}",
        dbg_err(&err)
    );
}
