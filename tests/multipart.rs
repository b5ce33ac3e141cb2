//! Multipart uploads: create/upload/complete (100 MiB), UploadPartCopy, size limits, ETags,
//! abort, ListParts, ListMultipartUploads and part validation.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::*;
use md5::{Digest, Md5};

/// Expected ETag of a multipart object: hex MD5 of the concatenated binary part MD5s, `-N`.
fn multipart_etag(part_md5s: &[Vec<u8>]) -> String {
    let mut h = Md5::new();
    for m in part_md5s {
        h.update(m);
    }
    format!("\"{}-{}\"", hex::encode(h.finalize()), part_md5s.len())
}

fn completed(parts: &[(i32, String)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build())
                .collect(),
        ))
        .build()
}

async fn create(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    s3.create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateMultipartUpload: {}", dbg_err(&e)))
        .upload_id()
        .expect("UploadId")
        .to_string()
}

async fn upload_part(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    n: i32,
    data: Vec<u8>,
) -> String {
    let out = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UploadPart {n}: {}", dbg_err(&e)));
    out.e_tag().expect("UploadPart ETag").to_string()
}

#[tokio::test]
async fn upload_100_mib_and_stream_back() {
    const TOTAL: usize = 100 * MIB;
    const PART: usize = 8 * MIB;
    let seed = 0x00B0_C4E7;
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = create(&s3, &bucket, "big/object.bin").await;

    let mut whole = Md5::new();
    let mut part_md5s = Vec::new();
    let mut parts = Vec::new();
    let mut off = 0usize;
    let mut n = 1;
    while off < TOTAL {
        let len = PART.min(TOTAL - off);
        let data = pattern(seed, off as u64, len);
        whole.update(&data);
        let md5 = Md5::digest(&data).to_vec();
        let etag = upload_part(&s3, &bucket, "big/object.bin", &id, n, data).await;
        assert_eq!(
            etag,
            format!("\"{}\"", hex::encode(&md5)),
            "part {n} ETag is its MD5"
        );
        part_md5s.push(md5);
        parts.push((n, etag));
        off += len;
        n += 1;
    }
    assert_eq!(parts.len(), 13);
    let want_etag = multipart_etag(&part_md5s);

    let out = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("big/object.bin")
        .upload_id(&id)
        .multipart_upload(completed(&parts))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CompleteMultipartUpload: {}", dbg_err(&e)));
    assert_eq!(
        out.e_tag(),
        Some(want_etag.as_str()),
        "ETag is md5-of-md5s-N"
    );
    assert_eq!(out.key(), Some("big/object.bin"));
    assert_eq!(out.bucket(), Some(bucket.as_str()));

    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(TOTAL as i64));
    assert_eq!(head.e_tag(), Some(want_etag.as_str()));

    // Stream the object back and hash it as it arrives.
    let get = s3
        .get_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(get.e_tag(), Some(want_etag.as_str()));
    let mut body = get.body;
    let mut got = Md5::new();
    let mut len = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("read body chunk");
        len += chunk.len();
        got.update(&chunk);
    }
    assert_eq!(len, TOTAL);
    assert_eq!(
        hex::encode(got.finalize()),
        hex::encode(whole.finalize()),
        "content differs"
    );

    // A range across a part boundary.
    let r = s3
        .get_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .range(format!("bytes={}-{}", PART - 8, PART + 7))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.body.collect().await.unwrap().to_vec(),
        pattern(seed, (PART - 8) as u64, 16)
    );

    // The upload is gone once completed.
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
}

#[tokio::test]
async fn two_part_upload_etag_and_completed_upload_is_gone() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = create(&s3, &bucket, "two").await;
    let p1 = random_bytes(5 * MIB);
    let p2 = random_bytes(1024);
    let e1 = upload_part(&s3, &bucket, "two", &id, 1, p1.clone()).await;
    let e2 = upload_part(&s3, &bucket, "two", &id, 2, p2.clone()).await;
    let out = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("two")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, e1), (2, e2)]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Complete: {}", dbg_err(&e)));
    let want = multipart_etag(&[Md5::digest(&p1).to_vec(), Md5::digest(&p2).to_vec()]);
    assert_eq!(out.e_tag(), Some(want.as_str()));
    let body = s3
        .get_object()
        .bucket(&bucket)
        .key("two")
        .send()
        .await
        .unwrap();
    let body = body.body.collect().await.unwrap().to_vec();
    assert!(
        body.len() == p1.len() + p2.len()
            && body[..p1.len()] == p1[..]
            && body[p1.len()..] == p2[..]
    );

    let res = s3
        .upload_part()
        .bucket(&bucket)
        .key("two")
        .upload_id(&id)
        .part_number(3)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await;
    assert_s3_err(res, 404, "NoSuchUpload");
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let src_bucket = server.bucket(&s3).await;
    let dst_bucket = server.bucket(&s3).await;
    let src = random_bytes(10 * MIB + 123);
    s3.put_object()
        .bucket(&src_bucket)
        .key("src")
        .body(ByteStream::from(src.clone()))
        .send()
        .await
        .unwrap();

    let id = create(&s3, &dst_bucket, "assembled").await;
    let split = 5 * MIB;
    let mut parts = Vec::new();
    for (n, range) in [(1, 0..split), (2, split..src.len())] {
        let out = s3
            .upload_part_copy()
            .bucket(&dst_bucket)
            .key("assembled")
            .upload_id(&id)
            .part_number(n)
            .copy_source(format!("{src_bucket}/src"))
            .copy_source_range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .unwrap_or_else(|e| panic!("UploadPartCopy {n}: {}", dbg_err(&e)));
        let etag = out
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .expect("CopyPartResult ETag");
        assert_eq!(
            etag,
            quoted_md5(&src[range]),
            "part {n} ETag is MD5 of the copied range"
        );
        parts.push((n, etag.to_string()));
    }
    // Parts copied and uploaded mix freely.
    let tail = random_bytes(1000);
    let e3 = upload_part(&s3, &dst_bucket, "assembled", &id, 3, tail.clone()).await;
    parts.push((3, e3));
    s3.complete_multipart_upload()
        .bucket(&dst_bucket)
        .key("assembled")
        .upload_id(&id)
        .multipart_upload(completed(&parts))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Complete: {}", dbg_err(&e)));
    let got = s3
        .get_object()
        .bucket(&dst_bucket)
        .key("assembled")
        .send()
        .await
        .unwrap();
    let got = got.body.collect().await.unwrap().to_vec();
    let mut want = src.clone();
    want.extend_from_slice(&tail);
    assert!(
        got == want,
        "assembled object differs ({} vs {} bytes)",
        got.len(),
        want.len()
    );

    // A range outside the source object is rejected.
    let res = s3
        .upload_part_copy()
        .bucket(&dst_bucket)
        .key("other")
        .upload_id(create(&s3, &dst_bucket, "other").await)
        .part_number(1)
        .copy_source(format!("{src_bucket}/src"))
        .copy_source_range(format!("bytes={}-{}", src.len(), src.len() + 10))
        .send()
        .await;
    assert_s3_err(res, 416, "InvalidRange");
}

#[tokio::test]
async fn small_non_last_part_is_entity_too_small() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = create(&s3, &bucket, "small").await;
    let e1 = upload_part(&s3, &bucket, "small", &id, 1, random_bytes(1024)).await;
    let e2 = upload_part(&s3, &bucket, "small", &id, 2, random_bytes(1024)).await;
    let res = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, e1), (2, e2)]))
        .send()
        .await;
    assert_s3_err(res, 400, "EntityTooSmall");
    let res = s3.head_object().bucket(&bucket).key("small").send().await;
    assert_eq!(
        res.map_err(|e| status_code(&e).0).err(),
        Some(404),
        "no object created"
    );

    // A single small part is fine: the last part may be of any size.
    let id = create(&s3, &bucket, "single").await;
    let e1 = upload_part(&s3, &bucket, "single", &id, 1, b"tiny".to_vec()).await;
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("single")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, e1)]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("single small part: {}", dbg_err(&e)));
}

#[tokio::test]
async fn abort_multipart_upload() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = create(&s3, &bucket, "aborted").await;
    upload_part(&s3, &bucket, "aborted", &id, 1, pattern(7, 0, 6 * MIB)).await;
    s3.abort_multipart_upload()
        .bucket(&bucket)
        .key("aborted")
        .upload_id(&id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("AbortMultipartUpload: {}", dbg_err(&e)));

    let res = s3
        .list_parts()
        .bucket(&bucket)
        .key("aborted")
        .upload_id(&id)
        .send()
        .await;
    assert_s3_err(res, 404, "NoSuchUpload");
    let res = s3
        .upload_part()
        .bucket(&bucket)
        .key("aborted")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_s3_err(res, 404, "NoSuchUpload");
    let res = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("aborted")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, "\"x\"".into())]))
        .send()
        .await;
    assert_s3_err(res, 404, "NoSuchUpload");
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
    let res = s3.head_object().bucket(&bucket).key("aborted").send().await;
    assert_eq!(res.map_err(|e| status_code(&e).0).err(), Some(404));

    // The 6 MiB part's bytes are released: no file in the data dir still holds them.
    let leftovers: Vec<_> = TestServer::files_under(&server.data_dir())
        .into_iter()
        .filter(|(_, len)| *len >= 6 * MIB as u64)
        .filter(|(p, _)| std::fs::read(p).is_ok_and(|b| contains(&b, &pattern(7, 0, 4096))))
        .collect();
    assert!(
        leftovers.is_empty(),
        "aborted part data still on disk: {leftovers:?}"
    );

    let res = s3
        .abort_multipart_upload()
        .bucket(&bucket)
        .key("aborted")
        .upload_id("no-such-upload-id")
        .send()
        .await;
    assert_s3_err(res, 404, "NoSuchUpload");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn list_parts_with_pagination_and_replacement() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = create(&s3, &bucket, "lp").await;
    let mut want = Vec::new();
    for n in 1..=3 {
        let data = random_bytes(100 * n as usize);
        let etag = upload_part(&s3, &bucket, "lp", &id, n, data.clone()).await;
        want.push((n, etag, data.len() as i64));
    }
    // Uploading a part number again replaces it.
    let new2 = random_bytes(777);
    want[1].1 = upload_part(&s3, &bucket, "lp", &id, 2, new2.clone()).await;
    want[1].2 = 777;
    assert_eq!(want[1].1, quoted_md5(&new2));

    let out = s3
        .list_parts()
        .bucket(&bucket)
        .key("lp")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let got: Vec<(i32, String, i64)> = out
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap(),
                p.e_tag().unwrap().to_string(),
                p.size().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(out.upload_id(), Some(id.as_str()));
    assert_eq!(out.key(), Some("lp"));
    assert_eq!(out.is_truncated(), Some(false));
    assert!(out.parts().iter().all(|p| p.last_modified().is_some()));

    let page1 = s3
        .list_parts()
        .bucket(&bucket)
        .key("lp")
        .upload_id(&id)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page1.parts().len(), 2);
    assert_eq!(page1.is_truncated(), Some(true));
    assert_eq!(page1.next_part_number_marker(), Some("2"));
    let page2 = s3
        .list_parts()
        .bucket(&bucket)
        .key("lp")
        .upload_id(&id)
        .part_number_marker("2")
        .send()
        .await
        .unwrap();
    let nums: Vec<i32> = page2
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(nums, [3]);
    assert_eq!(page2.is_truncated(), Some(false));
}

#[tokio::test]
async fn list_multipart_uploads() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let mut want = Vec::new();
    for key in ["x/1", "x/1", "x/2", "y"] {
        want.push((key.to_string(), create(&s3, &bucket, key).await));
    }
    let out = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let got: Vec<(String, String)> = out
        .uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap().to_string(),
                u.upload_id().unwrap().to_string(),
            )
        })
        .collect();
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["x/1", "x/1", "x/2", "y"], "sorted by key");
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want);
    assert!(out.uploads().iter().all(|u| u.initiated().is_some()));

    let out = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .prefix("x/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.uploads().len(), 3);
    let out = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["x/"]);
    let keys: Vec<&str> = out.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["y"]);
}

#[tokio::test]
async fn complete_with_wrong_etag_is_invalid_part() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = create(&s3, &bucket, "k").await;
    let e1 = upload_part(&s3, &bucket, "k", &id, 1, random_bytes(5 * MIB)).await;
    let e2 = upload_part(&s3, &bucket, "k", &id, 2, random_bytes(10)).await;

    let res = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[
            (1, e1.clone()),
            (2, quoted_md5(b"not the part")),
        ]))
        .send()
        .await;
    assert_s3_err(res, 400, "InvalidPart");

    // A part number that was never uploaded.
    let res = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, e1.clone()), (5, e2.clone())]))
        .send()
        .await;
    assert_s3_err(res, 400, "InvalidPart");

    // The upload is still usable after the failed completions.
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, e1), (2, e2)]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Complete after InvalidPart: {}", dbg_err(&e)));
}

#[tokio::test]
async fn complete_with_descending_parts_is_invalid_part_order() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = create(&s3, &bucket, "k").await;
    let e1 = upload_part(&s3, &bucket, "k", &id, 1, random_bytes(5 * MIB)).await;
    let e2 = upload_part(&s3, &bucket, "k", &id, 2, random_bytes(10)).await;
    let res = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[(2, e2), (1, e1)]))
        .send()
        .await;
    assert_s3_err(res, 400, "InvalidPartOrder");
}

#[tokio::test]
async fn part_number_out_of_range_is_invalid_argument() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let id = create(&s3, &bucket, "k").await;
    for n in [0, 10001] {
        let raw = server
            .signed("PUT", &format!("/{bucket}/k?partNumber={n}&uploadId={id}"))
            .body(b"x".to_vec())
            .send()
            .await;
        raw.assert_error(400, "InvalidArgument");
    }
}

#[tokio::test]
async fn get_and_head_by_part_number() {
    let server = TestServer::start().await;
    let s3 = server.client();
    let bucket = server.bucket(&s3).await;
    let first = pattern(7, 0, 5 * MIB);
    let second = pattern(7, 5 * MIB as u64, MIB);
    let up = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("parts")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (n, data) in [(1, &first), (2, &second)] {
        let part = s3
            .upload_part()
            .bucket(&bucket)
            .key("parts")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("parts")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let part2 = s3
        .get_object()
        .bucket(&bucket)
        .key("parts")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(part2.parts_count(), Some(2));
    assert_eq!(
        part2.content_range(),
        Some(format!("bytes {}-{}/{}", 5 * MIB, 6 * MIB - 1, 6 * MIB).as_str())
    );
    assert_eq!(
        part2.body.collect().await.unwrap().into_bytes().as_ref(),
        second.as_slice()
    );

    let head1 = s3
        .head_object()
        .bucket(&bucket)
        .key("parts")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(head1.content_length(), Some(5 * MIB as i64));

    let err = s3
        .get_object()
        .bucket(&bucket)
        .key("parts")
        .part_number(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), (416, "InvalidPartNumber".to_owned()));

    // A single-part object has exactly one part: itself.
    s3.put_object()
        .bucket(&bucket)
        .key("single")
        .body(ByteStream::from_static(b"whole"))
        .send()
        .await
        .unwrap();
    let one = s3
        .get_object()
        .bucket(&bucket)
        .key("single")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        one.body.collect().await.unwrap().into_bytes().as_ref(),
        b"whole"
    );
    server.assert_no_panics();
}
