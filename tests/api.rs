//! The control-plane REST API on the admin listener, driven over HTTP against the real binary;
//! the S3 side of tenancy, quotas, public access and presigned URLs checked with the AWS SDK
//! and plain reqwest.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A server plus an HTTP client for its API.
struct Api {
    server: TestServer,
    token: String,
    http: reqwest::Client,
}

/// A user with an access key.
struct User {
    id: String,
    access_key: String,
    secret_key: String,
}

impl User {
    fn bearer(&self) -> String {
        format!("{}:{}", self.access_key, self.secret_key)
    }
}

impl Api {
    async fn start() -> Api {
        let server = TestServer::start().await;
        // Generated on first start (the test process may also pass one through the environment).
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

    fn admin(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    fn with(&self, bearer: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(bearer)
    }

    /// Creates a user and a key for them.
    async fn user(&self, id: &str) -> User {
        let (s, _) = send(
            self.admin(Method::POST, "/api/users")
                .json(&json!({"id": id})),
        )
        .await;
        assert_eq!(s, 201);
        let (s, key) = send(self.admin(Method::POST, &format!("/api/users/{id}/keys"))).await;
        assert_eq!(s, 201, "{key}");
        User {
            id: id.to_owned(),
            access_key: key["accessKey"].as_str().unwrap().to_owned(),
            secret_key: key["secretKey"].as_str().unwrap().to_owned(),
        }
    }

    async fn create_bucket(&self, bearer: &str, body: Value) -> Value {
        let (s, v) = send(self.with(bearer, Method::POST, "/api/buckets").json(&body)).await;
        assert_eq!(s, 201, "{v}");
        v
    }

    async fn upload(&self, bearer: &str, bucket: &str, key: &str, data: Vec<u8>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("key", key.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(data).file_name("upload.bin"),
            );
        send(
            self.with(
                bearer,
                Method::POST,
                &format!("/api/buckets/{bucket}/objects"),
            )
            .multipart(form),
        )
        .await
    }

    async fn stats(&self, bucket: &str) -> Value {
        let (s, v) = send(self.admin(Method::GET, &format!("/api/buckets/{bucket}/stats"))).await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

/// Sends and returns the status and JSON body (null when there is none).
async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("API request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }))
    };
    (status, v)
}

#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(got.1["error"]["message"].is_string(), "{}", got.1);
}

#[tokio::test]
async fn bucket_routes_happy_path() {
    let api = Api::start().await;
    let name = bucket_name();
    let created = api
        .create_bucket(
            &api.token,
            json!({"name": name, "description": "d1", "maxSizeBytes": 5000}),
        )
        .await;
    assert_eq!(created["bucket"]["name"], name.as_str());
    assert_eq!(created["bucket"]["owner"], "root");
    assert_eq!(created["bucket"]["maxSizeBytes"], 5000);
    let conn = &created["connection"];
    assert_eq!(conn["endpoint"], api.server.s3_endpoint.as_str());
    assert_eq!(conn["bucket"], name.as_str());
    assert_eq!(conn["accessKey"], ROOT_ACCESS_KEY);
    assert_eq!(conn["pathStyle"], true);
    assert!(conn.get("secretKey").is_none(), "no new key, no secret");

    let (s, list) = send(api.admin(Method::GET, "/api/buckets")).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![name.as_str()]);
    assert_eq!(list["buckets"][0]["usage"]["objects"], 0);

    let path = format!("/api/buckets/{name}");
    let (s, b) = send(api.admin(Method::GET, &path)).await;
    assert_eq!((s, b["description"].as_str()), (200, Some("d1")));

    let (s, b) = send(
        api.admin(Method::PATCH, &path)
            .json(&json!({"description": null, "maxSizeBytes": 9000, "publicRead": true})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["description"], Value::Null);
    assert_eq!(
        (b["maxSizeBytes"].as_u64(), b["publicRead"].as_bool()),
        (Some(9000), Some(true))
    );

    for action in ["start", "stop"] {
        let (s, v) = send(api.admin(Method::POST, &format!("{path}/{action}"))).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("running")), "{v}");
    }
    s3_put(
        &api.server,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        &name,
        "a",
        vec![7; 100],
    )
    .await
    .unwrap();
    let st = api.stats(&name).await;
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(1), Some(100)),
        "{st}"
    );
    assert_eq!(st["maxSizeBytes"], 9000);
    let (s, synced) = send(api.admin(Method::POST, &format!("{path}/sync"))).await;
    assert_eq!(s, 200);
    assert_eq!(synced, st);

    let (s, b) = send(
        api.admin(Method::POST, &format!("{path}/domain"))
            .json(&json!({"domain": "Assets.Example.COM"})),
    )
    .await;
    assert_eq!(
        (s, &b["domains"]),
        (200, &json!(["assets.example.com"])),
        "{b}"
    );
    let other = bucket_name();
    api.create_bucket(&api.token, json!({ "name": other }))
        .await;
    let taken = send(
        api.admin(Method::POST, &format!("/api/buckets/{other}/domain"))
            .json(&json!({"domain": "assets.example.com"})),
    )
    .await;
    assert_error(&taken, 409, "DomainInUse");
    let (s, b) = send(api.admin(Method::DELETE, &format!("{path}/domain"))).await;
    assert_eq!((s, &b["domains"]), (200, &json!([])), "{b}");

    assert_error(
        &send(api.admin(Method::DELETE, &path)).await,
        409,
        "BucketNotEmpty",
    );
    let (s, _) = send(api.admin(Method::DELETE, &format!("{path}/objects/a"))).await;
    assert_eq!(s, 204);
    let (s, _) = send(api.admin(Method::DELETE, &path)).await;
    assert_eq!(s, 204);
    assert_error(
        &send(api.admin(Method::GET, &path)).await,
        404,
        "NoSuchBucket",
    );
    assert_error(
        &send(api.admin(Method::GET, "/api/nothing-here")).await,
        404,
        "NoSuchRoute",
    );
    assert_error(
        &send(api.admin(Method::PUT, "/api/buckets")).await,
        405,
        "MethodNotAllowed",
    );
    let dup = send(
        api.admin(Method::POST, "/api/buckets")
            .json(&json!({ "name": other })),
    )
    .await;
    assert_eq!(dup.0, 409, "{}", dup.1);
    api.server.assert_no_panics();
}

#[tokio::test]
async fn object_routes_happy_path() {
    let api = Api::start().await;
    let name = bucket_name();
    api.create_bucket(&api.token, json!({ "name": name })).await;
    let data = pattern(1, 0, 300_000);
    let (s, up) = api
        .upload(&api.token, &name, "dir/data one.bin", data.clone())
        .await;
    assert_eq!(s, 201, "{up}");
    assert_eq!(up["objects"][0]["key"], "dir/data one.bin");
    assert_eq!(up["objects"][0]["size"], 300_000);
    assert_eq!(up["objects"][0]["etag"], md5_hex(&data).as_str());
    for k in ["dir/b.txt", "top.txt"] {
        let (s, _) = api
            .upload(&api.token, &name, k, k.as_bytes().to_vec())
            .await;
        assert_eq!(s, 201);
    }
    // A file part without a key field is stored under its file name.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("named.txt"),
    );
    let (s, up) = send(
        api.admin(Method::POST, &format!("/api/buckets/{name}/objects"))
            .multipart(form),
    )
    .await;
    assert_eq!(
        (s, up["objects"][0]["key"].as_str()),
        (201, Some("named.txt")),
        "{up}"
    );

    let base = format!("/api/buckets/{name}/objects");
    let (s, l) = send(api.admin(Method::GET, &format!("{base}?delimiter=/"))).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["commonPrefixes"], json!(["dir/"]));
    let keys: Vec<&str> = l["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["named.txt", "top.txt"]);
    let (s, l) = send(api.admin(Method::GET, &format!("{base}?prefix=dir/&maxKeys=1"))).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["objects"][0]["key"], "dir/b.txt");
    assert_eq!(l["isTruncated"], true);
    let token = l["nextContinuationToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let (s, l2) = send(
        api.admin(Method::GET, &base)
            .query(&[("prefix", "dir/"), ("continuationToken", token.as_str())]),
    )
    .await;
    assert_eq!(s, 200, "{l2}");
    assert_eq!(l2["objects"][0]["key"], "dir/data one.bin", "{l2}");
    assert_eq!(l2["isTruncated"], false);

    let resp = api
        .admin(Method::GET, &format!("{base}/dir/data%20one.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["content-length"], "300000");
    assert_eq!(h["etag"].to_str().unwrap(), quoted_md5(&data));
    assert!(h.contains_key("content-type") && h.contains_key("last-modified"));
    assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_slice());
    let resp = api
        .admin(Method::GET, &format!("{base}/top.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/plain");

    for url in [
        format!("{base}/dir/b.txt/metadata"),
        format!("{base}/dir/b.txt?metadata"),
    ] {
        let (s, m) = send(api.admin(Method::GET, &url)).await;
        assert_eq!(s, 200, "{url}: {m}");
        assert_eq!(
            (m["key"].as_str(), m["size"].as_u64()),
            (Some("dir/b.txt"), Some(9)),
            "{m}"
        );
        assert_eq!(m["etag"], md5_hex(b"dir/b.txt").as_str());
        assert_eq!(m["tags"], json!({}), "{m}");
    }
    // Tags set through S3 show in the metadata.
    api.server
        .client()
        .put_object_tagging()
        .bucket(&name)
        .key("dir/b.txt")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("team")
                        .value("blue")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (s, m) = send(api.admin(Method::GET, &format!("{base}/dir/b.txt?metadata"))).await;
    assert_eq!((s, &m["tags"]), (200, &json!({"team": "blue"})), "{m}");
    assert_error(
        &send(api.admin(Method::GET, &format!("{base}/missing"))).await,
        404,
        "NoSuchKey",
    );

    let (s, _) = send(api.admin(Method::DELETE, &format!("{base}/top.txt"))).await;
    assert_eq!(s, 204);
    assert_error(
        &send(api.admin(Method::DELETE, &format!("{base}/top.txt"))).await,
        404,
        "NoSuchKey",
    );
    let bad = send(api.admin(Method::GET, &format!("{base}/a/../b"))).await;
    assert!(bad.0 == 400 || bad.0 == 404, "{bad:?}");
    api.server.assert_no_panics();
}

#[tokio::test]
async fn users_and_keys() {
    let api = Api::start().await;
    let (s, u) = send(
        api.admin(Method::POST, "/api/users")
            .json(&json!({"id": "alice", "name": "Alice A", "team": "blue"})),
    )
    .await;
    assert_eq!(
        (s, u["name"].as_str(), u["team"].as_str()),
        (201, Some("Alice A"), Some("blue")),
        "{u}"
    );
    assert_error(
        &send(
            api.admin(Method::POST, "/api/users")
                .json(&json!({"id": "alice"})),
        )
        .await,
        409,
        "UserAlreadyExists",
    );
    let (s, l) = send(api.admin(Method::GET, "/api/users")).await;
    assert_eq!((s, l["users"].as_array().map(Vec::len)), (200, Some(1)));
    let (s, _) = send(api.admin(Method::GET, "/api/users/alice")).await;
    assert_eq!(s, 200);

    let (s, k) = send(api.admin(Method::POST, "/api/users/alice/keys")).await;
    assert_eq!(s, 201, "{k}");
    let alice = User {
        id: "alice".into(),
        access_key: k["accessKey"].as_str().unwrap().into(),
        secret_key: k["secretKey"].as_str().unwrap().into(),
    };
    let (s, keys) = send(api.with(&alice.bearer(), Method::GET, "/api/users/alice/keys")).await;
    assert_eq!(s, 200);
    assert_eq!(keys["keys"][0]["accessKey"], alice.access_key.as_str());
    assert!(keys["keys"][0].get("secretKey").is_none());
    // A user reads themselves, creates keys for themselves, and touches no other user.
    assert_eq!(
        send(api.with(&alice.bearer(), Method::GET, "/api/users/alice"))
            .await
            .0,
        200
    );
    assert_error(
        &send(api.with(&alice.bearer(), Method::GET, "/api/users")).await,
        403,
        "AccessDenied",
    );
    assert_error(
        &send(
            api.with(&alice.bearer(), Method::POST, "/api/users")
                .json(&json!({"id": "x"})),
        )
        .await,
        403,
        "AccessDenied",
    );
    let bob = api.user("bob").await;
    assert_error(
        &send(api.with(&alice.bearer(), Method::GET, "/api/users/bob/keys")).await,
        404,
        "NoSuchUser",
    );
    let path = format!("/api/users/bob/keys/{}", bob.access_key);
    assert_error(
        &send(api.with(&alice.bearer(), Method::DELETE, &path)).await,
        404,
        "NoSuchUser",
    );
    let (s, k2) = send(api.with(&alice.bearer(), Method::POST, "/api/users/alice/keys")).await;
    assert_eq!(s, 201);
    let second = format!(
        "{}:{}",
        k2["accessKey"].as_str().unwrap(),
        k2["secretKey"].as_str().unwrap()
    );

    let path = format!("/api/users/alice/keys/{}", alice.access_key);
    let (s, v) = send(
        api.admin(Method::PATCH, &path)
            .json(&json!({"disabled": true})),
    )
    .await;
    assert_eq!((s, v["disabled"].as_bool()), (200, Some(true)), "{v}");
    assert_error(
        &send(api.with(&alice.bearer(), Method::GET, "/api/buckets")).await,
        401,
        "Unauthorized",
    );
    let (s, _) = send(
        api.with(&second, Method::PATCH, &path)
            .json(&json!({"disabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        send(api.with(&alice.bearer(), Method::GET, "/api/buckets"))
            .await
            .0,
        200
    );
    let (s, _) = send(api.with(&second, Method::DELETE, &path)).await;
    assert_eq!(s, 204);
    assert_error(
        &send(api.with(&alice.bearer(), Method::GET, "/api/buckets")).await,
        401,
        "Unauthorized",
    );
    assert_error(
        &send(api.admin(Method::DELETE, &path)).await,
        404,
        "NoSuchAccessKey",
    );

    let bucket = bucket_name();
    api.create_bucket(&second, json!({ "name": bucket })).await;
    assert_error(
        &send(api.admin(Method::DELETE, "/api/users/alice")).await,
        409,
        "UserOwnsBuckets",
    );
    assert_error(
        &send(api.with(&second, Method::DELETE, "/api/users/alice")).await,
        403,
        "AccessDenied",
    );
    assert_eq!(
        send(api.admin(Method::DELETE, &format!("/api/buckets/{bucket}")))
            .await
            .0,
        204
    );
    assert_eq!(
        send(api.admin(Method::DELETE, "/api/users/alice")).await.0,
        204
    );
    assert_error(
        &send(api.admin(Method::GET, "/api/users/alice")).await,
        404,
        "NoSuchUser",
    );
    assert_error(
        &send(api.with(&second, Method::GET, "/api/buckets")).await,
        401,
        "Unauthorized",
    );
    let _ = bob.id;
}

#[tokio::test]
async fn bad_input_and_credentials() {
    let api = Api::start().await;
    let post = |body: &'static str| {
        api.admin(Method::POST, "/api/buckets")
            .header("content-type", "application/json")
            .body(body)
    };
    assert_error(&send(post("{")).await, 400, "InvalidJson");
    assert_error(&send(post("[]")).await, 400, "InvalidJson");
    let unknown = send(post(r#"{"name": "okname", "colour": "red"}"#)).await;
    assert_error(&unknown, 400, "InvalidJson");
    assert!(
        unknown.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{}",
        unknown.1
    );
    let typed = send(post(r#"{"name": "okname", "maxSizeBytes": -1}"#)).await;
    assert!(
        typed.1["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("maxSizeBytes"),
        "{}",
        typed.1
    );
    for bad in [
        "Upper",
        "ab",
        "a_b",
        "-ab",
        "a..b",
        "192.168.1.1x-",
        &"x".repeat(64),
    ] {
        let r = send(
            api.admin(Method::POST, "/api/buckets")
                .json(&json!({ "name": bad })),
        )
        .await;
        assert_error(&r, 400, "InvalidBucketName");
        assert!(
            r.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("name"),
            "{}",
            r.1
        );
    }
    let r = send(
        api.admin(Method::POST, "/api/buckets")
            .json(&json!({"name": "okname", "owner": "nobody"})),
    )
    .await;
    assert!(
        r.0 == 400
            && r.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("owner"),
        "{r:?}"
    );
    let r = send(
        api.admin(Method::POST, "/api/users")
            .json(&json!({"id": "bad id!"})),
    )
    .await;
    assert!(
        r.0 == 400 && r.1["error"]["message"].as_str().unwrap().starts_with("id"),
        "{r:?}"
    );
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(100_000));
    let r = send(
        api.admin(Method::POST, "/api/buckets")
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_error(&r, 413, "PayloadTooLarge");

    let name = bucket_name();
    api.create_bucket(&api.token, json!({ "name": name })).await;
    let r = send(api.admin(
        Method::GET,
        &format!("/api/buckets/{name}/objects?maxKeys=0"),
    ))
    .await;
    assert!(
        r.0 == 400
            && r.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("maxKeys"),
        "{r:?}"
    );
    let r = send(api.admin(
        Method::GET,
        &format!("/api/buckets/{name}/objects?maxKeys=abc"),
    ))
    .await;
    assert!(
        r.0 == 400
            && r.1["error"]["message"]
                .as_str()
                .unwrap()
                .contains("maxKeys"),
        "{r:?}"
    );
    let r = send(
        api.admin(
            Method::POST,
            &format!("/api/buckets/{name}/presigned-download"),
        )
        .json(&json!({"key": "k", "expiresIn": 604_801})),
    )
    .await;
    assert!(
        r.0 == 400
            && r.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("expiresIn"),
        "{r:?}"
    );
    let r = send(
        api.admin(Method::PATCH, &format!("/api/buckets/{name}"))
            .json(&json!({"grants": [{"accessKey": "NOPE", "level": "read"}]})),
    )
    .await;
    assert!(
        r.0 == 400
            && r.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("grants[0].accessKey"),
        "{r:?}"
    );
    let r = send(
        api.admin(Method::POST, &format!("/api/buckets/{name}/domain"))
            .json(&json!({"domain": "http://x"})),
    )
    .await;
    assert!(
        r.0 == 400
            && r.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("domain"),
        "{r:?}"
    );

    let url = api.url("/api/buckets");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic abc"),
        Some("Bearer "),
        Some(&format!("Bearer {ROOT_ACCESS_KEY}:wrong")[..]),
        Some("Bearer NOKEY:secret"),
    ] {
        let mut req = api.http.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert!(resp.headers().contains_key("www-authenticate"));
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "Unauthorized");
    }
    // Root's key pair acts as the admin.
    let root = format!("{ROOT_ACCESS_KEY}:{ROOT_SECRET_KEY}");
    assert_eq!(
        send(api.with(&root, Method::GET, "/api/users")).await.0,
        200
    );
    api.server.assert_alive().await;
}

async fn s3_put(
    server: &TestServer,
    ak: &str,
    sk: &str,
    bucket: &str,
    key: &str,
    data: Vec<u8>,
) -> Result<(), (u16, String)> {
    server
        .client_with(ak, sk)
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| status_code(&e))
}

#[tokio::test]
async fn users_see_only_their_buckets() {
    let api = Api::start().await;
    let alice = api.user("alice").await;
    let bob = api.user("bob").await;
    let a_bucket = bucket_name();
    let created = api
        .create_bucket(&alice.bearer(), json!({ "name": a_bucket }))
        .await;
    assert_eq!(created["bucket"]["owner"], "alice");
    assert_eq!(
        created["connection"]["accessKey"],
        alice.access_key.as_str()
    );
    assert!(created["connection"].get("secretKey").is_none());
    let b_bucket = bucket_name();
    api.create_bucket(&bob.bearer(), json!({ "name": b_bucket }))
        .await;
    let r = send(
        api.with(&bob.bearer(), Method::POST, "/api/buckets")
            .json(&json!({"name": bucket_name(), "owner": "alice"})),
    )
    .await;
    assert!(
        r.0 == 400
            && r.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("owner"),
        "{r:?}"
    );

    let (s, l) = send(api.with(&bob.bearer(), Method::GET, "/api/buckets")).await;
    assert_eq!(s, 200, "{l}");
    let names: Vec<&str> = l["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![b_bucket.as_str()]);
    let (s, l) = send(api.admin(Method::GET, "/api/buckets")).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["buckets"].as_array().unwrap().len(), 2);

    s3_put(
        &api.server,
        &alice.access_key,
        &alice.secret_key,
        &a_bucket,
        "secret.txt",
        b"hers".to_vec(),
    )
    .await
    .unwrap();
    let p = format!("/api/buckets/{a_bucket}");
    let bb = bob.bearer();
    for (method, path, body) in [
        (Method::GET, p.clone(), None),
        (Method::PATCH, p.clone(), Some(json!({"publicRead": true}))),
        (Method::DELETE, p.clone(), None),
        (Method::GET, format!("{p}/stats"), None),
        (Method::POST, format!("{p}/sync"), None),
        (Method::POST, format!("{p}/start"), None),
        (Method::GET, format!("{p}/objects"), None),
        (Method::GET, format!("{p}/objects/secret.txt"), None),
        (
            Method::GET,
            format!("{p}/objects/secret.txt?metadata"),
            None,
        ),
        (Method::DELETE, format!("{p}/objects/secret.txt"), None),
        (
            Method::POST,
            format!("{p}/presigned-download"),
            Some(json!({"key": "secret.txt"})),
        ),
        (
            Method::POST,
            format!("{p}/domain"),
            Some(json!({"domain": "bob.example.com"})),
        ),
        (Method::DELETE, format!("{p}/domain"), None),
    ] {
        let mut req = api.with(&bb, method.clone(), &path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        assert_error(&send(req).await, 404, "NoSuchBucket");
    }
    let (s, _) = api.upload(&bb, &a_bucket, "x", b"x".to_vec()).await;
    assert_eq!(s, 404);
    // Nothing changed for alice.
    let (s, got) = send(api.with(&alice.bearer(), Method::GET, &format!("{p}/objects"))).await;
    assert_eq!((s, got["objects"].as_array().map(Vec::len)), (200, Some(1)));

    // Over S3: AccessDenied, and ListBuckets shows each caller exactly their own.
    let bob_s3 = api.server.client_with(&bob.access_key, &bob.secret_key);
    assert_s3_err(
        bob_s3
            .get_object()
            .bucket(&a_bucket)
            .key("secret.txt")
            .send()
            .await,
        403,
        "AccessDenied",
    );
    assert_s3_err(
        bob_s3
            .put_object()
            .bucket(&a_bucket)
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "AccessDenied",
    );
    assert_s3_err(
        bob_s3.list_objects_v2().bucket(&a_bucket).send().await,
        403,
        "AccessDenied",
    );
    assert_s3_err(
        bob_s3.delete_bucket().bucket(&a_bucket).send().await,
        403,
        "AccessDenied",
    );
    for (user, own) in [(&alice, &a_bucket), (&bob, &b_bucket)] {
        let out = api
            .server
            .client_with(&user.access_key, &user.secret_key)
            .list_buckets()
            .send()
            .await
            .unwrap();
        let names: Vec<String> = out
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect();
        assert_eq!(names, vec![own.clone()], "{}", user.id);
    }

    // An owner without a key gets one with the bucket; its secret is shown once and works.
    let (s, _) = send(
        api.admin(Method::POST, "/api/users")
            .json(&json!({"id": "carol"})),
    )
    .await;
    assert_eq!(s, 201);
    let c_bucket = bucket_name();
    let created = api
        .create_bucket(&api.token, json!({"name": c_bucket, "owner": "carol"}))
        .await;
    let conn = &created["connection"];
    let (ak, sk) = (
        conn["accessKey"].as_str().unwrap(),
        conn["secretKey"].as_str().expect("new secret"),
    );
    s3_put(&api.server, ak, sk, &c_bucket, "k", b"carol".to_vec())
        .await
        .unwrap();
    let again = api
        .create_bucket(&api.token, json!({"name": bucket_name(), "owner": "carol"}))
        .await;
    assert_eq!(again["connection"]["accessKey"], ak);
    assert!(again["connection"].get("secretKey").is_none());
}

#[tokio::test]
async fn quotas_hold_over_s3_and_the_api() {
    let api = Api::start().await;
    let name = bucket_name();
    api.create_bucket(&api.token, json!({"name": name, "maxSizeBytes": 1000}))
        .await;
    let (ak, sk) = (ROOT_ACCESS_KEY, ROOT_SECRET_KEY);

    // A single PUT over the quota: 403 QuotaExceeded, nothing left behind.
    assert_eq!(
        s3_put(&api.server, ak, sk, &name, "big", vec![1; 2000]).await,
        Err((403, "QuotaExceeded".into()))
    );
    let st = api.stats(&name).await;
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(0), Some(0)),
        "{st}"
    );
    s3_put(&api.server, ak, sk, &name, "small", vec![1; 600])
        .await
        .unwrap();
    // The API's streamed upload is cut off at the remaining quota.
    let (s, v) = api.upload(&api.token, &name, "form", vec![2; 500]).await;
    assert_error(&(s, v), 403, "QuotaExceeded");

    // Multipart: a part that would cross the quota is refused.
    let s3 = api.server.client();
    let up = s3
        .create_multipart_upload()
        .bucket(&name)
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket(&name)
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(vec![3u8; 300]))
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.upload_part()
            .bucket(&name)
            .key("mp")
            .upload_id(id)
            .part_number(2)
            .body(ByteStream::from(vec![3u8; 200]))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    let st = api.stats(&name).await;
    assert_eq!(
        (st["bytes"].as_u64(), st["pendingBytes"].as_u64()),
        (Some(600), Some(300)),
        "{st}"
    );
    assert!(part.e_tag().is_some());
    s3.abort_multipart_upload()
        .bucket(&name)
        .key("mp")
        .upload_id(id)
        .send()
        .await
        .unwrap();

    let st = api.stats(&name).await;
    assert_eq!(
        (
            st["objects"].as_u64(),
            st["bytes"].as_u64(),
            st["pendingBytes"].as_u64()
        ),
        (Some(1), Some(600), Some(0)),
        "{st}"
    );
    assert_eq!(st["sizeUsedPercent"], 60.0);
    let (s, l) = send(api.admin(Method::GET, &format!("/api/buckets/{name}/objects"))).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["objects"].as_array().map(Vec::len), Some(1), "{l}");

    // Concurrent PUTs never exceed the quota together.
    let conc = bucket_name();
    api.create_bucket(&api.token, json!({"name": conc, "maxSizeBytes": 1000}))
        .await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let client = api.server.client();
        let bucket = conc.clone();
        tasks.push(tokio::spawn(async move {
            client
                .put_object()
                .bucket(bucket)
                .key(format!("k{i}"))
                .body(ByteStream::from(vec![9u8; 200]))
                .send()
                .await
                .map_err(|e| (status_code(&e), dbg_err(&e)))
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            // Every refusal is the quota's, not an error of another kind.
            Err((code, dbg)) => assert_eq!(code, (403, "QuotaExceeded".to_owned()), "{dbg}"),
        }
    }
    assert!(
        (1..=5).contains(&ok),
        "{ok} PUTs of 200 bytes fit a 1000-byte quota"
    );
    let st = api.stats(&conc).await;
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(ok), Some(ok * 200)),
        "{st}"
    );
    let (s, synced) = send(api.admin(Method::POST, &format!("/api/buckets/{conc}/sync"))).await;
    assert_eq!(s, 200);
    assert_eq!(
        (synced["objects"].as_u64(), synced["bytes"].as_u64()),
        (Some(ok), Some(ok * 200))
    );

    // Raising the quota lets writes through again.
    let (s, _) = send(
        api.admin(Method::PATCH, &format!("/api/buckets/{name}"))
            .json(&json!({"maxSizeBytes": null})),
    )
    .await;
    assert_eq!(s, 200);
    s3_put(&api.server, ak, sk, &name, "big", vec![1; 2000])
        .await
        .unwrap();
    api.server.assert_no_panics();
}

#[tokio::test]
async fn public_buckets_and_presigned_urls() {
    let api = Api::start().await;
    let name = bucket_name();
    api.create_bucket(&api.token, json!({"name": name, "publicRead": true}))
        .await;
    let (s, _) = api
        .upload(&api.token, &name, "pub.txt", b"public bytes".to_vec())
        .await;
    assert_eq!(s, 201);
    let anon = http_client();
    let object_url = format!("{}/{name}/pub.txt", api.server.s3_endpoint);
    let list_url = format!("{}/{name}?list-type=2", api.server.s3_endpoint);
    let get = anon.get(&object_url).send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.text().await.unwrap(), "public bytes");
    assert_eq!(anon.get(&list_url).send().await.unwrap().status(), 403);
    let path = format!("/api/buckets/{name}");
    let (s, b) = send(
        api.admin(Method::PATCH, &path)
            .json(&json!({"publicList": true})),
    )
    .await;
    assert_eq!((s, b["publicList"].as_bool()), (200, Some(true)), "{b}");
    let listing = anon.get(&list_url).send().await.unwrap();
    assert_eq!(listing.status(), 200);
    assert!(listing.text().await.unwrap().contains("<Key>pub.txt</Key>"));
    let (s, b) = send(
        api.admin(Method::PATCH, &path)
            .json(&json!({"publicRead": false})),
    )
    .await;
    assert_eq!((s, b["publicRead"].as_bool()), (200, Some(false)), "{b}");
    assert_eq!(anon.get(&object_url).send().await.unwrap().status(), 403);

    // Presigned URLs issued by the API work with a plain HTTP client, for admin and user keys.
    let dave = api.user("dave").await;
    let private = bucket_name();
    api.create_bucket(&dave.bearer(), json!({ "name": private }))
        .await;
    for (bearer, key) in [
        (dave.bearer(), "dir/with space+ü.txt"),
        (api.token.clone(), "plain.bin"),
    ] {
        let body = json!({"key": key, "expiresIn": 600});
        let (s, up) = send(
            api.with(
                &bearer,
                Method::POST,
                &format!("/api/buckets/{private}/presigned-upload"),
            )
            .json(&body),
        )
        .await;
        assert_eq!(s, 200, "{up}");
        assert_eq!(up["method"], "PUT");
        let expires = time::OffsetDateTime::parse(
            up["expiresAt"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let left = expires - time::OffsetDateTime::now_utc();
        assert!(
            left.whole_seconds() > 590 && left.whole_seconds() <= 600,
            "{left}"
        );
        let put = anon
            .put(up["url"].as_str().unwrap())
            .body(format!("data of {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
        let (s, down) = send(
            api.with(
                &bearer,
                Method::POST,
                &format!("/api/buckets/{private}/presigned-download"),
            )
            .json(&json!({ "key": key })),
        )
        .await;
        assert_eq!(s, 200, "{down}");
        let got = anon
            .get(down["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.text().await.unwrap(), format!("data of {key}"));
    }
    assert_eq!(
        anon.get(format!("{}/{private}/plain.bin", api.server.s3_endpoint))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let api = Api::start().await;
    let resp = api
        .http
        .get(api.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    assert!(doc["components"]["securitySchemes"]["adminToken"].is_object());
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.push((
                method.to_uppercase(),
                path.clone(),
                op["security"] == json!([]),
            ));
        }
    }
    let mut registered: Vec<(String, String)> = bucketgate::api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_uppercase(), bucketgate::api::openapi::openapi_path(p)))
        .collect();
    registered.sort();
    let mut doc_routes: Vec<(String, String)> = documented
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    doc_routes.sort();
    assert_eq!(doc_routes, registered);

    // Every documented operation is served: without credentials it answers 401 (public ones 200),
    // never the router's 404/405.
    for (method, path, public) in documented {
        let concrete = path
            .replace("{name}", "some-bucket")
            .replace("{key}", "a/b.txt")
            .replace("{id}", "someone")
            .replace("{accessKey}", "AKEXAMPLE")
            .replace("{uploadId}", "some-upload")
            .replace("{path}", "app.css");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let resp = api
            .http
            .request(m, api.url(&concrete))
            .send()
            .await
            .unwrap();
        let expected = if public { 200 } else { 401 };
        assert_eq!(resp.status().as_u16(), expected, "{method} {concrete}");
    }
    let page = api.http.get(api.url("/")).send().await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn quotas_refuse_streamed_chunked_puts_copies_and_object_counts() {
    let api = Api::start().await;
    let name = bucket_name();
    api.create_bucket(
        &api.token,
        json!({"name": name, "maxSizeBytes": 4096, "maxObjects": 2}),
    )
    .await;
    let s3 = api.server.client();

    // A body streamed from a file: the SDK sends it aws-chunked with a signed trailer, the
    // decoded length is checked before any chunk is read.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, vec![5u8; 5000]).unwrap();
    assert_s3_err(
        s3.put_object()
            .bucket(&name)
            .key("chunked")
            .body(ByteStream::from_path(&path).await.unwrap())
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    let small = dir.path().join("small.bin");
    std::fs::write(&small, vec![6u8; 3000]).unwrap();
    s3.put_object()
        .bucket(&name)
        .key("src")
        .body(ByteStream::from_path(&small).await.unwrap())
        .send()
        .await
        .unwrap();

    // A copy is sized from its source: 3000 more bytes do not fit.
    assert_s3_err(
        s3.copy_object()
            .bucket(&name)
            .key("copy")
            .copy_source(format!("{name}/src"))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );

    // The object count limit holds independently of bytes.
    s3.put_object()
        .bucket(&name)
        .key("second")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.put_object()
            .bucket(&name)
            .key("third")
            .body(ByteStream::from_static(b"y"))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    let st = api.stats(&name).await;
    assert_eq!(
        (st["objects"].as_u64(), st["bytes"].as_u64()),
        (Some(2), Some(3001)),
        "{st}"
    );
    let listed = s3.list_objects_v2().bucket(&name).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(2));
    api.server.assert_no_panics();
}

#[tokio::test]
async fn creating_another_users_bucket_name_is_a_conflict_not_a_denial() {
    let api = Api::start().await;
    let alice = api.user("alice").await;
    let name = bucket_name();
    api.create_bucket(&api.token, json!({"name": name})).await;
    let err = api
        .server
        .client_with(&alice.access_key, &alice.secret_key)
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), (409, "BucketAlreadyExists".to_owned()));
}

#[tokio::test]
async fn stats_and_metrics_count_requests_and_bytes_per_bucket() {
    let api = Api::start().await;
    let name = bucket_name();
    api.create_bucket(&api.token, json!({"name": name})).await;
    let s3 = api.server.client();
    s3.put_object()
        .bucket(&name)
        .key("a")
        .body(ByteStream::from(vec![1u8; 1000]))
        .send()
        .await
        .unwrap();
    let got = s3.get_object().bucket(&name).key("a").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), 1000);
    assert_s3_err(
        s3.head_object().bucket(&name).key("missing").send().await,
        404,
        "NotFound",
    );
    // A HEAD's Content-Length is not counted as bytes sent.
    s3.head_object()
        .bucket(&name)
        .key("a")
        .send()
        .await
        .unwrap();

    let st = api.stats(&name).await;
    assert_eq!(st["requests"].as_u64(), Some(4), "{st}");
    assert_eq!(st["errors"].as_u64(), Some(1), "{st}");
    assert_eq!(st["bytesIn"].as_u64(), Some(1000), "{st}");
    assert_eq!(st["bytesOut"].as_u64(), Some(1000), "{st}");

    let metrics = http_client()
        .get(format!("{}/metrics", api.server.admin_endpoint))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "bucketgate_bucket_requests_total{{bucket=\"{name}\"}} 4"
        )),
        "{metrics}"
    );
}
