//! `red bench dataset`: write a synthetic HDF5 file with the study's layout, four arrays of
//! `u8` tiles `[tile, 512, 512, 4]` (RGB plus a tissue mask), deterministic from a seed.
//!
//! Each tile is a function of `(seed, array, index)` alone, so any tile can be regenerated and
//! checked, and tiles are generated in parallel (rayon) and written in order. A tile takes the
//! base colour of its slide plus noise, and its mask is a disc of random centre and radius, so
//! that the tissue of a random crop varies and the loader's 10% filter has work to do
//! (about one tile in seven is mostly background).

use std::path::{Path, PathBuf};
use std::time::Instant;

use hdf5_metno as hdf5;
use ndarray::{Array3, Array4, Axis, s};
use rand::{Rng, RngExt};
use rayon::prelude::*;
use serde::Serialize;

use super::{ARRAY_NAMES, TILE_CHANNELS, TILE_SIDE, seeded_rng};

/// Version of the tile generator, stored in the file; bump it when tiles change.
pub const GENERATOR_VERSION: u64 = 1;

/// Errors of `bench dataset`.
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
    /// A count option was zero.
    #[error("`{option}` must be at least 1")]
    Zero {
        /// The option, as typed on the command line.
        option: &'static str,
    },
    /// A deflate level outside 1–9.
    #[error("`--deflate` must be between 1 and 9, not {level}")]
    DeflateLevel {
        /// The level given.
        level: u8,
    },
}

/// What to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tiles in each of the four arrays.
    pub tiles_per_array: usize,
    /// Distinct slides (base colours) the tiles come from.
    pub slides: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Tiles per HDF5 chunk.
    pub chunk_tiles: usize,
    /// Deflate level (1–9), or `None` for no compression.
    pub deflate: Option<u8>,
}

/// One array as written or found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArrayInfo {
    /// Its name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its chunk shape, `None` when contiguous.
    pub chunk: Option<Vec<usize>>,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// The four arrays.
    pub arrays: Vec<ArrayInfo>,
    /// Bytes of tile data (before compression).
    pub tile_bytes: u64,
    /// Size of the file on disk.
    pub file_bytes: u64,
    /// Seconds taken.
    pub seconds: f64,
}

/// Write the dataset to `path` (replacing it).
pub fn write(path: &Path, options: &Options) -> Result<Written, Error> {
    for (option, value) in [
        ("--tiles-per-array", options.tiles_per_array),
        ("--slides", options.slides),
        ("--chunk-tiles", options.chunk_tiles),
    ] {
        if value == 0 {
            return Err(Error::Zero { option });
        }
    }
    if let Some(level) = options.deflate.filter(|level| !(1..=9).contains(level)) {
        return Err(Error::DeflateLevel { level });
    }
    let fail = |source| Error::Hdf5 {
        path: path.to_owned(),
        source,
    };
    let started = Instant::now();
    let file = hdf5::File::create(path).map_err(fail)?;
    for (name, value) in [
        ("red_bench_seed", options.seed),
        ("red_bench_slides", options.slides as u64),
        ("red_bench_generator", GENERATOR_VERSION),
    ] {
        file.new_attr::<u64>()
            .create(name)
            .and_then(|attr| attr.write_scalar(&value))
            .map_err(fail)?;
    }
    let chunk_tiles = options.chunk_tiles.min(options.tiles_per_array);
    for (array, name) in ARRAY_NAMES.iter().enumerate() {
        let mut builder =
            file.new_dataset::<u8>()
                .chunk((chunk_tiles, TILE_SIDE, TILE_SIDE, TILE_CHANNELS));
        if let Some(level) = options.deflate {
            builder = builder.deflate(level);
        }
        let dataset = builder
            .shape((options.tiles_per_array, TILE_SIDE, TILE_SIDE, TILE_CHANNELS))
            .create(*name)
            .map_err(fail)?;
        // Generate a chunk's worth of tiles at a time, in parallel, and write them in order.
        let mut start = 0;
        while start < options.tiles_per_array {
            let end = (start + chunk_tiles.max(8)).min(options.tiles_per_array);
            let block = tiles(options, array, start..end);
            dataset
                .write_slice(&block, s![start..end, .., .., ..])
                .map_err(fail)?;
            start = end;
        }
    }
    drop(file);
    let arrays = inspect(path)?;
    Ok(Written {
        path: path.to_owned(),
        arrays,
        tile_bytes: (4 * options.tiles_per_array * TILE_SIDE * TILE_SIDE * TILE_CHANNELS) as u64,
        file_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The shapes and chunking of the four arrays of the file at `path`.
pub fn inspect(path: &Path) -> Result<Vec<ArrayInfo>, Error> {
    let fail = |source| Error::Hdf5 {
        path: path.to_owned(),
        source,
    };
    let file = hdf5::File::open(path).map_err(fail)?;
    ARRAY_NAMES
        .iter()
        .map(|name| {
            let dataset = file.dataset(name).map_err(fail)?;
            Ok(ArrayInfo {
                name: (*name).to_owned(),
                shape: dataset.shape(),
                chunk: dataset.chunk(),
            })
        })
        .collect()
}

fn tiles(options: &Options, array: usize, range: std::ops::Range<usize>) -> Array4<u8> {
    let generated: Vec<Array3<u8>> = range
        .clone()
        .into_par_iter()
        .map(|index| tile(options.seed, options.slides, array, index))
        .collect();
    let mut block = Array4::<u8>::zeros((range.len(), TILE_SIDE, TILE_SIDE, TILE_CHANNELS));
    for (mut slot, tile) in block.axis_iter_mut(Axis(0)).zip(generated) {
        slot.assign(&tile);
    }
    block
}

/// Tile `index` of array `array` (0–3, in [`ARRAY_NAMES`] order) for this seed.
#[must_use]
pub fn tile(seed: u64, slides: usize, array: usize, index: usize) -> Array3<u8> {
    let slide = (array * 7919 + index) % slides.max(1);
    let mut colour = seeded_rng(&[seed, 1, slide as u64]);
    let base = [
        colour.random_range(150..230u8),
        colour.random_range(80..170u8),
        colour.random_range(150..220u8),
    ];
    let mut rng = seeded_rng(&[seed, 2, array as u64, index as u64]);
    let side = TILE_SIDE as f64;
    // Most tiles are mostly tissue; about one in seven is mostly background, as in a slide's
    // margins, so that the 10% filter discards some crops.
    let (centre, radius) = if rng.random_bool(0.85) {
        (
            (rng.random_range(0.0..side), rng.random_range(0.0..side)),
            rng.random_range(0.35 * side..0.9 * side),
        )
    } else {
        (
            (
                rng.random_range(-0.2 * side..0.0),
                rng.random_range(0.0..side),
            ),
            rng.random_range(0.0..0.4 * side),
        )
    };
    let mut noise = vec![0u8; TILE_SIDE * TILE_SIDE * 3];
    rng.fill_bytes(&mut noise);
    let radius_squared = radius * radius;
    let mut pixels = vec![0u8; TILE_SIDE * TILE_SIDE * TILE_CHANNELS];
    for (i, (pixel, jitter)) in pixels
        .chunks_exact_mut(TILE_CHANNELS)
        .zip(noise.chunks_exact(3))
        .enumerate()
    {
        for ((out, value), n) in pixel.iter_mut().zip(base).zip(jitter) {
            *out = (i16::from(value) + i16::from(*n % 49) - 24).clamp(0, 255) as u8;
        }
        let (dy, dx) = (
            (i / TILE_SIDE) as f64 - centre.0,
            (i % TILE_SIDE) as f64 - centre.1,
        );
        if let Some(mask) = pixel.get_mut(3) {
            *mask = if dy * dy + dx * dx <= radius_squared {
                255
            } else {
                0
            };
        }
    }
    Array3::from_shape_vec((TILE_SIDE, TILE_SIDE, TILE_CHANNELS), pixels)
        .unwrap_or_else(|_| Array3::zeros((TILE_SIDE, TILE_SIDE, TILE_CHANNELS)))
}
