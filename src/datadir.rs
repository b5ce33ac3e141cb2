//! The data dir's permissions: owner-only, because it holds object bytes (small objects inline
//! in `meta.redb`, the others under `blobs/`), sealed secrets and key files.
//!
//! Directories are created 0700 and files 0600 with explicit modes (not left to the umask);
//! a data dir made by an older version (0755/0644) is fixed at start-up with one warning.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every directory under the data dir.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file under the data dir.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) owner-only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Creates the data dir if needed and makes it and what start-up opens owner-only, warning
/// once about what had to be fixed.
///
/// Only the top levels are checked: the data dir itself, `blobs/` with its shard directories,
/// `tmp/`, `meta.redb` and the key files. The blob files below are not walked (there may be
/// millions, and start-up must stay quick): with their directories 0700 no other user can
/// reach them whatever their own mode, and new blobs are written 0600.
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    create_private_dir(dir)?;
    let mut fixed = Vec::new();
    fix(dir, DIR_MODE, &mut fixed)?;
    let blobs = dir.join("blobs");
    for d in [blobs.clone(), dir.join("tmp")] {
        fix(&d, DIR_MODE, &mut fixed)?;
    }
    if let Ok(shards) = std::fs::read_dir(&blobs) {
        for shard in shards.flatten() {
            if shard.file_type().is_ok_and(|t| t.is_dir()) {
                fix(&shard.path(), DIR_MODE, &mut fixed)?;
            }
        }
    }
    for f in ["meta.redb", "master.key", "root-credentials", "admin-token"] {
        fix(&dir.join(f), FILE_MODE, &mut fixed)?;
    }
    if !fixed.is_empty() {
        tracing::warn!(
            data_dir = %dir.display(),
            fixed = ?fixed,
            "the data dir was readable by other users; made it owner-only (dirs 0700, files 0600)"
        );
    }
    Ok(())
}

/// Sets `path`'s permission bits to `mode` when they differ (a missing path is fine).
pub fn fix(path: &Path, mode: u32, fixed: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() || meta.permissions().mode() & 0o777 == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    fixed.push(path.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_open_data_dir_is_made_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("blobs/ab")).unwrap();
        std::fs::write(dir.join("meta.redb"), b"").unwrap();
        for d in [&dir, &dir.join("blobs"), &dir.join("blobs/ab")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(
            dir.join("meta.redb"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("blobs")), 0o700);
        assert_eq!(mode(&dir.join("blobs/ab")), 0o700);
        assert_eq!(mode(&dir.join("meta.redb")), 0o600);
    }
}
