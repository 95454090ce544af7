//! Real peers for the connector tests: the HTTP(S) server of `tests/peers/http_server.py`
//! (Python's standard library) on a free port of 127.0.0.1, and the reference connectors that
//! `scripts/peers-up` installs. Both are needed only with the `peer-tests` feature; then a
//! missing one fails the test with a message that says how to get it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::root;

/// A running test HTTP server; killed on drop.
pub(crate) struct HttpServer {
    child: Child,
    port: u16,
    scheme: &'static str,
    root: tempfile::TempDir,
}

/// Basic-auth credentials of the test server (never a canary: its command line is visible).
pub(crate) const SERVER_USER: &str = "tester";
pub(crate) const SERVER_PASSWORD: &str = "server-side-pw";

impl HttpServer {
    /// A plain HTTP server; with `auth`, `/private/` and `/upload/` need basic auth.
    pub(crate) fn start(auth: bool) -> Self {
        Self::launch(auth, None)
    }

    /// An HTTPS server with a fresh self-signed certificate for 127.0.0.1.
    pub(crate) fn start_tls() -> Self {
        let keys = tempfile::tempdir().expect("temp dir");
        let cert = keys.path().join("cert.pem");
        let key = keys.path().join("key.pem");
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the TLS test needs `openssl` (Debian package openssl)");
        assert!(status.success(), "openssl could not make a certificate");
        let server = Self::launch(false, Some((&cert, &key)));
        drop(keys);
        server
    }

    fn launch(auth: bool, tls: Option<(&Path, &Path)>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("files")).expect("files dir");
        let mut command = Command::new("python3");
        command
            .arg(root().join("tests/peers/http_server.py"))
            .arg("--root")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if auth {
            command.args(["--user", SERVER_USER, "--password", SERVER_PASSWORD]);
        }
        if let Some((cert, key)) = tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let mut child = command
            .spawn()
            .expect("the HTTP tests need `python3` on PATH (scripts/peers-up installs it)");
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the test HTTP server did not start: {line:?}"));
        Self {
            child,
            port,
            scheme: if tls.is_some() { "https" } else { "http" },
            root: dir,
        }
    }

    /// The URL of `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    /// Put a file the server serves under `/files/<name>` (and `/private/`, `/flaky/`, …).
    pub(crate) fn serve(&self, name: &str, bytes: &[u8]) {
        let path = self.root.path().join("files").join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(path, bytes).expect("write served file");
    }

    /// What was uploaded to `/upload/<name>`, and its Content-Type.
    pub(crate) fn uploaded(&self, name: &str) -> Option<(Vec<u8>, String)> {
        let path = self.root.path().join("uploads").join(name);
        let body = std::fs::read(&path).ok()?;
        let kind = std::fs::read_to_string(format!("{}.type", path.display())).unwrap_or_default();
        Some((body, kind))
    }

    /// Every request so far, one `METHOD PATH RANGE` line each.
    pub(crate) fn requests(&self) -> String {
        std::fs::read_to_string(self.root.path().join("requests.log")).unwrap_or_default()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `count` bytes that do not repeat in any short period (so a shifted resume would show).
pub(crate) fn pattern(count: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// The bin directory of `scripts/peers-up` (RED_PEERS_BIN, else `.venv-peers/red-bin`); fails
/// when the reference connectors are not there.
pub(crate) fn peers_bin() -> PathBuf {
    let bin = std::env::var_os("RED_PEERS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-peers/red-bin"));
    for name in [
        "ref-connector-http",
        "ref-connector-http-json",
        "ref-connector-ssh",
        "ref-connector-ftp",
        "ref-connector-sshfs",
    ] {
        assert!(
            bin.join(name).exists(),
            "the peer tests are enabled but `{}` is missing: run scripts/peers-up",
            bin.join(name).display()
        );
    }
    bin
}
