//! `bucketgate object get` of large objects: ranged GETs in parallel from a presigned URL into
//! `FILE.part`, resumable, and safe against the object being replaced in between.

mod common;

use std::path::Path;

use common::*;

/// A server with one bucket holding `key` (uploaded by the CLI); returns what the tests need.
struct Setup {
    server: TestServer,
    token: String,
    work: tempfile::TempDir,
    bucket: String,
}

impl Setup {
    async fn new() -> Self {
        let server = TestServer::start().await;
        let token = server.admin_token();
        let work = tempfile::tempdir().unwrap();
        let bucket = bucket_name();
        let s = Self {
            server,
            token,
            work,
            bucket,
        };
        let (rc, _, err) = s.cli(&["bucket", "create", &s.bucket]).await;
        assert_eq!(rc, Some(0), "{err}");
        s
    }

    fn state(&self) -> std::path::PathBuf {
        self.work.path().join("state")
    }

    fn path(&self, name: &str) -> String {
        self.work.path().join(name).to_str().unwrap().to_owned()
    }

    async fn cli(&self, args: &[&str]) -> (Option<i32>, String, String) {
        client(&self.server, &self.token, &self.state(), args).await
    }

    async fn put(&self, key: &str, data: &[u8]) {
        let src = self.path("src.bin");
        std::fs::write(&src, data).unwrap();
        let (rc, _, err) = self
            .cli(&["object", "put", &self.bucket, &src, "--key", key])
            .await;
        assert_eq!(rc, Some(0), "{err}");
    }

    /// The bucket's S3 counters: (requests, bytes sent).
    async fn counters(&self) -> (u64, u64) {
        let (rc, out, err) = self.cli(&["bucket", "stats", &self.bucket, "--json"]).await;
        assert_eq!(rc, Some(0), "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            v["requests"].as_u64().unwrap(),
            v["bytesOut"].as_u64().unwrap(),
        )
    }

    /// Leaves an interrupted download of `key` behind, deterministically: FILE is a non-empty
    /// directory, so the final rename fails after every range has landed in `FILE.part`; then
    /// the state file is made to say that only the parts `done` were fetched. Returns it.
    async fn interrupted(&self, key: &str, file: &str, done: &[u64]) -> std::path::PathBuf {
        std::fs::create_dir(file).unwrap();
        std::fs::write(Path::new(file).join("x"), b"x").unwrap();
        let (rc, _, err) = self.cli(&["object", "get", &self.bucket, key, file]).await;
        assert_eq!(rc, Some(1), "{err}");
        assert!(err.starts_with("error: renaming "), "{err}");
        std::fs::remove_dir_all(file).unwrap();
        let states: Vec<_> = std::fs::read_dir(self.state())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(states.len(), 1, "{states:?}");
        let state_file = states.into_iter().next().unwrap();
        let mut state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
        assert_eq!(state["done"].as_array().unwrap().len(), 3, "{state}");
        state["done"] = serde_json::json!(done);
        std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
        state_file
    }
}

const SIZE: usize = 20 * MIB + 5;
const PART: usize = 8 * MIB;

#[tokio::test]
async fn large_gets_fetch_ranges_in_parallel() {
    let s = Setup::new().await;
    let data = pattern(7, 0, SIZE);
    s.put("a/big.bin", &data).await;
    let out = s.path("out.bin");
    let before = s.counters().await;
    let (rc, stdout, err) = s
        .cli(&["object", "get", &s.bucket, "a/big.bin", &out])
        .await;
    assert_eq!(rc, Some(0), "{err}");
    assert!(stdout.is_empty() && err.is_empty(), "{stdout}{err}");
    assert!(
        std::fs::read(&out).unwrap() == data,
        "downloaded bytes differ"
    );
    // One probe of one byte, then three ranges: nothing fetched twice, nothing left behind.
    let after = s.counters().await;
    assert_eq!(after.0 - before.0, 4);
    assert_eq!(after.1 - before.1, SIZE as u64 + 1);
    assert!(!Path::new(&format!("{out}.part")).exists());
    assert_eq!(std::fs::read_dir(s.state()).unwrap().count(), 0);

    // `-` streams to stdout.
    let raw = bucketgate(
        &["object", "get", &s.bucket, "a/big.bin", "-"],
        &[
            ("BUCKETGATE_API", s.server.admin_endpoint.as_str()),
            ("BUCKETGATE_ADMIN_TOKEN", s.token.as_str()),
        ],
    )
    .await;
    assert_eq!(raw.status.code(), Some(0));
    assert!(raw.stdout == data, "stdout bytes differ");

    // A missing key is one line and exit 1, to a file and to stdout alike.
    for target in [s.path("missing.bin"), "-".to_owned()] {
        let (rc, stdout, err) = s.cli(&["object", "get", &s.bucket, "nope", &target]).await;
        assert_eq!(rc, Some(1), "{err}");
        assert!(err.starts_with("error: NoSuchKey: "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(stdout.is_empty());
    }
    assert!(!Path::new(&s.path("missing.bin")).exists());
    s.server.assert_no_panics();
}

#[tokio::test]
async fn resumed_gets_skip_the_ranges_already_fetched() {
    let s = Setup::new().await;
    let data = pattern(8, 0, SIZE);
    s.put("big.bin", &data).await;
    let out = s.path("out.bin");
    let state_file = s.interrupted("big.bin", &out, &[1]).await;
    // Only the first range counts as done; the rest of `.part` is garbage to be overwritten.
    let part = format!("{out}.part");
    let mut junk = data.clone();
    junk[PART..].fill(0xAB);
    std::fs::write(&part, &junk).unwrap();

    let before = s.counters().await;
    let (rc, _, err) = s
        .cli(&["object", "get", &s.bucket, "big.bin", &out, "--resume"])
        .await;
    assert_eq!(rc, Some(0), "{err}");
    assert!(err.contains("1 of 3 parts already downloaded"), "{err}");
    assert!(std::fs::read(&out).unwrap() == data, "resumed bytes differ");
    let after = s.counters().await;
    assert_eq!(after.0 - before.0, 3, "a probe and two ranges");
    assert_eq!(after.1 - before.1, (SIZE - PART) as u64 + 1);
    assert!(!Path::new(&part).exists());
    assert!(!state_file.exists());
    s.server.assert_no_panics();
}

#[tokio::test]
async fn resumed_gets_start_over_when_the_object_was_replaced() {
    let s = Setup::new().await;
    s.put("big.bin", &pattern(9, 0, SIZE)).await;
    let out = s.path("out.bin");
    s.interrupted("big.bin", &out, &[1, 2]).await;
    // Same size, other bytes: only the ETag tells them apart.
    let newer = pattern(10, 0, SIZE);
    s.put("big.bin", &newer).await;

    let before = s.counters().await;
    let (rc, _, err) = s
        .cli(&["object", "get", &s.bucket, "big.bin", &out, "--resume"])
        .await;
    assert_eq!(rc, Some(0), "{err}");
    assert!(
        err.contains("changed since the interrupted download: starting over"),
        "{err}"
    );
    assert!(std::fs::read(&out).unwrap() == newer, "not the new object");
    let after = s.counters().await;
    assert_eq!(
        after.1 - before.1,
        SIZE as u64 + 1,
        "everything fetched again"
    );
    s.server.assert_no_panics();
}

/// What the engine relies on to notice an object replaced in the middle of a download: a
/// ranged GET on the presigned URL with a stale `If-Match` is refused.
#[tokio::test]
async fn ranged_gets_with_a_stale_etag_are_refused() {
    let s = Setup::new().await;
    s.put("small.txt", b"hello, world").await;
    let (rc, url, err) = s
        .cli(&["presign", "get", &s.bucket, "small.txt", "--json"])
        .await;
    assert_eq!(rc, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&url).unwrap();
    let url = v["url"].as_str().unwrap();
    let get = |etag: String| {
        http_client()
            .get(url)
            .header("range", "bytes=0-4")
            .header("if-match", etag)
            .send()
    };
    let stale = get("\"0123456789abcdef0123456789abcdef\"".to_owned())
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 412);
    assert_eq!(
        xml_tag(&stale.text().await.unwrap(), "Code").as_deref(),
        Some("PreconditionFailed")
    );
    let etag = http_client().get(url).send().await.unwrap().headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let fresh = get(etag).await.unwrap();
    assert_eq!(fresh.status().as_u16(), 206);
    assert_eq!(fresh.bytes().await.unwrap().as_ref(), b"hello");
}
