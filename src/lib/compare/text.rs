//! The first differing line of two text files.
//!
//! A file is text when its first 8 KiB hold no NUL byte. Lines are compared as bytes and shown
//! as UTF-8 (invalid sequences replaced), cut to [`MAX_SHOWN`] characters, so a file with one
//! huge line cannot flood the report. Both files are read line by line, never whole.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

/// Characters of a line shown at most.
pub(super) const MAX_SHOWN: usize = 200;
/// How much of a file is looked at to tell text from binary.
const SNIFF: usize = 8192;
/// Bytes of one line read at most: beyond this the rest of the line is not compared.
const MAX_LINE: u64 = 1 << 20;

/// Where two text files first differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineDifference {
    /// 1-based line number.
    pub line: u64,
    /// The line in the first file (`None`: it ended before).
    pub a: Option<String>,
    /// The line in the second file.
    pub b: Option<String>,
}

/// The first line where `a` and `b` differ, when both are text.
#[must_use]
pub(super) fn first_difference(a: &Path, b: &Path) -> Option<LineDifference> {
    if !is_text(a) || !is_text(b) {
        return None;
    }
    let mut a = BufReader::new(File::open(a).ok()?);
    let mut b = BufReader::new(File::open(b).ok()?);
    let mut line = 0u64;
    loop {
        line += 1;
        let left = next_line(&mut a)?;
        let right = next_line(&mut b)?;
        if left != right {
            return Some(LineDifference {
                line,
                a: left.map(|l| shown(&l)),
                b: right.map(|l| shown(&l)),
            });
        }
        // Both ended together: no line differs.
        left.as_ref()?;
    }
}

/// The next line without its end (`None` inside: the file ended); `None` outside on a read
/// error.
fn next_line(reader: &mut impl BufRead) -> Option<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .ok()?;
    if read == 0 {
        return Some(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Some(Some(line))
}

fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(MAX_SHOWN).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

fn is_text(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(SNIFF);
    file.take(SNIFF as u64).read_to_end(&mut head).is_ok() && !head.contains(&0)
}
