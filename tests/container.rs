//! The `container` backend against a real Docker engine: buckets with an S3 server container
//! of their own (the locally built s3s-fs test image, see `tests/docker/build-test-image.sh`),
//! driven with the AWS SDK through the gateway, and the containers inspected with the `docker`
//! CLI.
//!
//! These tests need a Docker engine (`.ci/run` installs and starts one). Without one they
//! fail, unless `BUCKETGATE_SKIP_DOCKER_TESTS=1` is set, in which case each one says on the
//! test log that it did not run.

mod common;

use std::io::Write as _;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use md5::{Digest, Md5};
use serde_json::Value;

const IMAGE: &str = "bucketgate-test/s3s-fs:0.14.1";

/// Writes a line the test harness does not capture, so the log shows what ran.
fn announce(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Whether the Docker tests run: the engine answers and the test image is built. Panics when
/// the engine is missing, unless skipping was asked for explicitly.
fn docker_ready(test: &str) -> bool {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    let version = match info {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        other => {
            if std::env::var("BUCKETGATE_SKIP_DOCKER_TESTS").is_ok_and(|v| v == "1") {
                announce(&format!(
                    "docker test {test}: NOT RUN (BUCKETGATE_SKIP_DOCKER_TESTS=1, no engine)"
                ));
                return false;
            }
            panic!(
                "docker test {test}: no Docker engine ({other:?}); start dockerd (bash .ci/run does) \
                 or set BUCKETGATE_SKIP_DOCKER_TESTS=1 to skip these tests knowingly"
            );
        }
    };
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !*built {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/docker/build-test-image.sh"
        );
        let status = Command::new("bash")
            .arg(script)
            .status()
            .expect("run build-test-image.sh");
        assert!(status.success(), "building the test image failed");
        *built = true;
    }
    announce(&format!(
        "docker test {test}: running against Docker engine {version}"
    ));
    true
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// `docker inspect` of a container, `None` when it does not exist.
fn inspect(name: &str) -> Option<Value> {
    let out = docker(&["inspect", "--type", "container", name]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    v.get(0).cloned()
}

fn running(name: &str) -> bool {
    inspect(name).is_some_and(|c| c["State"]["Running"] == Value::Bool(true))
}

fn volume_exists(name: &str) -> bool {
    docker(&["volume", "inspect", name]).status.success()
}

/// Polls `cond` every 100 ms for at most `limit`.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One test's gateway instance: its containers and volumes are removed at the end, whatever
/// happened.
struct Instance {
    id: String,
    ports: (u16, u16),
}

impl Instance {
    /// An instance with its own port range (tests run in parallel, each with a gateway).
    fn new(slot: u16) -> Self {
        let base = 41000 + (std::process::id() as u16 % 40) * 200 + slot * 20;
        Self {
            id: format!("it{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff),
            ports: (base, base + 19),
        }
    }

    fn config(&self, extra: &str) -> String {
        format!(
            "default_backend = \"container\"\n\n[container]\nprofile = \"s3s-fs-test\"\ninstance = \"{}\"\nport_min = {}\nport_max = {}\nready_timeout_secs = 30\nreconcile_interval_secs = 2\n{extra}\n",
            self.id, self.ports.0, self.ports.1
        )
    }

    /// Waits (bounded) until no container of this instance is left, showing what is left if
    /// some stay.
    fn assert_no_containers(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        while !self.containers().is_empty() {
            if Instant::now() > until {
                let filter = format!("label=io.bucketgate.instance={}", self.id);
                let out = docker(&["ps", "-a", "--filter", &filter]);
                panic!(
                    "containers left behind:\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn containers(&self) -> Vec<String> {
        let filter = format!("label=io.bucketgate.instance={}", self.id);
        let out = docker(&["ps", "-aq", "--filter", &filter]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        for c in self.containers() {
            let _ = docker(&["rm", "-f", &c]);
        }
        let filter = format!("label=io.bucketgate.instance={}", self.id);
        let out = docker(&["volume", "ls", "-q", "--filter", &filter]);
        for v in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
    }
}

async fn api(server: &TestServer, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = http_client()
        .request(method, format!("{}{path}", server.admin_endpoint))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .expect("admin API request");
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn bucket_view(server: &TestServer, bucket: &str) -> Value {
    let (status, v) = api(
        server,
        reqwest::Method::GET,
        &format!("/api/buckets/{bucket}"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The host port a container publishes its S3 port (9000) on, checking it is on loopback.
fn published_port(c: &Value) -> u16 {
    let binding = &c["HostConfig"]["PortBindings"]["9000/tcp"][0];
    assert_eq!(binding["HostIp"], "127.0.0.1", "{binding}");
    binding["HostPort"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_bucket_lifecycle_data_and_recovery() {
    if !docker_ready("container_bucket_lifecycle_data_and_recovery") {
        return;
    }
    let inst = Instance::new(0);
    let mut server = TestServer::start_with_config(&inst.config("")).await;
    let s3 = server.client();
    let bucket = bucket_name();

    // Create: a container of its own, labelled, on a leased loopback port.
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let view = bucket_view(&server, &bucket).await;
    assert_eq!(view["backend"], "container");
    assert_eq!(view["status"], "running");
    let name = view["container"]["name"].as_str().unwrap().to_owned();
    let volume = view["container"]["volume"].as_str().unwrap().to_owned();
    let c = inspect(&name).expect("the bucket's container exists");
    assert_eq!(
        c["Config"]["Labels"]["io.bucketgate.instance"],
        inst.id.as_str()
    );
    assert_eq!(
        c["Config"]["Labels"]["io.bucketgate.bucket"],
        bucket.as_str()
    );
    assert_eq!(c["Config"]["Image"], IMAGE);
    // The test profile asks for Docker's init in front of s3s-fs (which ignores SIGTERM).
    assert_eq!(
        c["HostConfig"]["Init"],
        Value::Bool(true),
        "{}",
        c["HostConfig"]
    );
    let port = published_port(&c);
    assert_eq!(
        port, inst.ports.0,
        "the first lease is the lowest port of the range"
    );
    assert_eq!(view["container"]["s3Address"], format!("127.0.0.1:{port}"));
    assert!(volume_exists(&volume));
    // The container's credentials never leave the gateway.
    assert!(!view.to_string().to_lowercase().contains("secret"));

    // Object operations through the gateway.
    let RoundTrip {
        small,
        streamed: mid,
    } = object_round_trip(&s3, &bucket, "docs/").await;

    // Multipart, 65 MiB in five parts; the ETag is the server's md5-of-md5s.
    let sizes = [16 * MIB, 16 * MIB, 16 * MIB, 16 * MIB, MIB];
    let parts: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| pattern(7, (i * 16 * MIB) as u64, *size))
        .collect();
    let mut whole = Md5::new();
    for p in &parts {
        whole.update(p);
    }
    let done = multipart_put(&s3, &bucket, "big/obj", parts).await;
    assert!(
        done.e_tag().unwrap().ends_with("-5\""),
        "{:?}",
        done.e_tag()
    );
    let mut got = s3
        .get_object()
        .bucket(&bucket)
        .key("big/obj")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(65 * MIB as i64));
    let mut digest = Md5::new();
    while let Some(chunk) = got.body.try_next().await.unwrap() {
        digest.update(&chunk);
    }
    assert_eq!(digest.finalize(), whole.finalize());

    // Delete.
    s3.delete_object()
        .bucket(&bucket)
        .key("docs/copy")
        .send()
        .await
        .unwrap();
    let gone = s3
        .head_object()
        .bucket(&bucket)
        .key("docs/copy")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&gone).0, 404);

    // Stop: the container stops; the next request starts it again, data intact.
    let (status, v) = api(
        &server,
        reqwest::Method::POST,
        &format!("/api/buckets/{bucket}/stop"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "stopped");
    assert!(!running(&name));
    assert_eq!(get_bytes(&s3, &bucket, "docs/small").await, small);
    assert!(running(&name));
    assert_eq!(bucket_view(&server, &bucket).await["status"], "running");

    // Killed from outside: the next request recovers.
    assert!(docker(&["kill", &name]).status.success());
    wait_for(
        "the killed container to stop",
        Duration::from_secs(20),
        || !running(&name),
    );
    assert_eq!(get_bytes(&s3, &bucket, "docs/streamed").await, mid);

    // A gateway restart keeps the same container and data.
    let id_before = inspect(&name).unwrap()["Id"].clone();
    server.restart().await;
    let s3 = server.client();
    assert_eq!(get_bytes(&s3, &bucket, "docs/small").await, small);
    assert_eq!(inspect(&name).unwrap()["Id"], id_before);

    // A container removed from outside is recreated on its kept volume by reconciliation,
    // without waiting for a request.
    server.terminate(Duration::from_secs(30));
    assert!(docker(&["rm", "-f", &name]).status.success());
    // A labelled container no bucket claims is removed when so configured.
    let orphan = format!("{}-orphan", inst.id);
    let label = format!("io.bucketgate.instance={}", inst.id);
    let run = docker(&["create", "--name", &orphan, "--label", &label, IMAGE]);
    assert!(run.status.success(), "{run:?}");
    server.rewrite_config(&inst.config("remove_orphans = true"));
    server.restart().await;
    wait_for(
        "the container to be recreated",
        Duration::from_secs(30),
        || running(&name),
    );
    wait_for("the orphan to be removed", Duration::from_secs(30), || {
        inspect(&orphan).is_none()
    });
    let s3 = server.client();
    assert_eq!(get_bytes(&s3, &bucket, "docs/streamed").await, mid);
    assert_eq!(published_port(&inspect(&name).unwrap()), port);

    // Delete: refused while not empty (S3 rules), then container, volume and lease go.
    let refused = s3.delete_bucket().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(status_code(&refused), (409, "BucketNotEmpty".to_owned()));
    for key in ["docs/small", "docs/streamed", "big/obj"] {
        s3.delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    assert!(inspect(&name).is_none(), "the container is removed");
    assert!(!volume_exists(&volume), "the volume is removed");
    let listed = s3.list_buckets().send().await.unwrap();
    assert!(
        listed
            .buckets()
            .iter()
            .all(|b| b.name() != Some(bucket.as_str()))
    );
    // The lease is free again: the next bucket gets the same port.
    let next = bucket_name();
    s3.create_bucket().bucket(&next).send().await.unwrap();
    let view = bucket_view(&server, &next).await;
    assert_eq!(view["container"]["s3Address"], format!("127.0.0.1:{port}"));
    s3.delete_bucket().bucket(&next).send().await.unwrap();
    inst.assert_no_containers();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_lease_distinct_ports() {
    if !docker_ready("concurrent_creates_lease_distinct_ports") {
        return;
    }
    let inst = Instance::new(1);
    let server = TestServer::start_with_config(&inst.config("")).await;
    let s3 = server.client();
    let names: Vec<String> = (0..10).map(|_| bucket_name()).collect();
    let creates = names.iter().map(|n| {
        let s3 = s3.clone();
        let n = n.clone();
        async move { s3.create_bucket().bucket(&n).send().await }
    });
    for r in futures::future::join_all(creates).await {
        r.unwrap_or_else(|e| panic!("create: {}", dbg_err(&e)));
    }
    let mut ports = std::collections::BTreeSet::new();
    for n in &names {
        let view = bucket_view(&server, n).await;
        assert_eq!(view["status"], "running", "{view}");
        let c = inspect(view["container"]["name"].as_str().unwrap()).unwrap();
        let port = published_port(&c);
        assert!((inst.ports.0..=inst.ports.1).contains(&port), "{port}");
        assert!(ports.insert(port), "port {port} leased twice");
        s3.put_object()
            .bucket(n)
            .key("k")
            .body(ByteStream::from(n.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(ports.len(), 10);

    // The CLI drives the same life cycle.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_bucketgate"))
            .args(args)
            .env("BUCKETGATE_API", &server.admin_endpoint)
            .env("BUCKETGATE_ADMIN_TOKEN", server.admin_token())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run the CLI");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let via_cli = bucket_name();
    let shown = cli(&[
        "bucket",
        "create",
        &via_cli,
        "--backend",
        "container",
        "--profile",
        "s3s-fs-test",
    ]);
    assert!(
        shown.contains("s3s-fs-test") && shown.contains("127.0.0.1:"),
        "{shown}"
    );
    assert!(cli(&["bucket", "stop", &via_cli]).contains("stopped"));
    assert!(cli(&["bucket", "start", &via_cli]).contains("running"));
    let volume = bucket_view(&server, &via_cli).await["container"]["volume"]
        .as_str()
        .unwrap()
        .to_owned();
    cli(&["bucket", "delete", &via_cli, "--keep-volume"]);
    assert!(volume_exists(&volume), "--keep-volume keeps the data");
    for n in &names {
        assert_eq!(
            get_bytes(&s3, n, "k").await,
            n.as_bytes(),
            "each bucket its own server"
        );
        s3.delete_object().bucket(n).key("k").send().await.unwrap();
        s3.delete_bucket().bucket(n).send().await.unwrap();
    }
    inst.assert_no_containers();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_containers_stop_and_start_on_the_next_request() {
    if !docker_ready("idle_containers_stop_and_start_on_the_next_request") {
        return;
    }
    let inst = Instance::new(2);
    // Through the published loopback port, where the other tests take the bridge address
    // (`connect = "auto"` on a Docker host): both ways to a container carry requests.
    let server = TestServer::start_with_config(
        &inst.config("idle_timeout_secs = 2\nconnect = \"published\""),
    )
    .await;
    let s3 = server.client();
    let bucket = bucket_name();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let data = random_bytes(4096);
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let name = bucket_view(&server, &bucket).await["container"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(
        "the idle container to stop",
        Duration::from_secs(30),
        || !running(&name),
    );
    assert_eq!(bucket_view(&server, &bucket).await["status"], "stopped");
    let started = Instant::now();
    assert_eq!(get_bytes(&s3, &bucket, "k").await, data);
    announce(&format!(
        "docker test idle: request on a stopped bucket answered after {} ms (cold start)",
        started.elapsed().as_millis()
    ));
    assert!(running(&name));

    // Another program takes the stopped container's port: the next start moves it to a free
    // one, data intact.
    let stopped = api(
        &server,
        reqwest::Method::POST,
        &format!("/api/buckets/{bucket}/stop"),
    )
    .await;
    assert_eq!(stopped.0, 200, "{}", stopped.1);
    let before = bucket_view(&server, &bucket).await["container"]["s3Address"]
        .as_str()
        .unwrap()
        .to_owned();
    let squatter = std::net::TcpListener::bind(&before).expect("take the container's port");
    assert_eq!(get_bytes(&s3, &bucket, "k").await, data);
    let after = bucket_view(&server, &bucket).await["container"]["s3Address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(after, before, "the container moved off the taken port");
    drop(squatter);

    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_never_gets_ready_is_an_error_with_its_reason() {
    if !docker_ready("a_container_that_never_gets_ready_is_an_error_with_its_reason") {
        return;
    }
    let inst = Instance::new(3);
    // The test image answers its probe path with 403; this profile waits for a 200.
    let profile = format!(
        "ready_timeout_secs = 2\n\n[container.profiles.never-ready]\nimage = \"{IMAGE}\"\ncommand = [\"--host\", \"0.0.0.0\", \"--port\", \"9000\", \"--access-key\", \"{{access_key}}\", \"--secret-key\", \"{{secret_key}}\", \"/data\"]\ns3_port = 9000\n[container.profiles.never-ready.ready]\npath = \"/\"\nstatus = [200]\n"
    );
    let cfg = inst.config("").replace("ready_timeout_secs = 30\n", "") + &profile;
    let server = TestServer::start_with_config(&cfg).await;
    let resp = http_client()
        .post(format!("{}/api/buckets", server.admin_endpoint))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"name": "never-ready", "backend": "container", "profile": "never-ready"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let view = bucket_view(&server, "never-ready").await;
    assert_eq!(view["status"], "error");
    let msg = view["statusMessage"].as_str().unwrap();
    assert!(msg.contains("did not become ready within 2 s"), "{msg}");
    // S3 requests get 503 with Retry-After, not a hang.
    let s3 = server.client();
    let err = s3
        .list_objects_v2()
        .bucket("never-ready")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&err).0, 503);
    // An unknown profile is refused before anything is created.
    let resp = http_client()
        .post(format!("{}/api/buckets", server.admin_endpoint))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"name": "no-profile", "backend": "container", "profile": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // It can still be deleted, keeping its volume (emptiness cannot be checked).
    let (status, v) = api(
        &server,
        reqwest::Method::DELETE,
        "/api/buckets/never-ready?keepVolume=true",
    )
    .await;
    assert_eq!(status, 204, "{v}");
    inst.assert_no_containers();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_docker_container_buckets_report_it_and_embedded_ones_work() {
    if !docker_ready("without_docker_container_buckets_report_it_and_embedded_ones_work") {
        return;
    }
    let inst = Instance::new(4);
    let mut server = TestServer::start_with_config(&inst.config("")).await;
    let s3 = server.client();
    let bucket = bucket_name();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    // The same gateway, pointed at an engine that is not there.
    let no_docker = "docker_host = \"unix:///nonexistent/docker.sock\"";
    server.rewrite_config(&inst.config(no_docker));
    server.restart().await;
    let s3 = server.client();
    let view = bucket_view(&server, &bucket).await;
    assert_eq!(view["status"], "error", "{view}");
    assert!(
        view["statusMessage"]
            .as_str()
            .unwrap()
            .contains("docker unavailable"),
        "{view}"
    );
    let err = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&err).0, 503);
    let raw = server.signed("GET", &format!("/{bucket}/k")).send().await;
    assert_eq!(raw.status, 503);
    assert!(
        raw.header("retry-after").is_some(),
        "503 carries Retry-After"
    );
    // New container buckets are refused and leave nothing behind; embedded ones work.
    let refused = s3
        .create_bucket()
        .bucket("refused-now")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&refused).0, 503);
    let (status, _) = api(&server, reqwest::Method::GET, "/api/buckets/refused-now").await;
    assert_eq!(status, 404);
    let resp = http_client()
        .post(format!("{}/api/buckets", server.admin_endpoint))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"name": "plain-embedded", "backend": "embedded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    s3.put_object()
        .bucket("plain-embedded")
        .key("k")
        .body(ByteStream::from_static(b"fine"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&s3, "plain-embedded", "k").await, b"fine");

    // Docker back: the bucket serves again.
    server.rewrite_config(&inst.config(""));
    server.restart().await;
    let s3 = server.client();
    s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_control_plane_objects_and_websites_work_across_servers() {
    if !docker_ready("copies_control_plane_objects_and_websites_work_across_servers") {
        return;
    }
    let inst = Instance::new(5);
    let server = TestServer::start_with_config(&inst.config("")).await;
    let s3 = server.client();
    let (a, b) = (bucket_name(), bucket_name());
    s3.create_bucket().bucket(&a).send().await.unwrap();
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let resp = http_client()
        .post(format!("{}/api/buckets", server.admin_endpoint))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"name": format!("{a}-emb"), "backend": "embedded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let emb = format!("{a}-emb");

    // Keys that need percent-encoding are re-signed in S3's canonical encoding.
    let odd = "odd dir/ünï+code=eq&amp~tilde%41.txt";
    s3.put_object()
        .bucket(&a)
        .key(odd)
        .body(ByteStream::from_static(b"odd"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("odd key: {}", dbg_err(&e)));
    assert_eq!(get_bytes(&s3, &a, odd).await, b"odd");
    let listed = s3
        .list_objects_v2()
        .bucket(&a)
        .prefix("odd dir/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents()[0].key(), Some(odd));
    s3.delete_object().bucket(&a).key(odd).send().await.unwrap();

    // Two containers are two servers: the copy streams through the gateway.
    let data = random_bytes(2 * MIB + 5);
    s3.put_object()
        .bucket(&a)
        .key("src")
        .content_type("application/x-test")
        .metadata("color", "green")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let copied = s3
        .copy_object()
        .bucket(&b)
        .key("dst")
        .copy_source(format!("{a}/src"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy across containers: {}", dbg_err(&e)));
    assert_eq!(
        copied.copy_object_result().and_then(|r| r.e_tag()),
        Some(quoted_md5(&data).as_str())
    );
    assert_eq!(get_bytes(&s3, &b, "dst").await, data);
    let head = s3.head_object().bucket(&b).key("dst").send().await.unwrap();
    assert_eq!(head.content_type(), Some("application/x-test"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("green")
    );
    // Container → embedded and back.
    s3.copy_object()
        .bucket(&emb)
        .key("e")
        .copy_source(format!("{b}/dst"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy into embedded: {}", dbg_err(&e)));
    assert_eq!(get_bytes(&s3, &emb, "e").await, data);
    s3.copy_object()
        .bucket(&a)
        .key("back")
        .copy_source(format!("{emb}/e"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy from embedded: {}", dbg_err(&e)));
    assert_eq!(get_bytes(&s3, &a, "back").await, data);
    // A missing source is the source's error, not the destination's.
    let err = s3
        .copy_object()
        .bucket(&b)
        .key("x")
        .copy_source(format!("{a}/missing"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&err).0, 404);

    // A browser form upload (POST Object) lands in the container, as in an embedded bucket.
    for bucket in [&a, &emb] {
        let resp = post_form(
            &server.s3_endpoint,
            bucket,
            "form/up.bin",
            ROOT_ACCESS_KEY,
            ROOT_SECRET_KEY,
            b"from a form".to_vec(),
        )
        .await;
        let status = resp.status().as_u16();
        assert!(
            (200..300).contains(&status),
            "{status}: {:?}",
            resp.text().await
        );
        assert_eq!(get_bytes(&s3, bucket, "form/up.bin").await, b"from a form");
        s3.delete_object()
            .bucket(bucket)
            .key("form/up.bin")
            .send()
            .await
            .unwrap();
    }

    // The control plane's object routes on a container bucket.
    let token = server.admin_token();
    let form = reqwest::multipart::Form::new()
        .text("key", "site/index.html")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"<h1>hi</h1>".to_vec()).file_name("index.html"),
        );
    let up = http_client()
        .post(format!("{}/api/buckets/{a}/objects", server.admin_endpoint))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status().as_u16(), 201, "{:?}", up.text().await);
    let (status, list) = api(
        &server,
        reqwest::Method::GET,
        &format!("/api/buckets/{a}/objects?prefix=site/"),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["objects"][0]["key"], "site/index.html");
    assert_eq!(list["objects"][0]["size"], 11);
    let got = http_client()
        .get(format!(
            "{}/api/buckets/{a}/objects/site/index.html",
            server.admin_endpoint
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.text().await.unwrap(), "<h1>hi</h1>");

    // A public container bucket is served as a website.
    s3.put_bucket_acl()
        .bucket(&a)
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let page = server
        .raw("GET", "/site/")
        .host(&format!("{a}.web.localhost"))
        .send()
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.text(), "<h1>hi</h1>");

    // Settings are carried to the bucket's server; this one has no versioning, so a change is
    // refused and not recorded, and a create that asks for it carries a warning.
    let resp = http_client()
        .patch(format!("{}/api/buckets/{a}", server.admin_endpoint))
        .bearer_auth(&token)
        .json(&serde_json::json!({"versioning": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "SettingRefused", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NotImplemented"),
        "{refused}"
    );
    assert_eq!(bucket_view(&server, &a).await["versioning"], Value::Null);
    // Suspending versioning that was never enabled changes nothing on the server.
    let resp = http_client()
        .patch(format!("{}/api/buckets/{a}", server.admin_endpoint))
        .bearer_auth(&token)
        .json(&serde_json::json!({"versioning": false, "description": "no versions"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text().await);
    assert_eq!(bucket_view(&server, &a).await["description"], "no versions");
    let resp = http_client()
        .post(format!("{}/api/buckets", server.admin_endpoint))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": format!("{a}-ver"), "backend": "container", "versioning": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v = bucket_view(&server, &format!("{a}-ver")).await;
    assert_eq!(v["status"], "running");
    assert!(
        v["statusMessage"]
            .as_str()
            .unwrap_or("")
            .contains("versioning"),
        "{v}"
    );
    s3.delete_bucket()
        .bucket(format!("{a}-ver"))
        .send()
        .await
        .unwrap();

    // Usage recount from the container's listing.
    let (status, stats) = api(
        &server,
        reqwest::Method::POST,
        &format!("/api/buckets/{a}/sync"),
    )
    .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["objects"], 3);

    // API delete removes a container bucket too (after S3's emptiness rule).
    for (bucket, key) in [
        (&a, "src"),
        (&a, "back"),
        (&a, "site/index.html"),
        (&b, "dst"),
    ] {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    let (status, v) = api(
        &server,
        reqwest::Method::DELETE,
        &format!("/api/buckets/{a}"),
    )
    .await;
    assert_eq!(status, 204, "{v}");
    s3.delete_bucket().bucket(&b).send().await.unwrap();
    inst.assert_no_containers();
}
