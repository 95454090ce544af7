//! Output collection: which file or directory each `cli` output names after the run.
//!
//! The rules (docs/cli-semantics.md, "Globs"): globs are relative to the working directory
//! `/cc/outputs`, use Python `glob` syntax (`*`, `?`, `[..]`; no braces; a wildcard never matches
//! a leading dot), and must be neither absolute nor contain a `..` segment. Matches of the wrong
//! kind are filtered out before counting (cc-core's rule), a single output with two matches is an
//! error even when optional, and a missing optional output is `null`. `red`'s own capture files
//! for unnamed stdout/stderr are never matched by a glob.
//!
//! Matching is pure over a [`Listing`]: an in-memory one ([`MemoryListing`]) for tests and the
//! planner, or [`DirListing`] over a real directory, read only as deep as each glob needs.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

/// Read access to the output directory tree.
pub trait Listing {
    /// The entries directly in `dir` (relative, `/`-separated, `""` for the root), with kinds.
    fn children(&self, dir: &str) -> Vec<(String, EntryKind)>;
}

/// An in-memory listing of relative paths.
#[derive(Debug, Clone, Default)]
pub struct MemoryListing {
    entries: Vec<(String, EntryKind)>,
}

impl MemoryListing {
    /// A listing of these relative paths; parent directories are implied.
    #[must_use]
    pub fn new<S: Into<String>>(entries: impl IntoIterator<Item = (S, EntryKind)>) -> Self {
        let mut all: Vec<(String, EntryKind)> = Vec::new();
        for (path, kind) in entries {
            let path: String = path.into();
            let mut prefix = String::new();
            let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            for (i, part) in parts.iter().enumerate() {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                let kind = if i + 1 == parts.len() {
                    kind
                } else {
                    EntryKind::Directory
                };
                if !all.iter().any(|(p, _)| *p == prefix) {
                    all.push((prefix.clone(), kind));
                }
            }
        }
        Self { entries: all }
    }
}

impl Listing for MemoryListing {
    fn children(&self, dir: &str) -> Vec<(String, EntryKind)> {
        self.entries
            .iter()
            .filter_map(|(path, kind)| {
                let rest = if dir.is_empty() {
                    path.as_str()
                } else {
                    path.strip_prefix(dir)?.strip_prefix('/')?
                };
                (!rest.contains('/')).then(|| (rest.to_owned(), *kind))
            })
            .collect()
    }
}

/// A real directory. Symbolic links are followed only when they stay inside the root.
#[derive(Debug, Clone)]
pub struct DirListing {
    root: PathBuf,
}

impl DirListing {
    /// List below `root`.
    #[must_use]
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        }
    }
}

impl Listing for DirListing {
    fn children(&self, dir: &str) -> Vec<(String, EntryKind)> {
        let Ok(read) = std::fs::read_dir(self.root.join(dir)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in read.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let path = entry.path();
            // A link that leads out of the output directory is never an output (CWL v1.2).
            let Ok(real) = path.canonicalize() else {
                continue;
            };
            if !real.starts_with(&self.root) {
                continue;
            }
            match std::fs::metadata(&real) {
                Ok(meta) if meta.is_dir() => out.push((name, EntryKind::Directory)),
                Ok(meta) if meta.is_file() => out.push((name, EntryKind::File)),
                _ => {}
            }
        }
        out.sort();
        out
    }
}

/// Why a glob is refused before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// Empty glob.
    #[error("the glob of output `{output}` is empty")]
    Empty {
        /// The output key.
        output: String,
    },
    /// Starts with `/`.
    #[error("the glob `{glob}` of output `{output}` is absolute")]
    Absolute {
        /// The output key.
        output: String,
        /// The glob.
        glob: String,
    },
    /// Has a `..` segment.
    #[error("the glob `{glob}` of output `{output}` leaves the output directory with `..`")]
    Parent {
        /// The output key.
        output: String,
        /// The glob.
        glob: String,
    },
}

/// Check that a glob stays inside the output directory.
pub fn check_glob(output: &str, glob: &str) -> Result<(), GlobError> {
    if glob.is_empty() {
        return Err(GlobError::Empty {
            output: output.into(),
        });
    }
    if glob.starts_with('/') {
        return Err(GlobError::Absolute {
            output: output.into(),
            glob: glob.into(),
        });
    }
    if glob.split('/').any(|segment| segment == "..") {
        return Err(GlobError::Parent {
            output: output.into(),
            glob: glob.into(),
        });
    }
    Ok(())
}

/// Where an output comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Source {
    /// A glob, relative to the output directory.
    Glob(String),
    /// A stream capture file the tool named (`stdout: out.txt`), relative to the output directory.
    Named(String),
    /// A stream `red` captures itself, outside the output directory (`"stdout"` / `"stderr"`).
    Captured(&'static str),
}

/// One output to collect.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The output key.
    pub name: String,
    /// What kind of entry it must be.
    pub kind: EntryKind,
    /// Whether no match is allowed.
    pub optional: bool,
    /// Where it comes from.
    pub source: Source,
}

/// Why an output could not be collected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    /// Refused glob.
    #[error(transparent)]
    Glob(#[from] GlobError),
    /// Nothing matched a required output.
    #[error("output `{output}`: nothing matches `{glob}`{}", wrong_kind_note(.wrong_kind))]
    NotFound {
        /// The output key.
        output: String,
        /// The glob.
        glob: String,
        /// Matches of the other kind that were ignored.
        wrong_kind: Vec<String>,
    },
    /// More than one match.
    #[error("output `{output}`: `{glob}` matches {} entries: {}", .matches.len(), list(.matches))]
    Ambiguous {
        /// The output key.
        output: String,
        /// The glob.
        glob: String,
        /// All matches.
        matches: Vec<String>,
    },
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn wrong_kind_note(wrong: &[String]) -> String {
    if wrong.is_empty() {
        String::new()
    } else {
        format!(" of the declared kind (ignored: {})", list(wrong))
    }
}

/// One collected output: the key and the relative path found, `None` for a missing optional one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collected {
    /// The output key.
    pub name: String,
    /// The relative path, or `None`.
    pub path: Option<String>,
    /// The kind declared.
    pub kind: EntryKind,
}

/// Collect every output; `exclude` holds the relative paths of `red`'s own capture files.
pub fn collect(
    wanted: &[Wanted],
    listing: &dyn Listing,
    exclude: &[String],
) -> Result<Vec<Collected>, CollectError> {
    wanted
        .iter()
        .map(|want| collect_one(want, listing, exclude))
        .collect()
}

fn collect_one(
    want: &Wanted,
    listing: &dyn Listing,
    exclude: &[String],
) -> Result<Collected, CollectError> {
    let (glob, found) = match &want.source {
        // The executor hands over its own capture file; nothing to match.
        Source::Captured(stream) => {
            return Ok(Collected {
                name: want.name.clone(),
                path: Some(format!("<{stream}>")),
                kind: want.kind,
            });
        }
        Source::Named(path) => {
            check_glob(&want.name, path)?;
            (path, literal(path, listing).into_iter().collect::<Vec<_>>())
        }
        Source::Glob(pattern) => {
            check_glob(&want.name, pattern)?;
            let found = glob(pattern, listing)
                .into_iter()
                .filter(|(path, _)| !exclude.contains(path))
                .collect::<Vec<_>>();
            (pattern, found)
        }
    };
    let (right, wrong): (Vec<_>, Vec<_>) = found.into_iter().partition(|(_, k)| *k == want.kind);
    let mut right: Vec<String> = right.into_iter().map(|(p, _)| p).collect();
    match right.len() {
        1 => Ok(Collected {
            name: want.name.clone(),
            path: right.pop(),
            kind: want.kind,
        }),
        0 if want.optional => Ok(Collected {
            name: want.name.clone(),
            path: None,
            kind: want.kind,
        }),
        0 => Err(CollectError::NotFound {
            output: want.name.clone(),
            glob: glob.clone(),
            wrong_kind: wrong.into_iter().map(|(p, _)| p).collect(),
        }),
        _ => Err(CollectError::Ambiguous {
            output: want.name.clone(),
            glob: glob.clone(),
            matches: right,
        }),
    }
}

/// The directory, inside a batch's outputs directory, that holds red's records of the batch.
pub const RECORDS_DIR: &str = ".red";

/// The batch's record in [`RECORDS_DIR`]: what `red exec --resume` and `red compare` read.
pub const RECORD_FILE: &str = "result.json";

/// Where an output lands in an outputs directory: under `name` (the last part of its path; an
/// output directory is copied into the outputs directory, not merged into it), taken `from` a
/// place in the working directory (`<stdout>` / `<stderr>` for streams red captures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The name in the outputs directory.
    pub name: String,
    /// Where it comes from, normalised, so that two outputs of one file are seen as one.
    pub from: String,
}

impl Delivered {
    /// What is known before the run: `None` when the last part of a glob has a wildcard.
    #[must_use]
    pub fn planned(source: &Source) -> Option<Self> {
        match source {
            Source::Captured(stream) => Some(Self::captured(stream)),
            Source::Named(path) | Source::Glob(path) => {
                let parts = segments(path);
                let name = *parts.last()?;
                let literal = matches!(source, Source::Named(_)) || !name.contains(['*', '?', '[']);
                literal.then(|| Self {
                    name: name.to_owned(),
                    from: parts.join("/"),
                })
            }
        }
    }

    /// What was found: a relative path as [`collect`] gives it (`<stdout>` for a capture).
    #[must_use]
    pub fn found(relative: &str) -> Self {
        match relative {
            "<stdout>" => Self::captured("stdout"),
            "<stderr>" => Self::captured("stderr"),
            _ => {
                let parts = segments(relative);
                Self {
                    name: parts.last().copied().unwrap_or(".").to_owned(),
                    from: parts.join("/"),
                }
            }
        }
    }

    fn captured(stream: &str) -> Self {
        Self {
            name: format!("{stream}.txt"),
            from: format!("<{stream}>"),
        }
    }
}

/// Two deliveries onto one name, by index into the list given to [`clash`]; `first` is `None`
/// when the name is red's own records directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    /// The earlier entry.
    pub first: Option<usize>,
    /// The later entry, whose delivery would replace the earlier.
    pub second: usize,
    /// The name both would take.
    pub name: String,
}

/// The first entry that would land on the name of an earlier one (or on red's records
/// directory) from another place. `None` entries (names not known yet) never clash.
#[must_use]
pub fn clash(entries: &[Option<Delivered>]) -> Option<Clash> {
    for (second, entry) in entries.iter().enumerate() {
        let Some(entry) = entry else { continue };
        if entry.name == RECORDS_DIR || entry.name == "." {
            return Some(Clash {
                first: None,
                second,
                name: entry.name.clone(),
            });
        }
        let first = entries[..second].iter().position(|earlier| {
            earlier
                .as_ref()
                .is_some_and(|e| e.name == entry.name && e.from != entry.from)
        });
        if let Some(first) = first {
            return Some(Clash {
                first: Some(first),
                second,
                name: entry.name.clone(),
            });
        }
    }
    None
}

fn segments(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn literal(path: &str, listing: &dyn Listing) -> Option<(String, EntryKind)> {
    let mut dir = String::new();
    let mut kind = EntryKind::Directory;
    for segment in segments(path) {
        kind = listing
            .children(&dir)
            .into_iter()
            .find(|(name, _)| name == segment)?
            .1;
        dir = join(&dir, segment);
    }
    Some((if dir.is_empty() { ".".into() } else { dir }, kind))
}

/// Every entry a glob matches, as relative paths (`.` for the directory itself).
#[must_use]
pub fn glob(pattern: &str, listing: &dyn Listing) -> Vec<(String, EntryKind)> {
    let parts = segments(pattern);
    if parts.is_empty() {
        return vec![(".".into(), EntryKind::Directory)];
    }
    let mut current = vec![(String::new(), EntryKind::Directory)];
    for part in parts {
        let magic = part.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for (dir, kind) in current {
            if kind != EntryKind::Directory {
                continue;
            }
            for (name, child_kind) in listing.children(&dir) {
                let ok = if magic {
                    (part.starts_with('.') || !name.starts_with('.')) && fnmatch(part, &name)
                } else {
                    name == part
                };
                if ok {
                    next.push((join(&dir, &name), child_kind));
                }
            }
        }
        current = next;
    }
    current.sort();
    current
}

/// Python `fnmatch.fnmatchcase` for one path segment.
#[must_use]
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    match_from(&pattern, &name)
}

/// Wildcard matching with one backtrack point (the last `*`): linear in practice, never
/// exponential, whatever the pattern.
fn match_from(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class(&pattern[p + 1..]) {
                Some((matcher, after)) => matcher(name[n]).then(|| pattern.len() - after.len() - p),
                None => (name[n] == '[').then_some(1),
            },
            Some(c) => (*c == name[n]).then_some(1),
            None => None,
        };
        match (step, star) {
            (Some(width), _) => {
                p += width;
                n += 1;
            }
            (None, Some((star_p, star_n))) => {
                p = star_p + 1;
                n = star_n + 1;
                star = Some((star_p, star_n + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

type ClassMatch<'p> = (Box<dyn Fn(char) -> bool + 'p>, &'p [char]);

/// A `[...]` class after the `[`: the matcher and the pattern after the `]`.
fn class(pattern: &[char]) -> Option<ClassMatch<'_>> {
    let (negate, body_start) = match pattern.first() {
        Some('!') => (true, 1),
        _ => (false, 0),
    };
    // A `]` right after `[` or `[!` is a literal member.
    let close = pattern
        .iter()
        .enumerate()
        .skip(body_start + 1)
        .find(|(_, c)| **c == ']')
        .map(|(i, _)| i)?;
    let body = &pattern[body_start..close];
    let matcher = move |c: char| {
        let mut i = 0;
        let mut hit = false;
        while i < body.len() {
            if i + 2 < body.len() && body[i + 1] == '-' {
                hit |= body[i] <= c && c <= body[i + 2];
                i += 3;
            } else {
                hit |= body[i] == c;
                i += 1;
            }
        }
        hit != negate
    };
    Some((Box::new(matcher), &pattern[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_follows_python() {
        assert!(fnmatch("*.txt", "a.txt"));
        assert!(fnmatch("res-[ab].txt", "res-a.txt"));
        assert!(!fnmatch("res-[!ab].txt", "res-a.txt"));
        assert!(fnmatch("res-[!ab].txt", "res-c.txt"));
        assert!(fnmatch("[]]x", "]x"));
        assert!(fnmatch("a[", "a["));
        assert!(fnmatch("{a,b}", "{a,b}"));
        assert!(!fnmatch("{a,b}", "a"));
        assert!(fnmatch("[a-c]?", "bz"));
        assert!(!fnmatch("?", ""));
        assert!(fnmatch("a*b*c", "aXbYbZc"));
        assert!(!fnmatch("a*b*c", "aXbYbZ"));
        assert!(fnmatch("*[0-9].txt", "run-12.txt"));
        assert!(fnmatch("**", ""));
        let long = "a".repeat(200);
        assert!(!fnmatch(&format!("{}b", "*a".repeat(40)), &long));
    }

    #[test]
    fn leading_wildcards_skip_dot_files() {
        let listing = MemoryListing::new([(".hidden", EntryKind::File), ("seen", EntryKind::File)]);
        let names: Vec<String> = glob("*", &listing).into_iter().map(|(p, _)| p).collect();
        assert_eq!(names, ["seen"]);
        let names: Vec<String> = glob(".*", &listing).into_iter().map(|(p, _)| p).collect();
        assert_eq!(names, [".hidden"]);
    }

    #[test]
    fn deliveries_onto_one_name_clash_unless_they_are_one_file() {
        let glob = |g: &str| Delivered::planned(&Source::Glob(g.into()));
        let named = |g: &str| Delivered::planned(&Source::Named(g.into()));
        let captured = Delivered::planned(&Source::Captured("stdout"));
        assert_eq!(clash(&[glob("a/out.txt"), glob("b/x.txt")]), None);
        assert_eq!(
            clash(&[glob("a/out.txt"), glob("c.txt"), glob("b/out.txt")]),
            Some(Clash {
                first: Some(0),
                second: 2,
                name: "out.txt".into()
            })
        );
        // One file collected twice is delivered once.
        assert_eq!(clash(&[named("out.txt"), glob("./out.txt")]), None);
        assert!(clash(&[named("logs/out.txt"), glob("out.txt")]).is_some());
        assert!(clash(&[captured.clone(), glob("stdout.txt")]).is_some());
        assert_eq!(clash(&[captured.clone(), captured]), None);
        // A wildcard in the last part is known only after the run.
        assert_eq!(glob("a/*.txt"), None);
        assert!(glob("*/out.txt").is_some());
        assert!(clash(&[glob("*.txt"), glob("a/out.txt")]).is_none());
        assert_eq!(
            clash(&[glob("x/.red")]).map(|c| c.first),
            Some(None),
            "red's records directory is taken"
        );
        assert_eq!(
            clash(&[Some(Delivered::found("a/d")), Some(Delivered::found("b/d"))]).map(|c| c.name),
            Some("d".to_owned())
        );
        assert_eq!(Delivered::found("<stderr>").name, "stderr.txt");
    }

    #[test]
    fn parent_and_absolute_globs_are_refused() {
        assert!(matches!(
            check_glob("f", "../x"),
            Err(GlobError::Parent { .. })
        ));
        assert!(matches!(
            check_glob("f", "a/../../x"),
            Err(GlobError::Parent { .. })
        ));
        assert!(matches!(
            check_glob("f", "/etc/passwd"),
            Err(GlobError::Absolute { .. })
        ));
        assert!(check_glob("f", "a..b/c").is_ok());
    }
}
