//! Messages that tell the truth: hints name flags that exist, numbers and codes are right,
//! and docs name the codes red emits.

use crate::support::{Red, root};

/// Every `red <command> … --flag` a `red validate` hint suggests is a flag of that command, and
/// no hint names a bare flag without the command that takes it.
#[test]
fn argv_mode_hints_name_flags_that_exist() {
    for fixture in ["batches.red.yml", "single.red.yml"] {
        let text = std::fs::read_to_string(root().join("tests/fixtures/plan").join(fixture))
            .expect("fixture");
        let run = Red::new()
            .file("x.red.yml", &text)
            .args(["validate", "--format", "json", "x.red.yml"])
            .run();
        let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
        let hint = report["files"][0]["diagnostics"][0]["hint"]
            .as_str()
            .expect("a hint")
            .to_owned();
        for piece in hint.split('`').skip(1).step_by(2) {
            let words: Vec<&str> = piece.split_whitespace().collect();
            let Some(flag) = words.iter().find(|w| w.starts_with("--")) else {
                continue;
            };
            assert_eq!(
                words.first(),
                Some(&"red"),
                "`{piece}` names no command: {hint}"
            );
            let help = Red::new().args([words[1], "--help"]).run();
            assert!(
                help.stdout.contains(flag),
                "`red {}` has no {flag}",
                words[1]
            );
        }
    }
}

/// `red vars --help` says where the listing goes, and it goes there.
#[test]
fn vars_help_says_the_listing_goes_to_standard_output() {
    let help = Red::new().args(["vars", "--help"]).run();
    let human = help
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("- human:"))
        .expect("the human format is described");
    assert!(human.contains("standard output"), "{human}");
    let run = Red::new()
        .file("x.red.yml", "access:\n  auth: {user: '{{name}}'}\n")
        .args(["vars", "x.red.yml"])
        .run();
    assert!(run.stdout.contains("name"), "{}", run.snapshot());
}

/// The codes red can emit: the first argument of every `Diagnostic::error`/`warning` written as
/// a literal, every `const …CODE: &str`, and the codes of error documents (`red::cli::CODES`).
fn codes_in_source() -> std::collections::BTreeSet<String> {
    let mut codes: std::collections::BTreeSet<String> =
        red::cli::CODES.iter().map(|c| (*c).to_owned()).collect();
    let mut pending = vec![root().join("src/lib")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for marker in ["Diagnostic::error(", "Diagnostic::warning(", "CODE: &str ="] {
                for piece in text.split(marker).skip(1) {
                    let piece = piece.trim_start();
                    if let Some(rest) = piece.strip_prefix('"') {
                        let code: String = rest.chars().take_while(|c| *c != '"').collect();
                        codes.insert(code);
                    }
                }
            }
        }
    }
    codes
}

/// The codes the docs name: the first column of every table whose header starts `| code |`,
/// and every "code `x`" in running text.
fn codes_in_docs() -> std::collections::BTreeSet<String> {
    let mut codes = std::collections::BTreeSet::new();
    for page in [
        "docs/validate.md",
        "docs/exit-codes.md",
        "docs/credentials.md",
    ] {
        let text = std::fs::read_to_string(root().join(page)).expect("docs page");
        let mut in_table = false;
        for line in text.lines() {
            if line.starts_with("| code |") {
                in_table = true;
            } else if !line.starts_with('|') {
                in_table = false;
            } else if in_table
                && let Some(code) = line.strip_prefix("| `").and_then(|r| r.split('`').next())
            {
                codes.insert(code.to_owned());
            }
            for piece in line.split("code `").skip(1) {
                codes.insert(piece.split('`').next().unwrap_or_default().to_owned());
            }
        }
    }
    codes
}

/// Every code red emits is named in docs/, and every code docs/ names is one red emits.
#[test]
fn docs_name_exactly_the_codes_red_emits() {
    let source = codes_in_source();
    let docs = codes_in_docs();
    assert!(
        source.contains("absolute-glob") && source.contains("usage"),
        "{source:?}"
    );
    let undocumented: Vec<_> = source.difference(&docs).collect();
    assert!(
        undocumented.is_empty(),
        "codes missing from docs/: {undocumented:?}"
    );
    let unknown: Vec<_> = docs.difference(&source).collect();
    assert!(
        unknown.is_empty(),
        "docs/ names codes red never emits: {unknown:?}"
    );
}
