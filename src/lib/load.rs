//! Read and parse a file in one step, turning every failure into a located diagnostic.

use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::parse::{self, Parsed};
use crate::source::{self, SourceFile};

/// A file that could not be read or parsed: the diagnostic, and the text when it was read.
#[derive(Debug)]
pub struct LoadError {
    /// What went wrong.
    pub diagnostic: Diagnostic,
    /// The text, for rendering the offending line.
    pub source: Option<SourceFile>,
    /// Whether the file could not be read at all (an I/O problem, exit code 2).
    pub io: bool,
}

/// Read `path` (`-` for standard input) and parse it.
#[allow(clippy::result_large_err)] // the error keeps the source text for rendering
pub fn file(path: &Path) -> Result<Parsed, LoadError> {
    let source = SourceFile::read(path).map_err(|error| match error {
        source::Error::Read { source, .. } => LoadError {
            diagnostic: Diagnostic::error("io", format!("cannot read the file: {source}"))
                .hint("check the path and its permissions"),
            source: None,
            io: true,
        },
        error @ source::Error::TooLarge { .. } => LoadError {
            diagnostic: Diagnostic::error("io", error.to_string())
                .hint("split the batches into several files"),
            source: None,
            io: true,
        },
        source::Error::NotUtf8 { byte, location, .. } => LoadError {
            diagnostic: Diagnostic::error(
                "encoding",
                format!("the file is not UTF-8 text: invalid byte 0x{byte:02x}"),
            )
            .at(location)
            .hint("save the file as UTF-8"),
            source: None,
            io: false,
        },
    })?;
    text(source)
}

/// Parse text that is already in memory.
#[allow(clippy::result_large_err)] // the error keeps the source text for rendering
pub fn text(source: SourceFile) -> Result<Parsed, LoadError> {
    match parse::tree(source.text()) {
        Ok(tree) => Ok(Parsed::new(source, tree)),
        Err(error) => {
            let mut diagnostic = Diagnostic::error("yaml", error.to_string()).at(error.location());
            if let Some(hint) = error.hint() {
                diagnostic = diagnostic.hint(hint);
            }
            Err(LoadError {
                diagnostic,
                source: Some(source),
                io: false,
            })
        }
    }
}
