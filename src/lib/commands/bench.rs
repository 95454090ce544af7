//! `red bench io|dataset|loader`: measure data access as the Curious Containers study did.
//! Arguments become library options here; the measurements live in `crate::bench`; the tables
//! and JSON documents are rendered here. Results go to stdout, progress to stderr.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use crate::bench::io::{self, Align, Limit, Pattern};
use crate::bench::plot;
use crate::cli::args::{OutputFormat, output_format};
use crate::cli::{ExitStatus, Printer, values};

/// `red bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Read a file in blocks (random 16 MiB blocks by default) and report MiB/s, latency and CPU
    Io(IoArgs),
    /// Write a synthetic HDF5 tile dataset with the study's layout (needs `--features hdf5`)
    Dataset(DatasetArgs),
    /// Replay the study's CNN training data loader on an HDF5 dataset (needs `--features hdf5`)
    Loader(LoaderArgs),
}

/// Where `bench io` starts its reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatternArg {
    /// Uniformly random whole blocks (the study's measurement).
    Random,
    /// Consecutive blocks, wrapping at the end of the file.
    Sequential,
}

impl From<PatternArg> for Pattern {
    fn from(pattern: PatternArg) -> Self {
        match pattern {
            PatternArg::Random => Self::Random,
            PatternArg::Sequential => Self::Sequential,
        }
    }
}

/// Where `bench io` may start a random read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlignArg {
    /// On whole blocks (the study's measurement).
    Block,
    /// On any 4 KiB page.
    Page,
    /// At any byte (not with `--direct`).
    Byte,
}

impl From<AlignArg> for Align {
    fn from(align: AlignArg) -> Self {
        match align {
            AlignArg::Block => Self::Block,
            AlignArg::Page => Self::Page,
            AlignArg::Byte => Self::Byte,
        }
    }
}

/// Arguments of `red bench io`.
#[derive(Debug, Args)]
#[command(after_help = "See docs/bench.md for the study's measurements and a worked example.")]
pub struct IoArgs {
    /// The file to read (make it larger than memory, or use `--direct` or `--drop-caches`).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub path: PathBuf,
    /// A second file, measured in alternating rounds; the ratio of the two is printed.
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    pub compare: Option<PathBuf>,
    /// Bytes per read (K, M, G suffixes are binary).
    #[arg(long, default_value = "16M", value_parser = values::size(1..=1 << 30))]
    pub block: u64,
    /// Where reads start.
    #[arg(long, value_enum, default_value_t = PatternArg::Random)]
    pub pattern: PatternArg,
    /// Where a random read may start: on a whole block, on any 4 KiB page, at any byte.
    #[arg(long, value_enum, default_value_t = AlignArg::Block)]
    pub align: AlignArg,
    /// Mix read sizes: each read's size is drawn between this and `--block`.
    ///
    /// Uniform over the logarithm of the size, in whole 4 KiB pages.
    #[arg(long, value_name = "SIZE", value_parser = values::size(4096..=1 << 30))]
    pub min_block: Option<u64>,
    /// Parallel readers, each with its own file handle.
    #[arg(long, default_value_t = 1, value_parser = values::count(1..=1024))]
    pub readers: usize,
    /// How long each round reads (`10`, `90s`, `2m`) [default: 10 s unless `--bytes` is given].
    #[arg(long, conflicts_with = "bytes", value_parser = values::duration)]
    pub duration: Option<Duration>,
    /// Bytes per round across all readers, read exactly.
    #[arg(long, value_parser = values::size(1..=1 << 50))]
    pub bytes: Option<u64>,
    /// Rounds per file; the median and spread are over rounds.
    #[arg(long, default_value_t = 3, value_parser = values::count(1..=10_000))]
    pub rounds: usize,
    /// Open with `O_DIRECT`, bypassing the page cache (block and bytes must be multiples of 4096).
    #[arg(long)]
    pub direct: bool,
    /// Drop the page cache before every round (needs root).
    #[arg(long)]
    pub drop_caches: bool,
    /// Seed of the random offsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "A short table",
        "One JSON document with every figure",
    ))]
    pub format: OutputFormat,
    /// Also draw MiB/s per round as bars into this SVG file.
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    pub plot: Option<PathBuf>,
}

/// Arguments of `red bench dataset`.
#[derive(Debug, Args)]
#[command(after_help = "See docs/bench.md for the layout.")]
pub struct DatasetArgs {
    /// The HDF5 file to write (replaced if it exists).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub out: PathBuf,
    /// Slides the tiles come from (each has its own stain colour).
    #[arg(long, default_value_t = 10, value_parser = values::count(1..=10_000))]
    pub slides: usize,
    /// Tiles in each of the four arrays; each tile is 1 MiB.
    #[arg(long, default_value_t = 100, value_parser = values::count(1..=1_000_000))]
    pub tiles_per_array: usize,
    /// Seed of every pixel.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tiles per HDF5 chunk.
    #[arg(long, default_value_t = 1, value_parser = values::count(1..=1024))]
    pub chunk_tiles: usize,
    /// Compress chunks with deflate at this level (1–9).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub deflate: Option<u8>,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "A short table",
        "One JSON document with every figure",
    ))]
    pub format: OutputFormat,
}

/// Arguments of `red bench loader`.
#[derive(Debug, Args)]
#[command(after_help = "See docs/bench.md for what each figure means.")]
pub struct LoaderArgs {
    /// The HDF5 dataset (as `red bench dataset` writes it).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub file: PathBuf,
    /// The same dataset elsewhere (a mount), read in alternating epochs; prints the slowdown
    ///
    /// Both files are read with the same seed, so each epoch reads the same crops.
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    pub compare: Option<PathBuf>,
    /// Epochs per file.
    #[arg(long, default_value_t = 1, value_parser = values::count(1..=10_000))]
    pub epochs: usize,
    /// Mini-batches per epoch.
    #[arg(long, default_value_t = 50, value_parser = values::count(1..=1_000_000))]
    pub steps: usize,
    /// Tiles per class in a mini-batch (positives and negatives alike).
    #[arg(long, default_value_t = 100, value_parser = values::count(1..=100_000))]
    pub batch: usize,
    /// Side of the random square crop.
    #[arg(long, default_value_t = 224, value_parser = values::count(1..=4096))]
    pub crop: usize,
    /// Smallest share of tissue a crop needs to be kept.
    #[arg(long, default_value_t = 0.1, value_parser = values::fraction)]
    pub min_tissue: f64,
    /// Simulated compute per mini-batch, in milliseconds.
    #[arg(long, default_value_t = 200, value_parser = values::int(0..=3_600_000))]
    pub compute_ms: u64,
    /// Loader threads.
    #[arg(long, default_value_t = 1, value_parser = values::count(1..=1024))]
    pub workers: usize,
    /// Mini-batches loaded ahead of the compute.
    #[arg(long, default_value_t = 2, value_parser = values::count(0..=1024))]
    pub prefetch: usize,
    /// Consecutive tiles read from one random start.
    #[arg(long, default_value_t = 100, value_parser = values::count(1..=1_000_000))]
    pub chunk_tiles: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Drop the page cache before every epoch (needs root).
    #[arg(long)]
    pub drop_caches: bool,
    /// HDF5 chunk cache per array [default: HDF5's 1M]
    ///
    /// `0` makes HDF5 read only each crop's rows instead of whole 1 MiB tile chunks.
    #[arg(long, value_parser = values::size(0..=1 << 40))]
    pub chunk_cache: Option<u64>,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "A short table",
        "One JSON document with every figure",
    ))]
    pub format: OutputFormat,
    /// Also draw the per-step timeline into this SVG file.
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    pub plot: Option<PathBuf>,
}

/// Run `red bench …`.
pub fn run(command: &BenchCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        BenchCommand::Io(args) => run_io(args, printer),
        BenchCommand::Dataset(args) => hdf5::dataset(args, printer),
        BenchCommand::Loader(args) => hdf5::loader(args, printer),
    }
}

fn run_io(args: &IoArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let limit = match (args.bytes, args.duration) {
        (Some(bytes), _) => Limit::Bytes(bytes),
        (None, duration) => Limit::Duration(duration.unwrap_or(Duration::from_secs(10))),
    };
    let options = io::Options {
        block: args.block,
        pattern: args.pattern.into(),
        align: args.align.into(),
        min_block: args.min_block,
        readers: args.readers,
        limit,
        rounds: args.rounds,
        direct: args.direct,
        drop_caches: args.drop_caches,
        seed: args.seed,
    };
    let mut paths = vec![args.path.clone()];
    paths.extend(args.compare.clone());
    let reports = io::run(&paths, &options)?;
    // Throughput ratio: how many times faster the first file is than the second.
    let speedup = match reports.as_slice() {
        [first, second] if second.mib_per_second.median > 0.0 => {
            Some(first.mib_per_second.median / second.mib_per_second.median)
        }
        _ => None,
    };
    if let Some(svg) = &args.plot {
        let series: Vec<_> = reports
            .iter()
            .map(|r| {
                (
                    r.path.display().to_string(),
                    r.rounds.iter().map(|x| x.mib_per_second).collect(),
                )
            })
            .collect();
        let pattern = match options.pattern {
            Pattern::Random => "random",
            Pattern::Sequential => "sequential",
        };
        let sizes = match args.min_block {
            Some(min) => format!("{}–{}", size(min), size(args.block)),
            None => size(args.block),
        };
        let title = format!("{pattern} {sizes} reads, {} reader(s)", args.readers);
        plot::throughput_bars(svg, &title, &series)?;
    }
    match args.format {
        OutputFormat::Json => {
            let document = json!({
                "command": "bench io",
                "options": {
                    "block": args.block,
                    "pattern": options.pattern,
                    "align": options.align,
                    "min_block": args.min_block,
                    "readers": args.readers,
                    "bytes": args.bytes,
                    "duration_seconds": match limit { Limit::Duration(d) => Some(d.as_secs_f64()), Limit::Bytes(_) => None },
                    "rounds": args.rounds,
                    "direct": args.direct,
                    "drop_caches": args.drop_caches,
                    "seed": args.seed,
                },
                "targets": reports,
                "speedup": speedup,
            });
            printer.out(&format!("{document:#}\n"));
        }
        OutputFormat::Human => {
            let mut table = format!(
                "{:<40} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10}\n",
                "file", "MiB/s", "spread", "p50 ms", "p90 ms", "p99 ms", "CPU s/GiB", "read"
            );
            for report in &reports {
                table.push_str(&format!(
                    "{:<40} {:>10.1} {:>7.1}% {:>9.1} {:>9.1} {:>9.1} {:>9} {:>10}\n",
                    report.path.display(),
                    report.mib_per_second.median,
                    100.0 * report.mib_per_second.relative_spread(),
                    report.latency_ms.median,
                    report.latency_ms.p90,
                    report.latency_ms.p99,
                    report
                        .cpu_seconds_per_gib
                        .map_or("-".to_owned(), |c| format!("{c:.2}")),
                    size(report.bytes),
                ));
            }
            if let (Some(ratio), [first, second]) = (speedup, reports.as_slice()) {
                table.push_str(&format!(
                    "`{}` is {ratio:.2}x as fast as `{}` (median of {} rounds)\n",
                    first.path.display(),
                    second.path.display(),
                    args.rounds
                ));
            }
            printer.out(&table);
        }
    }
    Ok(ExitStatus::Success)
}

/// A byte count in binary units, for tables.
fn size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = units.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {name}")
    }
}

#[cfg(not(feature = "hdf5"))]
mod hdf5 {
    //! Without the `hdf5` feature the HDF5 commands only explain how to get them.

    use super::{DatasetArgs, LoaderArgs};
    use crate::cli::{ExitStatus, Printer};

    const MISSING: &str = "this red was built without HDF5 support; rebuild with `cargo build --features hdf5` (needs libhdf5-dev and pkg-config)";

    pub(super) fn dataset(_: &DatasetArgs, _: &Printer) -> anyhow::Result<ExitStatus> {
        Err(crate::cli::usage(MISSING))
    }

    pub(super) fn loader(_: &LoaderArgs, _: &Printer) -> anyhow::Result<ExitStatus> {
        Err(crate::cli::usage(MISSING))
    }
}

#[cfg(feature = "hdf5")]
mod hdf5 {
    //! `bench dataset` and `bench loader`, which need the HDF5 library.

    use std::time::Duration;

    use serde_json::json;

    use super::{DatasetArgs, LoaderArgs, size};
    use crate::bench::{dataset, loader, plot};
    use crate::cli::args::OutputFormat;
    use crate::cli::{ExitStatus, Printer};

    pub(super) fn dataset(args: &DatasetArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
        let options = dataset::Options {
            tiles_per_array: args.tiles_per_array,
            slides: args.slides,
            seed: args.seed,
            chunk_tiles: args.chunk_tiles,
            deflate: args.deflate,
        };
        let written = dataset::write(&args.out, &options)?;
        match args.format {
            OutputFormat::Json => {
                let document = json!({
                    "command": "bench dataset",
                    "options": {
                        "tiles_per_array": args.tiles_per_array,
                        "slides": args.slides,
                        "seed": args.seed,
                        "chunk_tiles": args.chunk_tiles,
                        "deflate": args.deflate,
                    },
                    "dataset": written,
                });
                printer.out(&format!("{document:#}\n"));
            }
            OutputFormat::Human => {
                let mut text = format!(
                    "wrote `{}`: {} of tiles, {} on disk, in {:.1} s\n",
                    written.path.display(),
                    size(written.tile_bytes),
                    size(written.file_bytes),
                    written.seconds
                );
                for array in &written.arrays {
                    text.push_str(&format!(
                        "  {:<20} u8 {:?} chunks {:?}\n",
                        array.name, array.shape, array.chunk
                    ));
                }
                printer.out(&text);
            }
        }
        Ok(ExitStatus::Success)
    }

    pub(super) fn loader(args: &LoaderArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
        if !(0.0..=1.0).contains(&args.min_tissue) {
            return Err(crate::cli::usage("`--min-tissue` must be between 0 and 1"));
        }
        let options = loader::Options {
            epochs: args.epochs,
            steps: args.steps,
            batch: args.batch,
            crop: args.crop,
            min_tissue: args.min_tissue,
            compute: Duration::from_millis(args.compute_ms),
            workers: args.workers,
            prefetch: args.prefetch,
            chunk_tiles: args.chunk_tiles,
            seed: args.seed,
            drop_caches: args.drop_caches,
            chunk_cache: args
                .chunk_cache
                .map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX)),
        };
        let mut paths = vec![args.file.clone()];
        paths.extend(args.compare.clone());
        let reports = loader::run(&paths, &options)?;
        let slowdown = match reports.as_slice() {
            [first, second] if first.combined_seconds > 0.0 => {
                Some(second.combined_seconds / first.combined_seconds)
            }
            _ => None,
        };
        if let Some(svg) = &args.plot {
            let series: Vec<_> = reports
                .iter()
                .map(|r| {
                    let steps = r
                        .steps
                        .iter()
                        .map(|s| (s.wait_ms + s.compute_ms, s.wait_ms));
                    (r.path.display().to_string(), steps.collect())
                })
                .collect();
            let title = format!("loader: {} ms compute per step", args.compute_ms);
            plot::step_timeline(svg, &title, &series)?;
        }
        match args.format {
            OutputFormat::Json => {
                let document = json!({
                    "command": "bench loader",
                    "options": {
                        "epochs": args.epochs,
                        "steps": args.steps,
                        "batch": args.batch,
                        "crop": args.crop,
                        "min_tissue": args.min_tissue,
                        "compute_ms": args.compute_ms,
                        "workers": args.workers,
                        "prefetch": args.prefetch,
                        "chunk_tiles": args.chunk_tiles,
                        "seed": args.seed,
                        "drop_caches": args.drop_caches,
                        "chunk_cache": args.chunk_cache,
                    },
                    "targets": reports,
                    "slowdown": slowdown,
                });
                printer.out(&format!("{document:#}\n"));
            }
            OutputFormat::Human => printer.out(&loader_table(&reports, slowdown)),
        }
        Ok(ExitStatus::Success)
    }

    /// The table of `bench loader` for people, with the slowdown of the second file.
    fn loader_table(reports: &[loader::Report], slowdown: Option<f64>) -> String {
        let mut table = format!(
            "{:<40} {:>8} {:>10} {:>10} {:>9} {:>8} {:>11} {:>10}\n",
            "file", "IO idle", "step ms", "load ms", "tiles/s", "MiB/s", "kept/read", "total s"
        );
        for report in reports {
            let read: u64 = report.epochs.iter().map(|e| e.tiles_read).sum();
            let kept: u64 = report.epochs.iter().map(|e| e.tiles_kept).sum();
            table.push_str(&format!(
                "{:<40} {:>7.1}% {:>10.1} {:>10.1} {:>9.1} {:>8.1} {:>11} {:>10.2}\n",
                report.path.display(),
                report.io_idle_percent,
                report.step_ms.mean,
                report.load_ms.mean,
                report.tiles_per_second,
                report.crop_bytes_per_second / f64::from(1u32 << 20),
                format!("{kept}/{read}"),
                report.combined_seconds,
            ));
        }
        if let (Some(factor), [first, second]) = (slowdown, reports) {
            table.push_str(&format!(
                "slowdown of `{}` against `{}`: {factor:.2}x (the study's SSHFS figure: 1.8x)\n",
                second.path.display(),
                first.path.display(),
            ));
        }
        table
    }
}
