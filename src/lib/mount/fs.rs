//! The FUSE filesystem over a [`Remote`]: the `fuser::Filesystem` implementation.
//!
//! fuser runs several session threads (each with its own `/dev/fuse` clone), so requests are
//! served in parallel. Every remote call goes through the worker [`Pool`] with the mount's
//! timeout, so no request waits on the remote forever: a remote that hangs or drops answers
//! EIO. Chunks of a file are the exception: they are read in the background
//! ([`Remote::read_start`]; the SFTP session's reader thread completes them) and awaited with
//! the same timeout, so a read costs no worker and one wake-up per chunk.
//!
//! This file answers the kernel's requests; what the filesystem keeps between them lives
//! beside it: attributes and directory listings, cached for the TTL, in `attrs.rs`, and the
//! read cache of open files (chunks fetched ahead as [`super::readahead`] plans) in
//! `cache.rs`. The page cache is kept across opens (`FOPEN_KEEP_CACHE`) only while the remote
//! file's mtime and size are what the last open saw; `direct_io` bypasses it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use fuser::{
    Errno, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use super::Options;
use super::attrs::{Cached, Listing};
use super::buffers::Buffers;
use super::cache::{FileCaches, OpenFile, chunks_per_file};
use super::inodes::{self, InodeTable, ROOT};
use super::pool::Pool;
use super::readahead::{Config, kernel_readahead_settable, own_window};
use super::remote::{Attrs, Kind, OpenFlags, Remote, RemoteError, guarded};

/// Lock a mutex, taking the data of a poisoned one (a panicking request must not wedge the
/// mount).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn errno(error: &RemoteError) -> Errno {
    Errno::from_i32(error.errno())
}

/// The filesystem a mount serves.
pub struct RemoteFs<R: Remote> {
    pub(super) remote: Arc<R>,
    pub(super) root: String,
    pub(super) options: Options,
    pub(super) readahead: Config,
    /// The chunk buffers of every open file.
    pub(super) buffers: Arc<Buffers>,
    pub(super) pool: Pool,
    pub(super) needs_reconnect: Arc<AtomicBool>,
    pub(super) inodes: Mutex<InodeTable>,
    pub(super) attrs: Mutex<HashMap<String, Cached<Attrs>>>,
    pub(super) listings: Mutex<HashMap<String, Cached<Listing>>>,
    pub(super) files: Mutex<HashMap<u64, Arc<OpenFile<R>>>>,
    /// The read caches of open files by inode, shared by their handles.
    pub(super) caches: FileCaches,
    pub(super) dirs: Mutex<HashMap<u64, Listing>>,
    /// (mtime, size) of each inode at its last open: the page cache is kept while they match.
    pub(super) seen: Mutex<HashMap<u64, (SystemTime, u64)>>,
    pub(super) next_handle: AtomicU64,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

impl<R: Remote> std::fmt::Debug for RemoteFs<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteFs")
            .field("root", &self.root)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<R: Remote> RemoteFs<R> {
    /// A filesystem showing the remote directory `root` (absolute, `/`-separated).
    ///
    /// # Errors
    /// When the worker threads cannot be started.
    pub fn new(remote: Arc<R>, root: &str, options: Options) -> std::io::Result<Self> {
        let root = if root.len() > 1 {
            root.trim_end_matches('/').to_owned()
        } else {
            "/".to_owned()
        };
        let readahead = Config::new(
            options.chunk,
            own_window(&options, kernel_readahead_settable()),
        );
        let chunk = usize::try_from(readahead.chunk).unwrap_or(usize::MAX);
        Ok(Self {
            buffers: Buffers::new(chunk, chunks_per_file(readahead).min(256)),
            pool: Pool::new(options.workers)?,
            remote,
            root,
            readahead,
            options,
            needs_reconnect: Arc::new(AtomicBool::new(false)),
            inodes: Mutex::new(InodeTable::new()),
            attrs: Mutex::new(HashMap::new()),
            listings: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            caches: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        })
    }

    /// The remote path of a path relative to the root.
    pub(super) fn remote_path(&self, relative: &str) -> String {
        match (self.root.as_str(), relative) {
            (root, "") => root.to_owned(),
            ("/", relative) => format!("/{relative}"),
            (root, relative) => format!("{root}/{relative}"),
        }
    }

    /// Run a remote call on the pool with the timeout, reconnecting first when the last call
    /// found the connection lost.
    pub(super) fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&R) -> Result<T, RemoteError> + Send + 'static,
    ) -> Result<T, RemoteError> {
        let remote = Arc::clone(&self.remote);
        let needs_reconnect = Arc::clone(&self.needs_reconnect);
        self.pool.call(self.options.timeout, move || {
            guarded(&*remote, &needs_reconnect, |remote| call(remote))
        })
    }

    fn path_of(&self, ino: INodeNo) -> Result<String, Errno> {
        lock(&self.inodes)
            .path(ino.0)
            .map(str::to_owned)
            .ok_or(Errno::ENOENT)
    }

    fn child_path(&self, parent: INodeNo, name: &OsStr) -> Result<String, Errno> {
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        Ok(inodes::child(&self.path_of(parent)?, name))
    }

    fn writable(&self) -> Result<(), Errno> {
        if self.options.read_write {
            Ok(())
        } else {
            Err(Errno::EROFS)
        }
    }
}

/// The synthetic inode number `readdir` shows for an entry the kernel has not looked up
/// (high bit set, so it never equals a number of the table).
fn listing_ino(path: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish() | (1 << 63)
}

fn remote_flags(flags: i32) -> OpenFlags {
    let access = flags & libc::O_ACCMODE;
    OpenFlags {
        read: access == libc::O_RDONLY || access == libc::O_RDWR,
        write: access == libc::O_WRONLY || access == libc::O_RDWR,
        create: flags & libc::O_CREAT != 0,
        exclusive: flags & libc::O_EXCL != 0,
        truncate: flags & libc::O_TRUNC != 0,
        append: false,
    }
}

impl<R: Remote> Filesystem for RemoteFs<R> {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // More asynchronous read-ahead requests in flight, each served by its own thread.
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        if let Err(max) = config.set_max_readahead(u32::MAX) {
            let _ = config.set_max_readahead(max);
        }
        // Drop pages when a getattr shows the file changed on the remote.
        let _ = config.add_capabilities(InitFlags::FUSE_AUTO_INVAL_DATA);
        // A large O_DIRECT read (a 16 MiB block of a training file) reaches red as all of its
        // pieces at once, served in parallel, instead of one piece after the other; libfuse
        // asks for the same by default.
        let _ = config.add_capabilities(InitFlags::FUSE_ASYNC_DIO);
        Ok(())
    }

    fn destroy(&mut self) {
        self.pool.shut_down();
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let path = match self.child_path(parent, name) {
            Ok(path) => path,
            Err(errno) => {
                return reply.error(if errno == Errno::EINVAL {
                    Errno::ENOENT
                } else {
                    errno
                });
            }
        };
        match self.attrs_of(&path) {
            Ok(attrs) => self.reply_entry(&path, &attrs, reply),
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        lock(&self.inodes).forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let path = match self.path_of(ino) {
            Ok(path) => path,
            Err(errno) => return reply.error(errno),
        };
        match self.attrs_of(&path) {
            Ok(mut attrs) => {
                if let Some(file) = fh.and_then(|fh| lock(&self.files).get(&fh.0).cloned()) {
                    attrs.size = attrs.size.max(file.size.load(Ordering::Relaxed));
                }
                reply.attr(&self.options.cache_ttl, &self.file_attr(ino.0, &attrs));
            }
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let path = match self.path_of(ino) {
            Ok(path) => path,
            Err(errno) => return reply.error(errno),
        };
        if (size.is_some() || mode.is_some())
            && let Err(errno) = self.writable()
        {
            return reply.error(errno);
        }
        let remote_path = self.remote_path(&path);
        let result = self.call(move |remote| {
            if let Some(size) = size {
                remote.truncate(&remote_path, size)?;
            }
            if let Some(mode) = mode {
                remote.chmod(&remote_path, u16::try_from(mode & 0o7777).unwrap_or(0o644))?;
            }
            remote.lstat(&remote_path)
        });
        self.invalidate(&path);
        if let Some(size) = size {
            let files = lock(&self.files);
            for file in files.values().filter(|f| f.path == path) {
                file.size.store(size, Ordering::Relaxed);
                file.forget_chunks();
            }
            let _ = fh;
        }
        match result {
            Ok(attrs) => {
                self.remember(&path, attrs);
                reply.attr(&self.options.cache_ttl, &self.file_attr(ino.0, &attrs));
            }
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let path = match self.path_of(ino) {
            Ok(path) => path,
            Err(errno) => return reply.error(errno),
        };
        let remote_path = self.remote_path(&path);
        match self.call(move |remote| remote.read_link(&remote_path)) {
            Ok(target) => reply.data(target.as_bytes()),
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let path = match self.writable().and_then(|()| self.child_path(parent, name)) {
            Ok(path) => path,
            Err(errno) => return reply.error(errno),
        };
        let remote_path = self.remote_path(&path);
        let perm = u16::try_from(mode & !umask & 0o7777).unwrap_or(0o755);
        let result = self.call(move |remote| {
            remote.mkdir(&remote_path, perm)?;
            remote.lstat(&remote_path)
        });
        self.invalidate(&path);
        match result {
            Ok(attrs) => {
                self.remember(&path, attrs);
                self.reply_entry(&path, &attrs, reply);
            }
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, false, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, true, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let paths = self.writable().and_then(|()| {
            Ok((
                self.child_path(parent, name)?,
                self.child_path(newparent, newname)?,
            ))
        });
        let (from, to) = match paths {
            Ok(paths) => paths,
            Err(errno) => return reply.error(errno),
        };
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return reply.error(Errno::EINVAL);
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let (remote_from, remote_to) = (self.remote_path(&from), self.remote_path(&to));
        let result = self.call(move |remote| {
            if no_replace {
                match remote.lstat(&remote_to) {
                    Ok(_) => return Err(RemoteError::Exists),
                    Err(RemoteError::NotFound) => {}
                    Err(error) => return Err(error),
                }
            }
            remote.rename(&remote_from, &remote_to)
        });
        // Paths below a renamed directory moved too: start the caches afresh.
        lock(&self.attrs).clear();
        lock(&self.listings).clear();
        match result {
            Ok(()) => {
                lock(&self.inodes).rename(&from, &to);
                reply.ok();
            }
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: fuser::OpenFlags, reply: ReplyOpen) {
        let wants_write = flags.acc_mode() != OpenAccMode::O_RDONLY;
        if wants_write && !self.options.read_write {
            return reply.error(Errno::EROFS);
        }
        let path = match self.path_of(ino) {
            Ok(path) => path,
            Err(errno) => return reply.error(errno),
        };
        let before = lock(&self.seen).get(&ino.0).copied();
        let mut remote = remote_flags(flags.0);
        remote.create = false;
        remote.truncate = false;
        match self.open_file(path, remote, ino.0) {
            Ok(fh) => reply.opened(FileHandle(fh), self.open_flags(ino.0, before)),
            Err(errno) => reply.error(errno),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: fuser::OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.read_at(fh, offset, size) {
            Ok(served) => reply.data(served.bytes()),
            Err(RemoteError::NotFound) => reply.error(Errno::EBADF),
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: fuser::OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if let Err(errno) = self.writable() {
            return reply.error(errno);
        }
        let file = match self.file(fh) {
            Ok(file) => file,
            Err(errno) => return reply.error(errno),
        };
        let len = data.len();
        let bytes = data.to_vec();
        let job_file = Arc::clone(&file);
        let result = self.call(move |remote| remote.write(job_file.handle()?, offset, &bytes));
        file.forget_chunks();
        self.invalidate(&file.path);
        match result {
            Ok(()) => {
                file.size
                    .fetch_max(offset.saturating_add(len as u64), Ordering::Relaxed);
                reply.written(u32::try_from(len).unwrap_or(u32::MAX));
            }
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Writes go to the remote before they are acknowledged: nothing is pending.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: fuser::OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let file = lock(&self.files).remove(&fh.0);
        if let Some(file) = file {
            // The remote close happens on a worker (when the last read-ahead lets go of the
            // handle), never on a FUSE thread.
            self.pool.spawn(move || drop(file));
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let file = match self.file(fh) {
            Ok(file) => file,
            Err(errno) => return reply.error(errno),
        };
        match self.call(move |remote| remote.fsync(file.handle()?)) {
            Ok(()) | Err(RemoteError::Unsupported) => reply.ok(),
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: fuser::OpenFlags, reply: ReplyOpen) {
        let path = match self.path_of(ino) {
            Ok(path) => path,
            Err(errno) => return reply.error(errno),
        };
        match self.listing(&path) {
            Ok(listing) => {
                let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
                lock(&self.dirs).insert(fh, listing);
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(error) => reply.error(errno(&error)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(listing) = lock(&self.dirs).get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        let Ok(path) = self.path_of(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let parent = if ino.0 == ROOT {
            ROOT
        } else {
            lock(&self.inodes)
                .peek(inodes::parent_of(&path))
                .unwrap_or(ROOT)
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let dots = [(".", ino.0), ("..", parent)];
        for (index, (name, number)) in dots.iter().enumerate().skip(start) {
            if reply.add(
                INodeNo(*number),
                index as u64 + 1,
                FileType::Directory,
                name,
            ) {
                return reply.ok();
            }
        }
        let inodes = lock(&self.inodes);
        for (index, (name, attrs)) in listing.iter().enumerate().skip(start.saturating_sub(2)) {
            let child = inodes::child(&path, name);
            let number = inodes.peek(&child).unwrap_or_else(|| listing_ino(&child));
            let kind = match attrs.kind {
                Kind::Directory => FileType::Directory,
                Kind::Symlink => FileType::Symlink,
                Kind::File | Kind::Other => FileType::RegularFile,
            };
            if reply.add(INodeNo(number), index as u64 + 3, kind, name) {
                break;
            }
        }
        drop(inodes);
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: fuser::OpenFlags,
        reply: ReplyEmpty,
    ) {
        lock(&self.dirs).remove(&fh.0);
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let path = match self.writable().and_then(|()| self.child_path(parent, name)) {
            Ok(path) => path,
            Err(errno) => return reply.error(errno),
        };
        let mut remote = remote_flags(flags);
        remote.create = true;
        remote.write = true;
        let ino = lock(&self.inodes).lookup(&path);
        self.invalidate(&path);
        let fh = match self.open_file(path.clone(), remote, ino) {
            Ok(fh) => fh,
            Err(errno) => {
                lock(&self.inodes).forget(ino, 1);
                return reply.error(errno);
            }
        };
        let remote_path = self.remote_path(&path);
        let perm = u16::try_from(mode & !umask & 0o7777).unwrap_or(0o644);
        let result = self.call(move |remote| {
            match remote.chmod(&remote_path, perm) {
                Ok(()) | Err(RemoteError::Unsupported) => {}
                Err(error) => return Err(error),
            }
            remote.lstat(&remote_path)
        });
        match result {
            Ok(attrs) => {
                self.remember(&path, attrs);
                let flags = if self.options.direct_io {
                    FopenFlags::FOPEN_DIRECT_IO
                } else {
                    FopenFlags::empty()
                };
                reply.created(
                    &self.options.cache_ttl,
                    &self.file_attr(ino, &attrs),
                    Generation(0),
                    FileHandle(fh),
                    flags,
                );
            }
            Err(error) => {
                lock(&self.files).remove(&fh);
                lock(&self.inodes).forget(ino, 1);
                reply.error(errno(&error));
            }
        }
    }
}

impl<R: Remote> RemoteFs<R> {
    fn remove(&self, parent: INodeNo, name: &OsStr, directory: bool, reply: ReplyEmpty) {
        let path = match self.writable().and_then(|()| self.child_path(parent, name)) {
            Ok(path) => path,
            Err(errno) => return reply.error(errno),
        };
        let remote_path = self.remote_path(&path);
        let result = self.call(move |remote| {
            if directory {
                remote.rmdir(&remote_path)
            } else {
                remote.remove(&remote_path)
            }
        });
        self.invalidate(&path);
        match result {
            Ok(()) => {
                lock(&self.inodes).unlink(&path);
                reply.ok();
            }
            Err(error) => reply.error(errno(&error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_map_access_modes() {
        let read = remote_flags(libc::O_RDONLY);
        assert!(read.read && !read.write);
        let both = remote_flags(libc::O_RDWR | libc::O_CREAT | libc::O_EXCL);
        assert!(both.read && both.write && both.create && both.exclusive);
        let write = remote_flags(libc::O_WRONLY | libc::O_TRUNC);
        assert!(!write.read && write.write && write.truncate);
    }

    #[test]
    fn listing_numbers_never_collide_with_table_numbers() {
        assert!(listing_ino("a/b") >= 1 << 63);
        assert_eq!(listing_ino("a/b"), listing_ino("a/b"));
    }
}
