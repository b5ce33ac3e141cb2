//! CLI behaviour added with the console work: the server's help lists only server flags, and
//! errors are one line with a non-zero exit code, never a backtrace.

mod common;

use common::*;

async fn bucketgate(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bucketgate"));
    cmd.args(args)
        .env_remove("BUCKETGATE_ADMIN_TOKEN")
        .env_remove("BUCKETGATE_ACCESS_KEY")
        .env_remove("BUCKETGATE_SECRET_KEY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

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
    let token = std::env::var("BUCKETGATE_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            std::fs::read_to_string(server.data_dir().join("admin-token"))
                .unwrap()
                .trim()
                .to_owned()
        });
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
