//! [`Validated`] + [`Values`] → [`Filled`]: placeholders replaced, secrets wrapped.
//!
//! [`apply`] is the only way to obtain a [`Filled`] document, and the later stages (plan,
//! exec, submit) take nothing else, so a document with open placeholders, or one that was not
//! validated, cannot reach a connector. A `Filled` document carries every secret it holds as a
//! [`Secret`] (values filled into protected positions and values written literally below
//! protected keys) and the [`Redactor`] that masks them in everything printed.
//!
//! Filling edits the text, not a re-serialised tree: each string that holds placeholders is
//! replaced in place by a double-quoted string with the filled value, escaped so that any
//! value (quotes, backslashes, line breaks, `#`, `: `, any Unicode) reads back exactly; every
//! other byte of the file (key order, comments, layout, number spelling) stays as it was. The
//! result is parsed again, each filled string is checked to read back as intended, and the
//! whole document is validated again.
//!
//! Values are data, not templates: a value that would leave `{{` or `}}` in the document is
//! refused, so that a filled document has no variables and filling twice changes nothing.
//! [`apply`] is pure; the I/O lives in [`sources`] (reading values) and [`output`] (writing the
//! result with mode 0600).

pub mod keyring;
pub mod output;
mod protected;
pub mod secret;
pub mod sources;

use std::collections::HashSet;
use std::ops::Range;

pub use protected::{
    guess_secret_texts, secret_texts, short_secret_warnings, short_value_warnings,
};
pub use secret::Secret;
pub use sources::{Value, ValueOrigin, Values};

use crate::diagnostic::Diagnostic;
use crate::parse::{self, Parsed};
use crate::redact::Redactor;
use crate::source::{Location, SourceFile};
use crate::template::{self, Variable};
use crate::tree::{Kind, NodeId, NodeRef, Style, Tree};
use crate::validate::{self, Level, Options, Validated};

/// Why a document could not be filled. Messages name variables and key paths, never values;
/// `Debug` shows the message only (the filled text of [`Error::Invalid`] holds secrets).
#[derive(thiserror::Error)]
pub enum Error {
    /// Misplaced or malformed placeholders, or protected keys outside `access`/`auth`.
    #[error("the document's placeholders or protected keys are not where they may be")]
    Template {
        /// One located diagnostic per problem.
        diagnostics: Vec<Diagnostic>,
    },
    /// Variables without a value.
    #[error("no value for {}", sources::quote_list(names))]
    Missing {
        /// Every variable without a value, in document order.
        names: Vec<String>,
    },
    /// A value would leave `{{` or `}}` in the filled document.
    #[error(
        "filling {} would leave `{{{{` or `}}}}` in `{pointer}`",
        sources::quote_list(names)
    )]
    BracketsInValue {
        /// The variables of that string.
        names: Vec<String>,
        /// The string's JSON pointer.
        pointer: String,
        /// Where the string starts.
        location: Location,
    },
    /// The edited text did not read back as intended (a bug in red).
    #[error("filling `{pointer}` in place did not give the intended value; this is a bug in red")]
    Rewrite {
        /// The string concerned.
        pointer: String,
        /// Where it starts in the template.
        location: Location,
    },
    /// The filled document breaks a RED rule.
    #[error("the filled document is not valid")]
    Invalid {
        /// What is wrong, located in the filled text.
        diagnostics: Vec<Diagnostic>,
        /// The filled text, for rendering (holds secrets: render only through `redactor`).
        text: Box<SourceFile>,
        /// Masks the filled document's secrets.
        redactor: Redactor,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fill::Error({self})")
    }
}

impl Error {
    /// The error as located diagnostics, and the text they point into (the filled text for
    /// [`Error::Invalid`], else the template).
    #[must_use]
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Error::Template { diagnostics } | Error::Invalid { diagnostics, .. } => {
                diagnostics.clone()
            }
            Error::Missing { names } => vec![
                sources::Error::Missing {
                    names: names.clone(),
                }
                .diagnostic(),
            ],
            Error::BracketsInValue {
                pointer, location, ..
            } => vec![
                Diagnostic::error("fill", self.to_string())
                    .at(*location)
                    .pointer(pointer.clone())
                    .hint("a value cannot contain `{{` or `}}` next to the template's own text"),
            ],
            Error::Rewrite { pointer, location } => vec![
                Diagnostic::error("fill", self.to_string())
                    .at(*location)
                    .pointer(pointer.clone()),
            ],
        }
    }
}

/// A validated document with every placeholder filled: what plan, exec and submit take.
///
/// Only [`apply`] makes one. `Debug` never shows the text.
pub struct Filled {
    parsed: Parsed,
    secrets: Vec<Secret>,
    redactor: Redactor,
    filled: Vec<Variable>,
    unfilled: Vec<String>,
}

impl std::fmt::Debug for Filled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filled")
            .field("origin", self.parsed.source.origin())
            .field("variables", &self.filled.len())
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl crate::plan::sealed::Sealed for Filled {}

impl crate::plan::Plannable for Filled {
    fn tree(&self) -> &Tree {
        Filled::tree(self)
    }
}

impl Filled {
    /// The filled document's tree.
    #[must_use]
    pub fn tree(&self) -> &Tree {
        &self.parsed.tree
    }

    /// The filled text and its origin (the template's). Holds secrets.
    #[must_use]
    pub fn source(&self) -> &SourceFile {
        &self.parsed.source
    }

    /// Whether the text is JSON.
    #[must_use]
    pub fn is_json(&self) -> bool {
        self.parsed.json
    }

    /// Every secret the document holds.
    #[must_use]
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// Masks every secret of the document; every printer must pass its text through it.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The variables that were filled, in document order, with the template's positions.
    #[must_use]
    pub fn variables(&self) -> &[Variable] {
        &self.filled
    }

    /// The names of the variables left as written (`{{name}}`) by [`apply_partial`], in
    /// document order; empty for [`apply`].
    #[must_use]
    pub fn unfilled(&self) -> &[String] {
        &self.unfilled
    }

    /// The scalar at a JSON pointer, wrapped as a [`Secret`]: how a connector should take a
    /// credential (`/inputs/data/connector/access/password`) so that it stays wrapped.
    #[must_use]
    pub fn secret(&self, pointer: &str) -> Option<Secret> {
        let node = self.parsed.tree.root().pointer(pointer)?;
        (!matches!(node.kind(), Kind::Map | Kind::Seq | Kind::ForeignCollection))
            .then(|| Secret::new(node.text().to_owned()))
    }
}

/// Fill every placeholder of a validated document with `values`, validate the result again,
/// and collect its secrets.
pub fn apply(validated: Validated, values: &Values) -> Result<Filled, Error> {
    apply_with(validated, values, false)
}

/// [`apply`] for a document that only needs to be shown (`red plan`): a string whose variables
/// do not all have a value is left as written (`{{name}}`), which a valid template allows,
/// since variables only stand in `access` and `auth` blocks.
pub fn apply_partial(validated: Validated, values: &Values) -> Result<Filled, Error> {
    apply_with(validated, values, true)
}

fn apply_with(validated: Validated, values: &Values, partial: bool) -> Result<Filled, Error> {
    let parsed = validated.into_parsed();
    let scan = template::scan(&parsed.tree);
    if !scan.is_ok() {
        return Err(Error::Template {
            diagnostics: scan.diagnostics,
        });
    }
    let missing: Vec<String> = scan
        .variables
        .iter()
        .filter(|v| values.get(&v.name).is_none())
        .map(|v| v.name.clone())
        .collect();
    if !missing.is_empty() && !partial {
        return Err(Error::Missing { names: missing });
    }
    let edits = edits(&parsed, &scan.variables, values, partial)?;
    let text = splice(parsed.source.text(), &edits);
    let tree = parse::tree(&text).map_err(|_| rewrite_error(edits.first()))?;
    for edit in &edits {
        let reads_back = tree
            .root()
            .pointer(&edit.pointer)
            .and_then(NodeRef::as_str)
            .is_some_and(|s| s == edit.value);
        if !reads_back {
            return Err(rewrite_error(Some(edit)));
        }
    }
    let source = SourceFile::new(parsed.source.origin().clone(), text);
    let filled_parsed = Parsed::new(source, tree);
    let mut secrets: Vec<Secret> = secret_texts(&filled_parsed)
        .into_iter()
        .map(Secret::new)
        .collect();
    for variable in scan.variables.iter().filter(|v| v.protected) {
        if let Some(value) = values.get(&variable.name) {
            secrets.push(value.clone());
        }
    }
    let redactor = Redactor::new(secrets.iter().map(Secret::expose));
    let options = Options { level: Level::Full };
    match validate::document(filled_parsed, &options) {
        Ok(valid) => Ok(Filled {
            parsed: valid.into_parsed(),
            secrets,
            redactor,
            filled: scan
                .variables
                .into_iter()
                .filter(|v| values.get(&v.name).is_some())
                .collect(),
            unfilled: missing,
        }),
        Err(invalid) => Err(Error::Invalid {
            diagnostics: invalid.diagnostics,
            text: Box::new(invalid.parsed.source),
            redactor,
        }),
    }
}

fn rewrite_error(edit: Option<&Edit>) -> Error {
    Error::Rewrite {
        pointer: edit.map(|e| e.pointer.clone()).unwrap_or_default(),
        location: edit.map(|e| e.location).unwrap_or_default(),
    }
}

/// One string to replace.
struct Edit {
    range: Range<usize>,
    replacement: String,
    /// The filled value, to check after re-parsing.
    value: String,
    pointer: String,
    location: Location,
}

fn edits(
    parsed: &Parsed,
    variables: &[Variable],
    values: &Values,
    partial: bool,
) -> Result<Vec<Edit>, Error> {
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut edits = Vec::new();
    for usage in variables.iter().flat_map(|v| v.uses.iter()) {
        if !seen.insert(usage.node) {
            continue;
        }
        let node = parsed.tree.node(usage.node);
        let lookup = |name: &str| values.get(name).map(Secret::expose);
        let filled = match template::substitute(node.text(), lookup) {
            Ok(Some(filled)) => filled,
            Ok(None) => continue,
            Err(template::SubstituteError::Missing(_)) if partial => continue,
            Err(template::SubstituteError::Missing(name)) => {
                return Err(Error::Missing { names: vec![name] });
            }
            Err(template::SubstituteError::Grammar(_)) => {
                return Err(Error::Rewrite {
                    pointer: usage.pointer.clone(),
                    location: usage.location,
                });
            }
        };
        if template::has_brackets(&filled) {
            let names = template::names(node.text())
                .unwrap_or_default()
                .into_iter()
                .map(str::to_owned)
                .collect();
            return Err(Error::BracketsInValue {
                names,
                pointer: usage.pointer.clone(),
                location: usage.location,
            });
        }
        let Some(range) = scalar_range(&parsed.source, node) else {
            return Err(Error::Rewrite {
                pointer: usage.pointer.clone(),
                location: usage.location,
            });
        };
        let mut replacement = quote(&filled);
        let original = &parsed.source.text()[range.clone()];
        if let Some(comment) = block_comment(original) {
            replacement.push(' ');
            replacement.push_str(comment);
        }
        if node.style() == Style::Block && original.ends_with('\n') {
            replacement.push('\n');
        }
        edits.push(Edit {
            range,
            replacement,
            value: filled,
            pointer: usage.pointer.clone(),
            location: usage.location,
        });
    }
    edits.sort_by_key(|e| e.range.start);
    if edits
        .windows(2)
        .any(|pair| pair[0].range.end > pair[1].range.start)
    {
        return Err(rewrite_error(edits.first()));
    }
    Ok(edits)
}

fn splice(text: &str, edits: &[Edit]) -> String {
    let mut out = String::with_capacity(text.len() + 64 * edits.len());
    let mut at = 0;
    for edit in edits {
        out.push_str(&text[at..edit.range.start]);
        out.push_str(&edit.replacement);
        at = edit.range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The byte range of a scalar's own text: for quoted and plain scalars the span without the
/// anchor and tag in front; for block scalars from the `|` or `>` header to the end of the
/// content (the parser's span covers the content only).
fn scalar_range(source: &SourceFile, node: NodeRef<'_>) -> Option<Range<usize>> {
    let text = source.text();
    let range = source.range(node.span());
    match node.style() {
        Style::Block => {
            let header = block_header(&text[..range.start])?;
            // The parser's span runs on to the next token, over the next line's indentation.
            let content = text.get(range.clone())?;
            let end = match content.rfind('\n') {
                Some(i) if content[i..].trim().is_empty() => range.start + i + 1,
                _ => range.end,
            };
            Some(header..end)
        }
        _ => {
            let mut start = range.start;
            loop {
                let rest = text.get(start..range.end)?;
                if !(rest.starts_with('&') || rest.starts_with('!')) {
                    break;
                }
                let token = rest.find(char::is_whitespace)?;
                let spaces = rest[token..]
                    .find(|c: char| !c.is_whitespace())
                    .unwrap_or(rest.len() - token);
                start += token + spaces;
            }
            if node.style() == Style::Quoted {
                // The parser's span of a quoted scalar runs on over trailing blanks and a
                // comment; the scalar ends at its closing quote.
                let end = start + closing_quote(text.get(start..range.end)?)? + 1;
                return Some(start..end);
            }
            Some(start..range.end)
        }
    }
}

/// The offset of the quote that closes the quoted scalar at the start of `text`.
fn closing_quote(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    let (_, open) = chars.next()?;
    match open {
        '"' => {
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => return Some(i),
                    _ => {}
                }
            }
            None
        }
        '\'' => {
            let mut chars = chars.peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                        chars.next();
                    } else {
                        return Some(i);
                    }
                }
            }
            None
        }
        _ => None,
    }
}

/// The offset of the `|` or `>` that starts the block scalar whose content follows `before`.
fn block_header(before: &str) -> Option<usize> {
    let content_line = before.rfind('\n')?;
    if !before[content_line..].trim().is_empty() {
        return None;
    }
    // Skip blank lines between the header and the content.
    let mut end = content_line;
    loop {
        let line_start = before[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = &before[line_start..end];
        if !line.trim().is_empty() {
            let code = line.find(" #").map_or(line, |i| &line[..i]).trim_end();
            let indicators =
                code.trim_end_matches(|c: char| c == '+' || c == '-' || c.is_ascii_digit());
            if indicators.ends_with(['|', '>']) {
                return Some(line_start + indicators.len() - 1);
            }
            return None;
        }
        if line_start == 0 {
            return None;
        }
        end = line_start - 1;
    }
}

/// The comment on a block scalar's header line, kept after the replacement.
fn block_comment(original: &str) -> Option<&str> {
    if !original.starts_with(['|', '>']) {
        return None;
    }
    let header = original.lines().next()?;
    header.find(" #").map(|i| header[i + 1..].trim_end())
}

/// A double-quoted string that YAML and JSON both read back as `value`.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    crate::convert::json::write_string(value, &mut out);
    out
}

#[cfg(test)]
mod tests;
