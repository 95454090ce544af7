//! `red exec` end to end against a real Docker daemon, with local inputs and outputs and a
//! real HTTP server (Python's `http.server`) for the http connector.
//!
//! Enabled by the `docker-tests` feature, like `tests/it/docker.rs`: a missing daemon or test
//! image then fails. Each test works in its own directory with its own `TMPDIR`, so it can check
//! that the run directory is gone afterwards; containers are found by the run id that the NDJSON
//! stream announces.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{BUSYBOX, Scratch, assert_no_container_or_mount, containers_of};

/// What `red exec` did.
#[derive(Debug)]
struct Exec {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Exec {
    /// The NDJSON events of `--format json`.
    fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// The final `run-finished` summary.
    fn summary(&self) -> serde_json::Value {
        let events = self.events();
        let last = events.last().cloned().unwrap_or_default();
        assert_eq!(last["event"], "run-finished", "{self:?}");
        last
    }

    fn run_id(&self) -> String {
        self.events()
            .first()
            .and_then(|e| e["runId"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no run-started event: {self:?}"))
    }
}

/// `red exec` in a scratch directory that holds a RED file, its data and the run's outputs, with
/// the scratch directory's own `TMPDIR` (to see that the run directory goes away).
trait ExecIn {
    fn command(&self, args: &[&str]) -> Command;
    fn exec(&self, args: &[&str]) -> Exec;
}

impl ExecIn for Scratch {
    fn command(&self, args: &[&str]) -> Command {
        self.red()
            .args(["exec"])
            .args(args)
            .env("TMPDIR", self.tmp().to_str().expect("utf-8"))
            .into_command()
    }

    fn exec(&self, args: &[&str]) -> Exec {
        let run = self
            .red()
            .args(["exec"])
            .args(args)
            .env("TMPDIR", self.tmp().to_str().expect("utf-8"))
            .run();
        Exec {
            code: run.code,
            stdout: run.stdout,
            stderr: run.stderr,
        }
    }
}

/// A RED file running `argv` in busybox, with a `text` File input from the local connector and
/// whatever `outputs_cli` / `outputs_job` declare.
fn red_file(
    argv: &[&str],
    inputs_cli: &str,
    inputs_job: &str,
    outputs_cli: &str,
    tail: &str,
) -> String {
    let argv = serde_json::to_string(argv).expect("json");
    format!(
        r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: {argv}
  inputs:
{inputs_cli}
  outputs:
{outputs_cli}
{inputs_job}
container:
  engine: docker
  settings:
    image:
      url: {BUSYBOX}
    ram: 256
execution:
  engine: ccfaice
  settings: {{}}
{tail}"#
    )
}

const NO_INPUTS_CLI: &str = "    {}";

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_single_experiment_runs_and_its_outputs_land_in_outputs() {
    let scratch = Scratch::new();
    scratch.write("data/poem.txt", "one\ntwo\nthree\n");
    scratch.write(
        "exp.red.yml",
        red_file(
            &["wc", "-l"],
            "    text:\n      type: File\n      inputBinding: {position: 0}",
            "inputs:\n  text:\n    class: File\n    connector:\n      command: red-connector-local\n      access: {path: data/poem.txt}",
            "    counts:\n      type: stdout\n    maybe:\n      type: File?\n      outputBinding: {glob: '*.none'}",
            "",
        )
        .replace("  outputs:\n", "  stdout: counts.txt\n  outputs:\n"),
    );
    let run = scratch.exec(&["exp.red.yml", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let counts = scratch.read("outputs/counts.txt");
    assert!(counts.starts_with("3 /cc/inputs/"), "{counts}");
    let summary = run.summary();
    assert_eq!(summary["state"], "succeeded");
    let batch = &summary["batches"][0];
    assert_eq!(batch["exitCode"], 0);
    assert_eq!(batch["outputs"][0]["size"], counts.len());
    assert_eq!(batch["outputs"][1]["path"], serde_json::Value::Null);
    let record: serde_json::Value =
        serde_json::from_str(&scratch.read("outputs/.red/result.json")).expect("result.json");
    assert_eq!(record["state"], "succeeded");
    assert_eq!(
        record["outputs"][0]["sha256"].as_str().map(str::len),
        Some(64)
    );
    let events = run.events();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "run-started",
            "batch-started",
            "input-staged",
            "process-exited",
            "output-delivered",
            "batch-finished",
            "run-finished"
        ]
    );
    assert!(containers_of(&run.run_id()).is_empty());
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn batches_run_in_parallel_each_with_its_own_output_directory() {
    let scratch = Scratch::new();
    let batches: String = (0..4)
        .map(|i| format!("  - inputs:\n      word: w{i}\n"))
        .collect();
    scratch.write(
        "batches.red.yml",
        red_file(
            &["sh", "-c", "echo $0 > word.txt; sleep 1"],
            "    word:\n      type: string\n      inputBinding: {position: 0}",
            &format!("batches:\n{batches}"),
            "    word:\n      type: File\n      outputBinding: {glob: word.txt}",
            "",
        ),
    );
    let run = scratch.exec(&["batches.red.yml", "--jobs", "4", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    for i in 0..4 {
        assert_eq!(
            scratch.read(&format!("outputs_{i}/word.txt")),
            format!("w{i}\n")
        );
    }
    // Four one-second batches with four jobs overlap: some batch starts before another ends.
    let events = run.events();
    let position = |kind: &str, batch: u64| {
        events
            .iter()
            .position(|e| e["event"] == kind && e["batch"] == batch)
            .expect("event")
    };
    let first_finished = (0..4)
        .map(|b| position("batch-finished", b))
        .min()
        .expect("min");
    let last_started = (0..4)
        .map(|b| position("batch-started", b))
        .max()
        .expect("max");
    assert!(
        last_started < first_finished,
        "batches did not overlap: {events:?}"
    );
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_failing_command_keeps_its_exit_code_and_stderr() {
    let scratch = Scratch::new();
    scratch.write(
        "fail.red.yml",
        red_file(
            &["sh", "-c", "echo to-stderr >&2; exit 7"],
            NO_INPUTS_CLI,
            "inputs: {}",
            "    {}",
            "",
        ),
    );
    let run = scratch.exec(&["fail.red.yml", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let batch = &run.summary()["batches"][0];
    assert_eq!(batch["state"], "failed");
    assert_eq!(batch["exitCode"], 7);
    assert_eq!(batch["failedStep"], "process");
    assert_eq!(scratch.read("outputs/.red/stderr.txt"), "to-stderr\n");
    assert!(containers_of(&run.run_id()).is_empty());
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_missing_output_fails_the_batch() {
    let scratch = Scratch::new();
    scratch.write(
        "missing.red.yml",
        red_file(
            &["true"],
            NO_INPUTS_CLI,
            "inputs: {}",
            "    result:\n      type: File\n      outputBinding: {glob: result.txt}",
            "",
        ),
    );
    let run = scratch.exec(&["missing.red.yml"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("output `result`: nothing matches `result.txt`"),
        "{run:?}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn running_out_of_memory_and_time_are_reported_as_such() {
    let scratch = Scratch::new();
    scratch.write(
        "oom.red.yml",
        red_file(
            &[
                "sh",
                "-c",
                "x=$(head -c 400000000 /dev/zero | tr '\\0' a); echo survived",
            ],
            NO_INPUTS_CLI,
            "inputs: {}",
            "    {}",
            "",
        ),
    );
    let run = scratch.exec(&["oom.red.yml", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let batch = &run.summary()["batches"][0];
    assert_eq!(batch["oomKilled"], true, "{run:?}");
    assert!(
        batch["error"]
            .as_str()
            .unwrap_or_default()
            .contains("memory limit (256 MB)")
    );

    scratch.write(
        "slow.red.yml",
        red_file(&["sleep", "600"], NO_INPUTS_CLI, "inputs: {}", "    {}", ""),
    );
    let run = scratch.exec(&["slow.red.yml", "--timeout", "1s", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let batch = &run.summary()["batches"][0];
    assert_eq!(batch["timedOut"], true, "{run:?}");
    assert!(containers_of(&run.run_id()).is_empty());
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn an_absent_image_with_no_pull_is_a_clear_error() {
    let scratch = Scratch::new();
    scratch.write(
        "absent.red.yml",
        red_file(&["true"], NO_INPUTS_CLI, "inputs: {}", "    {}", "")
            .replace(BUSYBOX, "red-test/never-built:latest"),
    );
    let run = scratch.exec(&["absent.red.yml", "--no-pull"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("image `red-test/never-built:latest` is not present on this host"),
        "{run:?}"
    );
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn arguments_with_spaces_and_shell_characters_arrive_intact() {
    let scratch = Scratch::new();
    let tricky = "a b  c; $(rm -rf /) `x` 'q' \"d\" * ~ \\ |&>";
    scratch.write(
        "argv.red.yml",
        red_file(
            &["sh", "-c", "printf '%s\\n' \"$@\" > args.txt", "sh"],
            "    value:\n      type: string\n      inputBinding: {position: 0}",
            &format!(
                "inputs:\n  value: {}",
                serde_json::to_string(tricky).expect("json")
            ),
            "    args:\n      type: File\n      outputBinding: {glob: args.txt}",
            "",
        ),
    );
    let run = scratch.exec(&["argv.red.yml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(scratch.read("outputs/args.txt"), format!("{tricky}\n"));
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn the_image_entrypoint_is_replaced_by_the_planned_command() {
    let scratch = Scratch::new();
    scratch.write(
        "entry.red.yml",
        red_file(
            &["sh", "-c", "echo ran > ran.txt"],
            NO_INPUTS_CLI,
            "inputs: {}",
            "    ran:\n      type: File\n      outputBinding: {glob: ran.txt}",
            "",
        )
        .replace(BUSYBOX, "red-test/busybox-entrypoint:latest"),
    );
    let run = scratch.exec(&["entry.red.yml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(scratch.read("outputs/ran.txt"), "ran\n");
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn outputs_never_escape_the_output_directory() {
    let scratch = Scratch::new();
    scratch.write("victim.txt", "original\n");
    let victim = scratch.path().join("victim.txt");
    // The command plants links to a host file and to `/`, a `..`-named directory entry, and a
    // directory output full of links; red must copy none of them through.
    let script = format!(
        "ln -s {victim} link.txt; ln -s / root; mkdir -p d/sub; echo ok > d/sub/f.txt; \
         ln -s {victim} d/escape; ln -s ../.. d/up; echo data > '..data'; echo x > result.txt",
        victim = victim.display()
    );
    scratch.write(
        "escape.red.yml",
        red_file(
            &["sh", "-c", &script],
            NO_INPUTS_CLI,
            "inputs: {}",
            "    link:\n      type: File?\n      outputBinding: {glob: link.txt}\n    tree:\n      type: Directory\n      outputBinding: {glob: d}\n    dots:\n      type: File\n      outputBinding: {glob: '..data'}",
            "",
        ),
    );
    // A link planted beforehand in the output directory must be replaced, not written through.
    fs::create_dir(scratch.path().join("outputs")).expect("outputs");
    std::os::unix::fs::symlink(&victim, scratch.path().join("outputs/..data")).expect("symlink");
    let run = scratch.exec(&["escape.red.yml", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(scratch.read("victim.txt"), "original\n");
    let batch = &run.summary()["batches"][0];
    // The link leads outside: it is no output at all.
    assert_eq!(batch["outputs"][0]["path"], serde_json::Value::Null);
    assert_eq!(scratch.read("outputs/d/sub/f.txt"), "ok\n");
    assert!(fs::symlink_metadata(scratch.path().join("outputs/d/escape")).is_err());
    assert!(fs::symlink_metadata(scratch.path().join("outputs/d/up")).is_err());
    assert_eq!(
        batch["outputs"][1]["skipped"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(scratch.read("outputs/..data"), "data\n");
    assert!(
        !fs::symlink_metadata(scratch.path().join("outputs/..data"))
            .expect("meta")
            .is_symlink()
    );
    let names: Vec<String> = fs::read_dir(scratch.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["escape.red.yml", "outputs", "tmp", "victim.txt"]);
}

/// A real HTTP server on 127.0.0.1 serving `dir`, killed on drop.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn start(dir: &Path) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let mut child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 http.server");
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("http.server did not start");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CANARY_PASSWORD: &str = "canary-pw-(*.+?\\ü";
const CANARY_REGISTRY: &str = "canary-registry-secret";

/// Everything a secret could leak into during and after a run with protected values.
#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn secrets_reach_no_container_process_list_output_or_log() {
    let scratch = Scratch::new();
    let served = scratch.path().join("served");
    fs::create_dir(&served).expect("served");
    fs::write(served.join("input.txt"), "payload\n").expect("input");
    let server = HttpServer::start(&served);
    let red = red_file(
        &["sh", "-c", "cat \"$0\" > copy.txt; env > env.txt; sleep 2"],
        "    data:\n      type: File\n      inputBinding: {position: 0}",
        &format!(
            "inputs:\n  data:\n    class: File\n    connector:\n      command: red-connector-http\n      access:\n        url: http://127.0.0.1:{}/input.txt\n        auth:\n          username: someone\n          password: '{{{{http_password}}}}'",
            server.port
        ),
        "    copy:\n      type: File\n      outputBinding: {glob: copy.txt}\n    env:\n      type: File\n      outputBinding: {glob: env.txt}",
        "",
    )
    .replace(
        &format!("      url: {BUSYBOX}\n"),
        &format!("      url: {BUSYBOX}\n      auth:\n        username: someone\n        password: '{{{{registry_password}}}}'\n"),
    );
    scratch.write("secret.red.yml", &red);
    scratch.write(
        "vars.yml",
        format!(
            "http_password: {}\nregistry_password: {CANARY_REGISTRY}\n",
            serde_json::to_string(CANARY_PASSWORD).expect("json")
        ),
    );
    let mut child = scratch
        .command(&[
            "secret.red.yml",
            "--vars",
            "vars.yml",
            "--leave-container",
            "--format",
            "json",
        ])
        .spawn()
        .expect("spawn");
    // While it runs, no process on the host shows a secret in its command line.
    let mut seen_running = false;
    for _ in 0..100 {
        let ps = Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .expect("ps");
        let listing = String::from_utf8_lossy(&ps.stdout);
        assert!(
            !listing.contains("canary"),
            "a secret is in the process list"
        );
        if listing.contains("sleep 2") {
            seen_running = true;
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let run = Exec {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(seen_running, "the command was never seen running");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(scratch.read("outputs/copy.txt"), "payload\n");
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("canary"), "a secret in red's output: {text}");
    }
    // Every file red left: outputs, records, the environment the command saw.
    for entry in walk(&scratch.path().join("outputs")) {
        let text = fs::read(&entry).expect("read");
        assert!(
            !String::from_utf8_lossy(&text).contains("canary"),
            "a secret in {}",
            entry.display()
        );
    }
    // The container that was left: its configuration and its whole filesystem.
    let ids = containers_of(&run.run_id());
    assert_eq!(ids.len(), 1, "{ids:?}");
    let inspect = Command::new("docker")
        .args(["inspect", &ids[0]])
        .output()
        .expect("inspect");
    assert!(!String::from_utf8_lossy(&inspect.stdout).contains("canary"));
    let export = Command::new("docker")
        .args(["export", &ids[0]])
        .output()
        .expect("export");
    assert!(export.status.success());
    assert!(
        !export.stdout.windows(6).any(|w| w == b"canary"),
        "a secret in the container's filesystem"
    );
    let _ = Command::new("docker").args(["rm", "-f", &ids[0]]).output();
    scratch.assert_tmp_empty();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let kind = entry.file_type().expect("type");
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}

/// Kill `red exec` with `signal` while a batch runs: it exits 130 and leaves nothing behind.
fn interrupted_by(signal: &str) {
    let scratch = Scratch::new();
    scratch.write(
        "long.red.yml",
        red_file(&["sleep", "600"], NO_INPUTS_CLI, "inputs: {}", "    {}", ""),
    );
    let mut child = scratch
        .command(&["long.red.yml", "--format", "json"])
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("an event").expect("line");
    let run_id = serde_json::from_str::<serde_json::Value>(&first).expect("json")["runId"]
        .as_str()
        .expect("runId")
        .to_owned();
    // Wait (bounded) until the container runs.
    let mut running = false;
    for _ in 0..300 {
        let ps = Command::new("docker")
            .args([
                "ps",
                "-q",
                "--filter",
                &format!("label=org.red.run={run_id}"),
            ])
            .output()
            .expect("docker ps");
        if !String::from_utf8_lossy(&ps.stdout).trim().is_empty() {
            running = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(running, "the container never ran");
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{rest:?}");
    let last: serde_json::Value =
        serde_json::from_str(rest.last().expect("summary")).expect("json");
    assert_eq!(last["state"], "cancelled");
    assert_no_container_or_mount(&run_id);
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn sigint_in_the_middle_of_a_batch_leaves_nothing_behind() {
    interrupted_by("-INT");
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn sigterm_in_the_middle_of_a_batch_leaves_nothing_behind() {
    interrupted_by("-TERM");
}

/// Connectors are checked before Docker is contacted: no daemon is needed for this.
#[test]
fn a_wrong_access_block_is_refused_with_its_location_before_anything_runs() {
    let scratch = Scratch::new();
    scratch.write(
        "wrong.red.yml",
        red_file(
            &["cat"],
            "    text:\n      type: File\n      inputBinding: {position: 0}",
            "inputs:\n  text:\n    class: File\n    connector:\n      command: red-connector-local\n      access:\n        path: x\n        password: canary-in-access",
            "    {}",
            "",
        ),
    );
    let run = scratch.exec(&["wrong.red.yml"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("wrong.red.yml:"), "{run:?}");
    assert!(
        run.stderr
            .contains("`password` is not a field of this connector"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("canary"), "{run:?}");
    assert!(!scratch.path().join("outputs").exists());
    scratch.assert_tmp_empty();
}

#[test]
fn a_ccagency_file_is_pointed_to_red_submit() {
    let scratch = Scratch::new();
    let text = red_file(&["true"], NO_INPUTS_CLI, "inputs: {}", "    {}", "").replace(
        "execution:\n  engine: ccfaice\n  settings: {}\n",
        "execution:\n  engine: ccagency\n  settings:\n    access:\n      url: http://127.0.0.1:1\n",
    );
    scratch.write("agency.red.yml", &text);
    let run = scratch.exec(&["agency.red.yml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("red submit"), "{run:?}");
    assert!(run.stderr.contains("agency.red.yml:"), "{run:?}");
}

/// The engine is named before any variable is asked for: a file with unfilled variables and
/// no values gets the engine error, not a prompt or "no value for".
#[test]
fn a_ccagency_file_is_refused_before_any_variable_is_asked_for() {
    let scratch = Scratch::new();
    let text = red_file(&["true"], NO_INPUTS_CLI, "inputs: {}", "    {}", "").replace(
        "execution:\n  engine: ccfaice\n  settings: {}\n",
        "execution:\n  engine: ccagency\n  settings:\n    access:\n      url: http://127.0.0.1:1\n      \
         auth: {username: \"{{agency_user}}\", password: \"{{agency_password}}\"}\n",
    );
    scratch.write("agency.red.yml", &text);
    let run = scratch.exec(&["agency.red.yml", "--no-prompt"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("red submit"), "{run:?}");
    assert!(!run.stderr.contains("no value for"), "{run:?}");
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn outputs_belong_to_the_invoking_user_unless_the_image_user_is_asked_for() {
    use std::os::unix::fs::MetadataExt;
    let scratch = Scratch::new();
    let red = red_file(
        &["sh", "-c", "id -u > uid.txt"],
        NO_INPUTS_CLI,
        "inputs: {}",
        "    uid:\n      type: File\n      outputBinding: {glob: uid.txt}",
        "",
    )
    .replace(BUSYBOX, "red-test/busybox-user:latest");
    scratch.write("user.red.yml", &red);
    let run = scratch.exec(&["user.red.yml"]);
    assert_eq!(run.code, 0, "{run:?}");
    let me = rustix::process::getuid().as_raw();
    assert_eq!(scratch.read("outputs/uid.txt"), format!("{me}\n"));
    let owner = fs::metadata(scratch.path().join("outputs/uid.txt"))
        .expect("meta")
        .uid();
    assert_eq!(owner, me);

    let run = scratch.exec(&["user.red.yml", "--user", "image", "--outputs", "as-image"]);
    assert_eq!(run.code, 0, "{run:?}");
    // The image says USER 1000: the command ran as 1000 and could write its working directory.
    assert_eq!(scratch.read("as-image/uid.txt"), "1000\n");
}

#[test]
fn an_unknown_connector_is_refused_with_its_location() {
    let scratch = Scratch::new();
    scratch.write(
        "unknown.red.yml",
        red_file(
            &["cat"],
            "    text:\n      type: File\n      inputBinding: {position: 0}",
            "inputs:\n  text:\n    class: File\n    connector:\n      command: red-connector-nowhere\n      access: {}",
            "    {}",
            "",
        ),
    );
    let run = scratch.exec(&["unknown.red.yml", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let diagnostic = &report["files"][0]["diagnostics"][0];
    assert_eq!(diagnostic["pointer"], "/inputs/text/connector/command");
    let text = scratch.read("unknown.red.yml");
    let line = text
        .lines()
        .position(|l| l.contains("command: red-connector-nowhere"))
        .expect("the command line")
        + 1;
    assert_eq!(diagnostic["line"], line);
    assert_eq!(diagnostic["column"], 16);
    assert!(
        diagnostic["message"]
            .as_str()
            .unwrap_or_default()
            .contains("red-connector-nowhere"),
        "{report}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn fail_fast_starts_no_batch_after_a_failure() {
    let scratch = Scratch::new();
    scratch.write(
        "ff.red.yml",
        red_file(
            &["sh", "-c", "exit $0"],
            "    code:\n      type: string\n      inputBinding: {position: 0}",
            "batches:\n  - inputs: {code: '3'}\n  - inputs: {code: '0'}\n  - inputs: {code: '0'}",
            "    {}",
            "",
        ),
    );
    let run = scratch.exec(&[
        "ff.red.yml",
        "--jobs",
        "1",
        "--fail-fast",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let states: Vec<String> = run.summary()["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| b["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(states, ["failed", "skipped", "skipped"]);
    // Without --fail-fast every batch runs.
    let run = scratch.exec(&["ff.red.yml", "--jobs", "1", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let states: Vec<String> = run.summary()["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| b["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(states, ["failed", "succeeded", "succeeded"]);
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn inputs_are_checked_against_their_checksum_and_size() {
    let scratch = Scratch::new();
    scratch.write("data/in.txt", "abc");
    // sha1("abc")
    let good = "sha1$a9993e364706816aba3e25717850c26c9cd0d89d";
    let file = |checksum: &str, size: u64| {
        red_file(
            &["cat"],
            "    text:\n      type: File\n      inputBinding: {position: 0}",
            &format!(
                "inputs:\n  text:\n    class: File\n    checksum: '{checksum}'\n    size: {size}\n    connector:\n      command: red-connector-local\n      access: {{path: data/in.txt}}"
            ),
            "    {}",
            "",
        )
    };
    scratch.write("good.red.yml", file(good, 3));
    let run = scratch.exec(&["good.red.yml"]);
    assert_eq!(run.code, 0, "{run:?}");
    scratch.write("size.red.yml", file(good, 4));
    let run = scratch.exec(&["size.red.yml", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let batch = &run.summary()["batches"][0];
    assert_eq!(batch["failedStep"], "inputs");
    assert!(
        batch["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the RED file says 4")
    );
    scratch.write(
        "sum.red.yml",
        file("sha1$0000000000000000000000000000000000000000", 3),
    );
    let run = scratch.exec(&["sum.red.yml", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.summary()["batches"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("checksum"),
        "{run:?}"
    );
}

/// A RED file whose command writes `token` to `out.txt` and to standard output, then sleeps
/// `seconds`, with `out.txt` as its output.
fn token_file(token: &str, seconds: u32) -> String {
    red_file(
        &[
            "sh",
            "-c",
            &format!("echo {token} > out.txt; echo {token}; sleep {seconds}"),
        ],
        NO_INPUTS_CLI,
        "inputs: {}",
        "    out:\n      type: File\n      outputBinding: {glob: out.txt}",
        "",
    )
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_second_run_into_busy_outputs_is_refused_with_the_first_runs_pid() {
    let scratch = Scratch::new();
    scratch.write("first.red.yml", token_file("first", 3));
    scratch.write("second.red.yml", token_file("second", 0));
    let mut first = scratch
        .command(&["first.red.yml", "--format", "json"])
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(first.stdout.take().expect("stdout")).lines();
    // The outputs directory is taken before the run starts.
    let started = lines.next().expect("an event").expect("line");
    assert!(started.contains("run-started"), "{started}");
    let second = scratch.exec(&["second.red.yml"]);
    assert_eq!(second.code, 2, "{second:?}");
    for part in [
        format!("pid {}", first.id()),
        "`outputs`".to_owned(),
        "--outputs DIR".to_owned(),
        "outputs/.red/lock".to_owned(),
    ] {
        assert!(second.stderr.contains(&part), "no {part}: {second:?}");
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(first.wait().expect("wait").code(), Some(0), "{rest:?}");
    assert_eq!(scratch.read("outputs/out.txt"), "first\n");
    assert_eq!(scratch.read("outputs/.red/stdout.txt"), "first\n");
    assert!(!scratch.path().join("outputs/.red/lock").exists());
    // Elsewhere, or once the first is done, the second runs.
    let elsewhere = scratch.exec(&["second.red.yml", "--outputs", "other"]);
    assert_eq!(elsewhere.code, 0, "{elsewhere:?}");
    let after = scratch.exec(&["second.red.yml"]);
    assert_eq!(after.code, 0, "{after:?}");
    assert_eq!(scratch.read("outputs/out.txt"), "second\n");
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn concurrent_runs_in_one_directory_never_mix_their_outputs() {
    let scratch = Scratch::new();
    let tokens = ["alpha", "beta", "gamma"];
    for token in tokens {
        scratch.write(&format!("{token}.red.yml"), token_file(token, 2));
    }
    let children: Vec<(&str, Child)> = tokens
        .iter()
        .map(|token| {
            let file = format!("{token}.red.yml");
            (*token, scratch.command(&[&file]).spawn().expect("spawn"))
        })
        .collect();
    let pids: Vec<String> = children.iter().map(|(_, c)| c.id().to_string()).collect();
    let mut succeeded = Vec::new();
    for (token, child) in children {
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        match output.status.code() {
            Some(0) => succeeded.push(token),
            Some(2) => assert!(
                pids.iter()
                    .any(|pid| stderr.contains(&format!("pid {pid}"))),
                "{token}: {stderr}"
            ),
            other => panic!("{token} exited {other:?}: {stderr}"),
        }
    }
    assert!(!succeeded.is_empty());
    // Whichever run wrote last wrote everything.
    let out = scratch.read("outputs/out.txt");
    assert_eq!(scratch.read("outputs/.red/stdout.txt"), out);
    let record: serde_json::Value =
        serde_json::from_str(&scratch.read("outputs/.red/result.json")).expect("result.json");
    assert!(
        record["command"].to_string().contains(out.trim()),
        "{record} does not belong to {out}"
    );
    assert!(succeeded.contains(&out.trim()), "{succeeded:?} {out}");
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn outputs_that_wildcards_deliver_to_one_path_fail_the_batch_and_overwrite_nothing() {
    let scratch = Scratch::new();
    scratch.write(
        "clash.red.yml",
        red_file(
            &[
                "sh",
                "-c",
                "mkdir -p a/d1 b/d1 && echo A > a/out.txt && echo B > b/out.txt && echo x > a/d1/f && echo y > b/d1/f",
            ],
            NO_INPUTS_CLI,
            "inputs: {}",
            "    first:\n      type: File\n      outputBinding: {glob: 'a/*.txt'}\n    second:\n      type: File\n      outputBinding: {glob: 'b/o*.txt'}",
            "",
        ),
    );
    // Planning cannot know the names: the file is valid.
    let run = scratch.exec(&["clash.red.yml", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let batch = &run.summary()["batches"][0];
    assert_eq!(batch["failedStep"], "outputs", "{run:?}");
    let error = batch["error"].as_str().expect("error");
    for part in [
        "output `first` (`a/out.txt`)",
        "output `second` (`b/out.txt`)",
        "outputs/out.txt",
    ] {
        assert!(error.contains(part), "no {part}: {error}");
    }
    assert!(
        !scratch.path().join("outputs/out.txt").exists(),
        "something was delivered"
    );
    // Directory outputs: the same.
    scratch.write(
        "dirs.red.yml",
        scratch
            .read("clash.red.yml")
            .replace("type: File", "type: Directory")
            .replace("'a/*.txt'", "'a/d*'")
            .replace("'b/o*.txt'", "'b/d*'"),
    );
    let run = scratch.exec(&["dirs.red.yml", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = run.summary()["batches"][0]["error"].to_string();
    assert!(error.contains("outputs/d1"), "{error}");
    assert!(!scratch.path().join("outputs/d1").exists());
    scratch.assert_tmp_empty();
}

/// The `bytes` of a local input is its size (it was 0: a bind moves nothing, but the input has
/// 77 bytes), and its directory twin sums the files.
#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn input_figures_are_true_for_local_files_and_directories() {
    let scratch = Scratch::new();
    scratch.write("data/in.txt", "x".repeat(77));
    scratch.write("data/dir/a.txt", "a".repeat(10));
    scratch.write("data/dir/sub/b.txt", "b".repeat(5));
    scratch.write(
        "exp.red.yml",
        red_file(
            &["true"],
            "    f:\n      type: File\n      inputBinding: {position: 0}\n    d:\n      type: Directory\n      inputBinding: {position: 1}",
            "inputs:\n  f:\n    class: File\n    connector:\n      command: red-connector-local\n      access: {path: data/in.txt}\n  d:\n    class: Directory\n    connector:\n      command: red-connector-local\n      access: {path: data/dir}",
            "    {}",
            "",
        ),
    );
    let run = scratch.exec(&["exp.red.yml", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let inputs = &run.summary()["batches"][0]["inputs"];
    let by_name = |name: &str| {
        inputs
            .as_array()
            .and_then(|all| all.iter().find(|i| i["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no input {name}: {inputs}"))
    };
    assert_eq!(by_name("f")["bytes"], 77, "{inputs}");
    assert_eq!(by_name("d")["bytes"], 15, "{inputs}");
    // A bound local File is hashed where it is (read once); a Directory has no digest.
    let f_sha256 = crate::support::figures::sha256("x".repeat(77).as_bytes());
    assert_eq!(by_name("f")["sha256"], f_sha256, "{inputs}");
    assert_eq!(by_name("d")["sha256"], serde_json::Value::Null, "{inputs}");
    let record: serde_json::Value =
        serde_json::from_str(&scratch.read("outputs/.red/result.json")).expect("result.json");
    assert_eq!(record["inputs"], *inputs);
}

/// `--outputs` naming a regular file is a usage error found before anything runs (exit 2, not a
/// failed batch), and nothing is created.
#[test]
fn outputs_naming_a_file_is_a_usage_error() {
    let scratch = Scratch::new();
    scratch.write("taken", "keep me");
    scratch.write(
        "exp.red.yml",
        red_file(&["true"], NO_INPUTS_CLI, "inputs: {}", "    {}", ""),
    );
    let run = scratch.exec(&["exp.red.yml", "--outputs", "taken"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("`--outputs taken` is not a directory"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("batch 0") && !run.stdout.contains("batch 0"),
        "nothing ran: {run:?}"
    );
    assert_eq!(scratch.read("taken"), "keep me");
}

/// A batch that failed before any container ran names no stderr file: there is none.
#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn no_stderr_file_is_named_when_no_container_ran() {
    let scratch = Scratch::new();
    scratch.write(
        "exp.red.yml",
        red_file(
            &["true"],
            "    f:\n      type: File\n      inputBinding: {position: 0}",
            "inputs:\n  f:\n    class: File\n    connector:\n      command: red-connector-local\n      access: {path: data/missing.txt}",
            "    {}",
            "",
        ),
    );
    let run = scratch.exec(&["exp.red.yml"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("batch 0: failed"), "{run:?}");
    assert!(!run.stdout.contains("the command's stderr"), "{run:?}");
    let record: serde_json::Value =
        serde_json::from_str(&scratch.read("outputs/.red/result.json")).expect("result.json");
    assert!(record.get("stderr").is_none(), "{record}");
}

/// `--preserve-environment` passes a host variable into the container; an unset one is named in
/// a warning and skipped.
#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn preserved_environment_variables_arrive_in_the_container() {
    let scratch = Scratch::new();
    scratch.write(
        "env.red.yml",
        red_file(
            &[
                "sh",
                "-c",
                "printf '%s|%s\\n' \"$RED_KR_GREETING\" \"${RED_KR_OTHER-unset}\" > env.txt",
            ],
            NO_INPUTS_CLI,
            "inputs: {}",
            "    env:\n      type: File\n      outputBinding: {glob: env.txt}",
            "",
        ),
    );
    let output = scratch
        .command(&[
            "env.red.yml",
            "--preserve-environment",
            "RED_KR_GREETING",
            "--preserve-environment",
            "RED_KR_NOT_SET",
        ])
        .env("RED_KR_GREETING", "hello, container")
        .env("RED_KR_OTHER", "not asked for")
        .env_remove("RED_KR_NOT_SET")
        .output()
        .expect("run red exec");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(scratch.read("outputs/env.txt"), "hello, container|unset\n");
    assert!(
        stderr.contains("`RED_KR_NOT_SET` not set on this host; not passed"),
        "{stderr}"
    );
    // The faice spelling of `--no-pull` is accepted too.
    let run = scratch.exec(&["env.red.yml", "--disable-pull", "--outputs", "again"]);
    assert_eq!(run.code, 0, "{run:?}");
}

/// A variable that holds a secret never reaches the container: its name, or a value that holds a
/// secret of the file, is a usage error before anything runs, and the error shows no value.
#[test]
fn preserving_a_secret_in_the_environment_is_refused() {
    let scratch = Scratch::new();
    scratch.write(
        "secret.red.yml",
        red_file(
            &["cat"],
            "    data:\n      type: File\n      inputBinding: {position: 0}",
            "inputs:\n  data:\n    class: File\n    connector:\n      command: red-connector-http\n      access:\n        url: http://127.0.0.1:1/input.txt\n        auth:\n          username: someone\n          password: '{{http_password}}'",
            "    {}",
            "",
        ),
    );
    scratch.write("vars.yml", format!("http_password: {CANARY_REGISTRY}\n"));
    for (name, says) in [
        (
            "http_password",
            "names the protected variable `http_password`",
        ),
        (
            "RED_VAR_http_password",
            "names the protected variable `http_password`",
        ),
        ("RED_KR_COPY", "the value of `RED_KR_COPY` holds a secret"),
        (
            "RED_KR_WRAPPED",
            "the value of `RED_KR_WRAPPED` holds a secret",
        ),
    ] {
        let output = scratch
            .command(&[
                "secret.red.yml",
                "--vars",
                "vars.yml",
                "--preserve-environment",
                name,
            ])
            .env("http_password", CANARY_REGISTRY)
            .env("RED_VAR_http_password", CANARY_REGISTRY)
            .env("RED_KR_COPY", CANARY_REGISTRY)
            .env("RED_KR_WRAPPED", format!("--token={CANARY_REGISTRY} "))
            .output()
            .expect("run red exec");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(!stderr.contains("canary"), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}");
        assert!(!scratch.path().join("outputs").exists(), "{name}");
        scratch.assert_tmp_empty();
    }
}

/// A CLI-1 connector whose `*-validate` always refuses, and whose `receive-file` works.
const STRICT_CONNECTOR: &str = r#"#!/bin/sh
echo "$1" >> "$(dirname "$0")/calls.log"
case $1 in
  cli-version) echo 1 ;;
  *-validate) echo "refused by its validation" >&2; exit 1 ;;
  receive-file) echo "received" > "$3" ;;
  *) exit 2 ;;
esac
"#;

/// `--disable-connector-validation` skips the connectors' checks (a CLI connector's
/// `*-validate`), as `faice exec` does; without it the check's refusal stops the run.
#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn connector_validation_can_be_disabled() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let bin = scratch.path().join("bin");
    scratch.write("bin/red-connector-kr-strict", STRICT_CONNECTOR);
    fs::set_permissions(
        bin.join("red-connector-kr-strict"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    scratch.write(
        "strict.red.yml",
        red_file(
            &["sh", "-c", "cat \"$0\" > copy.txt"],
            "    data:\n      type: File\n      inputBinding: {position: 0}",
            "inputs:\n  data:\n    class: File\n    connector:\n      command: red-connector-kr-strict\n      access: {}",
            "    copy:\n      type: File\n      outputBinding: {glob: copy.txt}",
            "",
        ),
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["strict.red.yml"];
        args.extend_from_slice(extra);
        let output = scratch
            .command(&args)
            .env("PATH", &path)
            .output()
            .expect("run red exec");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("refused by its validation"), "{stderr}");
    assert!(!scratch.path().join("outputs").exists());

    fs::write(bin.join("calls.log"), "").expect("reset");
    let (code, stderr) = run(&["--disable-connector-validation"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(scratch.read("outputs/copy.txt"), "received\n");
    let calls = fs::read_to_string(bin.join("calls.log")).expect("calls");
    assert!(calls.contains("receive-file"), "{calls}");
    assert!(!calls.contains("-validate"), "{calls}");
}
