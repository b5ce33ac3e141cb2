//! Object operations: Put/Get/Head/Delete, ranges, conditional requests, copy, metadata,
//! checksums and tagging.

mod common;

use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, Delete, MetadataDirective, ObjectIdentifier, Tag, Tagging,
};
use base64::Engine;
use common::*;
use sha2::Digest;

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) -> String {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {}", dbg_err(&e)));
    out.e_tag().expect("PutObject returns an ETag").to_string()
}

#[tokio::test]
async fn put_get_round_trip_with_md5_etag() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    for (key, len) in [
        ("empty", 0usize),
        ("small", 17),
        ("one-mib", MIB),
        ("odd", 3 * MIB + 7),
    ] {
        let data = random_bytes(len);
        let etag = put(&s3, &bucket, key, &data).await;
        assert_eq!(
            etag,
            quoted_md5(&data),
            "ETag of {key} is the quoted hex MD5"
        );
        let out = s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(out.content_length(), Some(len as i64));
        assert_eq!(out.e_tag(), Some(etag.as_str()));
        assert!(out.last_modified().is_some());
        let body = out.body.collect().await.unwrap().into_bytes();
        assert!(
            body == data,
            "content of {key} differs ({} vs {len} bytes)",
            body.len()
        );
    }
}

#[tokio::test]
async fn keys_with_special_characters_round_trip() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let keys = [
        "with space",
        "plus+sign",
        "percent%20literal",
        "unicode/ünïcødé/日本語",
        "deep/a/b/c/d/e/f",
        "query?and#hash",
        "tilde~star*quote'paren(",
        "trailing/",
        "emoji-😀",
    ];
    for key in keys {
        put(&s3, &bucket, key, key.as_bytes()).await;
    }
    for key in keys {
        assert_eq!(
            get_bytes(&s3, &bucket, key).await,
            key.as_bytes(),
            "key {key:?}"
        );
    }
    let out = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let mut listed: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let mut want = keys.to_vec();
    want.sort();
    listed.sort();
    assert_eq!(listed, want);
}

#[tokio::test]
async fn get_missing_object_is_no_such_key() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let res = s3.get_object().bucket(&bucket).key("nope").send().await;
    assert_s3_err(res, 404, "NoSuchKey");
    let err = s3
        .head_object()
        .bucket(&bucket)
        .key("nope")
        .send()
        .await
        .expect_err("HeadObject on missing key");
    assert_eq!(status_code(&err).0, 404, "{}", dbg_err(&err));
}

#[tokio::test]
async fn range_requests() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(100);
    put(&s3, &bucket, "r", &data).await;

    let cases: [(&str, std::ops::Range<usize>, &str); 5] = [
        ("bytes=0-9", 0..10, "bytes 0-9/100"),
        ("bytes=10-", 10..100, "bytes 10-99/100"),
        ("bytes=-5", 95..100, "bytes 95-99/100"),
        ("bytes=95-1000", 95..100, "bytes 95-99/100"),
        ("bytes=99-99", 99..100, "bytes 99-99/100"),
    ];
    for (range, want, content_range) in cases {
        let out = s3
            .get_object()
            .bucket(&bucket)
            .key("r")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {range}: {}", dbg_err(&e)));
        assert_eq!(out.content_range(), Some(content_range), "{range}");
        assert_eq!(out.content_length(), Some(want.len() as i64), "{range}");
        let body = out.body.collect().await.unwrap().to_vec();
        assert_eq!(body, &data[want.clone()], "{range}");

        let raw = server
            .signed("GET", &format!("/{bucket}/r"))
            .header("range", range)
            .send()
            .await;
        assert_eq!(raw.status, 206, "{range}: {}", raw.text());
        assert_eq!(raw.header("content-range"), Some(content_range), "{range}");
        assert_eq!(raw.body, &data[want], "{range}");
    }
    // HeadObject with a satisfiable Range: "only the ContentLength is affected" (AWS API
    // reference); an unsatisfiable one is 416.
    let raw = server
        .signed("HEAD", &format!("/{bucket}/r"))
        .header("range", "bytes=0-9")
        .send()
        .await;
    assert!(
        raw.status == 200 || raw.status == 206,
        "HEAD with Range: {}",
        raw.status
    );
    assert_eq!(
        raw.header("content-length"),
        Some("10"),
        "HEAD with Range: Content-Length"
    );
    let raw = server
        .signed("HEAD", &format!("/{bucket}/r"))
        .header("range", "bytes=100-")
        .send()
        .await;
    assert_eq!(raw.status, 416, "HEAD with an unsatisfiable Range");
}

#[tokio::test]
async fn unsatisfiable_range_is_416_invalid_range() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "r", &random_bytes(100)).await;
    for range in ["bytes=100-", "bytes=100-200", "bytes=1000-2000"] {
        let res = s3
            .get_object()
            .bucket(&bucket)
            .key("r")
            .range(range)
            .send()
            .await;
        assert_s3_err(res, 416, "InvalidRange");
        let raw = server
            .signed("GET", &format!("/{bucket}/r"))
            .header("range", range)
            .send()
            .await;
        raw.assert_error(416, "InvalidRange");
    }
}

#[tokio::test]
async fn head_object_reports_metadata() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(4321);
    s3.put_object()
        .bucket(&bucket)
        .key("h")
        .content_type("application/x-test")
        .metadata("color", "blue")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let out = s3
        .head_object()
        .bucket(&bucket)
        .key("h")
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_length(), Some(4321));
    assert_eq!(out.e_tag(), Some(quoted_md5(&data).as_str()));
    assert_eq!(out.content_type(), Some("application/x-test"));
    assert_eq!(
        out.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    assert!(out.last_modified().is_some());
    let raw = server.signed("HEAD", &format!("/{bucket}/h")).send().await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-length"), Some("4321"));
    assert!(raw.body.is_empty());
}

#[tokio::test]
async fn conditional_get_and_head() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(64);
    let etag = put(&s3, &bucket, "c", &data).await;
    let lm = *s3
        .head_object()
        .bucket(&bucket)
        .key("c")
        .send()
        .await
        .unwrap()
        .last_modified()
        .unwrap();
    let hour_before = DateTime::from_secs(lm.secs() - 3600);
    let wrong_etag = "\"00000000000000000000000000000000\"";

    // If-Match
    let ok = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_match(&etag)
        .send()
        .await;
    assert!(
        ok.is_ok(),
        "If-Match with current ETag: {:?}",
        ok.err().map(|e| dbg_err(&e))
    );
    let res = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_match(wrong_etag)
        .send()
        .await;
    assert_s3_err(res, 412, "PreconditionFailed");
    let res = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_match("*")
        .send()
        .await;
    assert!(res.is_ok(), "If-Match: * matches an existing object");

    // If-None-Match
    let err = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_none_match(&etag)
        .send()
        .await
        .expect_err("If-None-Match with current ETag must be 304");
    assert_eq!(status_code(&err).0, 304, "{}", dbg_err(&err));
    let res = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_none_match(wrong_etag)
        .send()
        .await;
    assert!(res.is_ok(), "If-None-Match with another ETag is 200");

    // If-Modified-Since
    let err = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_modified_since(lm)
        .send()
        .await
        .expect_err("If-Modified-Since = Last-Modified must be 304");
    assert_eq!(status_code(&err).0, 304, "{}", dbg_err(&err));
    let res = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_modified_since(hour_before)
        .send()
        .await;
    assert!(res.is_ok(), "modified since an hour before: 200");

    // If-Unmodified-Since
    let res = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_unmodified_since(hour_before)
        .send()
        .await;
    assert_s3_err(res, 412, "PreconditionFailed");
    let res = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_unmodified_since(lm)
        .send()
        .await;
    assert!(res.is_ok(), "unmodified since Last-Modified: 200");

    // The same on HEAD (status only: HEAD responses have no body).
    let path = format!("/{bucket}/c");
    let http_date = |d: DateTime| d.fmt(DateTimeFormat::HttpDate).unwrap();
    let head_cases = [
        ("if-match", wrong_etag.to_string(), 412),
        ("if-match", etag.clone(), 200),
        ("if-none-match", etag.clone(), 304),
        ("if-none-match", wrong_etag.to_string(), 200),
        ("if-modified-since", http_date(lm), 304),
        ("if-modified-since", http_date(hour_before), 200),
        ("if-unmodified-since", http_date(hour_before), 412),
        ("if-unmodified-since", http_date(lm), 200),
    ];
    for (h, v, want) in head_cases {
        let raw = server.signed("HEAD", &path).header(h, &v).send().await;
        assert_eq!(raw.status, want, "HEAD with {h}: {v}");
    }
    // Raw GET answers 304 with no body and 412 with an XML error.
    let raw = server
        .signed("GET", &path)
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(raw.status, 304);
    assert!(raw.body.is_empty());
    let raw = server
        .signed("GET", &path)
        .header("if-match", wrong_etag)
        .send()
        .await;
    raw.assert_error(412, "PreconditionFailed");
}

#[tokio::test]
async fn conditional_header_precedence() {
    // S3 (RFC 7232): If-Match true + If-Unmodified-Since false → 200;
    // If-None-Match false + If-Modified-Since true → 304.
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let etag = put(&s3, &bucket, "c", b"precedence").await;
    let lm = *s3
        .head_object()
        .bucket(&bucket)
        .key("c")
        .send()
        .await
        .unwrap()
        .last_modified()
        .unwrap();
    let hour_before = DateTime::from_secs(lm.secs() - 3600);
    let res = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_match(&etag)
        .if_unmodified_since(hour_before)
        .send()
        .await;
    assert!(
        res.is_ok(),
        "If-Match wins over If-Unmodified-Since: {:?}",
        res.err().map(|e| dbg_err(&e))
    );
    let err = s3
        .get_object()
        .bucket(&bucket)
        .key("c")
        .if_none_match(&etag)
        .if_modified_since(hour_before)
        .send()
        .await
        .expect_err("If-None-Match wins over If-Modified-Since");
    assert_eq!(status_code(&err).0, 304, "{}", dbg_err(&err));
}

#[tokio::test]
async fn conditional_create_if_none_match_star() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    s3.put_object()
        .bucket(&bucket)
        .key("once")
        .if_none_match("*")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .expect("If-None-Match: * on a new key succeeds");
    let res = s3
        .put_object()
        .bucket(&bucket)
        .key("once")
        .if_none_match("*")
        .body(ByteStream::from_static(b"second"))
        .send()
        .await;
    assert_s3_err(res, 412, "PreconditionFailed");
    assert_eq!(
        get_bytes(&s3, &bucket, "once").await,
        b"first",
        "original kept"
    );
}

#[tokio::test]
async fn delete_object() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "d", b"bye").await;
    s3.delete_object()
        .bucket(&bucket)
        .key("d")
        .send()
        .await
        .expect("DeleteObject");
    let res = s3.get_object().bucket(&bucket).key("d").send().await;
    assert_s3_err(res, 404, "NoSuchKey");
    // Deleting a missing key succeeds (204) in S3.
    s3.delete_object()
        .bucket(&bucket)
        .key("never-existed")
        .send()
        .await
        .expect("DeleteObject on a missing key is not an error");
    let raw = server
        .signed("DELETE", &format!("/{bucket}/never-existed"))
        .send()
        .await;
    assert_eq!(raw.status, 204, "{}", raw.text());
}

fn ids(keys: &[&str], quiet: bool) -> Delete {
    Delete::builder()
        .set_objects(Some(
            keys.iter()
                .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                .collect(),
        ))
        .quiet(quiet)
        .build()
        .unwrap()
}

#[tokio::test]
async fn delete_objects_verbose_and_quiet() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    for k in ["v1", "v2", "q1", "q2", "keep"] {
        put(&s3, &bucket, k, k.as_bytes()).await;
    }
    // Verbose: every requested key is reported deleted, missing ones included.
    let out = s3
        .delete_objects()
        .bucket(&bucket)
        .delete(ids(&["v1", "v2", "missing"], false))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteObjects: {}", dbg_err(&e)));
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, ["missing", "v1", "v2"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());

    // Quiet: only errors are reported.
    let quiet = ids(&["q1", "q2"], true);
    let out = s3
        .delete_objects()
        .bucket(&bucket)
        .delete(quiet)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteObjects quiet: {}", dbg_err(&e)));
    assert!(
        out.deleted().is_empty(),
        "quiet mode lists no deleted keys: {out:?}"
    );
    assert!(out.errors().is_empty(), "{:?}", out.errors());

    let left = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: Vec<&str> = left.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["keep"]);
}

#[tokio::test]
async fn copy_object_copy_and_replace_directives() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let src = server.bucket(&s3).await;
    let dst = server.bucket(&s3).await;
    let data = random_bytes(200_000);
    s3.put_object()
        .bucket(&src)
        .key("orig")
        .content_type("text/x-orig")
        .cache_control("no-cache")
        .metadata("a", "1")
        .metadata("b", "2")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();

    // COPY (the default): metadata and content headers come from the source.
    let out = s3
        .copy_object()
        .bucket(&dst)
        .key("copied")
        .copy_source(format!("{src}/orig"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CopyObject across buckets: {}", dbg_err(&e)));
    let etag = out
        .copy_object_result()
        .and_then(|r| r.e_tag())
        .map(str::to_string);
    assert_eq!(etag, Some(quoted_md5(&data)));
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("copied")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/x-orig"));
    assert_eq!(head.cache_control(), Some("no-cache"));
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("a").map(String::as_str), Some("1"));
    assert_eq!(meta.get("b").map(String::as_str), Some("2"));
    assert_eq!(get_bytes(&s3, &dst, "copied").await, data);

    // Explicit COPY ignores metadata given in the request.
    s3.copy_object()
        .bucket(&src)
        .key("copied-explicit")
        .copy_source(format!("{src}/orig"))
        .metadata_directive(MetadataDirective::Copy)
        .metadata("ignored", "yes")
        .send()
        .await
        .unwrap_or_else(|e| panic!("CopyObject COPY: {}", dbg_err(&e)));
    let head = s3
        .head_object()
        .bucket(&src)
        .key("copied-explicit")
        .send()
        .await
        .unwrap();
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("a").map(String::as_str), Some("1"));
    assert!(
        !meta.contains_key("ignored"),
        "COPY directive must ignore request metadata: {meta:?}"
    );

    // REPLACE: metadata and content type from the request only.
    s3.copy_object()
        .bucket(&src)
        .key("replaced")
        .copy_source(format!("{src}/orig"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/x-new")
        .metadata("c", "3")
        .send()
        .await
        .unwrap_or_else(|e| panic!("CopyObject REPLACE: {}", dbg_err(&e)));
    let head = s3
        .head_object()
        .bucket(&src)
        .key("replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/x-new"));
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("c").map(String::as_str), Some("3"));
    assert!(
        !meta.contains_key("a"),
        "REPLACE drops source metadata: {meta:?}"
    );
    assert_eq!(
        head.cache_control(),
        None,
        "REPLACE drops source Cache-Control"
    );
    assert_eq!(get_bytes(&s3, &src, "replaced").await, data);

    // Replacing an object's own metadata in place is allowed with REPLACE.
    s3.copy_object()
        .bucket(&src)
        .key("orig")
        .copy_source(format!("{src}/orig"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("a", "changed")
        .send()
        .await
        .unwrap_or_else(|e| panic!("CopyObject onto itself with REPLACE: {}", dbg_err(&e)));
    let head = s3
        .head_object()
        .bucket(&src)
        .key("orig")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata().and_then(|m| m.get("a")).map(String::as_str),
        Some("changed")
    );
    assert_eq!(get_bytes(&s3, &src, "orig").await, data);

    // Missing source.
    let res = s3
        .copy_object()
        .bucket(&dst)
        .key("x")
        .copy_source(format!("{src}/does-not-exist"))
        .send()
        .await;
    assert_s3_err(res, 404, "NoSuchKey");
}

#[tokio::test]
async fn copy_object_onto_itself_without_changes_is_invalid_request() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    put(&s3, &bucket, "self", b"same").await;
    let res = s3
        .copy_object()
        .bucket(&bucket)
        .key("self")
        .copy_source(format!("{bucket}/self"))
        .send()
        .await;
    assert_s3_err(res, 400, "InvalidRequest");
}

#[tokio::test]
async fn user_metadata_and_content_headers_are_stored() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let expires = DateTime::from_secs(1_900_000_000);
    s3.put_object()
        .bucket(&bucket)
        .key("m")
        .content_type("text/plain; charset=utf-8")
        .content_encoding("gzip")
        .content_disposition("attachment; filename=\"report.txt\"")
        .content_language("de-DE")
        .cache_control("max-age=3600, public")
        .expires(expires)
        .metadata("project", "bucketgate")
        .metadata("mixed-case", "Value With Spaces")
        .body(ByteStream::from_static(b"not really gzip"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject: {}", dbg_err(&e)));

    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("m")
        .send()
        .await
        .unwrap();
    let get = s3
        .get_object()
        .bucket(&bucket)
        .key("m")
        .send()
        .await
        .unwrap();
    for (what, ct, ce, cd, cl, cc, ex, meta) in [
        (
            "HEAD",
            head.content_type(),
            head.content_encoding(),
            head.content_disposition(),
            head.content_language(),
            head.cache_control(),
            head.expires_string(),
            head.metadata(),
        ),
        (
            "GET",
            get.content_type(),
            get.content_encoding(),
            get.content_disposition(),
            get.content_language(),
            get.cache_control(),
            get.expires_string(),
            get.metadata(),
        ),
    ] {
        assert_eq!(ct, Some("text/plain; charset=utf-8"), "{what} Content-Type");
        assert_eq!(ce, Some("gzip"), "{what} Content-Encoding");
        assert_eq!(
            cd,
            Some("attachment; filename=\"report.txt\""),
            "{what} Content-Disposition"
        );
        assert_eq!(cl, Some("de-DE"), "{what} Content-Language");
        assert_eq!(cc, Some("max-age=3600, public"), "{what} Cache-Control");
        let ex = ex.map(|s| DateTime::from_str(s, DateTimeFormat::HttpDate));
        assert!(
            matches!(ex, Some(Ok(d)) if d == expires),
            "{what} Expires: {ex:?}"
        );
        let meta = meta.cloned().unwrap_or_default();
        assert_eq!(
            meta.get("project").map(String::as_str),
            Some("bucketgate"),
            "{what}"
        );
        assert_eq!(
            meta.get("mixed-case").map(String::as_str),
            Some("Value With Spaces"),
            "{what}"
        );
    }
    // Raw header names are x-amz-meta-*.
    let raw = server.signed("HEAD", &format!("/{bucket}/m")).send().await;
    assert_eq!(raw.header("x-amz-meta-project"), Some("bucketgate"));

    // GET response-* query parameters override the stored headers for that response.
    let over = s3
        .get_object()
        .bucket(&bucket)
        .key("m")
        .response_content_type("application/x-override")
        .response_content_disposition("inline")
        .send()
        .await
        .unwrap();
    assert_eq!(over.content_type(), Some("application/x-override"));
    assert_eq!(over.content_disposition(), Some("inline"));
}

#[tokio::test]
async fn default_content_type_is_binary_octet_stream() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    // Raw PUT without Content-Type: S3 stores binary/octet-stream.
    let raw = server
        .signed("PUT", &format!("/{bucket}/noct"))
        .body(b"abc".to_vec())
        .send()
        .await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("noct")
        .send()
        .await
        .unwrap();
    let ct = head.content_type().unwrap_or("");
    assert!(
        ct == "binary/octet-stream" || ct == "application/octet-stream",
        "default Content-Type {ct:?}"
    );
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// (algorithm, header name, expected base64 checksum)
fn checksums(data: &[u8]) -> Vec<(ChecksumAlgorithm, &'static str, String)> {
    vec![
        (
            ChecksumAlgorithm::Crc32,
            "x-amz-checksum-crc32",
            b64(&crc32fast::hash(data).to_be_bytes()),
        ),
        (
            ChecksumAlgorithm::Crc32C,
            "x-amz-checksum-crc32c",
            b64(&crc32c::crc32c(data).to_be_bytes()),
        ),
        (
            ChecksumAlgorithm::Sha1,
            "x-amz-checksum-sha1",
            b64(&sha1::Sha1::digest(data)),
        ),
        (
            ChecksumAlgorithm::Sha256,
            "x-amz-checksum-sha256",
            b64(&sha2::Sha256::digest(data)),
        ),
    ]
}

fn checksum_of(
    alg: &ChecksumAlgorithm,
    crc32: Option<&str>,
    crc32c: Option<&str>,
    sha1: Option<&str>,
    sha256: Option<&str>,
) -> Option<String> {
    match alg {
        ChecksumAlgorithm::Crc32 => crc32,
        ChecksumAlgorithm::Crc32C => crc32c,
        ChecksumAlgorithm::Sha1 => sha1,
        ChecksumAlgorithm::Sha256 => sha256,
        _ => None,
    }
    .map(str::to_string)
}

#[tokio::test]
async fn checksums_sent_by_sdk_are_stored_and_returned() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(300_000);
    for (alg, _, want) in checksums(&data) {
        let key = format!("sdk-{}", alg.as_str());
        // The SDK sends these as aws-chunked trailers.
        let put = s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject with {alg:?}: {}", dbg_err(&e)));
        let got = checksum_of(
            &alg,
            put.checksum_crc32(),
            put.checksum_crc32_c(),
            put.checksum_sha1(),
            put.checksum_sha256(),
        );
        assert_eq!(
            got.as_deref(),
            Some(want.as_str()),
            "PutObject response {alg:?}"
        );

        let get = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let got = checksum_of(
            &alg,
            get.checksum_crc32(),
            get.checksum_crc32_c(),
            get.checksum_sha1(),
            get.checksum_sha256(),
        );
        assert_eq!(got.as_deref(), Some(want.as_str()), "GetObject {alg:?}");
        assert_eq!(get.body.collect().await.unwrap().to_vec(), data);

        let head = s3
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let got = checksum_of(
            &alg,
            head.checksum_crc32(),
            head.checksum_crc32_c(),
            head.checksum_sha1(),
            head.checksum_sha256(),
        );
        assert_eq!(got.as_deref(), Some(want.as_str()), "HeadObject {alg:?}");
    }
}

#[tokio::test]
async fn checksum_headers_are_validated() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(50_000);
    let other = checksums(b"something else");
    for ((alg, header, want), (_, _, wrong)) in checksums(&data).into_iter().zip(other) {
        // Correct value in a plain header: accepted and echoed.
        let key = format!("hdr-{}", alg.as_str());
        let raw = server
            .signed("PUT", &format!("/{bucket}/{key}"))
            .header(header, &want)
            .body(data.clone())
            .send()
            .await;
        assert_eq!(raw.status, 200, "{header} correct: {}", raw.text());
        assert_eq!(
            raw.header(header),
            Some(want.as_str()),
            "PUT echoes {header}"
        );
        let get = server
            .signed("GET", &format!("/{bucket}/{key}"))
            .header("x-amz-checksum-mode", "ENABLED")
            .send()
            .await;
        assert_eq!(
            get.header(header),
            Some(want.as_str()),
            "GET returns {header}"
        );

        // Wrong value: BadDigest and nothing stored.
        let key = format!("bad-{}", alg.as_str());
        let raw = server
            .signed("PUT", &format!("/{bucket}/{key}"))
            .header(header, &wrong)
            .body(data.clone())
            .send()
            .await;
        raw.assert_error(400, "BadDigest");
        let res = s3.head_object().bucket(&bucket).key(&key).send().await;
        assert_eq!(
            res.map_err(|e| status_code(&e).0).err(),
            Some(404),
            "object with a bad {header} must not be stored"
        );
    }
    server.assert_alive().await;
}

#[tokio::test]
async fn content_md5_is_validated() {
    let server = TestServer::start().await;
    let bucket = server.bucket(&server.client()).await;
    let data = b"content md5 payload".to_vec();
    let good = b64(&md5::Md5::digest(&data));
    let bad = b64(&md5::Md5::digest(b"other"));
    let raw = server
        .signed("PUT", &format!("/{bucket}/ok"))
        .header("content-md5", &good)
        .body(data.clone())
        .send()
        .await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    let raw = server
        .signed("PUT", &format!("/{bucket}/bad"))
        .header("content-md5", &bad)
        .body(data.clone())
        .send()
        .await;
    raw.assert_error(400, "BadDigest");
    let raw = server
        .signed("PUT", &format!("/{bucket}/bad"))
        .header("content-md5", "not-base64!!")
        .body(data)
        .send()
        .await;
    raw.assert_error(400, "InvalidDigest");
}

#[tokio::test]
async fn object_tagging() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    s3.put_object()
        .bucket(&bucket)
        .key("t")
        .tagging("team=storage&env=test")
        .body(ByteStream::from_static(b"tagged"))
        .send()
        .await
        .unwrap();
    let tags = |out: &aws_sdk_s3::operation::get_object_tagging::GetObjectTaggingOutput| {
        let mut v: Vec<(String, String)> = out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        v.sort();
        v
    };
    let out = s3
        .get_object_tagging()
        .bucket(&bucket)
        .key("t")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags(&out),
        [
            ("env".to_string(), "test".to_string()),
            ("team".to_string(), "storage".to_string())
        ]
    );
    let get = s3
        .get_object()
        .bucket(&bucket)
        .key("t")
        .send()
        .await
        .unwrap();
    assert_eq!(get.tag_count(), Some(2), "x-amz-tagging-count");

    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("k").value("v w").build().unwrap())
        .build()
        .unwrap();
    s3.put_object_tagging()
        .bucket(&bucket)
        .key("t")
        .tagging(tagging)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObjectTagging: {}", dbg_err(&e)));
    let out = s3
        .get_object_tagging()
        .bucket(&bucket)
        .key("t")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags(&out),
        [("k".to_string(), "v w".to_string())],
        "PutObjectTagging replaces"
    );

    s3.delete_object_tagging()
        .bucket(&bucket)
        .key("t")
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteObjectTagging: {}", dbg_err(&e)));
    let out = s3
        .get_object_tagging()
        .bucket(&bucket)
        .key("t")
        .send()
        .await
        .unwrap();
    assert!(out.tag_set().is_empty(), "{out:?}");
    // Tagging never touched the data.
    assert_eq!(get_bytes(&s3, &bucket, "t").await, b"tagged");

    let res = s3
        .get_object_tagging()
        .bucket(&bucket)
        .key("missing")
        .send()
        .await;
    assert_s3_err(res, 404, "NoSuchKey");
}
