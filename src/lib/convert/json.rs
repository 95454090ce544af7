//! The JSON emitter: always valid JSON (RFC 8259), keys in document order, numbers as written.
//!
//! Choices, documented in `docs/convert.md`:
//! - a number whose lexeme is valid JSON is copied (`1.50` stays `1.50`, `1e3` stays `1e3`);
//!   other integers are written in decimal, exactly, whatever their size (`0x1F` → `31`,
//!   `010` → `10`, `1_000` → `1000`); other floats are normalised (`.5` → `0.5`, `1.` → `1.0`,
//!   `+1.5` → `1.5`) and always keep a `.` or an exponent so they read back as floats;
//! - `.inf`, `-.inf` and `.nan` have no JSON spelling: an error naming the value's path;
//! - timestamps become strings of their text (`2020-01-01` → `"2020-01-01"`);
//! - `!!binary` becomes the string of its base64 text without line breaks;
//! - keys that are numbers, booleans or `null` become strings of their text (as Python's
//!   `json` module does); collections as keys and `!!set`/`!!omap` values are errors;
//! - strings are escaped as JSON requires and no more: non-ASCII text stays readable.

use std::fmt::Write as _;

use super::Error;
use super::value::Value;
use crate::tree::escape_pointer_segment;
use crate::tree::number;

/// Write `value` as JSON with `indent` spaces per level (0: one line), and a final newline.
pub fn to_string(value: &Value<'_>, indent: usize) -> Result<String, Error> {
    let mut out = String::new();
    let mut pointer = String::new();
    write_value(value, indent, 0, &mut pointer, &mut out)?;
    out.push('\n');
    Ok(out)
}

/// Write `value` as JSON into `out` at nesting level `level` (no final newline).
pub(crate) fn write_value(
    value: &Value<'_>,
    indent: usize,
    level: usize,
    pointer: &mut String,
    out: &mut String,
) -> Result<(), Error> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(lexeme) => out.push_str(&int_lexeme(lexeme)),
        Value::Float(lexeme) => match float_lexeme(lexeme) {
            Some(text) => out.push_str(&text),
            None => {
                return Err(Error::NotJson {
                    pointer: pointer.clone(),
                    what: format!("the number `{lexeme}`"),
                });
            }
        },
        Value::Str(text) | Value::Timestamp(text) => write_string(text, out),
        Value::Binary(text) => {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            write_string(&compact, out);
        }
        Value::Seq(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, level + 1, out);
                let len = pointer.len();
                let _ = write!(pointer, "/{i}");
                write_value(item, indent, level + 1, pointer, out)?;
                pointer.truncate(len);
            }
            newline(indent, level, out);
            out.push(']');
        }
        Value::Map(entries) => {
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, level + 1, out);
                let key = key_text(key, pointer)?;
                write_string(&key, out);
                out.push(':');
                if indent > 0 {
                    out.push(' ');
                }
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_pointer_segment(&key));
                write_value(item, indent, level + 1, pointer, out)?;
                pointer.truncate(len);
            }
            newline(indent, level, out);
            out.push('}');
        }
        Value::Foreign => {
            return Err(Error::NotJson {
                pointer: pointer.clone(),
                what: "a `!!set` or `!!omap` collection".to_owned(),
            });
        }
    }
    Ok(())
}

fn newline(indent: usize, level: usize, out: &mut String) {
    if indent > 0 {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', indent * level));
    }
}

/// The text a key is written with: strings as they are, scalars as their JSON text.
fn key_text(key: &Value<'_>, pointer: &str) -> Result<String, Error> {
    match key {
        Value::Str(text) | Value::Timestamp(text) => Ok(text.to_string()),
        Value::Null => Ok("null".to_owned()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Int(lexeme) => Ok(int_lexeme(lexeme)),
        Value::Float(lexeme) => Ok(float_lexeme(lexeme).unwrap_or_else(|| lexeme.to_string())),
        Value::Binary(text) => Ok(text.to_string()),
        Value::Seq(_) | Value::Map(_) | Value::Foreign => Err(Error::NotJson {
            pointer: pointer.to_owned(),
            what: format!("a {} used as a mapping key", key.type_name()),
        }),
    }
}

/// Write a double-quoted string literal that JSON and YAML both read back as `text`.
pub(crate) fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // Controls, and characters some YAML and JavaScript readers take as line breaks or a
            // byte-order mark: escaped, so the same literal reads back alike as JSON and YAML.
            c if u32::from(c) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `text` is a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let whole_start = i;
    let whole = digits(&mut i);
    if whole == 0 || (whole > 1 && bytes.get(whole_start) == Some(&b'0')) {
        return false;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

/// An integer lexeme as a JSON integer: copied when it already is one, else exact decimal.
pub(crate) fn int_lexeme(lexeme: &str) -> String {
    if is_json_number(lexeme) && !lexeme.contains(['.', 'e', 'E']) {
        return lexeme.to_owned();
    }
    number::int_decimal(lexeme).unwrap_or_else(|| lexeme.to_owned())
}

/// A float lexeme as a JSON number that reads back as a float, or `None` for infinities and
/// NaN.
pub(crate) fn float_lexeme(lexeme: &str) -> Option<String> {
    if is_json_number(lexeme) && lexeme.contains(['.', 'e', 'E']) {
        return Some(lexeme.to_owned());
    }
    let cleaned: String = lexeme.chars().filter(|&c| c != '_').collect();
    let (negative, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    if body.starts_with(['.', 'i', 'I', 'n', 'N'])
        && !body[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let whole = whole.trim_start_matches('0');
    let mut text = String::new();
    if negative {
        text.push('-');
    }
    text.push_str(if whole.is_empty() { "0" } else { whole });
    text.push('.');
    text.push_str(if fraction.is_empty() { "0" } else { fraction });
    if let Some(exponent) = exponent {
        let (sign, digits) = match exponent.as_bytes().first() {
            Some(b'-') => ("-", &exponent[1..]),
            Some(b'+') => ("", &exponent[1..]),
            _ => ("", exponent),
        };
        let digits = digits.trim_start_matches('0');
        let _ = write!(
            text,
            "e{sign}{}",
            if digits.is_empty() { "0" } else { digits }
        );
    }
    is_json_number(&text).then_some(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(int_lexeme("42"), "42");
        assert_eq!(int_lexeme("-0"), "-0");
        assert_eq!(int_lexeme("0x1F"), "31");
        assert_eq!(int_lexeme("010"), "10");
        assert_eq!(int_lexeme("+7"), "7");
        assert_eq!(int_lexeme("1_000"), "1000");
        assert_eq!(
            int_lexeme("123456789012345678901234567890123456789012"),
            "123456789012345678901234567890123456789012"
        );
        for (float, json) in [
            ("1.50", "1.50"),
            ("1e3", "1e3"),
            ("1.0E+3", "1.0E+3"),
            ("1.", "1.0"),
            (".5", "0.5"),
            ("+1.5", "1.5"),
            ("-01.5", "-1.5"),
            ("1_000.5", "1000.5"),
            ("1.e5", "1.0e5"),
            (".5e+3", "0.5e3"),
        ] {
            assert_eq!(float_lexeme(float).as_deref(), Some(json), "{float}");
        }
        for bad in [".inf", "-.inf", "+.Inf", ".nan", ".NaN"] {
            assert_eq!(float_lexeme(bad), None, "{bad}");
        }
    }

    #[test]
    fn strings_are_escaped_minimally() {
        let mut out = String::new();
        write_string("a\"b\\c\n\u{1}é\u{1F433}\u{2028}", &mut out);
        assert_eq!(out, r#""a\"b\\c\n\u0001é🐳\u2028""#);
    }
}
