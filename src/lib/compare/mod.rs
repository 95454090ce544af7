//! `red compare RUN_A RUN_B`: did two runs give the same outputs, and if not, how do they
//! differ and what differed in how they ran?
//!
//! A run is an outputs directory that holds `red`'s record of each batch (`.red/result.json`,
//! in the directory itself or in its numbered batch directories). Every file below it is an
//! output and compared by size and SHA-256, except `red`'s own records (which differ by time
//! and run) and its provenance crate; the command's captured `stdout.txt` and `stderr.txt` are
//! outputs too. For a text file that differs, the first differing line is shown ([`text`]).
//! The setup is compared batch by batch from the records: the image digest, the inputs (their
//! checksum when recorded, else their size), the argv (the random staging directories of
//! inputs blanked), the exit code, `red`'s version and the host ([`setup`]).

mod setup;
mod text;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::connector::copy;
use crate::execute::local::RECORDS_DIR;
use crate::execute::local::provenance::METADATA;

pub use setup::SetupDifference;
pub use text::LineDifference;

/// Why two directories cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path is not a directory.
    #[error("`{0}` is not a directory")]
    NotADirectory(PathBuf),
    /// A directory without any batch record.
    #[error("`{0}` is not the outputs directory of a red run: it holds no `.red/result.json`")]
    NotARun(PathBuf),
    /// A file could not be read.
    #[error("cannot read `{path}`: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// An output's size and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// An output present in both runs with different content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// Its path relative to the run's directory.
    pub path: String,
    /// In the first run.
    pub a: Figures,
    /// In the second run.
    pub b: Figures,
    /// For text files, the first line that differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<LineDifference>,
}

/// What comparing two runs found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Every output the same in both runs (and no output in one only).
    pub identical: bool,
    /// Outputs with the same content, by path.
    pub same: Vec<String>,
    /// Outputs whose content differs.
    pub different: Vec<Difference>,
    /// Outputs only the first run has.
    pub only_in_a: Vec<String>,
    /// Outputs only the second run has.
    pub only_in_b: Vec<String>,
    /// What differed in how the batches ran.
    pub setup: Vec<SetupDifference>,
}

/// Compare the runs in directories `a` and `b`.
///
/// # Errors
/// When either is not a run's outputs directory, or a file cannot be read.
pub fn runs(a: &Path, b: &Path) -> Result<Comparison, Error> {
    let records_a = setup::records(a)?;
    let records_b = setup::records(b)?;
    let files_a = outputs(a)?;
    let files_b = outputs(b)?;
    let mut comparison = Comparison::default();
    for (path, figures_a) in &files_a {
        let Some(figures_b) = files_b.get(path) else {
            comparison.only_in_a.push(path.clone());
            continue;
        };
        if figures_a == figures_b {
            comparison.same.push(path.clone());
        } else {
            comparison.different.push(Difference {
                path: path.clone(),
                a: figures_a.clone(),
                b: figures_b.clone(),
                first_difference: text::first_difference(&a.join(path), &b.join(path)),
            });
        }
    }
    comparison.only_in_b = files_b
        .keys()
        .filter(|path| !files_a.contains_key(*path))
        .cloned()
        .collect();
    comparison.identical = comparison.different.is_empty()
        && comparison.only_in_a.is_empty()
        && comparison.only_in_b.is_empty();
    comparison.setup = setup::differences(&records_a, &records_b);
    Ok(comparison)
}

/// Every output file below `dir` with its figures, by relative path.
fn outputs(dir: &Path) -> Result<BTreeMap<String, Figures>, Error> {
    let mut found = BTreeMap::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        let entries = fs::read_dir(&here).map_err(|e| read_error(&here, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| read_error(&here, &e))?;
            let path = relative.join(entry.file_name());
            let kind = entry.file_type().map_err(|e| read_error(&here, &e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && is_output(&path) {
                let (size, sha256) = copy::sha256(&dir.join(&path)).map_err(|e| Error::Read {
                    path: dir.join(&path),
                    message: e.to_string(),
                })?;
                found.insert(path.display().to_string(), Figures { size, sha256 });
            }
        }
    }
    Ok(found)
}

/// Whether a file is an output rather than one of `red`'s records: the crate's metadata and
/// everything in a records directory except the command's captured streams are records.
fn is_output(relative: &Path) -> bool {
    let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_records = relative
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|parent| parent == RECORDS_DIR);
    if in_records {
        matches!(name, "stdout.txt" | "stderr.txt")
    } else {
        name != METADATA
    }
}

fn read_error(path: &Path, error: &std::io::Error) -> Error {
    Error::Read {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests;
