//! Automatic HTTPS for linked domains against a real ACME server: Debian's pebble and its
//! mock DNS run as child processes (tests/acme/pebble.rs), bucketgate as the real binary with
//! its HTTP listener on pebble's `httpPort` and its HTTPS listener on pebble's `tlsPort`.
//! Waits are polls with bounded deadlines; without pebble installed every test fails.

mod common;
#[path = "acme/pebble.rs"]
mod pebble;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::TestServer;
use pebble::{Pebble, free_port, https_get, https_get_cert};
use serde_json::{Value, json};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// How long issuance may take before a test fails.
const ISSUE_DEADLINE: Duration = Duration::from_secs(90);

/// pebble, a bucketgate using it, and the admin API.
struct Env {
    pebble: Pebble,
    server: TestServer,
    https: SocketAddr,
    http_port: u16,
    token: String,
    _certs: tempfile::TempDir,
}

/// `[acme]` for the tests: fast passes and retries; `extra` adds lines to the section, and
/// `domains` is the `[domains]` section's body.
async fn start(extra_acme: &str, domains: &str) -> Env {
    start_with(extra_acme, domains, false).await
}

/// [`start`]; with `no_http01`, pebble validates HTTP-01 on a port nothing listens on, so only
/// TLS-ALPN-01 can succeed.
async fn start_with(extra_acme: &str, domains: &str, no_http01: bool) -> Env {
    let (http_port, tls_port) = (free_port(), free_port());
    let validated_http = if no_http01 { free_port() } else { http_port };
    let pebble = Pebble::start(validated_http, tls_port).await;
    let domains = domains.replace("{http_port}", &http_port.to_string());
    let certs = tempfile::tempdir().unwrap();
    let default = rcgen::generate_simple_self_signed(vec!["default.invalid".to_owned()]).unwrap();
    std::fs::write(certs.path().join("default.pem"), default.cert.pem()).unwrap();
    std::fs::write(
        certs.path().join("default.key"),
        default.key_pair.serialize_pem(),
    )
    .unwrap();
    let toml = format!(
        "[tls]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{d}/default.pem\"\nkey = \"{d}/default.key\"\n\n\
         [acme]\nenabled = true\ndirectory_url = \"{dir}\"\nca_file = \"{ca}\"\ncontact = \"ops@example.com\"\n\
         check_interval_secs = 1\nretry_min_secs = 1\nretry_max_secs = 2\norder_timeout_secs = 30\n{extra_acme}\n\n\
         [domains]\nresolver = \"{dns}\"\ncheck_interval_secs = 1\n{domains}\n",
        d = certs.path().display(),
        dir = pebble.directory,
        ca = pebble.ca_file.display(),
        dns = pebble.dns,
    );
    let listen: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let server = TestServer::start_with_config_listen(&toml, listen).await;
    let token = server.admin_token();
    Env {
        pebble,
        server,
        https: format!("127.0.0.1:{tls_port}").parse().unwrap(),
        http_port,
        token,
        _certs: certs,
    }
}

fn host_name(prefix: &str) -> String {
    format!("{prefix}-{:08x}.example.test", rand::random::<u32>())
}

impl Env {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = common::http_client()
            .request(method, format!("{}{path}", self.server.admin_endpoint))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin API");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A public website bucket whose index page says `page`.
    async fn website(&self, page: &str) -> String {
        let name = common::bucket_name();
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                "/api/buckets",
                Some(json!({"name": name, "publicRead": true})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let (s, v) = self
            .call(
                reqwest::Method::PATCH,
                &format!("/api/buckets/{name}"),
                Some(json!({"website": {"indexDocument": "index.html"}})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        self.server
            .client()
            .put_object()
            .bucket(&name)
            .key("index.html")
            .content_type("text/html")
            .body(page.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put index.html");
        name
    }

    async fn link(&self, bucket: &str, domain: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/buckets/{bucket}/domain"),
            Some(json!({ "domain": domain })),
        )
        .await
    }

    /// The `domainStatus` entry of `host` on `bucket`.
    async fn status(&self, bucket: &str, host: &str) -> Value {
        let (s, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/buckets/{bucket}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["domainStatus"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == host)
            .cloned()
            .unwrap_or_else(|| panic!("{host} is not in {v}"))
    }

    /// Polls `host`'s status until `done` holds for it; fails with the last status and logs.
    async fn wait_status(
        &self,
        bucket: &str,
        host: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + ISSUE_DEADLINE;
        loop {
            let s = self.status(bucket, host).await;
            if done(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!(
                    "{host}: {what} not reached within {ISSUE_DEADLINE:?}; last status {s}\n\
                     --- bucketgate ---\n{}\n{}",
                    self.server.stderr(),
                    self.pebble.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_valid(&self, bucket: &str, host: &str) -> Value {
        self.wait_status(bucket, host, "a valid certificate", |s| {
            s["certificate"]["state"] == "valid"
        })
        .await
    }

    async fn root(&self) -> CertificateDer<'static> {
        let pem = self.pebble.root_pem().await;
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("pebble root is PEM")
    }

    async fn metrics(&self) -> String {
        let resp = common::http_client()
            .get(format!("{}/metrics", self.server.admin_endpoint))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    }

    /// A plain HTTP GET to the S3 listener with `host` as Host.
    async fn http_get(&self, host: &str, path: &str) -> common::RawResponse {
        let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let addr: SocketAddr = format!("127.0.0.1:{}", self.http_port).parse().unwrap();
        common::send_raw(
            addr,
            head.into_bytes(),
            Vec::new(),
            false,
            common::RAW_TIMEOUT,
        )
        .await
    }
}

/// The serial number (hex, lower case) of a DER certificate.
fn serial(der: &CertificateDer<'_>) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    cert.raw_serial_as_string().replace(':', "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_is_issued_served_by_sni_and_survives_a_restart() {
    let mut env = start(
        "redirect_http = true\nhsts_max_age_secs = 300",
        "verify = \"none\"",
    )
    .await;
    let bucket = env.website("<h1>over https</h1>").await;
    let host = host_name("site");
    let (s, v) = env.link(&bucket, &host).await;
    assert_eq!(s, 200, "{v}");
    let status = env.wait_valid(&bucket, &host).await;
    assert_eq!(status["status"], "active", "{status}");
    assert!(
        status["certificate"]["notAfter"].as_i64().unwrap() > 0,
        "{status}"
    );

    let root = env.root().await;
    let (code, body, leaf) = https_get_cert(env.https, &host, root.clone(), "/")
        .await
        .expect("HTTPS with the issued certificate");
    assert_eq!((code, body.as_str()), (200, "<h1>over https</h1>"));
    assert_eq!(
        serial(&leaf),
        status["certificate"]["serial"].as_str().unwrap(),
        "{status}"
    );
    // Another name gets the default certificate, which pebble's root does not sign.
    assert!(
        https_get(env.https, "other.example.test", root.clone(), "/")
            .await
            .is_err()
    );

    // HTTP → HTTPS for the website host; challenges and unknown hosts are not redirected.
    let plain = env.http_get(&host, "/index.html?x=1").await;
    assert_eq!(plain.status, 308, "{plain:?}");
    let expected = format!("https://{host}:{}/index.html?x=1", env.https.port());
    assert_eq!(plain.header("location"), Some(expected.as_str()));
    assert_eq!(
        env.http_get(&host, "/.well-known/acme-challenge/nope")
            .await
            .status,
        404
    );
    let hsts = pebble::https_hsts(env.https, &host, root.clone()).await;
    assert_eq!(hsts.as_deref(), Some("max-age=300"));

    let metrics = env.metrics().await;
    assert!(
        metrics.contains(&format!(
            "bucketgate_certificate_expiry_days{{host=\"{host}\"}}"
        )),
        "{metrics}"
    );
    // The private key is stored sealed: no PEM key in the metadata file.
    let meta = std::fs::read(env.server.data_dir().join("meta.redb")).unwrap();
    assert!(
        !meta.windows(11).any(|w| w == b"PRIVATE KEY"),
        "a private key is stored in clear"
    );

    assert_restart_keeps_serving(&mut env, &bucket, &host, root, serial(&leaf)).await;
}

/// Restarted with the ACME server gone, the gateway serves the stored certificate (serial
/// `serial_before`) and orders nothing.
async fn assert_restart_keeps_serving(
    env: &mut Env,
    bucket: &str,
    host: &str,
    root: CertificateDer<'static>,
    serial_before: String,
) {
    // Restart with the ACME server gone: the stored certificate is served, nothing ordered.
    env.pebble.stop();
    let log_before = env.server.stderr().len();
    env.server.restart().await;
    let (code, _, leaf) = https_get_cert(env.https, host, root, "/")
        .await
        .expect("HTTPS after restart");
    assert_eq!((code, serial(&leaf)), (200, serial_before.clone()));
    let status = env.status(bucket, host).await;
    assert_eq!(status["certificate"]["state"], "valid", "{status}");
    assert_eq!(
        status["certificate"]["serial"],
        serial_before.as_str(),
        "{status}"
    );
    // Passes run every second: give a few of them the chance to (wrongly) order.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = env.server.stderr()[log_before..].to_owned();
    assert!(
        !after.contains("ordering a certificate"),
        "a new order after restart:\n{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_serves_the_new_certificate_without_restart() {
    // Renewal due as soon as a certificate is issued: every pass renews.
    let env = start("renew_at = 0.0", "").await;
    let bucket = env.website("renewed").await;
    let host = host_name("renew");
    assert_eq!(env.link(&bucket, &host).await.0, 200);
    env.wait_valid(&bucket, &host).await;
    let root = env.root().await;
    let (_, _, first) = https_get_cert(env.https, &host, root.clone(), "/")
        .await
        .unwrap();
    let first = serial(&first);
    let deadline = Instant::now() + ISSUE_DEADLINE;
    let second = loop {
        let (code, body, leaf) = https_get_cert(env.https, &host, root.clone(), "/")
            .await
            .unwrap();
        assert_eq!((code, body.as_str()), (200, "renewed"));
        if serial(&leaf) != first {
            break serial(&leaf);
        }
        assert!(
            Instant::now() < deadline,
            "no renewal served within {ISSUE_DEADLINE:?}\n{}",
            env.server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(first, second);
    assert!(
        env.server
            .stderr()
            .matches("certificate issued and served")
            .count()
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_validation_shows_in_status_and_is_retried() {
    let env = start("", "").await;
    let bucket = env.website("retried").await;
    let host = host_name("fails");
    // Nothing listens on 127.0.0.2: pebble's HTTP-01 validation cannot connect.
    env.pebble.add_a(&host, "127.0.0.2").await;
    assert_eq!(env.link(&bucket, &host).await.0, 200);
    let failed = env
        .wait_status(&bucket, &host, "a failed order", |s| {
            s["certificate"]["state"] == "failed"
        })
        .await;
    let cert = &failed["certificate"];
    assert!(
        cert["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{failed}"
    );
    assert!(cert["failures"].as_u64().unwrap() >= 1, "{failed}");
    assert!(cert["retryAt"].as_i64().is_some(), "{failed}");
    assert_eq!(failed["status"], "verified", "{failed}");
    assert_eq!(failed["error"], "CertificateNotIssued", "{failed}");
    let metrics = env.metrics().await;
    assert!(
        metrics.contains(&format!(
            "bucketgate_certificate_failures{{host=\"{host}\"}}"
        )),
        "{metrics}"
    );
    // Fixed DNS: a retry succeeds.
    env.pebble.add_a(&host, "127.0.0.1").await;
    let valid = env.wait_valid(&bucket, &host).await;
    assert_eq!(valid["certificate"]["failures"], 0, "{valid}");
    let (code, body) = https_get(env.https, &host, env.root().await, "/")
        .await
        .unwrap();
    assert_eq!((code, body.as_str()), (200, "retried"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_foreign_and_malformed_domains_are_refused() {
    let env = start("", "").await;
    let bucket = env.website("mine").await;
    for (domain, code) in [
        ("localhost", "ReservedDomain"),
        ("x.s3.localhost", "ReservedDomain"),
        ("127.0.0.1", "ReservedDomain"),
        ("a..b", "InvalidDomain"),
        ("*.example.test", "InvalidDomain"),
    ] {
        let (s, v) = env.link(&bucket, domain).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some(code)),
            "{domain}: {v}"
        );
    }
    let (s, v) = env
        .call(
            reqwest::Method::POST,
            &format!("/api/buckets/{bucket}/domain"),
            Some(json!({"domain": 5})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    // A domain linked to another bucket is not this bucket's to certify.
    let other = env.website("theirs").await;
    let host = host_name("taken");
    assert_eq!(env.link(&other, &host).await.0, 200);
    let (s, v) = env.link(&bucket, &host).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("DomainInUse")),
        "{v}"
    );
    env.wait_valid(&other, &host).await;
    let (code, body) = https_get(env.https, &host, env.root().await, "/")
        .await
        .unwrap();
    assert_eq!((code, body.as_str()), (200, "theirs"));
    let (_, v) = env
        .call(
            reqwest::Method::GET,
            &format!("/api/buckets/{bucket}"),
            None,
        )
        .await;
    assert_eq!(v["domainStatus"], json!([]), "{v}");
    env.server.assert_no_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_txt_proof_gates_routing_and_the_certificate() {
    let env = start("", "verify = \"dns\"").await;
    let bucket = env.website("proven").await;
    let host = host_name("proof");
    let (s, v) = env.link(&bucket, &host).await;
    assert_eq!(s, 200, "{v}");
    let pending = env.status(&bucket, &host).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(pending["active"], false, "{pending}");
    assert_eq!(pending["error"], "OwnershipNotProven", "{pending}");
    let verification = &pending["verification"];
    assert_eq!(verification["method"], "dns");
    assert_eq!(
        verification["record"],
        format!("_bucketgate-challenge.{host}")
    );
    let token = verification["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32, "{pending}");
    // The CLI says what to publish.
    let state = tempfile::tempdir().unwrap();
    let (code, out, err) = common::client(
        &env.server,
        &env.token,
        state.path(),
        &["bucket", "show", &bucket],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    let wanted = format!("{host}: pending (publish TXT _bucketgate-challenge.{host} = {token})");
    assert!(out.contains(&wanted), "{out}");

    // A wrong value: still pending, with the reason; the link does not route.
    env.pebble
        .set_txt(&format!("_bucketgate-challenge.{host}"), "someone-else")
        .await;
    let stuck = env
        .wait_status(&bucket, &host, "the reason of a failed proof", |s| {
            s["message"]
                .as_str()
                .is_some_and(|m| m.contains("does not carry the token"))
        })
        .await;
    assert_eq!(stuck["status"], "pending", "{stuck}");
    assert_eq!(stuck["certificate"]["state"], "pending", "{stuck}");
    let not_routed = env.http_get(&host, "/index.html").await;
    assert_ne!(
        (not_routed.status, not_routed.text()),
        (200, "proven".to_owned())
    );

    env.pebble
        .set_txt(&format!("_bucketgate-challenge.{host}"), &token)
        .await;
    let active = env
        .wait_status(&bucket, &host, "active", |s| s["status"] == "active")
        .await;
    assert_eq!(active["verification"]["verified"], true, "{active}");
    assert_eq!(active["certificate"]["state"], "valid", "{active}");
    let routed = env.http_get(&host, "/index.html").await;
    assert_eq!((routed.status, routed.text()), (200, "proven".to_owned()));
    let (code, body) = https_get(env.https, &host, env.root().await, "/")
        .await
        .unwrap();
    assert_eq!((code, body.as_str()), (200, "proven"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_01_is_answered_on_the_https_listener() {
    let env = start_with("challenge = \"tls-alpn-01\"", "", true).await;
    let bucket = env.website("alpn").await;
    let host = host_name("alpn");
    assert_eq!(env.link(&bucket, &host).await.0, 200);
    env.wait_valid(&bucket, &host).await;
    let (code, body) = https_get(env.https, &host, env.root().await, "/")
        .await
        .unwrap();
    assert_eq!((code, body.as_str()), (200, "alpn"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_proof_then_unlink_stops_serving_the_certificate() {
    let env = start("", "verify = \"http\"\nhttp_port = {http_port}").await;
    let bucket = env.website("by http").await;
    let host = host_name("httpproof");
    assert_eq!(env.link(&bucket, &host).await.0, 200);
    let active = env
        .wait_status(&bucket, &host, "active", |s| s["status"] == "active")
        .await;
    let token = active["verification"]["token"].as_str().unwrap();
    assert_eq!(active["verification"]["method"], "http", "{active}");
    assert_eq!(
        active["verification"]["record"],
        format!("http://{host}/.well-known/bucketgate-challenge/{token}")
    );
    // The proof path answers only the right token for the right host.
    let answer = env
        .http_get(&host, &format!("/.well-known/bucketgate-challenge/{token}"))
        .await;
    assert_eq!((answer.status, answer.text()), (200, token.to_owned()));
    let other = env
        .http_get(
            "else.example.test",
            &format!("/.well-known/bucketgate-challenge/{token}"),
        )
        .await;
    assert_eq!(other.status, 404);

    // A domain that does not reach this gateway stays pending, with the reason.
    let away = host_name("away");
    env.pebble.add_a(&away, "127.0.0.2").await;
    assert_eq!(env.link(&bucket, &away).await.0, 200);
    let stuck = env
        .wait_status(&bucket, &away, "the reason of a failed proof", |s| {
            s["message"]
                .as_str()
                .is_some_and(|m| m.contains("GET http://"))
        })
        .await;
    assert_eq!(stuck["status"], "pending", "{stuck}");
    assert_eq!(stuck["certificate"]["state"], "pending", "{stuck}");

    // Unlinked: its certificate is no longer served.
    let root = env.root().await;
    assert!(https_get(env.https, &host, root.clone(), "/").await.is_ok());
    let (s, v) = env
        .call(
            reqwest::Method::DELETE,
            &format!("/api/buckets/{bucket}/domain"),
            Some(json!({ "domain": host })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let deadline = Instant::now() + ISSUE_DEADLINE;
    while https_get(env.https, &host, root.clone(), "/").await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the unlinked domain's certificate is still served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = env.metrics().await;
    assert!(!metrics.contains(&format!("host=\"{host}\"")), "{metrics}");
}
