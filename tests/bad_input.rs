//! Hostile and malformed requests. Each must get an S3 XML error with the right code (never a
//! 5xx, a hang or a panic), and the server must keep answering afterwards.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use common::*;
use md5::Digest;

fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

async fn delete_objects_raw(server: &TestServer, bucket: &str, body: &[u8]) -> RawResponse {
    server
        .signed("POST", &format!("/{bucket}?delete"))
        .header("content-md5", &content_md5(body))
        .header("content-type", "application/xml")
        .body(body.to_vec())
        .send()
        .await
}

#[tokio::test]
async fn malformed_delete_objects_xml() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    s3.put_object()
        .bucket(&bucket)
        .key("x")
        .body(ByteStream::from_static(b"keep"))
        .send()
        .await
        .unwrap();
    let bodies: [&[u8]; 6] = [
        b"this is not xml",
        b"<Delete><Object><Key>x</Key>",
        b"<Delete><Object><Key>x</Key></Object></Wrong>",
        b"",
        b"<Delete></Delete>",
        b"<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Delete><Object><Key>&e;</Key></Object></Delete>",
    ];
    for body in bodies {
        let r = delete_objects_raw(&server, &bucket, body).await;
        assert!(
            r.status < 500,
            "{:?}: {} {}",
            String::from_utf8_lossy(body),
            r.status,
            r.text()
        );
        if body.is_empty() {
            // An empty body is refused as missing or as malformed; both are S3 codes for it.
            let code = r.code().unwrap_or_default();
            assert!(
                r.status == 400 && (code == "MalformedXML" || code == "MissingRequestBodyError"),
                "empty DeleteObjects body: {} {}",
                r.status,
                r.text()
            );
        } else if body.starts_with(b"<?xml") {
            // External entities are never resolved; any 4xx XML error is acceptable here.
            assert!(r.code().is_some(), "{}", r.text());
            assert!(!r.text().contains("root:"), "XXE resolved!");
        } else {
            r.assert_error(400, "MalformedXML");
        }
    }
    // More than 1000 keys is also MalformedXML in S3.
    let mut many = String::from("<Delete>");
    for i in 0..1001 {
        many.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
    }
    many.push_str("</Delete>");
    delete_objects_raw(&server, &bucket, many.as_bytes())
        .await
        .assert_error(400, "MalformedXML");
    // Nothing was deleted.
    s3.head_object()
        .bucket(&bucket)
        .key("x")
        .send()
        .await
        .expect("x survives");
    server.assert_alive().await;
}

#[tokio::test]
async fn malformed_complete_multipart_xml() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let bodies: [&[u8]; 5] = [
        b"garbage",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>\"x\"</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        b"",
    ];
    for body in bodies {
        let r = server
            .signed("POST", &format!("/{bucket}/mp?uploadId={id}"))
            .body(body.to_vec())
            .send()
            .await;
        assert!(
            r.status < 500,
            "{:?}: {} {}",
            String::from_utf8_lossy(body),
            r.status,
            r.text()
        );
        let code = r.code().unwrap_or_default();
        if body.is_empty() && code == "MissingRequestBodyError" {
            assert_eq!(r.status, 400);
        } else {
            r.assert_error(400, "MalformedXML");
        }
    }
    // The upload is still there.
    s3.list_parts()
        .bucket(&bucket)
        .key("mp")
        .upload_id(&id)
        .send()
        .await
        .expect("upload survives malformed completions");
    server.assert_alive().await;
}

#[tokio::test]
async fn oversized_xml_bodies_are_rejected() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    // 3 MiB of well-formed XML (a long comment), over the 2 MiB cap.
    let mut big = String::from("<Delete><!--");
    big.push_str(&"x".repeat(3 * MIB));
    big.push_str("--><Object><Key>k</Key></Object></Delete>");
    let r = delete_objects_raw(&server, &bucket, big.as_bytes()).await;
    assert_eq!(r.status, 400, "DeleteObjects 3 MiB: {}", r.text());
    let code = r.code().unwrap_or_default();
    assert!(
        code == "MaxMessageLengthExceeded" || code == "EntityTooLarge",
        "DeleteObjects 3 MiB: code {code:?}"
    );

    let mut big = String::from("<CompleteMultipartUpload><!--");
    big.push_str(&"x".repeat(3 * MIB));
    big.push_str("--></CompleteMultipartUpload>");
    let r = server
        .signed("POST", &format!("/{bucket}/mp?uploadId={id}"))
        .payload_hash("UNSIGNED-PAYLOAD")
        .body(big.into_bytes())
        .send()
        .await;
    assert_eq!(r.status, 400, "CompleteMultipartUpload 3 MiB: {}", r.text());
    let code = r.code().unwrap_or_default();
    assert!(
        code == "MaxMessageLengthExceeded" || code == "EntityTooLarge",
        "CompleteMultipartUpload 3 MiB: code {code:?}"
    );
    server.assert_alive().await;
}

#[tokio::test]
async fn key_length_limit_is_1024_bytes() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let long_flat = "a".repeat(1024);
    let long_nested = format!("{}/{}", "d".repeat(300), "f".repeat(723));
    let long_multibyte = "é".repeat(512); // 1024 bytes, 512 chars
    for key in [&long_flat, &long_nested, &long_multibyte] {
        assert_eq!(key.len(), 1024);
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from_static(b"max"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("a 1024-byte key is valid: {}", dbg_err(&e)));
        let got = s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(got.body.collect().await.unwrap().to_vec(), b"max");
    }
    for key in ["a".repeat(1025), "é".repeat(513)] {
        let res = s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(ByteStream::from_static(b"too long"))
            .send()
            .await;
        assert_s3_err(res, 400, "KeyTooLongError");
    }
    server.assert_alive().await;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn dot_segment_and_absolute_keys_are_rejected() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let marker = format!("escape-marker-{:016x}", rand::random::<u64>());
    let targets = [
        format!("/{bucket}/../x"),
        format!("/{bucket}/a/../../b"),
        format!("/{bucket}/./x"),
        format!("/{bucket}//abs"),
        format!("/{bucket}/%2E%2E/x"),
        format!("/{bucket}/a/%2e%2e/%2e%2e/b"),
        format!("/{bucket}/%2Fabs"),
        format!("/{bucket}/a/./b"),
        format!("/{bucket}/a/.."),
        format!("/{bucket}/.."),
        format!("/{bucket}/."),
        format!("/{bucket}/a/../../../../../../../../tmp/x"),
    ];
    let mut wrong = Vec::new();
    for target in &targets {
        let r = server
            .signed("PUT", target)
            .body(marker.clone().into_bytes())
            .send()
            .await;
        if (r.status, r.code().as_deref()) != (400, Some("InvalidArgument")) {
            wrong.push(format!("PUT {target} -> {} {}", r.status, r.text()));
        }
    }
    assert!(
        wrong.is_empty(),
        "expected 400 InvalidArgument:\n{}",
        wrong.join("\n")
    );
    // Multipart and copy destinations are checked too.
    let r = server
        .signed("POST", &format!("/{bucket}/../x?uploads"))
        .send()
        .await;
    r.assert_error(400, "InvalidArgument");
    s3.put_object()
        .bucket(&bucket)
        .key("src")
        .body(ByteStream::from(marker.clone().into_bytes()))
        .send()
        .await
        .unwrap();
    let r = server
        .signed("PUT", &format!("/{bucket}/a/../../copied"))
        .header("x-amz-copy-source", &format!("{bucket}/src"))
        .send()
        .await;
    r.assert_error(400, "InvalidArgument");
    s3.delete_object()
        .bucket(&bucket)
        .key("src")
        .send()
        .await
        .unwrap();

    // Names that merely contain dots are ordinary keys.
    for key in ["a..b", "..x/y.", ".hidden", "x/...", "x/.y/z"] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from_static(b"fine"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("key {key:?} is valid: {}", dbg_err(&e)));
    }
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort();
    assert_eq!(keys, ["..x/y.", ".hidden", "a..b", "x/...", "x/.y/z"]);

    // The marker payload was never written anywhere: not inside and not outside the data dir.
    let root = server.root_dir().to_path_buf();
    let top: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(top, ["data"], "files appeared next to the data dir");
    for (path, len) in TestServer::files_under(&root) {
        if len < 64 * MIB as u64 {
            let bytes = std::fs::read(&path).unwrap_or_default();
            assert!(
                !contains(&bytes, marker.as_bytes()),
                "rejected payload found in {path:?}"
            );
        }
    }
    // The deepest traversal would land on /tmp/x.
    let escaped = std::fs::read("/tmp/x").unwrap_or_default();
    assert!(
        !contains(&escaped, marker.as_bytes()),
        "payload escaped to /tmp/x"
    );
    server.assert_alive().await;
}

#[tokio::test]
async fn invalid_bucket_names_in_requests() {
    let server = TestServer::start().await;
    for name in ["Bad_Bucket", "ab", "-abc", "a..b", "192.168.0.1"] {
        let r = server.signed("PUT", &format!("/{name}")).send().await;
        r.assert_error(400, "InvalidBucketName");
    }
    for name in ["Bad_Bucket", "ab"] {
        let r = server
            .signed("PUT", &format!("/{name}/key"))
            .body(b"x".to_vec())
            .send()
            .await;
        let code = r.code().unwrap_or_default();
        assert!(
            (r.status, code.as_str()) == (400, "InvalidBucketName")
                || (r.status, code.as_str()) == (404, "NoSuchBucket"),
            "PUT object into {name}: {} {}",
            r.status,
            r.text()
        );
    }
    assert!(
        server
            .client()
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .is_empty()
    );
    server.assert_alive().await;
}

/// S3 ignores a malformed `Range` (whole object) or answers 416. bucketgate does so when the
/// header is not signed (presigned URLs, browsers). A *signed* malformed Range cannot be
/// dropped without breaking the signature, and s3s parses it before our code runs: that case
/// answers 400 InvalidArgument, a clear S3 error rather than the object.
#[tokio::test]
async fn bad_range_headers_are_ignored_or_416() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let data = random_bytes(100);
    s3.put_object()
        .bucket(&bucket)
        .key("r")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let presigned = s3
        .get_object()
        .bucket(&bucket)
        .key("r")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(
                300,
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    let http = http_client();
    let mut wrong = Vec::new();
    for range in [
        "bytes=abc",
        "bytes=5-2",
        "items=0-1",
        "bytes=",
        "bytes=--1",
        "bytes=0-1,3-4",
        "bytes=-",
        "bytes=99999999999999999999999-",
        "garbage",
    ] {
        let unsigned = http
            .get(presigned.uri())
            .header("range", range)
            .send()
            .await
            .unwrap();
        let status = unsigned.status().as_u16();
        let body = unsigned.bytes().await.unwrap();
        let ok = match status {
            200 => body.as_ref() == data.as_slice(),
            416 => String::from_utf8_lossy(&body).contains("<Code>InvalidRange</Code>"),
            _ => false,
        };
        if !ok {
            wrong.push(format!("unsigned {range:?} -> {status}"));
        }
        let signed = server
            .signed("GET", &format!("/{bucket}/r"))
            .header("range", range)
            .send()
            .await;
        let ok = match signed.status {
            200 => signed.body == data,
            416 => signed.code().as_deref() == Some("InvalidRange"),
            400 => signed.code().as_deref() == Some("InvalidArgument"),
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "signed {range:?} -> {} {}",
                signed.status,
                signed.code().unwrap_or_default()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "expected the whole object (Range ignored), 416 InvalidRange, or for a signed Range 400 InvalidArgument:\n{}",
        wrong.join("\n")
    );
    server.assert_alive().await;
}

#[tokio::test]
async fn put_without_content_length_does_not_hang() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;

    // Signed, no Content-Length, no Transfer-Encoding: 411 MissingContentLength.
    let r = server
        .signed("PUT", &format!("/{bucket}/nolen"))
        .payload_hash("UNSIGNED-PAYLOAD")
        .no_content_length()
        .send()
        .await;
    r.assert_error(411, "MissingContentLength");

    // Signed, chunked transfer encoding instead of a length.
    let r = server
        .signed("PUT", &format!("/{bucket}/chunked"))
        .payload_hash("UNSIGNED-PAYLOAD")
        .header("transfer-encoding", "chunked")
        .no_content_length()
        .body(b"5\r\nhello\r\n0\r\n\r\n".to_vec())
        .send()
        .await;
    r.assert_error(411, "MissingContentLength");

    // Anonymous: denied (403) or refused for the missing length (411), either way promptly.
    let r = server
        .raw("PUT", &format!("/{bucket}/anon"))
        .no_content_length()
        .send()
        .await;
    let code = r.code().unwrap_or_default();
    assert!(
        (r.status, code.as_str()) == (403, "AccessDenied")
            || (r.status, code.as_str()) == (411, "MissingContentLength"),
        "anonymous PUT without length: {} {}",
        r.status,
        r.text()
    );
    for key in ["nolen", "chunked", "anon"] {
        let res = s3.head_object().bucket(&bucket).key(key).send().await;
        assert_eq!(
            res.map_err(|e| status_code(&e).0).err(),
            Some(404),
            "{key} must not exist"
        );
    }
    server.assert_alive().await;
}

#[tokio::test]
async fn invalid_utf8_nul_and_bad_escapes_in_keys() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let mut wrong = Vec::new();
    // NUL and invalid UTF-8 (bad sequences, lone surrogates) are 400.
    for key in ["a%00b", "a%FFb", "%C3%28", "%ED%A0%80", "%00"] {
        for method in ["PUT", "GET", "HEAD", "DELETE"] {
            let r = server
                .signed(method, &format!("/{bucket}/{key}"))
                .body(if method == "PUT" {
                    b"x".to_vec()
                } else {
                    Vec::new()
                })
                .send()
                .await;
            let status_ok = r.status == 400;
            let xml_ok = method == "HEAD" || r.code().is_some();
            if !status_ok || !xml_ok {
                wrong.push(format!("{method} {key} -> {} {}", r.status, r.text()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "expected 400 S3 errors:\n{}",
        wrong.join("\n")
    );
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert!(listed.contents().is_empty(), "{listed:?}");
    server.assert_alive().await;
}

#[tokio::test]
async fn malformed_authorization_is_a_4xx() {
    let server = TestServer::start().await;
    for auth in [
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
        "AWS4-HMAC-SHA256 Credential=AK/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=zz",
        "Bearer abc",
        "AWS AKID:sig",
    ] {
        let r = server
            .raw("GET", "/")
            .header("authorization", auth)
            .header("x-amz-date", "20200101T000000Z")
            .header("x-amz-content-sha256", EMPTY_SHA256)
            .send()
            .await;
        assert!(
            (400..500).contains(&r.status) && r.code().is_some(),
            "Authorization {auth:?}: {} {}",
            r.status,
            r.text()
        );
    }
    server.assert_alive().await;
}
