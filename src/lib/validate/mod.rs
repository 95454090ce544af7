//! [`Parsed`] → [`Validated`]: every rule a RED 9 file must satisfy, all errors at once.
//!
//! The checks are those of the reference validator (red-val 9.3), in its order, plus the checks
//! the reference only makes when it is about to run a file (engine settings, where template
//! variables may stand), because a file that can never run is not valid to a user. Unlike the
//! reference, which stops at the first problem and often blames the whole document, every
//! problem is reported, in document order, at its line and column.
//!
//! The steps, in red-val's order ([`Level::RedVal`] runs 1–4, [`Level::Full`] all):
//!
//! 0. `version`: a RED 2–8 file gets one `old-version` diagnostic and nothing else;
//! 1. `keys`: every mapping key must be a string (`non-string-key`);
//! 2. `schema` + `eval` + `report`: `schemas/red.json`, interpreted over our tree (`schema`);
//! 3. `crosscheck`: job values against `cli` (`cross-check`), cli names outside the key
//!    pattern;
//! 4. absolute output globs (`absolute-glob`);
//! 5. `engines` (full only): container/execution engines and their settings (`engine`), and
//!    the seam `full_checks` where template placement plugs in, and outputs that would be
//!    delivered to one path (`output-collision`, from [`crate::plan::collisions`]).
//!
//! Later steps skip values an earlier step rejected, so one mistake gives one diagnostic.

mod crosscheck;
mod engines;
mod eval;
mod keys;
mod path;
mod report;
mod schema;
mod version;
pub mod walk;

pub use schema::CompileError;

use crate::diagnostic::{Diagnostic, Severity};
use crate::parse::Parsed;
use crate::tree::{Kind, Tree};

/// Which rules to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// red-val 9.3 plus engine settings and template placement (what running a file needs).
    #[default]
    Full,
    /// Exactly what red-val 9.3 checks: same verdicts as the reference validator.
    RedVal,
}

/// Options for [`document`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Which rules to apply.
    pub level: Level,
}

/// A document that passed validation, with any warnings.
#[derive(Debug, Clone)]
pub struct Validated {
    parsed: Parsed,
    warnings: Vec<Diagnostic>,
}

impl Validated {
    /// The parsed document.
    #[must_use]
    pub fn parsed(&self) -> &Parsed {
        &self.parsed
    }

    /// The document's tree.
    #[must_use]
    pub fn tree(&self) -> &Tree {
        &self.parsed.tree
    }

    /// Warnings found on the way.
    #[must_use]
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Give the parsed document back.
    #[must_use]
    pub fn into_parsed(self) -> Parsed {
        self.parsed
    }
}

/// A document that failed validation.
#[derive(Debug, Clone)]
pub struct Invalid {
    /// The parsed document.
    pub parsed: Parsed,
    /// Every error and warning, in document order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Validate a parsed document.
// The error hands the parsed document back, so callers can still render its source lines.
#[allow(clippy::result_large_err)]
pub fn document(parsed: Parsed, options: &Options) -> Result<Validated, Invalid> {
    let mut diagnostics = check(&parsed.tree, options);
    diagnostics.sort_by_key(Diagnostic::order_key);
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        Err(Invalid {
            parsed,
            diagnostics,
        })
    } else {
        Ok(Validated {
            parsed,
            warnings: diagnostics,
        })
    }
}

/// All diagnostics for a tree, in document order.
#[must_use]
pub fn check(tree: &Tree, options: &Options) -> Vec<Diagnostic> {
    let root = tree.root();
    if root.kind() != Kind::Map {
        return vec![
            Diagnostic::error(
                "not-a-mapping",
                if root.kind() == Kind::Null {
                    "a RED file must be a mapping, but this one is empty".to_owned()
                } else {
                    format!(
                        "a RED file must be a mapping, but this one is a {}",
                        root.type_name()
                    )
                },
            )
            // An empty file has no node to point at: point at its start.
            .at(if root.span().start.line == 0 {
                crate::source::Location::new(1, 1)
            } else {
                root.span().start
            })
            .hint("start the file with `redVersion: \"9\"` and the other top-level keys"),
        ];
    }
    if let Some(old) = version::old_version(tree) {
        return vec![old];
    }
    let schemas = match schema::schemas() {
        Ok(schemas) => schemas,
        Err(error) => {
            return vec![Diagnostic::error(
                "internal",
                format!("cannot validate: {error}"),
            )];
        }
    };
    let mut diagnostics = keys::check(tree);
    let mut eval = eval::Eval::new(&schemas.red, Vec::new());
    eval.run(root);
    let rejected = crosscheck::Rejected::new(
        eval.failures
            .iter()
            .map(|f| path::pointer(&f.path))
            .collect(),
    );
    diagnostics.extend(eval.failures.iter().map(report::diagnostic));
    diagnostics.extend(crosscheck::check(
        tree,
        &rejected,
        options.level == Level::Full,
    ));
    if options.level == Level::Full {
        diagnostics.extend(full_checks(tree, schemas, &rejected));
    }
    diagnostics.sort_by_key(Diagnostic::order_key);
    diagnostics.dedup();
    diagnostics
}

/// Check a document or a fragment of one (an engine's settings) against the embedded schema
/// `name` alone, as `faice schema validate` does: no cross-checks, no engine or template rules.
/// Pointers and messages are relative to the fragment's root. `None` when there is no schema
/// of that name (see [`crate::schemas::ALL`]).
#[must_use]
pub fn against_schema(tree: &Tree, name: &str) -> Option<Vec<Diagnostic>> {
    let schemas = match schema::schemas() {
        Ok(schemas) => schemas,
        Err(error) => {
            return Some(vec![Diagnostic::error(
                "internal",
                format!("cannot validate: {error}"),
            )]);
        }
    };
    let compiled = schemas.named(name)?;
    let mut diagnostics = keys::check(tree);
    let mut eval = eval::Eval::new(compiled, Vec::new());
    eval.run(tree.root());
    diagnostics.extend(eval.failures.iter().map(report::diagnostic));
    diagnostics.sort_by_key(Diagnostic::order_key);
    diagnostics.dedup();
    Some(diagnostics)
}

/// The checks beyond red-val that running a file needs: engine settings, and (wired in later)
/// where template variables and protected keys may stand.
fn full_checks(
    tree: &Tree,
    schemas: &'static schema::Schemas,
    rejected: &crosscheck::Rejected,
) -> Vec<Diagnostic> {
    let mut diagnostics = engines::check(tree, schemas, rejected);
    diagnostics.extend(crate::template::scan(tree).diagnostics);
    // Outputs delivered onto one path: only for a document the schema accepted, whose globs
    // and names planning can read.
    if rejected.is_empty() {
        diagnostics.extend(crate::plan::collisions(tree));
    }
    diagnostics
}

/// The document's `redVersion` as text, if it is a string or a number.
#[must_use]
pub fn red_version(tree: &Tree) -> Option<String> {
    let version = tree.root().get("redVersion")?;
    matches!(version.kind(), Kind::Str | Kind::Int | Kind::Float).then(|| version.text().to_owned())
}
