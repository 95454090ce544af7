//! External connectors over the CLI-1 protocol (docs/connectors.md, "External connectors").
//!
//! The first tests drive `tests/peers/cli1-connector.sh`, a shell connector that records what it
//! was given (arguments, environment, every process's command line, its ACCESS file and modes)
//! and fails in every way the protocol allows; they need only `sh`. The `peer-tests` ones drive
//! the reference connectors from PyPI (`scripts/peers-up`) against the test HTTP server.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use red::connector::external::{External, Timeouts};
use red::connector::{Access, Connector, ConnectorError, Context, Listing, Operation, Received};
use serde_json::json;

use crate::support::{Scratch, root};

const CANARY: &str = "canary-cli1-5b7e";

/// A private copy of the test connector (so each test has its own records and version cache).
struct TestConnector {
    dir: Scratch,
    connector: External,
}

impl TestConnector {
    fn new(version: Option<&str>) -> Self {
        let dir = Scratch::new();
        let program = dir.path().join("red-test-cli1");
        fs::copy(root().join("tests/peers/cli1-connector.sh"), &program).expect("copy");
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).expect("chmod");
        if let Some(version) = version {
            fs::write(dir.path().join("version"), version).expect("version");
        }
        let connector = External::new("red-test-cli1", program);
        Self { dir, connector }
    }

    fn record(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    fn calls(&self) -> Vec<String> {
        self.record("calls.log")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn access(mode: &str) -> Access {
    Access::new(json!({
        "mode": mode,
        "host": "example.org",
        "auth": {"username": "someone", "password": CANARY},
        "_token": format!("{CANARY}-token"),
    }))
}

/// A scratch directory, and a connector context whose temporary files go there.
fn scratch() -> (Scratch, Context) {
    let scratch = Scratch::new();
    let context = Context::new(scratch.path().to_path_buf());
    (scratch, context)
}

#[test]
fn every_subcommand_gets_the_protocol_arguments() {
    let test = TestConnector::new(None);
    let connector = &test.connector;
    let (dir, context) = scratch();
    let ok = access("ok");
    let listing = Listing(json!([{"class": "File", "basename": "one.txt"}]));

    connector
        .check(Operation::ReceiveFile, &ok, None)
        .expect("validate");
    let file = dir.path().join("in.txt");
    assert_eq!(
        connector
            .receive_file(&ok, &file, &context)
            .expect("receive-file"),
        Received::Staged
    );
    assert!(
        fs::read_to_string(&file)
            .expect("file")
            .contains("test connector")
    );

    connector
        .check(Operation::ReceiveDir, &ok, Some(&listing))
        .expect("validate dir");
    let tree = dir.path().join("tree");
    connector
        .receive_dir(&ok, &tree, Some(&listing), &context)
        .expect("receive-dir");
    assert!(tree.join("sub/two.txt").is_file());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&test.record("listing-copy.json")).expect("json"),
        listing.0
    );

    connector
        .send_file(&ok, &file, &context)
        .expect("send-file");
    assert!(test.dir.path().join("sent/in.txt").is_file());
    connector
        .send_dir(&ok, &tree, None, &context)
        .expect("send-dir");
    assert!(test.dir.path().join("sent/tree/one.txt").is_file());

    let mountpoint = dir.path().join("mnt");
    fs::create_dir(&mountpoint).expect("mountpoint");
    connector
        .check(Operation::MountDir, &ok, Some(&listing))
        .expect("validate mount");
    let mounted = connector
        .mount_dir(&ok, &mountpoint, &context)
        .expect("mount-dir");
    assert!(test.dir.path().join("mounted").exists());
    mounted.unmount().expect("umount-dir");
    assert!(!test.dir.path().join("mounted").exists());
    let dropped = connector
        .mount_dir(&ok, &mountpoint, &context)
        .expect("mount again");
    drop(dropped);
    assert!(
        !test.dir.path().join("mounted").exists(),
        "dropping the guard unmounts"
    );

    let calls = test.calls();
    let names: Vec<&str> = calls
        .iter()
        .map(|c| c.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "cli-version",
            "receive-file-validate",
            "receive-file",
            "receive-dir-validate",
            "receive-dir",
            "send-file",
            "send-dir",
            "mount-dir-validate",
            "mount-dir",
            "umount-dir",
            "mount-dir",
            "umount-dir",
        ],
        "cli-version once, then each call: {calls:#?}"
    );
    // Argument shapes: ACCESS first, then the path, then one `--listing=FILE` token.
    let shape = |line: &str| -> Vec<String> {
        line.split(' ')
            .map(|arg| {
                if arg.ends_with("/access.json") {
                    "ACCESS".to_owned()
                } else if arg.starts_with("--listing=") && arg.ends_with("/listing.json") {
                    "--listing=LISTING".to_owned()
                } else {
                    arg.replace(&dir.path().display().to_string(), "DIR")
                }
            })
            .collect()
    };
    let at = |i: usize| shape(calls.get(i).map(String::as_str).unwrap_or_default());
    assert_eq!(at(1), ["receive-file-validate", "ACCESS"]);
    assert_eq!(at(2), ["receive-file", "ACCESS", "DIR/in.txt"]);
    assert_eq!(
        at(3),
        ["receive-dir-validate", "ACCESS", "--listing=LISTING"]
    );
    assert_eq!(
        at(4),
        ["receive-dir", "ACCESS", "DIR/tree", "--listing=LISTING"]
    );
    assert_eq!(
        at(7),
        ["mount-dir-validate", "ACCESS"],
        "no listing for mounts"
    );
    assert_eq!(at(9), ["umount-dir", "DIR/mnt"]);
}

#[test]
fn secrets_never_reach_argv_environment_process_list_or_messages() {
    let test = TestConnector::new(None);
    let (dir, context) = scratch();
    test.connector
        .receive_file(&access("ok"), &dir.path().join("f"), &context)
        .expect("receive");
    let argv = test.record("argv.txt");
    let env = test.record("env.txt");
    let procs = test.record("procs.txt");
    assert!(!argv.is_empty() && !env.is_empty() && procs.contains("red-test-cli1"));
    for (what, text) in [
        ("argv", &argv),
        ("environment", &env),
        ("process list", &procs),
    ] {
        assert!(
            !text.contains(CANARY),
            "the secret is in the connector's {what}"
        );
    }
    // It was in the ACCESS file, which was private and is gone.
    assert!(test.record("access-copy.json").contains(CANARY));
    assert_eq!(test.record("access-mode.txt").trim(), "600");
    assert_eq!(test.record("dir-mode.txt").trim(), "700");
    let access_file = PathBuf::from(argv.lines().nth(1).expect("ACCESS argument"));
    assert!(access_file.ends_with("access.json"));
    assert!(
        !access_file.exists(),
        "the ACCESS file is removed after the call"
    );
    assert!(
        !access_file.parent().expect("dir").exists(),
        "and its directory"
    );

    // A connector that echoes its ACCESS file (as the reference's schema errors do).
    let error = test
        .connector
        .check(Operation::SendFile, &access("invalid"), None)
        .expect_err("invalid");
    let message = error.to_string();
    assert!(
        message.contains("exit code 1") && message.contains("access is not valid"),
        "{message}"
    );
    assert!(
        message.contains("someone"),
        "non-secret fields stay readable: {message}"
    );
    assert!(!message.contains(CANARY), "{message}");
    assert!(!format!("{error:?}").contains(CANARY));
}

/// A connector written in Python prints its access block as `json.dumps` (`\u00e4`) or `repr`
/// (`\'`, `\xe4`) writes it: every spelling is masked, and a short secret is masked where it
/// stands alone without touching the words around it.
#[test]
fn secrets_printed_in_escaped_forms_are_masked() {
    let test = TestConnector::new(None);
    let said = [
        r#"json: {"mode": "say", "auth": {"username": "someone", "password": "P\u00e4sswort-canary"}, "_token": "it's-a-canary", "_pin": "p"}"#,
        r#"JSON: {"password": "P\u00E4sswort-canary"}"#,
        r"repr: {'auth': {'password': 'Pässwort-canary'}, '_token': 'it\'s-a-canary', '_pin': 'p'}",
        r"ascii: {'auth': {'password': 'P\xe4sswort-canary'}}",
        r"bytes: b'P\xc3\xa4sswort-canary'",
        "raw: Pässwort-canary p",
    ]
    .join("\n");
    fs::write(test.dir.path().join("say.txt"), &said).expect("say.txt");
    let access = Access::new(json!({
        "mode": "say",
        "auth": {"username": "someone", "password": "Pässwort-canary"},
        "_token": "it's-a-canary",
        "_pin": "p",
    }));
    let error = test
        .connector
        .check(Operation::SendFile, &access, None)
        .expect_err("the connector fails");
    let message = error.to_string();
    for leaked in [
        "sswort", "it's", r"it\'s", "-canary", "'p'", "\"p\"", " p\n", " p$",
    ] {
        assert!(
            !format!("{message}$").contains(leaked),
            "`{leaked}` leaked: {message}"
        );
    }
    // Everything else is as the connector said it: keys, the username, the words.
    for kept in [
        "\"password\": \"********\"",
        "'_pin': '********'",
        "someone",
        "json: ",
        "repr: ",
    ] {
        assert!(message.contains(kept), "`{kept}` lost: {message}");
    }
}

#[test]
fn failures_are_reported_with_exit_code_signal_and_output() {
    let test = TestConnector::new(None);
    let (dir, context) = scratch();
    let receive = |mode: &str| {
        let path = dir.path().join(format!("in-{mode}"));
        let result = test.connector.receive_file(&access(mode), &path, &context);
        assert!(!path.exists(), "a failed receive leaves nothing ({mode})");
        result.expect_err(mode).to_string()
    };
    let fail = receive("fail");
    assert!(
        fail.contains("red-test-cli1") && fail.contains("receive-file"),
        "{fail}"
    );
    assert!(
        fail.contains("exit code 3") && fail.contains("the transfer broke"),
        "{fail}"
    );
    let signal = receive("signal");
    assert!(signal.contains("signal 9"), "{signal}");
    let silent = receive("silent");
    assert!(
        silent.contains("exit code 5") && silent.contains("printed nothing"),
        "{silent}"
    );
    let stdout = receive("stdout");
    assert!(
        stdout.contains("exit code 6") && stdout.contains("only on stdout"),
        "{stdout}"
    );
    assert!(stdout.contains("stdout"), "{stdout}");
    // receive-dir: the empty LOCALDIR it was given is removed again.
    let tree = dir.path().join("tree");
    assert!(
        test.connector
            .receive_dir(&access("fail"), &tree, None, &context)
            .is_err()
    );
    assert!(!tree.exists());
}

/// Whether process `pid` is dead (or a zombie nobody reaped yet). A SIGKILL takes effect when
/// the process is next scheduled, so this waits for that (up to 20 s on a busy machine).
fn gone(pid: &str) -> bool {
    let dead = || match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with(['Z', 'X'])),
    };
    for _ in 0..400 {
        if dead() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_call_past_its_timeout_is_killed_with_its_children() {
    let test = TestConnector::new(None);
    let connector = test.connector.clone().with_timeouts(Timeouts {
        check: Duration::from_secs(30),
        transfer: Duration::from_secs(3),
    });
    let (dir, context) = scratch();
    let message = connector
        .send_file(&access("slow"), &dir.path().join("x"), &context)
        .expect_err("timeout")
        .to_string();
    assert!(message.contains("did not finish within 3 s"), "{message}");
    let child = test.record("child.pid");
    assert!(!child.trim().is_empty(), "the connector started its child");
    assert!(gone(child.trim()), "the connector's child was killed too");
}

#[test]
fn a_cancelled_run_stops_the_connector() {
    let test = TestConnector::new(None);
    let (dir, context) = scratch();
    let stop = context.stop.clone();
    let marker = test.dir.path().join("child.pid");
    let canceller = std::thread::spawn(move || {
        // Cancel once the connector is running (its child has started).
        while !marker.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let result = test
        .connector
        .send_file(&access("slow"), &dir.path().join("x"), &context);
    canceller.join().expect("canceller");
    assert!(
        matches!(result, Err(ConnectorError::Cancelled)),
        "{result:?}"
    );
    assert!(gone(test.record("child.pid").trim()));
}

#[test]
fn cli_versions_other_than_1_and_0_1_are_refused() {
    for (version, ok) in [
        ("1\n", true),
        ("0.1\n", true),
        ("2\n", false),
        ("1\n1\n", false),
        ("", false),
    ] {
        let test = TestConnector::new(Some(version));
        let result = test
            .connector
            .check(Operation::ReceiveFile, &access("ok"), None);
        assert_eq!(result.is_ok(), ok, "{version:?}: {result:?}");
        if let Err(error) = result {
            let message = error.to_string();
            assert!(message.contains("version"), "{message}");
            // The call itself never ran.
            assert_eq!(test.calls().len(), 1, "{:?}", test.calls());
        }
    }
}

#[test]
fn lookup_falls_back_to_programs_on_path() {
    let connector = red::connector::lookup("sh").expect("sh is on PATH");
    assert_eq!(connector.command(), "sh");
    assert!(matches!(
        red::connector::lookup("red-connector-nowhere-to-be-found"),
        Err(ConnectorError::Unknown { .. })
    ));
}

// --- The reference connectors from PyPI, driven through CLI-1 ---------------------------------

fn reference(name: &str) -> External {
    let bin = crate::support::peers::peers_bin();
    External::new(name, bin.join(name))
}

fn received(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).expect("received file")
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs scripts/peers-up: see docs/testing.md"
)]
fn reference_http_connector_receives_and_sends_through_cli1() {
    use crate::support::peers::{HttpServer, SERVER_PASSWORD, SERVER_USER, pattern};
    let server = HttpServer::start(true);
    let body = pattern(1 << 20);
    server.serve("data/a.bin", &body);
    server.serve("data/sub/b.txt", b"b");
    let connector = reference("ref-connector-http");
    let auth = json!({"username": SERVER_USER, "password": SERVER_PASSWORD});
    let (dir, context) = scratch();

    let file = Access::new(json!({"url": server.url("/private/data/a.bin"), "auth": auth}));
    connector
        .check(Operation::ReceiveFile, &file, None)
        .expect("validate");
    connector
        .receive_file(&file, &dir.path().join("a.bin"), &context)
        .expect("receive-file");
    assert!(received(dir.path(), "a.bin") == body);

    let tree = Access::new(json!({"url": server.url("/private/data"), "auth": auth}));
    let listing = Listing(json!([
        {"class": "File", "basename": "a.bin"},
        {"class": "Directory", "basename": "sub", "listing": [{"class": "File", "basename": "b.txt"}]},
    ]));
    connector
        .check(Operation::ReceiveDir, &tree, Some(&listing))
        .expect("validate dir");
    let local = dir.path().join("tree");
    connector
        .receive_dir(&tree, &local, Some(&listing), &context)
        .expect("receive-dir");
    red::connector::content::verify_listing(&local, &listing).expect("listing fulfilled");

    let upload = Access::new(json!({
        "url": server.url("/upload/sent.bin"), "method": "PUT", "auth": auth
    }));
    connector
        .send_file(&upload, &dir.path().join("a.bin"), &context)
        .expect("send-file");
    assert!(server.uploaded("sent.bin").expect("uploaded").0 == body);

    let json_connector = reference("ref-connector-http-json");
    server.serve("doc.json", br#"{"a": [1, 2]}"#);
    let doc = Access::new(json!({"url": server.url("/files/doc.json")}));
    json_connector
        .receive_file(&doc, &dir.path().join("doc.json"), &context)
        .expect("receive json");
    let value: serde_json::Value =
        serde_json::from_slice(&received(dir.path(), "doc.json")).expect("json");
    assert_eq!(value, json!({"a": [1, 2]}));
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs scripts/peers-up: see docs/testing.md"
)]
fn reference_connector_errors_are_masked() {
    use crate::support::peers::HttpServer;
    let server = HttpServer::start(true);
    let connector = reference("ref-connector-http");
    // An unknown field: the reference's schema error prints the whole access block.
    let bad = Access::new(json!({
        "url": server.url("/private/x"), "nope": 1,
        "auth": {"username": "someone", "password": CANARY}
    }));
    let message = connector
        .check(Operation::ReceiveFile, &bad, None)
        .expect_err("schema error")
        .to_string();
    assert!(
        message.contains("exit code 1") && message.contains("nope"),
        "{message}"
    );
    assert!(!message.contains(CANARY), "{message}");
    // A wrong password: the reference fails with 401 (exit code 3).
    let wrong = Access::new(json!({
        "url": server.url("/private/x"), "auth": {"username": "someone", "password": CANARY}
    }));
    let (dir, context) = scratch();
    let message = connector
        .receive_file(&wrong, &dir.path().join("x"), &context)
        .expect_err("401")
        .to_string();
    assert!(
        message.contains("exit code 3") && message.contains("401"),
        "{message}"
    );
    assert!(!message.contains(CANARY), "{message}");

    // The ssh reference speaks CLI-1 too; a block without `host` fails its validation.
    let ssh = reference("ref-connector-ssh");
    let no_host = Access::new(json!({
        "auth": {"username": "someone", "password": CANARY}, "filePath": "/x"
    }));
    let message = ssh
        .check(Operation::ReceiveFile, &no_host, None)
        .expect_err("no host")
        .to_string();
    assert!(message.contains("host"), "{message}");
    assert!(!message.contains(CANARY), "{message}");
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs scripts/peers-up: see docs/testing.md"
)]
fn other_reference_connectors_speak_cli1_or_are_refused_clearly() {
    // red-connector-ftp 1.2 speaks CLI-1: its validation runs, and its error (which prints the
    // access block) is masked.
    let ftp = reference("ref-connector-ftp");
    let bad = Access::new(json!({"nope": 1, "auth": {"username": "u", "password": CANARY}}));
    let message = ftp
        .check(Operation::ReceiveFile, &bad, None)
        .expect_err("schema error")
        .to_string();
    assert!(
        message.contains("exit code 1") && message.contains("nope"),
        "{message}"
    );
    assert!(!message.contains(CANARY), "{message}");
    // red-connector-sshfs 0.2 speaks the older protocol: no `cli-version`.
    let sshfs = reference("ref-connector-sshfs");
    let (dir, context) = scratch();
    let message = sshfs
        .receive_dir(&bad, &dir.path().join("d"), None, &context)
        .expect_err("old protocol")
        .to_string();
    assert!(
        message.contains("cli-version") && message.contains("CLI-1"),
        "{message}"
    );
    assert!(!dir.path().join("d").exists());
}

/// Every figure of a run with an external connector's inputs and outputs is true: `bytes` is
/// each input's size and `transferred` what arrived (red cannot see an external connector's
/// traffic; it said 0), the outputs' sizes and digests are those of what the connector was
/// given to send, in the events, the summary and `.red/result.json`.
#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn exec_figures_are_true_for_an_external_connector() {
    let connector = TestConnector::new(None);
    let block = "{mode: ok, host: example.org}";
    let inputs = format!(
        "inputs:\n  f:\n    class: File\n    connector:\n      command: red-test-cli1\n      access: {block}\n  d:\n    class: Directory\n    connector:\n      command: red-test-cli1\n      access: {block}"
    );
    let outputs = format!(
        "outputs:\n  copy:\n    class: File\n    connector:\n      command: red-test-cli1\n      access: {block}\n  tree:\n    class: Directory\n    connector:\n      command: red-test-cli1\n      access: {block}"
    );
    let received = b"received by the test connector\n";
    let figures = crate::support::figures::run(&inputs, &outputs, Some(connector.dir.path()));
    figures.assert_input("f", received.len() as u64, received.len() as u64);
    // `one\n` and `sub/two\n`.
    figures.assert_input("d", 8, 8);
    figures.assert_copy(received);
    figures.assert_tree(8, 2);
    let sent = connector.dir.path().join("sent");
    assert_eq!(
        fs::read(sent.join("copy.bin")).expect("sent copy"),
        received
    );
    assert_eq!(
        fs::read(sent.join("tree/sub/two.txt")).expect("sent tree"),
        b"two\n"
    );
}
