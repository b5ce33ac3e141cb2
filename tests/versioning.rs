//! Versioning on the embedded backend, through the AWS SDK: version ids, delete markers,
//! reads and deletes by version, ListObjectVersions paging, suspended buckets, copies,
//! tagging per version, quotas and bucket deletion.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, ObjectIdentifier, Tag, Tagging, VersioningConfiguration,
};
use common::*;

async fn versioned_bucket(server: &TestServer, s3: &aws_sdk_s3::Client) -> String {
    let bucket = server.bucket(s3).await;
    set_versioning(s3, &bucket, BucketVersioningStatus::Enabled).await;
    bucket
}

async fn set_versioning(s3: &aws_sdk_s3::Client, bucket: &str, status: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutBucketVersioning: {}", dbg_err(&e)));
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) -> Option<String> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {}", dbg_err(&e)))
        .version_id
}

async fn get_version(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, v: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(v)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key}@{v}: {}", dbg_err(&e)));
    assert_eq!(out.version_id(), Some(v));
    out.body.collect().await.unwrap().to_vec()
}

/// (key, version id, is latest, is delete marker) of every entry, in the order S3 lists
/// them within each kind.
async fn all_versions(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String, bool, bool)> {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListObjectVersions: {}", dbg_err(&e)));
    let mut all: Vec<_> = out
        .versions()
        .iter()
        .map(|v| {
            let id = v.version_id().unwrap().to_owned();
            (
                v.key().unwrap().to_owned(),
                id,
                v.is_latest().unwrap(),
                false,
            )
        })
        .chain(out.delete_markers().iter().map(|m| {
            let id = m.version_id().unwrap().to_owned();
            (
                m.key().unwrap().to_owned(),
                id,
                m.is_latest().unwrap(),
                true,
            )
        }))
        .collect();
    // Newest first per key: version ids sort by time, so descending id within a key.
    all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    all
}

#[tokio::test]
async fn versions_markers_and_restores() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;

    // A bucket that never had versioning answers an empty configuration.
    let v = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), None);
    // Written before versioning: the null version.
    assert_eq!(put(&s3, &bucket, "k", b"zero").await, None);
    set_versioning(&s3, &bucket, BucketVersioningStatus::Enabled).await;
    let v = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));

    let v1 = put(&s3, &bucket, "k", b"one").await.expect("a version id");
    let v2 = put(&s3, &bucket, "k", b"two").await.expect("a version id");
    assert_ne!(v1, v2);
    assert!(v1 < v2, "version ids are time-ordered: {v1} {v2}");
    assert!(
        v1.bytes().all(|b| b.is_ascii_alphanumeric()),
        "URL-safe: {v1}"
    );
    assert_eq!(get_bytes(&s3, &bucket, "k").await, b"two");
    assert_eq!(get_version(&s3, &bucket, "k", &v1).await, b"one");
    assert_eq!(get_version(&s3, &bucket, "k", "null").await, b"zero");
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(3));
    assert_eq!(head.version_id(), Some(v1.as_str()));

    // Unknown and malformed ids.
    let unknown = format!("{}0", &v1[..23]);
    assert_s3_err(
        s3.get_object()
            .bucket(&bucket)
            .key("k")
            .version_id(&unknown)
            .send()
            .await,
        404,
        "NoSuchVersion",
    );
    assert_s3_err(
        s3.get_object()
            .bucket(&bucket)
            .key("k")
            .version_id("not-a-version")
            .send()
            .await,
        400,
        "InvalidArgument",
    );

    // A delete without a version id adds a marker.
    let del = s3
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del
        .version_id()
        .expect("the marker's version id")
        .to_owned();
    let raw = server.signed("GET", &format!("/{bucket}/k")).send().await;
    raw.assert_error(404, "NoSuchKey");
    assert_eq!(raw.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.header("x-amz-version-id"), Some(marker.as_str()));
    let raw = server
        .signed("GET", &format!("/{bucket}/k?versionId={marker}"))
        .send()
        .await;
    raw.assert_error(405, "MethodNotAllowed");
    assert_eq!(raw.header("x-amz-delete-marker"), Some("true"));
    // Listings show no object; versions show all four, the marker latest.
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
    let all = all_versions(&s3, &bucket).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let latest: Vec<_> = all.iter().filter(|e| e.2).collect();
    assert_eq!(latest.len(), 1);
    assert_eq!((latest[0].1.as_str(), latest[0].3), (marker.as_str(), true));
    assert!(all.iter().any(|e| e.1 == "null" && !e.3));

    // Deleting the marker by id restores the object.
    let del = s3
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    assert_eq!(del.version_id(), Some(marker.as_str()));
    assert_eq!(get_bytes(&s3, &bucket, "k").await, b"two");

    // Deleting the current version by id makes the next newer one current.
    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&s3, &bucket, "k").await, b"one");
    // Deleting a version that does not exist is no error.
    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    let all = all_versions(&s3, &bucket).await;
    assert_eq!(all.len(), 2, "{all:?}");

    // The bucket cannot be deleted while any version is left.
    assert_s3_err(
        s3.delete_bucket().bucket(&bucket).send().await,
        409,
        "BucketNotEmpty",
    );
    for (key, id, _, _) in all {
        s3.delete_object()
            .bucket(&bucket)
            .key(&key)
            .version_id(&id)
            .send()
            .await
            .unwrap();
    }
    assert!(all_versions(&s3, &bucket).await.is_empty());
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    server.assert_no_panics();
}

#[tokio::test]
async fn suspended_buckets_replace_the_null_version() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = versioned_bucket(&server, &s3).await;
    let v1 = put(&s3, &bucket, "k", b"one").await.unwrap();
    set_versioning(&s3, &bucket, BucketVersioningStatus::Suspended).await;
    assert_eq!(put(&s3, &bucket, "k", b"null-a").await, None);
    assert_eq!(put(&s3, &bucket, "k", b"null-b").await, None);
    let all = all_versions(&s3, &bucket).await;
    let mut ids: Vec<&str> = all.iter().map(|e| e.1.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![v1.as_str(), "null"],
        "one null version, one kept: {all:?}"
    );
    assert!(
        all.iter().any(|e| e.1 == "null" && e.2),
        "the null version is the latest"
    );
    assert_eq!(get_version(&s3, &bucket, "k", "null").await, b"null-b");
    // A delete in a suspended bucket adds a null marker in place of the null version.
    let del = s3
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (del.delete_marker(), del.version_id()),
        (Some(true), Some("null"))
    );
    let all = all_versions(&s3, &bucket).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().any(|e| e.1 == "null" && e.3 && e.2));
    // Usage counts what is stored: v1 (3 bytes) and the marker.
    let usage = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(usage.key_count(), Some(0));
    server.assert_no_panics();
}

#[tokio::test]
async fn list_object_versions_pages_with_markers_and_prefixes() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = versioned_bucket(&server, &s3).await;
    let mut expected = Vec::new();
    for key in ["a", "b/x", "b/y", "c"] {
        for n in 0..3 {
            let id = put(&s3, &bucket, key, format!("{key}{n}").as_bytes())
                .await
                .unwrap();
            expected.push((key.to_owned(), id));
        }
    }
    s3.delete_object()
        .bucket(&bucket)
        .key("c")
        .send()
        .await
        .unwrap();
    // Page through two at a time; every version comes exactly once, newest first per key.
    let mut seen = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    loop {
        let out = s3
            .list_object_versions()
            .bucket(&bucket)
            .max_keys(2)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectVersions: {}", dbg_err(&e)));
        let n = out.versions().len() + out.delete_markers().len();
        assert!(n <= 2);
        for v in out.versions() {
            seen.push((
                v.key().unwrap().to_owned(),
                v.version_id().unwrap().to_owned(),
            ));
        }
        for m in out.delete_markers() {
            seen.push((
                m.key().unwrap().to_owned(),
                m.version_id().unwrap().to_owned(),
            ));
        }
        if out.is_truncated() != Some(true) {
            break;
        }
        km = out.next_key_marker().map(str::to_owned);
        vm = out.next_version_id_marker().map(str::to_owned);
        assert!(km.is_some());
    }
    assert_eq!(seen.len(), 13, "{seen:?}");
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 13, "no version listed twice");
    for (key, id) in &expected {
        assert!(
            seen.contains(&(key.clone(), id.clone())),
            "{key}@{id} missing"
        );
    }
    // Within a key the order is newest first.
    let a: Vec<&String> = seen
        .iter()
        .filter(|(k, _)| k == "a")
        .map(|(_, v)| v)
        .collect();
    assert!(a.windows(2).all(|w| w[0] > w[1]), "{a:?}");

    // A delimiter folds b/ into one common prefix; a prefix limits the keys.
    let out = s3
        .list_object_versions()
        .bucket(&bucket)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["b/"]);
    assert_eq!(out.versions().len(), 6);
    let out = s3
        .list_object_versions()
        .bucket(&bucket)
        .prefix("b/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.versions().len(), 6);
    assert!(
        out.versions()
            .iter()
            .all(|v| v.key().unwrap().starts_with("b/"))
    );
    // A version-id marker needs a key marker.
    assert_s3_err(
        s3.list_object_versions()
            .bucket(&bucket)
            .version_id_marker("null")
            .send()
            .await,
        400,
        "InvalidArgument",
    );
    server.assert_no_panics();
}

#[tokio::test]
async fn copies_tags_and_batch_deletes_by_version() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = versioned_bucket(&server, &s3).await;
    let v1 = put(&s3, &bucket, "src", b"first").await.unwrap();
    let _v2 = put(&s3, &bucket, "src", b"second").await.unwrap();
    let copy = s3
        .copy_object()
        .bucket(&bucket)
        .key("dst")
        .copy_source(format!("{bucket}/src?versionId={v1}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CopyObject: {}", dbg_err(&e)));
    assert_eq!(copy.copy_source_version_id(), Some(v1.as_str()));
    assert!(copy.version_id().is_some());
    assert_eq!(get_bytes(&s3, &bucket, "dst").await, b"first");

    // Tags per version.
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("gen").value("1").build().unwrap())
        .build()
        .unwrap();
    let out = s3
        .put_object_tagging()
        .bucket(&bucket)
        .key("src")
        .version_id(&v1)
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v1.as_str()));
    let tags = s3
        .get_object_tagging()
        .bucket(&bucket)
        .key("src")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    let tags = s3
        .get_object_tagging()
        .bucket(&bucket)
        .key("src")
        .send()
        .await
        .unwrap();
    assert!(tags.tag_set().is_empty(), "the current version has no tags");

    // DeleteObjects: one by version, one without (a marker).
    let out = s3
        .delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("src")
                        .version_id(&v1)
                        .build()
                        .unwrap(),
                )
                .objects(ObjectIdentifier::builder().key("dst").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let by_key = |k: &str| {
        out.deleted()
            .iter()
            .find(|d| d.key() == Some(k))
            .unwrap()
            .clone()
    };
    assert_eq!(by_key("src").version_id(), Some(v1.as_str()));
    assert_eq!(by_key("dst").delete_marker(), Some(true));
    assert!(by_key("dst").delete_marker_version_id().is_some());
    assert_s3_err(
        s3.get_object()
            .bucket(&bucket)
            .key("src")
            .version_id(&v1)
            .send()
            .await,
        404,
        "NoSuchVersion",
    );
    assert_s3_err(
        s3.get_object().bucket(&bucket).key("dst").send().await,
        404,
        "NoSuchKey",
    );
    server.assert_no_panics();
}

#[tokio::test]
async fn quotas_count_every_version() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = versioned_bucket(&server, &s3).await;
    let token = server.admin_token();
    let http = http_client();
    let resp = http
        .patch(format!("{}/api/buckets/{bucket}", server.admin_endpoint))
        .bearer_auth(&token)
        .json(&serde_json::json!({"maxObjects": 2, "maxSizeBytes": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let v1 = put(&s3, &bucket, "k", &[1; 400]).await.unwrap();
    put(&s3, &bucket, "k", &[2; 400]).await.unwrap();
    // Two versions stored: a third overwrite adds an object, past the limit.
    assert_s3_err(
        s3.put_object()
            .bucket(&bucket)
            .key("k")
            .body(ByteStream::from(vec![3; 10]))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    // Deleting a version gives its bytes and its object back.
    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    put(&s3, &bucket, "k", &[4; 500]).await.unwrap();
    let stats: serde_json::Value = http
        .get(format!(
            "{}/api/buckets/{bucket}/stats",
            server.admin_endpoint
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["objects"], 2, "{stats}");
    assert_eq!(stats["bytes"], 900, "{stats}");
    server.assert_no_panics();
}

#[tokio::test]
async fn versioning_settings_are_checked() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let res = s3
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .mfa_delete(aws_sdk_s3::types::MfaDelete::Enabled)
                .build(),
        )
        .send()
        .await;
    assert_s3_err(res, 400, "InvalidRequest");
    let raw = server
        .signed("PUT", &format!("/{bucket}?versioning"))
        .body("<VersioningConfiguration><Status>On</Status></VersioningConfiguration>")
        .send()
        .await;
    raw.assert_error(400, "MalformedXML");
    // Suspending a never-versioned bucket leaves it unversioned: deletes still remove.
    set_versioning(&s3, &bucket, BucketVersioningStatus::Suspended).await;
    let v = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), None);
    put(&s3, &bucket, "k", b"x").await;
    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(all_versions(&s3, &bucket).await.is_empty());
    server.assert_no_panics();
}

#[tokio::test]
async fn versions_and_markers_survive_kill_9() {
    let mut server = TestServer::start().await;
    let s3 = server.client();
    let bucket = versioned_bucket(&server, &s3).await;
    let small = random_bytes(700);
    let large = random_bytes(MIB + 3);
    let v1 = put(&s3, &bucket, "k", &small).await.unwrap();
    let v2 = put(&s3, &bucket, "k", &large).await.unwrap();
    let marker = s3
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let gone = put(&s3, &bucket, "gone", b"x").await.unwrap();
    s3.delete_object()
        .bucket(&bucket)
        .key("gone")
        .version_id(&gone)
        .send()
        .await
        .unwrap();

    server.kill9();
    server.restart().await;
    let s3 = server.client();
    assert_s3_err(
        s3.get_object().bucket(&bucket).key("k").send().await,
        404,
        "NoSuchKey",
    );
    assert_eq!(get_version(&s3, &bucket, "k", &v1).await, small);
    assert_eq!(get_version(&s3, &bucket, "k", &v2).await, large);
    let all = all_versions(&s3, &bucket).await;
    let ids: Vec<&str> = all.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        ids,
        vec![marker.as_str(), v2.as_str(), v1.as_str()],
        "{all:?}"
    );
    // The versioning setting itself survived too.
    let v = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    server.assert_no_panics();
}
