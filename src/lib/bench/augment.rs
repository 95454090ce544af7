//! What the study's loader does to each tile once read: pick a crop position, measure the
//! tissue in the crop's mask, and rotate or mirror the RGB pixels. Pure ndarray code, no I/O,
//! so that it can be checked by hand on tiny arrays.
//!
//! Tiles are `[row, column, channel]` arrays of `u8`; channels 0–2 are RGB and channel 3 the
//! tissue mask (a pixel is tissue when its mask value is at least 128).

use ndarray::{Array3, ArrayView3, Axis, s};
use rand::RngExt;

/// Index of the mask channel.
pub const MASK_CHANNEL: usize = 3;

/// A random top-left corner for a `crop`-sized square inside a `side`-sized tile, both
/// coordinates uniform over the positions where the square fits.
pub fn crop_origin(rng: &mut impl rand::Rng, side: usize, crop: usize) -> (usize, usize) {
    let room = side.saturating_sub(crop);
    (rng.random_range(0..=room), rng.random_range(0..=room))
}

/// The fraction (0–1) of pixels of `tile` whose mask says tissue; 0 for an empty tile or one
/// without a mask channel.
#[must_use]
pub fn tissue_fraction(tile: ArrayView3<'_, u8>) -> f64 {
    if tile.shape().get(2).is_none_or(|&c| c <= MASK_CHANNEL) {
        return 0.0;
    }
    let mask = tile.index_axis(Axis(2), MASK_CHANNEL);
    let pixels = mask.len();
    if pixels == 0 {
        return 0.0;
    }
    let tissue = mask.iter().filter(|&&v| v >= 128).count();
    tissue as f64 / pixels as f64
}

/// Whether the study's filter keeps this (cropped) tile: at least `min_tissue` of its pixels
/// are tissue.
#[must_use]
pub fn keeps(tile: ArrayView3<'_, u8>, min_tissue: f64) -> bool {
    tissue_fraction(tile) >= min_tissue
}

/// The square of `size` pixels at `(row, column)` of an in-memory tile: what the loader reads
/// as a hyperslab from HDF5. `None` when it does not fit.
#[must_use]
pub fn crop(
    tile: ArrayView3<'_, u8>,
    row: usize,
    column: usize,
    size: usize,
) -> Option<ArrayView3<'_, u8>> {
    let (height, width) = (tile.shape().first()?, tile.shape().get(1)?);
    if row + size > *height || column + size > *width {
        return None;
    }
    Some(tile.slice_move(s![row..row + size, column..column + size, ..]))
}

/// The RGB channels of `tile` rotated by `quarter_turns` x 90 degrees counter-clockwise (as
/// numpy's `rot90`) and then, when `mirror`, flipped left to right; in standard layout, so the
/// pixels are really moved, as a training framework would.
#[must_use]
pub fn rotate_mirror(tile: ArrayView3<'_, u8>, quarter_turns: u8, mirror: bool) -> Array3<u8> {
    let channels = tile.shape().get(2).copied().unwrap_or(0).min(3);
    let mut view = tile.slice_move(s![.., .., ..channels]);
    for _ in 0..quarter_turns % 4 {
        // rot90: transpose, then reverse the rows.
        view = view.permuted_axes([1, 0, 2]);
        view.invert_axis(Axis(0));
    }
    if mirror {
        view.invert_axis(Axis(1));
    }
    view.as_standard_layout().into_owned()
}

/// A random augmentation: rotation by 0–3 quarter turns and a coin flip for the mirror.
pub fn random_augmentation(rng: &mut impl rand::Rng) -> (u8, bool) {
    (rng.random_range(0..4u8), rng.random_bool(0.5))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ndarray::{Array3, array};

    use super::*;

    /// A 3x3 tile whose red channel numbers the pixels 1..=9 row by row and whose mask marks
    /// the left column and the centre as tissue (4 of 9 pixels).
    fn tile() -> Array3<u8> {
        let mut tile = Array3::<u8>::zeros((3, 3, 4));
        for row in 0..3 {
            for column in 0..3 {
                tile[[row, column, 0]] = (row * 3 + column + 1) as u8;
                tile[[row, column, 1]] = 100;
                tile[[row, column, 2]] = 200;
            }
            tile[[row, 0, 3]] = 255;
        }
        tile[[1, 1, 3]] = 128;
        tile[[2, 2, 3]] = 127; // below the threshold: not tissue
        tile
    }

    fn red(tile: &Array3<u8>) -> ndarray::Array2<u8> {
        tile.index_axis(Axis(2), 0).to_owned()
    }

    #[test]
    fn tissue_fraction_counts_mask_pixels_at_least_128() {
        let tile = tile();
        assert!((tissue_fraction(tile.view()) - 4.0 / 9.0).abs() < 1e-12);
        assert!(keeps(tile.view(), 0.4));
        assert!(!keeps(tile.view(), 0.5));
    }

    #[test]
    fn crop_takes_the_square_at_the_origin() {
        let tile = tile();
        let cropped = crop(tile.view(), 1, 1, 2).unwrap();
        assert_eq!(cropped.shape(), &[2, 2, 4]);
        assert_eq!(cropped.index_axis(Axis(2), 0), array![[5, 6], [8, 9]]);
        // mask of the crop: centre (128) tissue, (1,2) 0, (2,1) 0, (2,2) 127 -> 1 of 4
        assert!((tissue_fraction(cropped) - 0.25).abs() < 1e-12);
        assert!(!keeps(cropped, 0.3));
        let left = crop(tile.view(), 0, 0, 2).unwrap();
        // (0,0) and (1,0) are tissue, (1,1) is tissue: 3 of 4
        assert!((tissue_fraction(left) - 0.75).abs() < 1e-12);
        assert!(crop(tile.view(), 2, 0, 2).is_none());
    }

    #[test]
    fn rotations_match_numpy_rot90() {
        let tile = tile();
        assert_eq!(
            red(&rotate_mirror(tile.view(), 0, false)),
            array![[1, 2, 3], [4, 5, 6], [7, 8, 9]]
        );
        // np.rot90([[1,2,3],[4,5,6],[7,8,9]]) == [[3,6,9],[2,5,8],[1,4,7]]
        assert_eq!(
            red(&rotate_mirror(tile.view(), 1, false)),
            array![[3, 6, 9], [2, 5, 8], [1, 4, 7]]
        );
        assert_eq!(
            red(&rotate_mirror(tile.view(), 2, false)),
            array![[9, 8, 7], [6, 5, 4], [3, 2, 1]]
        );
        assert_eq!(
            red(&rotate_mirror(tile.view(), 3, false)),
            array![[7, 4, 1], [8, 5, 2], [9, 6, 3]]
        );
        assert_eq!(
            red(&rotate_mirror(tile.view(), 0, true)),
            array![[3, 2, 1], [6, 5, 4], [9, 8, 7]]
        );
        assert_eq!(
            red(&rotate_mirror(tile.view(), 1, true)),
            array![[9, 6, 3], [8, 5, 2], [7, 4, 1]]
        );
    }

    #[test]
    fn augmentation_drops_the_mask_and_keeps_standard_layout() {
        let out = rotate_mirror(tile().view(), 1, true);
        assert_eq!(out.shape(), &[3, 3, 3]);
        assert!(out.is_standard_layout());
        assert!(out.index_axis(Axis(2), 1).iter().all(|&v| v == 100));
    }

    #[test]
    fn crop_origins_stay_inside() {
        let mut rng = crate::bench::seeded_rng(&[7]);
        for _ in 0..1000 {
            let (row, column) = crop_origin(&mut rng, 512, 224);
            assert!(row <= 288 && column <= 288);
        }
        assert_eq!(crop_origin(&mut rng, 224, 224), (0, 0));
    }
}
