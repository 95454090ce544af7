//! The byte ranges of one file that the mount fetched or is fetching: extents that start
//! wherever the reads started, not on a fixed grid.
//!
//! A grid of fixed chunks assumes reads start on its lines. Real readers do not: an HDF5
//! chunk starts wherever the library placed it, a loader crops at any offset, and with the
//! page cache the kernel's requests of a 16 MiB read at offset 3 MiB + 12 KiB are 1 MiB long
//! and start 12 KiB past every line. On a grid each of them covers two chunks: the read fetches
//! a chunk more than it reads and every reply joins two buffers. Here a missing range is cut
//! into pieces of at most one chunk starting at an anchor the caller gives (the read's start,
//! or its end for the window ahead), so the pieces fall where the stream's next requests will
//! start, and a random read fetches exactly its own bytes.
//!
//! Extents never overlap: new ones are made only in the gaps between existing ones. The set is
//! bounded in bytes; the oldest extent goes first.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

/// Something with a place in the file.
pub trait Extent {
    /// Its first byte.
    fn start(&self) -> u64;
    /// How many bytes it was asked for.
    fn length(&self) -> u64;
    /// One past its last byte.
    fn end(&self) -> u64 {
        self.start().saturating_add(self.length())
    }
}

/// Non-overlapping extents of one file, by start, and the order they came in.
#[derive(Debug)]
pub struct Extents<T> {
    by_start: BTreeMap<u64, (u64, T)>,
    /// `(start, serial)` oldest first; an entry whose extent is gone (or was replaced) is
    /// skipped when it comes up.
    order: VecDeque<(u64, u64)>,
    bytes: u64,
    serial: u64,
}

impl<T> Default for Extents<T> {
    fn default() -> Self {
        Self {
            by_start: BTreeMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            serial: 0,
        }
    }
}

impl<T: Extent> Extents<T> {
    /// The extent holding byte `at`.
    pub fn at(&self, at: u64) -> Option<&T> {
        self.by_start
            .range(..=at)
            .next_back()
            .map(|(_, (_, extent))| extent)
            .filter(|extent| extent.end() > at)
    }

    /// The parts of `range` no extent holds, in order.
    pub fn gaps(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let mut gaps = Vec::new();
        let mut at = range.start;
        if let Some(extent) = self.at(at) {
            at = extent.end();
        }
        if at >= range.end {
            return gaps;
        }
        for (_, (_, extent)) in self.by_start.range(at..range.end) {
            if extent.start() > at {
                gaps.push(at..extent.start());
            }
            at = at.max(extent.end());
        }
        if at < range.end {
            gaps.push(at..range.end);
        }
        gaps
    }

    /// The extents that hold bytes of `range`, in order.
    pub fn covering(&self, range: Range<u64>) -> Vec<&T> {
        let first = self.at(range.start).map(Extent::start);
        let from = first.unwrap_or(range.start);
        self.by_start
            .range(from..range.end)
            .map(|(_, (_, extent))| extent)
            .collect()
    }

    /// Add an extent (the caller made it in a gap).
    pub fn insert(&mut self, extent: T) {
        let start = extent.start();
        self.serial += 1;
        self.bytes += extent.length();
        self.order.push_back((start, self.serial));
        if let Some((_, old)) = self.by_start.insert(start, (self.serial, extent)) {
            self.bytes -= old.length();
        }
    }

    /// Remove the extent starting at `start`, if `remove` says so of it.
    pub fn remove_if(&mut self, start: u64, remove: impl FnOnce(&T) -> bool) -> Option<T> {
        if !self
            .by_start
            .get(&start)
            .is_some_and(|(_, extent)| remove(extent))
        {
            return None;
        }
        let (_, extent) = self.by_start.remove(&start)?;
        self.bytes -= extent.length();
        Some(extent)
    }

    /// Remove every extent that ends at or before `before` and that `done` says is done with.
    pub fn drop_behind(&mut self, before: u64, done: impl Fn(&T) -> bool) {
        let behind: Vec<u64> = self
            .by_start
            .range(..before)
            .filter(|(_, (_, extent))| extent.end() <= before && done(extent))
            .map(|(start, _)| *start)
            .collect();
        for start in behind {
            self.remove_if(start, |_| true);
        }
    }

    /// Drop the oldest extents until at most `capacity` bytes are held.
    pub fn evict(&mut self, capacity: u64) {
        while self.bytes > capacity {
            let Some((start, serial)) = self.order.pop_front() else {
                break;
            };
            if self.by_start.get(&start).is_some_and(|(s, _)| *s == serial) {
                self.remove_if(start, |_| true);
            }
        }
        // Entries of extents removed otherwise would pile up in a long stream.
        if self.order.len() > 2 * self.by_start.len() + 64 {
            let by_start = &self.by_start;
            self.order
                .retain(|(start, serial)| by_start.get(start).is_some_and(|(s, _)| s == serial));
        }
    }

    /// Forget every extent.
    pub fn clear(&mut self) {
        self.by_start.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// Bytes the extents were asked for.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// How many extents there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_start.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }
}

/// Cut `gap` into pieces of at most `piece` bytes whose inner boundaries lie on
/// `anchor + k * piece`, so that they line up with reads of `piece` bytes from `anchor` on.
pub fn pieces(gap: Range<u64>, anchor: u64, piece: u64) -> Vec<Range<u64>> {
    let piece = piece.max(1);
    let mut out = Vec::new();
    let mut at = gap.start;
    while at < gap.end {
        // The next line of the anchor's grid after `at` (lines before the anchor count too).
        let next = if at >= anchor {
            anchor + ((at - anchor) / piece + 1) * piece
        } else {
            anchor - ((anchor - at - 1) / piece) * piece
        };
        let end = next.min(gap.end);
        out.push(at..end);
        at = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Piece(u64, u64);

    impl Extent for Piece {
        fn start(&self) -> u64 {
            self.0
        }
        fn length(&self) -> u64 {
            self.1
        }
    }

    fn extents(ranges: &[(u64, u64)]) -> Extents<Piece> {
        let mut extents = Extents::default();
        for &(start, len) in ranges {
            extents.insert(Piece(start, len));
        }
        extents
    }

    #[test]
    fn gaps_are_what_no_extent_holds() {
        let extents = extents(&[(10, 10), (30, 5), (35, 5)]);
        assert_eq!(extents.gaps(0..50), vec![0..10, 20..30, 40..50]);
        assert_eq!(extents.gaps(15..32), vec![20..30]);
        assert_eq!(extents.gaps(30..40), Vec::<Range<u64>>::new());
        assert_eq!(extents.gaps(12..18), Vec::<Range<u64>>::new());
        let held: Vec<u64> = extents.covering(15..36).iter().map(|p| p.0).collect();
        assert_eq!(held, vec![10, 30, 35]);
        assert_eq!(extents.at(19), Some(&Piece(10, 10)));
        assert_eq!(extents.at(20), None);
    }

    #[test]
    fn pieces_follow_the_anchor_not_a_fixed_grid() {
        // A stream that started at 12 345 asks for 100-byte requests from there on.
        assert_eq!(
            pieces(12_345..12_600, 12_345, 100),
            vec![12_345..12_445, 12_445..12_545, 12_545..12_600]
        );
        // A gap that starts inside a piece of the grid is cut at the grid's next line.
        assert_eq!(
            pieces(12_400..12_600, 12_345, 100),
            vec![12_400..12_445, 12_445..12_545, 12_545..12_600]
        );
        // Before the anchor, the same lines.
        assert_eq!(
            pieces(12_200..12_345, 12_345, 100),
            vec![12_200..12_245, 12_245..12_345]
        );
    }

    #[test]
    fn the_oldest_go_first_and_removed_ones_are_skipped() {
        let mut extents = extents(&[(0, 10), (10, 10), (20, 10)]);
        extents.remove_if(0, |_| true);
        extents.insert(Piece(30, 10));
        extents.evict(20);
        assert_eq!(extents.bytes(), 20);
        let left: Vec<u64> = extents.covering(0..100).iter().map(|p| p.0).collect();
        assert_eq!(left, vec![20, 30]);
        extents.drop_behind(30, |_| true);
        assert_eq!(extents.len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn gaps_and_extents_tile_the_range(
            spans in proptest::collection::vec((0u64..1000, 1u64..50), 0..20),
            from in 0u64..1100,
            len in 0u64..300,
            anchor in 0u64..1200,
            piece in 1u64..64,
        ) {
            // Non-overlapping extents, made the way the cache makes them: in gaps.
            let mut extents = Extents::default();
            for (start, len) in spans {
                for gap in extents.gaps(start..start + len) {
                    for cut in pieces(gap, anchor, piece) {
                        proptest::prop_assert!(cut.end - cut.start <= piece);
                        extents.insert(Piece(cut.start, cut.end - cut.start));
                    }
                }
            }
            let range = from..from + len;
            let mut covered: Vec<Range<u64>> = extents
                .covering(range.clone())
                .iter()
                .map(|p| p.0.max(range.start)..p.end().min(range.end))
                .chain(extents.gaps(range.clone()))
                .collect();
            covered.sort_by_key(|r| r.start);
            let mut at = range.start;
            for part in covered {
                proptest::prop_assert_eq!(part.start, at);
                at = part.end;
            }
            proptest::prop_assert_eq!(at, range.end.max(range.start));
        }
    }
}
