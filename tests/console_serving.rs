//! The web console on the admin listener: assets from `console/` with CSP, ETag/304,
//! Cache-Control (content-versioned URLs immutable, the page and unversioned URLs revalidated)
//! and gzip; traversal attempts answered 404; `GET /api/config` and `GET /api/whoami`.

mod common;

use std::io::Read;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn console_file(path: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("console")
            .join(path),
    )
    .expect("console asset on disk")
}

/// `text` without the `?v=<20 hex digits>` the server adds to asset references.
fn strip_versions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("?v=") {
        let tail = &rest[i + 3..];
        let hex = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        assert_eq!(
            hex,
            20,
            "a version of 20 hex digits at {:?}",
            &tail[..tail.len().min(30)]
        );
        out.push_str(&rest[..i]);
        rest = &tail[hex..];
    }
    out.push_str(rest);
    out
}

/// The versioned URLs `text` names after `prefix` (such as `src="` or `from '`), as
/// (path as written, version).
fn versioned_refs(text: &str, prefix: &str, quote: char) -> Vec<(String, String)> {
    text.match_indices(prefix)
        .filter_map(|(i, _)| {
            let start = i + prefix.len();
            let end = start + text[start..].find(quote)?;
            let (path, v) = text[start..end].split_once("?v=")?;
            Some((path.to_owned(), v.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn index_has_csp_etag_and_revalidates() {
    let server = TestServer::start().await;
    let http = http_client();
    let resp = http
        .get(format!("{}/", server.admin_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    let s3 = &server.s3_endpoint;
    for part in [
        "default-src 'self'".to_owned(),
        "script-src 'self'".to_owned(),
        "style-src 'self'".to_owned(),
        format!("img-src 'self' data: blob: {s3}"),
        format!("media-src {s3} blob:"),
        format!("connect-src 'self' {s3}"),
        format!("frame-src {s3}"),
        "object-src 'none'".to_owned(),
        "base-uri 'none'".to_owned(),
        "frame-ancestors 'none'".to_owned(),
    ] {
        assert!(csp.contains(&part), "CSP {csp:?} lacks {part:?}");
    }
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    // The file as written, with versions added to its asset references.
    let page = resp.text().await.unwrap();
    assert_eq!(
        strip_versions(&page),
        String::from_utf8(console_file("index.html")).unwrap()
    );

    // The ETag is the content's: the same on every request, and a match answers 304.
    let again = http
        .get(format!("{}/", server.admin_endpoint))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = http
        .get(format!("{}/", server.admin_endpoint))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 200);
    server.assert_no_panics();
}

#[tokio::test]
async fn assets_are_gzipped_when_accepted() {
    let server = TestServer::start().await;
    let want = console_file("app.css");
    // Raw requests: reqwest here decompresses nothing, and the test wants the wire bytes.
    let plain = server
        .raw("GET", "/console/app.css")
        .to(server.admin_addr)
        .send()
        .await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert!(plain.header("content-security-policy").is_some());
    assert_eq!(plain.body, want);

    let zipped = server
        .raw("GET", "/console/app.css")
        .to(server.admin_addr)
        .header("accept-encoding", "br, gzip")
        .send()
        .await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("etag"), plain.header("etag"));
    assert!(zipped.body.len() < want.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, want);

    let refused = server
        .raw("GET", "/console/app.css")
        .to(server.admin_addr)
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await;
    assert_eq!(refused.header("content-encoding"), None);
    assert_eq!(refused.body, want);
}

#[tokio::test]
async fn versioned_asset_urls_are_immutable_and_name_one_module_each() {
    let server = TestServer::start().await;
    let get = |target: String| {
        let server = &server;
        async move {
            let r = server
                .raw("GET", &target)
                .to(server.admin_addr)
                .send()
                .await;
            assert_eq!(r.status, 200, "{target}: {}", r.text());
            r
        }
    };
    let page = get("/".to_owned()).await;
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let page = page.text();
    let mut refs = versioned_refs(&page, "src=\"", '"');
    refs.extend(versioned_refs(&page, "href=\"", '"'));
    let names: Vec<&str> = refs.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "/console/app.css",
        "/console/js/app.js",
        "/console/js/api.js",
    ] {
        assert!(names.contains(&want), "{want} not versioned in {page}");
    }
    // Every versioned URL is immutable and serves the file (its own imports versioned).
    for (path, v) in &refs {
        let r = get(format!("{path}?v={v}")).await;
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        let disk = console_file(path.strip_prefix("/console/").unwrap());
        assert_eq!(
            strip_versions(&r.text()),
            String::from_utf8(disk).unwrap(),
            "{path}"
        );
    }
    // The same URL for a module wherever it is imported from: app.js and a page import
    // api.js under the version the page preloads.
    let version_of = |name: &str| {
        refs.iter()
            .find(|(p, _)| p == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let api = version_of("/console/js/api.js");
    let app = get(format!(
        "/console/js/app.js?v={}",
        version_of("/console/js/app.js")
    ))
    .await
    .text();
    let imports = versioned_refs(&app, "from './", '\'');
    assert!(
        imports.contains(&("api.js".to_owned(), api.clone())),
        "{app}"
    );
    let (_, page_v) = imports
        .iter()
        .find(|(p, _)| p == "pages/signin.js")
        .expect("app.js imports the sign-in page");
    let signin = get(format!("/console/js/pages/signin.js?v={page_v}"))
        .await
        .text();
    let back = versioned_refs(&signin, "from '../", '\'');
    assert!(back.contains(&("api.js".to_owned(), api)), "{signin}");
    // …and the cycle back to app.js names app.js's own URL.
    assert!(
        back.contains(&("app.js".to_owned(), version_of("/console/js/app.js"))),
        "{signin}"
    );

    // An unversioned URL, or one naming other content, is revalidated, never immutable.
    for target in [
        "/console/js/api.js",
        "/console/js/api.js?v=00000000000000000000",
        "/console/js/api.js?x=1",
    ] {
        let r = get(target.to_owned()).await;
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{target}");
    }
    server.assert_no_panics();
}

#[tokio::test]
async fn unknown_and_escaping_paths_are_404() {
    let server = TestServer::start().await;
    for target in [
        "/console/no-such-file.js",
        "/console/",
        "/console/../Cargo.toml",
        "/console/%2e%2e/Cargo.toml",
        "/console/%2E%2E/%2E%2E/etc/passwd",
        "/console/js/..%2f..%2fCargo.toml",
        "/console/..%5cCargo.toml",
        "/console/%5c..%5cCargo.toml",
        "/console/index.html%00.js",
        "/console/./index.html",
        "/console//index.html",
        "/console/%2fetc%2fpasswd",
        "/console/%ff",
    ] {
        let resp = server.raw("GET", target).to(server.admin_addr).send().await;
        assert_eq!(resp.status, 404, "{target}: {}", resp.text());
        assert!(
            !resp.text().contains("[package]"),
            "{target} leaked a file outside console/"
        );
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        // `/console/` alone matches no route at all.
        let code = v["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code == "NoSuchAsset" || (target == "/console/" && code == "NoSuchRoute"),
            "{target}: {}",
            resp.text()
        );
    }
    server.assert_no_panics();
}

#[tokio::test]
async fn config_needs_no_credentials() {
    let server = TestServer::start().await;
    let resp = http_client()
        .get(format!("{}/api/config", server.admin_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["s3Endpoint"], server.s3_endpoint.as_str());
    assert_eq!(v["region"], "us-east-1");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        v["baseDomain"].as_str().is_some_and(|d| !d.is_empty()),
        "{v}"
    );
    assert!(
        v["websiteBaseDomain"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn whoami_names_admin_and_users() {
    let server = TestServer::start().await;
    let token = server.admin_token();
    let http = http_client();
    let api = |method: Method, path: &str, bearer: &str| {
        http.request(method, format!("{}{path}", server.admin_endpoint))
            .bearer_auth(bearer)
    };
    let v: Value = api(Method::GET, "/api/whoami", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"admin": true, "user": null, "accessKey": null}));

    let resp = api(Method::POST, "/api/users", &token)
        .json(&json!({"id": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let key: Value = api(Method::POST, "/api/users/alice/keys", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ak = key["accessKey"].as_str().unwrap();
    let sk = key["secretKey"].as_str().unwrap();
    let v: Value = api(Method::GET, "/api/whoami", &format!("{ak}:{sk}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"admin": false, "user": "alice", "accessKey": ak}));

    let v: Value = api(
        Method::GET,
        "/api/whoami",
        &format!("{ROOT_ACCESS_KEY}:{ROOT_SECRET_KEY}"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        v,
        json!({"admin": true, "user": null, "accessKey": ROOT_ACCESS_KEY})
    );

    let resp = http
        .get(format!("{}/api/whoami", server.admin_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = api(Method::GET, "/api/whoami", "nope:nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "Unauthorized");
}
