//! Bucket website documents and CORS rules set through the admin API (`PATCH
//! /api/buckets/{name}`), as the console's Settings page does: checked like the S3 operations,
//! shown by GET, and in effect on the S3 listener (website host, CORS preflight).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

struct Api {
    server: TestServer,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Api {
        let server = TestServer::start().await;
        let token = std::env::var("BUCKETGATE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| {
                std::fs::read_to_string(server.data_dir().join("admin-token"))
                    .expect("admin-token file")
                    .trim()
                    .to_owned()
            });
        Api {
            server,
            token,
            http: http_client(),
        }
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
            .request(method, format!("{}{path}", self.server.admin_endpoint))
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

    async fn patch(&self, bearer: &str, bucket: &str, body: Value) -> (u16, Value) {
        self.call(
            bearer,
            Method::PATCH,
            &format!("/api/buckets/{bucket}"),
            Some(body),
        )
        .await
    }

    async fn bucket(&self, bearer: &str) -> String {
        let name = bucket_name();
        let (s, v) = self
            .call(
                bearer,
                Method::POST,
                "/api/buckets",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        name
    }

    /// Creates a user with a key; returns the bearer `<access>:<secret>`.
    async fn user(&self, id: &str) -> String {
        let (s, v) = self
            .call(
                &self.token,
                Method::POST,
                "/api/users",
                Some(json!({"id": id})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let (s, key) = self
            .call(
                &self.token,
                Method::POST,
                &format!("/api/users/{id}/keys"),
                None,
            )
            .await;
        assert_eq!(s, 201, "{key}");
        format!(
            "{}:{}",
            key["accessKey"].as_str().unwrap(),
            key["secretKey"].as_str().unwrap()
        )
    }
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("text/html")
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn website_documents_set_through_the_api_are_served_on_the_website_host() {
    let api = Api::start().await;
    let bucket = api.bucket(&api.token).await;
    let s3 = api.server.client();
    put(&s3, &bucket, "home.html", "<h1>home</h1>").await;
    put(&s3, &bucket, "oops.html", "<h1>oops</h1>").await;

    let (s, v) = api
        .patch(
            &api.token,
            &bucket,
            json!({"publicRead": true,
                   "website": {"indexDocument": "home.html", "errorDocument": "oops.html"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["website"],
        json!({"indexDocument": "home.html", "errorDocument": "oops.html"})
    );
    let (_, shown) = api
        .call(
            &api.token,
            Method::GET,
            &format!("/api/buckets/{bucket}"),
            None,
        )
        .await;
    assert_eq!(shown["website"]["indexDocument"], "home.html");
    assert_eq!(shown["cors"], Value::Null);

    let host = format!("{bucket}.web.localhost");
    let http = reqwest::Client::builder()
        .resolve(&host, api.server.s3_addr)
        .build()
        .unwrap();
    let base = format!("http://{host}:{}", api.server.s3_addr.port());
    let root = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(root.text().await.unwrap(), "<h1>home</h1>");
    let missing = http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), "<h1>oops</h1>");

    // S3 sees the same record.
    let got = s3
        .get_bucket_website()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(got.index_document().unwrap().suffix(), "home.html");

    // null turns the website off.
    let (s, v) = api
        .patch(&api.token, &bucket, json!({"website": null}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["website"], Value::Null);
    let err = s3.get_bucket_website().bucket(&bucket).send().await;
    assert_s3_err(err, 404, "NoSuchWebsiteConfiguration");
    api.server.assert_no_panics();
}

#[tokio::test]
async fn cors_rules_set_through_the_api_answer_preflights() {
    let api = Api::start().await;
    let bucket = api.bucket(&api.token).await;
    let url = format!("{}/{bucket}/a.txt", api.server.s3_endpoint);
    let preflight = |method: &'static str| {
        api.http
            .request(Method::OPTIONS, &url)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };
    assert_eq!(preflight("PUT").await.unwrap().status(), 403);

    let rule = json!({"allowedOrigins": ["https://*.example.com"], "allowedMethods": ["GET", "PUT"],
        "allowedHeaders": ["*"], "exposeHeaders": ["ETag"], "maxAgeSeconds": 600});
    let (s, v) = api
        .patch(&api.token, &bucket, json!({"cors": [rule]}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["cors"], json!([rule]));

    let ok = preflight("PUT").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(ok.headers()["access-control-max-age"], "600");
    assert_eq!(preflight("DELETE").await.unwrap().status(), 403);

    let rules = api
        .server
        .client()
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        rules.cors_rules()[0].allowed_origins(),
        ["https://*.example.com"]
    );

    let (s, v) = api.patch(&api.token, &bucket, json!({"cors": null})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["cors"], Value::Null);
    assert_eq!(preflight("PUT").await.unwrap().status(), 403);
    api.server.assert_no_panics();
}

#[tokio::test]
async fn bad_website_and_cors_settings_name_their_field() {
    let api = Api::start().await;
    let bucket = api.bucket(&api.token).await;
    let rule = |patch: Value| {
        let mut r = json!({"allowedOrigins": ["*"], "allowedMethods": ["GET"]});
        r.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        r
    };
    let many: Vec<Value> = (0..101).map(|_| rule(json!({}))).collect();
    let cases = [
        (
            json!({"website": {"indexDocument": ""}}),
            "website.indexDocument",
        ),
        (
            json!({"website": {"indexDocument": "a/index.html"}}),
            "website.indexDocument",
        ),
        (
            json!({"website": {"indexDocument": "i\u{1}.html"}}),
            "website.indexDocument",
        ),
        (
            json!({"website": {"indexDocument": "index.html", "errorDocument": "e\n.html"}}),
            "website.errorDocument",
        ),
        (
            json!({"website": {"indexDocument": "x".repeat(1025)}}),
            "website.indexDocument",
        ),
        (json!({"cors": []}), "cors"),
        (json!({"cors": many}), "cors"),
        (
            json!({"cors": [rule(json!({"allowedMethods": ["PATCH"]}))]}),
            "cors[0].allowedMethods[0]",
        ),
        (
            json!({"cors": [rule(json!({"allowedMethods": []}))]}),
            "cors[0].allowedMethods",
        ),
        (
            json!({"cors": [rule(json!({"allowedOrigins": []}))]}),
            "cors[0].allowedOrigins",
        ),
        (
            json!({"cors": [rule(json!({"allowedOrigins": ["https://*.*.example.com"]}))]}),
            "cors[0].allowedOrigins[0]",
        ),
        (
            json!({"cors": [rule(json!({"allowedOrigins": ["example.com"]}))]}),
            "cors[0].allowedOrigins[0]",
        ),
        (
            json!({"cors": [rule(json!({})), rule(json!({"maxAgeSeconds": 86401}))]}),
            "cors[1].maxAgeSeconds",
        ),
        (
            json!({"cors": [rule(json!({"maxAgeSeconds": -1}))]}),
            "cors[0].maxAgeSeconds",
        ),
        (
            json!({"cors": [rule(json!({"allowedHeaders": ["bad header"]}))]}),
            "cors[0].allowedHeaders[0]",
        ),
        (
            json!({"cors": [rule(json!({"exposeHeaders": ["*"]}))]}),
            "cors[0].exposeHeaders[0]",
        ),
    ];
    for (body, field) in cases {
        let (s, v) = api.patch(&api.token, &bucket, body.clone()).await;
        assert_eq!(s, 400, "{body} -> {v}");
        assert_eq!(v["error"]["code"], "InvalidArgument", "{body} -> {v}");
        assert_eq!(v["error"]["field"], field, "{body} -> {v}");
    }
    // Unknown fields of a rule are refused too.
    let (s, v) = api
        .patch(
            &api.token,
            &bucket,
            json!({"cors": [rule(json!({"id": "x"}))]}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    // Nothing was stored.
    let (_, shown) = api
        .call(
            &api.token,
            Method::GET,
            &format!("/api/buckets/{bucket}"),
            None,
        )
        .await;
    assert_eq!(shown["website"], Value::Null);
    assert_eq!(shown["cors"], Value::Null);

    // The S3 operation refuses the same origin, with S3's code.
    let s3 = api.server.client();
    let err = s3
        .put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(
            aws_sdk_s3::types::CorsConfiguration::builder()
                .cors_rules(
                    aws_sdk_s3::types::CorsRule::builder()
                        .allowed_origins("https://*.*.example.com")
                        .allowed_methods("GET")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await;
    assert_s3_err(err, 400, "InvalidRequest");
    api.server.assert_no_panics();
}

#[tokio::test]
async fn a_user_cannot_change_another_users_bucket_settings() {
    let api = Api::start().await;
    let alice = api.user("alice").await;
    let bob = api.user("bob").await;
    let bucket = api.bucket(&alice).await;
    let (s, v) = api
        .patch(
            &bob,
            &bucket,
            json!({"website": {"indexDocument": "index.html"}}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "NoSuchBucket");
    let (s, v) = api
        .patch(
            &bob,
            &bucket,
            json!({"cors": [{"allowedOrigins": ["*"], "allowedMethods": ["GET"]}]}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = api
        .patch(
            &alice,
            &bucket,
            json!({"website": {"indexDocument": "index.html"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, shown) = api
        .call(&alice, Method::GET, &format!("/api/buckets/{bucket}"), None)
        .await;
    assert_eq!(shown["website"]["indexDocument"], "index.html");
    api.server.assert_no_panics();
}
