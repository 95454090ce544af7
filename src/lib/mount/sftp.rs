//! The SFTP session of the ssh connector as a mount's [`Remote`]: what makes `red mount ssh://…`
//! and `mount: true` inputs red's own SSHFS.
//!
//! Every call goes to the one SFTP session of an `ssh` child (`crate::ssh::Connection`), which
//! keeps many requests in flight, so the mount's parallel reads are pipelined on one connection.
//! When the connection is lost, calls fail with [`RemoteError::Disconnected`] and the mount calls
//! [`Remote::reconnect`], which opens a new connection with the same target (same checks of the
//! host key, same credentials); handles of the old connection are then stale and fail with EIO.
//!
//! Files are shown as owned by the mounting user (the remote's uids mean nothing here), so a
//! container running as that user can read what the remote login can read.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use super::remote::{Attrs, BackgroundRead, Kind, OpenFlags, Remote, RemoteError};
use crate::sftp;
use crate::ssh::{Connection, Target};

/// SFTP status codes of protocol version 3 (draft-ietf-secsh-filexfer-02, section 7).
const NO_SUCH_FILE: u32 = 2;
const PERMISSION_DENIED: u32 = 3;
const NO_CONNECTION: u32 = 6;
const CONNECTION_LOST: u32 = 7;
const OP_UNSUPPORTED: u32 = 8;

/// A remote directory tree reached over SFTP.
pub struct SftpRemote {
    target: Target,
    connection: RwLock<Arc<Connection>>,
}

impl std::fmt::Debug for SftpRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpRemote")
            .field("target", &self.target.label())
            .finish_non_exhaustive()
    }
}

impl SftpRemote {
    /// Serve the mount over `connection`, reconnecting to `target` when it is lost.
    #[must_use]
    pub fn new(target: Target, connection: Arc<Connection>) -> Self {
        Self {
            target,
            connection: RwLock::new(connection),
        }
    }

    fn session(&self) -> Arc<sftp::Session> {
        let connection = self
            .connection
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(connection.session())
    }

    /// The absolute form of a remote path (a relative one starts at the login's home).
    ///
    /// # Errors
    /// When the server cannot resolve it.
    pub fn absolute(&self, path: &str) -> Result<String, RemoteError> {
        if path.starts_with('/') {
            return Ok(path.to_owned());
        }
        let path = if path.is_empty() { "." } else { path };
        self.session().realpath(path).map_err(remote_error)
    }
}

/// The mount's error for an SFTP error.
fn remote_error(error: sftp::Error) -> RemoteError {
    match &error {
        sftp::Error::Status { code, .. } => match *code {
            NO_SUCH_FILE => RemoteError::NotFound,
            PERMISSION_DENIED => RemoteError::PermissionDenied,
            OP_UNSUPPORTED => RemoteError::Unsupported,
            NO_CONNECTION | CONNECTION_LOST => RemoteError::Disconnected,
            _ => RemoteError::Failure(error.to_string()),
        },
        sftp::Error::Timeout { .. } => RemoteError::Timeout,
        sftp::Error::Closed { .. } => RemoteError::Disconnected,
        sftp::Error::Unsupported(_) => RemoteError::Unsupported,
        _ => RemoteError::Failure(error.to_string()),
    }
}

fn attrs(remote: &sftp::Attrs) -> Attrs {
    let kind = if remote.is_dir() {
        Kind::Directory
    } else if remote.is_file() {
        Kind::File
    } else if remote.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    };
    let time = |seconds: u32| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(seconds));
    Attrs {
        kind,
        size: remote.size.unwrap_or(0),
        perm: remote
            .permissions
            .map_or(0o644, |p| u16::try_from(p & 0o7777).unwrap_or(0o644)),
        mtime: remote
            .times
            .map_or(SystemTime::UNIX_EPOCH, |(_, m)| time(m)),
        atime: remote.times.map(|(a, _)| time(a)),
        uid: None,
        gid: None,
    }
}

fn open_flags(flags: OpenFlags) -> sftp::OpenFlags {
    let mut bits = 0;
    for (set, bit) in [
        (flags.read, sftp::OpenFlags::READ),
        (flags.write, sftp::OpenFlags::WRITE),
        (flags.append, sftp::OpenFlags::APPEND),
        (flags.create, sftp::OpenFlags::CREATE),
        (flags.truncate, sftp::OpenFlags::TRUNCATE),
        (flags.exclusive, sftp::OpenFlags::EXCLUSIVE),
    ] {
        if set {
            bits |= bit.0;
        }
    }
    sftp::OpenFlags(bits)
}

impl Remote for SftpRemote {
    type Handle = sftp::Handle;

    fn stat(&self, path: &str) -> Result<Attrs, RemoteError> {
        self.session()
            .stat(path)
            .map(|a| attrs(&a))
            .map_err(remote_error)
    }

    fn lstat(&self, path: &str) -> Result<Attrs, RemoteError> {
        self.session()
            .lstat(path)
            .map(|a| attrs(&a))
            .map_err(remote_error)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<(String, Attrs)>, RemoteError> {
        let entries = self.session().read_dir(path).map_err(remote_error)?;
        Ok(entries
            .into_iter()
            .filter(|(name, _)| name != "." && name != "..")
            .map(|(name, a)| (name, attrs(&a)))
            .collect())
    }

    fn read_link(&self, path: &str) -> Result<String, RemoteError> {
        self.session().readlink(path).map_err(remote_error)
    }

    fn open(&self, path: &str, flags: OpenFlags) -> Result<Self::Handle, RemoteError> {
        self.session()
            .open(path, open_flags(flags))
            .map_err(remote_error)
    }

    fn read(&self, handle: &Self::Handle, offset: u64, len: u32) -> Result<Vec<u8>, RemoteError> {
        // A server answers at most its own read limit per request (OpenSSH: 256 KiB) and may
        // answer less; the mount needs the whole range, so it is read as pipelined chunks that
        // stop only at the end of the file.
        self.session()
            .read_exact_at(handle, offset, len as usize)
            .map_err(remote_error)
    }

    fn read_start(
        &self,
        handle: &Self::Handle,
        reads: Vec<BackgroundRead>,
    ) -> Result<(), Vec<BackgroundRead>> {
        // The requests go out in one write to `ssh`, and the session's reader thread completes
        // each range as its last reply lands: no thread waits for them.
        let ranges = reads
            .into_iter()
            .map(|read| {
                let done = read.done;
                sftp::RangeRead {
                    offset: read.offset,
                    buffer: read.buffer,
                    done: Box::new(move |result| done(result.map_err(remote_error))),
                }
            })
            .collect();
        self.session().read_ranges_start(handle, ranges);
        Ok(())
    }

    fn write(&self, handle: &Self::Handle, offset: u64, data: &[u8]) -> Result<(), RemoteError> {
        self.session()
            .write(handle, offset, data)
            .map_err(remote_error)
    }

    fn fsync(&self, handle: &Self::Handle) -> Result<(), RemoteError> {
        match self.session().fsync(handle) {
            Ok(()) | Err(sftp::Error::Unsupported(_)) => Ok(()),
            Err(error) => Err(remote_error(error)),
        }
    }

    fn close(&self, handle: Self::Handle) -> Result<(), RemoteError> {
        self.session().close(&handle).map_err(remote_error)
    }

    fn mkdir(&self, path: &str, perm: u16) -> Result<(), RemoteError> {
        let attrs = sftp::Attrs {
            permissions: Some(u32::from(perm)),
            ..sftp::Attrs::default()
        };
        self.session().mkdir(path, &attrs).map_err(remote_error)
    }

    fn rmdir(&self, path: &str) -> Result<(), RemoteError> {
        self.session().rmdir(path).map_err(remote_error)
    }

    fn remove(&self, path: &str) -> Result<(), RemoteError> {
        self.session().remove(path).map_err(remote_error)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), RemoteError> {
        self.session().rename(from, to).map_err(remote_error)
    }

    fn truncate(&self, path: &str, size: u64) -> Result<(), RemoteError> {
        let attrs = sftp::Attrs {
            size: Some(size),
            ..sftp::Attrs::default()
        };
        self.session().setstat(path, &attrs).map_err(remote_error)
    }

    fn chmod(&self, path: &str, perm: u16) -> Result<(), RemoteError> {
        let attrs = sftp::Attrs {
            permissions: Some(u32::from(perm)),
            ..sftp::Attrs::default()
        };
        self.session().setstat(path, &attrs).map_err(remote_error)
    }

    fn reconnect(&self) -> Result<(), RemoteError> {
        let fresh =
            Connection::open(&self.target).map_err(|e| RemoteError::Failure(e.to_string()))?;
        *self
            .connection
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sftp_errors_map_to_the_errno_a_reader_expects() {
        let status = |code| sftp::Error::Status {
            code,
            path: "/x".into(),
            message: String::new(),
        };
        assert_eq!(remote_error(status(NO_SUCH_FILE)), RemoteError::NotFound);
        assert_eq!(
            remote_error(status(PERMISSION_DENIED)),
            RemoteError::PermissionDenied
        );
        assert_eq!(
            remote_error(status(CONNECTION_LOST)),
            RemoteError::Disconnected
        );
        assert_eq!(
            remote_error(sftp::Error::Closed { reason: None }),
            RemoteError::Disconnected
        );
        assert!(matches!(remote_error(status(4)), RemoteError::Failure(_)));
    }

    #[test]
    fn attributes_keep_kind_size_mode_and_times() {
        let remote = sftp::Attrs {
            size: Some(42),
            uid_gid: Some((1234, 1234)),
            permissions: Some(0o100_640),
            times: Some((10, 20)),
        };
        let shown = attrs(&remote);
        assert_eq!(shown.kind, Kind::File);
        assert_eq!((shown.size, shown.perm), (42, 0o640));
        assert_eq!(
            shown.mtime,
            SystemTime::UNIX_EPOCH + Duration::from_secs(20)
        );
        assert_eq!(shown.uid, None, "the mounting user owns what is shown");
        let dir = sftp::Attrs {
            permissions: Some(0o040_755),
            ..sftp::Attrs::default()
        };
        assert_eq!(attrs(&dir).kind, Kind::Directory);
    }

    #[test]
    fn open_flags_become_sftp_bits() {
        let flags = OpenFlags {
            write: true,
            create: true,
            truncate: true,
            ..OpenFlags::default()
        };
        assert_eq!(open_flags(flags).0, 0x02 | 0x08 | 0x10);
        assert_eq!(open_flags(OpenFlags::read_only()).0, 0x01);
    }
}
