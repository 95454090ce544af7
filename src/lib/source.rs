//! Source files and positions.
//!
//! Every diagnostic `red` prints points at a line and column of a file the user wrote, so the
//! text of each loaded file is kept next to its parsed tree. Positions are 1-based lines and
//! 1-based columns counted in characters (what editors show); byte offsets are recovered from a
//! line table only when a snippet is rendered or a value is spliced in place.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A position in a source file: 1-based line, 1-based column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number in characters, starting at 1.
    pub column: u32,
}

impl Location {
    /// A location from a 1-based line and column.
    #[must_use]
    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The range a node covers: start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Where the node starts.
    pub start: Location,
    /// Where the node ends (exclusive).
    pub end: Location,
}

/// Where a file came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk, named as the user gave it.
    Path(PathBuf),
    /// Standard input (`-` on the command line).
    Stdin,
    /// Text built in memory (tests, conversions).
    Memory(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Path(path) => write!(f, "{}", path.display()),
            Origin::Stdin => f.write_str("<stdin>"),
            Origin::Memory(name) => f.write_str(name),
        }
    }
}

/// Failure to read a source file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("cannot read `{origin}`")]
    Read {
        /// The file.
        origin: Origin,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than red reads (see [`MAX_DOCUMENT`]); refused before it is read
    /// whole.
    #[error("{}", too_large(origin, *size, *limit))]
    TooLarge {
        /// The file.
        origin: Origin,
        /// Its size in bytes, where it is known (a regular file); `None` for a stream that went
        /// on past the limit (standard input, a pipe, a device).
        size: Option<u64>,
        /// The limit it is over, in bytes.
        limit: u64,
    },
    /// The bytes are not UTF-8.
    #[error("`{origin}` is not UTF-8 text: invalid byte 0x{byte:02x} at {location}")]
    NotUtf8 {
        /// The file.
        origin: Origin,
        /// The first offending byte.
        byte: u8,
        /// Where it is.
        location: Location,
    },
}

/// The largest document red reads: 256 MiB. The largest RED files in use (100,000 batches) are
/// 4 MB and take 7.6 times their size in memory once parsed; a file 64 times larger still fits a
/// laptop, one beyond it would not, and offsets into a file are `u32` (4 GiB) anyway.
pub const MAX_DOCUMENT: u64 = 256 * 1024 * 1024;

fn too_large(origin: &Origin, size: Option<u64>, limit: u64) -> String {
    let limit = show_size(limit);
    match (origin, size) {
        (Origin::Stdin, _) => format!("standard input goes on past {limit}, the most red reads"),
        (_, Some(size)) => format!("`{origin}` is {size} bytes, over the {limit} red reads"),
        (_, None) => format!("`{origin}` goes on past {limit}, the most red reads"),
    }
}

/// Read at most `limit` bytes of `path` (`-` for standard input), refusing a regular file over
/// the limit from its size before reading any of it, and anything else (a pipe, a device,
/// standard input) once `limit + 1` bytes have arrived. Every document and every small file red
/// reads comes through here, so none can make red read without end.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    if path.as_os_str() == "-" {
        return read_limited(std::io::stdin().lock(), Origin::Stdin, None, limit);
    }
    let origin = Origin::Path(path.to_path_buf());
    let failed = |source| Error::Read {
        origin: origin.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    let metadata = file.metadata().map_err(failed)?;
    let size = metadata.is_file().then_some(metadata.len());
    if let Some(size) = size.filter(|&size| size > limit) {
        return Err(Error::TooLarge {
            origin,
            size: Some(size),
            limit,
        });
    }
    read_limited(file, origin, size, limit)
}

fn read_limited(
    input: impl Read,
    origin: Origin,
    size: Option<u64>,
    limit: u64,
) -> Result<Vec<u8>, Error> {
    let expected = usize::try_from(size.unwrap_or(0).min(limit)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(expected);
    if let Err(source) = input.take(limit.saturating_add(1)).read_to_end(&mut bytes) {
        return Err(Error::Read { origin, source });
    }
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            origin,
            size: None,
            limit,
        });
    }
    Ok(bytes)
}

/// The text of one loaded file, with a table of line starts.
#[derive(Debug, Clone)]
pub struct SourceFile {
    origin: Origin,
    text: String,
    /// Byte offset of each line's first character. `u32` like every offset in the tree (a file
    /// of 4 GiB or more is refused when read), and sized exactly: for a 100,000-batch file this table is the
    /// largest thing after the tree itself.
    line_starts: Vec<u32>,
}

impl SourceFile {
    /// Wrap text that is already in memory. A leading byte-order mark is dropped.
    #[must_use]
    pub fn new(origin: Origin, text: String) -> Self {
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        let breaks = text.bytes().filter(|b| *b == b'\n').count();
        let mut line_starts = Vec::with_capacity(breaks + 1);
        line_starts.push(0);
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| to_u32(i + 1)),
        );
        Self {
            origin,
            text,
            line_starts,
        }
    }

    /// Read a file from disk, or standard input when `path` is `-`, up to [`MAX_DOCUMENT`].
    pub fn read(path: &Path) -> Result<Self, Error> {
        let bytes = read_bytes(path, MAX_DOCUMENT)?;
        let origin = if path.as_os_str() == "-" {
            Origin::Stdin
        } else {
            Origin::Path(path.to_path_buf())
        };
        Self::from_bytes(origin, bytes)
    }

    /// Decode bytes as UTF-8, reporting the location of the first invalid byte.
    pub fn from_bytes(origin: Origin, bytes: Vec<u8>) -> Result<Self, Error> {
        let limit = u64::from(u32::MAX);
        if bytes.len() as u64 > limit {
            return Err(Error::TooLarge {
                origin,
                size: Some(bytes.len() as u64),
                limit,
            });
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Self::new(origin, text)),
            Err(error) => {
                let bytes = error.as_bytes();
                let valid = error.utf8_error().valid_up_to();
                let prefix = String::from_utf8_lossy(&bytes[..valid]);
                let line = prefix.matches('\n').count() + 1;
                let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                Err(Error::NotUtf8 {
                    origin,
                    byte: bytes[valid],
                    location: Location::new(to_u32(line), to_u32(column)),
                })
            }
        }
    }

    /// Where the text came from.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The whole text (without a byte-order mark).
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text of line `line` (1-based) without its line break, if it exists.
    #[must_use]
    pub fn line_text(&self, line: u32) -> Option<&str> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        let start = widen(*self.line_starts.get(index)?);
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |&e| widen(e) - 1);
        let line = self.text.get(start..end.max(start))?;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    /// Byte offset of a location, clamped to the text.
    #[must_use]
    pub fn offset(&self, location: Location) -> usize {
        let Some(index) = usize::try_from(location.line)
            .ok()
            .and_then(|l| l.checked_sub(1))
        else {
            return 0;
        };
        let Some(start) = self.line_starts.get(index).map(|&s| widen(s)) else {
            return self.text.len();
        };
        let column = usize::try_from(location.column.saturating_sub(1)).unwrap_or(usize::MAX);
        self.text[start..]
            .char_indices()
            .nth(column)
            .map_or(self.text.len(), |(i, _)| start + i)
    }

    /// Byte range of a span.
    #[must_use]
    pub fn range(&self, span: Span) -> std::ops::Range<usize> {
        let start = self.offset(span.start);
        let end = self.offset(span.end).max(start);
        start..end
    }
}

/// Saturating conversion for line and column numbers.
#[must_use]
pub(crate) fn to_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A stored `u32` offset as an index.
fn widen(offset: u32) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

/// A size for people: `4096 bytes`, `16 MiB`, `1 GiB`.
#[must_use]
pub fn show_size(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_characters_not_bytes() {
        let file = SourceFile::new(Origin::Memory("t".into()), "a: ü\nbé: x\n".into());
        assert_eq!(file.offset(Location::new(2, 1)), 6);
        assert_eq!(file.offset(Location::new(2, 3)), 9);
        assert_eq!(file.line_text(2), Some("bé: x"));
        assert_eq!(file.line_text(9), None);
    }

    #[test]
    fn invalid_utf8_is_located() {
        let error = SourceFile::from_bytes(Origin::Memory("t".into()), b"a: 1\nb: \xe9\n".to_vec())
            .unwrap_err();
        assert!(
            matches!(error, Error::NotUtf8 { byte: 0xe9, location, .. } if location == Location::new(2, 4))
        );
    }

    #[test]
    fn bom_is_dropped() {
        let file = SourceFile::new(Origin::Stdin, "\u{feff}a: 1".into());
        assert_eq!(file.text(), "a: 1");
    }
}
