//! Hardening of host names and user-supplied text (issue 8): a user cannot link the
//! endpoint's own hostnames as a bucket domain (and stored links to them stop routing),
//! Host matching is case-insensitive, user ids are safe path segments, and free text carries
//! no terminal escapes (and the CLI escapes what the server sends anyway).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Config of the tests: a public endpoint host and operator-reserved names.
const RESERVING: &str = r#"
public_endpoint = "https://s3.example.test"
reserved_hosts = ["s3.internal.example.test", "*.corp.example.test"]
"#;

/// A server plus what it takes to call its API.
struct Api {
    server: TestServer,
    token: String,
    http: reqwest::Client,
}

struct User {
    bearer: String,
}

impl Api {
    async fn start(config: &str) -> Api {
        let server = TestServer::start_with_config(config).await;
        let token = server.admin_token();
        Api {
            server,
            token,
            http: http_client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.admin_endpoint)
    }

    async fn call(
        &self,
        bearer: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("API request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        (status, v)
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(&self.token.clone(), method, path, body).await
    }

    async fn user(&self, id: &str) -> User {
        let (s, v) = self
            .admin(Method::POST, "/api/users", Some(json!({ "id": id })))
            .await;
        assert_eq!(s, 201, "{v}");
        let (s, k) = self
            .admin(Method::POST, &format!("/api/users/{id}/keys"), None)
            .await;
        assert_eq!(s, 201, "{k}");
        User {
            bearer: format!(
                "{}:{}",
                k["accessKey"].as_str().unwrap(),
                k["secretKey"].as_str().unwrap()
            ),
        }
    }

    async fn bucket_of(&self, user: &User) -> String {
        let name = bucket_name();
        let (s, v) = self
            .call(
                &user.bearer,
                Method::POST,
                "/api/buckets",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        name
    }

    async fn link(&self, bearer: &str, bucket: &str, domain: &str) -> (u16, Value) {
        self.call(
            bearer,
            Method::POST,
            &format!("/api/buckets/{bucket}/domain"),
            Some(json!({ "domain": domain })),
        )
        .await
    }

    async fn keys_of(&self, bucket: &str) -> Vec<String> {
        let (s, v) = self
            .admin(Method::GET, &format!("/api/buckets/{bucket}/objects"), None)
            .await;
        assert_eq!(s, 200, "{v}");
        v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["key"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(got.1["error"]["message"].is_string(), "{}", got.1);
}

/// Root's signed path-style PutObject to `/<bucket>/<key>` with the given Host header.
async fn root_put(server: &TestServer, host: &str, bucket: &str, key: &str, body: &str) {
    let host = format!("{host}:{}", server.s3_addr.port());
    let resp = server
        .signed("PUT", &format!("/{bucket}/{key}"))
        .host(&host)
        .body(body)
        .send()
        .await;
    assert_eq!(resp.status, 200, "PUT via Host {host}: {}", resp.text());
}

/// The attack of issue 8: a user links `localhost` (or another name clients use for the S3
/// endpoint) and receives every path-style request sent to it, root's signed ones included.
#[tokio::test]
async fn users_cannot_link_the_endpoints_own_host_names() {
    let api = Api::start(RESERVING).await;
    let bob = api.user("bob").await;
    let bobs = api.bucket_of(&bob).await;
    let s3 = api.server.client();
    let roots = api.server.bucket(&s3).await;

    for reserved in [
        "localhost",
        "LOCALHOST.",
        "localhost:9000",
        "LocalHost",
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "[::1]",
        "[::1]:9000",
        "::1",
        "s3.localhost",
        "bucket.s3.localhost",
        &format!("{roots}.s3.localhost"),
        "web.localhost",
        "site.web.localhost",
        "anything.localhost",
        "s3.example.test",
        "x.s3.example.test",
        "s3.internal.example.test",
        "a.corp.example.test",
    ] {
        assert_error(
            &api.link(&bob.bearer, &bobs, reserved).await,
            400,
            "ReservedDomain",
        );
    }
    for invalid in [
        "",
        "bücher.example",
        "single",
        "a..b.example",
        "-a.example",
        "a_b.example",
        "http://x.example",
        "a/b.example",
        &format!("{}.example", "a".repeat(64)),
    ] {
        assert_error(
            &api.link(&bob.bearer, &bobs, invalid).await,
            400,
            "InvalidDomain",
        );
    }
    // The refused names did not reach the record.
    let (s, rec) = api
        .admin(Method::GET, &format!("/api/buckets/{bobs}"), None)
        .await;
    assert_eq!((s, &rec["domains"]), (200, &json!([])), "{rec}");

    // Ordinary names still link; one name links one bucket only.
    let (s, rec) = api.link(&bob.bearer, &bobs, "Assets.Example.Test.").await;
    assert_eq!(
        (s, &rec["domains"]),
        (200, &json!(["assets.example.test"])),
        "{rec}"
    );
    assert_eq!(
        rec["domainStatus"],
        json!([{"domain": "assets.example.test", "active": true, "status": "active"}])
    );
    assert_error(
        &api.link(&api.token, &roots, "assets.example.test").await,
        409,
        "DomainInUse",
    );
    // `*.corp.example.test` reserves the names under it, not the name itself.
    let (s, rec) = api.link(&bob.bearer, &bobs, "corp.example.test").await;
    assert_eq!(s, 200, "{rec}");

    // Root's path-style writes to the endpoint's names land in root's bucket.
    for (i, host) in ["localhost", "LOCALHOST", "127.0.0.1", "s3.example.test"]
        .into_iter()
        .enumerate()
    {
        let key = format!("k{i}");
        root_put(&api.server, host, &roots, &key, "root's").await;
        assert_eq!(get_bytes(&s3, &roots, &key).await, b"root's");
    }
    assert_eq!(api.keys_of(&bobs).await, Vec::<String>::new());
    api.server.assert_no_panics();
}

/// Links stored before their names became reserved (by configuration, or by a release that
/// did not check) stop routing at start-up: logged, shown in the bucket's status, still
/// unlinkable; root's writes to those hosts go where they are addressed.
#[tokio::test]
async fn stored_links_to_reserved_names_stop_routing_after_restart() {
    let mut api = Api::start("").await;
    let bob = api.user("bob").await;
    let bobs = api.bucket_of(&bob).await;
    let roots = api.server.bucket(&api.server.client()).await;
    for host in ["assets.example.test", "s3.example.test"] {
        let (s, v) = api.link(&bob.bearer, &bobs, host).await;
        assert_eq!(s, 200, "{v}");
    }
    // Not reserved yet: the link captures path-style requests to that Host (what a link does).
    root_put(&api.server, "s3.example.test", &roots, "before", "x").await;
    assert_eq!(api.keys_of(&bobs).await, vec![format!("{roots}/before")]);

    // Stopped, the store gets a link to `localhost` (as an older release accepted) and a
    // description holding a terminal escape (as the API accepted before it refused them).
    api.server.terminate(std::time::Duration::from_secs(30));
    seed_record(&api.server, &bobs, "localhost", "pwn\u{1b}]0;owned\u{7}ed");
    api.server.rewrite_config(
        "public_endpoint = \"https://s3.example.test\"\nreserved_hosts = [\"assets.example.test\"]\n",
    );
    api.server.restart().await;
    api.token = api.server.admin_token();

    for host in ["localhost", "s3.example.test", "assets.example.test"] {
        assert!(
            api.server
                .stderr()
                .lines()
                .any(|l| l.contains("linked domain is reserved") && l.contains(host)),
            "no start-up warning for {host}:\n{}",
            api.server.stderr()
        );
        let key = format!("after-{}", host.replace('.', "-"));
        root_put(&api.server, host, &roots, &key, "root's").await;
        assert_eq!(
            get_bytes(&api.server.client(), &roots, &key).await,
            b"root's"
        );
    }
    // An anonymous request on such a host is answered as on any unlinked host: the S3 root,
    // which is not for anonymous callers.
    let web = api
        .server
        .raw("GET", "/")
        .host(&format!(
            "assets.example.test:{}",
            api.server.s3_addr.port()
        ))
        .send()
        .await;
    web.assert_error(403, "AccessDenied");
    assert_eq!(api.keys_of(&bobs).await, vec![format!("{roots}/before")]);

    let (s, rec) = api
        .call(
            &bob.bearer,
            Method::GET,
            &format!("/api/buckets/{bobs}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{rec}");
    let status = rec["domainStatus"].as_array().unwrap();
    assert_eq!(status.len(), 3, "{rec}");
    for d in status {
        assert_eq!(
            (&d["active"], &d["error"]),
            (&json!(false), &json!("ReservedDomain")),
            "{rec}"
        );
        assert!(d["message"].is_string(), "{rec}");
    }

    // The CLI shows the stored description with its escape rendered, not sent raw.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bucketgate"))
        .args(["bucket", "show", &bobs])
        .env("BUCKETGATE_API", &api.server.admin_endpoint)
        .env("BUCKETGATE_ADMIN_TOKEN", &api.token)
        .env_remove("BUCKETGATE_ACCESS_KEY")
        .env_remove("BUCKETGATE_SECRET_KEY")
        .output()
        .await
        .expect("run the CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout:?}"
    );
    assert!(stdout.contains("pwn\\u{1b}]0;owned\\u{7}ed"), "{stdout}");

    // The owner unlinks them.
    let (s, rec) = api
        .call(
            &bob.bearer,
            Method::DELETE,
            &format!("/api/buckets/{bobs}/domain"),
            Some(json!({"domain": "LOCALHOST."})),
        )
        .await;
    assert_eq!(s, 200, "{rec}");
    assert_eq!(
        rec["domains"],
        json!(["assets.example.test", "s3.example.test"])
    );
    api.server.assert_no_panics();
}

/// Writes, with the server stopped, a domain link and a description straight into redb.
fn seed_record(server: &TestServer, bucket: &str, host: &str, description: &str) {
    use redb::ReadableDatabase;
    let db = redb::Database::open(server.data_dir().join("meta.redb")).expect("open meta.redb");
    let mut rec: Value = {
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(bucketgate::meta::BUCKETS).unwrap();
        let v = t.get(bucket).unwrap().expect("bucket record");
        serde_json::from_slice(v.value()).unwrap()
    };
    rec["domains"].as_array_mut().unwrap().push(json!(host));
    rec["description"] = json!(description);
    let bytes = serde_json::to_vec(&rec).unwrap();
    let txn = db.begin_write().unwrap();
    {
        txn.open_table(bucketgate::meta::BUCKETS)
            .unwrap()
            .insert(bucket, bytes.as_slice())
            .unwrap();
        txn.open_table(bucketgate::meta::DOMAINS)
            .unwrap()
            .insert(host, bucket)
            .unwrap();
    }
    txn.commit().unwrap();
}

/// Host names compare case-insensitively: virtual-host style under the base domain, website
/// hosts under the website base domain, and linked domains.
#[tokio::test]
async fn host_matching_ignores_case() {
    use aws_sdk_s3::types::{BucketCannedAcl, IndexDocument, WebsiteConfiguration};
    let api = Api::start("").await;
    let server = &api.server;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let port = server.s3_addr.port();
    let mixed = |s: &str| -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    };

    let host = format!("{}.S3.LocalHost:{port}", mixed(&bucket));
    let put = server
        .signed("PUT", "/index.html")
        .host(&host)
        .body("<h1>hi</h1>")
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let got = server.signed("GET", "/index.html").host(&host).send().await;
    assert_eq!((got.status, got.text().as_str()), (200, "<h1>hi</h1>"));
    let trailing_dot = format!("{bucket}.s3.localhost.:{port}");
    let got = server
        .signed("GET", "/index.html")
        .host(&trailing_dot)
        .send()
        .await;
    assert_eq!((got.status, got.text().as_str()), (200, "<h1>hi</h1>"));

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
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_acl()
        .bucket(&bucket)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let (s, v) = api.link(&api.token, &bucket, "assets.example.test").await;
    assert_eq!(s, 200, "{v}");
    for host in [
        format!("{}.Web.LocalHost:{port}", mixed(&bucket)),
        format!("Assets.EXAMPLE.test:{port}"),
        format!("assets.example.test.:{port}"),
    ] {
        let page = server.raw("GET", "/").host(&host).send().await;
        assert_eq!(
            (page.status, page.text().as_str()),
            (200, "<h1>hi</h1>"),
            "{host}"
        );
    }
}

#[tokio::test]
async fn user_ids_must_be_safe_path_segments() {
    let api = Api::start("").await;
    let long = "a".repeat(65);
    for id in [
        ".", "..", "", "a/b", "%2e%2e", "a%b", "-rf", ".hidden", "a b", "a\u{1b}b", "Alice", &long,
    ] {
        assert_error(
            &api.admin(Method::POST, "/api/users", Some(json!({ "id": id })))
                .await,
            400,
            "InvalidUserId",
        );
    }
    let (s, v) = api.admin(Method::GET, "/api/users", None).await;
    assert_eq!((s, &v["users"]), (200, &json!([])), "{v}");
    for id in [
        "alice",
        "bob.smith",
        "carol@example.com",
        "d_7-x",
        &"a".repeat(64),
    ] {
        let (s, v) = api
            .admin(Method::POST, "/api/users", Some(json!({ "id": id })))
            .await;
        assert_eq!(s, 201, "{id}: {v}");
        let (s, v) = api
            .admin(Method::GET, &format!("/api/users/{id}"), None)
            .await;
        assert_eq!((s, v["id"].as_str()), (200, Some(id)), "{v}");
    }
}

/// Free-text fields refuse control characters (an OSC title change, a CSI repaint, a C1 CSI);
/// an object key may hold them (S3 allows it) and the CLI renders them escaped.
#[tokio::test]
async fn free_text_refuses_control_characters_and_the_cli_escapes_them() {
    let api = Api::start("").await;
    let name = bucket_name();
    for (field, text) in [
        ("description", "x\u{1b}]0;owned\u{7}"),
        ("description", "line\nbreak"),
        ("description", "c1 \u{9b}2J"),
        ("description", "del\u{7f}"),
        ("encryption", "AES256\u{1b}[2J"),
    ] {
        let got = api
            .admin(
                Method::POST,
                "/api/buckets",
                Some(json!({ "name": name, field: text })),
            )
            .await;
        assert_error(&got, 400, "InvalidArgument");
        let msg = got.1["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(&format!("{field}:")), "{msg}");
    }
    let (s, v) = api
        .admin(
            Method::POST,
            "/api/buckets",
            Some(json!({ "name": name, "description": "Photos — 2026 ✓" })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let got = api
        .admin(
            Method::PATCH,
            &format!("/api/buckets/{name}"),
            Some(json!({ "description": "\u{1b}[31mred" })),
        )
        .await;
    assert_error(&got, 400, "InvalidArgument");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("description:")
    );
    let got = api
        .admin(
            Method::POST,
            "/api/users",
            Some(json!({ "id": "erin", "name": "Erin\u{1b}]0;x\u{7}" })),
        )
        .await;
    assert_error(&got, 400, "InvalidArgument");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("name:")
    );
    let (s, v) = api
        .admin(Method::GET, &format!("/api/buckets/{name}"), None)
        .await;
    assert_eq!(
        (s, v["description"].as_str()),
        (200, Some("Photos — 2026 ✓"))
    );

    let key = "evil\u{1b}]0;owned\u{7}\u{9b}2J.txt";
    api.server
        .client()
        .put_object()
        .bucket(&name)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bucketgate"))
        .args(["object", "ls", &name])
        .env("BUCKETGATE_API", &api.server.admin_endpoint)
        .env("BUCKETGATE_ADMIN_TOKEN", &api.token)
        .env_remove("BUCKETGATE_ACCESS_KEY")
        .env_remove("BUCKETGATE_SECRET_KEY")
        .output()
        .await
        .expect("run the CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        !stdout.chars().any(|c| c.is_control() && c != '\n'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("evil\\u{1b}]0;owned\\u{7}\\u{9b}2J.txt"),
        "{stdout}"
    );
}
