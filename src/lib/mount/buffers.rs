//! Chunk buffers used again instead of allocated anew.
//!
//! A chunk of a mounted file (a MiB by default) lives a few milliseconds: it is fetched,
//! handed to the kernel once or twice, and dropped. A fresh buffer of that size costs a pass
//! that zeroes it and, once the allocator has returned the memory to the system, a page fault
//! for every 4 KiB page: measured in a sequential read, about a tenth of the mount's CPU time.
//! A [`Chunk`] that is dropped gives its buffer back to its [`Buffers`], which keeps a bounded
//! number for the next fetch, with whatever bytes they held: only the part a read filled is
//! ever shown ([`Chunk::bytes`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The buffers of one mount, all of one size.
#[derive(Debug)]
pub struct Buffers {
    size: usize,
    keep: usize,
    free: Mutex<Pool>,
}

/// The buffers waiting, and how many files are open: with none open, none are kept (an idle
/// mount holds no chunk memory).
#[derive(Debug, Default)]
struct Pool {
    waiting: Vec<Vec<u8>>,
    users: usize,
}

impl Buffers {
    /// Buffers of `size` bytes; at most `keep` of them wait for reuse.
    #[must_use]
    pub fn new(size: usize, keep: usize) -> Arc<Self> {
        Arc::new(Self {
            size,
            keep,
            free: Mutex::new(Pool::default()),
        })
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A file was opened: buffers are kept for it.
    pub fn opened(&self) {
        self.pool().users += 1;
    }

    /// A file was closed; after the last, the waiting buffers are let go.
    pub fn closed(&self) {
        let waiting = {
            let mut pool = self.pool();
            pool.users = pool.users.saturating_sub(1);
            if pool.users > 0 {
                return;
            }
            std::mem::take(&mut pool.waiting)
        };
        drop(waiting);
    }

    /// A buffer for `len` bytes. A whole chunk's is one used before, or new (zeroed once, when
    /// it is new). A shorter piece (a small file, the ends of an unaligned read) gets a new
    /// buffer of its own length: a chunk's buffer would cost zeroing a whole chunk, a MiB of
    /// writes for a 16 KiB file, when it is new or grows back.
    #[must_use]
    pub fn take(&self, len: usize) -> Vec<u8> {
        if len != self.size {
            return vec![0; len];
        }
        let used = self.pool().waiting.pop();
        used.unwrap_or_else(|| vec![0; self.size])
    }

    /// Wrap a buffer of which the first `len` bytes hold data; it comes back here when the
    /// chunk is dropped.
    #[must_use]
    pub fn chunk(self: &Arc<Self>, buffer: Vec<u8>, len: usize) -> Chunk {
        Chunk {
            len: len.min(buffer.len()),
            buffer,
            home: Arc::clone(self),
        }
    }

    /// Take back a buffer: kept when it was made for the size (a read shorter than a chunk
    /// truncates one; it grows back here), a file is open and fewer than the bound wait.
    pub fn give_back(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() != self.size {
            return;
        }
        let mut pool = self.pool();
        if pool.users > 0 && pool.waiting.len() < self.keep {
            buffer.resize(self.size, 0);
            pool.waiting.push(buffer);
        }
    }

    /// How many buffers wait for reuse.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.pool().waiting.len()
    }
}

/// The data of one chunk; its buffer goes back to its [`Buffers`] when dropped.
#[derive(Debug)]
pub struct Chunk {
    buffer: Vec<u8>,
    len: usize,
    home: Arc<Buffers>,
}

impl Chunk {
    /// The bytes read.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        self.buffer.get(..self.len).unwrap_or_default()
    }

    /// How many bytes were read.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was read (the chunk is at or past the end of the file).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.home.give_back(std::mem::take(&mut self.buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_chunk_gives_its_buffer_back_while_a_file_is_open() {
        let buffers = Buffers::new(8, 2);
        buffers.opened();
        let mut first = buffers.take(8);
        first.copy_from_slice(b"abcdefgh");
        let chunks: Vec<Chunk> = (0..3)
            .map(|i| {
                buffers.chunk(
                    if i == 0 {
                        first.clone()
                    } else {
                        buffers.take(8)
                    },
                    3,
                )
            })
            .collect();
        assert_eq!(chunks[0].bytes(), b"abc", "only the bytes read are shown");
        assert_eq!(buffers.waiting(), 0);
        drop(chunks);
        assert_eq!(buffers.waiting(), 2, "no more than the bound waits");
        // A used buffer comes back with its old bytes; the chunk shows only what is read anew.
        let again = buffers.take(8);
        assert_eq!(again.len(), 8);
        let chunk = buffers.chunk(again, 0);
        assert!(chunk.is_empty() && chunk.bytes().is_empty());
        drop(chunk);
        drop(buffers.chunk(vec![0; 5], 5));
        assert_eq!(buffers.waiting(), 2, "a buffer of another size is not kept");
        let mut short = buffers.take(8);
        short.truncate(3);
        buffers.give_back(short);
        let grown = buffers.take(8);
        assert_eq!(grown.len(), 8, "a truncated buffer grows back");
        buffers.give_back(grown);
        let piece = buffers.take(3);
        assert_eq!(
            piece.len(),
            3,
            "a piece shorter than a chunk gets its own length"
        );
        assert_eq!(buffers.waiting(), 2, "and none of the waiting buffers");
        drop(buffers.chunk(piece, 3));
        assert_eq!(buffers.waiting(), 2, "nor is it kept");
        buffers.opened();
        buffers.closed();
        assert_eq!(buffers.waiting(), 2, "a file is still open");
        let late = buffers.take(8);
        buffers.closed();
        assert_eq!(buffers.waiting(), 0, "the last close lets every buffer go");
        buffers.give_back(late);
        assert_eq!(
            buffers.waiting(),
            0,
            "nor is one kept that comes back later"
        );
    }
}
