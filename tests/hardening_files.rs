//! Data-file modes: object bytes (inline in `meta.redb`, or files under `blobs/`) and key files
//! are owner-only, and a data dir left readable by an older version is fixed at start-up.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// The one blob file of the data dir.
fn blob_file(data: &Path) -> std::path::PathBuf {
    let blobs = TestServer::files_under(&data.join("blobs"));
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    blobs[0].0.clone()
}

#[tokio::test]
async fn data_files_are_owner_only_and_fixed_at_start_up() {
    let mut server = TestServer::start().await;
    let client = server.client();
    let bucket = server.bucket(&client).await;
    // Above the inline threshold: the bytes go to a file under blobs/.
    let data = random_bytes(256 << 10);
    client
        .put_object()
        .bucket(&bucket)
        .key("private")
        .body(data.clone().into())
        .send()
        .await
        .unwrap();
    let dir = server.data_dir();
    let blob = blob_file(&dir);
    let shard = blob.parent().unwrap().to_owned();
    let dirs = [
        dir.clone(),
        dir.join("blobs"),
        shard.clone(),
        dir.join("tmp"),
    ];
    let files = [dir.join("meta.redb"), blob.clone(), dir.join("master.key")];
    for d in &dirs {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    // A data dir as an older version left it: 0755 directories, 0644 files.
    server.terminate(std::time::Duration::from_secs(30));
    for d in &dirs {
        set_mode(d, 0o755);
    }
    for f in &files {
        set_mode(f, 0o644);
    }
    server.restart().await;
    for d in &dirs {
        assert_eq!(mode(d), 0o700, "{} after restart", d.display());
    }
    assert_eq!(mode(&dir.join("meta.redb")), 0o600);
    assert_eq!(mode(&dir.join("master.key")), 0o600);
    // Blob files are not walked at start-up: their directories being 0700 is what protects
    // them. The object is intact.
    let log = server.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("made it owner-only") && l.contains("meta.redb")),
        "no warning naming meta.redb:\n{log}"
    );
    assert_eq!(get_bytes(&server.client(), &bucket, "private").await, data);
}
