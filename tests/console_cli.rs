//! CLI behaviour added with the console work: the server's help lists only server flags, and
//! errors are one line with a non-zero exit code, never a backtrace; large transfers go in parts
//! with a progress bar on a terminal (and none elsewhere).

mod common;

use common::*;

#[tokio::test]
async fn serve_help_lists_only_server_flags() {
    let out = bucketgate(&["serve", "--help"], &[]).await;
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--data-dir"), "{help}");
    for client_flag in ["--api", "--token", "--access-key", "--secret-key", "--json"] {
        assert!(
            !help.contains(client_flag),
            "serve --help lists {client_flag}:\n{help}"
        );
    }
    let out = bucketgate(&["bucket", "list", "--help"], &[]).await;
    let help = String::from_utf8_lossy(&out.stdout);
    let heading = help.find("Client options:").expect("client heading");
    for client_flag in ["--api", "--token", "--access-key", "--secret-key"] {
        let at = help
            .find(client_flag)
            .unwrap_or_else(|| panic!("{client_flag}:\n{help}"));
        assert!(
            at > heading,
            "{client_flag} outside the client heading:\n{help}"
        );
    }
    // The client flags are refused by the server command.
    let out = bucketgate(&["serve", "--token", "x"], &[]).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn errors_are_one_line_without_backtrace() {
    let server = TestServer::start().await;
    let token = server.admin_token();
    let envs = [
        ("BUCKETGATE_API", server.admin_endpoint.as_str()),
        ("BUCKETGATE_ADMIN_TOKEN", token.as_str()),
        ("RUST_BACKTRACE", "1"),
        ("RUST_LIB_BACKTRACE", "1"),
    ];
    let out = bucketgate(&["bucket", "show", "missing"], &envs).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: NoSuchBucket: bucket not found\n"
    );
    assert!(out.stdout.is_empty());

    // Errors of the client itself (no credentials, no server) are one line too.
    let out = bucketgate(
        &["bucket", "list"],
        &[
            ("BUCKETGATE_API", server.admin_endpoint.as_str()),
            ("RUST_BACKTRACE", "1"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: no credentials"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = bucketgate(
        &[
            "bucket",
            "list",
            "--api",
            "http://127.0.0.1:1",
            "--token",
            "t",
        ],
        &[("RUST_BACKTRACE", "full")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: cannot reach the API"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[tokio::test]
async fn large_puts_go_multipart_and_resume() {
    let server = TestServer::start().await;
    let token = server.admin_token();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let file = work.path().join("big.bin");
    let size = 20 * MIB + 5;
    let data = pattern(42, 0, size);
    std::fs::write(&file, &data).unwrap();
    let f = file.to_str().unwrap();
    let bucket = bucket_name();
    let (rc, _, err) = client(&server, &token, &state, &["bucket", "create", &bucket]).await;
    assert_eq!(rc, Some(0), "{err}");

    // 20 MiB: three parts of up to 8 MiB, sent in parallel.
    let (rc, out, err) = client(
        &server,
        &token,
        &state,
        &["object", "put", &bucket, f, "--key", "a/big.bin", "--json"],
    )
    .await;
    assert_eq!(rc, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["objects"][0]["size"], size as u64);
    assert!(
        v["objects"][0]["etag"].as_str().unwrap().ends_with("-3\""),
        "{v}"
    );
    let back = work.path().join("back.bin");
    let (rc, _, err) = client(
        &server,
        &token,
        &state,
        &[
            "object",
            "get",
            &bucket,
            "a/big.bin",
            "-o",
            back.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(rc, Some(0), "{err}");
    assert!(
        std::fs::read(&back).unwrap() == data,
        "downloaded bytes differ"
    );
    // No progress bar when stderr is not a terminal; no state left after completion.
    assert!(err.is_empty(), "{err}");
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);

    // Interrupted by the quota after two of three parts (one part at a time), then resumed.
    let small = bucket_name();
    let quota = (17 * MIB).to_string();
    let (rc, _, err) = client(
        &server,
        &token,
        &state,
        &["bucket", "create", &small, "--max-size", &quota],
    )
    .await;
    assert_eq!(rc, Some(0), "{err}");
    let (rc, _, err) = client(
        &server,
        &token,
        &state,
        &["object", "put", &small, f, "--parallel", "1"],
    )
    .await;
    assert_eq!(rc, Some(1), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (rc, _, err) = client(
        &server,
        &token,
        &state,
        &["bucket", "update", &small, "--max-size", "none"],
    )
    .await;
    assert_eq!(rc, Some(0), "{err}");
    let (rc, out, err) = client(
        &server,
        &token,
        &state,
        &["object", "put", &small, f, "--resume", "--json"],
    )
    .await;
    assert_eq!(rc, Some(0), "{err}");
    assert!(err.contains("2 of 3 parts already uploaded"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["objects"][0]["etag"].as_str().unwrap().ends_with("-3\""),
        "{v}"
    );
    let (rc, _, err) = client(
        &server,
        &token,
        &state,
        &[
            "object",
            "get",
            &small,
            "big.bin",
            "-o",
            back.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(rc, Some(0), "{err}");
    assert!(
        std::fs::read(&back).unwrap() == data,
        "resumed upload differs"
    );
    server.assert_no_panics();
}

/// Runs the client under a pseudo-terminal (util-linux `script`, so stderr is a terminal):
/// returns the exit code and everything the terminal showed.
async fn client_on_a_terminal(
    server: &TestServer,
    token: &str,
    state: &std::path::Path,
    args: &[&str],
) -> (Option<i32>, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_bucketgate"))
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    // A pty made without a terminal on stdin has no size; give it one, as a terminal would.
    let command = format!("stty cols 120 rows 40; exec {}", line.join(" "));
    let out = tokio::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("BUCKETGATE_API", &server.admin_endpoint)
        .env("BUCKETGATE_ADMIN_TOKEN", token)
        .env("BUCKETGATE_STATE_DIR", state)
        .env_remove("BUCKETGATE_ACCESS_KEY")
        .env_remove("BUCKETGATE_SECRET_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run script (util-linux) to get a pseudo-terminal");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn large_puts_and_gets_show_progress_on_a_terminal() {
    let server = TestServer::start().await;
    let token = server.admin_token();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let file = work.path().join("big.bin");
    let size = 17 * MIB;
    let data = pattern(7, 0, size);
    std::fs::write(&file, &data).unwrap();
    let bucket = bucket_name();
    let (rc, _, err) = client(&server, &token, &state, &["bucket", "create", &bucket]).await;
    assert_eq!(rc, Some(0), "{err}");

    let f = file.to_str().unwrap();
    let (rc, screen) = client_on_a_terminal(
        &server,
        &token,
        &state,
        &["object", "put", &bucket, f, "--key", "big.bin"],
    )
    .await;
    assert_eq!(rc, Some(0), "{screen}");
    // The bar's template: `{bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}`.
    assert!(
        screen.contains("/17.00 MiB"),
        "no progress line naming the total:\n{screen:?}"
    );
    assert!(
        screen.contains("MiB/s") || screen.contains("KiB/s"),
        "no speed:\n{screen:?}"
    );
    assert!(screen.contains("ETA "), "no ETA:\n{screen:?}");
    let head = server
        .client()
        .head_object()
        .bucket(&bucket)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(size as i64));
    assert!(
        head.e_tag().unwrap().ends_with("-3\""),
        "sent in parts: {head:?}"
    );

    let back = work.path().join("back.bin");
    let out = back.to_str().unwrap();
    let (rc, screen) = client_on_a_terminal(
        &server,
        &token,
        &state,
        &["object", "get", &bucket, "big.bin", "-o", out],
    )
    .await;
    assert_eq!(rc, Some(0), "{screen}");
    assert!(
        screen.contains("/17.00 MiB") && screen.contains("ETA "),
        "{screen:?}"
    );
    assert!(
        std::fs::read(&back).unwrap() == data,
        "downloaded bytes differ"
    );
    server.assert_no_panics();
}
