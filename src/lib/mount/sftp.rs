//! The SFTP session of the ssh connector as a mount's [`Remote`]: what makes `red mount ssh://…`
//! and `mount: true` inputs red's own SSHFS.
//!
//! Calls go to SFTP sessions of `ssh` children (`crate::ssh::Connection`), each keeping many
//! requests in flight. A mount may hold several connections ("lanes", `--connections`): one SSH
//! connection is one chain of single-threaded processes (`ssh`, `sshd`, `sftp-server`) and one
//! SSH channel window, and measured over loopback two connections carried 1.7 times what one did
//! (docs/sshfs.md). A file of 8 MiB or more opened read-only is opened on every lane
//! and its reads are dealt out over them in turn; a smaller one stays on the first lane, and a
//! writable file lives on one lane, so its writes stay in order. Every other call (stat,
//! listings, changes) goes to the first lane.
//!
//! A handle keeps the session it was opened on: after a lost connection is replaced
//! ([`Remote::reconnect`]), reads of a file opened before fail with
//! [`RemoteError::Disconnected`] (EIO) on that lane instead of reaching a handle number the new
//! session gave another file; its other lanes keep serving it.
//!
//! Files are shown as owned by the mounting user (the remote's uids mean nothing here), so a
//! container running as that user can read what the remote login can read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::remote::{Attrs, BackgroundRead, Kind, OpenFlags, Remote, RemoteError};
use crate::sftp;
use crate::ssh::{Connection, Target};

/// SFTP status codes of protocol version 3 (draft-ietf-secsh-filexfer-02, section 7).
const NO_SUCH_FILE: u32 = 2;
const PERMISSION_DENIED: u32 = 3;
const NO_CONNECTION: u32 = 6;
const CONNECTION_LOST: u32 = 7;
const OP_UNSUPPORTED: u32 = 8;

/// The smallest file read over every lane: below it, the extra opens and closes (one round
/// trip each) cost more than a second chain gains, and a tree of small files would pay them
/// for every file.
const LANES_FROM: u64 = 8 * 1024 * 1024;

/// A remote directory tree reached over SFTP, on one or more connections.
pub struct SftpRemote {
    target: Target,
    /// The connection that carries every call that is not a read or write of a file.
    first: RwLock<Arc<Connection>>,
    /// The other lanes.
    more: Vec<RwLock<Arc<Connection>>>,
    /// The lane the next writable file is opened on.
    turn: AtomicUsize,
}

impl std::fmt::Debug for SftpRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpRemote")
            .field("target", &self.target.label())
            .field("lanes", &self.lanes())
            .finish_non_exhaustive()
    }
}

/// A file open on the mount's lanes: on each lane's session the handle it gave.
pub struct SftpHandle {
    /// Where writes and reads that wait go.
    first: (Arc<sftp::Session>, sftp::Handle),
    /// The other lanes a read-only file is open on.
    others: Vec<(Arc<sftp::Session>, sftp::Handle)>,
    /// Which lane the next background read goes to.
    next: AtomicUsize,
}

impl std::fmt::Debug for SftpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpHandle")
            .field("lanes", &(1 + self.others.len()))
            .finish_non_exhaustive()
    }
}

impl SftpHandle {
    fn on(session: Arc<sftp::Session>, file: sftp::Handle) -> Self {
        Self {
            first: (session, file),
            others: Vec::new(),
            next: AtomicUsize::new(0),
        }
    }

    /// The lanes whose session still works (the first when none does: it answers with its
    /// session's error).
    fn live(&self) -> Vec<&(Arc<sftp::Session>, sftp::Handle)> {
        let live: Vec<_> = std::iter::once(&self.first)
            .chain(&self.others)
            .filter(|(session, _)| !session.is_closed())
            .collect();
        if live.is_empty() {
            vec![&self.first]
        } else {
            live
        }
    }
}

impl SftpRemote {
    /// Serve the mount over `connection`, reconnecting to `target` when it is lost.
    #[must_use]
    pub fn new(target: Target, connection: Arc<Connection>) -> Self {
        Self {
            target,
            first: RwLock::new(connection),
            more: Vec::new(),
            turn: AtomicUsize::new(0),
        }
    }

    /// Open more connections to the target, all at once, until the mount has `total`; returns
    /// how many it has. A connection that cannot be made is left out with a warning in the
    /// log: the first one is enough to serve the mount.
    pub fn add_lanes(&mut self, total: usize) -> usize {
        let wanted = total.saturating_sub(self.lanes());
        let target = &self.target;
        let opened: Vec<_> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..wanted)
                .map(|_| scope.spawn(|| Connection::open(target)))
                .collect();
            starts.into_iter().map(|start| start.join()).collect()
        });
        for result in opened {
            match result {
                Ok(Ok(connection)) => self.more.push(RwLock::new(Arc::new(connection))),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "one more connection for the mount failed; it uses fewer");
                }
                Err(_) => tracing::warn!("opening one more connection for the mount panicked"),
            }
        }
        self.lanes()
    }

    /// How many connections the mount holds.
    #[must_use]
    pub fn lanes(&self) -> usize {
        1 + self.more.len()
    }

    /// Every lane, the first one first.
    fn all_lanes(&self) -> impl Iterator<Item = &RwLock<Arc<Connection>>> {
        std::iter::once(&self.first).chain(&self.more)
    }

    /// The session of lane `index` (the first lane's past the last).
    fn lane(&self, index: usize) -> Arc<sftp::Session> {
        let lane = index
            .checked_sub(1)
            .and_then(|i| self.more.get(i))
            .unwrap_or(&self.first);
        let connection = lane.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(connection.session())
    }

    fn session(&self) -> Arc<sftp::Session> {
        self.lane(0)
    }

    /// Where a file opened with `flags` lives: a file only read on the first lane (more are
    /// added for a large one), a file written on the next lane in turn.
    fn lane_for(&self, flags: OpenFlags) -> Arc<sftp::Session> {
        if flags == OpenFlags::read_only() {
            self.lane(0)
        } else {
            self.lane(self.turn.fetch_add(1, Ordering::Relaxed) % self.lanes())
        }
    }

    /// Open a file and read its attributes, the open and the stat sent together: one round
    /// trip, not two, for every file opened (the server answers them in order, so the
    /// attributes are the opened file's). A large file only read is opened on the other lanes
    /// too. With a `deadline`, no wait lasts past it.
    fn open_and_stat(
        &self,
        path: &str,
        flags: OpenFlags,
        deadline: Option<Instant>,
    ) -> Result<(SftpHandle, Attrs), RemoteError> {
        let session = self.lane_for(flags);
        let open = session.open_start(path, open_flags(flags), &sftp::Attrs::default());
        let stat = session.stat_start(path);
        let file = open
            .map(|pending| by(pending, deadline))
            .and_then(sftp::Session::opened)
            .map_err(remote_error);
        let remote = stat
            .map(|pending| by(pending, deadline))
            .and_then(sftp::Session::attributes)
            .map_err(remote_error);
        let (file, remote) = match (file, remote) {
            (Ok(file), Ok(remote)) => (file, remote),
            (Ok(file), Err(error)) => {
                // Not waited for: the answer says nothing the caller needs.
                let _ = session.close_start(&file);
                return Err(error);
            }
            (Err(error), _) => return Err(error),
        };
        let mut handle = SftpHandle::on(session, file);
        let shown = attrs(&remote);
        if flags == OpenFlags::read_only() && shown.size >= LANES_FROM {
            self.open_on_other_lanes(&mut handle, path, flags, deadline);
        }
        Ok((handle, shown))
    }

    /// Open the file of `handle` on every other lane too, the opens sent together (one round
    /// trip). A lane that cannot open it (in time) is left out: the file is read over the
    /// others.
    fn open_on_other_lanes(
        &self,
        handle: &mut SftpHandle,
        path: &str,
        flags: OpenFlags,
        deadline: Option<Instant>,
    ) {
        let sessions: Vec<_> = (1..self.lanes()).map(|index| self.lane(index)).collect();
        let sent: Vec<_> = sessions
            .iter()
            .map(|session| session.open_start(path, open_flags(flags), &sftp::Attrs::default()))
            .collect();
        for (session, sent) in sessions.into_iter().zip(sent) {
            if let Ok(file) = sent
                .map(|pending| by(pending, deadline))
                .and_then(sftp::Session::opened)
            {
                handle.others.push((session, file));
            }
        }
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

/// A request's answer waited for no later than `deadline`, if there is one.
fn by(pending: sftp::Pending, deadline: Option<Instant>) -> sftp::Pending {
    match deadline {
        Some(deadline) => pending.until(deadline),
        None => pending,
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
    type Handle = SftpHandle;

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
        let session = self.lane_for(flags);
        let file = session
            .open(path, open_flags(flags))
            .map_err(remote_error)?;
        Ok(SftpHandle::on(session, file))
    }

    fn open_stat(
        &self,
        path: &str,
        flags: OpenFlags,
    ) -> Result<(Self::Handle, Attrs), RemoteError> {
        self.open_and_stat(path, flags, None)
    }

    fn open_stat_by(
        &self,
        path: &str,
        flags: OpenFlags,
        deadline: Instant,
    ) -> Option<Result<(Self::Handle, Attrs), RemoteError>> {
        // Sending never blocks (a request goes to a non-blocking pipe, or is left to the
        // session's writer thread) and every wait below ends by the deadline: safe on the FUSE
        // thread.
        Some(self.open_and_stat(path, flags, Some(deadline)))
    }

    fn read(&self, handle: &Self::Handle, offset: u64, len: u32) -> Result<Vec<u8>, RemoteError> {
        // A server answers at most its own read limit per request (OpenSSH: 256 KiB) and may
        // answer less; the mount needs the whole range, so it is read as pipelined chunks that
        // stop only at the end of the file.
        let live = handle.live();
        let (session, file) = live[handle.next.fetch_add(1, Ordering::Relaxed) % live.len()];
        session
            .read_exact_at(file, offset, len as usize)
            .map_err(remote_error)
    }

    fn read_start(
        &self,
        handle: &Self::Handle,
        reads: Vec<BackgroundRead>,
    ) -> Result<(), Vec<BackgroundRead>> {
        // The requests go out in one write to `ssh`, and the session's reader thread completes
        // each range as its last reply lands: no thread waits for them.
        // The reads are dealt out over the lanes the file is open on, one each in turn.
        let live = handle.live();
        let mut dealt: Vec<Vec<sftp::RangeRead>> = live.iter().map(|_| Vec::new()).collect();
        for read in reads {
            let done = read.done;
            let lane = handle.next.fetch_add(1, Ordering::Relaxed) % live.len();
            dealt[lane].push(sftp::RangeRead {
                offset: read.offset,
                buffer: read.buffer,
                done: Box::new(move |result| done(result.map_err(remote_error))),
            });
        }
        for ((session, file), ranges) in live.into_iter().zip(dealt) {
            if !ranges.is_empty() {
                session.read_ranges_start(file, ranges);
            }
        }
        Ok(())
    }

    fn write(&self, handle: &Self::Handle, offset: u64, data: &[u8]) -> Result<(), RemoteError> {
        let (session, file) = &handle.first;
        session.write(file, offset, data).map_err(remote_error)
    }

    fn fsync(&self, handle: &Self::Handle) -> Result<(), RemoteError> {
        let (session, file) = &handle.first;
        match session.fsync(file) {
            Ok(()) | Err(sftp::Error::Unsupported(_)) => Ok(()),
            Err(error) => Err(remote_error(error)),
        }
    }

    fn close(&self, handle: Self::Handle) -> Result<(), RemoteError> {
        // Sent on every lane first, then waited for; what counts is the first lane's answer
        // (a written file's data is stored by then). The other lanes only read.
        let SftpHandle { first, others, .. } = handle;
        let sent: Vec<_> = others
            .iter()
            .map(|(session, file)| session.close_start(file))
            .collect();
        let result = first.0.close(&first.1).map_err(remote_error);
        for pending in sent.into_iter().flatten() {
            let _ = pending.wait_ok();
        }
        result
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
        // Only lanes whose connection ended are replaced; the first must come back (it
        // carries every other call), the others may stay lost until a later call.
        for (index, lane) in self.all_lanes().enumerate() {
            let alive = lane
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .is_alive();
            if alive {
                continue;
            }
            match Connection::open(&self.target) {
                Ok(fresh) => {
                    *lane.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh)
                }
                Err(error) if index == 0 => return Err(RemoteError::Failure(error.to_string())),
                Err(error) => tracing::warn!(%error, "a connection of the mount is still lost"),
            }
        }
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
