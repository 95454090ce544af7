//! Storage benchmarks that reproduce the two data-access measurements of the Curious Containers
//! study (Jansen et al., "Reproducibility and Performance of Deep Learning Applications for
//! Cancer Detection in Pathological Images"): random or sequential block reads of a large file
//! ([`io`]), and the CNN training data loader over an HDF5 file of tiles ([`dataset`] writes
//! a synthetic one, [`loader`] replays the loader).
//!
//! Everything here is synchronous and uses std threads; [`stats`] summarises samples and
//! [`plot`] draws SVG charts. Nothing is printed here: the results are plain values that
//! `commands::bench` renders as tables or JSON.

pub mod augment;
#[cfg(feature = "hdf5")]
pub mod dataset;
pub mod io;
#[cfg(feature = "hdf5")]
pub mod loader;
pub mod plot;
pub mod stats;
pub mod sys;

/// The tile layout of the study: 512x512 pixels, RGB plus a tissue mask.
pub const TILE_SIDE: usize = 512;
/// Channels per pixel: red, green, blue, tissue mask (0 or 255).
pub const TILE_CHANNELS: usize = 4;
/// The four arrays of a dataset, in the order the study lists them.
pub const ARRAY_NAMES: [&str; 4] = [
    "train_positive",
    "train_negative",
    "validation_positive",
    "validation_negative",
];

/// A deterministic random generator for one stream of work, derived from the user's seed and
/// the coordinates of that work (round, reader, batch…), so that results do not depend on how
/// threads are scheduled.
#[must_use]
pub fn seeded_rng(parts: &[u64]) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for part in parts {
        state = splitmix(state ^ part.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    }
    rand_chacha::ChaCha8Rng::seed_from_u64(state)
}

/// One step of the SplitMix64 mixer.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
