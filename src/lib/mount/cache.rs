//! The read cache of open files: the chunks of each open file, fetched ahead as the
//! [`readahead`](super::readahead) planner says, and served to the kernel's reads.
//!
//! A file is read in fixed chunks (one remote read request each). Every open file keeps the
//! chunks it fetched, at most [`chunks_per_file`] of them, oldest dropped first, as [`Slot`]s
//! that a read waits on until the remote answers or the mount's timeout passes. A read asks
//! the planner which chunks it needs and which to fetch ahead, starts the reads of the chunks
//! not yet asked for in one batch (in the background when the remote can: no thread waits for
//! them), and then waits for its own chunks. A failed chunk is not kept, so the next read asks
//! again. Writes and truncation drop a file's chunks.
//!
//! These are methods of the filesystem ([`RemoteFs`]) because they share its buffers, worker
//! pool, reconnect flag and options; `fs.rs` has the FUSE side.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Instant, SystemTime};

use fuser::{Errno, FileHandle, FopenFlags};

use super::buffers::{Buffers, Chunk};
use super::fs::{RemoteFs, errno, lock};
use super::readahead::{Config, Plan, Planner};
use super::remote::{BackgroundRead, OpenFlags, ReadDone, Remote, RemoteError, guarded};

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
pub(super) struct OpenFile<R: Remote> {
    remote: Arc<R>,
    buffers: Arc<Buffers>,
    handle: Option<R::Handle>,
    /// Its path relative to the mount's root.
    pub(super) path: String,
    /// Its size as far as this mount knows (at open, and grown by writes).
    pub(super) size: AtomicU64,
    planner: Mutex<Planner>,
    chunks: Mutex<Chunks>,
}

impl<R: Remote> OpenFile<R> {
    pub(super) fn handle(&self) -> Result<&R::Handle, RemoteError> {
        self.handle
            .as_ref()
            .ok_or_else(|| RemoteError::Failure("the file is closed".into()))
    }

    /// Drop the cached chunks: the file changed.
    pub(super) fn forget_chunks(&self) {
        lock(&self.chunks).clear();
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

/// How many chunks an open file keeps: two read-ahead windows and 16 MiB for the reads
/// that come back to a block (four readers of 16 MiB blocks, say).
pub(super) fn chunks_per_file(readahead: Config) -> usize {
    usize::try_from((2 * readahead.max_window + 16 * 1024 * 1024) / readahead.chunk).unwrap_or(64)
}

/// The bytes of one read: part of a single cached chunk (answered without a copy), or the
/// parts of several chunks joined.
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
}

impl<R: Remote> RemoteFs<R> {
    /// Open the remote file at `path` (relative) and give it an empty read cache; returns the
    /// new file handle.
    pub(super) fn open_file(&self, path: String, flags: OpenFlags, ino: u64) -> Result<u64, Errno> {
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
        let capacity = chunks_per_file(self.readahead);
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

    /// Serve `size` bytes at `offset` of an open file from its chunks, fetching what is missing
    /// and what the planner wants ahead.
    pub(super) fn read_at(
        &self,
        fh: FileHandle,
        offset: u64,
        size: u32,
    ) -> Result<Served, RemoteError> {
        let file = self.file(fh).map_err(|_| RemoteError::NotFound)?;
        let (plan, needed) = self.request(&file, offset, size);
        gather(
            &file,
            &plan,
            needed,
            offset,
            size,
            self.deadline(),
            self.readahead.chunk,
        )
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.options.timeout
    }

    /// Plan a read, start the reads of every chunk it needs or the window wants that is not
    /// cached yet, and return the plan with the slots of the chunks the read covers.
    fn request(&self, file: &Arc<OpenFile<R>>, offset: u64, size: u32) -> (Plan, Vec<Arc<Slot>>) {
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
        self.start_reads(file, batch);
        drop(chunks);
        (plan, needed)
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
}

/// Wait for the chunks a read covers (until `deadline`) and cut the read's bytes from them.
fn gather<R: Remote>(
    file: &OpenFile<R>,
    plan: &Plan,
    needed: Vec<Arc<Slot>>,
    offset: u64,
    size: u32,
    deadline: Instant,
    chunk: u64,
) -> Result<Served, RemoteError> {
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
