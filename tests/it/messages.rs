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
