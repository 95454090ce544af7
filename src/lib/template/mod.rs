//! Template placeholders (`{{name}}`) and protected keys: the grammar and where they may stand.
//!
//! A RED file may leave credentials open as placeholders, `{{name}}`, inside string values below
//! a mapping key named `access` or `auth`; values below a protected key (`password`,
//! `privateKey`, or any key starting with `_`) are secrets. This module owns the two rules that
//! decide what is a placeholder and where one may stand, as the reference (red-val 9.3) applies
//! them before running a file (docs/credentials.md, "Variables" and "Protected keys"):
//!
//! - [`parse`] cuts one string into literal text and placeholders, rejecting the four malformed
//!   shapes of the reference (a placeholder opened inside another, one never closed, an empty
//!   name, and stray brackets);
//! - [`scan`] walks a whole document and returns every variable with each place it is used, and
//!   a located [`Diagnostic`] (code `template`) for each misplaced placeholder, malformed string
//!   and protected key outside `access`/`auth`.
//!
//! Unlike the reference, which stops at the first problem and lists variables in reverse
//! alphabetical order, every problem is reported and variables come in the order of their first
//! use in the document, so prompts follow the file from top to bottom.
//!
//! Messages never quote the string that holds a placeholder: below a protected key that string
//! may be a password. Only names, key paths and positions are printed. Pure: no I/O.

use crate::diagnostic::Diagnostic;
use crate::source::Location;
use crate::tree::{Kind, NodeId, NodeRef, Tree, escape_pointer_segment};

/// What opens a placeholder.
pub const OPEN: &str = "{{";
/// What closes a placeholder.
pub const CLOSE: &str = "}}";

/// The diagnostic code of every finding of this module.
pub const CODE: &str = "template";

/// One piece of a string: literal text or a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// Text kept as written.
    Literal(&'a str),
    /// A placeholder; the name is the text between the braces, spaces included.
    Variable(&'a str),
}

/// Why a string is not a well-formed template (the reference's cases A to D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    /// A: `{{` inside a placeholder that is still open.
    #[error("a placeholder opens inside another one that is not closed yet")]
    Nested,
    /// B: the string ends inside a placeholder.
    #[error("a placeholder is opened with `{{{{` but never closed with `}}}}`")]
    Unclosed,
    /// C: `{{}}`.
    #[error("a placeholder has an empty name")]
    EmptyName,
    /// D: a `{{` or `}}` that belongs to no placeholder.
    #[error("a `{{{{` or `}}}}` belongs to no placeholder")]
    Stray,
}

impl GrammarError {
    /// What to do about it.
    #[must_use]
    pub fn hint(self) -> &'static str {
        match self {
            GrammarError::Nested => "close each placeholder with `}}` before opening the next",
            GrammarError::Unclosed => "add the closing `}}`",
            GrammarError::EmptyName => "write a name between the braces, like `{{password}}`",
            GrammarError::Stray => {
                "a RED file cannot hold a literal `{{` or `}}` below `access` or `auth`; \
                 remove the extra braces"
            }
        }
    }
}

/// Whether a string contains anything that looks like a placeholder bracket.
#[must_use]
pub fn has_brackets(text: &str) -> bool {
    text.contains(OPEN) || text.contains(CLOSE)
}

/// Cut `text` at every `{{` and `}}` (the `{{` first, then `}}` inside what is left), keeping
/// the brackets as pieces of their own and dropping empty pieces, as the reference does.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for piece in split_keep(text, OPEN) {
        if piece == OPEN {
            out.push(piece);
        } else {
            out.extend(split_keep(piece, CLOSE));
        }
    }
    out
}

fn split_keep<'a>(text: &'a str, separator: &'static str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(separator) {
        if at > 0 {
            out.push(&rest[..at]);
        }
        out.push(&rest[at..at + separator.len()]);
        rest = &rest[at + separator.len()..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Split one string into literal text and placeholders.
///
/// Follows the reference's algorithm exactly (docs/credentials.md, "Variables"), so `"{{{x}}}"` is
/// the placeholder `{x` followed by the literal `}`, and `"{{ a }}"` names ` a `.
pub fn parse(text: &str) -> Result<Vec<Part<'_>>, GrammarError> {
    // Pass 1: group pieces into runs that are either literal text or one framed `{{…}}`.
    // Each run is a byte range of `text`; pieces are consecutive, so ranges are contiguous.
    let base = text.as_ptr() as usize;
    let offset = |piece: &str| piece.as_ptr() as usize - base;
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut inside = false;
    for piece in pieces(text) {
        let start = offset(piece);
        let end = start + piece.len();
        if inside {
            if piece == OPEN {
                return Err(GrammarError::Nested);
            }
            if let Some((s, _)) = current {
                current = Some((s, end));
            }
            if piece == CLOSE {
                if let Some((s, e)) = current.take() {
                    runs.push((s, e, true));
                }
                inside = false;
            }
        } else if piece == OPEN {
            if let Some((s, e)) = current.take() {
                runs.push((s, e, false));
            }
            current = Some((start, end));
            inside = true;
        } else {
            current = Some(current.map_or((start, end), |(s, _)| (s, end)));
        }
    }
    if inside {
        return Err(GrammarError::Unclosed);
    }
    if let Some((s, e)) = current {
        runs.push((s, e, false));
    }
    // Pass 2: classify.
    let mut parts = Vec::with_capacity(runs.len());
    for (start, end, framed) in runs {
        let run = &text[start..end];
        if framed && run.len() >= OPEN.len() + CLOSE.len() {
            let name = &run[OPEN.len()..run.len() - CLOSE.len()];
            if has_brackets(name) {
                return Err(GrammarError::Stray);
            }
            if name.is_empty() {
                return Err(GrammarError::EmptyName);
            }
            parts.push(Part::Variable(name));
        } else if has_brackets(run) {
            return Err(GrammarError::Stray);
        } else {
            parts.push(Part::Literal(run));
        }
    }
    Ok(parts)
}

/// The names of the placeholders of a string, in order, repeats included.
pub fn names(text: &str) -> Result<Vec<&str>, GrammarError> {
    Ok(parse(text)?
        .into_iter()
        .filter_map(|part| match part {
            Part::Variable(name) => Some(name),
            Part::Literal(_) => None,
        })
        .collect())
}

/// Replace every placeholder of `text` by the value `lookup` gives for its name.
///
/// Returns `Ok(None)` when the string has no placeholder, and `Err` with the first name that
/// has no value. Values are inserted verbatim.
pub fn substitute<'v, F>(text: &str, lookup: F) -> Result<Option<String>, SubstituteError>
where
    F: Fn(&str) -> Option<&'v str>,
{
    let parts = parse(text).map_err(SubstituteError::Grammar)?;
    if !parts.iter().any(|p| matches!(p, Part::Variable(_))) {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    for part in parts {
        match part {
            Part::Literal(literal) => out.push_str(literal),
            Part::Variable(name) => match lookup(name) {
                Some(value) => out.push_str(value),
                None => return Err(SubstituteError::Missing(name.to_owned())),
            },
        }
    }
    Ok(Some(out))
}

/// Why [`substitute`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// The string is not a well-formed template.
    #[error(transparent)]
    Grammar(GrammarError),
    /// A placeholder has no value.
    #[error("no value for `{0}`")]
    Missing(String),
}

/// Whether a mapping key protects the values below it: `password`, `privateKey`, or any key
/// starting with `_` (which connectors receive without the underscore, see [`normalize_key`]).
#[must_use]
pub fn is_protected_key(key: &str) -> bool {
    key == "password" || key == "privateKey" || key.starts_with('_')
}

/// Whether a mapping key opens a region where placeholders may stand.
#[must_use]
pub fn is_template_key(key: &str) -> bool {
    key == "access" || key == "auth"
}

/// The name a connector or engine receives for a key: one leading `_` removed (`_username`
/// means `username`, protected), as CC-Agency does (docs/credentials.md, "Protected keys").
#[must_use]
pub fn normalize_key(key: &str) -> &str {
    key.strip_prefix('_').unwrap_or(key)
}

/// One place a variable is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// JSON pointer of the string that holds the placeholder.
    pub pointer: String,
    /// Where that string starts.
    pub location: Location,
    /// Whether that string is below a protected key.
    pub protected: bool,
    /// The string's node in the tree (a string reached through several aliases is one node).
    pub node: NodeId,
}

/// A variable of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The text between the braces, as written (spaces kept).
    pub name: String,
    /// Whether any use is below a protected key: its value is then a secret.
    pub protected: bool,
    /// Every place it is used, in document order.
    pub uses: Vec<Use>,
}

/// The result of [`scan`].
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Every variable, in the order of its first use.
    pub variables: Vec<Variable>,
    /// Misplaced placeholders, malformed strings and misplaced protected keys, in document
    /// order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Scan {
    /// Whether the document has no template problem.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// The variable with this name.
    #[must_use]
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }
}

#[derive(Clone, Copy)]
enum Segment<'t> {
    Key(NodeRef<'t>),
    Index(usize),
}

/// A node about to be visited, with what the keys above it allow.
struct Frame<'t> {
    node: NodeRef<'t>,
    /// Below `access` or `auth`.
    allowed: bool,
    /// Below a protected key.
    protected: bool,
}

/// A collection the walk is inside, and the position of its next child. The walk holds one of
/// these per level of nesting, never one per sibling: a list of 100,000 batches costs one.
struct Open<'t> {
    frame: Frame<'t>,
    next: usize,
}

fn pointer_of(path: &[Segment<'_>]) -> String {
    let mut pointer = String::new();
    for segment in path {
        pointer.push('/');
        match segment {
            Segment::Key(key) => pointer.push_str(&escape_pointer_segment(key.text())),
            Segment::Index(i) => pointer.push_str(&i.to_string()),
        }
    }
    pointer
}

/// Find every variable of a document and every misplaced or malformed placeholder and
/// protected key (docs/credentials.md, "Protected keys").
///
/// The walk is iterative (no recursion limit) and builds a key path only where it reports
/// something, so it costs little on a 100,000-batch file.
#[must_use]
pub fn scan(tree: &Tree) -> Scan {
    let mut scan = Scan::default();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // The key or index of each open collection's current child, from the root down.
    let mut path: Vec<Segment<'_>> = Vec::new();
    let mut open: Vec<Open<'_>> = Vec::new();
    let root = Frame {
        node: tree.root(),
        allowed: false,
        protected: false,
    };
    visit(root, &mut path, &mut open, &mut scan, &mut index);
    while let Some(top) = open.last_mut() {
        let position = top.next;
        top.next += 1;
        let Frame {
            node,
            allowed,
            protected,
        } = top.frame;
        let child = if node.kind() == Kind::Map {
            node.entry(position).map(|(key, value)| {
                let name = key.as_str();
                let allowed_here = allowed || name.is_some_and(is_template_key);
                let protected_here = name.is_some_and(is_protected_key);
                path.push(Segment::Key(key));
                if protected_here && !allowed_here && !protected {
                    scan.diagnostics
                        .push(misplaced_key(key, &pointer_of(&path)));
                }
                Frame {
                    node: value,
                    allowed: allowed_here,
                    protected: protected || protected_here,
                }
            })
        } else {
            node.item(position).map(|item| {
                path.push(Segment::Index(position));
                Frame {
                    node: item,
                    allowed,
                    protected,
                }
            })
        };
        match child {
            Some(child) => visit(child, &mut path, &mut open, &mut scan, &mut index),
            None => {
                open.pop();
                path.pop();
            }
        }
    }
    scan
}

/// Visit one node whose segment is already on `path`: open a collection, or check a string and
/// leave it.
fn visit<'t>(
    frame: Frame<'t>,
    path: &mut Vec<Segment<'t>>,
    open: &mut Vec<Open<'t>>,
    scan: &mut Scan,
    index: &mut std::collections::HashMap<String, usize>,
) {
    match frame.node.kind() {
        Kind::Map | Kind::Seq => open.push(Open { frame, next: 0 }),
        kind => {
            if kind == Kind::Str {
                string(scan, index, &frame, path);
            }
            path.pop();
        }
    }
}

fn string(
    scan: &mut Scan,
    index: &mut std::collections::HashMap<String, usize>,
    frame: &Frame<'_>,
    path: &[Segment<'_>],
) {
    let node = frame.node;
    let text = node.text();
    if !frame.allowed {
        // Below a misplaced protected key the key itself is the reported problem.
        if has_brackets(text) && !frame.protected {
            scan.diagnostics.push(
                Diagnostic::error(
                    CODE,
                    "placeholders may only stand below an `access` or `auth` key",
                )
                .at(node.span().start)
                .pointer(pointer_of(path))
                .hint(
                    "move the credential into the connector's `access` block, or remove the \
                     `{{` and `}}`",
                ),
            );
        }
        return;
    }
    if !has_brackets(text) {
        return;
    }
    match names(text) {
        Err(error) => scan.diagnostics.push(
            Diagnostic::error(CODE, error.to_string())
                .at(node.span().start)
                .pointer(pointer_of(path))
                .hint(error.hint()),
        ),
        Ok(names) => {
            let pointer = pointer_of(path);
            let mut seen_here: Vec<&str> = Vec::new();
            for name in names {
                if seen_here.contains(&name) {
                    continue;
                }
                seen_here.push(name);
                let usage = Use {
                    pointer: pointer.clone(),
                    location: node.span().start,
                    protected: frame.protected,
                    node: node.id(),
                };
                let slot = *index.entry(name.to_owned()).or_insert_with(|| {
                    scan.variables.push(Variable {
                        name: name.to_owned(),
                        protected: false,
                        uses: Vec::new(),
                    });
                    scan.variables.len() - 1
                });
                if let Some(variable) = scan.variables.get_mut(slot) {
                    variable.protected |= frame.protected;
                    variable.uses.push(usage);
                }
            }
        }
    }
}

fn misplaced_key(key: NodeRef<'_>, pointer: &str) -> Diagnostic {
    Diagnostic::error(
        CODE,
        format!(
            "protected key `{}` outside an `access` or `auth` block",
            key.text()
        ),
    )
    .at(key.span().start)
    .pointer(pointer)
    .hint(
        "`password`, `privateKey` and keys starting with `_` hold secrets and may only stand \
         below `access` or `auth`; rename the key",
    )
}

#[cfg(test)]
mod tests;
