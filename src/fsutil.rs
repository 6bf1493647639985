//! Writing files so that a crash never leaves half of one: write a temporary file in the same
//! directory, flush it to disk, then rename it over the target (atomic on POSIX file systems).

use crate::error::{Error, Result};
use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const TEMP_PREFIX: &str = ".mnistlab-";
const TEMP_SUFFIX: &str = ".tmp";

/// Replaces `path` with `bytes` atomically. The file gets the permissions [`std::fs::File::create`]
/// would give it: those of the file it replaces, or `rw-rw-rw-` less the umask for a new one (so
/// that a run can be read by whoever the user's umask lets read it). Every error names `path`,
/// never the temporary file, which is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let failed = |e: std::io::Error| Error::io(path, e);
    let existing = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        // The mode given to open(2), which the kernel narrows by the umask, as for File::create.
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(failed)?;
    if let Some(permissions) = existing {
        tmp.as_file().set_permissions(permissions).map_err(failed)?;
    }
    tmp.write_all(bytes).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(path).map_err(|e| failed(e.error))?;
    // The rename itself reaches the disk only with the directory.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// Removes temporary files that [`write_atomic`] left in `dir` when the process was killed
/// mid-write (they never replaced anything, so nothing is lost).
pub fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn unwritable_directory_is_an_error_naming_it() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.bin"), b"x").unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.bin"), "{err}");
    }

    /// Each umask in turn, in a child process (the umask is process-wide), so that the other tests
    /// of this process never see a changed one.
    #[test]
    fn new_files_get_the_umask_and_replaced_files_keep_their_mode() {
        if let Ok(mask) = std::env::var("MNISTLAB_TEST_UMASK") {
            let mask = u32::from_str_radix(&mask, 8).unwrap();
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
            let dir = tempfile::tempdir().unwrap();
            let new = dir.path().join("new.bin");
            write_atomic(&new, b"x").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&new), 0o666 & !mask, "umask {mask:o}");
            std::fs::set_permissions(&new, Permissions::from_mode(0o640)).unwrap();
            write_atomic(&new, b"y").unwrap();
            assert_eq!(mode(&new), 0o640, "a replaced file keeps its mode");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        for mask in ["022", "077", "002"] {
            let out = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "fsutil::tests::new_files_get_the_umask_and_replaced_files_keep_their_mode",
                ])
                .env("MNISTLAB_TEST_UMASK", mask)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "umask {mask}: {text}");
            assert!(text.contains("1 passed"), "umask {mask}: {text}");
        }
    }
}
