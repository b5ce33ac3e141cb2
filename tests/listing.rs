//! ListObjects (v1) and ListObjectsV2: prefix, delimiter, common prefixes, max-keys,
//! pagination (continuation token, start-after, marker), encoding-type=url, KeyCount.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;
use common::*;

const KEYS: &[&str] = &[
    "a/1", "a/2", "a/b/3", "a/b/4", "a/c/5", "b/1", "b/2", "c", "d", "d/e/f", "e.txt",
];

async fn fill(server: &TestServer, keys: &[&str]) -> (aws_sdk_s3::Client, String) {
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    for k in keys {
        s3.put_object()
            .bucket(&bucket)
            .key(*k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {k}: {}", dbg_err(&e)));
    }
    (s3, bucket)
}

fn strs<'a>(it: impl Iterator<Item = Option<&'a str>>) -> Vec<String> {
    it.map(|s| s.unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn v2_lists_everything_in_order_with_sizes() {
    let server = TestServer::start().await;
    let (s3, bucket) = fill(&server, KEYS).await;
    let out = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(strs(out.contents().iter().map(|o| o.key())), KEYS);
    assert_eq!(out.key_count(), Some(KEYS.len() as i32), "KeyCount");
    assert_eq!(out.is_truncated(), Some(false));
    assert_eq!(out.name(), Some(bucket.as_str()));
    for o in out.contents() {
        let k = o.key().unwrap();
        assert_eq!(o.size(), Some(k.len() as i64), "{k}");
        assert_eq!(o.e_tag(), Some(quoted_md5(k.as_bytes()).as_str()), "{k}");
        assert!(o.last_modified().is_some());
    }
}

#[tokio::test]
async fn v2_sorts_by_utf8_bytes() {
    let server = TestServer::start().await;
    let keys = ["b", "B", "aa", "a", "a-", "a/", "é", "Z", "0"];
    let (s3, bucket) = fill(&server, &keys).await;
    let out = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let mut want: Vec<&str> = keys.to_vec();
    want.sort(); // str ordering is UTF-8 byte ordering
    assert_eq!(strs(out.contents().iter().map(|o| o.key())), want);
}

#[tokio::test]
async fn v2_prefix_and_delimiter() {
    let server = TestServer::start().await;
    let (s3, bucket) = fill(&server, KEYS).await;

    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        strs(out.contents().iter().map(|o| o.key())),
        ["c", "d", "e.txt"]
    );
    assert_eq!(
        strs(out.common_prefixes().iter().map(|p| p.prefix())),
        ["a/", "b/", "d/"]
    );
    assert_eq!(
        out.key_count(),
        Some(6),
        "KeyCount counts keys and common prefixes"
    );
    assert_eq!(out.delimiter(), Some("/"));

    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(strs(out.contents().iter().map(|o| o.key())), ["a/1", "a/2"]);
    assert_eq!(
        strs(out.common_prefixes().iter().map(|p| p.prefix())),
        ["a/b/", "a/c/"]
    );
    assert_eq!(out.key_count(), Some(4));
    assert_eq!(out.prefix(), Some("a/"));

    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("a/b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        strs(out.contents().iter().map(|o| o.key())),
        ["a/b/3", "a/b/4"]
    );
    assert!(out.common_prefixes().is_empty());

    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("zzz")
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(
        out.key_count(),
        Some(0),
        "KeyCount is present (0) for an empty result"
    );

    // A delimiter other than '/'.
    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .delimiter(".")
        .send()
        .await
        .unwrap();
    assert_eq!(
        strs(out.common_prefixes().iter().map(|p| p.prefix())),
        ["e."]
    );
    assert!(!out.contents().iter().any(|o| o.key() == Some("e.txt")));
}

#[tokio::test]
async fn v2_pagination_with_continuation_token() {
    let server = TestServer::start().await;
    let keys: Vec<String> = (0..10).map(|i| format!("k{i:02}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let (s3, bucket) = fill(&server, &key_refs).await;

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(&bucket)
            .max_keys(3)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(out.max_keys(), Some(3));
        assert_eq!(
            out.continuation_token(),
            token.as_deref(),
            "echoes ContinuationToken"
        );
        pages.push(out.key_count().expect("KeyCount present"));
        seen.extend(strs(out.contents().iter().map(|o| o.key())));
        if out.is_truncated() == Some(true) {
            token = Some(
                out.next_continuation_token()
                    .expect("truncated page has NextContinuationToken")
                    .to_string(),
            );
        } else {
            assert!(out.next_continuation_token().is_none());
            break;
        }
        assert!(pages.len() < 10, "pagination does not terminate");
    }
    assert_eq!(pages, [3, 3, 3, 1]);
    assert_eq!(seen, keys);
}

#[tokio::test]
async fn v2_pagination_counts_common_prefixes() {
    let server = TestServer::start().await;
    let (s3, bucket) = fill(&server, KEYS).await;
    // Top level with '/' has 6 entries: a/ b/ c d d/ e.txt (keys and prefixes interleaved).
    let mut entries = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let out = s3
            .list_objects_v2()
            .bucket(&bucket)
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        let n = out.contents().len() + out.common_prefixes().len();
        assert!(n <= 2, "max-keys bounds keys + prefixes, got {n}");
        assert_eq!(out.key_count(), Some(n as i32));
        entries.extend(strs(out.contents().iter().map(|o| o.key())));
        entries.extend(strs(out.common_prefixes().iter().map(|p| p.prefix())));
        if out.is_truncated() != Some(true) {
            token = None;
            break;
        }
        token = out.next_continuation_token().map(str::to_string);
    }
    assert!(token.is_none(), "listing did not finish");
    entries.sort();
    assert_eq!(
        entries,
        ["a/", "b/", "c", "d", "d/", "e.txt"],
        "each entry exactly once"
    );
}

#[tokio::test]
async fn v2_start_after_and_max_keys_zero() {
    let server = TestServer::start().await;
    let (s3, bucket) = fill(&server, KEYS).await;
    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .start_after("b/1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        strs(out.contents().iter().map(|o| o.key())),
        ["b/2", "c", "d", "d/e/f", "e.txt"]
    );
    assert_eq!(out.start_after(), Some("b/1"));
    // start-after need not be an existing key.
    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .start_after("c0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        strs(out.contents().iter().map(|o| o.key())),
        ["d", "d/e/f", "e.txt"]
    );

    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));
}

#[tokio::test]
async fn v1_prefix_delimiter_and_marker_pagination() {
    let server = TestServer::start().await;
    let (s3, bucket) = fill(&server, KEYS).await;

    let out = s3
        .list_objects()
        .bucket(&bucket)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        strs(out.contents().iter().map(|o| o.key())),
        ["c", "d", "e.txt"]
    );
    assert_eq!(
        strs(out.common_prefixes().iter().map(|p| p.prefix())),
        ["a/", "b/", "d/"]
    );
    assert_eq!(out.is_truncated(), Some(false));

    let out = s3
        .list_objects()
        .bucket(&bucket)
        .prefix("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        strs(out.contents().iter().map(|o| o.key())),
        ["a/1", "a/2", "a/b/3", "a/b/4", "a/c/5"]
    );

    let out = s3
        .list_objects()
        .bucket(&bucket)
        .marker("b/2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        strs(out.contents().iter().map(|o| o.key())),
        ["c", "d", "d/e/f", "e.txt"]
    );
    assert_eq!(out.marker(), Some("b/2"));

    // Without a delimiter, NextMarker is optional: the client continues from the last key.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let out = s3
            .list_objects()
            .bucket(&bucket)
            .max_keys(4)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        assert!(out.contents().len() <= 4);
        seen.extend(strs(out.contents().iter().map(|o| o.key())));
        if out.is_truncated() != Some(true) {
            marker = None;
            break;
        }
        marker = out
            .next_marker()
            .map(str::to_string)
            .or_else(|| seen.last().cloned());
    }
    assert!(marker.is_none(), "v1 listing did not finish");
    assert_eq!(seen, KEYS);

    // With a delimiter, a truncated v1 response carries NextMarker.
    let mut entries = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let out = s3
            .list_objects()
            .bucket(&bucket)
            .delimiter("/")
            .max_keys(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        entries.extend(strs(out.contents().iter().map(|o| o.key())));
        entries.extend(strs(out.common_prefixes().iter().map(|p| p.prefix())));
        if out.is_truncated() != Some(true) {
            marker = None;
            break;
        }
        marker = Some(
            out.next_marker()
                .expect("truncated v1 listing with a delimiter returns NextMarker")
                .to_string(),
        );
    }
    assert!(marker.is_none(), "v1 delimiter listing did not finish");
    entries.sort();
    assert_eq!(entries, ["a/", "b/", "c", "d", "d/", "e.txt"]);
}

/// Decodes S3's `encoding-type=url` form (percent-encoding; `+` may stand for a space).
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(h, 16).expect("valid %XX"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8 after decoding")
}

#[tokio::test]
async fn encoding_type_url() {
    let server = TestServer::start().await;
    let keys = [
        "dir one/file a+b.txt",
        "dir one/x&y=z",
        "tab\tkey",
        "plain",
        "ü/ñ",
    ];
    let (s3, bucket) = fill(&server, &keys).await;

    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(out.encoding_type(), Some(&EncodingType::Url));
    let raw: Vec<String> = strs(out.contents().iter().map(|o| o.key()));
    for k in &raw {
        assert!(
            !k.contains(' ') && !k.contains('\t') && k.is_ascii(),
            "key not URL-encoded: {k:?}"
        );
    }
    let mut decoded: Vec<String> = raw.iter().map(|k| url_decode(k)).collect();
    decoded.sort();
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(decoded, want);

    // Prefixes and the echoed prefix/delimiter are encoded too.
    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .encoding_type(EncodingType::Url)
        .prefix("dir one/")
        .delimiter("&")
        .send()
        .await
        .unwrap();
    assert_eq!(out.prefix().map(url_decode).as_deref(), Some("dir one/"));
    assert!(
        !out.prefix().unwrap_or_default().contains(' '),
        "Prefix is encoded"
    );
    assert_eq!(
        out.common_prefixes()
            .iter()
            .map(|p| url_decode(p.prefix().unwrap()))
            .collect::<Vec<_>>(),
        ["dir one/x&"]
    );
    assert_eq!(
        out.contents()
            .iter()
            .map(|o| url_decode(o.key().unwrap()))
            .collect::<Vec<_>>(),
        ["dir one/file a+b.txt"]
    );

    // v1 as well.
    let out = s3
        .list_objects()
        .bucket(&bucket)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let mut decoded: Vec<String> = out
        .contents()
        .iter()
        .map(|o| url_decode(o.key().unwrap()))
        .collect();
    decoded.sort();
    assert_eq!(decoded, want);
    assert!(out.contents().iter().all(|o| o.key().unwrap().is_ascii()));
}

#[tokio::test]
async fn negative_or_non_numeric_max_keys_is_invalid_argument() {
    let server = TestServer::start().await;
    let (_s3, bucket) = fill(&server, &["x"]).await;
    for q in [
        "list-type=2&max-keys=-1",
        "list-type=2&max-keys=abc",
        "max-keys=-1",
    ] {
        let raw = server.signed("GET", &format!("/{bucket}?{q}")).send().await;
        assert_eq!(
            (raw.status, raw.code().as_deref()),
            (400, Some("InvalidArgument")),
            "?{q}: {}",
            raw.text()
        );
    }
    server.assert_alive().await;
}

#[tokio::test]
async fn garbage_continuation_token_is_invalid_argument() {
    let server = TestServer::start().await;
    let (_s3, bucket) = fill(&server, &["x"]).await;
    for token in ["not-a-token", "garbage%00", "%2F%2F"] {
        let raw = server
            .signed(
                "GET",
                &format!("/{bucket}?list-type=2&continuation-token={token}"),
            )
            .send()
            .await;
        assert_eq!(
            (raw.status, raw.code().as_deref()),
            (400, Some("InvalidArgument")),
            "continuation-token={token}: {}",
            raw.text()
        );
    }
    server.assert_alive().await;
}

#[tokio::test]
async fn control_characters_in_keys_are_valid() {
    // S3 keys are any UTF-8 up to 1024 bytes. XML 1.0 cannot carry characters such as U+0001,
    // which is why encoding-type=url exists ("Object key names may contain any Unicode
    // character; however, the XML 1.0 parser cannot parse some characters, such as characters
    // with an ASCII value from 0 to 10"). Only NUL is rejected by this gateway on purpose (see
    // bad_input.rs).
    let server = TestServer::start().await;
    let key = "ctrl\u{1}char\u{1f}end";
    let (s3, bucket) = fill(&server, &[key]).await;
    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let listed: Vec<String> = out
        .contents()
        .iter()
        .map(|o| url_decode(o.key().unwrap()))
        .collect();
    assert_eq!(listed, [key]);
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), key.as_bytes());
}
