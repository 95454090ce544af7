//! The read-ahead planner: which chunks of a file one read needs, and which to fetch ahead.
//!
//! A file is cut into fixed chunks (the size of one remote read request). Each open file has a
//! [`Planner`] that watches where reads land. A read that starts near where the last one ended
//! continues a sequential stream: the window of chunks fetched ahead doubles, from
//! [`Config::initial_window`] up to [`Config::max_window`], so a stream soon has many requests in
//! flight. A read elsewhere is random: the window is dropped and only the chunks the read covers
//! are fetched, all at once, so a large random read (16 MiB) becomes parallel requests.
//! The kernel may deliver the reads of one stream slightly out of order (several FUSE threads,
//! asynchronous read-ahead), so "near" allows a slack of two chunks or one read length.
//!
//! The planner is pure: the filesystem does the fetching ([`super::fs`]).

use std::ops::Range;

/// Sizes the planner works with, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bytes per remote request (one chunk).
    pub chunk: u64,
    /// The window a sequential stream starts with.
    pub initial_window: u64,
    /// The largest window (`--readahead`).
    pub max_window: u64,
}

impl Config {
    /// A configuration with sane relations: chunk at least 4 KiB, windows at least a chunk,
    /// the initial window at most the largest.
    #[must_use]
    pub fn new(chunk: u64, max_window: u64) -> Self {
        let chunk = chunk.max(4096);
        let max_window = max_window.max(chunk);
        Self {
            chunk,
            initial_window: (2 * chunk).min(max_window),
            max_window,
        }
    }
}

/// What one read needs: chunk indices to wait for, and chunk indices to start fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Chunks the read covers (wait for them).
    pub needed: Range<u64>,
    /// Chunks after them to fetch ahead (do not wait).
    pub ahead: Range<u64>,
    /// Whether the read continued a sequential stream.
    pub sequential: bool,
}

/// The read pattern of one open file.
#[derive(Debug, Clone)]
pub struct Planner {
    config: Config,
    /// Where the stream is expected to continue (the furthest end of its reads).
    next: u64,
    /// Bytes currently fetched ahead of a sequential stream (0 when random).
    window: u64,
}

impl Planner {
    /// A planner for a file nobody read yet (a first read at offset 0 counts as sequential).
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            next: 0,
            window: 0,
        }
    }

    /// The current read-ahead window in bytes.
    #[must_use]
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Plan a read of `len` bytes at `offset` in a file of `size` bytes.
    pub fn plan(&mut self, offset: u64, len: u64, size: u64) -> Plan {
        let chunk = self.config.chunk;
        let end = offset.saturating_add(len).min(size);
        if len == 0 || offset >= size {
            return Plan {
                needed: 0..0,
                ahead: 0..0,
                sequential: false,
            };
        }
        let slack = (2 * chunk).max(len);
        let sequential = offset.abs_diff(self.next) <= slack;
        if sequential {
            self.window = if self.window == 0 {
                self.config.initial_window
            } else {
                self.window.saturating_mul(2).min(self.config.max_window)
            };
            self.next = self.next.max(end);
        } else {
            self.window = 0;
            self.next = end;
        }
        let needed = offset / chunk..(end - 1) / chunk + 1;
        let ahead_end = end.saturating_add(self.window).min(size);
        let ahead = if ahead_end > end {
            needed.end..ahead_end.div_ceil(chunk).max(needed.end)
        } else {
            needed.end..needed.end
        };
        Plan {
            needed,
            ahead,
            sequential,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;
    const M: u64 = 1024 * 1024;

    fn planner() -> Planner {
        Planner::new(Config::new(512 * K, 16 * M))
    }

    #[test]
    fn a_sequential_stream_grows_its_window_to_the_maximum() {
        let mut planner = planner();
        let size = 1024 * M;
        let mut windows = Vec::new();
        let mut offset = 0;
        for _ in 0..10 {
            let plan = planner.plan(offset, 128 * K, size);
            assert!(plan.sequential);
            windows.push(planner.window());
            offset += 128 * K;
        }
        assert_eq!(windows[0], M);
        assert!(windows.windows(2).all(|w| w[1] >= w[0]), "{windows:?}");
        assert_eq!(*windows.last().unwrap(), 16 * M);
        // With the full window, the plan reaches 16 MiB past the read.
        let plan = planner.plan(offset, 128 * K, size);
        let read_end = offset + 128 * K;
        assert_eq!(plan.ahead.end, (read_end + 16 * M).div_ceil(512 * K));
    }

    #[test]
    fn a_random_read_resets_the_window_and_fetches_only_what_it_covers() {
        let mut planner = planner();
        let size = 4096 * M;
        planner.plan(0, M, size);
        planner.plan(M, M, size);
        assert!(planner.window() > 0);
        let plan = planner.plan(1000 * M, 16 * M, size);
        assert!(!plan.sequential);
        assert_eq!(planner.window(), 0);
        assert_eq!(plan.needed, 2000..2032, "16 MiB in 512 KiB requests");
        assert!(plan.ahead.is_empty());
    }

    #[test]
    fn reads_slightly_out_of_order_stay_sequential() {
        let mut planner = planner();
        let size = 64 * M;
        assert!(planner.plan(0, 128 * K, size).sequential);
        assert!(planner.plan(256 * K, 128 * K, size).sequential);
        assert!(planner.plan(128 * K, 128 * K, size).sequential);
        assert!(planner.plan(384 * K, 128 * K, size).sequential);
    }

    #[test]
    fn plans_stop_at_the_end_of_the_file() {
        let mut planner = planner();
        let size = 1300 * K;
        let plan = planner.plan(0, 128 * K, size);
        assert_eq!(plan.needed, 0..1);
        assert_eq!(plan.ahead, 1..3, "the last chunk is partial");
        let plan = planner.plan(1200 * K, 512 * K, size);
        assert_eq!(plan.needed, 2..3);
        assert!(plan.ahead.is_empty());
        let plan = planner.plan(size, 4 * K, size);
        assert!(plan.needed.is_empty());
    }

    #[test]
    fn a_jump_back_to_a_new_stream_starts_a_new_window() {
        let mut planner = planner();
        let size = 1024 * M;
        for i in 0..8 {
            planner.plan(i * M, M, size);
        }
        let plan = planner.plan(500 * M, M, size);
        assert!(!plan.sequential);
        let plan = planner.plan(501 * M, M, size);
        assert!(plan.sequential);
        assert_eq!(planner.window(), M, "starts again from the initial window");
    }

    proptest::proptest! {
        #[test]
        fn needed_chunks_cover_exactly_the_read(
            offset in 0u64..(64 * M),
            len in 1u64..(20 * M),
            size in 1u64..(80 * M),
        ) {
            let mut planner = planner();
            let chunk = 512 * K;
            let plan = planner.plan(offset, len, size);
            if offset >= size {
                proptest::prop_assert!(plan.needed.is_empty());
            } else {
                let end = (offset + len).min(size);
                proptest::prop_assert!(plan.needed.start * chunk <= offset);
                proptest::prop_assert!(plan.needed.end * chunk >= end);
                proptest::prop_assert!((plan.needed.end - 1) * chunk < end);
                proptest::prop_assert_eq!(plan.ahead.start, plan.needed.end);
                proptest::prop_assert!(plan.ahead.end * chunk < size + chunk);
            }
        }
    }
}
