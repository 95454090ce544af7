//! The built-in `red-connector-http` and `red-connector-http-json` against a real HTTP(S)
//! server on 127.0.0.1 (`tests/peers/http_server.py`, Python's standard library: a few lines
//! give basic auth, ranges, a connection dropped mid-body, redirects and uploads, which a stock
//! server cannot all do).
//!
//! Enabled by the `peer-tests` feature (`scripts/test` turns it on where it ran
//! `scripts/peers-up`); then a missing `python3` fails them. Without it they are ignored.

use std::fs;
use std::path::Path;

use red::connector::{
    Access, Connector, ConnectorError, Context, HTTP, HTTP_JSON, Listing, Operation, Received,
    lookup,
};
use serde_json::json;

use crate::support::peers::{HttpServer, SERVER_PASSWORD, SERVER_USER, pattern};

const CANARY: &str = "canary-http-9d41";

fn connector(command: &str) -> std::sync::Arc<dyn Connector> {
    lookup(command).expect("built-in connector")
}

fn context(dir: &Path) -> Context {
    Context::new(dir.to_path_buf())
}

fn access(value: serde_json::Value) -> Access {
    Access::new(value)
}

fn receive(
    command: &str,
    access: &Access,
) -> (tempfile::TempDir, Result<Received, ConnectorError>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let connector = connector(command);
    let checked = connector.check(Operation::ReceiveFile, access, None);
    let result = checked.and_then(|()| {
        connector.receive_file(access, &dir.path().join("in"), &context(dir.path()))
    });
    (dir, result)
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn receive_file_streams_the_body_with_basic_auth() {
    let server = HttpServer::start(true);
    let body = pattern(3 << 20);
    server.serve("data/big file ü.bin", &body);
    let url = server.url("/private/data/big%20file%20%C3%BC.bin");
    let good = access(json!({
        "url": url, "auth": {"username": SERVER_USER, "password": SERVER_PASSWORD, "method": "Basic"}
    }));
    let (dir, result) = receive(HTTP, &good);
    assert_eq!(result.expect("download"), Received::Staged);
    assert!(fs::read(dir.path().join("in")).expect("received") == body);

    let wrong = access(json!({
        "url": format!("{url}?token={CANARY}"),
        "auth": {"username": SERVER_USER, "password": CANARY}
    }));
    let (dir, result) = receive(HTTP, &wrong);
    let message = result.expect_err("wrong password").to_string();
    assert!(message.contains("401"), "{message}");
    assert!(!message.contains(CANARY), "{message}");
    assert!(
        !dir.path().join("in").exists(),
        "a failed download leaves nothing"
    );
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn receive_file_answers_a_digest_challenge() {
    let server = HttpServer::start(true);
    server.serve("d.txt", b"behind digest");
    let url = server.url("/digest/d.txt?x=1");
    let auth = |password: &str| {
        access(json!({
            "url": url,
            "auth": {"username": SERVER_USER, "password": password, "method": "digest"}
        }))
    };
    let (dir, result) = receive(HTTP, &auth(SERVER_PASSWORD));
    result.expect("digest download");
    assert_eq!(
        fs::read(dir.path().join("in")).expect("received"),
        b"behind digest"
    );
    let (_, result) = receive(HTTP, &auth(CANARY));
    let message = result.expect_err("wrong password").to_string();
    assert!(
        message.contains("401") && !message.contains(CANARY),
        "{message}"
    );
    // One challenge and one answer per download: never a loop of retries.
    assert_eq!(server.requests().matches("/digest/d.txt").count(), 4);
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn a_dropped_download_resumes_with_a_range_request() {
    let server = HttpServer::start(false);
    let body = pattern(4 << 20);
    server.serve("big.bin", &body);
    let (dir, result) = receive(HTTP, &access(json!({"url": server.url("/flaky/big.bin")})));
    result.expect("resumed download");
    assert!(fs::read(dir.path().join("in")).expect("received") == body);
    let log = server.requests();
    let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(
        lines.first().map(Vec::as_slice),
        Some(&["GET", "/flaky/big.bin", "-", "-"][..])
    );
    let resumed = lines.get(1).expect("a second request");
    let offset: u64 = resumed
        .get(2)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a range request: {log}"));
    assert!(offset > 0 && offset < body.len() as u64, "{log}");
    // It names the version it resumes (the ETag of the first answer).
    assert_eq!(
        resumed.get(3),
        Some(&format!("\"e-{}\"", body.len()).as_str()),
        "{log}"
    );
    assert_eq!(lines.len(), 2, "{log}");
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn a_resume_starts_over_when_the_file_changed_meanwhile() {
    let server = HttpServer::start(false);
    let body = pattern(4 << 20);
    server.serve("big.bin", &body);
    let url = server.url("/flaky-changing/big.bin");
    let (dir, result) = receive(HTTP, &access(json!({ "url": url })));
    result.expect("restarted download");
    assert!(fs::read(dir.path().join("in")).expect("received") == body);
    let log = server.requests();
    let second = log.lines().nth(1).unwrap_or_default();
    assert!(
        second.contains("bytes=") && second.ends_with("\"first\""),
        "{log}"
    );
    assert_eq!(log.lines().count(), 2, "{log}");
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn a_dropped_download_starts_over_when_the_server_ignores_ranges() {
    let server = HttpServer::start(false);
    let body = pattern(4 << 20);
    server.serve("big.bin", &body);
    let url = server.url("/flaky-norange/big.bin");
    let (dir, result) = receive(HTTP, &access(json!({ "url": url })));
    result.expect("restarted download");
    assert!(fs::read(dir.path().join("in")).expect("received") == body);
    assert_eq!(
        server.requests().lines().count(),
        2,
        "{}",
        server.requests()
    );
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn redirects_are_followed_a_bounded_number_of_times() {
    let server = HttpServer::start(false);
    server.serve("a.txt", b"after redirects");
    let (dir, result) = receive(
        HTTP,
        &access(json!({"url": server.url("/redirect/3/a.txt")})),
    );
    result.expect("redirected download");
    assert_eq!(
        fs::read(dir.path().join("in")).expect("received"),
        b"after redirects"
    );
    let (dir, result) = receive(HTTP, &access(json!({"url": server.url("/loop")})));
    let message = result.expect_err("a redirect loop").to_string();
    assert!(message.contains("redirects"), "{message}");
    assert!(!dir.path().join("in").exists());
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn error_statuses_and_a_server_that_is_down_fail_clearly() {
    let server = HttpServer::start(false);
    let (_, result) = receive(HTTP, &access(json!({"url": server.url("/status/404")})));
    let message = result.expect_err("404").to_string();
    assert!(
        message.contains("404") && message.contains("/status/404"),
        "{message}"
    );
    let (_, result) = receive(HTTP, &access(json!({"url": server.url("/status/500")})));
    assert!(result.expect_err("500").to_string().contains("500"));
    // 503 is retried a bounded number of times, then reported.
    let (_, result) = receive(HTTP, &access(json!({"url": server.url("/status/503")})));
    let message = result.expect_err("503").to_string();
    assert!(
        message.contains("503") && message.contains("4 times"),
        "{message}"
    );
    assert_eq!(server.requests().matches("/status/503").count(), 4);

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://user:{CANARY}@127.0.0.1:{port}/x");
    let (_, result) = receive(HTTP, &access(json!({ "url": url })));
    let message = result.expect_err("nothing listens").to_string();
    assert!(message.contains("cannot connect"), "{message}");
    assert!(!message.contains(CANARY), "{message}");
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3 and openssl: see docs/testing.md"
)]
fn tls_is_verified_unless_the_access_block_opts_out() {
    let server = HttpServer::start_tls();
    server.serve("a.txt", b"over tls");
    let url = server.url("/files/a.txt");
    let (_, result) = receive(HTTP, &access(json!({ "url": url })));
    let message = result.expect_err("a self-signed certificate").to_string();
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    let insecure = access(json!({ "url": url, "disableSSLVerification": true }));
    let (dir, result) = receive(HTTP, &insecure);
    result.expect("verification off");
    assert_eq!(
        fs::read(dir.path().join("in")).expect("received"),
        b"over tls"
    );
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn receive_dir_fetches_every_listed_entry() {
    let server = HttpServer::start(true);
    server.serve("tree/a.txt", b"a");
    server.serve("tree/sub dir/ü.txt", b"unicode");
    server.serve("tree/not-listed.txt", b"x");
    let auth = json!({"username": SERVER_USER, "password": SERVER_PASSWORD});
    let good = access(json!({"url": server.url("/private/tree"), "auth": auth}));
    let listing = Listing(json!([
        {"class": "File", "basename": "a.txt", "size": 1},
        {"class": "Directory", "basename": "sub dir", "listing": [
            {"class": "File", "basename": "ü.txt"},
        ]},
        {"class": "Directory", "basename": "empty"},
    ]));
    let http = connector(HTTP);
    http.check(Operation::ReceiveDir, &good, Some(&listing))
        .expect("valid");
    let dir = tempfile::tempdir().expect("temp dir");
    let destination = dir.path().join("in");
    http.receive_dir(&good, &destination, Some(&listing), &context(dir.path()))
        .expect("directory");
    assert_eq!(
        fs::read(destination.join("sub dir/ü.txt")).expect("file"),
        b"unicode"
    );
    assert!(destination.join("empty").is_dir());
    let extra = red::connector::content::verify_listing(&destination, &listing).expect("listing");
    assert!(extra.is_empty(), "{extra:?}");

    let missing = Listing(json!([{"class": "File", "basename": "gone.txt"}]));
    let again = dir.path().join("again");
    let error = http
        .receive_dir(&good, &again, Some(&missing), &context(dir.path()))
        .expect_err("a listed file is missing");
    assert!(error.to_string().contains("404"), "{error}");
    assert!(!again.exists(), "a failed directory is removed");
    assert!(matches!(
        http.check(Operation::ReceiveDir, &good, None),
        Err(ConnectorError::Content(_))
    ));
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn send_file_streams_with_put_or_post() {
    let server = HttpServer::start(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("result.bin");
    let body = pattern(5 << 20);
    fs::write(&source, &body).expect("write");
    let auth = json!({"username": SERVER_USER, "password": SERVER_PASSWORD});
    let http = connector(HTTP);
    for (method, name) in [("PUT", "put.bin"), ("post", "post.bin")] {
        let target = access(json!({
            "url": server.url(&format!("/upload/{name}")), "method": method, "auth": auth
        }));
        http.check(Operation::SendFile, &target, None)
            .expect("valid");
        http.send_file(&target, &source, &context(dir.path()))
            .expect("upload");
        let (received, _) = server.uploaded(name).expect("uploaded");
        assert!(received == body, "{method}: the body differs");
    }
    let log = server.requests();
    assert!(
        log.contains("PUT /upload/put.bin") && log.contains("POST /upload/post.bin"),
        "{log}"
    );
    // An output that is a link to a file elsewhere is never uploaded.
    let link = dir.path().join("link.bin");
    std::os::unix::fs::symlink(&source, &link).expect("link");
    let through_link = access(json!({
        "url": server.url("/upload/link.bin"), "method": "PUT", "auth": auth
    }));
    assert!(
        http.send_file(&through_link, &link, &context(dir.path()))
            .is_err()
    );
    assert!(server.uploaded("link.bin").is_none());
    let wrong = access(json!({
        "url": server.url("/upload/denied.bin"), "method": "PUT",
        "auth": {"username": SERVER_USER, "password": CANARY}
    }));
    let message = http
        .send_file(&wrong, &source, &context(dir.path()))
        .expect_err("wrong password")
        .to_string();
    assert!(
        message.contains("401") && !message.contains(CANARY),
        "{message}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn http_json_parses_what_it_receives_and_sends_only_json() {
    let server = HttpServer::start(false);
    server.serve("doc.json", br#"{ "b": [1, 2],   "a": "x" }"#);
    server.serve("not.json", b"<html>");
    let (dir, result) = receive(
        HTTP_JSON,
        &access(json!({"url": server.url("/files/doc.json")})),
    );
    result.expect("json");
    let written: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("in")).expect("received")).expect("json");
    assert_eq!(written, json!({"b": [1, 2], "a": "x"}));
    let (dir, result) = receive(
        HTTP_JSON,
        &access(json!({"url": server.url("/files/not.json")})),
    );
    assert!(matches!(result, Err(ConnectorError::Content(_))));
    assert!(!dir.path().join("in").exists());
    assert!(
        fs::read_dir(dir.path()).expect("dir").next().is_none(),
        "no partial file left"
    );

    let json_connector = connector(HTTP_JSON);
    let source = dir.path().join("out.json");
    fs::write(&source, r#"{"k": 1}"#).expect("write");
    let target = access(json!({"url": server.url("/upload/out.json"), "method": "PUT"}));
    json_connector
        .send_file(&target, &source, &context(dir.path()))
        .expect("send json");
    let (body, kind) = server.uploaded("out.json").expect("uploaded");
    assert_eq!(body, br#"{"k": 1}"#);
    assert_eq!(kind, "application/json");
    fs::write(&source, "not json").expect("write");
    let before = server.requests().lines().count();
    assert!(matches!(
        json_connector.send_file(&target, &source, &context(dir.path())),
        Err(ConnectorError::Content(_))
    ));
    assert_eq!(
        server.requests().lines().count(),
        before,
        "nothing was sent"
    );
}

/// A redirect red will not follow says where it led and why (it said only "answered 302
/// Found"), for a `Location` the HTTP stack cannot follow (`file:///…`) and one it could
/// (`ftp://…`); a loop and a long chain say which they are. Nothing is left behind.
#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn a_redirect_red_does_not_follow_says_where_it_led() {
    let server = HttpServer::start(false);
    server.serve("a.txt", b"x");
    for (location, shown) in [
        (
            format!("file%3A%2F%2F%2Fetc%2Fpasswd%3Ftoken%3D{CANARY}"),
            "`file:///etc/passwd`",
        ),
        (
            "ftp%3A%2F%2F127.0.0.1%2Fdata.csv".to_owned(),
            "`ftp://127.0.0.1/data.csv`",
        ),
    ] {
        let url = server.url(&format!("/redirect-to?{location}"));
        let (dir, result) = receive(HTTP, &access(json!({ "url": url })));
        let message = result.expect_err("not http(s)").to_string();
        assert!(
            message.contains(&format!("redirected to {shown}, which is not http(s)"))
                && message.contains("red follows only http and https redirects"),
            "{message}"
        );
        assert!(!message.contains(CANARY), "{message}");
        assert!(!dir.path().join("in").exists());
    }
    let (_, result) = receive(HTTP, &access(json!({"url": server.url("/loop")})));
    let message = result.expect_err("a loop").to_string();
    assert!(
        message.contains("loop") && message.contains("/loop`"),
        "{message}"
    );
    let (_, result) = receive(
        HTTP,
        &access(json!({"url": server.url("/redirect/12/a.txt")})),
    );
    let message = result.expect_err("too many").to_string();
    assert!(message.contains("more than 10 redirects"), "{message}");
}

/// A resume answered with a range that does not start where red asked is not appended: red
/// starts over with a request for the whole file, and when that keeps happening it says what
/// was wrong (it said only "answered 206 Partial Content").
#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn a_resume_answered_with_the_wrong_range_starts_over() {
    let server = HttpServer::start(false);
    let body = pattern(1 << 20);
    server.serve("big.bin", &body);
    let (dir, result) = receive(
        HTTP,
        &access(json!({"url": server.url("/badrange/big.bin")})),
    );
    result.expect("started over");
    assert!(fs::read(dir.path().join("in")).expect("received") == body);
    let log = server.requests();
    let ranges: Vec<&str> = log.lines().filter_map(|l| l.split(' ').nth(2)).collect();
    assert_eq!(ranges.len(), 3, "{log}");
    assert!(ranges[1].starts_with("bytes="), "{log}");
    assert_eq!(ranges[2], "-", "the restart asks for the whole file: {log}");

    let url = server.url("/badrange-always/big.bin");
    let (dir, result) = receive(HTTP, &access(json!({ "url": url })));
    let message = result.expect_err("never the right range").to_string();
    let half = body.len() / 2;
    let last = body.len() - 1;
    assert!(
        message.contains(&format!(
            "asked for bytes from {half} on, but the server answered with range 0-{last} of {} bytes",
            body.len()
        )) && message.contains("4 times"),
        "{message}"
    );
    assert!(!dir.path().join("in").exists());

    // A part of the file, answered to a request for all of it, is never taken for the file.
    let (dir, result) = receive(
        HTTP,
        &access(json!({"url": server.url("/partial/big.bin")})),
    );
    let message = result.expect_err("half a file").to_string();
    assert!(
        message.contains(&format!(
            "answered 206 Partial Content with the bytes 0-{} of {} bytes to a request for the whole file",
            half - 1,
            body.len()
        )),
        "{message}"
    );
    assert!(!dir.path().join("in").exists());
}

/// An error status is shown with a short, plain excerpt of the server's page (it was
/// "answered 500 …" and nothing that said why): no tags, one line, a few hundred characters
/// at most, and the retried statuses say it too.
#[test]
#[cfg_attr(
    not(feature = "peer-tests"),
    ignore = "needs python3: see docs/testing.md"
)]
fn an_error_page_is_shown_as_a_short_plain_excerpt() {
    let server = HttpServer::start(false);
    for (code, reason) in [(500, "Internal Server Error"), (503, "Service Unavailable")] {
        let url = server.url(&format!("/page/{code}?key={CANARY}"));
        let (_, result) = receive(HTTP, &access(json!({ "url": url })));
        let message = result.expect_err("an error page").to_string();
        assert!(
            message.contains(&format!("answered {code} {reason}; the server said: \""))
                && message.contains("The database & cache are down."),
            "{message}"
        );
        for never in ["<", "font-family", "BEYOND-THE-EXCERPT", "\n", CANARY] {
            assert!(!message.contains(never), "{never}: {message}");
        }
        assert!(message.chars().count() < 400, "{message}");
    }
    // An empty body adds nothing.
    let (_, result) = receive(HTTP, &access(json!({"url": server.url("/status/500")})));
    let message = result.expect_err("500").to_string();
    assert!(
        message.ends_with("answered 500 Internal Server Error"),
        "{message}"
    );
}

/// Every figure of a run with http inputs is true: `bytes` is each input's size, `transferred`
/// what came over the wire, the outputs' sizes and digests are those of the files, in the
/// events, the summary and `.red/result.json`; also when an output is uploaded and a directory
/// output is discarded (it had no figures).
#[test]
#[cfg_attr(
    not(all(feature = "peer-tests", feature = "docker-tests")),
    ignore = "needs python3 and Docker: see docs/testing.md"
)]
fn exec_figures_are_true_for_http_inputs_and_outputs() {
    let server = HttpServer::start(false);
    let body = pattern(300_001);
    server.serve("f.bin", &body);
    server.serve("tree/a.txt", &[b'a'; 10]);
    server.serve("tree/sub/b.txt", &[b'b'; 5]);
    let inputs = format!(
        "inputs:\n  f:\n    class: File\n    connector:\n      command: red-connector-http\n      access: {{url: \"{}\"}}\n  d:\n    class: Directory\n    connector:\n      command: red-connector-http\n      access: {{url: \"{}\"}}\n    listing:\n      - {{class: File, basename: a.txt}}\n      - {{class: Directory, basename: sub, listing: [{{class: File, basename: b.txt}}]}}",
        server.url("/files/f.bin"),
        server.url("/files/tree"),
    );
    let here = crate::support::figures::run(&inputs, "", None);
    here.assert_input("f", body.len() as u64, body.len() as u64);
    here.assert_input("d", 15, 15);
    here.assert_copy(&body);
    here.assert_tree(15, 2);

    let outputs = format!(
        "outputs:\n  copy:\n    class: File\n    connector:\n      command: red-connector-http\n      access: {{url: \"{}\", method: PUT}}",
        server.url("/upload/copy.bin")
    );
    let sent = crate::support::figures::run(&inputs, &outputs, None);
    sent.assert_input("f", body.len() as u64, body.len() as u64);
    sent.assert_copy(&body);
    let (uploaded, _) = server.uploaded("copy.bin").expect("uploaded");
    assert!(uploaded == body, "the upload differs");
    assert_eq!(
        sent.output("copy")["delivered"],
        "red-connector-http send-file"
    );
    assert!(
        sent.output("tree")["delivered"]
            .as_str()
            .is_some_and(|d| d.starts_with("discarded")),
        "{}",
        sent.batch
    );
    sent.assert_tree(15, 2);
}
