//! `red bench loader`: replay the study's CNN training data loader on an HDF5 file written by
//! `bench dataset` (or any file with the same four arrays).
//!
//! Per mini-batch, for the positive and the negative training array alike: pick a random start,
//! walk up to `chunk_tiles` consecutive tiles from there, read each tile's crop as a hyperslab
//! `[tile, row..row+crop, column..column+crop, ..]` (never the whole tile), keep it when at
//! least `min_tissue` of its mask is tissue, rotate and mirror it, and draw a new start when the
//! run is used up, until `batch` tiles are kept. The random choices of batch `k` of epoch `e`
//! come from a generator seeded by `(seed, e, k)`, so two paths read the same tiles in the same
//! order whatever the scheduling.
//!
//! `workers` threads build batches into a queue of `prefetch` batches while the consumer
//! simulates a training step of `compute` (sleeping, as a GPU would leave the CPU free). The
//! consumer's time spent waiting for a batch is the IO idle time: the study's "IO idle %" is its
//! share of the epoch's wall time. The HDF5 library is not thread-safe and `hdf5-metno` holds
//! one global lock around every call, so reads are serial and workers overlap only the
//! processing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdf5_metno as hdf5;
use ndarray::{Array3, Array4, Axis, Ix3, s};
use serde::Serialize;

use super::augment::{crop_origin, keeps, random_augmentation, rotate_mirror};
use super::stats::Summary;
use super::sys;

/// Errors of `bench loader`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HDF5 library failed.
    #[error("HDF5 failed on `{}`", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// The library's error.
        #[source]
        source: hdf5::Error,
    },
    /// An array has a shape the loader cannot use.
    #[error("array `{name}` of `{}` has shape {shape:?}; expected [tiles, side, side, 4] with side at least the crop {crop}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The array.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// The crop asked for.
        crop: usize,
    },
    /// The filter keeps too few tiles to fill a batch.
    #[error("read {read} tiles of `{name}` in `{}` and only {kept} had at least {min_tissue} tissue; lower `--min-tissue`", path.display())]
    TooLittleTissue {
        /// The file.
        path: PathBuf,
        /// The array.
        name: String,
        /// Tiles read.
        read: u64,
        /// Tiles kept.
        kept: usize,
        /// The threshold.
        min_tissue: f64,
    },
    /// A count or size option was zero.
    #[error("`{option}` must be at least 1")]
    Zero {
        /// The option, as typed on the command line.
        option: &'static str,
    },
    /// Dropping the page cache failed.
    #[error(transparent)]
    DropCaches(#[from] sys::Error),
    /// A worker thread panicked (a bug in red).
    #[error("a loader thread panicked; this is a bug in red")]
    WorkerPanicked,
}

/// The training arrays the loader draws from: positive, then negative.
pub const TRAIN_ARRAYS: [&str; 2] = ["train_positive", "train_negative"];

/// What to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// Epochs per path.
    pub epochs: usize,
    /// Mini-batches per epoch.
    pub steps: usize,
    /// Tiles per class in a mini-batch (the batch holds twice as many).
    pub batch: usize,
    /// Side of the square crop.
    pub crop: usize,
    /// Smallest tissue fraction kept.
    pub min_tissue: f64,
    /// Simulated compute per mini-batch.
    pub compute: Duration,
    /// Loader threads.
    pub workers: usize,
    /// Batches the queue holds ahead of the consumer.
    pub prefetch: usize,
    /// Consecutive tiles read from one random start.
    pub chunk_tiles: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Drop the page cache before every epoch (root only).
    pub drop_caches: bool,
    /// Bytes of HDF5's chunk cache per dataset, `None` for the library's default (1 MiB). A
    /// chunk larger than the cache is not cached: HDF5 then reads only the crop's rows.
    pub chunk_cache: Option<usize>,
}

/// One training step as the consumer saw it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Step {
    /// The epoch (from 0).
    pub epoch: usize,
    /// The step within the epoch (from 0).
    pub step: usize,
    /// Milliseconds the consumer waited for the batch (IO idle).
    pub wait_ms: f64,
    /// Milliseconds of simulated compute.
    pub compute_ms: f64,
    /// Milliseconds a worker spent building this batch (reading and processing).
    pub load_ms: f64,
}

/// One epoch on one path.
#[derive(Debug, Clone, Serialize)]
pub struct Epoch {
    /// Wall seconds of the epoch.
    pub seconds: f64,
    /// Share of the wall time the consumer waited for data, in percent.
    pub io_idle_percent: f64,
    /// Share of the workers' time spent blocked on a full queue, in percent.
    pub loader_blocked_percent: f64,
    /// Tiles read (crops), kept or not.
    pub tiles_read: u64,
    /// Tiles kept by the tissue filter.
    pub tiles_kept: u64,
    /// Bytes of the crops read.
    pub crop_bytes: u64,
    /// Bytes the process read through system calls (HDF5 reads whole chunks), when known.
    pub syscall_read_bytes: Option<u64>,
}

/// All epochs on one path.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file.
    pub path: PathBuf,
    /// Each epoch.
    pub epochs: Vec<Epoch>,
    /// Each step of each epoch.
    pub steps: Vec<Step>,
    /// Mean IO idle percentage over epochs.
    pub io_idle_percent: f64,
    /// Step time (wait plus compute), milliseconds.
    pub step_ms: Summary,
    /// Batch processing time of the workers, milliseconds.
    pub load_ms: Summary,
    /// Sum of the epochs' wall times.
    pub combined_seconds: f64,
    /// Kept tiles delivered per second of wall time.
    pub tiles_per_second: f64,
    /// Crop bytes read per second of wall time.
    pub crop_bytes_per_second: f64,
}

/// Replay the loader on each of `paths`, alternating epochs between them.
pub fn run(paths: &[PathBuf], options: &Options) -> Result<Vec<Report>, Error> {
    for (option, value) in [
        ("--epochs", options.epochs),
        ("--steps", options.steps),
        ("--batch", options.batch),
        ("--crop", options.crop),
        ("--workers", options.workers),
        ("--prefetch", options.prefetch),
        ("--chunk-tiles", options.chunk_tiles),
    ] {
        if value == 0 {
            return Err(Error::Zero { option });
        }
    }
    let sources = paths
        .iter()
        .map(|path| Source::open(path, options.crop, options.chunk_cache))
        .collect::<Result<Vec<_>, _>>()?;
    let mut results: Vec<(Vec<Epoch>, Vec<Step>)> = vec![(Vec::new(), Vec::new()); paths.len()];
    for epoch in 0..options.epochs {
        for (source, (epochs, steps)) in sources.iter().zip(&mut results) {
            if options.drop_caches {
                sys::drop_caches()?;
            }
            let (report, mut epoch_steps) = run_epoch(source, options, epoch)?;
            epochs.push(report);
            steps.append(&mut epoch_steps);
        }
    }
    Ok(paths
        .iter()
        .zip(results)
        .map(|(path, (epochs, steps))| summarise(path, epochs, steps))
        .collect())
}

/// An opened file and its two training arrays.
struct Source {
    path: PathBuf,
    arrays: Vec<(String, hdf5::Dataset, usize)>,
}

impl Source {
    fn open(path: &Path, crop: usize, chunk_cache: Option<usize>) -> Result<Self, Error> {
        let fail = |source| Error::Hdf5 {
            path: path.to_owned(),
            source,
        };
        let file = match chunk_cache {
            None => hdf5::File::open(path),
            // 521 hash slots and w0 0.75 are HDF5's own defaults.
            Some(bytes) => hdf5::File::with_options()
                .with_fapl(|fapl| fapl.chunk_cache(521, bytes, 0.75))
                .open(path),
        }
        .map_err(fail)?;
        let mut arrays = Vec::new();
        for name in TRAIN_ARRAYS {
            let dataset = file.dataset(name).map_err(fail)?;
            let shape = dataset.shape();
            let tiles = match shape.as_slice() {
                [tiles, height, width, 4] if *tiles > 0 && *height >= crop && *width >= crop => {
                    *tiles
                }
                _ => {
                    return Err(Error::Shape {
                        path: path.to_owned(),
                        name: name.to_owned(),
                        shape,
                        crop,
                    });
                }
            };
            arrays.push((name.to_owned(), dataset, tiles));
        }
        Ok(Self {
            path: path.to_owned(),
            arrays,
        })
    }
}

/// A built mini-batch and what it cost.
struct Batch {
    #[allow(dead_code)] // held until the simulated step is over, as a trainer would
    pixels: Array4<u8>,
    tiles_read: u64,
    tiles_kept: u64,
    load_ms: f64,
}

fn run_epoch(
    source: &Source,
    options: &Options,
    epoch: usize,
) -> Result<(Epoch, Vec<Step>), Error> {
    let (sender, receiver) = mpsc::sync_channel::<Result<Batch, Error>>(options.prefetch);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let read_before = sys::process_read_bytes();
    let started = Instant::now();
    let (steps, blocked) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.workers)
            .map(|_| {
                let sender = sender.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(move || {
                    let mut blocked = Duration::ZERO;
                    while !stop.load(Ordering::Relaxed) {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= options.steps {
                            break;
                        }
                        let batch = build_batch(source, options, epoch, k);
                        let failed = batch.is_err();
                        let waiting = Instant::now();
                        if sender.send(batch).is_err() || failed {
                            break;
                        }
                        blocked += waiting.elapsed();
                    }
                    blocked
                })
            })
            .collect();
        drop(sender);
        let steps = consume(receiver, options, epoch);
        stop.store(true, Ordering::Relaxed);
        let blocked: Result<Vec<Duration>, Error> = workers
            .into_iter()
            .map(|w| w.join().map_err(|_| Error::WorkerPanicked))
            .collect();
        (steps, blocked)
    });
    let seconds = started.elapsed().as_secs_f64();
    let (steps, totals) = steps?;
    let blocked: Duration = blocked?.into_iter().sum();
    let crop_bytes_per_tile = (options.crop * options.crop * 4) as u64;
    let wait: f64 = steps.iter().map(|s| s.wait_ms).sum::<f64>() / 1e3;
    Ok((
        Epoch {
            seconds,
            io_idle_percent: percent(wait, seconds),
            loader_blocked_percent: percent(
                blocked.as_secs_f64(),
                seconds * options.workers as f64,
            ),
            tiles_read: totals.0,
            tiles_kept: totals.1,
            crop_bytes: totals.0 * crop_bytes_per_tile,
            syscall_read_bytes: read_before
                .zip(sys::process_read_bytes())
                .map(|(before, after)| after.saturating_sub(before)),
        },
        steps,
    ))
}

/// The training side: take each batch, hold it for the simulated compute, record the times.
fn consume(
    receiver: mpsc::Receiver<Result<Batch, Error>>,
    options: &Options,
    epoch: usize,
) -> Result<(Vec<Step>, (u64, u64)), Error> {
    let mut steps = Vec::with_capacity(options.steps);
    let mut totals = (0, 0);
    for step in 0..options.steps {
        let waiting = Instant::now();
        let batch = receiver.recv().map_err(|_| Error::WorkerPanicked)??;
        let wait_ms = waiting.elapsed().as_secs_f64() * 1e3;
        let computing = Instant::now();
        std::thread::sleep(options.compute);
        drop(batch.pixels);
        totals.0 += batch.tiles_read;
        totals.1 += batch.tiles_kept;
        steps.push(Step {
            epoch,
            step,
            wait_ms,
            compute_ms: computing.elapsed().as_secs_f64() * 1e3,
            load_ms: batch.load_ms,
        });
    }
    Ok((steps, totals))
}

/// Build mini-batch `k`: `batch` kept tiles of each training array, RGB only, augmented.
fn build_batch(source: &Source, options: &Options, epoch: usize, k: usize) -> Result<Batch, Error> {
    let started = Instant::now();
    let mut rng = super::seeded_rng(&[options.seed, epoch as u64, k as u64]);
    let mut pixels = Array4::<u8>::zeros((2 * options.batch, options.crop, options.crop, 3));
    let mut slots = pixels.axis_iter_mut(Axis(0));
    let mut tiles_read = 0;
    for (name, dataset, tiles) in &source.arrays {
        let mut kept = 0;
        let mut read_here = 0u64;
        while kept < options.batch {
            if read_here >= 50 * options.batch as u64 + 10 {
                return Err(Error::TooLittleTissue {
                    path: source.path.clone(),
                    name: name.clone(),
                    read: read_here,
                    kept,
                    min_tissue: options.min_tissue,
                });
            }
            let run = options.chunk_tiles.min(*tiles);
            let start = rand::RngExt::random_range(&mut rng, 0..=tiles - run);
            for index in start..start + run {
                let side = dataset.shape().get(1).copied().unwrap_or(options.crop);
                let (row, column) = crop_origin(&mut rng, side, options.crop);
                let crop = read_crop(source, dataset, index, row, column, options.crop)?;
                read_here += 1;
                if !keeps(crop.view(), options.min_tissue) {
                    continue;
                }
                let (turns, mirror) = random_augmentation(&mut rng);
                if let Some(mut slot) = slots.next() {
                    slot.assign(&rotate_mirror(crop.view(), turns, mirror));
                }
                kept += 1;
                if kept == options.batch {
                    break;
                }
            }
        }
        tiles_read += read_here;
    }
    Ok(Batch {
        pixels,
        tiles_read,
        tiles_kept: 2 * options.batch as u64,
        load_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Read the `size`-square crop at `(row, column)` of tile `index` as one hyperslab.
pub fn read_crop_at(
    path: &Path,
    dataset: &hdf5::Dataset,
    index: usize,
    row: usize,
    column: usize,
    size: usize,
) -> Result<Array3<u8>, Error> {
    dataset
        .read_slice::<u8, _, Ix3>(s![index, row..row + size, column..column + size, ..])
        .map_err(|source| Error::Hdf5 {
            path: path.to_owned(),
            source,
        })
}

fn read_crop(
    source: &Source,
    dataset: &hdf5::Dataset,
    index: usize,
    row: usize,
    column: usize,
    size: usize,
) -> Result<Array3<u8>, Error> {
    read_crop_at(&source.path, dataset, index, row, column, size)
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        0.0
    } else {
        100.0 * part / whole
    }
}

fn summarise(path: &Path, epochs: Vec<Epoch>, steps: Vec<Step>) -> Report {
    let step_ms: Vec<f64> = steps.iter().map(|s| s.wait_ms + s.compute_ms).collect();
    let load_ms: Vec<f64> = steps.iter().map(|s| s.load_ms).collect();
    let combined: f64 = epochs.iter().map(|e| e.seconds).sum();
    let kept: u64 = epochs.iter().map(|e| e.tiles_kept).sum();
    let bytes: u64 = epochs.iter().map(|e| e.crop_bytes).sum();
    let per_second = |n: u64| {
        if combined > 0.0 {
            n as f64 / combined
        } else {
            0.0
        }
    };
    Report {
        path: path.to_owned(),
        io_idle_percent: epochs.iter().map(|e| e.io_idle_percent).sum::<f64>()
            / epochs.len().max(1) as f64,
        step_ms: Summary::of(&step_ms).unwrap_or(Summary::EMPTY),
        load_ms: Summary::of(&load_ms).unwrap_or(Summary::EMPTY),
        combined_seconds: combined,
        tiles_per_second: per_second(kept),
        crop_bytes_per_second: per_second(bytes),
        epochs,
        steps,
    }
}
