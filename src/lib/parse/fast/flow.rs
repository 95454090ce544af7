//! Flow collections on one line (`{}`, `[a, b]`, `{k: v}`) and the plain scalars inside them,
//! for the fast scanner: a second `impl` block of [`Scanner`], kept apart from the block
//! structure of the main file.

use std::borrow::Cow;

use saphyr_parser::{Event, ScalarStyle};

use super::{GiveUp, Scanner, Step, Token, is_indicator};
use crate::source::Span;

impl<'a> Scanner<'a> {
    /// A flow collection that starts at `start` and closes on the same line; returns the
    /// offset after its closing bracket.
    pub(super) fn flow(&mut self, start: usize) -> Step<usize> {
        self.enter()?;
        let is_map = self.byte(start) == Some(b'{');
        let close = if is_map { b'}' } else { b']' };
        let open_span = Span {
            start: self.loc(start),
            end: self.loc(start + 1),
        };
        let event = if is_map {
            Event::MappingStart(0, None)
        } else {
            Event::SequenceStart(0, None)
        };
        self.emit(event, open_span)?;
        let mut at = self.skip_spaces(start + 1);
        if self.byte(at) != Some(close) {
            loop {
                if is_map {
                    let (key, after) = match self.byte(at) {
                        Some(quote @ (b'\'' | b'"')) => self.quoted(at, quote)?,
                        _ => {
                            let (token, stop) = self.flow_plain(at)?;
                            (token, stop)
                        }
                    };
                    let colon = self.skip_spaces(after);
                    if self.byte(colon) != Some(b':') || self.byte(colon + 1) != Some(b' ') {
                        return Err(GiveUp);
                    }
                    self.emit_scalar(key)?;
                    at = self.skip_spaces(colon + 1);
                }
                at = self.flow_value(at)?;
                at = self.skip_spaces(at);
                match self.byte(at) {
                    Some(b',') => {
                        at = self.skip_spaces(at + 1);
                        if matches!(self.byte(at), Some(b']' | b'}' | b',')) {
                            return Err(GiveUp);
                        }
                    }
                    Some(b) if b == close => break,
                    _ => return Err(GiveUp),
                }
            }
        }
        let end = if is_map {
            Event::MappingEnd
        } else {
            Event::SequenceEnd
        };
        let span = Span {
            start: self.loc(at),
            end: self.loc(self.token_end(at + 1)),
        };
        self.emit(end, span)?;
        self.depth -= 1;
        Ok(at + 1)
    }

    /// A value inside a flow collection; returns the offset after it.
    fn flow_value(&mut self, at: usize) -> Step<usize> {
        match self.byte(at) {
            Some(b'[' | b'{') => self.flow(at),
            Some(quote @ (b'\'' | b'"')) => {
                let (token, end) = self.quoted(at, quote)?;
                self.emit_scalar(token)?;
                Ok(end)
            }
            _ => {
                let (token, stop) = self.flow_plain(at)?;
                if self.byte(stop) == Some(b':') {
                    return Err(GiveUp); // a key: a pair in a sequence, or `a: b: c`
                }
                self.emit_scalar(token)?;
                Ok(stop)
            }
        }
    }

    /// A plain scalar inside a flow collection; returns it and the offset of the `,`, `]`,
    /// `}` or `:` that ends it.
    fn flow_plain(&self, start: usize) -> Step<(Token<'a>, usize)> {
        let first = self.byte(start).ok_or(GiveUp)?;
        if (is_indicator(first) || first == b'\n')
            && (first != b'-'
                || matches!(
                    self.byte(start + 1),
                    None | Some(b' ' | b'\n' | b',' | b'[' | b']' | b'{' | b'}')
                ))
        {
            return Err(GiveUp);
        }
        let mut at = start;
        let mut last = start;
        loop {
            match self.byte(at) {
                None | Some(b'\n' | b'[' | b'{' | b'#') => return Err(GiveUp),
                Some(b',' | b']' | b'}') => break,
                Some(b':') => {
                    if matches!(self.byte(at + 1), Some(b' ' | b',' | b']' | b'}')) {
                        break;
                    }
                    return Err(GiveUp);
                }
                Some(b' ') => at += 1,
                Some(_) => {
                    at += 1;
                    last = at;
                }
            }
        }
        let token = Token {
            value: Cow::Borrowed(self.text.get(start..last).ok_or(GiveUp)?),
            style: ScalarStyle::Plain,
            span: Span {
                start: self.loc(start),
                end: self.loc(last),
            },
        };
        Ok((token, at))
    }
}
