//! Object lock on the embedded backend, through the AWS SDK: buckets created with lock,
//! default retention, retention and legal hold per version, governance bypass by the owner
//! only, compliance never yielding, and the configuration's validation.

mod common;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use common::*;
use serde_json::json;

async fn locked_bucket(s3: &aws_sdk_s3::Client) -> String {
    let bucket = bucket_name();
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket with lock: {}", dbg_err(&e)));
    bucket
}

fn default_rule(mode: ObjectLockRetentionMode, days: i32) -> ObjectLockConfiguration {
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(DefaultRetention::builder().mode(mode).days(days).build())
                .build(),
        )
        .build()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject: {}", dbg_err(&e)))
        .version_id
        .expect("a version id")
}

fn in_days(days: i64) -> DateTime {
    DateTime::from_secs(time::OffsetDateTime::now_utc().unix_timestamp() + days * 86_400)
}

#[tokio::test]
async fn lock_configuration_is_validated() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let plain = server.bucket(&s3).await;
    assert_s3_err(
        s3.get_object_lock_configuration()
            .bucket(&plain)
            .send()
            .await,
        404,
        "ObjectLockConfigurationNotFoundError",
    );
    assert_s3_err(
        s3.put_object_lock_configuration()
            .bucket(&plain)
            .object_lock_configuration(default_rule(ObjectLockRetentionMode::Governance, 1))
            .send()
            .await,
        409,
        "InvalidBucketState",
    );
    // Lock headers on a bucket without lock are refused.
    let res = s3
        .put_object()
        .bucket(&plain)
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_days(1))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_s3_err(res, 400, "InvalidRequest");

    let bucket = locked_bucket(&s3).await;
    let v = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let res = s3
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await;
    assert_s3_err(res, 409, "InvalidBucketState");
    let conf = s3
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let conf = conf.object_lock_configuration().unwrap();
    assert_eq!(
        conf.object_lock_enabled(),
        Some(&ObjectLockEnabled::Enabled)
    );
    assert!(conf.rule().is_none());

    // Both Days and Years, neither, zero, negative.
    for (body, code) in [
        ("<Days>1</Days><Years>1</Years>", "MalformedXML"),
        ("", "MalformedXML"),
        ("<Days>0</Days>", "InvalidArgument"),
        ("<Days>-3</Days>", "InvalidArgument"),
    ] {
        let xml = format!(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode>{body}</DefaultRetention></Rule></ObjectLockConfiguration>"
        );
        let raw = server
            .signed("PUT", &format!("/{bucket}?object-lock"))
            .body(xml)
            .send()
            .await;
        raw.assert_error(400, code);
    }
    let xml = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>FOREVER</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
    let raw = server
        .signed("PUT", &format!("/{bucket}?object-lock"))
        .body(xml)
        .send()
        .await;
    raw.assert_error(400, "MalformedXML");
    server.assert_no_panics();
}

#[tokio::test]
async fn retention_and_legal_hold_protect_versions() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = locked_bucket(&s3).await;
    s3.put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(default_rule(ObjectLockRetentionMode::Governance, 1))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObjectLockConfiguration: {}", dbg_err(&e)));

    // Default retention applies to new versions.
    let v = put(&s3, &bucket, "gov").await;
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("gov")
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    let until = head
        .object_lock_retain_until_date()
        .expect("retain-until")
        .secs();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (until - now - 86_400).abs() < 120,
        "one day from now: {until}"
    );
    let ret = s3
        .get_object_retention()
        .bucket(&bucket)
        .key("gov")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ret.retention().and_then(|r| r.mode()),
        Some(&ObjectLockRetentionMode::Governance)
    );

    // A delete without a version id still adds a marker; the locked version stays.
    let del = s3
        .delete_object()
        .bucket(&bucket)
        .key("gov")
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    assert_s3_err(
        s3.delete_object()
            .bucket(&bucket)
            .key("gov")
            .version_id(&v)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    // Shortening governance retention needs the bypass.
    let sooner = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .retain_until_date(DateTime::from_secs(
            time::OffsetDateTime::now_utc().unix_timestamp() + 3600,
        ))
        .build();
    assert_s3_err(
        s3.put_object_retention()
            .bucket(&bucket)
            .key("gov")
            .version_id(&v)
            .retention(sooner.clone())
            .send()
            .await,
        403,
        "AccessDenied",
    );

    // Another user with a read-write grant cannot bypass governance; the owner can.
    let token = server.admin_token();
    let http = http_client();
    let ep = &server.admin_endpoint;
    let r = http
        .post(format!("{ep}/api/users"))
        .bearer_auth(&token)
        .json(&json!({"id": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let k: serde_json::Value = http
        .post(format!("{ep}/api/users/bob/keys"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (bob_ak, bob_sk) = (
        k["accessKey"].as_str().unwrap(),
        k["secretKey"].as_str().unwrap(),
    );
    let r = http
        .patch(format!("{ep}/api/buckets/{bucket}"))
        .bearer_auth(&token)
        .json(&json!({"grants": [{"accessKey": bob_ak, "level": "read-write"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bob = server.client_with(bob_ak, bob_sk);
    assert_s3_err(
        bob.delete_object()
            .bucket(&bucket)
            .key("gov")
            .version_id(&v)
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    s3.delete_object()
        .bucket(&bucket)
        .key("gov")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("owner's bypass: {}", dbg_err(&e)));

    // Compliance never yields, not even to the owner's bypass; it can only be extended.
    let res = s3
        .put_object()
        .bucket(&bucket)
        .key("comp")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_days(2))
        .body(ByteStream::from_static(b"c"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT with compliance: {}", dbg_err(&e)));
    let c = res.version_id.unwrap();
    assert_s3_err(
        s3.delete_object()
            .bucket(&bucket)
            .key("comp")
            .version_id(&c)
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    let longer = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Compliance)
        .retain_until_date(in_days(3))
        .build();
    s3.put_object_retention()
        .bucket(&bucket)
        .key("comp")
        .version_id(&c)
        .retention(longer)
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.put_object_retention()
            .bucket(&bucket)
            .key("comp")
            .version_id(&c)
            .retention(sooner)
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    // A retain-until date in the past is refused.
    let past = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .retain_until_date(in_days(-1))
        .build();
    assert_s3_err(
        s3.put_object_retention()
            .bucket(&bucket)
            .key("comp")
            .version_id(&c)
            .retention(past)
            .send()
            .await,
        400,
        "InvalidArgument",
    );

    // A legal hold blocks deletion until it is removed.
    s3.put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let h = put(&s3, &bucket, "held").await;
    let hold = |on| {
        ObjectLockLegalHold::builder()
            .status(if on {
                ObjectLockLegalHoldStatus::On
            } else {
                ObjectLockLegalHoldStatus::Off
            })
            .build()
    };
    s3.put_object_legal_hold()
        .bucket(&bucket)
        .key("held")
        .version_id(&h)
        .legal_hold(hold(true))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object_legal_hold()
        .bucket(&bucket)
        .key("held")
        .version_id(&h)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.legal_hold().and_then(|l| l.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_s3_err(
        s3.delete_object()
            .bucket(&bucket)
            .key("held")
            .version_id(&h)
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    s3.put_object_legal_hold()
        .bucket(&bucket)
        .key("held")
        .version_id(&h)
        .legal_hold(hold(false))
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&bucket)
        .key("held")
        .version_id(&h)
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.get_object_retention()
            .bucket(&bucket)
            .key("nothing")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    server.assert_no_panics();
}
