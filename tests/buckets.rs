//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::*;

#[tokio::test]
async fn list_buckets_shows_created_buckets() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let before = s3.list_buckets().send().await.expect("ListBuckets");
    assert!(
        before.buckets().is_empty(),
        "fresh server has no buckets: {before:?}"
    );

    let a = server.bucket(&s3).await;
    let b = server.bucket(&s3).await;
    let out = s3.list_buckets().send().await.expect("ListBuckets");
    let mut names: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
    names.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(names, want);
    for bucket in out.buckets() {
        assert!(
            bucket.creation_date().is_some(),
            "CreationDate missing: {bucket:?}"
        );
    }
    // ListBuckets returns buckets sorted by name.
    let listed: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(listed, want, "ListBuckets must be sorted by name");
}

#[tokio::test]
async fn create_bucket_rejects_invalid_names() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let too_long = "a".repeat(64);
    let invalid = [
        "ab",               // shorter than 3
        too_long.as_str(),  // longer than 63
        "UpperCase",        // uppercase
        "under_score",      // underscore
        "-leading-hyphen",  // must start with a letter or digit
        "trailing-hyphen-", // must end with a letter or digit
        ".leading-dot",     // must start with a letter or digit
        "double..dot",      // adjacent periods
        "192.168.5.4",      // formatted as an IP address
        "bad!char",         // character outside [a-z0-9.-]
    ];
    for name in invalid {
        let res = s3.create_bucket().bucket(name).send().await;
        assert_s3_err(res, 400, "InvalidBucketName");
    }
    // The names at the length limits are valid.
    let max = format!("it-{}", "b".repeat(60));
    s3.create_bucket()
        .bucket(&max)
        .send()
        .await
        .expect("63-char name is valid");
    s3.create_bucket()
        .bucket("a1c")
        .send()
        .await
        .expect("3-char name is valid");
    let out = s3.list_buckets().send().await.unwrap();
    assert_eq!(
        out.buckets().len(),
        2,
        "no invalid bucket was created: {out:?}"
    );
}

#[tokio::test]
async fn create_bucket_rejects_reserved_prefixes_and_suffixes() {
    // AWS bucket naming rules also reserve these prefixes and suffixes.
    let server = TestServer::start().await;
    let s3 = server.client();
    for name in [
        "xn--example",
        "sthree-example",
        "example-s3alias",
        "example--ol-s3",
    ] {
        let res = s3.create_bucket().bucket(name).send().await;
        assert_s3_err(res, 400, "InvalidBucketName");
    }
}

#[tokio::test]
async fn create_existing_bucket_is_already_owned_by_you() {
    // AWS returns 200 for this in us-east-1 only for legacy reasons; every other region (and
    // MinIO) answers 409 BucketAlreadyOwnedByYou, which is what the gateway promises.
    let server = TestServer::start().await;
    let s3 = server.client();
    let name = server.bucket(&s3).await;
    let res = s3.create_bucket().bucket(&name).send().await;
    assert_s3_err(res, 409, "BucketAlreadyOwnedByYou");
}

#[tokio::test]
async fn head_bucket_found_and_missing() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let name = server.bucket(&s3).await;
    s3.head_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("HeadBucket on existing bucket");

    let res = s3.head_bucket().bucket(bucket_name()).send().await;
    let err = res.expect_err("HeadBucket on a missing bucket must fail");
    let (status, _) = status_code(&err);
    assert_eq!(status, 404, "{}", dbg_err(&err));
}

#[tokio::test]
async fn delete_bucket_semantics() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let name = server.bucket(&s3).await;
    s3.put_object()
        .bucket(&name)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("PutObject");

    let res = s3.delete_bucket().bucket(&name).send().await;
    assert_s3_err(res, 409, "BucketNotEmpty");
    // Still there, object intact.
    s3.head_object()
        .bucket(&name)
        .key("k")
        .send()
        .await
        .expect("object survives");

    s3.delete_object()
        .bucket(&name)
        .key("k")
        .send()
        .await
        .expect("DeleteObject");
    s3.delete_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("DeleteBucket on empty bucket");
    let res = s3.head_bucket().bucket(&name).send().await;
    assert_eq!(status_code(&res.expect_err("bucket is gone")).0, 404);
    let out = s3.list_buckets().send().await.unwrap();
    assert!(out.buckets().is_empty(), "{out:?}");

    let res = s3.delete_bucket().bucket(&name).send().await;
    assert_s3_err(res, 404, "NoSuchBucket");
}

#[tokio::test]
async fn delete_bucket_with_open_multipart_upload() {
    // General-purpose S3 buckets may be refused (409 BucketNotEmpty) or deleted together with
    // their in-progress uploads; in the second case nothing of the upload may survive into a
    // new bucket of the same name.
    let server = TestServer::start().await;
    let s3 = server.client();
    let name = server.bucket(&s3).await;
    let up = s3
        .create_multipart_upload()
        .bucket(&name)
        .key("pending")
        .send()
        .await
        .expect("CreateMultipartUpload");
    let id = up.upload_id().unwrap().to_string();
    s3.upload_part()
        .bucket(&name)
        .key("pending")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("UploadPart");
    match s3.delete_bucket().bucket(&name).send().await {
        Err(e) => {
            assert_eq!(
                status_code(&e),
                (409, "BucketNotEmpty".to_string()),
                "{}",
                dbg_err(&e)
            );
        }
        Ok(_) => {
            s3.create_bucket()
                .bucket(&name)
                .send()
                .await
                .expect("re-create bucket");
            let uploads = s3
                .list_multipart_uploads()
                .bucket(&name)
                .send()
                .await
                .unwrap();
            assert!(
                uploads.uploads().is_empty(),
                "upload resurrected: {uploads:?}"
            );
            let res = s3
                .upload_part()
                .bucket(&name)
                .key("pending")
                .upload_id(&id)
                .part_number(2)
                .body(ByteStream::from_static(b"part"))
                .send()
                .await;
            assert_s3_err(res, 404, "NoSuchUpload");
        }
    }
}

#[tokio::test]
async fn get_bucket_location() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let name = server.bucket(&s3).await;
    let out = s3
        .get_bucket_location()
        .bucket(&name)
        .send()
        .await
        .expect("GetBucketLocation");
    // S3 reports us-east-1 as an empty (null) LocationConstraint.
    let loc = out.location_constraint().map(|c| c.as_str().to_string());
    assert!(
        loc.is_none() || loc.as_deref() == Some(""),
        "us-east-1 bucket must have an empty LocationConstraint, got {loc:?}"
    );

    let res = s3.get_bucket_location().bucket(bucket_name()).send().await;
    assert_s3_err(res, 404, "NoSuchBucket");
}

#[tokio::test]
async fn operations_on_missing_bucket_are_no_such_bucket() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let missing = bucket_name();
    let res = s3
        .put_object()
        .bucket(&missing)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_s3_err(res, 404, "NoSuchBucket");
    let res = s3.get_object().bucket(&missing).key("k").send().await;
    assert_s3_err(res, 404, "NoSuchBucket");
    let res = s3.list_objects_v2().bucket(&missing).send().await;
    assert_s3_err(res, 404, "NoSuchBucket");
}
