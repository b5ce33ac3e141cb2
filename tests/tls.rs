//! The HTTPS listener: the S3 API over TLS with the certificate chosen by SNI.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn self_signed(names: &[&str]) -> (String, String, CertificateDer<'static>) {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("generate certificate");
    let der = ck.cert.der().clone();
    (ck.cert.pem(), ck.key_pair.serialize_pem(), der)
}

/// Starts bucketgate with `[tls]` and returns the HTTPS address.
fn start(
    dir: &std::path::Path,
) -> (
    Killed,
    String,
    CertificateDer<'static>,
    CertificateDer<'static>,
) {
    let (default_pem, default_key, default_der) = self_signed(&["localhost"]);
    let (host_pem, host_key, host_der) = self_signed(&["assets.example.com"]);
    for (name, text) in [
        ("default.pem", &default_pem),
        ("default.key", &default_key),
        ("assets.pem", &host_pem),
        ("assets.key", &host_key),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let config = format!(
        "data_dir = \"{d}/data\"\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\n[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"{d}/default.pem\"\nkey = \"{d}/default.key\"\n\n[[tls.hosts]]\nnames = [\"assets.example.com\"]\ncert = \"{d}/assets.pem\"\nkey = \"{d}/assets.key\"\n",
        d = dir.display()
    );
    std::fs::write(dir.join("bucketgate.toml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bucketgate"))
        .args(["serve", "--config"])
        .arg(dir.join("bucketgate.toml"))
        .env("BUCKETGATE_ROOT_ACCESS_KEY", "TLSTESTROOTKEY000001")
        .env("BUCKETGATE_ROOT_SECRET_KEY", "tlsTestRootSecret0123456789")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bucketgate");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut https = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.trim().strip_prefix("S3 over TLS:") {
                https = Some(addr.trim().trim_start_matches("https://").to_owned());
            }
            if line.starts_with("bucketgate ready ") {
                let _ = tx.send(https.take());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server ready within 30 s")
        .expect("server printed its TLS address");
    (Killed(child), addr, default_der, host_der)
}

/// Connects with SNI `name`, trusting only `root`, and sends one anonymous S3 request.
async fn request(
    addr: &str,
    name: &'static str,
    root: CertificateDer<'static>,
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name).unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!("GET /some-bucket/key HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn https_listener_serves_s3_with_certificates_chosen_by_sni() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, default_der, host_der) = start(dir.path());

    let resp = request(&addr, "assets.example.com", host_der.clone())
        .await
        .expect("TLS to assets.example.com");
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(resp.contains("<Code>AccessDenied</Code>"), "{resp}");

    let resp = request(&addr, "localhost", default_der.clone())
        .await
        .expect("TLS to localhost");
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");

    // The host certificate is not offered for other names, nor the default one for the host.
    assert!(request(&addr, "localhost", host_der).await.is_err());
    assert!(
        request(&addr, "assets.example.com", default_der)
            .await
            .is_err()
    );
}
