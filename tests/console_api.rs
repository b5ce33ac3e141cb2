//! The API routes the web console (and the CLI) upload with: multipart uploads created through
//! the API whose parts go straight to the S3 listener on presigned URLs; presigned downloads
//! with a Content-Disposition; CORS for the console's origin; and the stats history.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const CONSOLE_ORIGIN: &str = "http://console.test";

struct Api {
    server: TestServer,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Api {
        Self::start_with("").await
    }

    async fn start_with(extra: &str) -> Api {
        let toml = format!("console_origins = [\"{CONSOLE_ORIGIN}\"]\n{extra}");
        let server = TestServer::start_with_config(&toml).await;
        let token = server.admin_token();
        Api {
            server,
            token,
            http: http_client(),
        }
    }

    fn call(&self, bearer: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.server.admin_endpoint))
            .bearer_auth(bearer)
    }

    /// Creates a user with a key; returns the bearer `<access>:<secret>`.
    async fn user(&self, id: &str) -> String {
        let (s, v) = send(
            self.call(&self.token, Method::POST, "/api/users")
                .json(&json!({"id": id})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let (s, key) =
            send(self.call(&self.token, Method::POST, &format!("/api/users/{id}/keys"))).await;
        assert_eq!(s, 201, "{key}");
        format!(
            "{}:{}",
            key["accessKey"].as_str().unwrap(),
            key["secretKey"].as_str().unwrap()
        )
    }

    async fn bucket(&self, bearer: &str, extra: Value) -> String {
        let name = bucket_name();
        let mut body = json!({"name": name});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (s, v) = send(self.call(bearer, Method::POST, "/api/buckets").json(&body)).await;
        assert_eq!(s, 201, "{v}");
        name
    }

    async fn create_upload(&self, bearer: &str, bucket: &str, key: &str) -> (u16, Value) {
        send(
            self.call(
                bearer,
                Method::POST,
                &format!("/api/buckets/{bucket}/uploads"),
            )
            .json(&json!({"key": key, "contentType": "application/x-test"})),
        )
        .await
    }

    async fn presign_parts(
        &self,
        bearer: &str,
        bucket: &str,
        upload: &str,
        body: Value,
    ) -> (u16, Value) {
        send(
            self.call(
                bearer,
                Method::POST,
                &format!("/api/buckets/{bucket}/uploads/{upload}/parts"),
            )
            .json(&body),
        )
        .await
    }

    /// PUTs `data` to a presigned part URL the way a browser on the console's page would.
    async fn put_part(&self, url: &str, data: Vec<u8>) -> reqwest::Response {
        self.http
            .put(url)
            .header("origin", CONSOLE_ORIGIN)
            .body(data)
            .send()
            .await
            .unwrap()
    }
}

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
fn assert_error(got: &(u16, Value), status: u16, code: &str, field: Option<&str>) {
    assert_eq!(
        (got.0, got.1["error"]["code"].as_str()),
        (status, Some(code)),
        "{}",
        got.1
    );
    if let Some(f) = field {
        assert_eq!(got.1["error"]["field"], f, "{}", got.1);
    }
}

#[tokio::test]
async fn browser_multipart_upload_round_trip() {
    let api = Api::start().await;
    let alice = api.user("alice").await;
    let bucket = api.bucket(&alice, json!({})).await;
    let key = "dir/big file+ü.bin";
    let (s, created) = api.create_upload(&alice, &bucket, key).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["key"], key);
    let upload = created["uploadId"].as_str().unwrap().to_owned();

    let (s, urls) = api
        .presign_parts(
            &alice,
            &bucket,
            &upload,
            json!({"key": key, "partNumbers": [1, 2, 3], "expiresIn": 600}),
        )
        .await;
    assert_eq!(s, 200, "{urls}");
    let parts = urls["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert!(urls["expiresAt"].as_str().unwrap().ends_with('Z'));

    let sizes = [5 * MIB, 5 * MIB, 1234];
    let mut all = Vec::new();
    let mut completed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(part["partNumber"], n);
        let url = part["url"].as_str().unwrap();
        assert!(url.starts_with(&api.server.s3_endpoint), "{url}");
        assert!(url.contains(&format!("partNumber={n}&")), "{url}");
        let data = pattern(n, 0, sizes[i]);
        all.extend_from_slice(&data);
        let resp = api.put_part(url, data.clone()).await;
        assert_eq!(resp.status().as_u16(), 200);
        let h = resp.headers();
        // The console's origin may read the ETag it must send back on completion.
        assert_eq!(h["access-control-allow-origin"], CONSOLE_ORIGIN);
        let exposed = h["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_owned();
        for name in ["ETag", "x-amz-version-id", "Content-Range", "Accept-Ranges"] {
            assert!(exposed.contains(name), "{exposed} lacks {name}");
        }
        let etag = h["etag"].to_str().unwrap().to_owned();
        assert_eq!(etag, quoted_md5(&data));
        completed.push(json!({"partNumber": n, "etag": etag}));
    }

    let (s, listed) = send(api.call(
        &alice,
        Method::GET,
        &format!(
            "/api/buckets/{bucket}/uploads/{upload}/parts?key={}",
            urlencode(key)
        ),
    ))
    .await;
    assert_eq!(s, 200, "{listed}");
    let listed = listed["parts"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 3);
    for (i, p) in listed.iter().enumerate() {
        assert_eq!(p["partNumber"], i as u64 + 1);
        assert_eq!(p["size"], sizes[i] as u64);
        assert_eq!(p["etag"], completed[i]["etag"]);
    }

    let (s, done) = send(
        api.call(
            &alice,
            Method::POST,
            &format!("/api/buckets/{bucket}/uploads/{upload}/complete"),
        )
        .json(&json!({"key": key, "parts": completed})),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["key"], key);
    assert!(done["etag"].as_str().unwrap().ends_with("-3\""), "{done}");
    assert!(done.as_object().unwrap().contains_key("versionId"));

    // Downloaded through a presigned URL with a Content-Disposition, as the console does.
    let (s, dl) = send(
        api.call(
            &alice,
            Method::POST,
            &format!("/api/buckets/{bucket}/presigned-download"),
        )
        .json(&json!({"key": key, "disposition": "attachment", "filename": "réport \"q\".bin"})),
    )
    .await;
    assert_eq!(s, 200, "{dl}");
    let resp = api
        .http
        .get(dl["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-test");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"r_port _q_.bin\"; filename*=UTF-8''r%C3%A9port%20%22q%22.bin"
    );
    let got = resp.bytes().await.unwrap();
    assert_eq!(got.len(), all.len());
    assert!(got.as_ref() == all.as_slice(), "downloaded bytes differ");
    api.server.assert_no_panics();
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn aborted_uploads_are_gone() {
    let api = Api::start().await;
    let bucket = api.bucket(&api.token, json!({})).await;
    let (s, created) = api.create_upload(&api.token, &bucket, "a.bin").await;
    assert_eq!(s, 201, "{created}");
    let upload = created["uploadId"].as_str().unwrap().to_owned();
    let (_, urls) = api
        .presign_parts(
            &api.token,
            &bucket,
            &upload,
            json!({"key": "a.bin", "partNumbers": [1]}),
        )
        .await;
    // The admin token signs with the root key.
    let url = urls["parts"][0]["url"].as_str().unwrap();
    assert!(
        url.contains(&format!("X-Amz-Credential={ROOT_ACCESS_KEY}%2F")),
        "{url}"
    );
    let resp = api.put_part(url, b"hello".to_vec()).await;
    assert_eq!(resp.status().as_u16(), 200);

    let path = format!("/api/buckets/{bucket}/uploads/{upload}?key=a.bin");
    let got = send(api.call(&api.token, Method::DELETE, &path)).await;
    assert_eq!(got.0, 204, "{}", got.1);
    let listed = send(api.call(
        &api.token,
        Method::GET,
        &format!("/api/buckets/{bucket}/uploads/{upload}/parts?key=a.bin"),
    ))
    .await;
    assert_error(&listed, 404, "NoSuchUpload", None);
    let again = send(api.call(&api.token, Method::DELETE, &path)).await;
    assert_error(&again, 404, "NoSuchUpload", None);
    // Nothing became an object.
    let (s, list) = send(api.call(
        &api.token,
        Method::GET,
        &format!("/api/buckets/{bucket}/objects"),
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["objects"], json!([]));
}

#[tokio::test]
async fn bad_upload_input_names_the_field() {
    let api = Api::start().await;
    let t = api.token.clone();
    let bucket = api.bucket(&t, json!({})).await;
    let (_, created) = api.create_upload(&t, &bucket, "k").await;
    let upload = created["uploadId"].as_str().unwrap().to_owned();
    let uploads = format!("/api/buckets/{bucket}/uploads");

    for (body, status, code, field) in [
        (json!({"key": ""}), 400, "InvalidArgument", "key"),
        (json!({"key": "a/../b"}), 400, "InvalidArgument", "key"),
        (
            json!({"key": "x".repeat(1025)}),
            400,
            "KeyTooLongError",
            "key",
        ),
        (
            json!({"key": "k", "contentType": "a\nb"}),
            400,
            "InvalidArgument",
            "contentType",
        ),
        (json!({"key": "k", "bogus": 1}), 400, "InvalidJson", "bogus"),
        (json!({"key": 5}), 400, "InvalidJson", "key"),
    ] {
        let got = send(api.call(&t, Method::POST, &uploads).json(&body)).await;
        assert_error(&got, status, code, Some(field));
    }

    let many: Vec<u32> = (1..=1001).collect();
    for (body, field) in [
        (json!({"key": "k", "partNumbers": []}), "partNumbers"),
        (json!({"key": "k", "partNumbers": [0]}), "partNumbers"),
        (json!({"key": "k", "partNumbers": [10001]}), "partNumbers"),
        (json!({"key": "k", "partNumbers": many}), "partNumbers"),
        (
            json!({"key": "k", "partNumbers": [1], "expiresIn": 0}),
            "expiresIn",
        ),
        (
            json!({"key": "k", "partNumbers": [1], "expiresIn": 604801}),
            "expiresIn",
        ),
        (json!({"key": "", "partNumbers": [1]}), "key"),
    ] {
        let got = api.presign_parts(&t, &bucket, &upload, body).await;
        assert_error(&got, 400, "InvalidArgument", Some(field));
    }
    let got = api
        .presign_parts(
            &t,
            &bucket,
            &upload,
            json!({"key": "k", "partNumbers": [-1]}),
        )
        .await;
    assert_error(&got, 400, "InvalidJson", Some("partNumbers[0]"));
    for bad_id in ["a%20b", "a%2Fb", "a%00", &"x".repeat(513)] {
        let got = api
            .presign_parts(&t, &bucket, bad_id, json!({"key": "k", "partNumbers": [1]}))
            .await;
        assert_error(&got, 400, "InvalidArgument", Some("uploadId"));
    }

    let complete = format!("/api/buckets/{bucket}/uploads/{upload}/complete");
    for (body, field) in [
        (json!({"key": "k", "parts": []}), "parts"),
        (
            json!({"key": "k", "parts": [{"partNumber": 0, "etag": "\"a\""}]}),
            "parts",
        ),
        (
            json!({"key": "k", "parts": [{"partNumber": 1, "etag": ""}]}),
            "parts",
        ),
        (
            json!({"key": "k", "parts": [{"partNumber": 1, "etag": "a\"b"}]}),
            "parts",
        ),
    ] {
        let got = send(api.call(&t, Method::POST, &complete).json(&body)).await;
        assert_error(&got, 400, "InvalidArgument", Some(field));
    }
    // A well-formed id the backend never issued.
    let got = api
        .presign_parts(
            &t,
            &bucket,
            &upload,
            json!({"key": "k", "partNumbers": [1]}),
        )
        .await;
    assert_eq!(got.0, 200);
    let got = send(api.call(
        &t,
        Method::GET,
        &format!("/api/buckets/{bucket}/uploads/nosuchupload/parts?key=k"),
    ))
    .await;
    assert_error(&got, 404, "NoSuchUpload", None);
    let got = send(api.call(
        &t,
        Method::GET,
        &format!("/api/buckets/{bucket}/uploads/{upload}/parts"),
    ))
    .await;
    assert_error(&got, 400, "InvalidQuery", None);

    // Dispositions: downloads only, and no header injection through the file name.
    let dl = format!("/api/buckets/{bucket}/presigned-download");
    for (body, code, field) in [
        (
            json!({"key": "k", "filename": "a\r\nSet-Cookie: x=1"}),
            "InvalidArgument",
            "filename",
        ),
        (
            json!({"key": "k", "filename": ""}),
            "InvalidArgument",
            "filename",
        ),
        (
            json!({"key": "k", "disposition": "evil"}),
            "InvalidJson",
            "disposition",
        ),
    ] {
        let got = send(api.call(&t, Method::POST, &dl).json(&body)).await;
        assert_error(&got, 400, code, Some(field));
    }
    let got = send(
        api.call(
            &t,
            Method::POST,
            &format!("/api/buckets/{bucket}/presigned-upload"),
        )
        .json(&json!({"key": "k", "disposition": "inline"})),
    )
    .await;
    assert_error(&got, 400, "InvalidArgument", Some("disposition"));
    api.server.assert_no_panics();
}

#[tokio::test]
async fn users_cannot_upload_into_other_users_buckets() {
    let api = Api::start().await;
    let alice = api.user("alice").await;
    let bob = api.user("bob").await;
    let bucket = api.bucket(&alice, json!({})).await;
    let (s, created) = api.create_upload(&alice, &bucket, "k").await;
    assert_eq!(s, 201);
    let upload = created["uploadId"].as_str().unwrap().to_owned();

    let got = api.create_upload(&bob, &bucket, "k").await;
    assert_error(&got, 404, "NoSuchBucket", None);
    let got = api
        .presign_parts(
            &bob,
            &bucket,
            &upload,
            json!({"key": "k", "partNumbers": [1]}),
        )
        .await;
    assert_error(&got, 404, "NoSuchBucket", None);
    for (method, path) in [
        (
            Method::GET,
            format!("/api/buckets/{bucket}/uploads/{upload}/parts?key=k"),
        ),
        (
            Method::DELETE,
            format!("/api/buckets/{bucket}/uploads/{upload}?key=k"),
        ),
    ] {
        let got = send(api.call(&bob, method, &path)).await;
        assert_error(&got, 404, "NoSuchBucket", None);
    }
    let got = send(
        api.call(
            &bob,
            Method::POST,
            &format!("/api/buckets/{bucket}/uploads/{upload}/complete"),
        )
        .json(&json!({"key": "k", "parts": [{"partNumber": 1, "etag": "\"x\""}]})),
    )
    .await;
    assert_error(&got, 404, "NoSuchBucket", None);
    // The upload is untouched by bob's attempts.
    let got = send(api.call(
        &alice,
        Method::GET,
        &format!("/api/buckets/{bucket}/uploads/{upload}/parts?key=k"),
    ))
    .await;
    assert_eq!(got.0, 200, "{}", got.1);
    // Without a token at all.
    let got = send(api.http.post(format!(
        "{}/api/buckets/{bucket}/uploads",
        api.server.admin_endpoint
    )))
    .await;
    assert_error(&got, 401, "Unauthorized", None);
}

#[tokio::test]
async fn quotas_refuse_uploads_and_parts() {
    let api = Api::start().await;
    let alice = api.user("alice").await;
    let bucket = api
        .bucket(&alice, json!({"maxSizeBytes": 5 * MIB + 512 * 1024}))
        .await;
    let (s, created) = api.create_upload(&alice, &bucket, "big").await;
    assert_eq!(s, 201, "{created}");
    let upload = created["uploadId"].as_str().unwrap().to_owned();
    let (_, urls) = api
        .presign_parts(
            &alice,
            &bucket,
            &upload,
            json!({"key": "big", "partNumbers": [1, 2]}),
        )
        .await;
    let first = api
        .put_part(
            urls["parts"][0]["url"].as_str().unwrap(),
            pattern(1, 0, 5 * MIB),
        )
        .await;
    assert_eq!(first.status().as_u16(), 200);
    // The second part would cross the 5.5 MiB quota: refused by the S3 listener before its
    // body is read (sent raw: the server answers without reading it all).
    let url = urls["parts"][1]["url"].as_str().unwrap();
    let target = url.strip_prefix(&api.server.s3_endpoint).unwrap();
    let second = api
        .server
        .raw("PUT", target)
        .header("origin", CONSOLE_ORIGIN)
        .body(pattern(2, 0, MIB))
        .send()
        .await;
    second.assert_error(403, "QuotaExceeded");

    // A bucket whose object quota is used up refuses the upload itself.
    let full = api.bucket(&alice, json!({"maxObjects": 1})).await;
    let form = reqwest::multipart::Form::new().text("key", "one").part(
        "file",
        reqwest::multipart::Part::bytes(b"1".to_vec()).file_name("one"),
    );
    let (s, v) = send(
        api.call(
            &alice,
            Method::POST,
            &format!("/api/buckets/{full}/objects"),
        )
        .multipart(form),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let got = api.create_upload(&alice, &full, "two").await;
    assert_error(&got, 403, "QuotaExceeded", None);
}

#[tokio::test]
async fn stats_history_follows_usage() {
    let api = Api::start_with("[stats]\nsample_secs = 1\n").await;
    let alice = api.user("alice").await;
    let bob = api.user("bob").await;
    let bucket = api.bucket(&alice, json!({})).await;
    let (ak, sk) = alice.split_once(':').unwrap();
    let s3 = api.server.client_with(ak, sk);
    let sizes = [10usize, 200, 3000];
    for (i, n) in sizes.iter().enumerate() {
        s3.put_object()
            .bucket(&bucket)
            .key(format!("k{i}"))
            .body(vec![7u8; *n].into())
            .send()
            .await
            .unwrap();
    }
    let total: usize = sizes.iter().sum();
    let path = format!("/api/buckets/{bucket}/stats/history?range=1h");
    // Samples are taken every second: wait (bounded) for one that has seen all three PUTs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let points = loop {
        let (s, v) = send(api.call(&alice, Method::GET, &path)).await;
        assert_eq!(s, 200, "{v}");
        let points = v["points"].as_array().unwrap().clone();
        if points.last().is_some_and(|p| p["objects"] == 3) {
            break points;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sample with 3 objects: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let last = points.last().unwrap();
    assert_eq!(last["bytes"], total as u64, "{last}");
    assert!(last["t"].as_str().unwrap().ends_with('Z'), "{last}");
    // Counters are per interval: over all points they add up to at least the three PUTs.
    let requests: u64 = points.iter().map(|p| p["requests"].as_u64().unwrap()).sum();
    let bytes_in: u64 = points.iter().map(|p| p["bytesIn"].as_u64().unwrap()).sum();
    assert!(requests >= 3, "{points:?}");
    assert!(bytes_in >= total as u64, "{points:?}");
    let times: Vec<&str> = points.iter().map(|p| p["t"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // Hourly points carry the same usage.
    let (s, v) = send(api.call(
        &alice,
        Method::GET,
        &format!("/api/buckets/{bucket}/stats/history?range=90d"),
    ))
    .await;
    assert_eq!(s, 200, "{v}");
    let hourly = v["points"].as_array().unwrap();
    assert!(!hourly.is_empty(), "{v}");
    assert_eq!(hourly.last().unwrap()["bytes"], total as u64);

    for bad in ["bad", "", "1d", "1h%00"] {
        let got = send(api.call(
            &alice,
            Method::GET,
            &format!("/api/buckets/{bucket}/stats/history?range={bad}"),
        ))
        .await;
        assert_error(&got, 400, "InvalidArgument", Some("range"));
    }
    let got = send(api.call(&bob, Method::GET, &path)).await;
    assert_error(&got, 404, "NoSuchBucket", None);
    let got = send(api.http.get(format!("{}{path}", api.server.admin_endpoint))).await;
    assert_error(&got, 401, "Unauthorized", None);
    api.server.assert_no_panics();
}

/// A bucket on another S3 server (the `remote` backend, here a second bucketgate): the API's
/// upload routes reach that server; the parts go through the S3 listener, forwarded whole.
#[tokio::test]
async fn uploads_work_on_forwarded_buckets() {
    let upstream = TestServer::start().await;
    let api = Api::start_with(&format!(
        "default_backend = \"remote\"\n[remote]\nendpoint = \"{}\"\naccess_key = \"{ROOT_ACCESS_KEY}\"\nsecret_key = \"{ROOT_SECRET_KEY}\"\nbucket_prefix = \"gw-\"\ntimeout_secs = 5\n",
        upstream.s3_endpoint
    ))
    .await;
    let t = api.token.clone();
    let bucket = api.bucket(&t, json!({"backend": "remote"})).await;
    let key = "f/remote part+1.bin";
    let (s, created) = api.create_upload(&t, &bucket, key).await;
    assert_eq!(s, 201, "{created}");
    let upload = created["uploadId"].as_str().unwrap().to_owned();
    let (s, urls) = api
        .presign_parts(
            &t,
            &bucket,
            &upload,
            json!({"key": key, "partNumbers": [1, 2]}),
        )
        .await;
    assert_eq!(s, 200, "{urls}");
    let sizes = [5 * MIB, 777];
    let mut all = Vec::new();
    let mut completed = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let data = pattern(i as u64 + 7, 0, *size);
        all.extend_from_slice(&data);
        let resp = api
            .put_part(urls["parts"][i]["url"].as_str().unwrap(), data)
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        completed.push(json!({"partNumber": i + 1, "etag": etag}));
    }
    let (s, listed) = send(api.call(
        &t,
        Method::GET,
        &format!(
            "/api/buckets/{bucket}/uploads/{upload}/parts?key={}",
            urlencode(key)
        ),
    ))
    .await;
    assert_eq!(s, 200, "{listed}");
    assert_eq!(listed["parts"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["parts"][0]["size"], 5 * MIB as u64);
    assert_eq!(listed["parts"][1]["etag"], completed[1]["etag"]);
    let (s, done) = send(
        api.call(
            &t,
            Method::POST,
            &format!("/api/buckets/{bucket}/uploads/{upload}/complete"),
        )
        .json(&json!({"key": key, "parts": completed})),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert!(done["etag"].as_str().unwrap().ends_with("-2\""), "{done}");
    let (s, dl) = send(
        api.call(
            &t,
            Method::POST,
            &format!("/api/buckets/{bucket}/presigned-download"),
        )
        .json(&json!({"key": key})),
    )
    .await;
    assert_eq!(s, 200, "{dl}");
    let got = api
        .http
        .get(dl["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == all.as_slice(), "downloaded bytes differ");

    // Abort, and errors of the upstream keep their codes.
    let (_, created) = api.create_upload(&t, &bucket, "b").await;
    let upload = created["uploadId"].as_str().unwrap().to_owned();
    let path = format!("/api/buckets/{bucket}/uploads/{upload}?key=b");
    let got = send(api.call(&t, Method::DELETE, &path)).await;
    assert_eq!(got.0, 204, "{}", got.1);
    let got = send(api.call(
        &t,
        Method::GET,
        &format!("/api/buckets/{bucket}/uploads/{upload}/parts?key=b"),
    ))
    .await;
    assert_error(&got, 404, "NoSuchUpload", None);
    api.server.assert_no_panics();
}
