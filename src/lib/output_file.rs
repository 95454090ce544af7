//! Writing a file the user named (`red fill -o`, `red convert … -o`, `red upgrade -o`, plots):
//! the one writer every command uses, so every command keeps the same promises.
//!
//! - A regular file (or a path where nothing is yet) is written whole or not at all: a temporary
//!   file in the target's directory, opened with `O_EXCL`, flushed to disk, then renamed over the
//!   target. A reader never sees half a file, and a failure leaves the old file as it was.
//! - A file that holds a protected value ([`Privacy::Private`]) is created with mode 0600 from
//!   its first byte; others get the usual mode (0666 less the umask).
//! - A target that exists and is not a regular file is never replaced: a character device
//!   (`/dev/null`, a terminal) or a FIFO is written through (opened and written, no rename), and
//!   so is whatever `/dev/stdout`, `/dev/fd/N` or `/proc/…/fd/N` leads to; a directory, a socket
//!   or a block device is refused with [`Error::Refused`]. A rename over `/dev/null` as root
//!   would replace the device with a regular file for every program on the machine.
//! - A symbolic link to a regular file (or to nothing) is replaced by the new file, not followed:
//!   a link planted where a private file is about to be written cannot send its content
//!   elsewhere. Links through `/dev/stdout`, `/dev/fd` or `/proc` are the exception above.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Who may read the file written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privacy {
    /// Only its owner (mode 0600): the file holds a protected value.
    Private,
    /// Mode 0666 less the umask.
    Shared,
}

impl Privacy {
    /// [`Privacy::Private`] when `holds_secret`.
    #[must_use]
    pub fn holding_secret(holds_secret: bool) -> Self {
        if holds_secret {
            Privacy::Private
        } else {
            Privacy::Shared
        }
    }

    fn mode(self) -> u32 {
        match self {
            Privacy::Private => 0o600,
            Privacy::Shared => 0o666,
        }
    }
}

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target exists and is neither a regular file nor something to write through.
    #[error(
        "`{path}` is {what}, which red does not replace or write into; name a regular file, \
         a device such as `/dev/null`, or a pipe"
    )]
    Refused {
        /// The path given.
        path: PathBuf,
        /// What it is (`a directory`, `a socket`, `a block device`).
        what: &'static str,
    },
    /// Reading or writing failed.
    #[error("cannot write `{path}`")]
    Io {
        /// The path given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What is at the target, and so how it is written.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Nothing, a regular file, or a link that is replaced: temporary file and rename.
    Replace,
    /// A device, a FIFO, or what a standard stream leads to: open and write.
    Through,
}

/// Write `contents` to `path` (see the module documentation for what happens to what is
/// there).
///
/// # Errors
/// When the target is refused, or creating, writing, flushing or renaming fails; a temporary
/// file is removed again.
pub fn write(path: &Path, contents: &[u8], privacy: Privacy) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    match target(path)? {
        Target::Through => OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(contents))
            .map_err(io),
        Target::Replace => replace(path, contents, privacy).map_err(io),
    }
}

/// Write a new file in a directory of the caller's own that nobody else sees yet (no temporary
/// file needed): created with `O_EXCL` and the mode of `privacy`.
///
/// # Errors
/// When the file exists already or cannot be created or written.
pub fn create(path: &Path, contents: &[u8], privacy: Privacy) -> Result<(), Error> {
    open_new(path, privacy)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

fn target(path: &Path) -> Result<Target, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let own = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Target::Replace),
        Err(error) => return Err(io(error)),
    };
    if own.is_file() {
        return Ok(Target::Replace);
    }
    let through_system = own.is_symlink() && leads_through_system(path);
    let followed = match fs::metadata(path) {
        Ok(meta) => meta,
        // A link to nothing is replaced like any link to a file.
        Err(error) if own.is_symlink() && error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Target::Replace);
        }
        Err(error) => return Err(io(error)),
    };
    classify(&followed.file_type(), own.is_symlink(), through_system).map_err(|what| {
        Error::Refused {
            path: path.to_owned(),
            what,
        }
    })
}

#[cfg(unix)]
fn classify(kind: &fs::FileType, link: bool, through_system: bool) -> Result<Target, &'static str> {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_char_device() || kind.is_fifo() {
        Ok(Target::Through)
    } else if kind.is_file() {
        // Only a link can lead to a regular file here: `/dev/stdout` redirected to a file is
        // written through, any other link is replaced.
        Ok(if link && through_system {
            Target::Through
        } else {
            Target::Replace
        })
    } else if kind.is_dir() {
        Err("a directory")
    } else if kind.is_socket() {
        Err("a socket")
    } else if kind.is_block_device() {
        Err("a block device")
    } else {
        Err("neither a file nor a device")
    }
}

#[cfg(not(unix))]
fn classify(
    kind: &fs::FileType,
    _link: bool,
    _through_system: bool,
) -> Result<Target, &'static str> {
    if kind.is_dir() {
        Err("a directory")
    } else {
        Ok(Target::Replace)
    }
}

/// Whether the chain of links at `path` passes through the kernel's names for open files
/// (`/dev/stdout`, `/dev/fd/1`, `/proc/self/fd/1`), which are written through whatever they
/// lead to.
fn leads_through_system(path: &Path) -> bool {
    let mut current = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    for _ in 0..40 {
        let kernel = ["/proc", "/dev/fd", "/dev/stdout", "/dev/stderr"];
        if kernel.iter().any(|name| current.starts_with(name)) {
            return true;
        }
        let Ok(next) = fs::read_link(&current) else {
            return false;
        };
        current = match current.parent() {
            Some(parent) => parent.join(next),
            None => next,
        };
    }
    false
}

fn replace(path: &Path, contents: &[u8], privacy: Privacy) -> std::io::Result<()> {
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
        match open_new(&candidate, privacy) {
            Ok(file) => break (candidate, file),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    };
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(unix)]
fn open_new(path: &Path, privacy: Privacy) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(privacy.mode())
        .open(path)
}

#[cfg(not(unix))]
fn open_new(path: &Path, _privacy: Privacy) -> std::io::Result<fs::File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_are_0600_and_replace_links_without_following_them() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yml");
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, "keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &target).unwrap();
        write(&target, b"secret: x\n", Privacy::Private).unwrap();
        assert!(fs::symlink_metadata(&target).unwrap().file_type().is_file());
        assert_eq!(mode(&target), 0o600);
        assert_eq!(fs::read_to_string(&target).unwrap(), "secret: x\n");
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "keep");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        let missing = dir.path().join("no/such/dir/out.yml");
        assert!(matches!(
            write(&missing, b"x", Privacy::Shared),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn a_public_file_made_private_loses_its_old_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yml");
        fs::write(&target, "old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        write(&target, b"new", Privacy::Private).unwrap();
        assert_eq!(mode(&target), 0o600);
        write(&target, b"newer", Privacy::Shared).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "newer");
    }

    #[test]
    fn dev_null_stays_a_device() {
        write(Path::new("/dev/null"), b"secret", Privacy::Private).unwrap();
        let meta = fs::symlink_metadata("/dev/null").unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!(mode(Path::new("/dev/null")), 0o666);
    }

    #[test]
    fn a_fifo_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
        };
        write(&fifo, b"through the pipe\n", Privacy::Private).unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe\n");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn directories_and_sockets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = write(dir.path(), b"x", Privacy::Shared).unwrap_err();
        assert!(matches!(
            error,
            Error::Refused {
                what: "a directory",
                ..
            }
        ));
        let socket = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let error = write(&socket, b"x", Privacy::Shared).unwrap_err();
        assert!(error.to_string().contains("is a socket"), "{error}");
        assert!(
            fs::symlink_metadata(&socket)
                .unwrap()
                .file_type()
                .is_socket()
        );
        let link = dir.path().join("to-dir");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        assert!(matches!(
            write(&link, b"x", Privacy::Shared),
            Err(Error::Refused { .. })
        ));
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    }

    #[test]
    fn links_through_proc_are_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("redirected");
        fs::write(&file, "before\n").unwrap();
        let open = OpenOptions::new().append(true).open(&file).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&open);
        let link = dir.path().join("stdout-like");
        std::os::unix::fs::symlink(format!("/proc/self/fd/{fd}"), &link).unwrap();
        write(&link, b"after\n", Privacy::Private).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "before\nafter\n");
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(leads_through_system(Path::new("/dev/stdout")));
        assert!(!leads_through_system(&file));
    }

    #[test]
    fn created_files_are_new_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        create(&path, b"x", Privacy::Private).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(create(&path, b"y", Privacy::Private).is_err());
    }
}
