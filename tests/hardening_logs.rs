//! Log and output hygiene of the real binary: no signature, secret or `Authorization` value in
//! the logs at any level, no ERROR line per refused anonymous request, generated secrets not
//! printed to a pipe, and `/metrics` behind a token (or on its own listener).
//!
//! These tests spawn the binary themselves (not through `TestServer`): they choose `RUST_LOG`,
//! the secrets in the environment and the flags, and read the whole stdout and stderr.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::*;

const ADMIN_TOKEN: &str = "bgt_log_test_admin_token_0123456789abcdef";
const METRICS_TOKEN: &str = "metrics_token_for_prometheus_only";

/// One `bucketgate serve` child with everything it writes kept.
struct Gateway {
    dir: tempfile::TempDir,
    child: Child,
    pumps: Vec<JoinHandle<()>>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    s3: SocketAddr,
    admin: SocketAddr,
    metrics: Option<SocketAddr>,
}

/// How to start a gateway.
#[derive(Default)]
struct Start<'a> {
    /// `RUST_LOG`; none: the binary's default.
    rust_log: Option<&'a str>,
    /// Root key pair and admin token from the environment; otherwise generated.
    env_secrets: bool,
    args: &'a [&'a str],
    config: Option<&'a str>,
}

impl Gateway {
    async fn start(opts: Start<'_>) -> Gateway {
        let dir = tempfile::Builder::new()
            .prefix("bucketgate-logs-")
            .tempdir()
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketgate"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(["--base-domain", BASE_DOMAIN, "--region", REGION])
            .args(opts.args)
            .env_remove("RUST_LOG")
            .env_remove("BUCKETGATE_ROOT_ACCESS_KEY")
            .env_remove("BUCKETGATE_ROOT_SECRET_KEY")
            .env_remove("BUCKETGATE_ADMIN_TOKEN")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(toml) = opts.config {
            let path = dir.path().join("gw.toml");
            std::fs::write(&path, toml).unwrap();
            cmd.arg("--config").arg(path);
        }
        if let Some(level) = opts.rust_log {
            cmd.env("RUST_LOG", level);
        }
        if opts.env_secrets {
            cmd.env("BUCKETGATE_ROOT_ACCESS_KEY", ROOT_ACCESS_KEY)
                .env("BUCKETGATE_ROOT_SECRET_KEY", ROOT_SECRET_KEY)
                .env("BUCKETGATE_ADMIN_TOKEN", ADMIN_TOKEN);
        }
        let mut child = cmd.spawn().expect("spawn bucketgate");
        let (stdout, stderr) = (
            Arc::new(Mutex::new(String::new())),
            Arc::new(Mutex::new(String::new())),
        );
        let (tx, rx) = mpsc::channel();
        let pumps = vec![
            pump(child.stdout.take().unwrap(), stdout.clone(), Some(tx)),
            pump(child.stderr.take().unwrap(), stderr.clone(), None),
        ];
        let ready = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(line) if line.starts_with("bucketgate ready ") => return Some(line),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
        })
        .await
        .unwrap();
        let Some(line) = ready else {
            let _ = child.kill();
            panic!(
                "no ready line; stderr:\n{}",
                stderr.lock().unwrap().as_str()
            );
        };
        let field = |name: &str| -> Option<SocketAddr> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(|v| v.trim_start_matches("http://").parse().unwrap())
        };
        Gateway {
            s3: field("s3=").unwrap(),
            admin: field("admin=").unwrap(),
            metrics: field("metrics="),
            dir,
            child,
            pumps,
            stdout,
            stderr,
        }
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn s3_client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(format!("http://{}", self.s3))
            .credentials_provider(Credentials::new(
                ROOT_ACCESS_KEY,
                ROOT_SECRET_KEY,
                None,
                None,
                "test",
            ))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// SIGTERM, wait for the exit (bounded), then everything it wrote: (stdout, stderr).
    fn stop(&mut self) -> (String, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in self.pumps.drain(..) {
            p.join().unwrap();
        }
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        assert!(!err.contains("panicked at"), "server panicked:\n{err}");
        (out, err)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a child's pipe into `buf`; complete lines also go to `lines` when given.
fn pump(
    mut from: impl Read + Send + 'static,
    buf: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        let mut partial = String::new();
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&chunk[..n]);
            buf.lock().unwrap().push_str(&text);
            partial.push_str(&text);
            while let Some(i) = partial.find('\n') {
                let line: String = partial.drain(..=i).collect();
                if let Some(tx) = &lines {
                    let _ = tx.send(line.trim_end().to_owned());
                }
            }
        }
    })
}

/// Anonymous GETs of a private object: each is refused with 403 AccessDenied.
async fn refused_anonymous_gets(s3: SocketAddr, bucket: &str, n: usize) {
    for _ in 0..n {
        let head = format!("GET /{bucket}/k HTTP/1.1\r\nhost: {s3}\r\nconnection: close\r\n\r\n");
        let resp = send_raw(s3, head.into_bytes(), Vec::new(), false, RAW_TIMEOUT).await;
        resp.assert_error(403, "AccessDenied");
    }
}

async fn bucket_with_object(gw: &Gateway) -> String {
    let s3 = gw.s3_client();
    let bucket = bucket_name();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();
    bucket
}

#[tokio::test]
async fn debug_logs_carry_no_signature_secret_or_authorization() {
    let mut gw = Gateway::start(Start {
        rust_log: Some("debug"),
        env_secrets: true,
        ..Start::default()
    })
    .await;
    let bucket = bucket_with_object(&gw).await;

    // A header-signed GET.
    let (amz_date, _) = amz_dates(time::OffsetDateTime::now_utc());
    let path = format!("/{bucket}/k");
    let headers = vec![
        ("host".to_owned(), gw.s3.to_string()),
        ("x-amz-date".to_owned(), amz_date.clone()),
        ("x-amz-content-sha256".to_owned(), EMPTY_SHA256.to_owned()),
    ];
    let signed = sign_v4(
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "GET",
        &path,
        "",
        &headers,
        EMPTY_SHA256,
        &amz_date,
    );
    let mut head = format!("GET {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "authorization: {}\r\nconnection: close\r\n\r\n",
        signed.authorization
    ));
    let resp = send_raw(gw.s3, head.into_bytes(), Vec::new(), false, RAW_TIMEOUT).await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    // A presigned GET, then the same URL with a wrong signature: s3s would log the signature it
    // expected, which is the valid one.
    let p = gw
        .s3_client()
        .get_object()
        .bucket(&bucket)
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).unwrap())
        .await
        .unwrap();
    let url = p.uri().to_owned();
    let presigned_sig = url
        .split("X-Amz-Signature=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let resp = http_client().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let tampered = url.replace(&presigned_sig, &"0".repeat(64));
    let resp = http_client().get(&tampered).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    // The admin API and /metrics with the admin token.
    for route in ["/api/buckets", "/metrics"] {
        let resp = http_client()
            .get(format!("http://{}{route}", gw.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{route}");
    }
    refused_anonymous_gets(gw.s3, &bucket, 20).await;

    let (_, log) = gw.stop();
    // The requests were logged (so the absence below means something)…
    assert!(
        log.contains("s3 request") && log.contains("status=403"),
        "no request lines at debug:\n{log}"
    );
    // …without any secret or anything that authenticates a request.
    for (what, secret) in [
        ("root secret key", ROOT_SECRET_KEY),
        ("admin token", ADMIN_TOKEN),
        ("header signature", signed.signature.as_str()),
        ("Authorization value", signed.authorization.as_str()),
        ("presigned signature", presigned_sig.as_str()),
    ] {
        assert!(!log.contains(secret), "{what} in the debug log:\n{log}");
    }
    let lower = log.to_ascii_lowercase();
    for marker in ["x-amz-signature", "aws4-hmac-sha256 credential", "bearer "] {
        assert!(
            !lower.contains(marker),
            "{marker:?} in the debug log:\n{log}"
        );
    }
}

#[tokio::test]
async fn refused_anonymous_requests_log_no_errors_at_the_default_level() {
    let mut gw = Gateway::start(Start {
        env_secrets: true,
        ..Start::default()
    })
    .await;
    let bucket = bucket_with_object(&gw).await;
    refused_anonymous_gets(gw.s3, &bucket, 20).await;
    let (_, log) = gw.stop();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    assert!(
        errors.is_empty(),
        "refusals logged as errors:\n{}",
        errors.join("\n")
    );
}

/// `secret_key = "…"` of the root credentials file.
fn root_secret(data_dir: &Path) -> String {
    let text = std::fs::read_to_string(data_dir.join("root-credentials")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("secret_key = "))
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

#[tokio::test]
async fn generated_secrets_are_not_printed_to_a_pipe() {
    let mut gw = Gateway::start(Start::default()).await;
    let data = gw.data_dir();
    let (out, _) = gw.stop();
    let secret = root_secret(&data);
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let token = token.trim();
    assert!(secret.len() >= 20 && token.len() >= 20);
    for file in ["root-credentials", "admin-token"] {
        let path = data.join(file).display().to_string();
        assert!(out.contains(&path), "stdout lacks {path}:\n{out}");
    }
    assert!(!out.contains(&secret), "root secret on stdout:\n{out}");
    assert!(!out.contains(token), "admin token on stdout:\n{out}");

    // --print-secrets asks for them explicitly.
    let mut gw = Gateway::start(Start {
        args: &["--print-secrets"],
        ..Start::default()
    })
    .await;
    let data = gw.data_dir();
    let (out, _) = gw.stop();
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    assert!(out.contains(&root_secret(&data)), "{out}");
    assert!(out.contains(token.trim()), "{out}");
}

async fn metrics_status(addr: SocketAddr, token: Option<&str>) -> (u16, String) {
    let mut req = http_client().get(format!("http://{addr}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn metrics_need_a_token_on_the_admin_listener() {
    let config = format!("metrics_token = \"{METRICS_TOKEN}\"\nmetrics_listen = \"127.0.0.1:0\"\n");
    let mut gw = Gateway::start(Start {
        env_secrets: true,
        config: Some(&config),
        ..Start::default()
    })
    .await;
    let bucket = bucket_with_object(&gw).await;
    let sample = format!("bucket=\"{bucket}\"");

    let (status, body) = metrics_status(gw.admin, None).await;
    assert_eq!(status, 401);
    assert!(!body.contains(&bucket), "{body}");
    assert_eq!(metrics_status(gw.admin, Some("wrong")).await.0, 401);
    assert_eq!(metrics_status(gw.admin, Some(ROOT_SECRET_KEY)).await.0, 401);
    for token in [ADMIN_TOKEN, METRICS_TOKEN] {
        let (status, body) = metrics_status(gw.admin, Some(token)).await;
        assert_eq!(status, 200);
        assert!(body.contains(&sample), "{body}");
    }
    // The metrics token opens nothing else.
    let resp = http_client()
        .get(format!("http://{}/api/buckets", gw.admin))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // The separate listener serves /metrics without a token, and nothing else.
    let metrics = gw.metrics.expect("ready line names the metrics listener");
    let (status, body) = metrics_status(metrics, None).await;
    assert_eq!(status, 200);
    assert!(body.contains(&sample), "{body}");
    for path in ["/api/buckets", "/health", "/"] {
        let resp = http_client()
            .get(format!("http://{metrics}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{path}");
    }
    gw.stop();
}
