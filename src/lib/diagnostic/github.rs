//! `red validate --format github`: one GitHub Actions workflow command per diagnostic
//! (`::error file=F,line=L,col=C,title=CODE::message`), so a workflow run shows each finding as
//! an annotation on its line.
//!
//! Messages, hints and notes are masked with each file's own redactor before they are escaped;
//! paths stay as given. Escaping follows the workflow-command rules: in the message `%`, CR
//! and LF become `%25`, `%0D`, `%0A`; in a property also `:` and `,` (`%3A`, `%2C`), so neither a
//! file name nor a message can end a command early or start another one.

use std::fmt::Write as _;

use super::{FileReport, Severity};
use crate::redact::Redactor;

/// The workflow commands of these reports, one line each, every message masked with its own
/// file's redactor.
#[must_use]
pub fn render(files: &[(FileReport, &Redactor)]) -> String {
    let mut out = String::new();
    for (report, redactor) in files {
        for diagnostic in &report.diagnostics {
            let diagnostic = diagnostic.masked(redactor);
            let command = match diagnostic.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = write!(out, "::{command} file={}", property(&report.path));
            if let (Some(line), Some(column)) = (diagnostic.line, diagnostic.column) {
                let _ = write!(out, ",line={line},col={column}");
            }
            let _ = writeln!(
                out,
                ",title={}::{}",
                property(diagnostic.code),
                data(&super::sarif::text(&diagnostic))
            );
        }
    }
    out
}

/// A command's message: `%`, CR and LF escaped.
#[must_use]
pub fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value: as [`data`], and `:` and `,` too.
#[must_use]
pub fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::source::Location;

    #[test]
    fn commands_are_escaped_and_masked() {
        let report = FileReport {
            path: "a,b:c%.red.yml".into(),
            valid: false,
            red_version: None,
            diagnostics: vec![
                Diagnostic::error("schema", "50% of\r\nhunter2-canary, here: x")
                    .at(Location::new(3, 7))
                    .hint("fix it"),
                Diagnostic::warning("io", "no place"),
            ],
        };
        let redactor = Redactor::new(["hunter2-canary"]);
        let text = render(&[(report, &redactor)]);
        assert_eq!(
            text,
            "::error file=a%2Cb%3Ac%25.red.yml,line=3,col=7,title=schema::50%25 of%0D%0A\
             ********, here: x%0Ahelp: fix it\n\
             ::warning file=a%2Cb%3Ac%25.red.yml,title=io::no place\n"
        );
    }
}
