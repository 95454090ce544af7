//! Diagnostics: what `red` says about a file, located, in human and machine form.
//!
//! Every stage that reads a user's file reports problems as [`Diagnostic`]s: a severity, a stable
//! code, a short message in our own words, the JSON pointer of the offending value, its line and
//! column, the batch it belongs to and, where one helps, a hint. The human renderer shows the
//! source line with a caret (only the line, so a 4 MB file costs nothing extra); the JSON form is
//! what CI pipelines read. Both pass through a [`Redactor`] so no secret is ever echoed, not even
//! through a quoted source line: messages and hints are red's own words (masked for long
//! secrets), a quoted source line is the file's text (masked for every secret), and key paths,
//! codes and file paths are never masked (keys are never secret).

use std::fmt::Write as _;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;

pub mod github;
pub mod sarif;

use crate::redact::Redactor;
use crate::source::{Location, SourceFile};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is invalid.
    Error,
    /// The file is valid but something deserves attention.
    Warning,
}

/// One finding about a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable identifier of the rule (`schema`, `cross-check`, `yaml`, …).
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// JSON pointer of the value concerned (`""` is the whole document).
    pub pointer: String,
    /// Line of the value, 1-based.
    pub line: Option<u32>,
    /// Column of the value, 1-based, in characters.
    pub column: Option<u32>,
    /// Index of the batch this concerns, for batch files.
    pub batch: Option<usize>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Details shown under the message, one line each (the two argvs of `argv-mode`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with a message, at no particular place.
    #[must_use]
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            pointer: String::new(),
            line: None,
            column: None,
            batch: None,
            hint: None,
            notes: Vec::new(),
        }
    }

    /// A warning with a message, at no particular place.
    #[must_use]
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// Place the diagnostic at a source location.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        if location.line > 0 {
            self.line = Some(location.line);
            self.column = Some(location.column);
        }
        self
    }

    /// Attach the JSON pointer of the value concerned.
    #[must_use]
    pub fn pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = pointer.into();
        self
    }

    /// Attach the batch index.
    #[must_use]
    pub fn batch(mut self, batch: Option<usize>) -> Self {
        self.batch = batch;
        self
    }

    /// Attach a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Add a line of detail under the message.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The location, if known.
    #[must_use]
    pub fn location(&self) -> Option<Location> {
        Some(Location::new(self.line?, self.column?))
    }

    /// Sort key: document order, errors before warnings at the same place.
    #[must_use]
    pub fn order_key(&self) -> (Location, Severity) {
        (self.location().unwrap_or_default(), self.severity)
    }
}

/// Render diagnostics for a terminal: rustc-style, with the source line and a caret.
#[must_use]
pub fn render_human(
    diagnostics: &[Diagnostic],
    file: Option<&SourceFile>,
    path: &str,
    redactor: &Redactor,
    color: bool,
) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        let level = match diagnostic.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let message = redactor.redact(&diagnostic.message);
        let mut notes = Vec::new();
        let mut place = String::new();
        if !diagnostic.pointer.is_empty() {
            // Keys may hold newlines and tabs: show them escaped, on one line. A pointer is made
            // of keys and indexes, never of values, so it is not masked.
            let pointer: String = diagnostic
                .pointer
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().collect()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            let _ = write!(place, "at `{pointer}`");
        }
        if let Some(batch) = diagnostic.batch {
            let _ = write!(
                place,
                "{}in batch {batch}",
                if place.is_empty() { "" } else { " " }
            );
        }
        if !place.is_empty() {
            notes.push(Group::with_title(Level::NOTE.secondary_title(place)));
        }
        for note in &diagnostic.notes {
            notes.push(Group::with_title(
                Level::NOTE.secondary_title(redactor.redact(note)),
            ));
        }
        if let Some(hint) = &diagnostic.hint {
            notes.push(Group::with_title(
                Level::HELP.secondary_title(redactor.redact(hint)),
            ));
        }
        let title = level.primary_title(message.as_ref()).id(diagnostic.code);
        let line_text = diagnostic
            .location()
            .and_then(|l| file.and_then(|f| f.line_text(l.line)).map(|t| (l, t)));
        let head = match line_text {
            Some((location, text)) => {
                // The file's own text: every secret is masked, short ones as whole tokens.
                let text = redactor.redact_foreign(text).into_owned();
                let start = text
                    .char_indices()
                    .nth(location.column.saturating_sub(1) as usize)
                    .map_or(text.len(), |(i, _)| i);
                let end = text[start..]
                    .char_indices()
                    .nth(1)
                    .map_or(text.len(), |(i, _)| start + i);
                let snippet = Snippet::source(text)
                    .line_start(location.line as usize)
                    .path(path.to_owned())
                    .annotation(AnnotationKind::Primary.span(start..end.max(start)));
                title.element(snippet)
            }
            None => {
                let where_ = match diagnostic.location() {
                    Some(location) => format!("{path}:{location}"),
                    None => path.to_owned(),
                };
                title.element(annotate_snippets::Origin::path(where_))
            }
        };
        let mut groups = vec![head];
        groups.extend(notes);
        out.push_str(&renderer.render(&groups));
        out.push_str("\n\n");
    }
    out
}

/// One file's result in `--format json` output.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The path as given.
    pub path: String,
    /// Whether the file has no error.
    pub valid: bool,
    /// The file's `redVersion`, if it has a readable one.
    #[serde(rename = "redVersion")]
    pub red_version: Option<String>,
    /// Everything found, in document order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Diagnostic {
    /// The diagnostic with its message and hint masked; code, pointer and place never change.
    #[must_use]
    pub fn masked(&self, redactor: &Redactor) -> Self {
        Self {
            message: redactor.redact(&self.message).into_owned(),
            hint: self.hint.as_ref().map(|h| redactor.redact(h).into_owned()),
            notes: self
                .notes
                .iter()
                .map(|n| redactor.redact(n).into_owned())
                .collect(),
            ..self.clone()
        }
    }
}

impl FileReport {
    /// The report with every diagnostic masked by `redactor`; the path stays as given.
    #[must_use]
    pub fn masked(self, redactor: &Redactor) -> Self {
        if redactor.is_empty() {
            return self;
        }
        Self {
            diagnostics: self
                .diagnostics
                .iter()
                .map(|d| d.masked(redactor))
                .collect(),
            ..self
        }
    }
}

/// Serialise file reports as `{"files": […]}`, every message and hint masked with the
/// redactor of its own file (a file's secrets never change another file's report). Only
/// string values change, so the output has the same shape whatever the secrets are.
#[must_use]
pub fn render_json(files: &[(FileReport, &Redactor)]) -> String {
    #[derive(Serialize)]
    struct Files<'a> {
        files: &'a [FileReport],
    }
    // Reports are moved, not copied into a `serde_json::Value`: 100,000 diagnostics would
    // cost hundreds of megabytes.
    let masked: Vec<FileReport> = files
        .iter()
        .map(|(report, redactor)| report.clone().masked(redactor))
        .collect();
    serde_json::to_string_pretty(&Files { files: &masked })
        .unwrap_or_else(|_| String::from("{\"files\":[]}"))
}
