//! YAML 1.2 scalar resolution, as ruamel.yaml's safe loader does it for RED files.
//!
//! The reference reads every RED file with ruamel.yaml in YAML 1.2 mode, so `yes` is a string,
//! `010` is the integer 10, `1e3` is a float and `2020-01-01` is a date. Verdicts depend on
//! these rules, so they are reproduced here exactly, from the resolver's regular expressions.

use crate::tree::Kind;
use crate::tree::number::strip_sign;
/// The values of number lexemes live with the tree, which computes them on demand.
pub use crate::tree::number::{float_value, int_decimal, int_value};

/// The kind a plain (unquoted, untagged) scalar resolves to.
#[must_use]
pub fn resolve_plain(text: &str) -> Kind {
    // Fast path: a word that starts with a letter no null, boolean or number can start with.
    if let Some(first) = text.bytes().next()
        && first.is_ascii_alphabetic()
        && !matches!(first, b'n' | b'N' | b't' | b'T' | b'f' | b'F')
    {
        return Kind::Str;
    }
    if is_null(text) {
        Kind::Null
    } else if is_bool(text) {
        Kind::Bool
    } else if is_int(text) {
        Kind::Int
    } else if is_float(text) {
        Kind::Float
    } else if is_timestamp(text) {
        Kind::Timestamp
    } else {
        Kind::Str
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn is_bool(text: &str) -> bool {
    matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

fn all(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    !text.is_empty() && text.bytes().all(allowed)
}

/// `[-+]?0b[0-1_]+ | [-+]?0o?[0-7_]+ | [-+]?[0-9_]+ | [-+]?0x[0-9a-fA-F_]+`, with at least one
/// digit (an all-underscore number crashes the reference; it stays a string here).
fn is_int(text: &str) -> bool {
    let (_, body) = strip_sign(text);
    let digits = if let Some(rest) = body.strip_prefix("0b") {
        all(rest, |b| matches!(b, b'0' | b'1' | b'_')).then_some(rest)
    } else if let Some(rest) = body.strip_prefix("0x") {
        all(rest, |b| b.is_ascii_hexdigit() || b == b'_').then_some(rest)
    } else if let Some(rest) = body.strip_prefix("0o") {
        all(rest, |b| matches!(b, b'0'..=b'7' | b'_')).then_some(rest)
    } else {
        all(body, |b| b.is_ascii_digit() || b == b'_').then_some(body)
    };
    digits.is_some_and(|d| d.bytes().any(|b| b != b'_'))
}

/// ruamel's YAML 1.2 float expression:
/// `[-+]?([0-9][0-9_]*)\.[0-9_]*([eE][-+]?[0-9]+)? | [-+]?([0-9][0-9_]*)([eE][-+]?[0-9]+)
///  | \.[0-9_]+([eE][-+][0-9]+)? | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)`.
fn is_float(text: &str) -> bool {
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (_, body) = strip_sign(text);
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    if let Some(rest) = text.strip_prefix('.') {
        // No sign allowed before a leading dot, and the exponent needs an explicit sign.
        let (fraction, exponent) = split_exponent(rest);
        return all(fraction, |b| b.is_ascii_digit() || b == b'_')
            && exponent.is_none_or(|e| {
                matches!(e.as_bytes().first(), Some(b'-' | b'+')) && exponent_digits(e)
            });
    }
    let (mantissa, exponent) = split_exponent(body);
    if exponent.is_some_and(|e| !exponent_digits(e)) {
        return false;
    }
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let whole_ok = whole.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && whole.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    match fraction {
        Some(fraction) => whole_ok && fraction.bytes().all(|b| b.is_ascii_digit() || b == b'_'),
        None => whole_ok && exponent.is_some(),
    }
}

fn split_exponent(text: &str) -> (&str, Option<&str>) {
    match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    }
}

fn exponent_digits(exponent: &str) -> bool {
    let (_, digits) = strip_sign(exponent);
    all(digits, |b| b.is_ascii_digit())
}

/// `YYYY-M-D[Tt ]H:MM:SS(.f)?( Z|±H(:MM)?)?` or `YYYY-MM-DD`.
fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    if bytes.len() == 10
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
    {
        return true;
    }
    timestamp_with_time(text)
}

fn timestamp_with_time(text: &str) -> bool {
    let mut rest = text;
    let take_digits = |s: &mut &str, min: usize, max: usize| -> bool {
        let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
        *s = &s[n..];
        n >= min
    };
    let expect = |s: &mut &str, c: char| -> bool {
        match s.strip_prefix(c) {
            Some(r) => {
                *s = r;
                true
            }
            None => false,
        }
    };
    if !(take_digits(&mut rest, 4, 4) && expect(&mut rest, '-') && take_digits(&mut rest, 1, 2)) {
        return false;
    }
    if !(expect(&mut rest, '-') && take_digits(&mut rest, 1, 2)) {
        return false;
    }
    if !(expect(&mut rest, 'T') || expect(&mut rest, 't')) {
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if trimmed.len() == rest.len() {
            return false;
        }
        rest = trimmed;
    }
    if !(take_digits(&mut rest, 1, 2) && expect(&mut rest, ':') && take_digits(&mut rest, 2, 2)) {
        return false;
    }
    if !(expect(&mut rest, ':') && take_digits(&mut rest, 2, 2)) {
        return false;
    }
    if expect(&mut rest, '.') {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        rest = &rest[n..];
    }
    let zone_text = rest.trim_start_matches([' ', '\t']);
    if zone_text.is_empty() {
        return rest.is_empty();
    }
    if zone_text == "Z" {
        return true;
    }
    let mut zone = match zone_text.strip_prefix(['-', '+']) {
        Some(z) => z,
        None => return false,
    };
    if !take_digits(&mut zone, 1, 2) {
        return false;
    }
    if expect(&mut zone, ':') && !take_digits(&mut zone, 2, 2) {
        return false;
    }
    zone.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_2_core_resolution() {
        for (text, kind) in [
            ("", Kind::Null),
            ("~", Kind::Null),
            ("NULL", Kind::Null),
            ("nULL", Kind::Str),
            ("true", Kind::Bool),
            ("True", Kind::Bool),
            ("yes", Kind::Str),
            ("on", Kind::Str),
            ("y", Kind::Str),
            ("42", Kind::Int),
            ("-0", Kind::Int),
            ("010", Kind::Int),
            ("0o17", Kind::Int),
            ("0x1F", Kind::Int),
            ("0b101", Kind::Int),
            ("1_000", Kind::Int),
            ("_", Kind::Str),
            ("123456789012345678901234567890", Kind::Int),
            ("1.5", Kind::Float),
            ("1e3", Kind::Float),
            ("1.0e+3", Kind::Float),
            ("1.", Kind::Float),
            (".5", Kind::Float),
            ("-.5", Kind::Str),
            (".5e3", Kind::Str),
            (".5e+3", Kind::Float),
            ("-.inf", Kind::Float),
            (".nan", Kind::Float),
            ("-.nan", Kind::Str),
            ("NaN", Kind::Str),
            ("1e", Kind::Str),
            ("2020-01-01", Kind::Timestamp),
            ("2020-1-1", Kind::Str),
            ("2001-12-14t21:59:43.10-05:00", Kind::Timestamp),
            ("2001-12-14 21:59:43.10 -5", Kind::Timestamp),
            ("2001-12-15T02:59:43.1Z", Kind::Timestamp),
            ("v1.0", Kind::Str),
            ("1.0.0", Kind::Str),
        ] {
            assert_eq!(resolve_plain(text), kind, "{text:?}");
        }
    }
}
