//! A fast event source for the plain block YAML that real RED files are written in.
//!
//! saphyr's general YAML scanner spends most of the time of `red validate` on big files (a
//! 4 MB, 100,000-batch file took about 0.3 s, 85% of it in the scanner). Real RED files use
//! a small part of YAML: indented block mappings and sequences, one-line plain and quoted
//! scalars, one-line flow collections (`{}`, `[a, b]`), comments and an optional leading `---`.
//! This module reads exactly that subset with a line-oriented scanner and feeds the same
//! events, with the same spans, into the same [`Builder`] as the saphyr path, so the tree is
//! identical (the differential tests in `fast/tests.rs` check it on every fixture and on
//! random documents).
//!
//! It never reports an error of its own: on anything outside the subset (tabs, anchors,
//! aliases, tags, block scalars, multi-line scalars, `?` keys, directives, several documents,
//! multi-line flow collections, control characters, …) and on any error at all it gives up,
//! and the whole text goes through saphyr, so errors and edge cases are exactly as before.

mod flow;

use std::borrow::Cow;

use saphyr_parser::{Event, ScalarStyle};

use super::Builder;
use crate::source::{Location, Span, to_u32};
use crate::tree::Tree;

/// Nesting deeper than this goes to saphyr (which has its own bound).
const MAX_DEPTH: usize = 100;
/// Longer implicit keys go to saphyr (YAML bounds them at 1024 characters).
const MAX_KEY_BYTES: usize = 500;

/// Whether `byte` is a YAML indicator that may not start a plain scalar (`-` only when a blank
/// follows it, which the callers check).
fn is_indicator(byte: u8) -> bool {
    matches!(
        byte,
        b',' | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
            | b'?'
            | b':'
            | b'-'
    )
}

/// The text is outside the subset (or wrong): let saphyr read it.
struct GiveUp;

type Step<T> = Result<T, GiveUp>;

/// The tree of `text` if it is in the subset and well-formed, `None` otherwise.
pub(super) fn tree(text: &str) -> Option<Tree> {
    if !acceptable_characters(text) {
        return None;
    }
    // saphyr's end position differs when the text ends in a blank or comment line without a
    // newline; such texts are rare, so they are left to it.
    let last_line = text.rsplit('\n').next().unwrap_or_default();
    let last_content = last_line.trim_start_matches(' ');
    if !last_line.is_empty() && (last_content.is_empty() || last_content.starts_with('#')) {
        return None;
    }
    let mut scanner = Scanner::new(text);
    scanner.document().ok()?;
    scanner.builder.finish().ok()
}

/// Only printable characters, newlines as the only breaks, no tabs and no byte-order mark.
fn acceptable_characters(text: &str) -> bool {
    let bytes_ok = text.bytes().all(|b| (b >= 0x20 && b != 0x7f) || b == b'\n');
    bytes_ok
        && (text.is_ascii()
            || text.chars().all(|c| {
                let c = u32::from(c);
                c < 0x80
                    || ((0xA0..=0xD7FF).contains(&c) && c != 0x2028 && c != 0x2029)
                    || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
                    || c >= 0x1_0000
            }))
}

/// A scalar read but not yet handed to the builder.
struct Token<'a> {
    value: Cow<'a, str>,
    style: ScalarStyle,
    span: Span,
}

/// What follows a scalar on its line.
enum After {
    /// `: ` or `:` at the end of the line, at this byte offset: the scalar is a key.
    Colon(usize),
    /// Only spaces and maybe a comment up to the end of the line.
    End,
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// Byte offset: the first content character of the current line once positioned.
    pos: usize,
    /// 1-based number of the line `pos` is on.
    line: u32,
    /// Byte offset where that line starts.
    line_start: usize,
    /// Indentation of the current content line; `None` at the end of the text.
    current: Option<usize>,
    depth: usize,
    builder: Builder,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            line: 1,
            line_start: 0,
            current: None,
            depth: 0,
            builder: Builder::with_capacity(text.len()),
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    /// End of line (or of text) at `at`.
    fn eol(&self, at: usize) -> bool {
        matches!(self.byte(at), None | Some(b'\n'))
    }

    /// Whether `at` holds a `-` block entry indicator.
    fn dash(&self, at: usize) -> bool {
        self.byte(at) == Some(b'-') && (self.eol(at + 1) || self.byte(at + 1) == Some(b' '))
    }

    fn skip_spaces(&self, mut at: usize) -> usize {
        while self.byte(at) == Some(b' ') {
            at += 1;
        }
        at
    }

    /// Location of byte offset `at` on the current line (columns count characters).
    fn loc(&self, at: usize) -> Location {
        let prefix = self.text.get(self.line_start..at).unwrap_or_default();
        let column = if prefix.is_ascii() {
            prefix.len()
        } else {
            prefix.chars().count()
        };
        Location::new(self.line, to_u32(column + 1))
    }

    fn point(&self, at: usize) -> Span {
        let loc = self.loc(at);
        Span {
            start: loc,
            end: loc,
        }
    }

    /// Where saphyr puts the end of a block collection closed by what comes next: the next
    /// content, or the start of the line after the last one.
    fn next_token_span(&self) -> Span {
        if self.current.is_some() {
            return self.point(self.pos);
        }
        let line = if self.line_start >= self.text.len() {
            self.line
        } else {
            self.line + 1
        };
        let loc = Location::new(line, 1);
        Span {
            start: loc,
            end: loc,
        }
    }

    fn emit(&mut self, event: Event<'a>, span: Span) -> Step<()> {
        self.builder.event(event, span).map_err(|_| GiveUp)
    }

    fn emit_scalar(&mut self, token: Token<'a>) -> Step<()> {
        self.emit(Event::Scalar(token.value, token.style, 0, None), token.span)
    }

    /// From the end of a line's content, move to the next line that holds content.
    fn advance(&mut self) -> Step<()> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match rest.iter().position(|&b| b == b'\n') {
            Some(offset) => {
                self.pos += offset + 1;
                self.line += 1;
                self.line_start = self.pos;
                self.find_content()
            }
            None => {
                self.pos = self.bytes.len();
                self.current = None;
                Ok(())
            }
        }
    }

    /// From the start of a line, skip blank and comment lines; position on the first content
    /// character and set `current` to its indentation.
    fn find_content(&mut self) -> Step<()> {
        loop {
            if self.pos >= self.bytes.len() {
                self.current = None;
                return Ok(());
            }
            let first = self.skip_spaces(self.pos);
            if self.eol(first) || self.byte(first) == Some(b'#') {
                self.pos = first;
                let rest = self.bytes.get(self.pos..).unwrap_or_default();
                match rest.iter().position(|&b| b == b'\n') {
                    Some(offset) => {
                        self.pos += offset + 1;
                        self.line += 1;
                        self.line_start = self.pos;
                        continue;
                    }
                    None => {
                        self.pos = self.bytes.len();
                        self.current = None;
                        return Ok(());
                    }
                }
            }
            let indent = first - self.pos;
            if indent == 0 {
                let head = self.bytes.get(first..first + 3);
                if matches!(head, Some(b"---" | b"...")) && self.blank_or_eol(first + 3) {
                    return Err(GiveUp);
                }
            }
            self.pos = first;
            self.current = Some(indent);
            return Ok(());
        }
    }

    /// Where saphyr ends a quoted scalar or a flow collection that closes before `after`: past
    /// the spaces that follow it, and past a comment up to the end of the line.
    fn token_end(&self, after: usize) -> usize {
        let at = self.skip_spaces(after);
        if at > after && self.byte(at) == Some(b'#') {
            let rest = self.bytes.get(at..).unwrap_or_default();
            return at + rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        }
        at
    }

    fn blank_or_eol(&self, at: usize) -> bool {
        self.eol(at) || self.byte(at) == Some(b' ')
    }

    fn enter(&mut self) -> Step<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        Ok(())
    }

    fn document(&mut self) -> Step<()> {
        // An optional `---` alone on the first content line.
        self.find_content_allowing_start()?;
        let Some(indent) = self.current else {
            return Err(GiveUp); // an empty document: rare, leave it to saphyr
        };
        let at = self.pos;
        if self.dash(at) {
            self.sequence(indent, false)?;
        } else if matches!(self.byte(at), Some(b'[' | b'{')) {
            let end = self.flow(at)?;
            self.line_rest(end)?;
            self.advance()?;
        } else {
            let (token, after) = self.block_scalar(at)?;
            match after {
                After::Colon(colon) => self.mapping(indent, Some((token, colon)))?,
                After::End => return Err(GiveUp), // a lone scalar document
            }
        }
        if self.current.is_some() {
            return Err(GiveUp);
        }
        Ok(())
    }

    fn find_content_allowing_start(&mut self) -> Step<()> {
        loop {
            let first = self.skip_spaces(self.pos);
            if first == self.pos && self.bytes.get(first..first + 3) == Some(b"---") {
                let after = self.skip_spaces(first + 3);
                if !self.eol(after) {
                    return Err(GiveUp);
                }
                self.pos = after;
                return self.advance();
            }
            if self.pos >= self.bytes.len() {
                self.current = None;
                return Ok(());
            }
            if self.eol(first) || self.byte(first) == Some(b'#') {
                let rest = self.bytes.get(first..).unwrap_or_default();
                match rest.iter().position(|&b| b == b'\n') {
                    Some(offset) => {
                        self.pos = first + offset + 1;
                        self.line += 1;
                        self.line_start = self.pos;
                        continue;
                    }
                    None => {
                        self.pos = self.bytes.len();
                        self.current = None;
                        return Ok(());
                    }
                }
            }
            return self.find_content();
        }
    }

    /// A block mapping whose keys are at column `indent` (0-based); `first` is its first key
    /// when the caller has already read it.
    fn mapping(&mut self, indent: usize, mut first: Option<(Token<'a>, usize)>) -> Step<()> {
        self.enter()?;
        let start = match &first {
            Some((token, _)) => token.span.start,
            None => self.loc(self.pos),
        };
        self.emit(Event::MappingStart(0, None), Span { start, end: start })?;
        loop {
            let (key, colon) = match first.take() {
                Some(pair) => pair,
                None => self.key()?,
            };
            self.emit_scalar(key)?;
            self.value_after_colon(colon, indent)?;
            match self.current {
                Some(next) if next == indent && !self.dash(self.pos) => {}
                Some(next) if next < indent => break,
                None => break,
                _ => return Err(GiveUp),
            }
        }
        let span = self.next_token_span();
        self.emit(Event::MappingEnd, span)?;
        self.depth -= 1;
        Ok(())
    }

    /// A key at `pos`, with the offset of its colon.
    fn key(&mut self) -> Step<(Token<'a>, usize)> {
        let at = self.pos;
        if self.dash(at) || matches!(self.byte(at), Some(b'[' | b'{')) {
            return Err(GiveUp);
        }
        match self.block_scalar(at)? {
            (token, After::Colon(colon)) => Ok((token, colon)),
            (_, After::End) => Err(GiveUp),
        }
    }

    /// The value of the key whose colon is at `colon`, in a mapping at column `indent`; leaves
    /// the scanner on the next content line.
    fn value_after_colon(&mut self, colon: usize, indent: usize) -> Step<()> {
        let at = self.skip_spaces(colon + 1);
        if self.eol(at) || self.byte(at) == Some(b'#') {
            let empty = self.point(colon);
            self.pos = at;
            self.advance()?;
            match self.current {
                Some(next) if next > indent => {
                    if self.dash(self.pos) {
                        self.sequence(next, false)
                    } else {
                        self.mapping(next, None)
                    }
                }
                Some(next) if next == indent && self.dash(self.pos) => self.sequence(next, true),
                _ => self.emit(
                    Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None),
                    empty,
                ),
            }
        } else {
            self.inline_value(at)
        }
    }

    /// A value that starts at `at` on the current line and ends on it: a flow collection or a
    /// scalar (never a key). Leaves the scanner on the next content line.
    fn inline_value(&mut self, at: usize) -> Step<()> {
        if matches!(self.byte(at), Some(b'[' | b'{')) {
            let end = self.flow(at)?;
            self.line_rest(end)?;
        } else {
            if self.dash(at) {
                return Err(GiveUp);
            }
            let (token, after) = self.block_scalar(at)?;
            if matches!(after, After::Colon(_)) {
                return Err(GiveUp);
            }
            self.emit_scalar(token)?;
        }
        self.advance()
    }

    /// A block sequence whose `-` indicators are at column `indent`; `indentless` when it is
    /// the value of a key at the same column.
    fn sequence(&mut self, indent: usize, indentless: bool) -> Step<()> {
        self.enter()?;
        let mut started = false;
        loop {
            let dash = self.pos;
            if self.byte(dash + 1) != Some(b' ') {
                return Err(GiveUp); // an empty item
            }
            let at = self.skip_spaces(dash + 1);
            if self.eol(at) || self.byte(at) == Some(b'#') {
                return Err(GiveUp); // the item starts on a later line
            }
            if !started {
                let span = self.point(if indentless { at } else { dash });
                self.emit(Event::SequenceStart(0, None), span)?;
                started = true;
            }
            let column = at - self.line_start;
            if self.dash(at) {
                self.pos = at;
                self.sequence(column, false)?;
            } else if matches!(self.byte(at), Some(b'[' | b'{')) {
                self.inline_value(at)?;
            } else {
                let (token, after) = self.block_scalar(at)?;
                match after {
                    After::Colon(colon) => {
                        self.pos = at;
                        self.mapping(column, Some((token, colon)))?;
                    }
                    After::End => {
                        self.emit_scalar(token)?;
                        self.advance()?;
                    }
                }
            }
            match self.current {
                Some(next) if next == indent && self.dash(self.pos) => {}
                Some(next) if next < indent => break,
                Some(next) if next == indent && indentless => break,
                None => break,
                _ => return Err(GiveUp),
            }
        }
        let span = self.next_token_span();
        self.emit(Event::SequenceEnd, span)?;
        self.depth -= 1;
        Ok(())
    }

    /// Only spaces and a comment may follow a value up to the end of the line.
    fn line_rest(&mut self, from: usize) -> Step<()> {
        let at = self.skip_spaces(from);
        if self.eol(at) || (at > from && self.byte(at) == Some(b'#')) {
            self.pos = at;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// A plain or quoted scalar in block context at `at`, and what follows it. Leaves `pos`
    /// at the end of the line when nothing but a comment follows.
    fn block_scalar(&mut self, at: usize) -> Step<(Token<'a>, After)> {
        match self.byte(at) {
            Some(quote @ (b'\'' | b'"')) => {
                let (token, end) = self.quoted(at, quote)?;
                let next = self.skip_spaces(end);
                if self.byte(next) == Some(b':') && self.blank_or_eol(next + 1) {
                    if next - at > MAX_KEY_BYTES {
                        return Err(GiveUp);
                    }
                    return Ok((token, After::Colon(next)));
                }
                self.line_rest(end)?;
                Ok((token, After::End))
            }
            _ => self.block_plain(at),
        }
    }

    fn block_plain(&mut self, start: usize) -> Step<(Token<'a>, After)> {
        let first = self.byte(start).ok_or(GiveUp)?;
        if is_indicator(first) && (first != b'-' || self.blank_or_eol(start + 1)) {
            return Err(GiveUp);
        }
        let mut at = start;
        let mut last = start;
        let after = loop {
            match self.byte(at) {
                None | Some(b'\n') => break After::End,
                Some(b':') if self.blank_or_eol(at + 1) => break After::Colon(at),
                Some(b'#') if self.byte(at.wrapping_sub(1)) == Some(b' ') => break After::End,
                Some(b' ') => at += 1,
                Some(_) => {
                    at += 1;
                    last = at;
                }
            }
        };
        if let After::Colon(colon) = after {
            if colon - start > MAX_KEY_BYTES {
                return Err(GiveUp);
            }
        } else {
            self.pos = at;
        }
        let token = Token {
            value: Cow::Borrowed(self.text.get(start..last).ok_or(GiveUp)?),
            style: ScalarStyle::Plain,
            span: Span {
                start: self.loc(start),
                end: self.loc(last),
            },
        };
        Ok((token, after))
    }

    /// A quoted scalar on one line starting at `start`; returns it and the offset after it.
    fn quoted(&self, start: usize, quote: u8) -> Step<(Token<'a>, usize)> {
        let mut owned: Option<String> = None;
        let mut segment = start + 1;
        let mut at = start + 1;
        loop {
            match self.byte(at) {
                None | Some(b'\n') => return Err(GiveUp),
                Some(b) if b == quote => {
                    if quote == b'\'' && self.byte(at + 1) == Some(b'\'') {
                        let out = owned.get_or_insert_with(String::new);
                        out.push_str(self.text.get(segment..=at).ok_or(GiveUp)?);
                        at += 2;
                        segment = at;
                        continue;
                    }
                    break;
                }
                Some(b'\\') if quote == b'"' => {
                    let out = owned.get_or_insert_with(String::new);
                    out.push_str(self.text.get(segment..at).ok_or(GiveUp)?);
                    let (c, used) = self.escape(at + 1)?;
                    out.push(c);
                    at += 1 + used;
                    segment = at;
                }
                Some(_) => at += 1,
            }
        }
        let tail = self.text.get(segment..at).ok_or(GiveUp)?;
        let value = match owned {
            Some(mut out) => {
                out.push_str(tail);
                Cow::Owned(out)
            }
            None => Cow::Borrowed(tail),
        };
        let style = if quote == b'"' {
            ScalarStyle::DoubleQuoted
        } else {
            ScalarStyle::SingleQuoted
        };
        let token = Token {
            value,
            style,
            span: Span {
                start: self.loc(start),
                end: self.loc(self.token_end(at + 1)),
            },
        };
        Ok((token, at + 1))
    }

    /// The character of the escape whose letter is at `at`, and how many bytes it used.
    fn escape(&self, at: usize) -> Step<(char, usize)> {
        let simple = match self.byte(at).ok_or(GiveUp)? {
            b'0' => '\0',
            b'a' => '\x07',
            b'b' => '\x08',
            b't' => '\t',
            b'n' => '\n',
            b'v' => '\x0b',
            b'f' => '\x0c',
            b'r' => '\r',
            b'e' => '\x1b',
            b' ' => ' ',
            b'"' => '"',
            b'/' => '/',
            b'\\' => '\\',
            b'N' => '\u{85}',
            b'_' => '\u{a0}',
            b'L' => '\u{2028}',
            b'P' => '\u{2029}',
            letter @ (b'x' | b'u' | b'U') => {
                let digits = match letter {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = self.text.get(at + 1..at + 1 + digits).ok_or(GiveUp)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(GiveUp);
                }
                let code = u32::from_str_radix(hex, 16).map_err(|_| GiveUp)?;
                let c = char::from_u32(code).ok_or(GiveUp)?;
                return Ok((c, 1 + digits));
            }
            _ => return Err(GiveUp),
        };
        Ok((simple, 1))
    }
}

#[cfg(test)]
mod tests;
