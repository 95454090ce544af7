//! Copying files and trees on this machine without ever following a symbolic link.
//!
//! Outputs come from a directory the experiment wrote, so anything in it may be hostile: a
//! symlink to `/etc/passwd`, a link planted where a later copy would write through it. The
//! reference extracts container archives with no filter and writes outside its outputs directory
//! that way (docs/exec.md, "Where outputs go"). Here sources are opened with `O_NOFOLLOW`, links
//! and special files are skipped and reported, destinations are created fresh (`create_new`) and
//! put in place by `rename`, which replaces a link instead of writing through it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{ConnectorError, Context};

/// What a tree copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Regular files copied.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Symbolic links and special files left out, relative to the source.
    pub skipped: Vec<PathBuf>,
}

fn open_source(path: &Path) -> Result<(File, fs::Metadata), ConnectorError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| ConnectorError::io(format!("cannot open `{}`", path.display()), e))?;
    let metadata = file
        .metadata()
        .map_err(|e| ConnectorError::io(format!("cannot read `{}`", path.display()), e))?;
    if !metadata.is_file() {
        return Err(ConnectorError::io(
            format!("`{}` is not a regular file", path.display()),
            io::Error::from(io::ErrorKind::InvalidInput),
        ));
    }
    Ok((file, metadata))
}

/// Copy the regular file `source` to `destination`, which must not exist. Refuses a source that
/// is a symbolic link. Reports progress and stops when the run is cancelled.
///
/// # Errors
/// When either side cannot be opened, the source is not a regular file, or copying fails.
pub fn copy_file(
    source: &Path,
    destination: &Path,
    context: &Context,
) -> Result<u64, ConnectorError> {
    let (mut from, metadata) = open_source(source)?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(metadata.permissions().mode() & 0o755 | 0o600)
        .open(destination)
        .map_err(|e| ConnectorError::io(format!("cannot create `{}`", destination.display()), e))?;
    let total = metadata.len();
    let mut buffer = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    loop {
        context.check_stop()?;
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ConnectorError::io(
                    format!("cannot read `{}`", source.display()),
                    e,
                ));
            }
        };
        let chunk = buffer.get(..read).unwrap_or_default();
        to.write_all(chunk).map_err(|e| {
            ConnectorError::io(format!("cannot write `{}`", destination.display()), e)
        })?;
        copied += read as u64;
        context.progress.advance(read as u64, Some(total));
    }
    Ok(copied)
}

/// Copy the directory `source` to `destination` (which must not exist), regular files and
/// directories only; links and special files are skipped and listed.
///
/// # Errors
/// When a directory or file cannot be read or written.
pub fn copy_tree(
    source: &Path,
    destination: &Path,
    context: &Context,
) -> Result<Copied, ConnectorError> {
    let mut copied = Copied::default();
    copy_tree_into(source, destination, Path::new(""), context, &mut copied)?;
    Ok(copied)
}

fn copy_tree_into(
    source: &Path,
    destination: &Path,
    relative: &Path,
    context: &Context,
    copied: &mut Copied,
) -> Result<(), ConnectorError> {
    context.check_stop()?;
    fs::create_dir(destination)
        .map_err(|e| ConnectorError::io(format!("cannot create `{}`", destination.display()), e))?;
    let entries = fs::read_dir(source)
        .map_err(|e| ConnectorError::io(format!("cannot list `{}`", source.display()), e))?;
    let mut entries = entries
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConnectorError::io(format!("cannot list `{}`", source.display()), e))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let kind = entry.file_type().map_err(|e| {
            ConnectorError::io(format!("cannot read `{}`", entry.path().display()), e)
        })?;
        let inner = relative.join(&name);
        if kind.is_dir() {
            copy_tree_into(
                &entry.path(),
                &destination.join(&name),
                &inner,
                context,
                copied,
            )?;
        } else if kind.is_file() {
            copied.bytes += copy_file(&entry.path(), &destination.join(&name), context)?;
            copied.files += 1;
        } else {
            copied.skipped.push(inner);
        }
    }
    Ok(())
}

/// Put `source` (a file or directory that is ours to consume) at `destination`, replacing what
/// is there: by `rename` when both are on one filesystem, else by a copy into a fresh sibling
/// that is then renamed into place. A link at `destination` is replaced, never followed.
///
/// # Errors
/// When neither works.
pub fn place(
    source: &Path,
    destination: &Path,
    context: &Context,
) -> Result<Copied, ConnectorError> {
    let metadata = fs::symlink_metadata(source)
        .map_err(|e| ConnectorError::io(format!("cannot read `{}`", source.display()), e))?;
    let is_dir = metadata.is_dir();
    if !is_dir && !metadata.is_file() {
        return Ok(Copied {
            skipped: vec![source.to_path_buf()],
            ..Copied::default()
        });
    }
    let parent = destination.parent().unwrap_or(Path::new("."));
    let staging = parent.join(format!(".red-partial-{}", uuid::Uuid::new_v4().as_simple()));
    let copied = match fs::rename(source, &staging) {
        // A moved tree keeps its links: take them out, as a copy would have left them out.
        Ok(()) => prune(&staging).inspect_err(|_| remove_any(&staging))?,
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let result = if is_dir {
                copy_tree(source, &staging, context)
            } else {
                copy_file(source, &staging, context).map(|bytes| Copied {
                    files: 1,
                    bytes,
                    skipped: Vec::new(),
                })
            };
            if result.is_err() {
                remove_any(&staging);
            }
            result?
        }
        Err(e) => {
            return Err(ConnectorError::io(
                format!(
                    "cannot move `{}` to `{}`",
                    source.display(),
                    parent.display()
                ),
                e,
            ));
        }
    };
    if let Ok(existing) = fs::symlink_metadata(destination)
        && existing.is_dir()
        && is_dir
    {
        // `rename` cannot replace a non-empty directory: move it aside first.
        let old = parent.join(format!(".red-old-{}", uuid::Uuid::new_v4().as_simple()));
        fs::rename(destination, &old).map_err(|e| {
            remove_any(&staging);
            ConnectorError::io(format!("cannot replace `{}`", destination.display()), e)
        })?;
        remove_any(&old);
    } else if let Ok(existing) = fs::symlink_metadata(destination)
        && existing.is_dir() != is_dir
    {
        remove_any(destination);
    }
    fs::rename(&staging, destination).map_err(|e| {
        remove_any(&staging);
        ConnectorError::io(format!("cannot write `{}`", destination.display()), e)
    })?;
    Ok(copied)
}

/// The regular files of `path` and their bytes: a file (or a link to one) counts as one, a
/// directory as the sum over the regular files below it (links are not followed; they and
/// special files are listed as skipped). What cannot be read counts as nothing.
#[must_use]
pub fn measure(path: &Path) -> Copied {
    let mut measured = Copied::default();
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            measured.files = 1;
            measured.bytes = meta.len();
            return measured;
        }
        Ok(meta) if meta.is_dir() => {}
        _ => return measured,
    }
    let mut pending = vec![(path.to_path_buf(), PathBuf::new())];
    while let Some((dir, relative)) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let inner = relative.join(entry.file_name());
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push((entry.path(), inner)),
                Ok(kind) if kind.is_file() => {
                    measured.files += 1;
                    let bytes = entry.metadata().map_or(0, |m| m.len());
                    measured.bytes = measured.bytes.saturating_add(bytes);
                }
                _ => measured.skipped.push(inner),
            }
        }
    }
    measured
}

/// Remove every link and special file from a tree (never following one), and count what is
/// left.
fn prune(path: &Path) -> Result<Copied, ConnectorError> {
    let metadata = fs::symlink_metadata(path)
        .map_err(|e| ConnectorError::io(format!("cannot read `{}`", path.display()), e))?;
    let mut copied = Copied::default();
    if metadata.is_file() {
        copied.files = 1;
        copied.bytes = metadata.len();
        return Ok(copied);
    }
    let mut stack = vec![(path.to_path_buf(), PathBuf::new())];
    while let Some((dir, relative)) = stack.pop() {
        let entries = fs::read_dir(&dir)
            .map_err(|e| ConnectorError::io(format!("cannot list `{}`", dir.display()), e))?;
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let inner = relative.join(entry.file_name());
            if kind.is_dir() {
                stack.push((entry.path(), inner));
            } else if kind.is_file() {
                copied.files += 1;
                copied.bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            } else {
                fs::remove_file(entry.path()).map_err(|e| {
                    ConnectorError::io(format!("cannot remove `{}`", entry.path().display()), e)
                })?;
                copied.skipped.push(inner);
            }
        }
    }
    copied.skipped.sort();
    Ok(copied)
}

/// Remove a file, link or tree; errors are ignored (used on cleanup paths only).
pub fn remove_any(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// Size and SHA-256 (lower-case hex) of a regular file, read without following links.
///
/// # Errors
/// When it cannot be opened or read.
pub fn sha256(path: &Path) -> Result<(u64, String), ConnectorError> {
    let (mut file, _) = open_source(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ConnectorError::io(
                    format!("cannot read `{}`", path.display()),
                    e,
                ));
            }
        };
        hasher.update(buffer.get(..read).unwrap_or_default());
        size += read as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

/// Lower-case hex of bytes.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn context() -> Context {
        Context::new(PathBuf::from("."))
    }

    #[test]
    fn tree_copy_skips_links_and_never_writes_through_them() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, "keep").unwrap();
        let source = dir.path().join("src");
        fs::create_dir_all(source.join("sub")).unwrap();
        fs::write(source.join("a.txt"), "a").unwrap();
        fs::write(source.join("sub/b.txt"), "bb").unwrap();
        symlink(&outside, source.join("link")).unwrap();
        symlink("/", source.join("sub/root")).unwrap();
        let destination = dir.path().join("dst");
        let copied = copy_tree(&source, &destination, &context()).unwrap();
        assert_eq!((copied.files, copied.bytes), (2, 3));
        assert_eq!(
            copied.skipped,
            vec![PathBuf::from("link"), PathBuf::from("sub/root")]
        );
        assert!(fs::symlink_metadata(destination.join("link")).is_err());
        assert_eq!(fs::read_to_string(&outside).unwrap(), "keep");
    }

    #[test]
    fn copy_file_refuses_a_link() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("real"), "x").unwrap();
        symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        let error = copy_file(
            &dir.path().join("link"),
            &dir.path().join("copy"),
            &context(),
        );
        assert!(error.is_err());
        assert!(!dir.path().join("copy").exists());
    }

    #[test]
    fn place_replaces_a_planted_link_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        fs::write(&victim, "original").unwrap();
        let outputs = dir.path().join("outputs");
        fs::create_dir(&outputs).unwrap();
        symlink(&victim, outputs.join("result.txt")).unwrap();
        let produced = dir.path().join("result.txt");
        fs::write(&produced, "new").unwrap();
        place(&produced, &outputs.join("result.txt"), &context()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "original");
        assert_eq!(
            fs::read_to_string(outputs.join("result.txt")).unwrap(),
            "new"
        );
        assert!(
            !fs::symlink_metadata(outputs.join("result.txt"))
                .unwrap()
                .is_symlink()
        );
    }

    #[test]
    fn place_replaces_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("out");
        fs::create_dir(&destination).unwrap();
        fs::write(destination.join("old.txt"), "old").unwrap();
        let produced = dir.path().join("produced");
        fs::create_dir(&produced).unwrap();
        fs::write(produced.join("new.txt"), "new").unwrap();
        symlink("/etc/passwd", produced.join("link")).unwrap();
        let copied = place(&produced, &destination, &context()).unwrap();
        assert_eq!(copied.files, 1);
        assert_eq!(copied.skipped, vec![PathBuf::from("link")]);
        assert!(fs::symlink_metadata(destination.join("link")).is_err());
        assert!(destination.join("new.txt").exists());
        assert!(!destination.join("old.txt").exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn sha256_of_a_known_text() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "abc").unwrap();
        let (size, digest) = sha256(&dir.path().join("f")).unwrap();
        assert_eq!(size, 3);
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
