//! The YAML emitter: block style, keys in document order, every scalar reading back as itself.
//!
//! Choices, documented in `docs/convert.md`:
//! - mappings and sequences in block style, 2 spaces per level, sequence items at the same
//!   indentation as their parent key (`key:\n- item`, as the reference writes them); empty
//!   collections as `{}` and `[]`;
//! - keys are never sorted; keys that are not strings stay what they are (`1: x`, `true: x`);
//!   collections as keys and keys longer than 1024 characters use the explicit `? ` form;
//! - numbers are copied as written (`0x1F`, `1.50`, `1e3`); a float written as an integer
//!   through a tag keeps the tag (`!!float 1`);
//! - a string is plain when it reads back as the same string, otherwise single-quoted, or
//!   double-quoted when it holds characters that need escapes. Words that YAML 1.1 readers
//!   (PyYAML, js-yaml 3, Ruby) take for booleans or numbers (`yes`, `off`, `1_000`, `1:20`) are
//!   quoted too, although YAML 1.2 reads them as strings, so other tools agree;
//! - multi-line strings are literal blocks (`|`, `|-`, `|+`), or double-quoted when they hold
//!   characters a block cannot show;
//! - timestamps are written plain, as they were; `!!binary` keeps its tag.

use super::Error;
use super::value::Value;
use crate::parse::scalar::resolve_plain;
use crate::tree::{Kind, escape_pointer_segment};

/// Longest implicit key YAML allows.
const MAX_IMPLICIT_KEY: usize = 1024;

/// Write `value` as a YAML document with a final newline.
pub fn to_string(value: &Value<'_>) -> Result<String, Error> {
    let mut emitter = Emitter {
        out: String::new(),
        pointer: String::new(),
    };
    match value {
        Value::Map(entries) if !entries.is_empty() => emitter.map(entries, 0)?,
        Value::Seq(items) if !items.is_empty() => emitter.seq(items, 0)?,
        _ => {
            let text = emitter.inline(value, true)?;
            emitter.out.push_str(&text);
            emitter.out.push('\n');
        }
    }
    Ok(emitter.out)
}

struct Emitter {
    out: String,
    pointer: String,
}

impl Emitter {
    fn indent(&mut self, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    /// A block mapping whose first line is already indented (by the caller or a `- `).
    fn map(&mut self, entries: &[(Value<'_>, Value<'_>)], indent: usize) -> Result<(), Error> {
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                self.indent(indent);
            }
            let len = self.pointer.len();
            self.pointer.push('/');
            self.pointer
                .push_str(&escape_pointer_segment(&key_name(key)));
            let simple_key = match key {
                Value::Seq(_) | Value::Map(_) | Value::Foreign => None,
                _ => {
                    Some(self.inline(key, true)?).filter(|k| k.chars().count() <= MAX_IMPLICIT_KEY)
                }
            };
            match simple_key {
                Some(key) => {
                    self.out.push_str(&key);
                    self.out.push(':');
                    self.value_after_key(value, indent)?;
                }
                None => {
                    self.out.push_str("? ");
                    self.node(key, indent + 2)?;
                    self.indent(indent);
                    self.out.push(':');
                    self.out.push(' ');
                    self.node(value, indent + 2)?;
                }
            }
            self.pointer.truncate(len);
        }
        Ok(())
    }

    /// What follows `key:`.
    fn value_after_key(&mut self, value: &Value<'_>, indent: usize) -> Result<(), Error> {
        match value {
            Value::Map(entries) if !entries.is_empty() => {
                self.out.push('\n');
                self.indent(indent + 2);
                self.map(entries, indent + 2)
            }
            Value::Seq(items) if !items.is_empty() => {
                self.out.push('\n');
                self.indent(indent);
                self.seq(items, indent)
            }
            _ => {
                self.out.push(' ');
                self.scalar(value, indent)
            }
        }
    }

    /// A block sequence whose first line is already indented.
    fn seq(&mut self, items: &[Value<'_>], indent: usize) -> Result<(), Error> {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.indent(indent);
            }
            let len = self.pointer.len();
            self.pointer.push_str(&format!("/{i}"));
            self.out.push_str("- ");
            self.node(item, indent + 2)?;
            self.pointer.truncate(len);
        }
        Ok(())
    }

    /// A node after `- `, `? ` or `: ` (compact notation), its block content at `indent`.
    fn node(&mut self, value: &Value<'_>, indent: usize) -> Result<(), Error> {
        match value {
            Value::Map(entries) if !entries.is_empty() => self.map(entries, indent),
            Value::Seq(items) if !items.is_empty() => self.seq(items, indent),
            _ => self.scalar(value, indent.saturating_sub(2)),
        }
    }

    /// A scalar (or empty collection) and its line break; `parent` is the indentation of the
    /// key or dash it belongs to, for block scalars.
    fn scalar(&mut self, value: &Value<'_>, parent: usize) -> Result<(), Error> {
        if let Value::Str(text) = value
            && literal_ok(text)
        {
            self.literal(text, parent + 2);
            return Ok(());
        }
        let text = self.inline(value, false)?;
        self.out.push_str(&text);
        self.out.push('\n');
        Ok(())
    }

    /// A literal block scalar with its content at `indent`.
    fn literal(&mut self, text: &str, indent: usize) {
        let body = text.trim_end_matches('\n');
        let trailing = text.len() - body.len();
        self.out.push('|');
        if body.starts_with(' ') {
            self.out.push('2');
        }
        self.out.push_str(match trailing {
            0 => "-",
            1 => "",
            _ => "+",
        });
        self.out.push('\n');
        for line in body.split('\n') {
            if !line.is_empty() {
                self.indent(indent);
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
        for _ in 1..trailing {
            self.out.push('\n');
        }
    }

    /// A scalar on one line. `key`: it is a mapping key or a whole document, never a block.
    fn inline(&self, value: &Value<'_>, _key: bool) -> Result<String, Error> {
        Ok(match value {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(lexeme) => lexeme.to_string(),
            Value::Float(lexeme) if resolve_plain(lexeme) == Kind::Float => lexeme.to_string(),
            Value::Float(lexeme) => format!("!!float {lexeme}"),
            Value::Timestamp(text) if resolve_plain(text) == Kind::Timestamp => text.to_string(),
            Value::Timestamp(text) => format!("!!timestamp {}", quoted(text)),
            Value::Binary(text) => {
                let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                format!("!!binary {}", double_quoted(&compact))
            }
            Value::Str(text) => quoted(text),
            Value::Seq(items) if items.is_empty() => "[]".to_owned(),
            Value::Map(entries) if entries.is_empty() => "{}".to_owned(),
            Value::Seq(_) | Value::Map(_) | Value::Foreign => {
                return Err(Error::NotYaml {
                    pointer: self.pointer.clone(),
                    what: format!("a {}", value.type_name()),
                });
            }
        })
    }
}

/// A key's name for JSON pointers in messages.
fn key_name(key: &Value<'_>) -> String {
    match key {
        Value::Str(text) | Value::Int(text) | Value::Float(text) | Value::Timestamp(text) => {
            text.to_string()
        }
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        _ => format!("<{}>", key.type_name()),
    }
}

/// A string on one line: plain if that reads back as the same string, else quoted.
fn quoted(text: &str) -> String {
    if plain_ok(text) {
        text.to_owned()
    } else if text
        .chars()
        .all(|c| printable(c) && c != '\t' && c != '\n' && c != '\r')
    {
        format!("'{}'", text.replace('\'', "''"))
    } else {
        double_quoted(text)
    }
}

/// Whether a character may appear unescaped in a YAML file (the YAML 1.2 printable set, minus
/// the characters YAML 1.1 reads as line breaks and the byte-order mark).
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Whether `text` can be written as a plain scalar and read back as the same string, by YAML
/// 1.2 and by YAML 1.1 readers.
fn plain_ok(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if resolve_plain(text) != Kind::Str || yaml11_special(text) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || text == "<<" || text.starts_with("...") {
        return false;
    }
    if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        return false;
    }
    if text.contains(": ") || text.contains(" #") || text.ends_with(':') {
        return false;
    }
    text.chars()
        .all(|c| printable(c) && !matches!(c, '\t' | '\n' | '\r'))
}

/// Words YAML 1.1 readers resolve to booleans or numbers although YAML 1.2 keeps them strings
/// (`y` and `n` are left plain: the spec lists them, but PyYAML and js-yaml read strings).
fn yaml11_special(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "=", ".inf",
        ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", ".nan", ".NaN", ".NAN", "-.nan",
    ];
    if WORDS.contains(&text) {
        return true;
    }
    // Anything number-like: YAML 1.1 has sexagesimal (`1:20`), `_` separators, `0b`/`0x`
    // prefixes and floats without digits before the dot (`.5e3`).
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoO_.:+-".contains(c))
}

/// Whether a multi-line string can be a literal block scalar and read back the same.
fn literal_ok(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with('\n')
        && !text.trim().is_empty()
        && text.chars().all(|c| printable(c) && c != '\r' && c != '\t')
        && !text.split('\n').any(|line| line.ends_with(' '))
}

/// A double-quoted scalar with escapes for everything that is not printable.
fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !printable(c) => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02X}"));
                } else {
                    out.push_str(&format!("\\u{code:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> String {
        let tree = crate::parse::tree(text).unwrap();
        to_string(&Value::from_node(tree.root()).unwrap()).unwrap()
    }

    #[test]
    fn quoting() {
        assert_eq!(quoted("hello world"), "hello world");
        assert_eq!(quoted("9"), "'9'");
        assert_eq!(quoted("010"), "'010'");
        assert_eq!(quoted("yes"), "'yes'");
        assert_eq!(quoted("1_000"), "'1_000'");
        assert_eq!(quoted("true"), "'true'");
        assert_eq!(quoted("2020-01-01"), "'2020-01-01'");
        assert_eq!(quoted(""), "''");
        assert_eq!(quoted("a: b"), "'a: b'");
        assert_eq!(quoted("it's"), "it's");
        assert_eq!(quoted("- x"), "'- x'");
        assert_eq!(quoted("tab\there"), "\"tab\\there\"");
        assert_eq!(quoted("v1.0"), "v1.0");
        assert_eq!(quoted("http://x/y#z"), "http://x/y#z");
        assert_eq!(quoted("<<"), "'<<'");
    }

    #[test]
    fn layout() {
        assert_eq!(
            yaml("{b: 1, a: [x, {c: 0x1F, d: []}], e: {}, f: \"l1\\nl2\\n\"}"),
            "b: 1\na:\n- x\n- c: 0x1F\n  d: []\ne: {}\nf: |\n  l1\n  l2\n"
        );
        assert_eq!(yaml("[[1, 2], 3]"), "- - 1\n  - 2\n- 3\n");
        assert_eq!(
            yaml("1: one\ntrue: t\nnull: n\n"),
            "1: one\ntrue: t\nnull: n\n"
        );
        assert_eq!(yaml("'9'"), "'9'\n");
    }
}
