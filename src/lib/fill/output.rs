//! Writing a filled document: private (mode 0600) and atomic.
//!
//! A filled document holds passwords, so it is created with mode 0600 from the first byte (a
//! temporary file in the target's directory, opened with that mode and `O_EXCL`), flushed to
//! disk, and renamed over the target. The target is therefore never world-readable, never half
//! written, and a symbolic link at the target is replaced, not followed.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file `red fill` writes when no `-o` is given: the input's name with `.filled` before its
/// last extension, in the same directory (`exp.red.yml` → `exp.red.filled.yml`,
/// `exp.json` → `exp.filled.json`, `exp` → `exp.filled`). `None` for standard input.
#[must_use]
pub fn default_path(input: &Path) -> Option<PathBuf> {
    if input.as_os_str() == "-" {
        return None;
    }
    let name = input.file_name()?.to_string_lossy().into_owned();
    let filled = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => format!("{stem}.filled.{extension}"),
        _ => format!("{name}.filled"),
    };
    Some(input.with_file_name(filled))
}

/// Write `contents` to `path` with mode 0600, atomically.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the output path names no file"))?
        .to_string_lossy()
        .into_owned();
    let mut attempt = 0u32;
    let (temporary, mut file) = loop {
        let candidate = directory.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        match open_private(&candidate) {
            Ok(file) => break (candidate, file),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    };
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        let name = |p: &str| default_path(Path::new(p)).map(|p| p.display().to_string());
        assert_eq!(
            name("d/exp.red.yml").as_deref(),
            Some("d/exp.red.filled.yml")
        );
        assert_eq!(name("exp.json").as_deref(), Some("exp.filled.json"));
        assert_eq!(name("exp").as_deref(), Some("exp.filled"));
        assert_eq!(name(".hidden").as_deref(), Some(".hidden.filled"));
        assert_eq!(name("-"), None);
    }

    #[cfg(unix)]
    #[test]
    fn written_private_and_replacing_links() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yml");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &target).unwrap();
        write_private(&target, "secret: x\n").unwrap();
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret: x\n");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        let missing = dir.path().join("no/such/dir/out.yml");
        assert!(write_private(&missing, "x").is_err());
    }
}
