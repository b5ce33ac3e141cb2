//! Pebble (Let's Encrypt's ACME test server) and pebble-challtestsrv (its mock DNS) as child
//! processes on free loopback ports, for tests/acme.rs. Debian's `pebble` package provides
//! both binaries; without them the tests fail with a message saying so.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// A free port on 127.0.0.1 (TCP and UDP), never handed out twice in this process. Picked below
/// the kernel's ephemeral range (32768 and up by default), so that no outgoing connection
/// takes it between this check and the bind by pebble or bucketgate.
pub fn free_port() -> u16 {
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        let mut taken = TAKEN.lock().unwrap();
        if taken.contains(&port) {
            continue;
        }
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            taken.push(port);
            return port;
        }
    }
}

/// A child process killed (and reaped) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[&str], log: &std::path::Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(program)
        .args(args)
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}): the ACME tests need Debian's `pebble` package \
                 (apt-get install pebble; .ci/run installs it)"
            )
        });
    Proc(child)
}

/// A test CA and the certificate it signs for pebble's HTTPS endpoints (127.0.0.1).
struct TestPki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "bucketgate test CA for pebble");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A running pebble and its mock DNS.
pub struct Pebble {
    _dir: tempfile::TempDir,
    // Dropped (killed) with the struct.
    procs: Vec<Proc>,
    /// The ACME directory URL.
    pub directory: String,
    /// PEM file of the CA of pebble's own HTTPS certificate (`[acme] ca_file`).
    pub ca_file: PathBuf,
    ca_der: CertificateDer<'static>,
    management: SocketAddr,
    challtest: SocketAddr,
    /// The mock DNS server (`[domains] resolver`).
    pub dns: SocketAddr,
    logs: Vec<PathBuf>,
}

impl Pebble {
    /// Starts pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port` of the
    /// address its DNS gives (127.0.0.1 for every name unless told otherwise).
    pub async fn start(http_port: u16, tls_port: u16) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let pki = test_pki();
        let file = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca_file = file("ca.pem", &pki.ca_pem);
        let cert = file("cert.pem", &pki.cert_pem);
        let key = file("key.pem", &pki.key_pem);
        let (wfe, management) = (free_port(), free_port());
        let (dns_port, challtest_port) = (free_port(), free_port());
        let config = json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{wfe}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert, "privateKey": key,
            "httpPort": http_port, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        let config_file = file("pebble.json", &config.to_string());
        let dns = format!("127.0.0.1:{dns_port}");
        let challtest = format!("127.0.0.1:{challtest_port}");
        let logs = vec![
            dir.path().join("challtestsrv.log"),
            dir.path().join("pebble.log"),
        ];
        let chall = spawn(
            "pebble-challtestsrv",
            &[
                "-management",
                &challtest,
                "-dns01",
                &dns,
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ],
            &logs[0],
        );
        let pebble = spawn(
            "pebble",
            &[
                "-config",
                config_file.to_str().unwrap(),
                "-dnsserver",
                &dns,
                "-strict=false",
            ],
            &logs[1],
        );
        let ca_der = CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
        let p = Pebble {
            _dir: dir,
            procs: vec![pebble, chall],
            directory: format!("https://127.0.0.1:{wfe}/dir"),
            ca_file,
            ca_der,
            management: format!("127.0.0.1:{management}").parse().unwrap(),
            challtest: challtest.parse().unwrap(),
            dns: dns.parse().unwrap(),
            logs,
        };
        p.wait_ready(wfe).await;
        p
    }

    /// Stops both servers (an ACME server gone away).
    pub fn stop(&mut self) {
        self.procs.clear();
    }

    /// Both servers' output so far (for failure messages).
    pub fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|p| {
                format!(
                    "--- {} ---\n{}",
                    p.display(),
                    std::fs::read_to_string(p).unwrap_or_default()
                )
            })
            .collect()
    }

    async fn wait_ready(&self, wfe: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let wfe: SocketAddr = format!("127.0.0.1:{wfe}").parse().unwrap();
        loop {
            let dir = https_get(wfe, "127.0.0.1", self.ca_der.clone(), "/dir").await;
            let chall = reqwest::Client::new()
                .post(format!("http://{}/clear-txt", self.challtest))
                .json(&json!({"host": "ready.test."}))
                .send()
                .await;
            if dir.is_ok_and(|(s, _)| s == 200) && chall.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pebble did not start within 30 s\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The root CA pebble issues under (PEM), from its management endpoint.
    pub async fn root_pem(&self) -> String {
        let (status, body) = https_get(
            self.management,
            "127.0.0.1",
            self.ca_der.clone(),
            "/roots/0",
        )
        .await
        .expect("pebble management endpoint");
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn challtest(&self, path: &str, body: Value) {
        let resp = reqwest::Client::new()
            .post(format!("http://{}{path}", self.challtest))
            .json(&body)
            .send()
            .await
            .expect("pebble-challtestsrv management API");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }

    /// Resolves `host` to `ip` (A record) in the mock DNS.
    pub async fn add_a(&self, host: &str, ip: &str) {
        self.challtest("/clear-a", json!({"host": format!("{host}.")}))
            .await;
        self.challtest(
            "/add-a",
            json!({"host": format!("{host}."), "addresses": [ip]}),
        )
        .await;
    }

    /// Publishes a TXT record in the mock DNS.
    pub async fn set_txt(&self, name: &str, value: &str) {
        self.challtest(
            "/set-txt",
            json!({"host": format!("{name}."), "value": value}),
        )
        .await;
    }
}

/// A TLS client trusting only `root`.
pub fn tls_client(root: CertificateDer<'static>, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// `GET path` over HTTPS to `addr` with SNI and Host `name`, trusting only `root`: status
/// and body, or the connection's error.
pub async fn https_get(
    addr: SocketAddr,
    name: &str,
    root: CertificateDer<'static>,
    path: &str,
) -> Result<(u16, String), String> {
    https_get_cert(addr, name, root, path)
        .await
        .map(|(s, b, _)| (s, b))
}

/// [`https_get`], also returning the server's leaf certificate.
pub async fn https_get_cert(
    addr: SocketAddr,
    name: &str,
    root: CertificateDer<'static>,
    path: &str,
) -> Result<(u16, String, CertificateDer<'static>), String> {
    let connector = tls_client(root, &[b"http/1.1"]);
    let server_name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let io = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {name}: {e}"))?;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned();
        let head = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
        tls.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let resp = crate::common::read_response(&mut tls, false)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((
            resp.status,
            resp.text(),
            leaf.ok_or("no certificate")?.into_owned(),
        ))
    };
    tokio::time::timeout(Duration::from_secs(20), io)
        .await
        .map_err(|_| format!("no HTTPS answer from {addr} within 20 s"))?
}

/// The `Strict-Transport-Security` header of an HTTPS answer for `host`.
pub async fn https_hsts(
    addr: SocketAddr,
    host: &str,
    root: CertificateDer<'static>,
) -> Option<String> {
    let connector = tls_client(root, &[b"http/1.1"]);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let head = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(head.as_bytes()).await.unwrap();
    let resp = crate::common::read_response(&mut tls, false).await.unwrap();
    resp.header("strict-transport-security").map(str::to_owned)
}
