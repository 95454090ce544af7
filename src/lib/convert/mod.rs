//! Rewriting documents: between YAML and JSON, into one file per batch, into CWL.
//!
//! Everything here is pure: a parsed [`Tree`] becomes a [`Value`] (ordered, number lexemes
//! kept, text borrowed), values are edited, and the emitters ([`json`], [`yaml`]) turn them into
//! text. Writing files is the caller's business (`commands::convert`), so a conversion can be
//! tested without a disk and a failure never leaves half a file behind.
//!
//! A YAML → JSON → YAML round trip gives back the same tree: the same kinds, the same text, the
//! same key order (tested with generated trees and every corpus file). The only exceptions are
//! values JSON cannot hold, which are errors naming their path, and the documented spellings in
//! [`json`] (`0x1F` → `31`).

pub mod batches;
pub mod cwl;
pub mod json;
pub mod value;
pub mod yaml;

use crate::source::Location;
use crate::tree::{NodeRef, Tree};

pub use value::Value;

/// How deeply values may nest before conversion refuses (the emitters recurse).
pub const MAX_DEPTH: usize = 512;

/// The two formats `red` reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON, with the given number of spaces per level (0: one line).
    Json {
        /// Spaces per nesting level.
        indent: usize,
    },
    /// YAML, block style.
    Yaml,
}

impl Format {
    /// The file extension used for files written in this format (`json`, `yml`).
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json { .. } => "json",
            Format::Yaml => "yml",
        }
    }
}

/// Why a document cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value JSON has no spelling for.
    #[error("{what} cannot be written as JSON")]
    NotJson {
        /// Where the value is.
        pointer: String,
        /// What it is.
        what: String,
    },
    /// A value that plain YAML cannot hold (a `!!set` or `!!omap`).
    #[error("{what} cannot be written as YAML")]
    NotYaml {
        /// Where the value is.
        pointer: String,
        /// What it is.
        what: String,
    },
    /// Values nest more deeply than [`MAX_DEPTH`].
    #[error("values nest more than {limit} levels deep")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// The first value beyond it.
        location: Location,
    },
    /// `convert batches` on a file that has no `batches`.
    #[error("the file has no `batches`: it describes a single job already")]
    NoBatches,
    /// `convert cwl` on a file without a `cli` mapping.
    #[error("the file has no `cli` mapping to convert")]
    NoCli,
    /// A value that has the wrong type for the conversion (files that passed validation do
    /// not have these).
    #[error("`{pointer}` must be a {expected}, but it is a {found}")]
    Shape {
        /// Where the value is.
        pointer: String,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
}

impl Error {
    /// Where the problem is in `tree`, if it can be told.
    #[must_use]
    pub fn location(&self, tree: &Tree) -> Option<Location> {
        match self {
            Error::NotJson { pointer, .. }
            | Error::NotYaml { pointer, .. }
            | Error::Shape { pointer, .. } => {
                tree.root().pointer(pointer).map(|node| node.span().start)
            }
            Error::TooDeep { location, .. } => Some(*location),
            Error::NoBatches | Error::NoCli => None,
        }
    }

    /// The JSON pointer of the value concerned, if any.
    #[must_use]
    pub fn pointer(&self) -> Option<&str> {
        match self {
            Error::NotJson { pointer, .. }
            | Error::NotYaml { pointer, .. }
            | Error::Shape { pointer, .. } => Some(pointer),
            _ => None,
        }
    }

    /// A suggestion for the user.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::NotJson { what, .. } if what.contains("number") => Some(
                "JSON has no infinity or NaN; write the value as a string, or keep the file in YAML",
            ),
            Error::NotJson { .. } | Error::NotYaml { .. } => {
                Some("RED files hold only strings, numbers, booleans, null, lists and mappings")
            }
            Error::NoBatches => {
                Some("use `red convert format` to change its format, or `red convert cwl`")
            }
            Error::TooDeep { .. } => Some("RED files never nest this deeply; check the file"),
            _ => None,
        }
    }
}

/// A tree node as a [`Value`], refusing documents nested more than [`MAX_DEPTH`] levels.
pub fn value(node: NodeRef<'_>) -> Result<Value<'_>, Error> {
    Value::from_node(node)
}

/// Write a value in `format`.
pub fn emit(value: &Value<'_>, format: Format) -> Result<String, Error> {
    match format {
        Format::Json { indent } => json::to_string(value, indent),
        Format::Yaml => yaml::to_string(value),
    }
}

/// Convert a whole document to `format`.
pub fn format(tree: &Tree, format: Format) -> Result<String, Error> {
    emit(&value(tree.root())?, format)
}

/// The document as JSON (2-space indent), keys in document order, numbers as written where JSON
/// allows. For documents known to be JSON-compatible (the embedded schemas); a value JSON
/// cannot hold yields a one-line JSON object naming the problem instead. Use [`format`] to get
/// the error.
#[must_use]
pub fn to_json(tree: &Tree) -> String {
    format(tree, Format::Json { indent: 2 }).unwrap_or_else(|error| {
        let mut out = String::from("{\"error\": ");
        let at = error.pointer().unwrap_or_default();
        json::write_string(&format!("{error} (at `{at}`)"), &mut out);
        out.push_str("}\n");
        out
    })
}

/// The document as YAML, keys in document order. A value YAML cannot hold (a `!!set`) yields a
/// comment naming the problem instead; use [`format`] to get the error.
#[must_use]
pub fn to_yaml(tree: &Tree) -> String {
    format(tree, Format::Yaml).unwrap_or_else(|error| format!("# error: {error}\n"))
}

#[cfg(test)]
mod tests;
