//! `red validate --format sarif`: the file reports as one SARIF 2.1.0 log, the format code
//! scanning services (GitHub's among them) take, so findings show on the lines they concern.
//!
//! Messages, hints and notes are masked with each file's own redactor, as in the JSON report;
//! paths stay as given (percent-encoded where a URI reference needs it). Columns count
//! characters, which the log says (`columnKind`), since SARIF's default is UTF-16 code units.

use serde_json::{Value, json};

use super::{Diagnostic, FileReport, Severity};
use crate::redact::Redactor;

/// `runs[0].tool.driver.informationUri`: the home of the RED format red checks (red itself
/// has no published address yet).
pub const INFORMATION_URI: &str = "https://github.com/curious-containers/curious-containers";

/// The schema a log names in `$schema`.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Every code `red validate` reports, with the one-line description a rule carries
/// (the table of docs/validate.md).
pub const RULES: &[(&str, &str)] = &[
    ("io", "The file cannot be read."),
    ("encoding", "The file is not UTF-8."),
    ("yaml", "Not a single well-formed YAML or JSON document."),
    ("not-a-mapping", "The document is not a mapping."),
    (
        "non-string-key",
        "A mapping key is a number, boolean, null or collection.",
    ),
    ("old-version", "A RED 2-8 file; run `red upgrade`."),
    ("schema", "The RED 9 schema is not satisfied."),
    (
        "cross-check",
        "A job value does not match its `cli` declaration.",
    ),
    (
        "absolute-glob",
        "An absolute output glob, or one with a `..` segment.",
    ),
    ("engine", "Container or execution engine settings."),
    (
        "template",
        "A misplaced `{{variable}}`, bracket or protected key.",
    ),
    (
        "output-collision",
        "Two outputs would be delivered to one path of the outputs directory.",
    ),
    (
        "argv-mode",
        "The argv differs between `cwl` and `cc` semantics.",
    ),
    (
        "short-secret",
        "A protected value shorter than 8 characters, which red cannot mask reliably.",
    ),
    ("internal", "A check of red's own failed: a bug in red."),
];

/// The SARIF log of these reports, each masked with its own redactor; `successful` is false
/// when a file could not be read (the run did not check everything).
#[must_use]
pub fn render(files: &[(FileReport, &Redactor)], successful: bool) -> String {
    let mut rules: Vec<(&str, &str)> = RULES.to_vec();
    let mut results = Vec::new();
    for (report, redactor) in files {
        for diagnostic in &report.diagnostics {
            let index = match rules.iter().position(|(code, _)| *code == diagnostic.code) {
                Some(index) => index,
                None => {
                    rules.push((diagnostic.code, diagnostic.code));
                    rules.len() - 1
                }
            };
            results.push(result(&diagnostic.masked(redactor), index, &report.path));
        }
    }
    let rules: Vec<Value> = rules
        .iter()
        .map(|(code, text)| json!({ "id": code, "shortDescription": { "text": text } }))
        .collect();
    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "red",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }},
            "invocations": [{ "executionSuccessful": successful }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_else(|_| String::from("{}"))
}

fn result(diagnostic: &Diagnostic, rule_index: usize, path: &str) -> Value {
    let mut location = json!({ "artifactLocation": { "uri": uri(path) } });
    if let (Some(line), Some(column)) = (diagnostic.line, diagnostic.column) {
        location["region"] = json!({ "startLine": line, "startColumn": column.max(1) });
    }
    let mut properties = json!({ "pointer": diagnostic.pointer });
    if let Some(batch) = diagnostic.batch {
        properties["batch"] = json!(batch);
    }
    json!({
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index,
        "level": match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        },
        "message": { "text": text(diagnostic) },
        "locations": [{ "physicalLocation": location }],
        "properties": properties,
    })
}

/// The message with its notes and hint under it, one per line.
pub(super) fn text(diagnostic: &Diagnostic) -> String {
    let mut text = diagnostic.message.clone();
    for note in &diagnostic.notes {
        text.push('\n');
        text.push_str(note);
    }
    if let Some(hint) = &diagnostic.hint {
        text.push_str("\nhelp: ");
        text.push_str(hint);
    }
    text
}

/// A path as a relative URI reference: bytes outside the unreserved set and `/` are
/// percent-encoded (a space, `%`, `#`, `?`, non-ASCII), so `dir/a b.red.yml` stays
/// `dir/a%20b.red.yml` and a code scanner finds the file again.
#[must_use]
pub fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> FileReport {
        // A code outside the table (through a variable, so the docs test of codes skips it).
        let unlisted: &'static str = "new-code";
        FileReport {
            path: "dir/a b.red.yml".into(),
            valid: false,
            red_version: Some("9".into()),
            diagnostics: vec![
                Diagnostic::error("schema", "`ram` must be a number, not hunter2-canary")
                    .at(crate::source::Location::new(12, 6))
                    .pointer("/container/settings/ram")
                    .hint("write hunter2-canary as a number"),
                Diagnostic::warning(unlisted, "something").note("cwl: [\"a\"]"),
            ],
        }
    }

    #[test]
    fn results_point_at_lines_and_name_their_rules() {
        let redactor = Redactor::new(["hunter2-canary"]);
        let log: Value =
            serde_json::from_str(&render(&[(report(), &redactor)], true)).expect("JSON");
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        let first = &run["results"][0];
        assert_eq!(first["ruleId"], "schema");
        assert_eq!(
            rules[first["ruleIndex"].as_u64().expect("index") as usize]["id"],
            "schema"
        );
        assert_eq!(first["level"], "error");
        let location = &first["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "dir/a%20b.red.yml");
        assert_eq!(location["region"]["startLine"], 12);
        assert_eq!(location["region"]["startColumn"], 6);
        let message = first["message"]["text"].as_str().expect("text");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            message.contains("\nhelp: write ******** as a number"),
            "{message}"
        );
        let second = &run["results"][1];
        assert_eq!(second["level"], "warning");
        assert_eq!(
            rules[second["ruleIndex"].as_u64().expect("index") as usize]["id"],
            "new-code"
        );
        assert!(
            second["locations"][0]["physicalLocation"]
                .get("region")
                .is_none()
        );
        assert_eq!(second["message"]["text"], "something\ncwl: [\"a\"]");
    }

    #[test]
    fn uris_escape_what_a_uri_cannot_hold() {
        assert_eq!(uri("./x/é%#?.red.yml"), "./x/%C3%A9%25%23%3F.red.yml");
    }
}
