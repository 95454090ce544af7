//! `red bench io`: read a file in blocks, as the study did (random 16 MiB blocks, one reader or
//! several in parallel), and measure throughput, per-read latency and CPU time.
//!
//! Each reader is a std thread with its own file handle using positional reads (`pread`), so
//! readers never share a file offset. Work is handed out from one atomic byte counter: with
//! `--bytes N` the readers claim exactly `N` bytes between them, so the bytes read are exactly
//! the bytes asked for. Random offsets come from a generator seeded per round and reader, and
//! start on whole blocks (the study's measurement), on any 4 KiB page or at any byte: real
//! readers do not align (an HDF5 chunk starts wherever the library placed it), and a cache
//! tuned on whole blocks can lose on the others. Every random reader reads the whole file, so
//! several readers overlap. With `--min-block`, each read's size is drawn between it and
//! `--block` (uniform over the logarithm: as many 64–128 KiB reads as 8–16 MiB ones).
//! Sequential offsets walk the file in the order the bytes were claimed and wrap at its end. Several targets are measured in alternating rounds so that drift of the machine
//! (other load, thermal) hits them alike.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde::Serialize;

use super::stats::{self, Summary};
use super::sys;

/// Alignment of buffers, offsets and lengths for `O_DIRECT`.
pub const DIRECT_ALIGN: u64 = 4096;

/// Errors of `bench io`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened.
    #[error("cannot open `{}`", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The filesystem refused `O_DIRECT`.
    #[error("the filesystem of `{}` refuses direct I/O (`O_DIRECT`); run without `--direct`", path.display())]
    DirectRefused {
        /// The file.
        path: PathBuf,
        /// The error of `open` or `read`.
        #[source]
        source: std::io::Error,
    },
    /// A read failed.
    #[error("failed to read {length} bytes at offset {offset} of `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Where the read started.
        offset: u64,
        /// How much was asked.
        length: u64,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty or shorter than one aligned block.
    #[error("`{}` is too small to read ({size} bytes)", path.display())]
    TooSmall {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// A count or size option was zero.
    #[error("`{option}` must be at least 1")]
    Zero {
        /// The option, as typed on the command line.
        option: &'static str,
    },
    /// Direct I/O with a size that is not a multiple of the alignment.
    #[error("with `--direct`, `{option}` must be a multiple of {DIRECT_ALIGN}, not {value}")]
    Unaligned {
        /// The option.
        option: &'static str,
        /// Its value.
        value: u64,
    },
    /// Direct I/O with reads that start at any byte.
    #[error(
        "`--align byte` cannot be combined with `--direct` (direct I/O starts reads on 4096-byte pages); use `--align page`"
    )]
    DirectAtAnyByte,
    /// Dropping the page cache failed.
    #[error(transparent)]
    DropCaches(#[from] sys::Error),
    /// A reader thread panicked (a bug in red).
    #[error("a reader thread panicked; this is a bug in red")]
    ReaderPanicked,
}

/// How offsets are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Uniformly random whole blocks (the study's measurement).
    Random,
    /// Consecutive blocks in ticket order, wrapping at the end of the file.
    Sequential,
}

/// Where random reads may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    /// On whole blocks (`k * block`).
    Block,
    /// On any 4 KiB page.
    Page,
    /// At any byte.
    Byte,
}

/// When a round stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// After this much time (the read in flight finishes).
    Duration(Duration),
    /// After exactly this many bytes, across all readers.
    Bytes(u64),
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes per read.
    pub block: u64,
    /// Random or sequential offsets.
    pub pattern: Pattern,
    /// Where random reads may start.
    pub align: Align,
    /// The smallest read when sizes are mixed (each read's size is drawn between this and
    /// `block`); `None`: every read is `block` bytes.
    pub min_block: Option<u64>,
    /// Parallel readers.
    pub readers: usize,
    /// When each round stops.
    pub limit: Limit,
    /// Rounds per target.
    pub rounds: usize,
    /// Open with `O_DIRECT`, bypassing the page cache.
    pub direct: bool,
    /// Drop the page cache before every round (root only).
    pub drop_caches: bool,
    /// Seed of the random offsets.
    pub seed: u64,
}

/// One round on one target.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// Bytes read.
    pub bytes: u64,
    /// Reads issued.
    pub reads: u64,
    /// Wall-clock seconds from the first read to the last.
    pub seconds: f64,
    /// Throughput in MiB/s.
    pub mib_per_second: f64,
    /// CPU seconds the reader threads used, when the kernel tells.
    pub cpu_seconds: Option<f64>,
    /// Latency of each read in milliseconds (not serialised; summarised per target).
    #[serde(skip)]
    pub latencies_ms: Vec<f64>,
}

/// All rounds on one target.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file read.
    pub path: PathBuf,
    /// Its size in bytes.
    pub file_size: u64,
    /// The block size actually used (clamped to the file size).
    pub block: u64,
    /// Each round, in the order run.
    pub rounds: Vec<Round>,
    /// Throughput over rounds, MiB/s.
    pub mib_per_second: Summary,
    /// Latency of single reads over all rounds, milliseconds.
    pub latency_ms: Summary,
    /// Total bytes read over all rounds.
    pub bytes: u64,
    /// CPU seconds of the readers per GiB read, when known.
    pub cpu_seconds_per_gib: Option<f64>,
}

/// Measure each of `paths` for `options.rounds` rounds, alternating between them.
pub fn run(paths: &[PathBuf], options: &Options) -> Result<Vec<Report>, Error> {
    check(options)?;
    let mut targets = Vec::with_capacity(paths.len());
    for path in paths {
        let size = file_size(path)?;
        let block = effective_block(path, size, options)?;
        targets.push((path.clone(), size, block, Vec::new()));
    }
    for round in 0..options.rounds {
        for (path, size, block, rounds) in &mut targets {
            if options.drop_caches {
                sys::drop_caches()?;
            }
            rounds.push(run_round(path, *size, *block, options, round as u64)?);
        }
    }
    Ok(targets
        .into_iter()
        .map(|(path, file_size, block, rounds)| summarise(path, file_size, block, rounds))
        .collect())
}

fn check(options: &Options) -> Result<(), Error> {
    let bytes = match options.limit {
        Limit::Bytes(n) => Some(n),
        Limit::Duration(_) => None,
    };
    for (option, value) in [
        ("--readers", options.readers as u64),
        ("--rounds", options.rounds as u64),
        ("--block", options.block),
        ("--bytes", bytes.unwrap_or(1)),
    ] {
        if value == 0 {
            return Err(Error::Zero { option });
        }
    }
    if options.direct {
        if options.align == Align::Byte {
            return Err(Error::DirectAtAnyByte);
        }
        for (option, value) in [
            ("--block", Some(options.block)),
            ("--bytes", bytes),
            ("--min-block", options.min_block),
        ] {
            if let Some(value) = value.filter(|v| !v.is_multiple_of(DIRECT_ALIGN)) {
                return Err(Error::Unaligned { option, value });
            }
        }
    }
    Ok(())
}

fn file_size(path: &Path) -> Result<u64, Error> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })
}

/// The block clamped to the file (and, for direct I/O, to whole aligned units).
fn effective_block(path: &Path, size: u64, options: &Options) -> Result<u64, Error> {
    let mut block = options.block.min(size);
    if options.direct {
        block -= block % DIRECT_ALIGN;
    }
    if block == 0 {
        return Err(Error::TooSmall {
            path: path.to_owned(),
            size,
        });
    }
    Ok(block)
}

fn open(path: &Path, direct: bool) -> Result<File, Error> {
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    if direct {
        open.custom_flags(libc::O_DIRECT);
    }
    open.open(path).map_err(|source| {
        if direct && source.raw_os_error() == Some(libc::EINVAL) {
            Error::DirectRefused {
                path: path.to_owned(),
                source,
            }
        } else {
            Error::Open {
                path: path.to_owned(),
                source,
            }
        }
    })
}

/// The work shared by the readers of one round.
struct Plan<'a> {
    path: &'a Path,
    /// The file's size.
    size: u64,
    /// Whole blocks that fit in the file: offsets are `k * block` for `k < blocks`.
    blocks: u64,
    block: u64,
    /// Bytes claimed by the readers so far.
    claimed: AtomicU64,
    /// Total bytes to read, or `None` to read until `deadline`.
    bytes: Option<u64>,
    deadline: Option<Instant>,
    pattern: Pattern,
    align: Align,
    min_block: Option<u64>,
}

impl Plan<'_> {
    /// Claim the next read of up to `want` bytes: `(bytes claimed before it, length)`, or
    /// `None` when the round is over.
    fn next(&self, want: u64) -> Option<(u64, u64)> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let start = self.claimed.fetch_add(want, Ordering::Relaxed);
        match self.bytes {
            None => Some((start, want)),
            Some(total) => (start < total).then(|| (start, want.min(total - start))),
        }
    }

    /// How many bytes a reader asks for next.
    fn length(&self, rng: &mut impl rand::Rng) -> u64 {
        match self.min_block {
            Some(min) if min < self.block => {
                let (low, high) = ((min as f64).ln(), (self.block as f64).ln());
                let drawn = rng.random_range(low..=high).exp() as u64;
                let drawn = drawn.clamp(min, self.block);
                // Whole pages, so that `--direct` stays aligned.
                (drawn - drawn % DIRECT_ALIGN).max(min)
            }
            _ => self.block,
        }
    }

    /// Where a read of `length` bytes starts: `claimed` is what was claimed before it.
    fn offset(&self, rng: &mut impl rand::Rng, claimed: u64, length: u64) -> u64 {
        let last = self.size.saturating_sub(length);
        match (self.pattern, self.align) {
            (Pattern::Sequential, _) => claimed % (self.blocks * self.block),
            (Pattern::Random, Align::Block) => rng.random_range(0..self.blocks) * self.block,
            (Pattern::Random, Align::Page) => {
                rng.random_range(0..=last / DIRECT_ALIGN) * DIRECT_ALIGN
            }
            (Pattern::Random, Align::Byte) => rng.random_range(0..=last),
        }
    }
}

fn run_round(
    path: &Path,
    size: u64,
    block: u64,
    options: &Options,
    round: u64,
) -> Result<Round, Error> {
    let (bytes, deadline) = match options.limit {
        Limit::Bytes(n) => (Some(n), None),
        Limit::Duration(d) => (None, Some(Instant::now() + d)),
    };
    let plan = Plan {
        path,
        size,
        blocks: (size / block).max(1),
        block,
        claimed: AtomicU64::new(0),
        bytes,
        deadline,
        pattern: options.pattern,
        align: options.align,
        min_block: options.min_block,
    };
    // Open every handle before the clock starts.
    let files = (0..options.readers)
        .map(|_| open(path, options.direct))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let outcomes: Vec<Result<ReaderOutcome, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .into_iter()
            .enumerate()
            .map(|(reader, file)| {
                let plan = &plan;
                let seed = [options.seed, round, reader as u64];
                scope.spawn(move || read_loop(&file, plan, &seed, options.direct))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(Error::ReaderPanicked)))
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut round = Round {
        bytes: 0,
        reads: 0,
        seconds,
        mib_per_second: 0.0,
        cpu_seconds: Some(0.0),
        latencies_ms: Vec::new(),
    };
    for outcome in outcomes {
        let outcome = outcome?;
        round.bytes += outcome.bytes;
        round.reads += outcome.latencies_ms.len() as u64;
        round.cpu_seconds = round
            .cpu_seconds
            .zip(outcome.cpu_seconds)
            .map(|(a, b)| a + b);
        round.latencies_ms.extend(outcome.latencies_ms);
    }
    round.mib_per_second = stats::mib_per_second(round.bytes, seconds);
    Ok(round)
}

struct ReaderOutcome {
    bytes: u64,
    latencies_ms: Vec<f64>,
    cpu_seconds: Option<f64>,
}

fn read_loop(
    file: &File,
    plan: &Plan<'_>,
    seed: &[u64],
    direct: bool,
) -> Result<ReaderOutcome, Error> {
    let cpu_start = sys::thread_cpu_seconds();
    let mut rng = super::seeded_rng(seed);
    let mut storage = vec![0u8; (plan.block + DIRECT_ALIGN) as usize];
    let shift = storage.as_ptr().align_offset(DIRECT_ALIGN as usize);
    let buffer = storage
        .get_mut(shift..shift + plan.block as usize)
        .ok_or(Error::ReaderPanicked)?;
    let mut outcome = ReaderOutcome {
        bytes: 0,
        latencies_ms: Vec::new(),
        cpu_seconds: None,
    };
    loop {
        let want = plan.length(&mut rng);
        let Some((claimed, length)) = plan.next(want) else {
            break;
        };
        let offset = plan.offset(&mut rng, claimed, length);
        let target = buffer
            .get_mut(..length as usize)
            .ok_or(Error::ReaderPanicked)?;
        let started = Instant::now();
        let got = read_full(file, target, offset).map_err(|source| {
            if direct && source.raw_os_error() == Some(libc::EINVAL) {
                Error::DirectRefused {
                    path: plan.path.to_owned(),
                    source,
                }
            } else {
                Error::Read {
                    path: plan.path.to_owned(),
                    offset,
                    length,
                    source,
                }
            }
        })?;
        outcome
            .latencies_ms
            .push(started.elapsed().as_secs_f64() * 1e3);
        outcome.bytes += got;
    }
    outcome.cpu_seconds = cpu_start
        .zip(sys::thread_cpu_seconds())
        .map(|(start, end)| end - start);
    Ok(outcome)
}

/// Read until `buffer` is full or the file ends; returns the bytes read.
fn read_full(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<u64> {
    let mut filled = 0;
    while filled < buffer.len() {
        let Some(rest) = buffer.get_mut(filled..) else {
            break;
        };
        match file.read_at(rest, offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled as u64)
}

fn summarise(path: PathBuf, file_size: u64, block: u64, rounds: Vec<Round>) -> Report {
    let throughput: Vec<f64> = rounds.iter().map(|r| r.mib_per_second).collect();
    let latencies: Vec<f64> = rounds
        .iter()
        .flat_map(|r| r.latencies_ms.iter().copied())
        .collect();
    let bytes = rounds.iter().map(|r| r.bytes).sum::<u64>();
    let cpu = rounds.iter().map(|r| r.cpu_seconds).sum::<Option<f64>>();
    let gib = bytes as f64 / f64::from(1u32 << 30);
    Report {
        path,
        file_size,
        block,
        mib_per_second: Summary::of(&throughput).unwrap_or(Summary::EMPTY),
        latency_ms: Summary::of(&latencies).unwrap_or(Summary::EMPTY),
        bytes,
        cpu_seconds_per_gib: cpu.filter(|_| gib > 0.0).map(|c| c / gib),
        rounds,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(bytes: Option<u64>, block: u64) -> Plan<'static> {
        Plan {
            path: Path::new("x"),
            size: 4 * block,
            blocks: 4,
            block,
            claimed: AtomicU64::new(0),
            bytes,
            deadline: None,
            pattern: Pattern::Sequential,
            align: Align::Block,
            min_block: None,
        }
    }

    #[test]
    fn claims_cover_exactly_the_bytes_asked() {
        let plan = plan(Some(250), 100);
        assert_eq!(plan.next(100), Some((0, 100)));
        assert_eq!(plan.next(100), Some((100, 100)));
        assert_eq!(plan.next(70), Some((200, 50)));
        assert_eq!(plan.next(100), None);
        assert_eq!(plan.next(100), None);
    }

    #[test]
    fn random_offsets_start_where_the_alignment_allows_and_sizes_mix() {
        let mut rng = crate::bench::seeded_rng(&[7]);
        let block = 16 * 1024 * 1024;
        let mut plan = plan(None, block);
        plan.size = 40 * block + 12_345;
        plan.blocks = 40;
        plan.pattern = Pattern::Random;
        let mut unaligned = [0usize; 3];
        for (n, align) in [Align::Block, Align::Page, Align::Byte]
            .into_iter()
            .enumerate()
        {
            plan.align = align;
            for _ in 0..200 {
                let offset = plan.offset(&mut rng, 0, block);
                assert!(offset + block <= plan.size, "{align:?}: {offset}");
                let step = match align {
                    Align::Block => block,
                    Align::Page => DIRECT_ALIGN,
                    Align::Byte => 1,
                };
                assert_eq!(offset % step, 0, "{align:?}: {offset}");
                unaligned[n] += usize::from(!offset.is_multiple_of(block));
            }
        }
        assert_eq!(unaligned[0], 0);
        assert!(unaligned[1] > 190 && unaligned[2] > 190, "{unaligned:?}");
        plan.min_block = Some(64 * 1024);
        let sizes: Vec<u64> = (0..400).map(|_| plan.length(&mut rng)).collect();
        assert!(
            sizes
                .iter()
                .all(|s| (64 * 1024..=block).contains(s) && s % DIRECT_ALIGN == 0)
        );
        let small = sizes.iter().filter(|&&s| s < 1024 * 1024).count();
        assert!(
            (100..300).contains(&small),
            "log-uniform: {small} of 400 below 1 MiB"
        );
    }

    #[test]
    fn direct_needs_aligned_sizes() {
        let options = Options {
            block: 1000,
            pattern: Pattern::Random,
            align: Align::Block,
            min_block: None,
            readers: 1,
            limit: Limit::Bytes(4096),
            rounds: 1,
            direct: true,
            drop_caches: false,
            seed: 0,
        };
        assert!(matches!(
            check(&options),
            Err(Error::Unaligned {
                option: "--block",
                value: 1000
            })
        ));
        let aligned = Options {
            block: 8192,
            ..options
        };
        assert!(check(&aligned).is_ok());
    }
}
