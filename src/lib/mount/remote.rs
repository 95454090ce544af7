//! The narrow interface the mount needs from wherever the files live: [`Remote`].
//!
//! The FUSE filesystem ([`super::fs`]) knows nothing about SSH or SFTP. It calls these methods
//! with `/`-separated remote paths, from many threads at once (reads of one handle included),
//! and maps every [`RemoteError`] to an errno. The SFTP session implements it for real mounts;
//! [`super::local::LocalRemote`] implements it over a local directory for tests and for
//! measuring the FUSE layer alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

/// What kind of entry a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (only from [`Remote::lstat`] and [`Remote::read_dir`]).
    Symlink,
    /// Anything else (device, socket, fifo): shown, never opened.
    Other,
}

/// The attributes of a remote entry, as far as the remote knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    /// The entry's kind.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`0o7777` at most; the kind is in [`Attrs::kind`]).
    pub perm: u16,
    /// Last modification.
    pub mtime: SystemTime,
    /// Last access, when the remote reports it (else the mtime is shown).
    pub atime: Option<SystemTime>,
    /// Owner, when the remote reports it (else the mounting user is shown).
    pub uid: Option<u32>,
    /// Group, when the remote reports it.
    pub gid: Option<u32>,
}

/// How a file is opened ([`Remote::open`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenFlags {
    /// Read from it.
    pub read: bool,
    /// Write to it.
    pub write: bool,
    /// Create it when missing.
    pub create: bool,
    /// Fail when it exists (with `create`).
    pub exclusive: bool,
    /// Cut it to 0 bytes.
    pub truncate: bool,
    /// Every write goes to the end.
    pub append: bool,
}

impl OpenFlags {
    /// Read only.
    #[must_use]
    pub fn read_only() -> Self {
        Self {
            read: true,
            ..Self::default()
        }
    }
}

/// Why a remote call failed. Each maps to one errno ([`RemoteError::errno`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// No such file or directory.
    #[error("no such file or directory")]
    NotFound,
    /// The remote refused.
    #[error("permission denied")]
    PermissionDenied,
    /// The entry already exists.
    #[error("the entry exists")]
    Exists,
    /// A directory is not empty.
    #[error("the directory is not empty")]
    NotEmpty,
    /// A directory where a file was expected.
    #[error("is a directory")]
    IsDirectory,
    /// A file where a directory was expected.
    #[error("not a directory")]
    NotDirectory,
    /// The remote does not do this.
    #[error("not supported by the remote")]
    Unsupported,
    /// The connection is gone; [`Remote::reconnect`] is tried before the next call.
    #[error("the connection to the remote is lost")]
    Disconnected,
    /// The call did not answer within the mount's timeout.
    #[error("the remote did not answer in time")]
    Timeout,
    /// Any other failure, with the remote's words.
    #[error("{0}")]
    Failure(String),
}

impl RemoteError {
    /// The errno a FUSE reply carries for this error.
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Self::NotFound => libc::ENOENT,
            Self::PermissionDenied => libc::EACCES,
            Self::Exists => libc::EEXIST,
            Self::NotEmpty => libc::ENOTEMPTY,
            Self::IsDirectory => libc::EISDIR,
            Self::NotDirectory => libc::ENOTDIR,
            Self::Unsupported => libc::EOPNOTSUPP,
            Self::Disconnected | Self::Timeout | Self::Failure(_) => libc::EIO,
        }
    }

    /// The error for a local `std::io::Error` (used by [`super::local::LocalRemote`]).
    #[must_use]
    pub fn from_io(error: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::NotFound => Self::NotFound,
            ErrorKind::PermissionDenied => Self::PermissionDenied,
            ErrorKind::AlreadyExists => Self::Exists,
            ErrorKind::DirectoryNotEmpty => Self::NotEmpty,
            ErrorKind::IsADirectory => Self::IsDirectory,
            ErrorKind::NotADirectory => Self::NotDirectory,
            ErrorKind::Unsupported => Self::Unsupported,
            _ => Self::Failure(error.to_string()),
        }
    }
}

/// Where a background read delivers: the buffer and how many bytes from its start were read.
pub type ReadDone = Box<dyn FnOnce(Result<(Vec<u8>, usize), RemoteError>) + Send>;

/// One read to start in the background ([`Remote::read_start`]): `buffer.len()` bytes at
/// `offset`, into `buffer`.
pub struct BackgroundRead {
    pub offset: u64,
    pub buffer: Vec<u8>,
    pub done: ReadDone,
}

impl std::fmt::Debug for BackgroundRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundRead")
            .field("offset", &self.offset)
            .field("len", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

/// Where the files of a mount live. Every method may be called from many threads at once;
/// [`Remote::read`] is called with many requests in flight on the same handle, and the
/// implementation should pipeline them (an SFTP session sends them all before waiting).
///
/// Paths are absolute and `/`-separated, without `.` or `..` components; names are UTF-8.
/// Calls may block; the mount runs them on its own worker threads and gives up waiting after
/// its timeout (the call itself then finishes or fails whenever the remote lets it). The one
/// exception is [`Remote::read_start`], which the mount calls from the request's own thread
/// and which must return at once.
///
/// Reconnecting is the implementation's job: after a call returned
/// [`RemoteError::Disconnected`], the mount calls [`Remote::reconnect`] before its next call,
/// and returns EIO for that call if reconnecting fails.
pub trait Remote: Send + Sync + 'static {
    /// An open file.
    type Handle: Send + Sync + 'static;

    /// Attributes of `path`, following a final symbolic link.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn stat(&self, path: &str) -> Result<Attrs, RemoteError>;

    /// Attributes of `path` itself (a symbolic link is reported as one).
    ///
    /// # Errors
    /// [`RemoteError`].
    fn lstat(&self, path: &str) -> Result<Attrs, RemoteError>;

    /// The entries of a directory (names without `.` and `..`) with their `lstat` attributes.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn read_dir(&self, path: &str) -> Result<Vec<(String, Attrs)>, RemoteError>;

    /// The target of a symbolic link, as stored.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn read_link(&self, path: &str) -> Result<String, RemoteError>;

    /// Open a file.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn open(&self, path: &str, flags: OpenFlags) -> Result<Self::Handle, RemoteError>;

    /// Open a file and read its attributes, which the mount needs at every open (the size
    /// bounds read-ahead, and the page cache is kept only while size and mtime are unchanged).
    /// The default opens, then stats; a remote that can ask for both at once should: a
    /// workload of many small files pays this round trip for each one.
    ///
    /// # Errors
    /// [`RemoteError`]; the file is closed again when its attributes cannot be read.
    fn open_stat(
        &self,
        path: &str,
        flags: OpenFlags,
    ) -> Result<(Self::Handle, Attrs), RemoteError> {
        let handle = self.open(path, flags)?;
        match self.stat(path) {
            Ok(attrs) => Ok((handle, attrs)),
            Err(error) => {
                let _ = self.close(handle);
                Err(error)
            }
        }
    }

    /// [`Remote::open_stat`] that answers by `deadline` by itself: nothing in it waits without
    /// a bound of its own that ends by then. The mount then calls it on the FUSE thread that
    /// asked, instead of on a worker it waits for: two thread hand-offs fewer for every file
    /// opened, which a tree of small files feels. `None` (the default): the remote cannot
    /// promise that, and the mount calls [`Remote::open_stat`] on a worker.
    fn open_stat_by(
        &self,
        path: &str,
        flags: OpenFlags,
        deadline: Instant,
    ) -> Option<Result<(Self::Handle, Attrs), RemoteError>> {
        let _ = (path, flags, deadline);
        None
    }

    /// Up to `len` bytes at `offset`; fewer only at the end of the file (an empty result means
    /// the offset is at or past the end).
    ///
    /// # Errors
    /// [`RemoteError`].
    fn read(&self, handle: &Self::Handle, offset: u64, len: u32) -> Result<Vec<u8>, RemoteError>;

    /// Start the reads and return at once; each read's `done` runs exactly once with its
    /// buffer and how many bytes from its start were read (fewer only at the end of the file),
    /// on a thread of the remote's own, so it must be quick. Starting them together lets the
    /// remote send them together. A remote that cannot read in the background (the default)
    /// gives them back, and the caller reads with [`Remote::read`] on threads of its own.
    ///
    /// # Errors
    /// The reads, when the remote does not read in the background.
    fn read_start(
        &self,
        handle: &Self::Handle,
        reads: Vec<BackgroundRead>,
    ) -> Result<(), Vec<BackgroundRead>> {
        let _ = handle;
        Err(reads)
    }

    /// Write all of `data` at `offset`.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn write(&self, handle: &Self::Handle, offset: u64, data: &[u8]) -> Result<(), RemoteError>;

    /// Make written data durable on the remote (SFTP `fsync@openssh.com`; a no-op where the
    /// remote cannot).
    ///
    /// # Errors
    /// [`RemoteError`].
    fn fsync(&self, handle: &Self::Handle) -> Result<(), RemoteError>;

    /// Close a handle.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn close(&self, handle: Self::Handle) -> Result<(), RemoteError>;

    /// Create a directory with these permission bits.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn mkdir(&self, path: &str, perm: u16) -> Result<(), RemoteError>;

    /// Remove an empty directory.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn rmdir(&self, path: &str) -> Result<(), RemoteError>;

    /// Remove a file or symbolic link.
    ///
    /// # Errors
    /// [`RemoteError`].
    fn remove(&self, path: &str) -> Result<(), RemoteError>;

    /// Rename `from` to `to`, replacing `to` if it exists (SFTP `posix-rename@openssh.com`).
    ///
    /// # Errors
    /// [`RemoteError`].
    fn rename(&self, from: &str, to: &str) -> Result<(), RemoteError>;

    /// Set the size of a file (SFTP `setstat` with a size).
    ///
    /// # Errors
    /// [`RemoteError`].
    fn truncate(&self, path: &str, size: u64) -> Result<(), RemoteError>;

    /// Set the permission bits of an entry (SFTP `setstat` with permissions).
    ///
    /// # Errors
    /// [`RemoteError`].
    fn chmod(&self, path: &str, perm: u16) -> Result<(), RemoteError>;

    /// Make the connection usable again after [`RemoteError::Disconnected`]. The default
    /// cannot: it reports the connection still lost.
    ///
    /// # Errors
    /// When the remote still cannot be reached.
    fn reconnect(&self) -> Result<(), RemoteError> {
        Err(RemoteError::Disconnected)
    }
}

/// Call the remote, reconnecting first when a previous call found the connection lost, and
/// remember a lost connection for the next call.
pub(super) fn guarded<R: Remote, T>(
    remote: &R,
    needs_reconnect: &AtomicBool,
    call: impl FnOnce(&R) -> Result<T, RemoteError>,
) -> Result<T, RemoteError> {
    if needs_reconnect.load(Ordering::Acquire) {
        remote.reconnect()?;
        needs_reconnect.store(false, Ordering::Release);
    }
    let result = call(remote);
    if matches!(result, Err(RemoteError::Disconnected)) {
        needs_reconnect.store(true, Ordering::Release);
    }
    result
}
