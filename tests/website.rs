//! Static websites by Host header, bucket ACLs for public read, and CORS, driven over TCP with
//! the AWS SDK (setup) and plain HTTP (browser-like requests).

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketCannedAcl, CorsConfiguration, CorsRule, ErrorDocument, IndexDocument,
    WebsiteConfiguration,
};
use common::*;

/// A plain HTTP client that resolves `host` to the server.
fn client_for(server: &TestServer, host: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve(host, server.s3_addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str, content_type: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
}

async fn website_bucket(server: &TestServer, public: bool) -> (String, reqwest::Client, String) {
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "index.html", "<h1>home</h1>", "text/html").await;
    put(
        &s3,
        &bucket,
        "docs/index.html",
        "<h1>docs</h1>",
        "text/html",
    )
    .await;
    put(&s3, &bucket, "404.html", "<h1>missing</h1>", "text/html").await;
    put(
        &s3,
        &bucket,
        "app.js",
        "console.log(1)",
        "application/javascript",
    )
    .await;
    s3.put_bucket_website()
        .bucket(&bucket)
        .website_configuration(
            WebsiteConfiguration::builder()
                .index_document(
                    IndexDocument::builder()
                        .suffix("index.html")
                        .build()
                        .unwrap(),
                )
                .error_document(ErrorDocument::builder().key("404.html").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    if public {
        s3.put_bucket_acl()
            .bucket(&bucket)
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await
            .unwrap();
    }
    let host = format!("{bucket}.web.localhost");
    let base = format!("http://{host}:{}", server.s3_addr.port());
    (bucket, client_for(server, &host), base)
}

#[tokio::test]
async fn website_serves_index_error_documents_and_redirects() {
    let server = TestServer::start().await;
    let (_bucket, http, base) = website_bucket(&server, true).await;

    let root = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()["content-type"], "text/html");
    assert!(root.headers().contains_key("etag"));
    assert!(root.headers().contains_key("last-modified"));
    assert_eq!(root.text().await.unwrap(), "<h1>home</h1>");

    let dir = http.get(format!("{base}/docs/")).send().await.unwrap();
    assert_eq!(dir.status(), 200);
    assert_eq!(dir.text().await.unwrap(), "<h1>docs</h1>");

    let no_slash = http.get(format!("{base}/docs")).send().await.unwrap();
    assert_eq!(no_slash.status(), 302);
    assert_eq!(no_slash.headers()["location"], "/docs/");

    let js = http.get(format!("{base}/app.js")).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "application/javascript");

    let missing = http.get(format!("{base}/nope.html")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), "<h1>missing</h1>");

    let head = http.head(format!("{base}/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "13");

    let post = http.post(format!("{base}/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    server.assert_no_panics();
}

#[tokio::test]
async fn website_ranges_and_conditional_requests() {
    let server = TestServer::start().await;
    let (_bucket, http, base) = website_bucket(&server, true).await;
    let ranged = http
        .get(format!("{base}/index.html"))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 0-3/13");
    assert_eq!(ranged.text().await.unwrap(), "<h1>");

    let etag = http
        .get(format!("{base}/index.html"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let cached = http
        .get(format!("{base}/index.html"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let stale = http
        .get(format!("{base}/index.html"))
        .header("if-match", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
}

#[tokio::test]
async fn private_website_is_forbidden_and_no_website_config_uses_index_html() {
    let server = TestServer::start().await;
    let (bucket, http, base) = website_bucket(&server, false).await;
    let denied = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(denied.status(), 403);

    // Without a website configuration a public bucket still serves index.html and a plain 404.
    let s3 = server.client();
    s3.delete_bucket_website()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    s3.put_bucket_acl()
        .bucket(&bucket)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let root = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    let missing = http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("404"));
    let err = s3
        .get_bucket_website()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_code(&err),
        (404, "NoSuchWebsiteConfiguration".to_owned())
    );
}

#[tokio::test]
async fn public_read_acl_opens_objects_not_listing_and_private_closes_them() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "a.txt", "hello", "text/plain").await;
    let http = http_client();
    let url = format!("{}/{bucket}/a.txt", server.s3_endpoint);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403);

    s3.put_bucket_acl()
        .bucket(&bucket)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let ok = http.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "hello");
    let list = http
        .get(format!("{}/{bucket}?list-type=2", server.s3_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 403);
    let write = http
        .put(format!("{}/{bucket}/b.txt", server.s3_endpoint))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);

    s3.put_bucket_acl()
        .bucket(&bucket)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn cors_rules_answer_preflight_and_decorate_responses() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "a.txt", "hello", "text/plain").await;
    let http = http_client();
    let url = format!("{}/{bucket}/a.txt", server.s3_endpoint);
    let preflight = |origin: &'static str, method: &'static str| {
        http.request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };

    // Before any rule: only the console's default origin is allowed.
    assert_eq!(
        preflight("https://app.example.com", "PUT")
            .await
            .unwrap()
            .status(),
        403
    );
    let console = preflight("http://127.0.0.1:9001", "PUT").await.unwrap();
    assert_eq!(console.status(), 200);
    assert_eq!(
        console.headers()["access-control-allow-origin"],
        "http://127.0.0.1:9001"
    );

    s3.put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(
                    CorsRule::builder()
                        .allowed_origins("https://*.example.com")
                        .allowed_methods("GET")
                        .allowed_methods("PUT")
                        .allowed_headers("*")
                        .expose_headers("ETag")
                        .max_age_seconds(600)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let allowed = preflight("https://app.example.com", "PUT").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(allowed.headers()["access-control-max-age"], "600");
    assert_eq!(
        preflight("https://app.example.com", "DELETE")
            .await
            .unwrap()
            .status(),
        403
    );

    let rules = s3.get_bucket_cors().bucket(&bucket).send().await.unwrap();
    assert_eq!(rules.cors_rules().len(), 1);
    assert_eq!(
        rules.cors_rules()[0].allowed_origins(),
        ["https://*.example.com"]
    );

    // A signed GET from an allowed origin carries the CORS headers on the real response.
    let presigned = s3
        .get_object()
        .bucket(&bucket)
        .key("a.txt")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(
                60,
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    let got = http
        .get(presigned.uri())
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(got.headers()["access-control-expose-headers"], "ETag");

    s3.delete_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let err = s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_code(&err),
        (404, "NoSuchCORSConfiguration".to_owned())
    );
    assert_eq!(
        preflight("https://app.example.com", "PUT")
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn linked_domain_serves_the_website_and_accepts_presigned_urls() {
    let server = TestServer::start().await;
    let (bucket, _, _) = website_bucket(&server, true).await;
    let token = std::fs::read_to_string(server.data_dir().join("admin-token"))
        .expect("admin-token file")
        .trim()
        .to_owned();
    let http = http_client();
    let linked = http
        .post(format!(
            "{}/api/buckets/{bucket}/domain",
            server.admin_endpoint
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({"domain": "assets.example.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 200, "{}", linked.text().await.unwrap());

    let host = "assets.example.test";
    let web = client_for(&server, host);
    let base = format!("http://{host}:{}", server.s3_addr.port());
    let page = web.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "<h1>home</h1>");

    // A presigned URL on the bucket's own domain reaches the S3 API (virtual-host style by
    // domain), for a download and for an upload.
    let sign = |method: &'static str, key: &str| {
        bucketgate::presign::presign(
            &bucketgate::presign::Presign {
                method,
                url: &format!("{base}/{key}"),
                region: REGION,
                access_key: ROOT_ACCESS_KEY,
                secret_key: ROOT_SECRET_KEY,
                expires_in: std::time::Duration::from_secs(300),
            },
            std::time::SystemTime::now(),
        )
        .unwrap()
        .0
    };
    let put = web
        .put(sign("PUT", "upload.txt"))
        .body("via domain")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let got = web.get(sign("GET", "upload.txt")).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "via domain");
    let stored = server
        .client()
        .get_object()
        .bucket(&bucket)
        .key("upload.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored.body.collect().await.unwrap().into_bytes().as_ref(),
        b"via domain"
    );

    // Unlinked, the host serves nothing any more.
    let unlinked = http
        .delete(format!(
            "{}/api/buckets/{bucket}/domain",
            server.admin_endpoint
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), 200);
    // The host is then an S3 API host like any unknown one: `/` is an anonymous ListBuckets.
    let gone = web.get(format!("{base}/")).send().await.unwrap();
    let status = gone.status().as_u16();
    let body = gone.text().await.unwrap();
    assert_eq!(
        (status, xml_tag(&body, "Code").as_deref()),
        (403, Some("AccessDenied")),
        "{body}"
    );
}
