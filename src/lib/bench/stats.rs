//! Summaries of timing samples: median, spread and percentiles. Pure functions, no I/O.

use serde::Serialize;

/// A summary of a set of samples (all in the unit the caller used).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// How many samples there were.
    pub count: usize,
    /// The smallest sample.
    pub min: f64,
    /// The arithmetic mean.
    pub mean: f64,
    /// The median (50th percentile).
    pub median: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
    /// The population standard deviation.
    pub stddev: f64,
}

impl Summary {
    /// The summary of no samples: every figure 0.
    pub const EMPTY: Self = Self {
        count: 0,
        min: 0.0,
        mean: 0.0,
        median: 0.0,
        p90: 0.0,
        p99: 0.0,
        max: 0.0,
        stddev: 0.0,
    };

    /// Summarise `samples`; `None` when there are none or one is not finite.
    #[must_use]
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        let mean = sorted.iter().sum::<f64>() / count as f64;
        let variance = sorted.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / count as f64;
        Some(Self {
            count,
            min: sorted.first().copied().unwrap_or(0.0),
            mean,
            median: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied().unwrap_or(0.0),
            stddev: variance.sqrt(),
        })
    }

    /// The relative spread `(max - min) / median`, as a fraction (0 when the median is 0).
    #[must_use]
    pub fn relative_spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median
        }
    }
}

/// The `p`-th percentile (0–100) of sorted samples, interpolating linearly between the two
/// nearest ranks (the method numpy calls `linear`). Returns 0 for no samples.
#[must_use]
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let rank = (p.clamp(0.0, 100.0) / 100.0) * last as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let (Some(low), Some(high)) = (sorted.get(below), sorted.get(above)) else {
        return 0.0;
    };
    low + (high - low) * (rank - below as f64)
}

/// Parse a size such as `16M`, `16MiB`, `512k`, `1G` or `4096` (binary units) into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as `16M` or `4096`"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("`{text}` has an unknown unit; use K, M, G or T")),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Bytes per second expressed in MiB/s; 0 for an empty interval.
#[must_use]
pub fn mib_per_second(bytes: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        0.0
    } else {
        bytes as f64 / (1024.0 * 1024.0) / seconds
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert_eq!(percentile(&sorted, 50.0), 3.0);
        assert_eq!(percentile(&sorted, 100.0), 10.0);
        // rank 0.9 * 4 = 3.6: 4 + 0.6 * (10 - 4)
        assert!((percentile(&sorted, 90.0) - 7.6).abs() < 1e-12);
        // rank 0.25 * 4 = 1.0 exactly
        assert_eq!(percentile(&sorted, 25.0), 2.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn summary_of_unsorted_samples() {
        let summary = Summary::of(&[4.0, 2.0, 8.0, 6.0]).unwrap();
        assert_eq!(summary.count, 4);
        assert_eq!(summary.min, 2.0);
        assert_eq!(summary.max, 8.0);
        assert_eq!(summary.mean, 5.0);
        // median of 2 4 6 8: rank 1.5 -> 5
        assert_eq!(summary.median, 5.0);
        // population variance: (9 + 1 + 1 + 9) / 4 = 5
        assert!((summary.stddev - 5f64.sqrt()).abs() < 1e-12);
        assert!((summary.relative_spread() - 6.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn summary_rejects_empty_and_nan() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("M").is_err());
        assert!(parse_size("3X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn mib_per_second_of_one_mib() {
        assert_eq!(mib_per_second(1 << 20, 0.5), 2.0);
        assert_eq!(mib_per_second(1 << 20, 0.0), 0.0);
    }
}
