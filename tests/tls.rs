//! The HTTPS listener: the S3 API over TLS with the certificate chosen by SNI.

mod common;

use std::sync::Arc;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

fn self_signed(names: &[&str]) -> (String, String, CertificateDer<'static>) {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("generate certificate");
    let der = ck.cert.der().clone();
    (ck.cert.pem(), ck.key_pair.serialize_pem(), der)
}

/// Starts bucketgate with `[tls]` (through the harness: stderr kept, a panic fails the test)
/// and returns it with the HTTPS address and the two certificates. The certificates live in
/// `certs`, which must outlive the server.
async fn start(
    certs: &std::path::Path,
) -> (
    TestServer,
    String,
    CertificateDer<'static>,
    CertificateDer<'static>,
) {
    let (default_pem, default_key, default_der) = self_signed(&["localhost", "*.web.localhost"]);
    let (host_pem, host_key, host_der) = self_signed(&["assets.example.com"]);
    for (name, text) in [
        ("default.pem", &default_pem),
        ("default.key", &default_key),
        ("assets.pem", &host_pem),
        ("assets.key", &host_key),
    ] {
        std::fs::write(certs.join(name), text).unwrap();
    }
    let config = format!(
        "[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"{d}/default.pem\"\nkey = \"{d}/default.key\"\n\n[[tls.hosts]]\nnames = [\"assets.example.com\"]\ncert = \"{d}/assets.pem\"\nkey = \"{d}/assets.key\"\n",
        d = certs.display()
    );
    let server = TestServer::start_with_config(&config).await;
    let addr = server
        .startup_value("S3 over TLS:")
        .expect("server printed its TLS address")
        .trim_start_matches("https://")
        .to_owned();
    (server, addr, default_der, host_der)
}

/// Connects with SNI `name`, trusting only `root`, and sends one anonymous S3 request.
async fn request(
    addr: &str,
    name: &'static str,
    root: CertificateDer<'static>,
) -> Result<String, String> {
    get_over_tls(addr, name.to_owned(), root, "/some-bucket/key").await
}

/// One anonymous `GET path` with SNI and Host `name`, trusting only `root`: the raw response.
async fn get_over_tls(
    addr: &str,
    name: String,
    root: CertificateDer<'static>,
    path: &str,
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
        .connect(ServerName::try_from(name.clone()).unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
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
    let (_server, addr, default_der, host_der) = start(dir.path()).await;

    let resp = request(&addr, "assets.example.com", host_der.clone())
        .await
        .expect("TLS to assets.example.com");
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(resp.contains("<Code>AccessDenied</Code>"), "{resp}");

    let resp = request(&addr, "localhost", default_der.clone())
        .await
        .expect("TLS to localhost");
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");

    // The host certificate is not offered for other names, nor the default one for the host:
    // each handshake sees a certificate that the client's only root did not sign (rcgen's
    // self-signed certificates share one issuer name, so rustls reports a bad signature); a
    // wrong pick would be signed by the root but fail the name check (`NotValidForName`).
    for (name, root) in [("localhost", host_der), ("assets.example.com", default_der)] {
        let err = request(&addr, name, root)
            .await
            .expect_err("handshake with a certificate the client does not trust");
        assert!(
            err.contains("invalid peer certificate: BadSignature"),
            "{name}: {err}"
        );
    }
}

/// The README's promise for `[tls]`: the S3 API (signed SDK calls, checked signatures) and
/// websites over HTTPS.
#[tokio::test]
async fn sdk_calls_and_websites_over_the_tls_listener() {
    use aws_sdk_s3::primitives::ByteStream;
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    use common::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY, assert_s3_err, bucket_name, get_bytes};

    let dir = tempfile::tempdir().unwrap();
    let (server, addr, default_der, _) = start(dir.path()).await;
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let pem = std::fs::read(dir.path().join("default.pem")).unwrap();
    let client = |ak: &str, sk: &str| {
        let trust = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(pem.clone());
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(
                TlsContext::builder()
                    .with_trust_store(trust)
                    .build()
                    .unwrap(),
            )
            .build_https();
        aws_sdk_s3::Client::from_conf(
            server
                .config_builder(ak, sk)
                .endpoint_url(format!("https://localhost:{port}"))
                .force_path_style(true)
                .http_client(http)
                .build(),
        )
    };
    let s3 = client(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let bucket = bucket_name();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let page = b"<h1>over TLS</h1>".to_vec();
    s3.put_object()
        .bucket(&bucket)
        .key("index.html")
        .content_type("text/html")
        .body(ByteStream::from(page.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&s3, &bucket, "index.html").await, page);
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["index.html"]);
    // Signatures are checked over TLS as over plain HTTP.
    assert_s3_err(
        client(ROOT_ACCESS_KEY, "wrong-secret-0123456789")
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await,
        403,
        "SignatureDoesNotMatch",
    );

    // The bucket's website, once it is public, on the HTTPS listener.
    let host = format!("{bucket}.web.localhost");
    let private = get_over_tls(&addr, host.clone(), default_der.clone(), "/")
        .await
        .unwrap();
    assert!(private.starts_with("HTTP/1.1 403"), "{private}");
    s3.put_bucket_acl()
        .bucket(&bucket)
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let site = get_over_tls(&addr, host, default_der, "/").await.unwrap();
    assert!(site.starts_with("HTTP/1.1 200"), "{site}");
    assert!(
        site.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{site}"
    );
    assert!(site.ends_with("<h1>over TLS</h1>"), "{site}");
}
