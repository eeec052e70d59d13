//! The data directory: it holds the embedded store (with the key that signs login tickets,
//! the IPAM and DNS secrets, every user's password hash) and the TLS key, so nobody but sdnd's
//! own user may read it or write into it.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// The files sdnd keeps in the data dir that must stay private (the certificate may be read
/// by anyone).
const PRIVATE_FILES: &[&str] = &["sdnd.db", "sdnd.db-wal", "sdnd.db-shm", "sdnd-key.pem"];

/// Makes `dir` a private data dir: creates it `0700` if missing; refuses one that another
/// user owns or that group or others may write (someone could swap its files); takes the
/// group and other bits off it and off the private files in it, saying so in the log.
pub fn prepare(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("creating the data dir {}: {e}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| format!("data dir {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("data dir {} is not a directory", dir.display()));
    }
    // SAFETY: geteuid has no preconditions and can't fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && me != 0 {
        return Err(format!(
            "data dir {} belongs to uid {}, not to this user (uid {me}): refusing to use it",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "data dir {} is writable by other users (mode {:o}): refusing to use it; fix it with 'chmod 700 {}'",
            dir.display(),
            meta.mode() & 0o7777,
            dir.display()
        ));
    }
    restrict(dir, 0o700)?;
    for name in PRIVATE_FILES {
        let path = dir.join(name);
        if path.exists() {
            restrict(&path, 0o600)?;
        }
    }
    Ok(())
}

/// Takes away the group and other bits beyond `mode`, with a log line when it had to.
fn restrict(path: &Path, mode: u32) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!("{} is a symbolic link: refusing to use it", path.display()));
    }
    let current = meta.mode() & 0o7777;
    if current & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("restricting {}: {e}", path.display()))?;
    tracing::warn!("{} was readable by other users (mode {current:o}); now {mode:o}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_new_data_dir_is_private() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a/b");
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn an_existing_installation_is_corrected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for name in ["sdnd.db", "sdnd.db-wal", "sdnd-key.pem", "sdnd-cert.pem"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
            std::fs::set_permissions(dir.path().join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        prepare(dir.path()).unwrap();
        assert_eq!(mode(dir.path()), 0o700);
        for name in ["sdnd.db", "sdnd.db-wal", "sdnd-key.pem"] {
            assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
        }
        assert_eq!(mode(&dir.path().join("sdnd-cert.pem")), 0o644, "the certificate may stay readable");
    }

    #[test]
    fn a_data_dir_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [0o777, 0o775, 0o703] {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(bad)).unwrap();
            let err = prepare(dir.path()).unwrap_err();
            assert!(err.contains("writable by other users") && err.contains("chmod 700"), "{err}");
        }
    }
}
