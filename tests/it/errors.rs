//! With `--format json`, every command that fails prints one error document on stdout (an
//! NDJSON `error` event for `red exec`), with the keys docs/exit-codes.md lists and the exit code
//! it ends with. One snapshot per command.

use crate::support::Red;

const RED_FILE: &str = r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [echo, hi]
  inputs: {}
  outputs: {}
inputs: {}
outputs: {}
container:
  engine: docker
  settings:
    image: {url: "red-test/busybox:latest"}
    ram: 256
"#;

/// Nothing listens on port 1 of this machine.
const NOBODY: &str = "http://127.0.0.1:1";

fn cases() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "validate",
            vec!["validate", "--format", "json", "nothere.yml"],
        ),
        ("schema", vec!["schema", "show", "--format", "json", "nope"]),
        ("vars", vec!["vars", "--format", "json", "nothere.yml"]),
        (
            "fill",
            vec!["fill", "--format", "json", "-o", "-", "x.red.yml"],
        ),
        ("plan", vec!["plan", "--format", "json", "bad.red.yml"]),
        ("exec", vec!["exec", "--format", "json", "x.red.yml"]),
        (
            "exec-usage",
            vec!["exec", "--format", "json", "--no-such-flag", "x.red.yml"],
        ),
        (
            "submit",
            vec![
                "submit",
                "--format",
                "json",
                "--url",
                NOBODY,
                "--user",
                "someone",
                "x.red.yml",
            ],
        ),
        (
            "status",
            vec![
                "status", "--format", "json", "--url", NOBODY, "--user", "someone",
            ],
        ),
        (
            "list",
            vec![
                "list", "--format", "json", "--url", NOBODY, "--user", "someone",
            ],
        ),
        (
            "cancel",
            vec![
                "cancel", "--format", "json", "--url", NOBODY, "--user", "someone", "abc",
            ],
        ),
        (
            "kiosk-jobtypes",
            vec!["kiosk", "jobtypes", "--format", "json", "--url", NOBODY],
        ),
        (
            "kiosk-submit",
            vec![
                "kiosk",
                "submit",
                "--format",
                "json",
                "--url",
                NOBODY,
                "--job-type",
                "segmentation",
                "nothere.png",
            ],
        ),
        (
            "bench-io",
            vec!["bench", "io", "--format", "json", "nothere.bin"],
        ),
    ]
}

#[test]
fn every_command_prints_an_error_document() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots/errors");
    let _guard = settings.bind_to_scope();
    for (name, args) in cases() {
        let run = Red::new()
            .file("x.red.yml", RED_FILE)
            .file("bad.red.yml", "redVersion: \"9\"\ncli: [\n")
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("RED_AGENCY_PASSWORD", "canary-password-0123456789")
            .args(&args)
            .run();
        assert_ne!(run.code, 0, "{name}: {}", run.snapshot());
        let document = if name.starts_with("exec") {
            let last = run.stdout.lines().last().unwrap_or_default();
            let event: serde_json::Value = serde_json::from_str(last).expect("NDJSON");
            assert_eq!(event["event"], "error", "{name}");
            event
        } else {
            serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{name}: {e}: {}", run.snapshot()))
        };
        for key in ["code", "message", "hint", "causes", "exitCode"] {
            assert!(
                document.get(key).is_some(),
                "{name}: no `{key}` in {document}"
            );
        }
        assert!(document["code"].is_string() && document["message"].is_string());
        assert_eq!(document["exitCode"], run.code, "{name}");
        insta::assert_snapshot!(name, run.stdout);
    }
}

/// Help and version are not errors: no document, exit 0.
#[test]
fn help_is_not_an_error_document() {
    let run = Red::new()
        .args(["plan", "--format", "json", "--help"])
        .run();
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with("Show what running"),
        "{}",
        run.stdout
    );
}
