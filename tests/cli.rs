//! The `bucketgate` CLI as a client of the control-plane API of a spawned server.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

struct Cli {
    server: TestServer,
    token: String,
}

/// What one CLI run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Cli {
    async fn start() -> Cli {
        let server = TestServer::start().await;
        let token = server.admin_token();
        Cli { server, token }
    }

    async fn run(&self, args: &[&str]) -> Run {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bucketgate"))
            .args(args)
            .env("BUCKETGATE_API", &self.server.admin_endpoint)
            .env("BUCKETGATE_ADMIN_TOKEN", &self.token)
            .env_remove("BUCKETGATE_ACCESS_KEY")
            .env_remove("BUCKETGATE_SECRET_KEY")
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("run the CLI");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args).await;
        assert!(
            r.ok,
            "bucketgate {args:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
    }
}

#[tokio::test]
async fn bucket_and_object_commands() {
    let cli = Cli::start().await;
    let name = bucket_name();
    let out = cli
        .ok(&[
            "bucket",
            "create",
            &name,
            "--max-size",
            "10MiB",
            "--description",
            "from cli",
        ])
        .await;
    assert!(
        out.contains(&name) && out.contains(ROOT_ACCESS_KEY),
        "{out}"
    );

    let list = cli.json(&["bucket", "list"]).await;
    let b = &list["buckets"][0];
    assert_eq!(
        (b["name"].as_str(), b["maxSizeBytes"].as_u64()),
        (Some(name.as_str()), Some(10 << 20))
    );
    let table = cli.ok(&["bucket", "list"]).await;
    assert!(
        table.starts_with("NAME") && table.contains(&name),
        "{table}"
    );

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.txt");
    let data = pattern(7, 0, 200_000);
    std::fs::write(&src, &data).unwrap();
    let put = cli
        .json(&[
            "object",
            "put",
            &name,
            path(&src),
            "--key",
            "docs/hello.txt",
        ])
        .await;
    assert_eq!(put["objects"][0]["size"], 200_000);
    cli.ok(&["object", "put", &name, path(&src)]).await;

    let ls = cli.json(&["object", "ls", &name]).await;
    let keys: Vec<&str> = ls["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["docs/hello.txt", "hello.txt"]);
    let ls = cli.ok(&["object", "ls", &name, "--delimiter", "/"]).await;
    assert!(
        ls.contains("docs/") && ls.contains("PRE") && ls.contains("hello.txt"),
        "{ls}"
    );

    let dst = dir.path().join("back.txt");
    cli.ok(&["object", "get", &name, "docs/hello.txt", "-o", path(&dst)])
        .await;
    assert_eq!(std::fs::read(&dst).unwrap(), data);

    let url = cli
        .ok(&[
            "presign",
            "get",
            &name,
            "docs/hello.txt",
            "--expires-in",
            "300",
        ])
        .await;
    let got = http_client().get(url.trim()).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), data.as_slice());

    let stats = cli.json(&["bucket", "stats", &name]).await;
    assert_eq!(
        (stats["objects"].as_u64(), stats["bytes"].as_u64()),
        (Some(2), Some(400_000))
    );
    let shown = cli.ok(&["bucket", "show", &name]).await;
    assert!(shown.contains("from cli"), "{shown}");

    cli.ok(&["object", "rm", &name, "docs/hello.txt"]).await;
    cli.ok(&["object", "rm", &name, "hello.txt"]).await;
    let missing = cli.run(&["object", "rm", &name, "hello.txt"]).await;
    assert!(
        !missing.ok && missing.stderr.contains("NoSuchKey"),
        "{}",
        missing.stderr
    );
    let out = cli.ok(&["bucket", "delete", &name]).await;
    assert_eq!(out.trim(), format!("deleted bucket {name}"));
    let gone = cli.run(&["bucket", "show", &name]).await;
    assert!(
        !gone.ok && gone.stderr.contains("NoSuchBucket"),
        "{}",
        gone.stderr
    );
}

#[tokio::test]
async fn user_key_domain_and_settings_commands() {
    let cli = Cli::start().await;
    cli.ok(&["user", "create", "erin", "--name", "Erin"]).await;
    let users = cli.json(&["user", "list"]).await;
    assert_eq!(users["users"][0]["id"], "erin");
    let key = cli.json(&["key", "create", "erin"]).await;
    let (ak, sk) = (
        key["accessKey"].as_str().unwrap(),
        key["secretKey"].as_str().unwrap(),
    );

    // The user's own key pair works instead of the admin token.
    let name = bucket_name();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bucketgate"))
        .args([
            "bucket",
            "create",
            &name,
            "--json",
            "--access-key",
            ak,
            "--secret-key",
            sk,
        ])
        .env("BUCKETGATE_API", &cli.server.admin_endpoint)
        .env_remove("BUCKETGATE_ADMIN_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["bucket"]["owner"], "erin");

    let b = cli
        .json(&[
            "bucket",
            "update",
            &name,
            "--public-read",
            "true",
            "--max-size",
            "1MB",
        ])
        .await;
    assert_eq!(
        (b["publicRead"].as_bool(), b["maxSizeBytes"].as_u64()),
        (Some(true), Some(1_000_000))
    );
    let b = cli
        .json(&["domain", "link", &name, "files.example.org"])
        .await;
    assert_eq!(b["domains"][0], "files.example.org");
    let b = cli.json(&["domain", "unlink", &name]).await;
    assert_eq!(b["domains"].as_array().map(Vec::len), Some(0));
    // An embedded bucket has nothing to start or stop: it stays running either way.
    for cmd in ["start", "stop"] {
        let v = cli.json(&["bucket", cmd, &name]).await;
        assert_eq!(
            (v["name"].as_str(), v["status"].as_str()),
            (Some(name.as_str()), Some("running")),
            "bucket {cmd}: {v}"
        );
        let shown = cli.ok(&["bucket", cmd, &name]).await;
        assert_eq!(shown.trim(), format!("{name}: running"), "bucket {cmd}");
    }
    let synced = cli.json(&["bucket", "sync", &name]).await;
    assert_eq!(
        (synced["objects"].as_u64(), synced["bytes"].as_u64()),
        (Some(0), Some(0)),
        "{synced}"
    );

    let v = cli.json(&["key", "disable", "erin", ak]).await;
    assert_eq!(
        (v["accessKey"].as_str(), v["disabled"].as_bool()),
        (Some(ak), Some(true)),
        "{v}"
    );
    let keys = cli.json(&["key", "list", "erin"]).await;
    assert_eq!(keys["keys"][0]["disabled"], true);
    let out = cli.ok(&["key", "enable", "erin", ak]).await;
    assert_eq!(out.trim(), format!("{ak} enabled"));
    let keys = cli.json(&["key", "list", "erin"]).await;
    assert_eq!(keys["keys"][0]["disabled"], false, "{keys}");
    let out = cli.ok(&["key", "delete", "erin", ak]).await;
    assert_eq!(out.trim(), format!("deleted key {ak}"));
    let keys = cli.json(&["key", "list", "erin"]).await;
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(0), "{keys}");
    let busy = cli.run(&["user", "delete", "erin"]).await;
    assert!(
        !busy.ok && busy.stderr.contains("UserOwnsBuckets"),
        "{}",
        busy.stderr
    );
    let out = cli.ok(&["bucket", "delete", &name]).await;
    assert_eq!(out.trim(), format!("deleted bucket {name}"));
    let out = cli.ok(&["user", "delete", "erin"]).await;
    assert_eq!(out.trim(), "deleted user erin");
    let gone = cli.run(&["user", "show", "erin"]).await;
    assert!(
        !gone.ok && gone.stderr.contains("NoSuchUser"),
        "{}",
        gone.stderr
    );

    let denied = tokio::process::Command::new(env!("CARGO_BIN_EXE_bucketgate"))
        .args(["bucket", "list", "--token", "wrong"])
        .env("BUCKETGATE_API", &cli.server.admin_endpoint)
        .output()
        .await
        .unwrap();
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("Unauthorized"));
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
