//! The FUSE filesystem over a [`Remote`]: the `fuser::Filesystem` implementation.
//!
//! fuser runs several session threads (each with its own `/dev/fuse` clone), so requests are
//! served in parallel. Every remote call goes through the worker [`Pool`] with the mount's
//! timeout, so no request waits on the remote forever: a remote that hangs or drops answers
//! EIO. Chunks of a file are the exception: they are read in the background
//! ([`Remote::read_start`]; the SFTP session's reader thread completes them) and awaited with
//! the same timeout, so a read costs no worker and one wake-up per chunk. Attributes and
//! directory listings are cached for the TTL; a listing also fills the attribute cache, so
//! `ls -l` and a walk cost one remote call per directory.
//!
//! Reads go through a per-handle chunk cache fed by the [`Planner`]: the chunks a read covers
//! are requested in parallel, and a sequential stream keeps a growing window of chunks in
//! flight ahead of it. The page cache is kept across opens (`FOPEN_KEEP_CACHE`) only while the
//! remote file's mtime and size are what the last open saw; `direct_io` bypasses it.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use super::Options;
use super::buffers::{Buffers, Chunk};
use super::inodes::{self, InodeTable, ROOT};
use super::pool::Pool;
use super::readahead::{Config, Planner};
use super::remote::{Attrs, BackgroundRead, Kind, OpenFlags, ReadDone, Remote, RemoteError};

/// Lock a mutex, taking the data of a poisoned one (a panicking request must not wedge the
/// mount).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn errno(error: &RemoteError) -> Errno {
    Errno::from_i32(error.errno())
}

/// One chunk of a file being fetched or fetched.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<Option<Result<Arc<Chunk>, RemoteError>>>,
    ready: Condvar,
    /// How many bytes reads have taken from it (a chunk read whole is not asked for again).
    served: AtomicU64,
}

impl Slot {
    fn fill(&self, result: Result<Chunk, RemoteError>) {
        *lock(&self.state) = Some(result.map(Arc::new));
        self.ready.notify_all();
    }

    fn wait(&self, deadline: Instant) -> Result<Arc<Chunk>, RemoteError> {
        let mut state = lock(&self.state);
        loop {
            if let Some(result) = state.as_ref() {
                return result.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RemoteError::Timeout);
            }
            state = match self.ready.wait_timeout(state, deadline - now) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// Chunks of one open file, oldest first, at most `capacity` of them.
#[derive(Debug, Default)]
struct Chunks {
    slots: HashMap<u64, Arc<Slot>>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Chunks {
    fn evict(&mut self) {
        while self.slots.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.slots.remove(&oldest);
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.order.clear();
    }
}

/// An open remote file.
struct OpenFile<R: Remote> {
    remote: Arc<R>,
    buffers: Arc<Buffers>,
    handle: Option<R::Handle>,
    path: String,
    size: AtomicU64,
    planner: Mutex<Planner>,
    chunks: Mutex<Chunks>,
}

impl<R: Remote> OpenFile<R> {
    fn handle(&self) -> Result<&R::Handle, RemoteError> {
        self.handle
            .as_ref()
            .ok_or_else(|| RemoteError::Failure("the file is closed".into()))
    }
}

impl<R: Remote> Drop for OpenFile<R> {
    fn drop(&mut self) {
        self.buffers.closed();
        if let Some(handle) = self.handle.take() {
            // Release cannot report errors to anyone; the data went out with each write.
            let _ = self.remote.close(handle);
        }
    }
}

/// A cached value and when it was fetched.
struct Cached<T> {
    value: T,
    at: Instant,
}

type Listing = Arc<Vec<(String, Attrs)>>;

/// The filesystem a mount serves.
pub struct RemoteFs<R: Remote> {
    remote: Arc<R>,
    root: String,
    options: Options,
    readahead: Config,
    /// The chunk buffers of every open file.
    buffers: Arc<Buffers>,
    pool: Pool,
    needs_reconnect: Arc<AtomicBool>,
    inodes: Mutex<InodeTable>,
    attrs: Mutex<HashMap<String, Cached<Attrs>>>,
    listings: Mutex<HashMap<String, Cached<Listing>>>,
    files: Mutex<HashMap<u64, Arc<OpenFile<R>>>>,
    dirs: Mutex<HashMap<u64, Listing>>,
    /// (mtime, size) of each inode at its last open: the page cache is kept while they match.
    seen: Mutex<HashMap<u64, (SystemTime, u64)>>,
    next_handle: AtomicU64,
    uid: u32,
    gid: u32,
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
        let readahead = Config::new(options.chunk, options.readahead);
        let chunk = usize::try_from(readahead.chunk).unwrap_or(usize::MAX);
        Ok(Self {
            buffers: Buffers::new(chunk, Self::chunks_per_file(readahead).min(256)),
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
            dirs: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        })
    }

    /// The remote path of a path relative to the root.
    fn remote_path(&self, relative: &str) -> String {
        match (self.root.as_str(), relative) {
            (root, "") => root.to_owned(),
            ("/", relative) => format!("/{relative}"),
            (root, relative) => format!("{root}/{relative}"),
        }
    }

    /// Run a remote call on the pool with the timeout, reconnecting first when the last call
    /// found the connection lost.
    fn call<T: Send + 'static>(
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

    fn fresh<T: Clone>(&self, cached: Option<&Cached<T>>) -> Option<T> {
        cached
            .filter(|c| c.at.elapsed() < self.options.cache_ttl)
            .map(|c| c.value.clone())
    }

    /// Attributes of a relative path (not following a final link), from the caches when fresh.
    fn attrs_of(&self, path: &str) -> Result<Attrs, RemoteError> {
        if let Some(attrs) = self.fresh(lock(&self.attrs).get(path)) {
            return Ok(attrs);
        }
        if !path.is_empty() {
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
            if let Some(listing) = self.fresh(lock(&self.listings).get(parent)) {
                return listing
                    .iter()
                    .find(|(entry, _)| entry == name)
                    .map(|(_, attrs)| *attrs)
                    .ok_or(RemoteError::NotFound);
            }
        }
        let remote_path = self.remote_path(path);
        let attrs = self.call(move |remote| remote.lstat(&remote_path))?;
        self.remember(path, attrs);
        Ok(attrs)
    }

    fn remember(&self, path: &str, attrs: Attrs) {
        lock(&self.attrs).insert(
            path.to_owned(),
            Cached {
                value: attrs,
                at: Instant::now(),
            },
        );
    }

    /// Forget what is cached about `path` and its directory's listing.
    fn invalidate(&self, path: &str) {
        lock(&self.attrs).remove(path);
        lock(&self.listings).remove(inodes::parent_of(path));
    }

    fn listing(&self, path: &str) -> Result<Listing, RemoteError> {
        if let Some(listing) = self.fresh(lock(&self.listings).get(path)) {
            return Ok(listing);
        }
        let remote_path = self.remote_path(path);
        let listing = Arc::new(self.call(move |remote| remote.read_dir(&remote_path))?);
        let now = Instant::now();
        {
            let mut attrs = lock(&self.attrs);
            for (name, entry) in listing.iter() {
                attrs.insert(
                    inodes::child(path, name),
                    Cached {
                        value: *entry,
                        at: now,
                    },
                );
            }
        }
        lock(&self.listings).insert(
            path.to_owned(),
            Cached {
                value: Arc::clone(&listing),
                at: now,
            },
        );
        Ok(listing)
    }

    fn file_attr(&self, ino: u64, attrs: &Attrs) -> FileAttr {
        let kind = match attrs.kind {
            Kind::Directory => FileType::Directory,
            Kind::Symlink => FileType::Symlink,
            Kind::File | Kind::Other => FileType::RegularFile,
        };
        let mut perm = attrs.perm & 0o7777;
        if !self.options.read_write {
            perm &= !0o222;
        }
        FileAttr {
            ino: INodeNo(ino),
            size: attrs.size,
            blocks: attrs.size.div_ceil(512),
            atime: attrs.atime.unwrap_or(attrs.mtime),
            mtime: attrs.mtime,
            ctime: attrs.mtime,
            crtime: attrs.mtime,
            kind,
            perm,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 128 * 1024,
            flags: 0,
        }
    }

    /// Count a lookup of `path` and answer with its entry.
    fn reply_entry(&self, path: &str, attrs: &Attrs, reply: ReplyEntry) {
        let ino = lock(&self.inodes).lookup(path);
        reply.entry(
            &self.options.cache_ttl,
            &self.file_attr(ino, attrs),
            Generation(0),
        );
    }

    fn writable(&self) -> Result<(), Errno> {
        if self.options.read_write {
            Ok(())
        } else {
            Err(Errno::EROFS)
        }
    }

    fn open_file(&self, path: String, flags: OpenFlags, ino: u64) -> Result<u64, Errno> {
        let remote_path = self.remote_path(&path);
        let (handle, attrs) = self
            .call(move |remote| {
                let handle = remote.open(&remote_path, flags)?;
                match remote.stat(&remote_path) {
                    Ok(attrs) => Ok((handle, attrs)),
                    Err(error) => {
                        let _ = remote.close(handle);
                        Err(error)
                    }
                }
            })
            .map_err(|e| errno(&e))?;
        lock(&self.seen).insert(ino, (attrs.mtime, attrs.size));
        let capacity = Self::chunks_per_file(self.readahead);
        self.buffers.opened();
        let file = OpenFile {
            remote: Arc::clone(&self.remote),
            buffers: Arc::clone(&self.buffers),
            handle: Some(handle),
            path,
            size: AtomicU64::new(attrs.size),
            planner: Mutex::new(Planner::new(self.readahead)),
            chunks: Mutex::new(Chunks {
                capacity,
                ..Chunks::default()
            }),
        };
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        lock(&self.files).insert(fh, Arc::new(file));
        Ok(fh)
    }

    /// How many chunks an open file keeps: two read-ahead windows and 16 MiB for the reads
    /// that come back to a block (four readers of 16 MiB blocks, say).
    fn chunks_per_file(readahead: Config) -> usize {
        usize::try_from((2 * readahead.max_window + 16 * 1024 * 1024) / readahead.chunk)
            .unwrap_or(64)
    }

    fn open_flags(&self, ino: u64, attrs_before: Option<(SystemTime, u64)>) -> FopenFlags {
        if self.options.direct_io {
            return FopenFlags::FOPEN_DIRECT_IO;
        }
        let now = lock(&self.seen).get(&ino).copied();
        if attrs_before.is_some() && attrs_before == now {
            FopenFlags::FOPEN_KEEP_CACHE
        } else {
            FopenFlags::empty()
        }
    }

    fn file(&self, fh: FileHandle) -> Result<Arc<OpenFile<R>>, Errno> {
        lock(&self.files).get(&fh.0).cloned().ok_or(Errno::EBADF)
    }

    /// The slot of chunk `index`: the cached or awaited one, or a new one whose read
    /// is added to `batch` (started by [`Self::start_reads`]).
    fn fetch(&self, chunks: &mut Chunks, index: u64, batch: &mut Vec<BackgroundRead>) -> Arc<Slot> {
        if let Some(slot) = chunks.slots.get(&index) {
            return Arc::clone(slot);
        }
        let slot = Arc::new(Slot::default());
        chunks.slots.insert(index, Arc::clone(&slot));
        chunks.order.push_back(index);
        let done: ReadDone = {
            let slot = Arc::clone(&slot);
            let buffers = Arc::clone(&self.buffers);
            let needs_reconnect = Arc::clone(&self.needs_reconnect);
            Box::new(move |result| {
                if matches!(result, Err(RemoteError::Disconnected)) {
                    needs_reconnect.store(true, Ordering::Release);
                }
                slot.fill(result.map(|(buffer, len)| buffers.chunk(buffer, len)));
            })
        };
        batch.push(BackgroundRead {
            offset: index * self.readahead.chunk,
            buffer: self.buffers.take(),
            done,
        });
        slot
    }

    /// Start the reads of a batch: in the background when the remote can (no thread waits for
    /// them), unless the connection must be made again first; otherwise each on a worker,
    /// which reconnects first when needed.
    fn start_reads(&self, file: &Arc<OpenFile<R>>, batch: Vec<BackgroundRead>) {
        if batch.is_empty() {
            return;
        }
        let batch = match file.handle() {
            Ok(handle) if !self.needs_reconnect.load(Ordering::Acquire) => {
                match file.remote.read_start(handle, batch) {
                    Ok(()) => return,
                    Err(batch) => batch,
                }
            }
            _ => batch,
        };
        for BackgroundRead {
            offset,
            buffer,
            done,
        } in batch
        {
            let len = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
            self.buffers.give_back(buffer);
            let job_file = Arc::clone(file);
            let needs_reconnect = Arc::clone(&self.needs_reconnect);
            self.pool.spawn(move || {
                let result = guarded(&*job_file.remote, &needs_reconnect, |remote| {
                    remote.read(job_file.handle()?, offset, len)
                });
                done(result.map(|data| {
                    let len = data.len();
                    (data, len)
                }));
            });
        }
    }

    fn read_at(&self, fh: FileHandle, offset: u64, size: u32) -> Result<Served, RemoteError> {
        let file = self.file(fh).map_err(|_| RemoteError::NotFound)?;
        // The size seen at open may be stale (the file grew): the read itself is always asked
        // for, only the read-ahead stops at the known size.
        let known = file.size.load(Ordering::Relaxed);
        let chunk = self.readahead.chunk;
        let fetched_ahead = lock(&file.chunks).slots.contains_key(&(offset / chunk));
        let plan = lock(&file.planner).plan(
            offset,
            u64::from(size),
            known.max(offset.saturating_add(u64::from(size))),
            fetched_ahead,
        );
        let ahead_limit = known.div_ceil(chunk);
        let mut batch = Vec::new();
        let needed: Vec<Arc<Slot>> = {
            let mut chunks = lock(&file.chunks);
            let needed = plan
                .needed
                .clone()
                .map(|index| self.fetch(&mut chunks, index, &mut batch))
                .collect();
            // The window is topped up a quarter at a time, not a chunk per read: each top-up
            // is one packet through ssh, sshd and the server, all of which wake for it.
            let ahead = plan.ahead.start..plan.ahead.end.min(ahead_limit);
            let missing = ahead
                .clone()
                .filter(|index| !chunks.slots.contains_key(index))
                .count() as u64;
            let quarter = (plan.ahead.end - plan.ahead.start).div_ceil(4);
            if missing > 0 && (missing >= quarter || ahead.end == ahead_limit) {
                for index in ahead {
                    self.fetch(&mut chunks, index, &mut batch);
                }
            }
            if plan.sequential {
                // A stream never comes back to chunks well behind it that it has read whole;
                // the rest is still to come (the kernel's requests arrive out of order).
                let behind = plan.needed.start.saturating_sub(2);
                chunks.slots.retain(|&index, slot| {
                    index >= behind || slot.served.load(Ordering::Relaxed) < chunk
                });
                let Chunks { slots, order, .. } = &mut *chunks;
                order.retain(|index| slots.contains_key(index));
            }
            chunks.evict();
            // Started before the lock is let go, so reads go out in the order of the file.
            self.start_reads(&file, batch);
            needed
        };
        let deadline = Instant::now() + self.options.timeout;
        let end = offset.saturating_add(u64::from(size));
        let mut pieces: Vec<(Arc<Chunk>, usize, usize)> = Vec::with_capacity(needed.len());
        for (index, slot) in plan.needed.clone().zip(needed) {
            let data = match slot.wait(deadline) {
                Ok(data) => data,
                Err(error) => {
                    // Ask again next time instead of serving the failure from the cache.
                    let mut chunks = lock(&file.chunks);
                    if chunks
                        .slots
                        .get(&index)
                        .is_some_and(|s| Arc::ptr_eq(s, &slot))
                    {
                        chunks.slots.remove(&index);
                    }
                    return Err(error);
                }
            };
            let start = index * chunk;
            let from = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX);
            let to = usize::try_from(end.min(start + chunk) - start).unwrap_or(usize::MAX);
            let to = to.min(data.len());
            let short = (data.len() as u64) < chunk;
            if from < to {
                slot.served.fetch_add((to - from) as u64, Ordering::Relaxed);
                pieces.push((data, from, to));
            }
            if short {
                break; // the end of the file
            }
        }
        if pieces.len() == 1
            && let Some((data, from, to)) = pieces.pop()
        {
            return Ok(Served::Chunk(data, from, to));
        }
        let mut out = Vec::with_capacity(pieces.iter().map(|(_, from, to)| to - from).sum());
        for (data, from, to) in &pieces {
            out.extend_from_slice(data.bytes().get(*from..*to).unwrap_or_default());
        }
        Ok(Served::Joined(out))
    }
}

/// The bytes of one read: part of a single cached chunk (answered without a copy), or the
/// parts of several chunks joined.
enum Served {
    /// `chunk[from..to]`.
    Chunk(Arc<Chunk>, usize, usize),
    /// Bytes joined from several chunks.
    Joined(Vec<u8>),
}

impl Served {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Chunk(data, from, to) => data.bytes().get(*from..*to).unwrap_or_default(),
            Self::Joined(data) => data,
        }
    }
}

/// Call the remote, reconnecting first when a previous call found the connection lost, and
/// remember a lost connection for the next call.
fn guarded<R: Remote, T>(
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
                lock(&file.chunks).clear();
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
        lock(&file.chunks).clear();
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
    fn a_disconnect_makes_the_next_call_reconnect_first() {
        let dir = tempfile::tempdir().unwrap();
        let remote = super::super::local::LocalRemote::new(dir.path());
        let flag = AtomicBool::new(false);
        let first: Result<(), RemoteError> =
            guarded(&remote, &flag, |_| Err(RemoteError::Disconnected));
        assert_eq!(first, Err(RemoteError::Disconnected));
        assert!(flag.load(Ordering::Acquire));
        let second = guarded(&remote, &flag, |remote| remote.stat("/"));
        assert_eq!(second.map(|a| a.kind), Ok(Kind::Directory));
        assert!(!flag.load(Ordering::Acquire), "reconnected");
    }

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
