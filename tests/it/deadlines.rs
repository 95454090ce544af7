//! Deadlines `red` promises against peers that misbehave: SIGINT and SIGTERM end it within a
//! second (asserted with a generous bound) and exit 130, whatever it was waiting for, and a
//! transfer that stalls fails at the stall timeout instead of hanging.
//!
//! The hostile peers are small servers on 127.0.0.1 inside the test: one that accepts and never
//! answers (a stalled header), one that sends a body a byte a second, and a unix socket that
//! accepts and never answers in place of the Docker daemon. Tests that run a container are
//! enabled by `docker-tests` (docs/testing.md); the others need nothing.
//!
//! Every run has an address-space limit (`Red::memory_limit`), as in `tests/it/limits.rs`: a
//! regression that makes red buffer without end while it waits fails the test (the allocation
//! that goes over aborts red) instead of taking the machine's memory.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{
    BUSYBOX, Red, Run, Running, assert_dir_empty, assert_no_container_or_mount, containers_of,
    docker_blocks,
};

/// How long after the signal `red` may take to end: it promises one second; the rest is slack
/// for a loaded machine.
const AFTER_SIGNAL: Duration = Duration::from_secs(5);

/// Connections a peer accepted.
#[derive(Clone, Default)]
struct Accepted(Arc<AtomicUsize>);

impl Accepted {
    fn count(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Wait (at most `bound`) until a connection came in; `red` is then waiting on the peer.
    fn wait_for_one(&self, red: &mut Running, bound: Duration) {
        let start = Instant::now();
        while self.0.load(Ordering::SeqCst) == 0 {
            assert!(red.is_running(), "red ended before it reached the peer");
            assert!(start.elapsed() < bound, "red never reached the peer");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Well into the wait.
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// An HTTP peer that accepts connections and never sends a byte. Returns its base URL.
fn silent_http() -> (String, Accepted) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let accepted = Accepted::default();
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counter.count();
            held.push(stream);
        }
    });
    (url, accepted)
}

/// An HTTP peer that answers 200 with a 100 kB body and sends it one byte a second.
fn trickling_http() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut writer = &stream;
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for _ in 0..600 {
                    if writer
                        .write_all(b"x")
                        .and_then(|()| writer.flush())
                        .is_err()
                    {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
    });
    url
}

/// A unix socket at `path` that accepts connections and never answers, as a hung Docker
/// daemon does.
fn silent_socket(path: &Path) -> Accepted {
    let listener = UnixListener::bind(path).expect("bind the socket");
    let accepted = Accepted::default();
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counter.count();
            held.push(stream);
        }
    });
    accepted
}

/// A RED file running `argv` in busybox, with one File input from `url` over HTTP when given.
fn red_file(argv: &[&str], url: Option<&str>) -> String {
    let argv = serde_json::to_string(argv).expect("json");
    let (inputs_cli, inputs) = match url {
        Some(url) => (
            "    text:\n      type: File\n      inputBinding: {position: 0}".to_owned(),
            format!(
                "inputs:\n  text:\n    class: File\n    connector:\n      command: red-connector-http\n      access: {{url: '{url}/f'}}"
            ),
        ),
        None => ("    {}".to_owned(), "inputs: {}".to_owned()),
    };
    format!(
        r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: {argv}
  inputs:
{inputs_cli}
  outputs: {{}}
{inputs}
{docker}"#,
        docker = docker_blocks(BUSYBOX)
    )
}

/// The address space a run may use. red streams what passes through it and needs a few tens of
/// MiB here; the rest is room for the runtime's threads (one per core) on a large machine.
const MEMORY: u64 = 512 << 20;

/// `red exec` of `text` with `TMPDIR` in `tmp`, in the background.
fn exec(text: &str, tmp: &Path, args: &[&str]) -> Red {
    Red::new()
        .memory_limit(MEMORY)
        .file("job.red.yml", text)
        .env("TMPDIR", &tmp.display().to_string())
        .args(["exec", "job.red.yml"])
        .args(args)
}

/// The run id a `--format json` run announced, and its last event.
fn run_id_and_summary(run: &Run) -> (String, serde_json::Value) {
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let id = events
        .first()
        .and_then(|e| e["runId"].as_str())
        .unwrap_or_else(|| panic!("no run-started event: {run:?}"))
        .to_owned();
    (id, events.last().cloned().unwrap_or_default())
}

/// `red exec` waiting for an input's headers from a silent peer ends at `signal`.
fn a_silent_input_yields_to(signal: &str) {
    let (url, accepted) = silent_http();
    let tmp = tempfile::tempdir().expect("tmp");
    let mut red = exec(
        &red_file(&["cat"], Some(&url)),
        tmp.path(),
        &["--format", "json"],
    )
    .spawn();
    accepted.wait_for_one(&mut red, Duration::from_secs(60));
    let (run, after) = red.signal(signal, AFTER_SIGNAL + Duration::from_secs(30));
    assert_eq!(run.code, 130, "{run:?}");
    assert!(after < AFTER_SIGNAL, "red took {after:?} after {signal}");
    let (run_id, summary) = run_id_and_summary(&run);
    assert_eq!(summary["state"], "cancelled", "{run:?}");
    assert_no_container_or_mount(&run_id);
    assert_dir_empty(tmp.path());
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn sigint_ends_a_wait_for_headers_at_once() {
    a_silent_input_yields_to("-INT");
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn sigterm_ends_a_wait_for_headers_at_once() {
    a_silent_input_yields_to("-TERM");
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_body_trickling_a_byte_a_second_fails_at_the_stall_timeout() {
    let url = trickling_http();
    let tmp = tempfile::tempdir().expect("tmp");
    // Four attempts of two seconds and the pauses between them; before the stall timeout this
    // waited for the whole body (more than a day).
    let run = exec(
        &red_file(&["cat"], Some(&url)),
        tmp.path(),
        &["--format", "json", "--stall-timeout", "2s"],
    )
    .spawn()
    .wait_at_most(Duration::from_secs(60));
    assert_eq!(run.code, 1, "{run:?}");
    let (_, summary) = run_id_and_summary(&run);
    let batch = &summary["batches"][0];
    assert_eq!(batch["failedStep"], "inputs", "{run:?}");
    let error = batch["error"].as_str().unwrap_or_default();
    assert!(error.contains("stall timeout"), "{error}");
    assert!(error.contains("failed 4 times"), "{error}");
    assert_dir_empty(tmp.path());
}

#[test]
fn sigint_ends_a_wait_for_a_docker_daemon_that_never_answers() {
    let sockets = tempfile::tempdir().expect("dir");
    let socket = sockets.path().join("docker.sock");
    let accepted = silent_socket(&socket);
    let tmp = tempfile::tempdir().expect("tmp");
    let mut red = exec(&red_file(&["true"], None), tmp.path(), &[])
        .env("DOCKER_HOST", &format!("unix://{}", socket.display()))
        .spawn();
    accepted.wait_for_one(&mut red, Duration::from_secs(30));
    let (run, after) = red.signal("-INT", AFTER_SIGNAL + Duration::from_secs(30));
    assert_eq!(run.code, 130, "{run:?}");
    assert!(after < AFTER_SIGNAL, "red took {after:?} after SIGINT");
    assert!(run.stderr.contains("interrupted"), "{run:?}");
    assert_dir_empty(tmp.path());
}

#[test]
fn a_docker_daemon_that_never_answers_is_given_up_on() {
    let sockets = tempfile::tempdir().expect("dir");
    let socket = sockets.path().join("docker.sock");
    let _accepted = silent_socket(&socket);
    let tmp = tempfile::tempdir().expect("tmp");
    // The daemon has 15 s to answer its first request (docs/limits.md); bollard's own default
    // was 120 s.
    let run = exec(&red_file(&["true"], None), tmp.path(), &[])
        .env("DOCKER_HOST", &format!("unix://{}", socket.display()))
        .spawn()
        .wait_at_most(Duration::from_secs(40));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("cannot reach the Docker daemon"),
        "{run:?}"
    );
    assert_dir_empty(tmp.path());
}

/// `red` with `args` against a silent HTTP peer ends at `signal` with 130.
fn a_remote_command_yields_to(signal: &str, args: &[&str]) {
    let (url, accepted) = silent_http();
    let args: Vec<String> = args.iter().map(|a| a.replace("URL", &url)).collect();
    let mut red = Red::new()
        .memory_limit(MEMORY)
        .env("RED_AGENCY_USER", "canary-user")
        .env("RED_AGENCY_PASSWORD", "canary-pw-77d1")
        .env("RED_AGENCY_CONFIG", "/nonexistent/agency.json")
        .args(&args)
        .spawn();
    accepted.wait_for_one(&mut red, Duration::from_secs(30));
    let (run, after) = red.signal(signal, AFTER_SIGNAL + Duration::from_secs(60));
    assert_eq!(run.code, 130, "{args:?}: {run:?}");
    assert!(
        after < AFTER_SIGNAL,
        "{args:?} took {after:?} after {signal}"
    );
    assert!(!run.stderr.contains("canary-pw"), "{run:?}");
}

#[test]
fn agency_commands_end_at_sigint_and_sigterm() {
    a_remote_command_yields_to("-INT", &["status", "--url", "URL"]);
    a_remote_command_yields_to("-TERM", &["list", "--url", "URL"]);
}

#[test]
fn kiosk_commands_end_at_sigint_and_sigterm() {
    a_remote_command_yields_to("-INT", &["kiosk", "jobtypes", "--url", "URL"]);
    a_remote_command_yields_to("-TERM", &["kiosk", "jobtypes", "--url", "URL"]);
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn the_daemon_keeps_no_log_and_a_big_stdout_still_arrives_whole() {
    const SIZE: u64 = 30_000_000;
    let tmp = tempfile::tempdir().expect("tmp");
    let size = SIZE.to_string();
    let red = exec(
        &red_file(&["head", "-c", &size, "/dev/zero"], None),
        tmp.path(),
        &["--format", "json", "--leave-container"],
    );
    let mut red = red.spawn();
    let run = red.wait_at_most(Duration::from_secs(120));
    let written = std::fs::metadata(red.dir().join("outputs/.red/stdout.txt")).map(|m| m.len());
    let (run_id, summary) = run_id_and_summary(&run);
    let ids = containers_of(&run_id);
    let inspected = Command::new("docker")
        .args(["inspect", "-f", "{{.HostConfig.LogConfig.Type}}"])
        .args(&ids)
        .output()
        .expect("docker inspect");
    for id in &ids {
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(summary["state"], "succeeded");
    assert_eq!(ids.len(), 1, "the container was not left: {ids:?}");
    assert_eq!(String::from_utf8_lossy(&inspected.stdout).trim(), "none");
    assert_eq!(written.ok(), Some(SIZE), "the output did not arrive whole");
}

/// A RED file whose one File input comes over ssh from `port` on 127.0.0.1.
fn ssh_input_file(port: &str) -> String {
    format!(
        r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [cat]
  inputs:
    text:
      type: File
      inputBinding: {{position: 0}}
  outputs: {{}}
inputs:
  text:
    class: File
    connector:
      command: red-connector-ssh
      access:
        host: 127.0.0.1
        port: {port}
        hostKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA
        auth: {{username: u, password: canary-pw-5e1b}}
        filePath: in.txt
{docker}"#,
        docker = docker_blocks(BUSYBOX)
    )
}

/// `red lock` fetching from an ssh peer that accepts and never sends its banner ends at SIGINT:
/// the ssh client's wait for the banner does not watch red's stop flag, so `red lock` must not
/// wait for the fetching thread. Its scratch directory is gone afterwards.
#[test]
#[cfg_attr(
    not(feature = "ssh-tests"),
    ignore = "needs the ssh client: see docs/testing.md"
)]
fn sigint_ends_a_lock_waiting_for_a_silent_ssh_peer() {
    let (url, accepted) = silent_http();
    let port = url.rsplit(':').next().expect("a port").to_owned();
    let tmp = tempfile::tempdir().expect("tmp");
    let mut red = Red::new()
        .memory_limit(MEMORY)
        .file("job.red.yml", ssh_input_file(&port))
        .env("TMPDIR", &tmp.path().display().to_string())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["lock", "job.red.yml"])
        .spawn();
    accepted.wait_for_one(&mut red, Duration::from_secs(60));
    let (run, after) = red.signal("-INT", AFTER_SIGNAL + Duration::from_secs(120));
    assert_eq!(run.code, 130, "{run:?}");
    assert!(after < AFTER_SIGNAL, "red lock took {after:?} after SIGINT");
    assert!(run.stderr.contains("interrupted"), "{run:?}");
    assert!(!run.stdout.contains("canary-pw") && !run.stderr.contains("canary-pw"));
    assert_dir_empty(tmp.path());
}

/// `red exec` fetching from an ssh peer that never sends its banner ends at SIGINT too, and the
/// ssh client's private files (made in the run directory, which is removed) are gone with it.
#[test]
#[cfg_attr(
    not(all(feature = "docker-tests", feature = "ssh-tests")),
    ignore = "needs Docker and the ssh client: see docs/testing.md"
)]
fn sigint_ends_a_run_waiting_for_a_silent_ssh_peer_and_leaves_nothing() {
    let (url, accepted) = silent_http();
    let port = url.rsplit(':').next().expect("a port").to_owned();
    let tmp = tempfile::tempdir().expect("tmp");
    let mut red = exec(&ssh_input_file(&port), tmp.path(), &["--format", "json"]).spawn();
    accepted.wait_for_one(&mut red, Duration::from_secs(60));
    let (run, after) = red.signal("-INT", AFTER_SIGNAL + Duration::from_secs(120));
    assert_eq!(run.code, 130, "{run:?}");
    assert!(after < AFTER_SIGNAL, "red took {after:?} after SIGINT");
    assert!(!run.stdout.contains("canary-pw") && !run.stderr.contains("canary-pw"));
    let (run_id, summary) = run_id_and_summary(&run);
    assert_eq!(summary["state"], "cancelled", "{run:?}");
    assert_no_container_or_mount(&run_id);
    assert_dir_empty(tmp.path());
}
