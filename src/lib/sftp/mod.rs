//! An SFTP version 3 client over any byte stream, built for many requests in flight.
//!
//! `red` speaks SFTP itself over the pipes of an `ssh -s … sftp` child (see [`crate::ssh`]):
//! the system client gives fast AES-GCM, agent and known_hosts for free, and our own protocol
//! code lets reads be pipelined, which is where the speed of a transfer or of the SSHFS mount
//! comes from (one request at a time is what makes libfuse sshfs slow: docs/sshfs.md, "Figures").
//!
//! A [`Session`] owns two threads: a writer that puts queued packets on the stream, and a
//! reader that matches each reply to its request id and wakes the caller waiting on it. Every
//! method takes `&self`, so one session is shared by any number of threads (`Session` is
//! `Send + Sync`); each call waits only for its own reply, with a timeout. The `*_start`
//! methods send a request and return a [`Pending`] reply, which is how one thread keeps many
//! reads or writes in flight ([`transfer`] does this for whole files and trees).

mod channel;
mod codec;
mod range;
pub mod transfer;

pub use range::{RangeDone, RangeRead};

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use channel::Pending;
use channel::{Outlet, Shared, lock, send, spawn_reader, spawn_writer};
pub use codec::{Attrs, OpenFlags};
use codec::{Reader, kind, status};

/// What went wrong with an SFTP request or the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("{}", status_text(*code, path, message))]
    Status {
        /// The SFTP status code.
        code: u32,
        /// The path (or operation) the request was about.
        path: String,
        /// The server's own words, if any.
        message: String,
    },
    /// No reply within the operation timeout.
    #[error("no reply to {operation} within {} s", seconds.as_secs())]
    Timeout {
        /// What was asked.
        operation: String,
        /// The timeout.
        seconds: Duration,
    },
    /// The connection ended (the reason, when known).
    #[error("the sftp connection ended{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed {
        /// Why, when known.
        reason: Option<String>,
    },
    /// The server sent something that is not SFTP version 3.
    #[error("sftp protocol error: {0}")]
    Protocol(String),
    /// The server does not offer an extension this call needs.
    #[error("the sftp server does not offer `{0}`")]
    Unsupported(String),
    /// A local file operation failed.
    #[error("{0}")]
    Local(String),
    /// The transfer was cancelled.
    #[error("cancelled")]
    Cancelled,
}

fn status_text(code: u32, path: &str, message: &str) -> String {
    let what = match code {
        status::EOF => "end of file",
        status::NO_SUCH_FILE => "no such file or directory",
        status::PERMISSION_DENIED => "permission denied",
        status::FAILURE => "the server reported a failure",
        status::BAD_MESSAGE => "the server did not understand the request",
        status::NO_CONNECTION | status::CONNECTION_LOST => "the server lost its connection",
        status::OP_UNSUPPORTED => "the server does not support this operation",
        _ => "the server reported an unknown error",
    };
    let detail = if message.is_empty() || message.eq_ignore_ascii_case(what) {
        String::new()
    } else {
        format!(" ({message})")
    };
    format!("`{path}`: {what}{detail}")
}

impl Error {
    /// Whether this is "no such file" from the server.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Status { code, .. } if *code == status::NO_SUCH_FILE)
    }

    /// Whether the connection itself failed (a retry on a new connection may help).
    #[must_use]
    pub fn is_connection(&self) -> bool {
        matches!(self, Self::Closed { .. } | Self::Timeout { .. })
            || matches!(self, Self::Status { code, .. }
                if *code == status::NO_CONNECTION || *code == status::CONNECTION_LOST)
    }
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// An open file or directory on the server. Cloning it does not reopen anything; close it once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(Vec<u8>);

/// The server's limits (`limits@openssh.com`), or safe defaults when it does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest read the server answers in full.
    pub max_read: u32,
    /// The largest write the server accepts.
    pub max_write: u32,
}

impl Default for Limits {
    fn default() -> Self {
        // What every SFTP server accepts (draft-02 asks servers to handle 32 KiB).
        Self {
            max_read: 32 * 1024,
            max_write: 32 * 1024,
        }
    }
}

/// The largest read or write `red` asks for, whatever the server allows.
pub const CHUNK: u32 = 256 * 1024;

/// Where a session's stream came from, asked for a reason when the stream ends (for `ssh`,
/// the last lines of its standard error).
pub trait EndReason: Send + Sync {
    /// Why the stream ended, if known.
    fn reason(&self) -> Option<String>;
}

impl<F: Fn() -> Option<String> + Send + Sync> EndReason for F {
    fn reason(&self) -> Option<String> {
        self()
    }
}

/// An SFTP session. `Send + Sync`: share it (in an `Arc`) between threads.
pub struct Session {
    shared: Arc<Shared>,
    timeout: Duration,
    extensions: Vec<(String, String)>,
    limits: Limits,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("timeout", &self.timeout)
            .field("extensions", &self.extensions)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// How long [`Session::start`] waits for the server's version, and each request for its reply.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For the `VERSION` reply (covers ssh's connection and authentication).
    pub start: Duration,
    /// For each request.
    pub operation: Duration,
}

impl Session {
    /// Start a session over `input` (the server's output) and `output` (its input): send
    /// `INIT`, wait for `VERSION`, and ask the server's limits when it offers them. `end`
    /// explains a stream that ends (for example ssh's error output). `output` is made
    /// non-blocking, so it must not share its open file description with `input` (two pipes,
    /// as `ssh`'s standard input and output are; not one socket and its duplicate).
    ///
    /// # Errors
    /// When the stream ends or the server answers something other than SFTP version 3.
    pub fn start<R, W>(
        input: R,
        output: W,
        timeouts: Timeouts,
        end: Arc<dyn EndReason>,
    ) -> Result<Self>
    where
        R: Read + Send + 'static,
        W: Into<OwnedFd>,
    {
        let (outlet, stream) = Outlet::new(output.into())?;
        let shared = Arc::new(Shared {
            outlet,
            pending: Mutex::new(HashMap::new()),
            closed: Mutex::new(None),
            next_id: AtomicU32::new(1),
        });
        let (version_sender, version) = mpsc::sync_channel(1);
        spawn_writer(stream, Arc::clone(&shared), Arc::clone(&end))?;
        spawn_reader(input, Arc::clone(&shared), version_sender, end)?;
        let mut init = codec::start(kind::INIT, None);
        codec::put_u32(&mut init, 3);
        send(&shared, codec::finish(init))?;
        let body = match version.recv_timeout(timeouts.start) {
            Ok(body) => body?,
            Err(RecvTimeoutError::Timeout) => {
                shared.close(Some("no sftp version from the server".into()));
                return Err(Error::Timeout {
                    operation: "the sftp start".into(),
                    seconds: timeouts.start,
                });
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(shared
                    .closed_error()
                    .unwrap_or(Error::Closed { reason: None }));
            }
        };
        let extensions = parse_version(&body)?;
        let mut session = Self {
            shared,
            timeout: timeouts.operation,
            extensions,
            limits: Limits::default(),
        };
        if session.has_extension("limits@openssh.com") {
            session.limits = session.server_limits()?;
        }
        Ok(session)
    }

    /// The extensions the server announced, as `(name, data)`.
    #[must_use]
    pub fn extensions(&self) -> &[(String, String)] {
        &self.extensions
    }

    /// Whether the server announced `name`.
    #[must_use]
    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|(n, _)| n == name)
    }

    /// The read and write sizes the server answers in full.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The size of one read request: the server's limit, at most [`CHUNK`].
    #[must_use]
    pub fn read_chunk(&self) -> u32 {
        self.limits.max_read.clamp(1, CHUNK)
    }

    /// The size of one write request: the server's limit, at most [`CHUNK`].
    #[must_use]
    pub fn write_chunk(&self) -> u32 {
        self.limits.max_write.clamp(1, CHUNK)
    }

    /// Whether the session has ended (the stream closed or failed).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.closed).is_some()
    }

    fn request(
        &self,
        kind: u8,
        operation: &'static str,
        path: &str,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Pending> {
        if let Some(error) = self.shared.closed_error() {
            return Err(error);
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (waiter, receiver) = mpsc::sync_channel(1);
        lock(&self.shared.pending).insert(
            id,
            channel::Entry {
                answer: channel::Answer::Wait(waiter),
                sink: None,
            },
        );
        let pending = Pending {
            id,
            receiver,
            shared: Arc::clone(&self.shared),
            operation,
            path: path.to_owned(),
            timeout: self.timeout,
        };
        let mut packet = codec::start(kind, Some(id));
        body(&mut packet);
        send(&self.shared, codec::finish(packet))?;
        Ok(pending)
    }

    fn path_request(&self, kind: u8, operation: &'static str, path: &str) -> Result<Pending> {
        self.request(kind, operation, path, |p| {
            codec::put_bytes(p, path.as_bytes());
        })
    }

    /// The attributes a stat sent by [`Self::stat_start`] (or any request answered with
    /// attributes) answers.
    ///
    /// # Errors
    /// When the server refuses, or no answer comes in time.
    pub fn attributes(pending: Pending) -> Result<Attrs> {
        let body = pending.wait_kind(kind::ATTRS)?;
        Attrs::decode(&mut Reader::new(&body))
    }

    /// The canonical absolute form of `path` (`.` gives the login directory).
    ///
    /// # Errors
    /// When the server refuses.
    pub fn realpath(&self, path: &str) -> Result<String> {
        let body = self
            .path_request(kind::REALPATH, "realpath", path)?
            .wait_kind(kind::NAME)?;
        let mut reader = Reader::new(&body);
        if reader.u32()? == 0 {
            return Err(Error::Protocol("an empty realpath reply".into()));
        }
        reader.string()
    }

    /// The target of the symbolic link `path`.
    ///
    /// # Errors
    /// When `path` is not a link or cannot be read.
    pub fn readlink(&self, path: &str) -> Result<String> {
        let body = self
            .path_request(kind::READLINK, "readlink", path)?
            .wait_kind(kind::NAME)?;
        let mut reader = Reader::new(&body);
        if reader.u32()? == 0 {
            return Err(Error::Protocol("an empty readlink reply".into()));
        }
        reader.string()
    }

    /// Attributes of `path`, following symbolic links.
    ///
    /// # Errors
    /// When the path does not exist or cannot be read.
    pub fn stat(&self, path: &str) -> Result<Attrs> {
        Self::attributes(self.stat_start(path)?)
    }

    /// Send a stat and return without waiting; [`Self::attributes`] waits for the answer.
    ///
    /// # Errors
    /// When the session is closed.
    pub fn stat_start(&self, path: &str) -> Result<Pending> {
        self.path_request(kind::STAT, "stat", path)
    }

    /// Attributes of `path` itself (a link is not followed).
    ///
    /// # Errors
    /// When the path does not exist or cannot be read.
    pub fn lstat(&self, path: &str) -> Result<Attrs> {
        Self::attributes(self.path_request(kind::LSTAT, "lstat", path)?)
    }

    /// Attributes of an open file.
    ///
    /// # Errors
    /// When the server refuses.
    pub fn fstat(&self, handle: &Handle) -> Result<Attrs> {
        Self::attributes(self.request(kind::FSTAT, "fstat", "handle", |p| {
            codec::put_bytes(p, &handle.0);
        })?)
    }

    /// Open a file.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(&self, path: &str, flags: OpenFlags) -> Result<Handle> {
        self.open_with(path, flags, &Attrs::default())
    }

    /// Open a file, giving the attributes of a file it creates (the mode, typically).
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open_with(&self, path: &str, flags: OpenFlags, attrs: &Attrs) -> Result<Handle> {
        Self::opened(self.open_start(path, flags, attrs)?)
    }

    /// Send an open and return without waiting; [`Self::opened`] waits for the handle. Opening
    /// one file on several sessions this way costs one round trip, not one per session.
    ///
    /// # Errors
    /// When the session is closed.
    pub fn open_start(&self, path: &str, flags: OpenFlags, attrs: &Attrs) -> Result<Pending> {
        self.request(kind::OPEN, "open", path, |p| {
            codec::put_bytes(p, path.as_bytes());
            codec::put_u32(p, flags.0);
            attrs.encode(p);
        })
    }

    /// The handle an open sent by [`Self::open_start`] answers.
    ///
    /// # Errors
    /// When the file cannot be opened, or no answer comes in time.
    pub fn opened(pending: Pending) -> Result<Handle> {
        let body = pending.wait_kind(kind::HANDLE)?;
        Ok(Handle(Reader::new(&body).bytes()?.to_vec()))
    }

    /// Close a file or directory handle.
    ///
    /// # Errors
    /// When the server refuses (for a written file: the data may not be stored).
    pub fn close(&self, handle: &Handle) -> Result<()> {
        self.close_start(handle)?.wait_ok()
    }

    /// Send a close and return without waiting (`wait_ok` on the answer waits).
    ///
    /// # Errors
    /// When the session is closed.
    pub fn close_start(&self, handle: &Handle) -> Result<Pending> {
        self.request(kind::CLOSE, "close", "handle", |p| {
            codec::put_bytes(p, &handle.0);
        })
    }

    /// Send a read of `len` bytes at `offset` and return without waiting.
    ///
    /// # Errors
    /// When the session is closed.
    pub fn read_start(&self, handle: &Handle, offset: u64, len: u32) -> Result<Pending> {
        self.request(kind::READ, "read", "handle", |p| {
            codec::put_bytes(p, &handle.0);
            codec::put_u64(p, offset);
            codec::put_u32(p, len);
        })
    }

    /// Read up to `len` bytes at `offset`: empty at the end of the file, and possibly shorter
    /// than asked (above [`Self::read_chunk`] for example). Safe to call from many threads at
    /// once; the requests are all in flight together.
    ///
    /// # Errors
    /// When the server refuses, times out or the session is closed.
    pub fn read(&self, handle: &Handle, offset: u64, len: u32) -> Result<Vec<u8>> {
        self.read_start(handle, offset, len)?.wait_data()
    }

    /// Read `len` bytes at `offset` as parallel requests of [`Self::read_chunk`] bytes, stopping
    /// at the end of the file (the result is shorter then).
    ///
    /// # Errors
    /// When any request fails.
    pub fn read_exact_at(&self, handle: &Handle, offset: u64, len: usize) -> Result<Vec<u8>> {
        range::read_exact(self, handle, offset, len, self.timeout)
    }

    /// Start reading each range (`buffer.len()` bytes at `offset`, into `buffer`) as parallel
    /// requests of [`Self::read_chunk`] bytes, the first ones of all ranges in one write, and
    /// return at once. Each range's `done` runs exactly once, usually on the session's reader
    /// thread (so it must be quick and must not wait for the session), with the buffer and how
    /// many bytes from its start were read: fewer only at the end of the file. Nothing times
    /// out here; a closed session answers with its error.
    pub fn read_ranges_start(&self, handle: &Handle, ranges: Vec<RangeRead>) {
        range::start(self, handle, ranges);
    }

    /// Send a write of `data` at `offset` and return without waiting.
    ///
    /// # Errors
    /// When the session is closed.
    pub fn write_start(&self, handle: &Handle, offset: u64, data: &[u8]) -> Result<Pending> {
        self.request(kind::WRITE, "write", "handle", |p| {
            p.reserve(data.len() + 16);
            codec::put_bytes(p, &handle.0);
            codec::put_u64(p, offset);
            codec::put_bytes(p, data);
        })
    }

    /// Write `data` at `offset` (split into requests of [`Self::write_chunk`] bytes, all in
    /// flight together).
    ///
    /// # Errors
    /// When the server refuses, times out or the session is closed.
    pub fn write(&self, handle: &Handle, offset: u64, data: &[u8]) -> Result<()> {
        let chunk = self.write_chunk() as usize;
        let mut pending = Vec::new();
        let mut at = offset;
        for piece in data.chunks(chunk) {
            pending.push(self.write_start(handle, at, piece)?);
            at += piece.len() as u64;
        }
        pending.into_iter().try_for_each(Pending::wait_ok)
    }

    /// Open a directory for [`Self::read_dir`].
    fn opendir(&self, path: &str) -> Result<Handle> {
        let body = self
            .path_request(kind::OPENDIR, "opendir", path)?
            .wait_kind(kind::HANDLE)?;
        Ok(Handle(Reader::new(&body).bytes()?.to_vec()))
    }

    /// The entries of a directory (without `.` and `..`), with their attributes as `lstat`
    /// gives them.
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn read_dir(&self, path: &str) -> Result<Vec<(String, Attrs)>> {
        let handle = self.opendir(path)?;
        let result = self.read_dir_entries(&handle, path);
        let closed = self.close(&handle);
        let entries = result?;
        closed?;
        Ok(entries)
    }

    fn read_dir_entries(&self, handle: &Handle, path: &str) -> Result<Vec<(String, Attrs)>> {
        let mut entries = Vec::new();
        loop {
            let pending = self.request(kind::READDIR, "readdir", path, |p| {
                codec::put_bytes(p, &handle.0);
            })?;
            let body = match pending.wait_kind(kind::NAME) {
                Ok(body) => body,
                Err(Error::Status { code, .. }) if code == status::EOF => return Ok(entries),
                Err(error) => return Err(error),
            };
            let mut reader = Reader::new(&body);
            let count = reader.u32()?;
            for _ in 0..count {
                let name = reader.string()?;
                let _long_name = reader.bytes()?;
                let attrs = Attrs::decode(&mut reader)?;
                if name != "." && name != ".." {
                    entries.push((name, attrs));
                }
            }
        }
    }

    /// Create a directory (`attrs` usually only carries the mode, or nothing).
    ///
    /// # Errors
    /// When it exists or cannot be created.
    pub fn mkdir(&self, path: &str, attrs: &Attrs) -> Result<()> {
        self.request(kind::MKDIR, "mkdir", path, |p| {
            codec::put_bytes(p, path.as_bytes());
            attrs.encode(p);
        })?
        .wait_ok()
    }

    /// Remove an empty directory.
    ///
    /// # Errors
    /// When it is missing, not empty, or cannot be removed.
    pub fn rmdir(&self, path: &str) -> Result<()> {
        self.path_request(kind::RMDIR, "rmdir", path)?.wait_ok()
    }

    /// Remove a file.
    ///
    /// # Errors
    /// When it is missing or cannot be removed.
    pub fn remove(&self, path: &str) -> Result<()> {
        self.path_request(kind::REMOVE, "remove", path)?.wait_ok()
    }

    /// Rename `from` to `to`, replacing `to` when the server offers `posix-rename@openssh.com`
    /// (plain SFTP v3 renames fail when `to` exists).
    ///
    /// # Errors
    /// When the server refuses.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        if self.has_extension("posix-rename@openssh.com") {
            return self
                .request(kind::EXTENDED, "rename", from, |p| {
                    codec::put_bytes(p, b"posix-rename@openssh.com");
                    codec::put_bytes(p, from.as_bytes());
                    codec::put_bytes(p, to.as_bytes());
                })?
                .wait_ok();
        }
        self.request(kind::RENAME, "rename", from, |p| {
            codec::put_bytes(p, from.as_bytes());
            codec::put_bytes(p, to.as_bytes());
        })?
        .wait_ok()
    }

    /// Change the attributes of a path (size truncates, permissions, times).
    ///
    /// # Errors
    /// When the server refuses.
    pub fn setstat(&self, path: &str, attrs: &Attrs) -> Result<()> {
        self.request(kind::SETSTAT, "setstat", path, |p| {
            codec::put_bytes(p, path.as_bytes());
            attrs.encode(p);
        })?
        .wait_ok()
    }

    /// Change the attributes of an open file.
    ///
    /// # Errors
    /// When the server refuses.
    pub fn fsetstat(&self, handle: &Handle, attrs: &Attrs) -> Result<()> {
        self.request(kind::FSETSTAT, "fsetstat", "handle", |p| {
            codec::put_bytes(p, &handle.0);
            attrs.encode(p);
        })?
        .wait_ok()
    }

    /// Flush an open file to the server's disk (`fsync@openssh.com`).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the server does not offer it, or the server's refusal.
    pub fn fsync(&self, handle: &Handle) -> Result<()> {
        const NAME: &str = "fsync@openssh.com";
        if !self.has_extension(NAME) {
            return Err(Error::Unsupported(NAME.into()));
        }
        self.request(kind::EXTENDED, "fsync", "handle", |p| {
            codec::put_bytes(p, NAME.as_bytes());
            codec::put_bytes(p, &handle.0);
        })?
        .wait_ok()
    }

    fn server_limits(&self) -> Result<Limits> {
        let body = self
            .request(kind::EXTENDED, "limits", "limits@openssh.com", |p| {
                codec::put_bytes(p, b"limits@openssh.com");
            })?
            .wait_kind(kind::EXTENDED_REPLY)?;
        let mut reader = Reader::new(&body);
        let _max_packet = reader.u64()?;
        let max_read = reader.u64()?;
        let max_write = reader.u64()?;
        let fallback = Limits::default();
        let pick = |value: u64, default: u32| {
            if value == 0 {
                default
            } else {
                u32::try_from(value).unwrap_or(u32::MAX)
            }
        };
        Ok(Limits {
            max_read: pick(max_read, fallback.max_read),
            max_write: pick(max_write, fallback.max_write),
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The writer writes what is left and ends, which closes the stream: the server then
        // exits.
        self.shared.outlet.close();
    }
}

fn parse_version(body: &[u8]) -> Result<Vec<(String, String)>> {
    let mut reader = Reader::new(body);
    let version = reader.u32()?;
    if version != 3 {
        return Err(Error::Protocol(format!(
            "the server speaks sftp version {version}, red speaks 3"
        )));
    }
    let mut extensions = Vec::new();
    while !reader.is_empty() {
        extensions.push((reader.string()?, reader.string()?));
    }
    Ok(extensions)
}
