//! Reruns that prove themselves, end to end against a real Docker daemon: `red exec --batches`
//! and `--resume` (after a run stopped by SIGINT), a File input whose declared checksum no
//! longer holds on its HTTP server, and `--verify` against a re-tagged image.
//!
//! Enabled by the `docker-tests` feature (the HTTP test also by `peer-tests`), like
//! `tests/it/exec.rs`: a missing daemon or test image then fails.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;

use crate::support::figures::sha256;
use crate::support::peers::HttpServer;
use crate::support::{BUSYBOX, Scratch, docker_blocks};

/// `red exec ARGS` in `scratch` with its own `TMPDIR`: exit code, stdout, stderr.
fn exec(scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let run = scratch
        .red()
        .args(["exec"])
        .args(args)
        .envs(env)
        .env("TMPDIR", scratch.tmp().to_str().expect("utf-8"))
        .run();
    (run.code, run.stdout, run.stderr)
}

fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The batches of `events` named by events of kind `event` (with `state` when given).
fn batches_of(events: &[Value], event: &str, state: Option<&str>) -> Vec<u64> {
    let mut found: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == event && state.is_none_or(|s| e["state"] == s))
        .filter_map(|e| e["batch"].as_u64())
        .collect();
    found.sort_unstable();
    found
}

/// A RED file of `count` batches; batch `i` writes `i` to `out.txt`, then sleeps `nap(i)`
/// seconds (a shell word: `$DELAY` is the host's `DELAY` with `--preserve-environment`).
fn batches_file(image: &str, count: usize, nap: impl Fn(usize) -> String) -> String {
    let mut text = format!(
        r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [sh, -c, 'echo "$0" > out.txt; eval sleep "$1"']
  inputs:
    id: {{type: string, inputBinding: {{position: 0}}}}
    nap: {{type: string, inputBinding: {{position: 1}}}}
  outputs:
    out: {{type: File, outputBinding: {{glob: out.txt}}}}
{docker}batches:
"#,
        docker = docker_blocks(image)
    );
    for i in 0..count {
        text.push_str(&format!("  - inputs: {{id: '{i}', nap: '{}'}}\n", nap(i)));
    }
    text
}

fn record(scratch: &Scratch, batch: usize) -> Value {
    let text = scratch.read(&format!("out/{batch}/.red/result.json"));
    serde_json::from_str(&text).expect("a record")
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn batches_runs_only_the_named_batches_and_names_a_wrong_part() {
    let scratch = Scratch::new();
    scratch.write("b.red.yml", batches_file(BUSYBOX, 6, |_| "0".into()));
    let args = ["b.red.yml", "--outputs", "out", "--format", "json"];
    let (code, stdout, stderr) = exec(
        &scratch,
        &[&args[..], &["--batches", "4,1-2"]].concat(),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let seen = events(&stdout);
    assert_eq!(seen[0]["batches"], 3, "{stdout}");
    assert_eq!(
        batches_of(&seen, "batch-finished", Some("succeeded")),
        [1, 2, 4]
    );
    for batch in [1, 2, 4] {
        assert_eq!(
            scratch.read(&format!("out/{batch}/out.txt")),
            format!("{batch}\n")
        );
        assert_eq!(record(&scratch, batch)["state"], "succeeded");
    }
    for batch in [0, 3, 5] {
        assert!(
            !scratch.path().join(format!("out/{batch}")).exists(),
            "{batch}"
        );
    }
    // With --resume, of the named batches only those not finished run.
    let (code, stdout, stderr) = exec(
        &scratch,
        &[
            "b.red.yml",
            "--resume=out",
            "--format",
            "json",
            "--batches",
            "1-3",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let seen = events(&stdout);
    assert_eq!(batches_of(&seen, "batch-kept", None), [1, 2], "{stdout}");
    assert_eq!(batches_of(&seen, "batch-started", None), [3], "{stdout}");
    assert_eq!(record(&scratch, 3)["state"], "succeeded");
    assert!(!scratch.path().join("out/0").exists());
    for (list, part) in [("2,6", "`6`"), ("1,x", "`x`"), ("3-1", "`3-1`")] {
        let (code, _, stderr) = exec(&scratch, &[&args[..], &["--batches", list]].concat(), &[]);
        assert_eq!(code, 2, "{list}: {stderr}");
        assert!(stderr.contains(part), "{list}: {stderr}");
    }
}

/// What a record is on disk: its bytes and when it was last written.
fn record_state(scratch: &Scratch, batch: usize) -> (Vec<u8>, SystemTime) {
    let path = scratch.path().join(format!("out/{batch}/.red/result.json"));
    let bytes = fs::read(&path).expect("record");
    let modified = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    (bytes, modified)
}

/// Start a 20-batch run whose batches from 6 on sleep `$DELAY`; stop it with SIGINT once six
/// batches have succeeded. Returns the batches that succeeded before the signal.
fn interrupted_run(scratch: &Scratch) -> Vec<u64> {
    let mut child = scratch
        .red()
        .args(["exec", "r.red.yml", "--outputs", "out", "--format", "json"])
        .args(["--jobs", "2", "--preserve-environment", "DELAY"])
        .env("DELAY", "600")
        .env("TMPDIR", scratch.tmp().to_str().expect("utf-8"))
        .into_command()
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    // Bounded: the run ends (and the stream with it) if the batches never sleep.
    for line in lines.by_ref() {
        let event: Value = serde_json::from_str(&line.expect("line")).expect("json");
        seen.push(event);
        if batches_of(&seen, "batch-finished", Some("succeeded")).len() == 6 {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    seen.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok()),
    );
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{seen:?}");
    batches_of(&seen, "batch-finished", Some("succeeded"))
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_resume_after_sigint_reruns_only_what_did_not_succeed() {
    let scratch = Scratch::new();
    let nap = |i: usize| {
        if i < 6 {
            "0".to_owned()
        } else {
            "$DELAY".to_owned()
        }
    };
    scratch.write("r.red.yml", batches_file(BUSYBOX, 20, nap));
    let done = interrupted_run(&scratch);
    assert_eq!(done, [0, 1, 2, 3, 4, 5]);
    let before: Vec<_> = (0..6).map(|b| record_state(&scratch, b)).collect();
    assert_ne!(record(&scratch, 6)["state"], "succeeded");
    let resume = [
        "r.red.yml",
        "--resume",
        "out",
        "--format",
        "json",
        "--preserve-environment",
        "DELAY",
    ];
    let (code, stdout, stderr) = exec(&scratch, &resume, &[("DELAY", "0")]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let seen = events(&stdout);
    assert_eq!(seen[0]["batches"], 14, "{stdout}");
    assert_eq!(batches_of(&seen, "batch-kept", None), done);
    assert_eq!(
        batches_of(&seen, "batch-started", None),
        (6..20).collect::<Vec<u64>>()
    );
    let summary = seen.last().expect("summary");
    assert_eq!(summary["kept"], serde_json::json!(done));
    for batch in 0..20 {
        assert_eq!(record(&scratch, batch)["state"], "succeeded", "{batch}");
        assert_eq!(
            scratch.read(&format!("out/{batch}/out.txt")),
            format!("{batch}\n")
        );
    }
    let after: Vec<_> = (0..6).map(|b| record_state(&scratch, b)).collect();
    assert_eq!(before, after, "a kept batch's record was written again");
    // Once everything succeeded there is nothing left to run (no daemon call needed).
    let (code, stdout, stderr) = exec(&scratch, &resume, &[("DELAY", "0")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(batches_of(&events(&stdout), "batch-kept", None).len(), 20);
    scratch.assert_tmp_empty();
}

/// One batch that prints its `data` File input, fetched over HTTP with a declared checksum.
fn checked_file(url: &str, checksum: &str) -> String {
    format!(
        r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [cat]
  inputs:
    data: {{type: File, inputBinding: {{position: 0}}}}
  outputs: {{}}
inputs:
  data:
    class: File
    connector:
      command: red-connector-http
      access: {{url: '{url}'}}
    checksum: '{checksum}'
{docker}"#,
        docker = docker_blocks(BUSYBOX)
    )
}

#[test]
#[cfg_attr(
    not(all(feature = "docker-tests", feature = "peer-tests")),
    ignore = "needs Docker and the test HTTP server: see docs/testing.md"
)]
fn a_changed_input_on_the_server_is_refused_naming_both_checksums() {
    let server = HttpServer::start(false);
    server.serve("data.txt", b"the data as locked\n");
    let expected = format!("sha256${}", sha256(b"the data as locked\n"));
    let scratch = Scratch::new();
    scratch.write(
        "c.red.yml",
        checked_file(&server.url("/files/data.txt"), &expected),
    );
    let args = ["c.red.yml", "--format", "json"];
    let (code, stdout, stderr) = exec(&scratch, &args, &[]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let result: Value =
        serde_json::from_str(&scratch.read("outputs/.red/result.json")).expect("json");
    assert_eq!(
        result["inputs"][0]["sha256"],
        sha256(b"the data as locked\n")
    );

    server.serve("data.txt", b"the data, changed\n");
    let actual = format!("sha256${}", sha256(b"the data, changed\n"));
    let (code, stdout, _) = exec(&scratch, &args, &[]);
    assert_eq!(code, 1, "{stdout}");
    let seen = events(&stdout);
    assert!(
        !seen.iter().any(|e| e["event"] == "process-exited"),
        "the command ran: {stdout}"
    );
    let batch = &seen.last().expect("summary")["batches"][0];
    assert_eq!(batch["failedStep"], "inputs", "{batch}");
    let error = batch["error"].as_str().expect("an error");
    for part in [
        "`data`",
        expected.as_str(),
        actual.as_str(),
        "c.red.yml:15:5",
    ] {
        assert!(error.contains(part), "{part} not in: {error}");
    }
    scratch.assert_tmp_empty();
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A tag of this test's own, removed when dropped.
struct Tag(String);

impl Drop for Tag {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", &self.0]).output();
    }
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn verify_refuses_an_image_whose_tag_moved_away_from_its_pin() {
    let tag = Tag(format!(
        "red-test/verify-{}:pinned",
        uuid::Uuid::new_v4().as_simple()
    ));
    docker(&["tag", BUSYBOX, &tag.0]);
    let id = docker(&["image", "inspect", "-f", "{{.Id}}", BUSYBOX]);
    let scratch = Scratch::new();
    let pinned = format!("{}@{id}", tag.0);
    scratch.write("v.red.yml", batches_file(&pinned, 1, |_| "0".into()));
    let args = ["v.red.yml", "--outputs", "out", "--verify"];
    let (code, _, stderr) = exec(&scratch, &args, &[]);
    assert_eq!(code, 0, "{stderr}");

    docker(&["tag", "red-test/busybox-user:latest", &tag.0]);
    let other = docker(&["image", "inspect", "-f", "{{.Id}}", &tag.0]);
    let (code, _, stderr) = exec(&scratch, &args, &[]);
    assert_eq!(code, 1, "{stderr}");
    for part in [
        pinned.as_str(),
        id.as_str(),
        other.as_str(),
        "v.red.yml:15:",
    ] {
        assert!(stderr.contains(part), "{part} not in: {stderr}");
    }
    // Without a pin there is nothing to verify: a warning, and the run goes on.
    scratch.write("u.red.yml", batches_file(BUSYBOX, 1, |_| "0".into()));
    let (code, _, stderr) = exec(&scratch, &["u.red.yml", "--outputs", "u", "--verify"], &[]);
    assert_eq!(code, 0, "{stderr}");
    // Located, with the line that names the image shown.
    for part in [
        "warning[image-pin]",
        "nothing to verify",
        "u.red.yml:15:",
        "url: 'red-test/busybox:latest'",
    ] {
        assert!(stderr.contains(part), "{part} not in: {stderr}");
    }
}

/// `red submit --batches`: only the named batches reach the broker, reported with the file's
/// indices; a batch the file does not have is refused before anything is sent.
#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn submit_sends_only_the_named_batches() {
    let url =
        std::env::var("RED_TEST_AGENCY_URL").expect("RED_TEST_AGENCY_URL (scripts/agency-up)");
    let fixture =
        fs::read_to_string(crate::support::root().join("tests/fixtures/agency/batches.red.yml"))
            .expect("fixture");
    let vars = format!(
        "output_password: canary-out-7f3a\nimage_password: canary-img-1b2c\nagency_url: {url}\n\
         agency_user: carol\nagency_password: carol-pw\n"
    );
    let submit = |extra: &[&str]| {
        crate::support::Red::new()
            .env("RED_AGENCY_CONFIG", "/nonexistent/agency.json")
            .file("exp.red.yml", &fixture)
            .file("vars.yml", &vars)
            .args(["submit", "exp.red.yml", "--vars", "vars.yml", "--no-prompt"])
            .args(extra)
            .run()
    };
    let run = submit(&["--batches", "1", "--wait", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    let batches = report["batches"].as_array().expect("batches");
    assert_eq!(batches.len(), 1, "{report}");
    assert_eq!(
        (&batches[0]["index"], &batches[0]["state"]),
        (&Value::from(1), &Value::from("succeeded"))
    );
    let experiment = report["experimentId"].as_str().expect("id");
    let on_broker: Value = red::net::blocking_builder(false)
        .build()
        .expect("client")
        .get(format!("{url}/batches?experimentId={experiment}"))
        .basic_auth("carol", Some("carol-pw"))
        .send()
        .and_then(reqwest::blocking::Response::json)
        .expect("list batches");
    assert_eq!(on_broker.as_array().map(Vec::len), Some(1), "{on_broker}");
    let refused = submit(&["--batches", "0,2"]);
    assert_eq!(refused.code, 2, "{}", refused.snapshot());
    assert!(refused.stderr.contains("`2`"), "{}", refused.snapshot());
}
