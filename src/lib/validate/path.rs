//! Where a value sits in the document: a stack of keys and indices, turned into a JSON pointer,
//! a batch index and the words a message uses for it ("`file`", "item 2 of `baseCommand`").
//!
//! Paths are kept as borrowed segments while walking and only become strings when a diagnostic
//! is made, so validating 100,000 valid batches allocates nothing per value.

use crate::tree::escape_pointer_segment;

/// One step into a mapping or a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg<'t> {
    Key(&'t str),
    Index(usize),
}

/// A growable path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Path<'t> {
    segments: Vec<Seg<'t>>,
}

impl<'t> From<Vec<Seg<'t>>> for Path<'t> {
    fn from(segments: Vec<Seg<'t>>) -> Self {
        Self { segments }
    }
}

impl<'t> Path<'t> {
    pub(crate) fn push(&mut self, seg: Seg<'t>) {
        self.segments.push(seg);
    }

    pub(crate) fn pop(&mut self) {
        self.segments.pop();
    }

    pub(crate) fn segments(&self) -> &[Seg<'t>] {
        &self.segments
    }
}

/// The JSON pointer of a path (`""` for the root).
pub(crate) fn pointer(segments: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in segments {
        out.push('/');
        match seg {
            Seg::Key(k) => out.push_str(&escape_pointer_segment(k)),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// The batch a path lies in (`/batches/N/…`).
pub(crate) fn batch(segments: &[Seg<'_>]) -> Option<usize> {
    match segments {
        [Seg::Key("batches"), Seg::Index(i), ..] => Some(*i),
        _ => None,
    }
}

/// Whether a path goes through a protected key (values below it are secrets).
pub(crate) fn protected(segments: &[Seg<'_>]) -> bool {
    segments
        .iter()
        .any(|s| matches!(s, Seg::Key(k) if crate::template::is_protected_key(k)))
}

/// A key shown in a message: backticked, with control characters escaped.
pub(crate) fn quote(key: &str) -> String {
    let shown: String = key.escape_debug().collect();
    format!("`{shown}`")
}

/// How a message names the value at a path: "`file`", "item 2 of `baseCommand`", "the document".
pub(crate) fn subject(segments: &[Seg<'_>]) -> String {
    match segments {
        [] => "the document".to_owned(),
        [.., Seg::Key(k)] => quote(k),
        [.., Seg::Key(parent), Seg::Index(i)] => format!("item {i} of {}", quote(parent)),
        [.., Seg::Index(i)] => format!("item {i}"),
    }
}

/// How a message names a mapping that holds a key: "`cli`", "`batches/2/inputs`", "the
/// top level".
pub(crate) fn container(segments: &[Seg<'_>]) -> String {
    match segments {
        [] => "the top level".to_owned(),
        [Seg::Key(k)] => quote(k),
        _ => {
            let shown: Vec<String> = segments
                .iter()
                .map(|s| match s {
                    Seg::Key(k) => k.escape_debug().collect(),
                    Seg::Index(i) => i.to_string(),
                })
                .collect();
            format!("`{}`", shown.join("."))
        }
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (distance(&word.to_lowercase(), &c.to_lowercase()), *c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let value = (previous + usize::from(ca != *cb))
                .min(above + 1)
                .min(left + 1);
            previous = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_and_subjects() {
        let p = [Seg::Key("batches"), Seg::Index(2), Seg::Key("a/b")];
        assert_eq!(pointer(&p), "/batches/2/a~1b");
        assert_eq!(batch(&p), Some(2));
        assert_eq!(subject(&p), "`a/b`");
        assert_eq!(
            subject(&[Seg::Key("baseCommand"), Seg::Index(1)]),
            "item 1 of `baseCommand`"
        );
        assert_eq!(container(&p), "`batches.2.a/b`");
    }

    #[test]
    fn typos_are_found() {
        assert_eq!(
            did_you_mean("baseComand", &["baseCommand", "inputs"]),
            Some("baseCommand")
        );
        assert_eq!(did_you_mean("zzz", &["baseCommand", "inputs"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
