//! What the three engines print, byte for byte: the NDJSON events and summary of one `red exec`
//! run (real Docker), the JSON report of one `red submit --wait` (the CC-Agency broker) and of
//! one `red kiosk submit` and `red submit --kiosk` (the Kiosk double), and the human lines of
//! each. Only what changes from run to run (ids, times, hashes named after them, the services'
//! URLs) is replaced by a placeholder, so a change in any event, field, key order or line fails.
//!
//! Each test is enabled by the feature of its service (`docker-tests`, `agency-tests`,
//! `kiosk-tests`), as in `exec.rs`, `agency.rs` and `kiosk.rs`.

use crate::support::{Red, Run};

/// A RED file that copies a local File input to stdout in busybox: its output (and its hash)
/// is the same in every run.
const EXEC_FILE: &str = r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [cat]
  inputs:
    text:
      type: File
      inputBinding: {position: 0}
  stdout: copy.txt
  outputs:
    copy:
      type: stdout
    maybe:
      type: File?
      outputBinding: {glob: '*.none'}
inputs:
  text:
    class: File
    connector:
      command: red-connector-local
      access: {path: data/poem.txt}
container:
  engine: docker
  settings:
    image:
      url: red-test/busybox:latest
    ram: 256
execution:
  engine: ccfaice
  settings: {}
"#;

/// A RED file whose one batch sends `data/a.png` to the Kiosk and gets `masks.zip` back.
const KIOSK_FILE: &str = r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [segment]
  inputs:
    image:
      type: File
      inputBinding: {position: 0}
  outputs:
    masks:
      type: File
      outputBinding: {glob: masks.zip}
inputs:
  image:
    class: File
    connector:
      command: red-connector-local
      access: {path: data/a.png}
container:
  engine: docker
  settings:
    image:
      url: example.org/segment:1
execution:
  engine: ccfaice
  settings: {}
"#;

/// A PNG signature and a marker: enough for the Kiosk double.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfirst";

/// The volatile parts of a run, as insta filters (pattern, placeholder).
const VOLATILE: [(&str, &str); 15] = [
    // A run id, a container id, the Kiosk's result names.
    (r#""runId":"[0-9a-f]{32}""#, r#""runId":"[RUN_ID]""#),
    (
        r#""container":"[0-9a-f]{64}""#,
        r#""container":"[CONTAINER]""#,
    ),
    (r"/output/[0-9a-f]{32}\.zip", "/output/[RESULT].zip"),
    // Staging directories and Kiosk job keys end in a UUID.
    (
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    ),
    // A downloaded result is named after its job key.
    (r"-[0-9a-f]{8}\.zip", "-[KEY].zip"),
    // CC-Agency's object ids.
    (r"\b[0-9a-f]{24}\b", "[OBJECT_ID]"),
    // Durations and rates, in JSON and in words.
    (
        r#""(seconds|inputs|container|outputs|total|elapsed|min|median|max|jobsPerSecond)":( ?)[0-9.e+-]+"#,
        r#""$1":$2"[SECONDS]""#,
    ),
    (r"in [0-9]+\.[0-9]{2}s", "in [SECONDS]s"),
    (r"in [0-9]+\.[0-9]{2} s", "in [SECONDS] s"),
    (r"\([0-9]+\.[0-9]{2} jobs/s\)", "([RATE] jobs/s)"),
    (
        r"(?m)^(done|failed|error) +[0-9]+\.[0-9]{2} s",
        "$1 [SECONDS] s",
    ),
    // What a batch's record says of when and where it ran.
    (r#""(startTime|endTime)":"[^"]+""#, r#""$1":"[TIME]""#),
    (r#""id":"sha256:[0-9a-f]{64}""#, r#""id":"[IMAGE_ID]""#),
    (r#""host":\{[^}]*\}"#, r#""host":"[HOST]""#),
    (r#""redVersion":"[^"]+""#, r#""redVersion":"[VERSION]""#),
];

/// Snapshot exit code, stdout and stderr with the volatile parts replaced; `literals` (a
/// service's URL) are replaced by their names first.
fn assert_run(name: &str, run: &Run, literals: &[(&str, &str)]) {
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let mut text = run.snapshot();
    for (literal, placeholder) in literals {
        text = text.replace(literal, placeholder);
    }
    let mut settings = insta::Settings::clone_current();
    for (pattern, placeholder) in VOLATILE {
        settings.add_filter(pattern, placeholder);
    }
    settings.bind(|| insta::assert_snapshot!(name, text));
}

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (see docs/testing.md)"))
}

fn exec(format: &str) -> Run {
    Red::new()
        .file("exp.red.yml", EXEC_FILE)
        .file("data/poem.txt", "one\ntwo\nthree\n")
        .args(["exec", "exp.red.yml", "--jobs", "1", "--format", format])
        .run()
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn exec_events() {
    assert_run("exec-json", &exec("json"), &[]);
    assert_run("exec-human", &exec("human"), &[]);
}

fn agency_submit(url: &str, format: &str) -> Run {
    let fixture = std::fs::read_to_string(
        crate::support::root().join("tests/fixtures/agency/single.red.yml"),
    )
    .expect("fixture");
    let vars = format!(
        "output_password: canary-out-7f3a\nimage_password: canary-img-1b2c\n\
         agency_url: {url}\nagency_user: bob\nagency_password: bob-pw\n"
    );
    Red::new()
        .env("RED_AGENCY_URL", url)
        .env("RED_AGENCY_USER", "bob")
        .env("RED_AGENCY_PASSWORD", "bob-pw")
        .env("RED_AGENCY_CONFIG", "/nonexistent/agency.json")
        .file("exp.red.yml", &fixture)
        .file("vars.yml", &vars)
        .args(["submit", "exp.red.yml", "--vars", "vars.yml", "--no-prompt"])
        .args(["--wait", "--format", format])
        .run()
}

#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn agency_report() {
    let url = env_url("RED_TEST_AGENCY_URL");
    let names = [(url.as_str(), "[AGENCY]")];
    assert_run("agency-json", &agency_submit(&url, "json"), &names);
    assert_run("agency-human", &agency_submit(&url, "human"), &names);
}

fn kiosk_submit(url: &str, format: &str) -> Run {
    let red = Red::new();
    let dir = red.dir().join("in");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("cells.png"), PNG).expect("write");
    red.args(["kiosk", "submit", "--url", url, "--poll", "0.1"])
        .args(["--job-type", "mesmer", "in", "--download", "dl"])
        .args(["--format", format])
        .run()
}

fn submit_kiosk(url: &str, format: &str) -> Run {
    let red = Red::new().file("k.red.yml", KIOSK_FILE);
    let data = red.dir().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("a.png"), PNG).expect("write");
    red.args([
        "submit",
        "k.red.yml",
        "--kiosk",
        url,
        "--job-type",
        "mesmer",
    ])
    .args(["--format", format])
    .run()
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn kiosk_reports() {
    let url = env_url("RED_TEST_KIOSK_URL");
    let names = [(url.as_str(), "[KIOSK]")];
    for format in ["json", "human"] {
        let run = kiosk_submit(&url, format);
        assert_run(&format!("kiosk-submit-{format}"), &run, &names);
        let run = submit_kiosk(&url, format);
        assert_run(&format!("submit-kiosk-{format}"), &run, &names);
    }
}
