//! Virtual-host-style addressing (`<bucket>.s3.localhost:PORT`) next to path-style.
//! `*.localhost` need not resolve on this machine, so the SDK gets a resolver that maps every
//! name to 127.0.0.1 and reqwest gets `.resolve(..)` overrides.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use common::*;

#[derive(Debug, Clone)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
    }
}

/// Records the URI of every request the SDK sends.
#[derive(Debug, Clone, Default)]
struct Uris(Arc<Mutex<Vec<String>>>);

impl Intercept for Uris {
    fn name(&self) -> &'static str {
        "record-uris"
    }
    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.lock().unwrap().push(ctx.request().uri().to_string());
        Ok(())
    }
}

fn vhost_endpoint(server: &TestServer) -> String {
    format!("http://{BASE_DOMAIN}:{}", server.s3_addr.port())
}

fn vhost_client(server: &TestServer, uris: &Uris) -> aws_sdk_s3::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .build_with_resolver(Loopback);
    aws_sdk_s3::Client::from_conf(
        server
            .config_builder(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
            .endpoint_url(vhost_endpoint(server))
            .force_path_style(false)
            .http_client(http)
            .interceptor(uris.clone())
            .build(),
    )
}

#[tokio::test]
async fn sdk_virtual_host_style_round_trip() {
    let server = TestServer::start().await;
    let uris = Uris::default();
    let s3 = vhost_client(&server, &uris);
    let bucket = bucket_name();
    let port = server.s3_addr.port();
    let vhost = format!("http://{bucket}.{BASE_DOMAIN}:{port}");

    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket (vhost): {}", dbg_err(&e)));
    s3.head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("HeadBucket (vhost)");
    let data = random_bytes(10_000);
    s3.put_object()
        .bucket(&bucket)
        .key("dir/file.bin")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject (vhost): {}", dbg_err(&e)));
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), data);
    let list = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: Vec<&str> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/file.bin"]);
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(
        buckets
            .buckets()
            .iter()
            .any(|b| b.name() == Some(bucket.as_str()))
    );

    // The SDK really addressed the bucket by Host.
    let seen = uris.0.lock().unwrap().clone();
    assert!(
        seen[0].starts_with(&format!("{vhost}/")),
        "CreateBucket URI {}",
        seen[0]
    );
    assert!(
        seen.iter()
            .any(|u| u.starts_with(&format!("{vhost}/dir/file.bin"))),
        "object requests use virtual-host style: {seen:?}"
    );
    assert!(
        seen.iter().all(|u| !u.contains(&format!("/{bucket}/"))),
        "no path-style request was sent: {seen:?}"
    );
    assert!(
        seen.last().unwrap().starts_with(&vhost_endpoint(&server)),
        "ListBuckets on the base domain"
    );

    // Path-style on 127.0.0.1 sees the same object.
    let path_style = server.client();
    let got = path_style
        .get_object()
        .bucket(&bucket)
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), data);

    s3.delete_object()
        .bucket(&bucket)
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    s3.delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucket (vhost)");
}

#[tokio::test]
async fn presigned_virtual_host_urls_via_reqwest() {
    let server = TestServer::start().await;
    let uris = Uris::default();
    let s3 = vhost_client(&server, &uris);
    let bucket = server.bucket(&server.client()).await;
    let vhost = format!("{bucket}.{BASE_DOMAIN}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .resolve(&vhost, server.s3_addr)
        .build()
        .unwrap();
    let cfg = || PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();

    let data = random_bytes(20_000);
    let p = s3
        .put_object()
        .bucket(&bucket)
        .key("up.bin")
        .presigned(cfg())
        .await
        .unwrap();
    assert!(
        p.uri().starts_with(&format!("http://{vhost}:")),
        "{}",
        p.uri()
    );
    let mut req = http.put(p.uri()).body(data.clone());
    for (k, v) in p.headers() {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    assert_eq!(
        status,
        200,
        "presigned vhost PUT: {}",
        resp.text().await.unwrap()
    );

    let p = s3
        .get_object()
        .bucket(&bucket)
        .key("up.bin")
        .presigned(cfg())
        .await
        .unwrap();
    let mut req = http.get(p.uri());
    for (k, v) in p.headers() {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), data);
}

#[tokio::test]
async fn host_header_selects_addressing_style() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let port = server.s3_addr.port();

    // Virtual-host: the bucket is in Host, the path is the key.
    let r = server
        .signed("GET", "/k")
        .host(&format!("{bucket}.{BASE_DOMAIN}:{port}"))
        .send()
        .await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"hello"[..]),
        "{}",
        r.text()
    );
    // Path-style on localhost and on the bare base domain.
    for host in [
        format!("localhost:{port}"),
        format!("{BASE_DOMAIN}:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let r = server
            .signed("GET", &format!("/{bucket}/k"))
            .host(&host)
            .send()
            .await;
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &b"hello"[..]),
            "Host {host}: {}",
            r.text()
        );
    }
    // Virtual-host listing.
    let r = server
        .signed("GET", "/?list-type=2")
        .host(&format!("{bucket}.{BASE_DOMAIN}:{port}"))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(xml_tag(&r.text(), "Key").as_deref(), Some("k"));
    // A bucket that does not exist, addressed by Host.
    let r = server
        .signed("GET", "/k")
        .host(&format!("{}.{BASE_DOMAIN}:{port}", bucket_name()))
        .send()
        .await;
    r.assert_error(404, "NoSuchBucket");
}
