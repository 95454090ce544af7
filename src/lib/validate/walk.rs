//! Which files `red validate` checks: every file named on the command line, and inside every
//! directory named there the RED files found by their names (`*.red.yml`, `*.red.yaml`,
//! `*.red.json`), recursively, less those an `--exclude` glob matches.
//!
//! The order is deterministic (command-line order; inside a directory, names sorted by their
//! bytes, depth first), so reports and CI annotations never shuffle. Symbolic links are followed,
//! but a directory already entered (by device and inode) is not entered again, so a link loop
//! ends. Hidden directories (a name starting with `.`, such as `.git`) are not entered unless
//! named on the command line.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::plan::outputs::fnmatch;

/// The endings of the file names a directory walk takes as RED files.
pub const RED_SUFFIXES: &[&str] = &[".red.yml", ".red.yaml", ".red.json"];

/// Whether a file name is that of a RED file, as a walk decides.
#[must_use]
pub fn is_red_name(name: &str) -> bool {
    RED_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

/// Why the files could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A directory named on the command line, or found inside one, cannot be read.
    #[error("cannot read the directory `{}`: {source}", path.display())]
    Read {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A directory named on the command line holds no RED file (after `--exclude`).
    #[error("`{}` holds no RED file (`*.red.yml`, `*.red.yaml`, `*.red.json`)", path.display())]
    Empty {
        /// The directory.
        path: PathBuf,
    },
}

/// `--exclude` globs: a glob without `/` matches the name of any file or directory; one with `/`
/// matches the whole path as red shows it (a leading `./` left out), `*`, `?` and `[…]` within
/// one part, `**` across any number of parts.
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    globs: Vec<Vec<String>>,
}

impl Exclude {
    /// These globs.
    #[must_use]
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Self {
        Self {
            globs: globs.iter().map(|g| parts(g.as_ref())).collect(),
        }
    }

    /// Whether `path` (a file or directory found by a walk) is excluded.
    #[must_use]
    pub fn matches(&self, path: &Path) -> bool {
        let text = path.to_string_lossy();
        let path = parts(&text);
        self.globs.iter().any(|glob| match glob.as_slice() {
            [single] if single != "**" => path.last().is_some_and(|name| fnmatch(single, name)),
            _ => match_parts(glob, &path),
        })
    }
}

fn parts(text: &str) -> Vec<String> {
    text.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_owned)
        .collect()
}

/// Glob parts against path parts; `**` matches zero or more parts. Dynamic programming over
/// the two lists, so no pattern costs more than their product.
fn match_parts(glob: &[String], path: &[String]) -> bool {
    // `reach[j]`: the glob read so far matches the first `j` parts of the path.
    let mut reach = vec![false; path.len() + 1];
    reach[0] = true;
    for part in glob {
        let mut next = vec![false; path.len() + 1];
        if part == "**" {
            let mut any = false;
            for j in 0..=path.len() {
                any |= reach[j];
                next[j] = any;
            }
        } else {
            for j in 1..=path.len() {
                next[j] = reach[j - 1] && fnmatch(part, &path[j - 1]);
            }
        }
        reach = next;
    }
    reach[path.len()]
}

/// The files to check, in order: each path given that is not a directory as it is (`-` too),
/// and each directory's RED files; the same path is listed once.
///
/// # Errors
/// A directory that cannot be read, or a directory given that holds no RED file.
pub fn files(paths: &[PathBuf], exclude: &Exclude) -> Result<Vec<PathBuf>, WalkError> {
    let mut out = Vec::new();
    let mut seen_dirs = HashSet::new();
    for path in paths {
        let is_dir = path.as_os_str() != "-" && std::fs::metadata(path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            out.push(path.clone());
            continue;
        }
        let before = out.len();
        walk(path, exclude, &mut seen_dirs, &mut out)?;
        if out.len() == before {
            return Err(WalkError::Empty { path: path.clone() });
        }
    }
    let mut listed = HashSet::new();
    out.retain(|path| listed.insert(path.clone()));
    Ok(out)
}

fn walk(
    dir: &Path,
    exclude: &Exclude,
    seen: &mut HashSet<(u64, u64)>,
    out: &mut Vec<PathBuf>,
) -> Result<(), WalkError> {
    let read_error = |source| WalkError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(read_error)?;
    if !seen.insert((meta.dev(), meta.ino())) {
        return Ok(());
    }
    let mut entries: Vec<(std::ffi::OsString, PathBuf)> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| (e.file_name(), e.path())))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    for (name, path) in entries {
        let name = name.to_string_lossy();
        if exclude.matches(&path) {
            continue;
        }
        // A dangling link or an entry that vanished is neither a directory nor a RED file.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if !name.starts_with('.') {
                walk(&path, exclude, seen, out)?;
            }
        } else if is_red_name(&name) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(globs: &[&str], path: &str) -> bool {
        Exclude::new(globs).matches(Path::new(path))
    }

    #[test]
    fn globs_match_names_or_whole_paths() {
        assert!(excluded(&["*.bad.red.yml"], "a/b/x.bad.red.yml"));
        assert!(!excluded(&["*.bad.red.yml"], "a/b/x.red.yml"));
        assert!(excluded(&["fixtures"], "./tests/fixtures"));
        assert!(excluded(&["tests/**/broken"], "./tests/a/b/broken"));
        assert!(excluded(&["tests/**/broken"], "tests/broken"));
        assert!(!excluded(&["tests/*/broken"], "tests/a/b/broken"));
        assert!(excluded(&["**/old-*.red.json"], "x/old-1.red.json"));
        assert!(!excluded(&["x/old-*.red.json"], "y/x/old-1.red.json"));
        assert!(excluded(&["**"], "anything"));
    }

    #[test]
    fn only_red_names_are_taken() {
        for name in ["a.red.yml", "a.red.yaml", "a.red.json", ".red.yml"] {
            assert!(is_red_name(name), "{name}");
        }
        for name in [
            "a.yml",
            "a.red.yml.bak",
            "a.red.filled",
            "red.yml",
            "a.RED.yml",
        ] {
            assert!(!is_red_name(name), "{name}");
        }
    }
}
