//! FUSE mounts of remote directories: red's own filesystem behind `red mount` and the
//! `mount: true` inputs of `red exec` (docs/architecture.md, "Local execution"; docs/sshfs.md).
//!
//! The filesystem ([`fs::RemoteFs`]) speaks to the kernel through `fuser` and to the files
//! through the small [`Remote`] trait, which the SFTP session implements for `ssh://` and RED
//! access blocks and [`LocalRemote`] implements over a local directory (tests, and measuring the
//! FUSE layer alone). [`mount`] mounts one and returns a [`MountGuard`] that unmounts when
//! dropped; [`unmount`] removes a mount made by another process (`red umount`).
//!
//! What makes it fast is in [`readahead`] (sequential streams get a growing window of parallel
//! requests, large random reads are split into parallel requests) and in [`fs`] (many session
//! threads, page cache kept while the remote file is unchanged). What keeps it from hanging is
//! in [`pool`]: every remote call has a timeout, after which the request fails with EIO.
//! docs/sshfs.md has the design, the options and the faults.

mod attrs;
pub mod buffers;
mod cache;
#[cfg(test)]
mod cache_tests;
pub mod extents;
pub mod fs;
pub mod inodes;
pub mod local;
pub mod pool;
pub mod readahead;
pub mod remote;
pub mod sftp;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fuser::{BackgroundSession, MountOption, SessionACL};

pub use local::LocalRemote;
pub use remote::{Attrs, Kind, OpenFlags, Remote, RemoteError};

/// How a mount behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Allow changes (create, write, rename, remove, mkdir, truncate); read-only otherwise.
    pub read_write: bool,
    /// Bypass the page cache: every read goes to the filesystem (and the read-ahead cache).
    pub direct_io: bool,
    /// The largest read-ahead window of a sequential stream, in bytes.
    pub readahead: u64,
    /// Bytes per remote read request (one read-ahead chunk).
    pub chunk: u64,
    /// Also raise the kernel's read-ahead of the mount to [`Options::readahead`] (root only;
    /// silently skipped where the kernel refuses).
    pub kernel_readahead: bool,
    /// How long any remote call may take before the request fails with EIO.
    pub timeout: Duration,
    /// How long attributes and directory listings are trusted (also the kernel's TTL).
    pub cache_ttl: Duration,
    /// FUSE session threads (requests served at once).
    pub threads: usize,
    /// Remote calls in flight at most (worker threads).
    pub workers: usize,
    /// Let other users (root included, e.g. the Docker daemon for a bind mount) see the mount;
    /// needs `user_allow_other` in /etc/fuse.conf unless red runs as root.
    pub allow_other: bool,
    /// What the mount table shows as the source (`red:host:/path`).
    pub source: String,
    /// SSH connections of an SFTP mount ([`sftp::SftpRemote::add_lanes`]); other remotes have
    /// one of their own.
    pub connections: usize,
}

/// How many SSH connections an SFTP mount holds unless told otherwise (docs/sshfs.md,
/// "Connections", has the measurement behind it).
pub const DEFAULT_CONNECTIONS: u8 = 2;

impl Default for Options {
    fn default() -> Self {
        Self {
            read_write: false,
            direct_io: false,
            readahead: 16 * 1024 * 1024,
            chunk: 1024 * 1024,
            kernel_readahead: true,
            timeout: Duration::from_secs(20),
            cache_ttl: Duration::from_secs(10),
            threads: 16,
            workers: 32,
            allow_other: false,
            source: "red".to_owned(),
            connections: usize::from(DEFAULT_CONNECTIONS),
        }
    }
}

/// Why mounting or unmounting failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The mount point is not an existing directory.
    #[error("the mount point `{}` is not a directory", path.display())]
    NotDirectory {
        /// The mount point.
        path: PathBuf,
    },
    /// The kernel or fusermount refused the mount.
    #[error("cannot mount at `{}`", path.display())]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Unmounting failed.
    #[error("cannot unmount `{}`: {message}", path.display())]
    Unmount {
        /// The mount point.
        path: PathBuf,
        /// What fusermount said.
        message: String,
    },
}

/// A mounted filesystem; dropping it unmounts (and waits for the session threads to end).
#[derive(Debug)]
pub struct MountGuard {
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
    /// The kernel's number of the FUSE connection (`/sys/fs/fuse/connections/N`), read from the
    /// mount table right after mounting.
    connection: Option<u64>,
}

impl MountGuard {
    /// Where it is mounted.
    #[must_use]
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Whether the session ended on its own (someone ran `red umount` or `fusermount3 -u`).
    #[must_use]
    pub fn ended(&self) -> bool {
        self.session
            .as_ref()
            .is_none_or(|session| session.guard.is_finished())
    }

    /// Unmount now and wait for the session threads.
    ///
    /// # Errors
    /// When the mount cannot be removed (busy): it is then detached lazily, and the error
    /// says so.
    pub fn unmount(mut self) -> Result<(), MountError> {
        self.finish()
    }

    /// Unmount, and if that has not finished within `wait` (a request stuck in the remote, a
    /// process stuck in the mount), abort the FUSE connection so that every request in flight
    /// fails at once, detach the mount and wait `wait` once more for the session to end. This
    /// is how a stop signal always ends `red mount`.
    ///
    /// # Errors
    /// When the mount is still there after all that.
    pub fn unmount_within(self, wait: Duration) -> Result<(), MountError> {
        let (connection, mountpoint) = (self.connection, self.mountpoint.clone());
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(self.unmount());
        });
        if let Ok(result) = finished.recv_timeout(wait) {
            return result;
        }
        if let Some(connection) = connection {
            let _ = std::fs::write(format!("/sys/fs/fuse/connections/{connection}/abort"), "1");
        }
        if is_mounted(&mountpoint) {
            let _ = fusermount(&["-u", "-z"], &mountpoint);
        }
        match finished.recv_timeout(wait) {
            Ok(result) => result,
            Err(_) if !is_mounted(&mountpoint) => Ok(()),
            Err(_) => Err(MountError::Unmount {
                path: mountpoint,
                message: "the session did not end, even after its FUSE connection was aborted"
                    .to_owned(),
            }),
        }
    }

    fn finish(&mut self) -> Result<(), MountError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if session.guard.is_finished() {
            // Unmounted from outside. Dropping fuser's mount handle now would unmount the path
            // again (fuser 0.18 reads a dead connection as still mounted), and by now the path
            // may hold a new mount. Leave the handle (one descriptor) alone instead.
            std::mem::forget(session);
            return Ok(());
        }
        match session.umount_and_join() {
            Ok(()) => Ok(()),
            Err(error) => {
                // Still in use: detach it now; the kernel ends the session once it is idle.
                if is_mounted(&self.mountpoint) {
                    let _ = fusermount(&["-u", "-z"], &self.mountpoint);
                }
                if is_mounted(&self.mountpoint) {
                    Err(MountError::Unmount {
                        path: self.mountpoint.clone(),
                        message: error.to_string(),
                    })
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Mount the remote directory `root` (absolute, `/`-separated) at `mountpoint`, served by
/// background threads until the guard is dropped.
///
/// # Errors
/// When the mount point is not a directory or the kernel refuses the mount.
pub fn mount<R: Remote>(
    remote: Arc<R>,
    root: &str,
    mountpoint: &Path,
    options: Options,
) -> Result<MountGuard, MountError> {
    if !mountpoint.is_dir() {
        return Err(MountError::NotDirectory {
            path: mountpoint.to_path_buf(),
        });
    }
    let mounting = |source| MountError::Mount {
        path: mountpoint.to_path_buf(),
        source,
    };
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName(options.source.clone()),
        MountOption::Subtype("red".to_owned()),
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::NoAtime,
        if options.read_write {
            MountOption::RW
        } else {
            MountOption::RO
        },
    ];
    if options.allow_other {
        config.acl = SessionACL::All;
    }
    config.n_threads = Some(options.threads.max(1));
    config.clone_fd = true;
    let kernel_readahead = options.kernel_readahead.then_some(options.readahead);
    let filesystem = fs::RemoteFs::new(remote, root, options).map_err(mounting)?;
    let session = fuser::Session::new(filesystem, mountpoint, &config)
        .and_then(fuser::Session::spawn)
        .map_err(mounting)?;
    if let Some(bytes) = kernel_readahead {
        set_kernel_readahead(mountpoint, bytes);
    }
    Ok(MountGuard {
        session: Some(session),
        connection: connection(mountpoint),
        mountpoint: mountpoint.to_path_buf(),
    })
}

/// Raise the kernel's read-ahead for the mount's backing device info (best effort: needs
/// root; the default of 128 KiB keeps few requests in flight).
fn set_kernel_readahead(mountpoint: &Path, bytes: u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::metadata(mountpoint) else {
        return;
    };
    let dev = metadata.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let path = format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb");
    let _ = std::fs::write(path, format!("{}", (bytes / 1024).max(128)));
}

/// Run fusermount3 (or fusermount) with `args` and the mount point; the error is its stderr.
fn fusermount(args: &[&str], mountpoint: &Path) -> Result<(), String> {
    let mut last = String::from("neither `fusermount3` nor `fusermount` was found");
    for program in ["fusermount3", "fusermount"] {
        match Command::new(program).args(args).arg(mountpoint).output() {
            Ok(output) if output.status.success() => return Ok(()),
            Ok(output) => {
                last = String::from_utf8_lossy(&output.stderr).trim().to_owned();
                if last.is_empty() {
                    last = format!("`{program}` failed with {}", output.status);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => last = error.to_string(),
        }
    }
    Err(last)
}

/// Unmount a FUSE mount made by any process (`red umount`): `fusermount3 -u`, falling back to
/// `fusermount -u`.
///
/// # Errors
/// When neither can remove it.
pub fn unmount(mountpoint: &Path) -> Result<(), MountError> {
    // A mount that is busy for a moment (a stat in flight, the session still starting) is
    // tried again a few times before giving up.
    let mut attempts = 0;
    loop {
        match fusermount(&["-u"], mountpoint) {
            Ok(()) => return Ok(()),
            Err(message) => {
                attempts += 1;
                if attempts >= 10 || !is_mounted(mountpoint) {
                    return Err(MountError::Unmount {
                        path: mountpoint.to_path_buf(),
                        message,
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Whether `path` is a mount point in this process's mount namespace (/proc/self/mountinfo).
#[must_use]
pub fn is_mounted(path: &Path) -> bool {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|point| Path::new(&unescape_mountinfo(point)) == path)
}

/// The FUSE connection number of the mount at `path`: its device number (`major:minor` in
/// /proc/self/mountinfo, read there rather than with `stat`, which a stuck mount would block).
fn connection(path: &Path) -> Option<u64> {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let device = table.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let point = unescape_mountinfo(fields.get(4)?);
        (Path::new(&point) == path).then(|| fields.get(2).map(|d| (*d).to_owned()))?
    })?;
    let (major, minor) = device.split_once(':')?;
    let (major, minor) = (major.parse::<u64>().ok()?, minor.parse::<u64>().ok()?);
    Some((major << 20) | minor)
}

/// Undo the octal escapes of /proc/self/mountinfo (`\040` for a space, …).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\'
            && let Some(value) = field
                .get(index + 1..index + 4)
                .and_then(|digits| u8::from_str_radix(digits, 8).ok())
        {
            out.push(value);
            index += 4;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(
            unescape_mountinfo(r"/tmp/back\134slash"),
            r"/tmp/back\slash"
        );
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/end\04"), r"/end\04");
    }

    #[test]
    fn the_root_is_mounted_and_a_fresh_directory_is_not() {
        assert!(is_mounted(Path::new("/")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mounted(dir.path()));
    }
}
