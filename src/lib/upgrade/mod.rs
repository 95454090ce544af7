//! Converting RED 5–8 files to RED 9, reporting every change.
//!
//! RED has no backwards compatibility: every file of an older release is rejected by RED 9
//! tools at its first line. The differences are few and mechanical (docs/upgrade.md, "What
//! changes"), so [`document`] rewrites a parsed older file into a RED 9 [`Value`] and records a
//! [`Note`] for each change, located in the original file. Key order and number spellings are kept.
//!
//! What cannot be done mechanically is refused with a reason and a location, never guessed:
//! RED 2–4 files, RED 5 connectors that are Python classes, files without a `container` (RED 9
//! requires one) and template fragments that describe no job. Pure: no I/O here.

mod rules;

use crate::convert::{self, Value};
use crate::source::Location;
use crate::tree::{Kind, Tree};

/// One change made by the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// JSON pointer of the value changed, in the original file.
    pub pointer: String,
    /// Where that value is in the original file, if it was there.
    pub location: Option<Location>,
    /// What was done, in one sentence.
    pub message: String,
}

/// A document upgraded to RED 9.
#[derive(Debug, Clone)]
pub struct Upgraded<'a> {
    /// The `redVersion` the file had.
    pub from: String,
    /// The RED 9 document.
    pub value: Value<'a>,
    /// Every change, in the order of the original file (additions last).
    pub notes: Vec<Note>,
}

/// Why a file cannot be upgraded automatically.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The document is not a mapping.
    #[error("a RED file is a mapping, but this document is a {found}")]
    NotAMapping {
        /// What it is.
        found: &'static str,
    },
    /// No readable `redVersion`.
    #[error("the file has no `redVersion`, so its release is unknown")]
    NoVersion,
    /// A release this command does not convert.
    #[error("RED {version} files cannot be upgraded automatically")]
    Unsupported {
        /// The `redVersion` found.
        version: String,
        /// Where it is.
        location: Location,
    },
    /// A RED 5 connector given as a Python class.
    #[error(
        "the connector at `{pointer}` is a Python class (`pyModule`/`pyClass`); RED 9 connectors are command-line programs ({count} such connector(s) in the file)"
    )]
    PythonConnector {
        /// The first such connector.
        pointer: String,
        /// Where it is.
        location: Option<Location>,
        /// How many there are.
        count: usize,
    },
    /// No `container` section and no `DockerRequirement` to build one from.
    #[error("the file has no `container` section, which RED 9 requires")]
    NoContainer,
    /// Neither `inputs` nor `batches`: a template fragment, not a job.
    #[error("the file has neither `inputs` nor `batches`, so it describes no job")]
    NoJob,
    /// The document cannot be turned into a value (nested too deeply).
    #[error(transparent)]
    Convert(#[from] convert::Error),
}

impl Error {
    /// Where the problem is, if it has a place.
    #[must_use]
    pub fn location(&self) -> Option<Location> {
        match self {
            Error::Unsupported { location, .. } => Some(*location),
            Error::PythonConnector { location, .. } => *location,
            _ => None,
        }
    }

    /// What the user can do about it.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Unsupported { version, .. } if version == "9" => return None,
            Error::Unsupported { version, .. }
                if version.parse::<u32>().is_ok_and(|v| v < 5) =>
            {
                "RED 2 and 3 predate batches and command-line connectors; rewrite the file from a RED 9 example".to_owned()
            }
            Error::Unsupported { .. } => "`red upgrade` converts RED 5, 6, 7 and 8".to_owned(),
            Error::NoVersion => "add `redVersion` with the release the file was written for".to_owned(),
            Error::PythonConnector { .. } => "replace each `{pyModule, pyClass, access}` connector by `{command: red-connector-<kind>, access}` (for example `red-connector-http` or `red-connector-ssh`), then run `red upgrade` again".to_owned(),
            Error::NoContainer => "add `container: {engine: docker, settings: {image: {url: <image>}}}` and run `red upgrade` again".to_owned(),
            Error::NoJob => "this looks like a template for generated files; add `inputs` (one job) or `batches` and run `red upgrade` again".to_owned(),
            Error::NotAMapping { .. } | Error::Convert(_) => return None,
        })
    }
}

/// Upgrade a parsed RED 5–8 document to RED 9. A RED 9 document comes back unchanged, with no
/// notes.
pub fn document(tree: &Tree) -> Result<Upgraded<'_>, Error> {
    let root = tree.root();
    if root.kind() != Kind::Map {
        return Err(Error::NotAMapping {
            found: root.type_name(),
        });
    }
    let version_node = root.get("redVersion").ok_or(Error::NoVersion)?;
    if !matches!(version_node.kind(), Kind::Str | Kind::Int | Kind::Float) {
        return Err(Error::NoVersion);
    }
    let version = version_node.text().to_owned();
    let value = convert::value(root)?;
    if version == "9" {
        return Ok(Upgraded {
            from: version,
            value,
            notes: Vec::new(),
        });
    }
    if !matches!(version.as_str(), "5" | "6" | "7" | "8") {
        return Err(Error::Unsupported {
            version,
            location: version_node.span().start,
        });
    }
    let mut upgrade = rules::Upgrade::new(tree, value);
    upgrade.run()?;
    let mut notes = upgrade.notes;
    notes.sort_by_key(|note| note.location.map_or((u32::MAX, 0), |l| (l.line, l.column)));
    Ok(Upgraded {
        from: version,
        value: upgrade.value,
        notes,
    })
}

#[cfg(test)]
mod tests;
