//! Parsers for the numeric options of every command: each value is checked against a range when
//! the command line is parsed, so no command ever sees a number it cannot use (a duration of
//! 10^300 seconds made `Duration::from_secs_f64` panic; a `--readers` of 10^18 would try to start
//! that many threads). A value out of range is a usage error (exit 2) whose message names the range.
//!
//! Integers use clap's own ranged parsers ([`count`], [`int`]); durations and sizes have one
//! parser each here. The limits are listed in `docs/limits.md`.

use std::ops::RangeInclusive;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;

/// The shortest duration any option takes.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// The longest duration any option takes: 366 days.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// A duration between [`MIN_DURATION`] and [`MAX_DURATION`]: a number of seconds with an optional
/// unit, `s`, `m`, `h` or `d` (`90`, `1.5`, `90s`, `15m`, `2h`, `1d`).
///
/// # Errors
/// A message naming the accepted form and range.
pub fn duration(text: &str) -> Result<Duration, String> {
    duration_in(text, MIN_DURATION, MAX_DURATION)
}

/// A `--batches` list (`3,7-9`): batch indices as `red plan` shows them, checked for form here
/// and against the file's batches once it is planned.
///
/// # Errors
/// A message naming the part that is wrong.
pub fn batches(text: &str) -> Result<crate::plan::select::Selection, String> {
    crate::plan::select::parse(text).map_err(|error| error.to_string())
}

/// A duration of at most one day (the request timeouts of the remote commands).
///
/// # Errors
/// A message naming the accepted form and range.
pub fn duration_up_to_a_day(text: &str) -> Result<Duration, String> {
    duration_in(text, MIN_DURATION, Duration::from_secs(24 * 3600))
}

/// A wait that may be zero, of at most an hour (`--start-delay`): `0`, `0.05`, `2s`, `1m`.
///
/// # Errors
/// A message naming the accepted form and range.
pub fn delay(text: &str) -> Result<Duration, String> {
    if text.trim().parse::<f64>().is_ok_and(|n| n == 0.0) {
        return Ok(Duration::ZERO);
    }
    duration_in(text, MIN_DURATION, Duration::from_secs(3600))
}

fn duration_in(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let range = format!(
        "a duration from {} to {} (e.g. `90s`, `15m`, `2h`; a bare number is seconds)",
        show_duration(min),
        show_duration(max)
    );
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("`{text}` is not {range}")),
    };
    let seconds = number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(|n| n * scale)
        .ok_or_else(|| format!("`{text}` is not {range}"))?;
    // Compared as seconds first, so that no value reaches `Duration`'s constructors unchecked.
    if !(min.as_secs_f64()..=max.as_secs_f64()).contains(&seconds) {
        return Err(format!("`{text}` is out of range: give {range}"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not {range}"))
}

/// A duration for people: `1 ms`, `1 day`, `366 days`, `90 s`.
#[must_use]
pub fn show_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else if seconds.is_multiple_of(86_400) {
        let days = seconds / 86_400;
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}

/// A parser of a size in bytes (`4096`, `16M`, `2G`; K, M, G and T are binary) within `range`.
pub fn size(range: RangeInclusive<u64>) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |text: &str| {
        let value = crate::bench::stats::parse_size(text)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "`{text}` is out of range: give a size from {} to {}",
                show_size(*range.start()),
                show_size(*range.end())
            ))
        }
    }
}

pub use crate::source::show_size;

/// A count (threads, rounds, items) within `range`.
#[must_use]
pub fn count(range: RangeInclusive<u64>) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(range)
}

/// An unsigned integer within `range`.
#[must_use]
pub fn int(range: RangeInclusive<u64>) -> RangedU64ValueParser<u64> {
    RangedU64ValueParser::<u64>::new().range(range)
}

/// A fraction from 0 to 1.
///
/// # Errors
/// A message naming the range.
pub fn fraction(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| format!("`{text}` is not a number from 0 to 1"))
}

#[cfg(test)]
mod tests;
