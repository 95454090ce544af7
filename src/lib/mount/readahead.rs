//! The read-ahead planner: which bytes of a file one read needs, and which to fetch ahead.
//!
//! The planner works in bytes, not on a grid: a read that starts anywhere needs exactly its
//! own bytes, and the window ahead starts where the read ends. The cache ([`super::cache`])
//! cuts what is missing into pieces of at most one chunk (the size of one remote read request)
//! starting where each gap starts, so the pieces follow the reads' offsets: the kernel's
//! requests of a stream that started at any offset are each served from one piece, and a
//! random read fetches nothing it does not read. Each open file has a [`Planner`] that
//! watches where reads land. A read that starts near where the last one ended
//! continues a sequential stream: the window of chunks fetched ahead doubles, from
//! [`Config::initial_window`] up to [`Config::max_window`], so a stream soon has many requests in
//! flight. A read elsewhere is random: the window is dropped and only the chunks the read covers
//! are fetched, all at once, so a large random read (16 MiB) becomes parallel requests.
//! The kernel delivers the reads of one stream out of order: slightly (several FUSE threads), and
//! far, when its own asynchronous read-ahead runs tens of megabytes ahead of a request still
//! waiting to be served. So "near" allows a slack of two chunks or one read length, and a read
//! whose first chunk was already fetched ahead continues the stream wherever it lands (the
//! caller knows its cache and says so).
//!
//! A reader that reads blocks of a fixed size at random places (16 MiB records, which the
//! kernel hands over as 1 MiB requests one after the other) looks sequential inside each block,
//! and a window grown there would fetch megabytes past the block's end for nothing (docs/sshfs.md,
//! "Figures", has what that cost before the planner knew blocks). So the planner remembers how long
//! the last few sequential runs were when a jump ended them, takes their median as the block size
//! (two blocks picked next to each other make one run of twice the size, and a request the kernel
//! sent out of order can cut a run short), and reads ahead no further than the end of the block the
//! read is in. A run longer than [`STREAM_AFTER_BLOCKS`] blocks is a stream again and gets the
//! whole window.
//!
//! The planner is pure: the filesystem does the fetching ([`super::fs`]).

use std::ops::Range;

use super::Options;

/// How many sequential runs the planner remembers to guess the block size of random reads.
const RUNS_KEPT: usize = 8;
/// A run longer than this many blocks is a stream, not blocks read one after the other.
pub const STREAM_AFTER_BLOCKS: u64 = 4;

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

/// What one read needs: bytes to wait for, and bytes to start fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The bytes the read covers, cut at the end of the file (wait for them).
    pub needed: Range<u64>,
    /// The bytes after them to fetch ahead (do not wait); starts at `needed.end`.
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
    /// Where the current sequential run started.
    run_start: u64,
    /// How long the last runs that a jump ended were (bytes; 0 for none yet), newest at
    /// `runs_next - 1`.
    runs: [u64; RUNS_KEPT],
    runs_next: usize,
}

impl Planner {
    /// A planner for a file nobody read yet (a first read at offset 0 counts as sequential).
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            next: 0,
            window: 0,
            run_start: 0,
            runs: [0; RUNS_KEPT],
            runs_next: 0,
        }
    }

    /// The block size random reads seem to use: the median of the recent runs, if there was one.
    fn block(&self) -> Option<u64> {
        let mut runs: Vec<u64> = self.runs.iter().copied().filter(|&run| run > 0).collect();
        if runs.is_empty() {
            return None;
        }
        // The lower median: of two runs, the shorter.
        let middle = (runs.len() - 1) / 2;
        Some(*runs.select_nth_unstable(middle).1)
    }

    /// The current read-ahead window in bytes.
    #[must_use]
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Plan a read of `len` bytes at `offset` in a file of `size` bytes; `fetched_ahead` says
    /// whether its first byte was already fetched for an earlier read of this file.
    pub fn plan(&mut self, offset: u64, len: u64, size: u64, fetched_ahead: bool) -> Plan {
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
        // A read that ends before the furthest one is a request left behind: the reads in front
        // of it already fetched what lies ahead (and may have let go of it since).
        let left_behind = end <= self.next;
        let sequential = fetched_ahead || offset.abs_diff(self.next) <= slack;
        if sequential {
            self.window = if self.window == 0 {
                self.config.initial_window
            } else {
                self.window.saturating_mul(2).min(self.config.max_window)
            };
            self.next = self.next.max(end);
        } else {
            let run = self.next.saturating_sub(self.run_start);
            if run > 0 {
                self.runs[self.runs_next % RUNS_KEPT] = run;
                self.runs_next = (self.runs_next + 1) % RUNS_KEPT;
            }
            self.window = 0;
            self.next = end;
            self.run_start = offset;
        }
        let needed = offset..end;
        let mut ahead_end = end.saturating_add(self.window).min(size);
        if let Some(block) = self.block() {
            // Expect the run to end at the end of the block the read is in, unless it is long
            // enough to be a stream.
            let blocks = end.saturating_sub(self.run_start).div_ceil(block).max(1);
            if blocks <= STREAM_AFTER_BLOCKS {
                ahead_end = ahead_end.min(self.run_start.saturating_add(blocks * block));
            }
        }
        let ahead = if ahead_end > end && !(sequential && left_behind) {
            end..ahead_end
        } else {
            end..end
        };
        Plan {
            needed,
            ahead,
            sequential,
        }
    }
}

/// The largest window red reads ahead of a stream by itself. With the page cache, and the
/// kernel's read-ahead raised to `--readahead` (`kernel` says it can be: see
/// [`kernel_readahead_settable`]), the kernel already asks for every window ahead, up to 16
/// requests at once: a window of red's own on top fetched what the kernel had cached or would
/// never ask for (a random 16 MiB read at any page is handed over as a stream of requests, and
/// red read ahead past its end). Then red reads one chunk ahead. Without the page cache, or
/// with the kernel's 128 KiB default, red's window is the read-ahead. docs/sshfs.md ("Reads at
/// any offset, mixed sizes, overlapping readers; the default") has what was measured and what
/// was only reasoned.
pub(super) fn own_window(options: &Options, kernel: bool) -> u64 {
    if !options.direct_io && options.kernel_readahead && kernel {
        options.chunk
    } else {
        options.readahead
    }
}

/// Whether the mount's kernel read-ahead can be raised: as root, with `/sys` writable (in a
/// container it is often mounted read-only, and the kernel then keeps 128 KiB).
pub(super) fn kernel_readahead_settable() -> bool {
    rustix::process::geteuid().is_root()
        && rustix::fs::statvfs("/sys/class/bdi")
            .is_ok_and(|stat| !stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
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
            let plan = planner.plan(offset, 128 * K, size, false);
            assert!(plan.sequential);
            windows.push(planner.window());
            offset += 128 * K;
        }
        assert_eq!(windows[0], M);
        assert!(windows.windows(2).all(|w| w[1] >= w[0]), "{windows:?}");
        assert_eq!(*windows.last().unwrap(), 16 * M);
        // With the full window, the plan reaches 16 MiB past the read.
        let plan = planner.plan(offset, 128 * K, size, false);
        let read_end = offset + 128 * K;
        assert_eq!(plan.ahead.end, read_end + 16 * M);
    }

    #[test]
    fn a_random_read_resets_the_window_and_fetches_only_what_it_covers() {
        let mut planner = planner();
        let size = 4096 * M;
        planner.plan(0, M, size, false);
        planner.plan(M, M, size, false);
        assert!(planner.window() > 0);
        let plan = planner.plan(1000 * M, 16 * M, size, false);
        assert!(!plan.sequential);
        assert_eq!(planner.window(), 0);
        assert_eq!(plan.needed, 1000 * M..1016 * M, "exactly the read");
        assert!(plan.ahead.is_empty());
    }

    #[test]
    fn reads_slightly_out_of_order_stay_sequential() {
        let mut planner = planner();
        let size = 64 * M;
        assert!(planner.plan(0, 128 * K, size, false).sequential);
        assert!(planner.plan(256 * K, 128 * K, size, false).sequential);
        assert!(planner.plan(128 * K, 128 * K, size, false).sequential);
        assert!(planner.plan(384 * K, 128 * K, size, false).sequential);
    }

    #[test]
    fn a_read_of_bytes_fetched_ahead_continues_the_stream_wherever_it_lands() {
        let mut planner = planner();
        let size = 1024 * M;
        for i in 0..32 {
            planner.plan(i * M, M, size, false);
        }
        // The kernel's own read-ahead got far ahead; a request it left behind comes in now.
        let window = planner.window();
        let plan = planner.plan(8 * M, M, size, true);
        assert!(plan.sequential);
        assert_eq!(planner.window(), window, "the window is not reset");
        assert!(
            plan.ahead.is_empty(),
            "the reads in front fetched ahead already"
        );
        // The same read of bytes that were never fetched is a jump.
        let plan = planner.plan(8 * M, M, size, false);
        assert!(!plan.sequential);
    }

    #[test]
    fn plans_stop_at_the_end_of_the_file() {
        let mut planner = planner();
        let size = 1300 * K;
        let plan = planner.plan(0, 128 * K, size, false);
        assert_eq!(plan.needed, 0..128 * K);
        assert_eq!(plan.ahead, 128 * K..128 * K + M, "the first window");
        let plan = planner.plan(1200 * K, 512 * K, size, false);
        assert_eq!(plan.needed, 1200 * K..size, "the read is cut at the end");
        assert!(plan.ahead.is_empty(), "nothing past the end");
        let plan = planner.plan(size, 4 * K, size, false);
        assert!(plan.needed.is_empty());
    }

    #[test]
    fn a_jump_back_to_a_new_stream_starts_a_new_window() {
        let mut planner = planner();
        let size = 1024 * M;
        for i in 0..8 {
            planner.plan(i * M, M, size, false);
        }
        let plan = planner.plan(500 * M, M, size, false);
        assert!(!plan.sequential);
        let plan = planner.plan(501 * M, M, size, false);
        assert!(plan.sequential);
        assert_eq!(planner.window(), M, "starts again from the initial window");
    }

    #[test]
    fn blocks_read_at_random_places_are_not_read_past_their_end() {
        let mut planner = planner();
        let size = 4096 * M;
        // A 16 MiB block read as 1 MiB requests one after the other, then a jump.
        let mut ahead_end = 0;
        for i in 0..16 {
            ahead_end = planner.plan(100 * M + i * M, M, size, false).ahead.end;
        }
        assert!(ahead_end > 116 * M, "the first block still reads ahead");
        // The next blocks: read ahead inside the block, never past its end.
        for block in [2000 * M, 48 * M, 3000 * M] {
            let first = planner.plan(block, M, size, false);
            assert!(!first.sequential);
            for i in 1..16 {
                let plan = planner.plan(block + i * M, M, size, false);
                assert!(plan.sequential);
                assert!(
                    plan.ahead.end <= block + 16 * M,
                    "block at {block}: read {i} fetches up to {}",
                    plan.ahead.end
                );
            }
        }
        // Two blocks next to each other: the second is not read past its end either.
        let start = 1000 * M;
        planner.plan(start, M, size, false);
        for i in 1..32 {
            let plan = planner.plan(start + i * M, M, size, false);
            assert!(plan.ahead.end <= start + 32 * M, "read {i}");
        }
        // A run longer than a few blocks is a stream again: the whole window.
        let mut plan = planner.plan(start + 32 * M, M, size, false);
        for i in 33..80 {
            plan = planner.plan(start + i * M, M, size, false);
        }
        assert_eq!(plan.ahead.end, start + 80 * M + 16 * M);
    }

    #[test]
    fn a_run_cut_short_does_not_shrink_the_block_size() {
        let mut planner = planner();
        let size = 4096 * M;
        for (n, at) in [100, 300, 500].into_iter().enumerate() {
            for i in 0..16 {
                planner.plan((at + i) * M, M, size, n > 0 && i > 0);
            }
        }
        // Two short runs: requests that came out of order.
        planner.plan(700 * M, M, size, false);
        planner.plan(701 * M, M, size, false);
        planner.plan(900 * M, M, size, false);
        // The next block reads ahead to its end, with no stop on the way.
        let start = 2000 * M;
        planner.plan(start, M, size, false);
        let plan = planner.plan(start + M, M, size, false);
        let plan = (2..6).fold(plan, |_, i| planner.plan(start + i * M, M, size, true));
        assert_eq!(plan.ahead.end, start + 16 * M);
    }

    #[test]
    fn two_blocks_read_one_after_the_other_do_not_raise_the_block_size() {
        let mut planner = planner();
        let size = 4096 * M;
        let read_block = |planner: &mut Planner, at: u64, blocks: u64| -> u64 {
            let mut furthest = 0;
            for i in 0..16 * blocks {
                furthest = furthest.max(planner.plan(at + i * M, M, size, false).ahead.end);
            }
            furthest
        };
        read_block(&mut planner, 100 * M, 1);
        // Blocks at 200 and 216 MiB, read one after the other, make one 32 MiB run.
        read_block(&mut planner, 200 * M, 2);
        // The next block is still taken to be 16 MiB long.
        let furthest = read_block(&mut planner, 3000 * M, 1);
        assert!(furthest <= 3016 * M, "fetched up to {furthest}");
    }

    #[test]
    fn red_reads_ahead_by_itself_only_where_the_kernel_does_not() {
        let options = Options::default();
        assert_eq!(
            own_window(&options, true),
            options.chunk,
            "the kernel reads ahead"
        );
        assert_eq!(
            own_window(&options, false),
            options.readahead,
            "128 KiB kernel read-ahead"
        );
        let direct = Options {
            direct_io: true,
            ..Options::default()
        };
        assert_eq!(own_window(&direct, true), direct.readahead, "no page cache");
        let not_raised = Options {
            kernel_readahead: false,
            ..Options::default()
        };
        assert_eq!(own_window(&not_raised, true), not_raised.readahead);
    }

    proptest::proptest! {
        #[test]
        fn the_plan_needs_exactly_the_read_and_fetches_ahead_only_after_it(
            reads in proptest::collection::vec((0u64..(64 * M), 1u64..(20 * M)), 1..12),
            size in 1u64..(80 * M),
        ) {
            let mut planner = planner();
            for (offset, len) in reads {
                let plan = planner.plan(offset, len, size, false);
                if offset >= size {
                    proptest::prop_assert!(plan.needed.is_empty());
                    continue;
                }
                // At any offset: the bytes of the read, none before it, none past the file.
                proptest::prop_assert_eq!(plan.needed.clone(), offset..(offset + len).min(size));
                proptest::prop_assert_eq!(plan.ahead.start, plan.needed.end);
                proptest::prop_assert!(plan.ahead.end <= size.max(plan.needed.end));
                proptest::prop_assert!(plan.ahead.end - plan.ahead.start <= 16 * M);
            }
        }
    }
}
