//! `red submit`, `status`, `list`, `cancel` and `logs` against the real CC-Agency 9.3.0 broker.
//!
//! The broker tests are enabled by the `agency-tests` feature (`scripts/test` turns it on where
//! it starts the broker with `scripts/agency-up`, as in CI); then a missing broker is a failure,
//! not a skip. Without the feature they are listed as ignored. The broker's URL comes from
//! `RED_TEST_AGENCY_URL`. Each test works as its own broker user (see `scripts/agency-up`), so
//! counts and lists do not depend on the other tests running beside it.
//!
//! The tests without the broker (a server that is down or never answers, files the broker
//! would reject) always run.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Red, Run, root};

/// Secrets of the fixtures: none may ever appear in red's output.
const CANARIES: [&str; 2] = ["canary-out-7f3a", "canary-img-1b2c"];

/// The broker's base URL; a missing or silent broker fails the test.
fn broker() -> String {
    let url = std::env::var("RED_TEST_AGENCY_URL").unwrap_or_else(|_| {
        panic!("the agency tests are enabled but RED_TEST_AGENCY_URL is not set (run scripts/agency-up)")
    });
    let answer = http()
        .get(format!("{url}/"))
        .send()
        .and_then(reqwest::blocking::Response::text)
        .unwrap_or_else(|e| {
            panic!("no CC-Agency broker answers at {url}: {e} (run scripts/agency-up)")
        });
    assert!(
        answer.contains("Hello"),
        "not a CC-Agency broker at {url}: {answer}"
    );
    url
}

/// A plain HTTP client for looking at the broker directly.
fn http() -> reqwest::blocking::Client {
    red::net::blocking_builder(false)
        .build()
        .expect("http client")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/agency").join(name)).expect("fixture")
}

fn vars(url: &str, user: &str, password: &str) -> String {
    format!(
        "output_password: {}\nimage_password: {}\nagency_url: {url}\nagency_user: {user}\n\
         agency_password: {password}\n",
        CANARIES[0], CANARIES[1]
    )
}

/// A `red` run as `user` (password `<user>-pw`), nothing taken from the caller's environment.
fn red(url: &str, user: &str) -> Red {
    Red::new()
        .env("RED_AGENCY_URL", url)
        .env("RED_AGENCY_USER", user)
        .env("RED_AGENCY_PASSWORD", &format!("{user}-pw"))
        .env("RED_AGENCY_CONFIG", "/nonexistent/agency.json")
}

/// `red submit` of a fixture (`edit` rewrites its text) as `user`.
fn submit(
    url: &str,
    user: &str,
    name: &str,
    edit: &dyn Fn(String) -> String,
    args: &[&str],
) -> Run {
    red(url, user)
        .file("exp.red.yml", edit(fixture(name)))
        .file("vars.yml", vars(url, user, &format!("{user}-pw")))
        .args(["submit", "exp.red.yml", "--vars", "vars.yml", "--no-prompt"])
        .args(args)
        .run()
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", run.snapshot()))
}

fn assert_no_canary(run: &Run, extra: &[&str]) {
    for secret in CANARIES.iter().chain(extra) {
        assert!(
            !run.stdout.contains(secret),
            "secret in stdout: {}",
            run.snapshot()
        );
        assert!(
            !run.stderr.contains(secret),
            "secret in stderr: {}",
            run.snapshot()
        );
    }
}

/// The broker's own view of an experiment's batches (direct HTTP, not red).
fn broker_batches(url: &str, user: &str, experiment: &str) -> Vec<serde_json::Value> {
    let client = http();
    let answer: serde_json::Value = client
        .get(format!("{url}/batches?experimentId={experiment}"))
        .basic_auth(user, Some(format!("{user}-pw")))
        .send()
        .and_then(reqwest::blocking::Response::json)
        .expect("list batches");
    answer.as_array().cloned().unwrap_or_default()
}

fn id_of(batch: &serde_json::Value) -> String {
    batch["_id"].as_str().unwrap_or_default().to_owned()
}

fn same_text(text: String) -> String {
    text
}

fn failing(text: String) -> String {
    text.replace("query_string: GREP", "query_string: FAIL")
}

#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn a_batched_file_gets_its_ids_in_red_order() {
    let url = broker();
    let run = submit(&url, "carol", "batches.red.yml", &same_text, &[]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.snapshot());
    let experiment = lines[0]
        .strip_prefix("experiment ")
        .expect("experiment line");
    let on_broker = broker_batches(&url, "carol", experiment);
    assert_eq!(on_broker.len(), 2);
    for (index, line) in lines[1..].iter().enumerate() {
        let id = line
            .strip_prefix(&format!("batch {index} "))
            .unwrap_or_else(|| panic!("line {line:?}"));
        let batch = on_broker
            .iter()
            .find(|b| id_of(b) == id)
            .expect("batch on the broker");
        assert_eq!(batch["batchesListIndex"], index);
    }
    assert_no_canary(&run, &["carol-pw"]);
}

#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn a_single_file_is_followed_to_succeeded() {
    let url = broker();
    let run = submit(
        &url,
        "bob",
        "single.red.yml",
        &same_text,
        &["--wait", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let report = json(&run);
    let experiment = report["experimentId"].as_str().expect("experimentId");
    let batches = report["batches"].as_array().expect("batches");
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0]["index"], 0);
    assert_eq!(batches[0]["state"], "succeeded");
    let on_broker = broker_batches(&url, "bob", experiment);
    assert_eq!(
        batches[0]["id"].as_str(),
        Some(id_of(&on_broker[0]).as_str())
    );
    assert_eq!(on_broker[0]["state"], "succeeded");
    assert_no_canary(&run, &["bob-pw"]);
}

#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn a_failed_batch_shows_debug_info_and_logs_after_its_retry() {
    let url = broker();
    let run = submit(&url, "dave", "batches.red.yml", &failing, &["--wait"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    let experiment = run
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("experiment "))
        .expect("id");
    let on_broker = broker_batches(&url, "dave", experiment);
    let failed = on_broker
        .iter()
        .find(|b| b["batchesListIndex"] == 1)
        .expect("batch 1");
    let failed_id = id_of(failed);
    // The broker retried it once (registered after processing) before failing it for good.
    let states: Vec<&str> = failed["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["state"].as_str())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "registered").count(),
        2,
        "{states:?}"
    );
    assert!(
        run.stdout.contains(&format!("batch 1 {failed_id}: failed")),
        "{}",
        run.snapshot()
    );
    assert!(run.stdout.contains("batch 0 "), "{}", run.snapshot());
    assert!(run.stdout.contains("debugInfo:"), "{}", run.snapshot());
    assert!(
        run.stdout.contains("simulated failure"),
        "{}",
        run.snapshot()
    );
    assert!(
        run.stdout
            .contains(&format!("fake stdout of batch {failed_id}")),
        "{}",
        run.snapshot()
    );
    assert!(
        run.stderr.contains("1 of 2 batches succeeded"),
        "{}",
        run.snapshot()
    );
    assert_no_canary(&run, &["dave-pw"]);

    // The logs, one stream at a time, as data on stdout.
    let logs = red(&url, "dave")
        .args(["logs", &failed_id, "--stderr"])
        .run();
    assert_eq!(logs.code, 0, "{}", logs.snapshot());
    assert_eq!(
        logs.stdout,
        format!("fake stderr of batch {failed_id}\nsimulated failure\n")
    );
    let succeeded = on_broker
        .iter()
        .find(|b| b["batchesListIndex"] == 0)
        .expect("batch 0");
    let none = red(&url, "dave")
        .args(["logs", &id_of(succeeded), "--stderr"])
        .run();
    assert_eq!(none.code, 1, "{}", none.snapshot());
    assert!(
        none.stderr.contains("keeps no stderr"),
        "{}",
        none.snapshot()
    );
}

#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn disable_retry_fails_at_once_and_json_lists_final_states() {
    let url = broker();
    let run = submit(
        &url,
        "frank",
        "batches.red.yml",
        &failing,
        &["--wait", "--disable-retry", "--format", "json"],
    );
    assert_eq!(run.code, 1, "{}", run.snapshot());
    let report = json(&run);
    let states: Vec<(u64, String)> = report["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| {
            (
                b["index"].as_u64().unwrap_or(99),
                b["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [(0, "succeeded".to_owned()), (1, "failed".to_owned())]
    );
    assert_eq!(report["succeeded"], false);
    assert!(
        report["batches"][1]["debugInfo"]
            .as_str()
            .is_some_and(|d| d.contains("simulated"))
    );
    let experiment = report["experimentId"].as_str().expect("id");
    let on_broker = broker_batches(&url, "frank", experiment);
    let failed = on_broker
        .iter()
        .find(|b| b["batchesListIndex"] == 1)
        .expect("batch 1");
    let registered = failed["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["state"] == "registered")
        .count();
    assert_eq!(registered, 1, "no retry with --disable-retry: {failed}");
}

#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn cancel_while_processing() {
    let url = broker();
    let slow = |text: String| text.replace("query_string: RED", "query_string: SLOW");
    let run = submit(&url, "erin", "single.red.yml", &slow, &[]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let experiment = run
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("experiment "))
        .expect("id")
        .to_owned();
    // Wait (bounded) until the broker has it processing.
    let start = Instant::now();
    while broker_batches(&url, "erin", &experiment)[0]["state"] != "processing" {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never processing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cancel = red(&url, "erin").args(["cancel", &experiment]).run();
    assert_eq!(cancel.code, 0, "{}", cancel.snapshot());
    assert!(
        cancel.stdout.contains(": cancelled: cancelled"),
        "{}",
        cancel.snapshot()
    );
    let batch = &broker_batches(&url, "erin", &experiment)[0];
    assert_eq!(batch["state"], "cancelled");
    // A second cancel leaves the ended batch as it is, and says so.
    let again = red(&url, "erin").args(["cancel", &id_of(batch)]).run();
    assert_eq!(again.code, 0, "{}", again.snapshot());
    assert!(
        again.stdout.contains("already ended"),
        "{}",
        again.snapshot()
    );
    let status = red(&url, "erin")
        .args(["status", &experiment, "--format", "json"])
        .run();
    assert_eq!(status.code, 0, "{}", status.snapshot());
    assert_eq!(json(&status)["batches"][0]["state"], "cancelled");
}

#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn list_filters_and_pages() {
    let url = broker();
    let list = |args: &[&str]| {
        let run = red(&url, "alice")
            .args(["list", "--format", "json"])
            .args(args)
            .run();
        assert_eq!(run.code, 0, "{}", run.snapshot());
        json(&run)
    };
    let ids = |value: &serde_json::Value| -> Vec<String> {
        value["batches"]
            .as_array()
            .expect("batches")
            .iter()
            .map(id_of)
            .collect()
    };
    let total = |args: &[&str]| list(args)["total"].as_u64().expect("total");
    // What alice had before (a rerun against the same broker), then 3 + 2 batches more:
    // 4 succeeded, 1 failed (without retry).
    let before = [
        total(&[]),
        total(&["--state", "failed"]),
        total(&["--state", "succeeded"]),
    ];
    for (name, edit, extra) in [
        (
            "single.red.yml",
            &same_text as &dyn Fn(String) -> String,
            &[][..],
        ),
        ("batches.red.yml", &failing, &["--disable-retry"][..]),
        ("batches.red.yml", &same_text, &[][..]),
    ] {
        let mut args = vec!["--wait"];
        args.extend_from_slice(extra);
        let run = submit(&url, "alice", name, edit, &args);
        assert!(run.code <= 1, "{}", run.snapshot());
    }
    let all = list(&["--limit", "6"]);
    assert_eq!(all["total"], before[0] + 5);
    assert_eq!(ids(&all).len(), 6.min(before[0] + 5) as usize);
    let failed = list(&["--state", "failed", "--limit", "1"]);
    assert_eq!(failed["total"], before[1] + 1);
    assert_eq!(failed["batches"][0]["state"], "failed");
    assert_eq!(failed["batches"][0]["batchesListIndex"], 1);
    assert_eq!(total(&["--state", "succeeded"]), before[2] + 4);
    // The newest five are this test's: the last file's two batches come first.
    let newest = ids(&all);
    assert_eq!(all["batches"][0]["state"], "succeeded");
    // Pages of two cover the list without overlap, in the broker's order.
    let mut paged = Vec::new();
    for skip in ["0", "2", "4"] {
        paged.extend(ids(&list(&["--limit", "2", "--skip", skip])));
    }
    assert_eq!(paged, newest);
    // Oldest first starts where newest first ends.
    let everything = list(&["--limit", "1000"]);
    let oldest = list(&["--ascending", "--limit", "1"]);
    assert_eq!(ids(&oldest).first(), ids(&everything).last());
    // The human table has a header and one line per batch.
    let human = red(&url, "alice")
        .args(["list", "--state", "failed", "--limit", "1"])
        .run();
    assert_eq!(human.stdout.lines().count(), 2, "{}", human.snapshot());
    assert!(
        human
            .stderr
            .contains(&format!("1 of {} batch", before[1] + 1)),
        "{}",
        human.snapshot()
    );
}

#[test]
#[cfg_attr(
    not(feature = "agency-tests"),
    ignore = "needs the CC-Agency broker: scripts/agency-up"
)]
fn a_wrong_password_is_sent_once() {
    let url = broker();
    let wrong = "canary-wrong-pw-5d1e";
    let run = red(&url, "gina")
        .env("RED_AGENCY_PASSWORD", wrong)
        .args(["status"])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr.contains("refused the credentials of `gina`")
            && run.stderr.contains("Invalid username/password combination"),
        "{}",
        run.snapshot()
    );
    assert!(!run.stderr.contains('<'), "HTML leaked: {}", run.snapshot());
    assert_no_canary(&run, &[wrong]);
    // The broker blocks an account after more than 3 failures. Two more wrong passwords make 3
    // if red sent exactly one: the right password must still work. Had red retried, the
    // account would now be blocked.
    let client = http();
    for _ in 0..2 {
        let status = client
            .get(format!("{url}/version"))
            .basic_auth("gina", Some(wrong))
            .send()
            .expect("request")
            .status();
        assert_eq!(status.as_u16(), 401);
    }
    let ok = red(&url, "gina").args(["status"]).run();
    assert_eq!(
        ok.code,
        0,
        "red sent the wrong password more than once: {}",
        ok.snapshot()
    );
}

// --- No broker needed ------------------------------------------------------------------------

/// A port where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn a_broker_that_is_down_is_a_clear_error() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let run = red(&url, "alice").args(["status"]).run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr
            .contains(&format!("cannot reach the broker at `{url}`")),
        "{}",
        run.snapshot()
    );
    assert!(
        run.stderr.contains("help: check the URL"),
        "{}",
        run.snapshot()
    );
    let submit = submit(&url, "alice", "single.red.yml", &same_text, &[]);
    assert_eq!(submit.code, 2, "{}", submit.snapshot());
    assert!(
        submit.stderr.contains("cannot reach the broker"),
        "{}",
        submit.snapshot()
    );
    assert_no_canary(&submit, &["alice-pw"]);
}

/// A server that accepts connections, reads, and never answers; counts the connections.
fn silent_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let mut buffer = [0_u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut buffer);
            let _ = stream.flush();
            held.push(stream);
        }
    });
    (url, count)
}

#[test]
fn a_submit_that_is_never_answered_times_out_and_is_not_resent() {
    let (url, connections) = silent_server();
    let run = submit(
        &url,
        "alice",
        "single.red.yml",
        &same_text,
        &["--url", &url, "--request-timeout", "1"],
    );
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr.contains(&format!(
            "the broker at `{url}` did not answer POST `/red` within 1 s"
        )),
        "{}",
        run.snapshot()
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "a submit must never be sent twice"
    );
    assert_no_canary(&run, &["alice-pw"]);
}

#[test]
fn a_read_that_is_never_answered_is_retried_a_bounded_number_of_times() {
    let (url, connections) = silent_server();
    let run = red(&url, "alice")
        .args(["list", "--request-timeout", "0.5"])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr.contains("did not answer GET `/batches`"),
        "{}",
        run.snapshot()
    );
    assert_eq!(connections.load(Ordering::SeqCst), 4);
}

#[test]
fn files_the_broker_would_reject_are_caught_here_with_a_place() {
    // Nothing listens there: a request would be a different error.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let no_ram = |text: String| text.replace("    ram: 256\n", "");
    let run = submit(&url, "alice", "single.red.yml", &no_ram, &[]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("exp.red.yml:37:"), "{}", run.snapshot());
    assert!(
        run.stderr.contains("`container.settings.ram`"),
        "{}",
        run.snapshot()
    );
    assert!(!run.stderr.contains("cannot reach"), "{}", run.snapshot());

    let no_outputs = |text: String| {
        let start = text
            .find("    outputs:\n      out_file:")
            .expect("batch outputs");
        let end = text[start..]
            .find("  - inputs:")
            .map_or(text.len(), |e| start + e);
        format!("{}{}", &text[..start], &text[end..])
    };
    let run = submit(&url, "alice", "batches.red.yml", &no_outputs, &[]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stderr.contains("batch 0 has no `outputs`"),
        "{}",
        run.snapshot()
    );
    assert!(run.stderr.contains("exp.red.yml:20:"), "{}", run.snapshot());

    let engine = |text: String| {
        let start = text.find("execution:").expect("execution");
        format!(
            "{}execution:\n  engine: ccfaice\n  settings: {{}}\n",
            &text[..start]
        )
    };
    let run = submit(&url, "alice", "single.red.yml", &engine, &[]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stderr.contains("`red submit` sends files to CC-Agency"),
        "{}",
        run.snapshot()
    );

    // A placeholder outside access/auth (the broker's bare 500) is located too.
    let misplaced = |text: String| text.replace("query_string: RED", "query_string: \"{{q}}\"");
    let run = submit(&url, "alice", "single.red.yml", &misplaced, &[]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("exp.red.yml:18:"), "{}", run.snapshot());
    assert_no_canary(&run, &["alice-pw"]);
}

#[test]
fn a_config_file_with_a_password_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let url = format!("http://127.0.0.1:{}", closed_port());
    let red = Red::new()
        .env("RED_AGENCY_URL", "")
        .env("RED_AGENCY_USER", "")
        .env("RED_AGENCY_PASSWORD", "")
        .file(
            "agency.json",
            format!(r#"{{"url":"{url}","username":"alice","password":"canary-cfg-9e9e"}}"#),
        );
    let path = red.dir().join("agency.json");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = red
        .args(["status", "--config", path.to_str().expect("utf-8")])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr.contains("others may read it (mode 644)"),
        "{}",
        run.snapshot()
    );
    assert!(
        !run.stderr.contains("canary-cfg-9e9e"),
        "{}",
        run.snapshot()
    );
}

#[test]
fn without_a_password_and_a_terminal_the_sources_are_named() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let run = Red::new()
        .env("RED_AGENCY_URL", &url)
        .env("RED_AGENCY_USER", "alice")
        .env("RED_AGENCY_PASSWORD", "")
        .env("RED_AGENCY_CONFIG", "/nonexistent/agency.json")
        .args(["list"])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr.contains("set `RED_AGENCY_PASSWORD`"),
        "{}",
        run.snapshot()
    );
    let bad_id = red(&url, "alice").args(["cancel", "not-an-id"]).run();
    assert_eq!(bad_id.code, 1, "{}", bad_id.snapshot());
    assert!(
        bad_id.stderr.contains("`not-an-id` is not a CC-Agency id"),
        "{}",
        bad_id.snapshot()
    );
}
