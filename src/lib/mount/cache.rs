//! The read cache of open files: the bytes of each file, fetched as the
//! [`readahead`](super::readahead) planner says, and served to the kernel's reads.
//!
//! What a file holds is a set of [`Extents`]: byte ranges that start where the reads started
//! (not on a fixed grid), each one remote read request, each a [`Slot`] that a read waits on
//! until the remote answers or the mount's timeout passes. A read asks its file's planner which
//! bytes it needs and which to fetch ahead, makes slots for the parts no slot holds yet (cut
//! into pieces of at most one chunk that line up with the reads to come:
//! [`super::extents::pieces`]), starts their reads in one batch (in the background when the
//! remote can: no thread waits for them), and then waits for the slots that hold its bytes.
//!
//! The extents belong to the file, not to one open handle: every handle of an inode shares
//! them ([`FileCache`]), so several readers of one file (nine loader workers, four fio jobs)
//! wait on the same fetch instead of asking the remote for the same bytes again. Each handle
//! keeps its own planner (its own read pattern). A failed slot is not kept, so the next read
//! asks again. Writes and truncation drop a file's extents.
//!
//! These are methods of the filesystem ([`RemoteFs`]) because they share its buffers, worker
//! pool, reconnect flag and options; `fs.rs` has the FUSE side.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Instant, SystemTime};

use fuser::{Errno, FileHandle, FopenFlags};

use super::buffers::{Buffers, Chunk};
use super::extents::{Extent, Extents, pieces};
use super::fs::{RemoteFs, errno, lock};
use super::readahead::{Config, Plan, Planner};
use super::remote::{Attrs, BackgroundRead, OpenFlags, ReadDone, Remote, RemoteError, guarded};

/// Bytes of a file being fetched or fetched: `len` bytes at `start`.
#[derive(Debug)]
struct Slot {
    start: u64,
    len: u64,
    /// The handle whose read made it (its planner takes a read that lands here for the stream
    /// that fetched it; another handle's fetch says nothing of this handle's pattern).
    owner: u64,
    state: Mutex<Option<Result<Arc<Chunk>, RemoteError>>>,
    ready: Condvar,
    /// How many bytes reads have taken from it (a slot read whole is not asked for again).
    served: AtomicU64,
}

impl Extent for Arc<Slot> {
    fn start(&self) -> u64 {
        self.start
    }
    fn length(&self) -> u64 {
        self.len
    }
}

impl Slot {
    fn new(range: &Range<u64>, owner: u64) -> Self {
        Self {
            start: range.start,
            len: range.end - range.start,
            owner,
            state: Mutex::new(None),
            ready: Condvar::new(),
            served: AtomicU64::new(0),
        }
    }

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

/// The extents of one file, shared by its open handles.
#[derive(Debug)]
pub(super) struct FileCache {
    extents: Mutex<Extents<Arc<Slot>>>,
    /// Handles open on it.
    users: AtomicUsize,
    /// The remote file's (mtime, size) when the extents were fetched.
    version: (SystemTime, u64),
}

/// The file caches of a mount by inode; a cache lives while a handle holds it.
pub(super) type FileCaches = Mutex<HashMap<u64, Weak<FileCache>>>;

/// An open remote file.
pub(super) struct OpenFile<R: Remote> {
    remote: Arc<R>,
    buffers: Arc<Buffers>,
    handle: Option<R::Handle>,
    /// The FUSE file handle.
    id: u64,
    /// Its path relative to the mount's root.
    pub(super) path: String,
    /// Its size as far as this mount knows (at open, and grown by writes).
    pub(super) size: AtomicU64,
    planner: Mutex<Planner>,
    cache: Arc<FileCache>,
}

impl<R: Remote> OpenFile<R> {
    pub(super) fn handle(&self) -> Result<&R::Handle, RemoteError> {
        self.handle
            .as_ref()
            .ok_or_else(|| RemoteError::Failure("the file is closed".into()))
    }

    /// Drop the cached extents (of every handle of the file): the file changed.
    pub(super) fn forget_chunks(&self) {
        lock(&self.cache.extents).clear();
    }
}

impl<R: Remote> Drop for OpenFile<R> {
    fn drop(&mut self) {
        self.cache.users.fetch_sub(1, Ordering::Relaxed);
        self.buffers.closed();
        if let Some(handle) = self.handle.take() {
            // Release cannot report errors to anyone; the data went out with each write.
            let _ = self.remote.close(handle);
        }
    }
}

/// How many chunks an open file keeps: two read-ahead windows and 16 MiB for the reads
/// that come back to a block (four readers of 16 MiB blocks, say).
pub(super) fn chunks_per_file(readahead: Config) -> usize {
    usize::try_from((2 * readahead.max_window + 16 * 1024 * 1024) / readahead.chunk).unwrap_or(64)
}

/// The most bytes a file's extents hold: [`chunks_per_file`] chunks for each handle open on
/// it, up to four handles' worth.
fn capacity(readahead: Config, users: usize) -> u64 {
    (chunks_per_file(readahead) as u64 * readahead.chunk).saturating_mul(users.clamp(1, 4) as u64)
}

/// The bytes of one read: part of a single cached slot (answered without a copy), or the
/// parts of several slots joined.
pub(super) enum Served {
    /// `chunk[from..to]`.
    Chunk(Arc<Chunk>, usize, usize),
    /// Bytes joined from several chunks.
    Joined(Vec<u8>),
}

impl Served {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Self::Chunk(data, from, to) => data.bytes().get(*from..*to).unwrap_or_default(),
            Self::Joined(data) => data,
        }
    }

    /// Whether the bytes were joined from several slots (a copy).
    #[cfg(test)]
    pub(super) fn joined(&self) -> bool {
        matches!(self, Self::Joined(_))
    }
}

impl<R: Remote> RemoteFs<R> {
    /// Open the remote file at `path` (relative) and join the read cache of its inode (a new
    /// one when none is open or the file changed since); returns the new file handle.
    pub(super) fn open_file(&self, path: String, flags: OpenFlags, ino: u64) -> Result<u64, Errno> {
        let remote_path = self.remote_path(&path);
        let (handle, attrs) = self
            .open_remote(remote_path, flags)
            .map_err(|e| errno(&e))?;
        let version = (attrs.mtime, attrs.size);
        lock(&self.seen).insert(ino, version);
        self.buffers.opened();
        let id = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let file = OpenFile {
            remote: Arc::clone(&self.remote),
            buffers: Arc::clone(&self.buffers),
            handle: Some(handle),
            id,
            path,
            size: AtomicU64::new(attrs.size),
            planner: Mutex::new(Planner::new(self.readahead)),
            cache: self.file_cache(ino, version),
        };
        lock(&self.files).insert(id, Arc::new(file));
        Ok(id)
    }

    /// Open a remote file and read its attributes: on this thread when the remote answers by
    /// the mount's timeout by itself and the connection needs no remaking, else on a worker.
    fn open_remote(
        &self,
        remote_path: String,
        flags: OpenFlags,
    ) -> Result<(R::Handle, Attrs), RemoteError> {
        if !self.needs_reconnect.load(Ordering::Acquire)
            && let Some(result) = self
                .remote
                .open_stat_by(&remote_path, flags, self.deadline())
        {
            if matches!(result, Err(RemoteError::Disconnected)) {
                self.needs_reconnect.store(true, Ordering::Release);
            }
            return result;
        }
        self.call(move |remote| remote.open_stat(&remote_path, flags))
    }

    /// The read cache of inode `ino` for one more handle: the one open handles share, unless
    /// the remote file's `version` changed since it was filled.
    fn file_cache(&self, ino: u64, version: (SystemTime, u64)) -> Arc<FileCache> {
        let mut caches = lock(&self.caches);
        caches.retain(|_, cache| cache.strong_count() > 0);
        let cache = caches
            .get(&ino)
            .and_then(Weak::upgrade)
            .filter(|cache| cache.version == version)
            .unwrap_or_else(|| {
                let cache = Arc::new(FileCache {
                    extents: Mutex::new(Extents::default()),
                    users: AtomicUsize::new(0),
                    version,
                });
                caches.insert(ino, Arc::downgrade(&cache));
                cache
            });
        cache.users.fetch_add(1, Ordering::Relaxed);
        cache
    }

    /// The open flags: the page cache is kept across opens only while the remote file's mtime
    /// and size are what the last open saw (`attrs_before`); `direct_io` bypasses it.
    pub(super) fn open_flags(
        &self,
        ino: u64,
        attrs_before: Option<(SystemTime, u64)>,
    ) -> FopenFlags {
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

    pub(super) fn file(&self, fh: FileHandle) -> Result<Arc<OpenFile<R>>, Errno> {
        lock(&self.files).get(&fh.0).cloned().ok_or(Errno::EBADF)
    }

    /// Serve `size` bytes at `offset` of an open file from its extents, fetching what is
    /// missing and what the planner wants ahead.
    pub(super) fn read_at(
        &self,
        fh: FileHandle,
        offset: u64,
        size: u32,
    ) -> Result<Served, RemoteError> {
        let file = self.file(fh).map_err(|_| RemoteError::NotFound)?;
        let (plan, needed) = self.request(&file, offset, size);
        gather(&file, &plan, needed, self.deadline())
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.options.timeout
    }

    /// Plan a read, start the reads of every part it needs or the window wants that no slot
    /// holds yet, and return the plan with the slots that hold the read's bytes.
    fn request(&self, file: &Arc<OpenFile<R>>, offset: u64, size: u32) -> (Plan, Vec<Arc<Slot>>) {
        // The size seen at open may be stale (the file grew): the read itself is always asked
        // for, only the read-ahead stops at the known size.
        let known = file.size.load(Ordering::Relaxed);
        let end = offset.saturating_add(u64::from(size));
        let fetched_ahead = lock(&file.cache.extents)
            .at(offset)
            .is_some_and(|slot| slot.owner == file.id);
        let plan = lock(&file.planner).plan(offset, u64::from(size), known.max(end), fetched_ahead);
        let mut batch = Vec::new();
        let mut extents = lock(&file.cache.extents);
        for gap in extents.gaps(plan.needed.clone()) {
            self.fetch(&mut extents, gap, plan.needed.start, file.id, &mut batch);
        }
        let needed: Vec<Arc<Slot>> = extents
            .covering(plan.needed.clone())
            .into_iter()
            .cloned()
            .collect();
        // The window is topped up a quarter at a time, not a piece per read: each top-up
        // is one packet through ssh, sshd and the server, all of which wake for it.
        let ahead = plan.ahead.start..plan.ahead.end.min(known).max(plan.ahead.start);
        let gaps = extents.gaps(ahead.clone());
        let missing: u64 = gaps.iter().map(|gap| gap.end - gap.start).sum();
        let quarter = (plan.ahead.end - plan.ahead.start).div_ceil(4);
        if missing > 0 && (missing >= quarter || ahead.end == known) {
            for gap in gaps {
                self.fetch(&mut extents, gap, ahead.start, file.id, &mut batch);
            }
        }
        let users = file.cache.users.load(Ordering::Relaxed);
        if plan.sequential && users == 1 {
            // A stream never comes back to bytes well behind it that it has read whole; the
            // rest is still to come (the kernel's requests arrive out of order). With several
            // handles open, another reader may still want them: the bound decides.
            let behind = plan.needed.start.saturating_sub(2 * self.readahead.chunk);
            extents.drop_behind(behind, |slot| {
                slot.served.load(Ordering::Relaxed) >= slot.len
            });
        }
        extents.evict(capacity(self.readahead, users));
        // Started before the lock is let go, so reads go out in the order of the file.
        self.start_reads(file, batch);
        drop(extents);
        (plan, needed)
    }

    /// Make the slots of `gap` (no slot holds any of it), cut into pieces of at most a chunk
    /// that line up with reads from `anchor` on, and add their reads to `batch` (started by
    /// [`Self::start_reads`]).
    fn fetch(
        &self,
        extents: &mut Extents<Arc<Slot>>,
        gap: Range<u64>,
        anchor: u64,
        owner: u64,
        batch: &mut Vec<BackgroundRead>,
    ) {
        for piece in pieces(gap, anchor, self.readahead.chunk) {
            let slot = Arc::new(Slot::new(&piece, owner));
            extents.insert(Arc::clone(&slot));
            let done: ReadDone = {
                let buffers = Arc::clone(&self.buffers);
                let needs_reconnect = Arc::clone(&self.needs_reconnect);
                Box::new(move |result| {
                    if matches!(result, Err(RemoteError::Disconnected)) {
                        needs_reconnect.store(true, Ordering::Release);
                    }
                    slot.fill(result.map(|(buffer, len)| buffers.chunk(buffer, len)));
                })
            };
            let buffer = self
                .buffers
                .take(usize::try_from(piece.end - piece.start).unwrap_or(usize::MAX));
            batch.push(BackgroundRead {
                offset: piece.start,
                buffer,
                done,
            });
        }
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
}

/// Wait for the slots that hold a read's bytes (until `deadline`) and cut the bytes from them.
fn gather<R: Remote>(
    file: &OpenFile<R>,
    plan: &Plan,
    needed: Vec<Arc<Slot>>,
    deadline: Instant,
) -> Result<Served, RemoteError> {
    let Range { start, end } = plan.needed;
    let mut pieces: Vec<(Arc<Chunk>, usize, usize)> = Vec::with_capacity(needed.len());
    for slot in needed {
        let data = match slot.wait(deadline) {
            Ok(data) => data,
            Err(error) => {
                // Ask again next time instead of serving the failure from the cache.
                lock(&file.cache.extents).remove_if(slot.start, |s| Arc::ptr_eq(s, &slot));
                return Err(error);
            }
        };
        let from = usize::try_from(start.saturating_sub(slot.start)).unwrap_or(usize::MAX);
        let to = usize::try_from(end.min(slot.end()) - slot.start).unwrap_or(usize::MAX);
        let to = to.min(data.len());
        let short = (data.len() as u64) < slot.len;
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
