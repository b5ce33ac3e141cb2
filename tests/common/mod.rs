//! Shared harness for the integration tests: spawns the real `bucketgate` binary on
//! `127.0.0.1:0` with a temp data dir and drives it with the AWS SDK, `reqwest`, or raw
//! HTTP/1.1 over a `TcpStream` (for requests no well-behaved client would send).
//!
//! Every test binary includes this module but uses only part of it.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the harness"
)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const ROOT_ACCESS_KEY: &str = "BGTESTROOTACCESSKEY1";
pub const ROOT_SECRET_KEY: &str = "bgTestRootSecretKey/0123456789abcdefghij";
pub const REGION: &str = "us-east-1";
pub const BASE_DOMAIN: &str = "s3.localhost";

/// How long the server may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for one raw HTTP exchange; a server that hangs fails the test instead of the suite.
pub const RAW_TIMEOUT: Duration = Duration::from_secs(20);
/// Only the tail of stderr is kept so a chatty server cannot grow test memory without bound.
const STDERR_KEEP: usize = 256 * 1024;

pub const MIB: usize = 1024 * 1024;

/// A running `bucketgate serve` child process with its own temp directory.
///
/// Layout: `<root>/data` is the `--data-dir`; nothing else is created under `<root>`, so tests
/// can check that no request wrote outside the data dir.
pub struct TestServer {
    root: tempfile::TempDir,
    child: Option<Child>,
    pumps: Vec<JoinHandle<()>>,
    stderr: Arc<Mutex<String>>,
    pub s3_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub s3_endpoint: String,
    pub admin_endpoint: String,
    /// `--config` file, when the test wrote one (see [`TestServer::start_with_config`]).
    config_file: Option<PathBuf>,
    /// Extra environment for the child, applied after the defaults (so it may override them).
    env: Vec<(String, String)>,
    /// Stdout lines printed before the ready line (e.g. the TLS listener's address).
    pub startup_lines: Vec<String>,
    /// A program (and its arguments) the binary runs under, e.g. `strace -f -o FILE`.
    wrapper: Vec<String>,
    /// `--listen` of the S3 listener (`127.0.0.1:0` unless a test needs a known port).
    listen: String,
}

impl TestServer {
    /// Starts a server on a fresh temp data dir and waits for its ready line.
    pub async fn start() -> TestServer {
        Self::start_inner(None, &[], &[]).await
    }

    /// Starts a server with a TOML config file (written to `<root>/gw.toml`); the listen
    /// addresses, data dir, base domain and region still come from the flags.
    pub async fn start_with_config(toml: &str) -> TestServer {
        Self::start_inner(Some(toml), &[], &[]).await
    }

    /// Replaces the config file used by the next [`TestServer::restart`].
    pub fn rewrite_config(&mut self, toml: &str) {
        let path = self.root.path().join("gw.toml");
        std::fs::write(&path, toml).expect("write config file");
        self.config_file = Some(path);
    }

    /// Starts a server with an optional config file, extra environment for the child and an
    /// optional wrapper program; every constructor ends here.
    async fn start_inner(toml: Option<&str>, env: &[(&str, &str)], wrapper: &[&str]) -> TestServer {
        let mut server = Self::start_inner_unspawned(toml, env, wrapper);
        server.spawn().await;
        server
    }

    /// The server [`TestServer::start_inner`] starts, not started yet.
    fn start_inner_unspawned(
        toml: Option<&str>,
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> TestServer {
        let root = tempfile::Builder::new()
            .prefix("bucketgate-it-")
            .tempdir()
            .expect("create temp dir");
        std::fs::create_dir(root.path().join("data")).expect("create data dir");
        let mut server = TestServer {
            root,
            child: None,
            pumps: Vec::new(),
            stderr: Arc::new(Mutex::new(String::new())),
            s3_addr: "127.0.0.1:0".parse().unwrap(),
            admin_addr: "127.0.0.1:0".parse().unwrap(),
            s3_endpoint: String::new(),
            admin_endpoint: String::new(),
            config_file: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            startup_lines: Vec::new(),
            wrapper: wrapper.iter().map(|w| w.to_string()).collect(),
            listen: "127.0.0.1:0".to_owned(),
        };
        if let Some(t) = toml {
            server.rewrite_config(t);
        }
        server
    }

    pub fn root_dir(&self) -> &Path {
        self.root.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Everything the server has written to stderr so far (tail only).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let data_dir = self.data_dir();
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_bucketgate"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_bucketgate")),
        };
        cmd.arg("serve");
        if let Some(c) = &self.config_file {
            cmd.arg("--config").arg(c);
        }
        cmd.arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &self.listen, "--admin-listen", "127.0.0.1:0"])
            .args(["--base-domain", BASE_DOMAIN, "--region", REGION])
            .env("BUCKETGATE_ROOT_ACCESS_KEY", ROOT_ACCESS_KEY)
            .env("BUCKETGATE_ROOT_SECRET_KEY", ROOT_SECRET_KEY)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn bucketgate binary");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();

        let (tx, rx) = mpsc::channel::<String>();
        // Keep draining stdout after the ready line so the child never blocks on a full pipe.
        self.pumps.push(std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = tx.send(line.trim_end().to_string());
                    }
                }
            }
        }));
        let buf = self.stderr.clone();
        self.pumps.push(std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut chunk = [0u8; 8192];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut b = buf.lock().unwrap();
                        b.push_str(&String::from_utf8_lossy(&chunk[..n]));
                        if b.len() > STDERR_KEEP * 2 {
                            let mut cut = b.len() - STDERR_KEEP;
                            while !b.is_char_boundary(cut) {
                                cut += 1;
                            }
                            b.drain(..cut);
                        }
                    }
                }
            }
        }));
        self.child = Some(child);

        // Wait for the ready line without blocking the async runtime.
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready = tokio::task::spawn_blocking(move || {
            let mut before = Vec::new();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(line) if line.starts_with("bucketgate ready ") => return Ok((line, before)),
                    Ok(line) => before.push(line),
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .unwrap();
        let line = match ready {
            Ok((line, before)) => {
                self.startup_lines = before;
                line
            }
            Err(e) => {
                let status = self.child.as_mut().unwrap().try_wait().ok().flatten();
                self.kill9();
                panic!(
                    "bucketgate did not print its ready line within {READY_TIMEOUT:?} ({e:?}); \
                     exit status: {status:?}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
        };
        let field = |name: &str| -> String {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("ready line {line:?} lacks {name}"))
                .to_string()
        };
        self.s3_endpoint = field("s3=");
        self.admin_endpoint = field("admin=");
        self.s3_addr = self
            .s3_endpoint
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("bad s3 endpoint in {line:?}: {e}"));
        self.admin_addr = self
            .admin_endpoint
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("bad admin endpoint in {line:?}: {e}"));
    }

    /// SIGKILL: no chance to flush or clean up, like a power cut for the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pump in self.pumps.drain(..) {
            let _ = pump.join();
        }
    }

    /// Sends SIGTERM (no-op if the process already exited).
    pub fn sigterm(&mut self) {
        let child = self.child.as_mut().expect("server is running");
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(
            status.success() || child.try_wait().ok().flatten().is_some(),
            "kill -TERM failed"
        );
    }

    /// SIGTERM, then waits (bounded) for the process to exit. Returns its exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        self.sigterm();
        let child = self.child.as_mut().expect("server is running");
        let deadline = Instant::now() + within;
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("wait for child") {
                break exit;
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "server did not exit within {within:?} after SIGTERM\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        for pump in self.pumps.drain(..) {
            let _ = pump.join();
        }
        exit
    }

    /// Starts the server again on the same data dir (stopping it with SIGTERM first if it
    /// still runs). Endpoints change: make new clients afterwards.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.terminate(Duration::from_secs(30));
        }
        self.spawn().await;
    }

    /// SDK client for the root user, path-style.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_with(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
    }

    pub fn client_with(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            self.config_builder(access_key, secret_key)
                .force_path_style(true)
                .build(),
        )
    }

    /// Base SDK config: static credentials, us-east-1, the server's S3 endpoint, no retries
    /// (a retried 5xx would hide a server bug) and a timeout so a hang fails the test.
    pub fn config_builder(
        &self,
        access_key: &str,
        secret_key: &str,
    ) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.s3_endpoint)
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(300))
                    .build(),
            )
    }

    /// Starts a raw HTTP request to the S3 listener.
    pub fn raw(&self, method: &str, target: &str) -> RawRequest {
        RawRequest {
            addr: self.s3_addr,
            method: method.to_string(),
            target: target.to_string(),
            host: self.s3_addr.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
            sign: None,
            payload_hash: None,
            date: None,
        }
    }

    /// Starts a raw HTTP request signed (SigV4, header auth) with the root credentials.
    pub fn signed(&self, method: &str, target: &str) -> RawRequest {
        let mut r = self.raw(method, target);
        r.sign = Some((ROOT_ACCESS_KEY.to_string(), ROOT_SECRET_KEY.to_string()));
        r
    }

    /// Creates a bucket with a random name and returns the name.
    pub async fn bucket(&self, client: &aws_sdk_s3::Client) -> String {
        let name = bucket_name();
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {name}: {}", dbg_err(&e)));
        name
    }

    /// Checks that the server still answers on both listeners and never panicked.
    pub async fn assert_alive(&self) {
        let health = http_client()
            .get(format!("{}/health", self.admin_endpoint))
            .send()
            .await
            .unwrap_or_else(|e| panic!("admin /health unreachable: {e}\n{}", self.stderr()));
        assert_eq!(health.status().as_u16(), 200, "/health after bad input");
        self.client()
            .list_buckets()
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListBuckets after bad input: {}", dbg_err(&e)));
        self.assert_no_panics();
    }

    pub fn assert_no_panics(&self) {
        let err = self.stderr();
        assert!(!err.contains("panicked at"), "server panicked:\n{err}");
    }

    /// All regular files under `dir` (recursive), with sizes.
    pub fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in rd.flatten() {
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(entry.path());
                } else if ft.is_file() {
                    let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push((entry.path(), len));
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("--- bucketgate stderr (tail) ---\n{}", self.stderr());
        } else if self.stderr().contains("panicked at") {
            panic!("bucketgate panicked during the test:\n{}", self.stderr());
        }
    }
}

/// A plain HTTP client (no credentials) for anonymous, presigned and admin requests.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .unwrap()
}

/// A random valid bucket name.
pub fn bucket_name() -> String {
    format!("it-{:016x}", rand::random::<u64>())
}

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// Deterministic pseudo-random bytes: `pattern(seed, off, n)` is the slice `[off, off+n)` of one
/// infinite stream per seed, so large objects can be produced and checked piecewise.
/// `offset` must be a multiple of 8.
pub fn pattern(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    assert_eq!(offset % 8, 0);
    let mut out = Vec::with_capacity(len + 8);
    let mut word = offset / 8;
    while out.len() < len {
        let mut z = seed ^ word.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
        word += 1;
    }
    out.truncate(len);
    out
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5::Md5::digest(data))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The `ETag` S3 gives a single-part upload: quoted hex MD5.
pub fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

/// HTTP status and S3 error code of an SDK error; code is "" when none was parsed.
pub fn status_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> (u16, String) {
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (status, err.code().unwrap_or("").to_string())
}

/// Debug text for an SDK error including the raw HTTP body, for assertion messages.
pub fn dbg_err<E: std::fmt::Debug>(err: &SdkError<E, HttpResponse>) -> String {
    let body = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    format!("{err:?}\nbody: {body}")
}

/// Asserts an SDK call failed with the given HTTP status and S3 error code.
#[track_caller]
pub fn assert_s3_err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    res: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
    code: &str,
) {
    match res {
        Ok(v) => panic!("expected {status} {code}, got success: {v:?}"),
        Err(e) => {
            let (s, c) = status_code(&e);
            assert_eq!((s, c.as_str()), (status, code), "{}", dbg_err(&e));
        }
    }
}

/// Extracts `<Tag>value</Tag>` from an XML body (first occurrence).
pub fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(body[start..end].to_string())
}

// ---------------------------------------------------------------------------------------------
// SigV4 (test-side implementation so tests can sign requests the SDK would never produce)
// ---------------------------------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

pub fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub fn signing_key(secret: &str, date: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, REGION.as_bytes());
    let k = hmac(&k, b"s3");
    hmac(&k, b"aws4_request")
}

/// `(20240101T000000Z, 20240101)` for the given time.
pub fn amz_dates(t: time::OffsetDateTime) -> (String, String) {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let long = t.format(&fmt).unwrap();
    let short = long[..8].to_string();
    (long, short)
}

/// Decodes `%XX` escapes once; a `%` that does not start a valid escape is taken literally.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut raw = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            raw.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        raw.push(b[i]);
        i += 1;
    }
    raw
}

/// SigV4 URI encoding: unreserved characters literal, everything else `%XX` upper-case.
fn sigv4_encode(raw: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for &c in raw {
        if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) || (keep_slash && c == b'/') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Canonical URI: the path as sent, its percent-encoding canonicalised (S3 does not remove
/// dot segments or merge slashes).
pub fn canonical_uri(path: &str) -> String {
    sigv4_encode(&percent_decode(path), true)
}

/// Canonical query string from a raw query: names and values canonically encoded, sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                sigv4_encode(&percent_decode(k), false),
                sigv4_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Result of signing: the headers to add and the seed signature (for aws-chunked).
pub struct Signature {
    pub authorization: String,
    pub signature: String,
    pub amz_date: String,
    pub scope: String,
}

/// Signs a request. `path` is the URI path as sent (S3 does not remove dot segments; only the
/// percent-encoding is canonicalised),
/// `query` the raw query, `headers` all headers to sign (must include host,
/// x-amz-date and x-amz-content-sha256).
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the inputs of the SigV4 canonical request one to one"
)]
pub fn sign_v4(
    access_key: &str,
    secret_key: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    payload_hash: &str,
    amz_date: &str,
) -> Signature {
    let date = &amz_date[..8];
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = hs
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let creq = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        canonical_uri(path),
        canonical_query(query)
    );
    let scope = format!("{date}/{REGION}/s3/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(creq.as_bytes())
    );
    let signature = hex::encode(hmac(&signing_key(secret_key, date), sts.as_bytes()));
    Signature {
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
        ),
        signature,
        amz_date: amz_date.to_string(),
        scope,
    }
}

pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 over TcpStream
// ---------------------------------------------------------------------------------------------

/// A hand-built HTTP/1.1 request. Sent with `Connection: close`; the body is written from a
/// separate task so a server that answers early (and stops reading) cannot deadlock the test.
pub struct RawRequest {
    addr: SocketAddr,
    method: String,
    target: String,
    host: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    content_length: bool,
    sign: Option<(String, String)>,
    payload_hash: Option<String>,
    date: Option<time::OffsetDateTime>,
}

impl RawRequest {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    pub fn host(mut self, host: &str) -> Self {
        self.host = host.to_string();
        self
    }
    /// Send to another server (the Host header follows).
    pub fn to(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self.host = addr.to_string();
        self
    }
    /// Omit the Content-Length header (the body, if any, is still written).
    pub fn no_content_length(mut self) -> Self {
        self.content_length = false;
        self
    }
    /// Value of `x-amz-content-sha256` (default: hex SHA-256 of the body).
    pub fn payload_hash(mut self, h: &str) -> Self {
        self.payload_hash = Some(h.to_string());
        self
    }
    pub fn credentials(mut self, ak: &str, sk: &str) -> Self {
        self.sign = Some((ak.to_string(), sk.to_string()));
        self
    }
    pub fn date(mut self, t: time::OffsetDateTime) -> Self {
        self.date = Some(t);
        self
    }

    /// Serialises the request head (status line and headers, signed if asked).
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut headers = self.headers.clone();
        headers.push(("host".into(), self.host.clone()));
        if let Some((ak, sk)) = &self.sign {
            let (amz_date, _) = amz_dates(self.date.unwrap_or_else(time::OffsetDateTime::now_utc));
            let ph = self
                .payload_hash
                .clone()
                .unwrap_or_else(|| sha256_hex(&self.body));
            headers.push(("x-amz-date".into(), amz_date.clone()));
            headers.push(("x-amz-content-sha256".into(), ph.clone()));
            let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
            let sig = sign_v4(ak, sk, &self.method, path, query, &headers, &ph, &amz_date);
            headers.push(("authorization".into(), sig.authorization));
        } else if let Some(ph) = &self.payload_hash {
            headers.push(("x-amz-content-sha256".into(), ph.clone()));
        }
        if self.content_length {
            headers.push(("content-length".into(), self.body.len().to_string()));
        }
        headers.push(("connection".into(), "close".into()));
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    pub async fn send(self) -> RawResponse {
        let head = self.head_bytes();
        let is_head = self.method == "HEAD";
        send_raw(self.addr, head, self.body, is_head, RAW_TIMEOUT).await
    }
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `<Code>` of an S3 XML error body.
    pub fn code(&self) -> Option<String> {
        xml_tag(&self.text(), "Code")
    }
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_deref()),
            (status, Some(code)),
            "unexpected response: {} {:?}\n{}",
            self.status,
            self.headers,
            self.text()
        );
    }
}

/// Writes `head` then `body` and reads one response. Panics (with context) on timeout.
pub async fn send_raw(
    addr: SocketAddr,
    head: Vec<u8>,
    body: Vec<u8>,
    is_head: bool,
    timeout: Duration,
) -> RawResponse {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        // Errors are expected when the server answers early and closes: ignore them.
        if wr.write_all(&head).await.is_ok() && !body.is_empty() {
            let _ = wr.write_all(&body).await;
        }
        let _ = wr.flush().await;
        wr
    });
    let resp = tokio::time::timeout(timeout, read_response(&mut rd, is_head))
        .await
        .unwrap_or_else(|_| panic!("no complete HTTP response from {addr} within {timeout:?}"))
        .unwrap_or_else(|e| panic!("reading HTTP response from {addr}: {e}"));
    writer.abort();
    resp
}

/// Reads one HTTP/1.1 response (Content-Length, chunked, or until EOF).
pub async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    rd: &mut R,
    is_head: bool,
) -> std::io::Result<RawResponse> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16384];
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = rd.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed before response head; got {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut rest = buf[head_end + 4..].to_vec();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let no_body = is_head || status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| std::io::Error::other("bad content-length"))?;
        while rest.len() < len {
            let n = rd.read(&mut tmp).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "body shorter than content-length",
                ));
            }
            rest.extend_from_slice(&tmp[..n]);
        }
        rest.truncate(len);
        rest
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = find(&rest, b"\r\n") {
                    break p;
                }
                let n = rd.read(&mut tmp).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                rest.extend_from_slice(&tmp[..n]);
            };
            let size_str = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size_str:?}")))?;
            rest.drain(..line_end + 2);
            if size == 0 {
                break;
            }
            while rest.len() < size + 2 {
                let n = rd.read(&mut tmp).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                rest.extend_from_slice(&tmp[..n]);
            }
            body.extend_from_slice(&rest[..size]);
            rest.drain(..size + 2);
        }
        body
    } else {
        loop {
            let n = rd.read(&mut tmp).await?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&tmp[..n]);
        }
        rest
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The whole body of an object.
pub async fn get_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key}: {}", dbg_err(&e)));
    out.body.collect().await.expect("read body").to_vec()
}

/// What [`object_round_trip`] wrote: `{prefix}small` (1000 bytes, `text/plain`, metadata
/// `color: green`), `{prefix}streamed` (3 MiB + 17), and `{prefix}copy` (a copy of `small`).
pub struct RoundTrip {
    pub small: Vec<u8>,
    pub streamed: Vec<u8>,
}

/// The object operations every backend must carry, checked through the gateway: a plain PUT
/// and a streamed one (the SDK sends a file aws-chunked with a CRC32 trailer), both read back,
/// HEAD (length, ETag, content type, user metadata), a range, a copy inside the bucket and a
/// listing of the prefix.
pub async fn object_round_trip(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> RoundTrip {
    use aws_sdk_s3::primitives::ByteStream;
    let key = |name: &str| format!("{prefix}{name}");
    let small = random_bytes(1000);
    s3.put_object()
        .bucket(bucket)
        .key(key("small"))
        .content_type("text/plain")
        .metadata("color", "green")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put small: {}", dbg_err(&e)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streamed");
    let streamed = random_bytes(3 * MIB + 17);
    std::fs::write(&path, &streamed).unwrap();
    s3.put_object()
        .bucket(bucket)
        .key(key("streamed"))
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put streamed: {}", dbg_err(&e)));
    assert_eq!(get_bytes(s3, bucket, &key("small")).await, small);
    assert_eq!(get_bytes(s3, bucket, &key("streamed")).await, streamed);

    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key("small"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(1000));
    assert_eq!(head.e_tag(), Some(quoted_md5(&small).as_str()));
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("green")
    );

    let ranged = s3
        .get_object()
        .bucket(bucket)
        .key(key("streamed"))
        .range("bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ranged.content_range(),
        Some(format!("bytes 100-199/{}", streamed.len()).as_str())
    );
    let ranged = ranged.body.collect().await.unwrap().into_bytes();
    assert_eq!(&ranged[..], &streamed[100..200]);

    s3.copy_object()
        .bucket(bucket)
        .key(key("copy"))
        .copy_source(format!("{bucket}/{}", key("small")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", dbg_err(&e)));
    assert_eq!(get_bytes(s3, bucket, &key("copy")).await, small);
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [key("copy"), key("small"), key("streamed")]);
    RoundTrip { small, streamed }
}

/// Uploads `parts` as one multipart object and completes it.
pub async fn multipart_put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    parts: Vec<Vec<u8>>,
) -> aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload {key}: {}", dbg_err(&e)));
    let id = upload.upload_id().expect("upload id").to_owned();
    let mut done = Vec::new();
    for (i, data) in parts.into_iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(aws_sdk_s3::primitives::ByteStream::from(data))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n} of {key}: {}", dbg_err(&e)));
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("part ETag"))
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete {key}: {}", dbg_err(&e)))
}

/// A browser-style POST Object upload (SigV4 POST policy signed with `ak`/`sk`, allowing
/// exactly `key` in `bucket`), sent as `multipart/form-data` to the S3 listener.
pub async fn post_form(
    s3_endpoint: &str,
    bucket: &str,
    key: &str,
    ak: &str,
    sk: &str,
    data: Vec<u8>,
) -> reqwest::Response {
    use base64::Engine as _;
    let now = time::OffsetDateTime::now_utc();
    let (amz_date, date) = amz_dates(now);
    let credential = format!("{ak}/{date}/{REGION}/s3/aws4_request");
    let expiration = (now + time::Duration::minutes(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let policy = serde_json::json!({
        "expiration": expiration,
        "conditions": [
            {"bucket": bucket},
            {"key": key},
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": credential},
            {"x-amz-date": amz_date},
            ["content-length-range", 0, 16 << 20],
        ]
    });
    let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let signature = hex::encode(hmac(&signing_key(sk, &date), policy_b64.as_bytes()));
    let form = reqwest::multipart::Form::new()
        .text("key", key.to_owned())
        .text("x-amz-algorithm", "AWS4-HMAC-SHA256")
        .text("x-amz-credential", credential)
        .text("x-amz-date", amz_date)
        .text("policy", policy_b64)
        .text("x-amz-signature", signature)
        .part(
            "file",
            reqwest::multipart::Part::bytes(data).file_name("upload.bin"),
        );
    http_client()
        .post(format!("{s3_endpoint}/{bucket}"))
        .multipart(form)
        .send()
        .await
        .expect("POST object")
}

impl TestServer {
    /// [`TestServer::start_with_config`] with extra environment for the child (e.g. other root
    /// credentials, for a second server in front of the first). Panics and stderr are watched
    /// like every other server's.
    pub async fn start_with_config_env(toml: &str, env: &[(&str, &str)]) -> TestServer {
        Self::start_inner(Some(toml), env, &[]).await
    }

    /// The value after `prefix` on a stdout line printed before the ready line.
    pub fn startup_value(&self, prefix: &str) -> Option<String> {
        self.startup_lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
    }

    /// The admin token: the one the test process passes through the environment, else the one
    /// the server generated on first start.
    pub fn admin_token(&self) -> String {
        std::env::var("BUCKETGATE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| {
                std::fs::read_to_string(self.data_dir().join("admin-token"))
                    .expect("read admin-token")
                    .trim()
                    .to_owned()
            })
    }
}

impl TestServer {
    /// [`TestServer::start_with_config`] with the S3 listener on `listen` (a port an ACME
    /// server validates against); restarts keep it.
    pub async fn start_with_config_listen(toml: &str, listen: SocketAddr) -> TestServer {
        let mut server = Self::start_inner_unspawned(Some(toml), &[], &[]);
        server.listen = listen.to_string();
        server.spawn().await;
        server
    }
}

impl TestServer {
    /// A server whose binary runs under `wrapper` (a program and its arguments, e.g.
    /// `strace -f -o FILE --`). [`TestServer::pid`] is then the wrapper's pid.
    pub async fn start_wrapped(wrapper: &[&str]) -> TestServer {
        Self::start_inner(None, &[], wrapper).await
    }
}

/// Runs the `bucketgate` binary as a client, without credentials from the environment.
pub async fn bucketgate(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bucketgate"));
    cmd.args(args)
        .env_remove("BUCKETGATE_ADMIN_TOKEN")
        .env_remove("BUCKETGATE_ACCESS_KEY")
        .env_remove("BUCKETGATE_SECRET_KEY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

/// Runs the client against `server` as the admin; returns (exit code, stdout, stderr).
pub async fn client(
    server: &TestServer,
    token: &str,
    state_dir: &std::path::Path,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let out = bucketgate(
        args,
        &[
            ("BUCKETGATE_API", server.admin_endpoint.as_str()),
            ("BUCKETGATE_ADMIN_TOKEN", token),
            ("BUCKETGATE_STATE_DIR", state_dir.to_str().unwrap()),
        ],
    )
    .await;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
