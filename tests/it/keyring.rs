//! The system keyring as a value source (`--keyring`, `--keyring-service`), against a real
//! Secret Service: gnome-keyring on a private session bus, which `scripts/keyring-run` starts
//! around the test run (`scripts/test` does so as root). Enabled by the `keyring-tests` feature;
//! without a Secret Service those tests then fail. Values are put in and read back with
//! `secret-tool`, as a person would. The test without a Secret Service runs everywhere.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Red, Scratch};

const TEMPLATE: &str = r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [cat]
  inputs:
    data:
      type: File
      inputBinding: {position: 0}
  outputs: {}
inputs:
  data:
    class: File
    connector:
      command: red-connector-http
      access:
        url: "{{kr_url}}"
        auth:
          username: someone
          password: "{{kr_password}}"
container:
  engine: docker
  settings:
    image:
      url: busybox
execution:
  engine: ccfaice
  settings: {}
"#;

const VARS: &str = "kr_url: http://127.0.0.1:1/data.txt\n";

/// A service name no other test uses.
fn unique_service(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("red-test-{tag}-{}-{nanos}", std::process::id())
}

/// Run `secret-tool` on the test session bus; `input` goes to its standard input.
fn secret_tool(args: &[&str], input: Option<&str>) -> String {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no session bus: run the keyring tests through scripts/keyring-run (docs/testing.md)"
    );
    let mut child = Command::new("secret-tool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("secret-tool (libsecret-tools; scripts/setup installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).expect("write");
    }
    drop(stdin);
    let output = child.wait_with_output().expect("secret-tool ran");
    assert!(
        output.status.success(),
        "secret-tool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn store(service: &str, name: &str, value: &str) {
    secret_tool(
        &[
            "store", "--label", "red test", "service", service, "username", name,
        ],
        Some(value),
    );
}

/// `red fill` in `scratch` (HOME pinned there): exit code, stdout, stderr.
fn fill_in(scratch: &Scratch, args: &[&str]) -> (i32, String, String) {
    let run = scratch
        .red()
        .args([
            "fill",
            "t.red.yml",
            "--vars",
            "v.yml",
            "--no-prompt",
            "-o",
            "out.yml",
        ])
        .args(args)
        .run();
    (run.code, run.stdout, run.stderr)
}

fn workspace() -> Scratch {
    let scratch = Scratch::new();
    scratch.write("t.red.yml", TEMPLATE).write("v.yml", VARS);
    scratch
}

fn red_fill(args: &[&str]) -> crate::support::Run {
    Red::new()
        .file("t.red.yml", TEMPLATE)
        .file("v.yml", VARS)
        .args([
            "fill",
            "t.red.yml",
            "--vars",
            "v.yml",
            "--no-prompt",
            "-o",
            "out.yml",
        ])
        .args(args)
        .run()
}

#[test]
#[cfg_attr(
    not(feature = "keyring-tests"),
    ignore = "needs a Secret Service: see docs/testing.md"
)]
fn a_value_stored_with_secret_tool_is_filled() {
    let canary = "canary-keyring-4d1e";
    let service = unique_service("fill");
    store(&service, "kr_password", canary);
    let dir = workspace();
    let (code, stdout, stderr) =
        fill_in(&dir, &["--keyring-service", &service, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("canary") && !stderr.contains("canary"));
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let sources: Vec<(String, String)> = report["variables"]
        .as_array()
        .expect("variables")
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_owned(),
                v["source"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        sources.contains(&("kr_password".to_owned(), format!("keyring:{service}"))),
        "{report}"
    );
    let filled = std::fs::read_to_string(dir.path().join("out.yml")).expect("filled");
    assert!(
        filled.contains(&format!("password: \"{canary}\"")),
        "{filled}"
    );

    // `--keyring` alone asks the service `red`, as `faice exec` does by default.
    let other = "canary-keyring-default-77c2";
    store("red", "kr_password", other);
    let dir = workspace();
    let (code, _, stderr) = fill_in(&dir, &["--keyring"]);
    secret_tool(
        &["clear", "service", "red", "username", "kr_password"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("canary"), "{stderr}");
    let filled = std::fs::read_to_string(dir.path().join("out.yml")).expect("filled");
    assert!(filled.contains(other), "{filled}");
}

/// Without `--keyring` the keyring is never asked: a missing value stays missing.
#[test]
#[cfg_attr(
    not(feature = "keyring-tests"),
    ignore = "needs a Secret Service: see docs/testing.md"
)]
fn the_keyring_is_asked_only_when_told() {
    let service = unique_service("opt-in");
    store(&service, "kr_password", "canary-unasked-0b9d");
    let run = red_fill(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no value for `kr_password`"), "{run:?}");
}

/// Values typed at the prompt are stored in the keyring when the person says yes, as
/// `faice exec` offers.
#[test]
#[cfg_attr(
    not(feature = "keyring-tests"),
    ignore = "needs a Secret Service: see docs/testing.md"
)]
fn typed_values_are_stored_when_the_person_agrees() {
    use expectrl::Expect;
    let canary = "canary-typed-9e0f";
    let service = unique_service("store");
    let dir = workspace();
    let mut command = dir
        .red()
        .args(["fill", "t.red.yml", "--vars", "v.yml", "-o", "out.yml"])
        .args(["--keyring-service", &service])
        .env("TERM", "dumb")
        .into_command();
    // The pseudo-terminal is its standard input and output.
    command
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut session = expectrl::Session::spawn(command).expect("spawned in a pty");
    session.set_expect_timeout(Some(std::time::Duration::from_secs(60)));
    session
        .expect("kr_password (hidden)")
        .expect("prompt for the password");
    session.send(format!("{canary}\r")).expect("typed");
    session
        .expect("in the keyring service")
        .expect("the offer to store");
    session.send("y").expect("answered");
    let mut screen = Vec::new();
    let code = crate::support::pty::wait_for_exit(&mut session, &mut screen);
    let screen = String::from_utf8_lossy(&screen).into_owned();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("stored 1 value in the keyring"), "{screen}");
    assert!(!screen.contains("canary"), "{screen}");
    let stored = secret_tool(
        &["lookup", "service", &service, "username", "kr_password"],
        None,
    );
    assert_eq!(stored, canary);
    assert!(
        std::fs::read_to_string(dir.path().join("out.yml"))
            .expect("filled")
            .contains(canary)
    );
}

/// No Secret Service (the session bus address leads nowhere): the keyring is skipped with a
/// note, and red goes on as it would without it.
#[test]
fn without_a_secret_service_the_keyring_is_skipped_with_a_note() {
    let nowhere = |red: Red| {
        let bus = format!(
            "unix:path={}",
            Path::new("/nonexistent/red-test-bus").display()
        );
        red.env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .env("XDG_RUNTIME_DIR", "/nonexistent")
    };
    let run = nowhere(
        Red::new()
            .file("t.red.yml", TEMPLATE)
            .file("v.yml", VARS)
            .args(["fill", "t.red.yml", "--vars", "v.yml", "--no-prompt"])
            .args(["--keyring", "-o", "out.yml"]),
    )
    .run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("the keyring (service `red`) is skipped: no Secret Service answers"),
        "{run:?}"
    );
    assert!(run.stderr.contains("no value for `kr_password`"), "{run:?}");

    // Every value at hand: the keyring is not needed, so not asked, and nothing is said.
    let run = nowhere(
        Red::new()
            .file("t.red.yml", TEMPLATE)
            .file("v.yml", format!("{VARS}kr_password: canary-file-1c3b\n"))
            .args(["fill", "t.red.yml", "--vars", "v.yml", "--no-prompt"])
            .args(["--keyring-service", "elsewhere", "-o", "out.yml"]),
    )
    .run();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("keyring"), "{run:?}");
}

/// faice's `--non-interactive` is `--no-prompt`: a missing value is an error, never a prompt.
#[test]
fn faice_non_interactive_means_no_prompt() {
    let run = Red::new()
        .file("t.red.yml", TEMPLATE)
        .file("v.yml", VARS)
        .args(["fill", "t.red.yml", "--vars", "v.yml", "--non-interactive"])
        .args(["-o", "out.yml"])
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no value for `kr_password`"), "{run:?}");
}
