//! A data dir written by the release before versioning (tests/fixtures/datadir-v0, made by
//! tests/fixtures/make-datadir-v0.sh with that release's binary) opens with this one: every
//! object reads back, and the bucket can then be versioned.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use common::*;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[tokio::test]
async fn a_data_dir_of_the_previous_release_opens_and_versions() {
    let mut server = TestServer::start().await;
    server.terminate(std::time::Duration::from_secs(10));
    let data = server.data_dir();
    std::fs::remove_dir_all(&data).unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/datadir-v0");
    copy_dir(&fixture, &data);
    server.restart().await;
    let s3 = server.client();

    assert_eq!(
        get_bytes(&s3, "legacy", "small.txt").await,
        b"small inline object\n"
    );
    assert_eq!(
        get_bytes(&s3, "legacy", "dir/blob.bin").await,
        vec![b'b'; 300_000]
    );
    assert_s3_err(
        s3.get_object()
            .bucket("legacy")
            .key("deleted.txt")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    let head = s3
        .head_object()
        .bucket("legacy")
        .key("small.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("green")
    );

    // The old objects are the null versions once versioning is on.
    s3.put_bucket_versioning()
        .bucket("legacy")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v = s3
        .put_object()
        .bucket("legacy")
        .key("small.txt")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let old = s3
        .get_object()
        .bucket("legacy")
        .key("small.txt")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.body.collect().await.unwrap().to_vec(),
        b"small inline object\n"
    );
    let listed = s3
        .list_object_versions()
        .bucket("legacy")
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = listed
        .versions()
        .iter()
        .filter(|x| x.key() == Some("small.txt"))
        .map(|x| (x.version_id().unwrap().to_owned(), x.is_latest().unwrap()))
        .collect();
    assert_eq!(ids, vec![(v, true), ("null".to_owned(), false)]);
    server.assert_no_panics();
}
