//! Test harness: run the `red` binary in a scratch directory and look at what it did.
#![allow(dead_code)] // helpers used by some test modules only

pub(crate) mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (where `examples/` and `tests/fixtures/` are).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A run of `red` being prepared: files to write, arguments, environment.
#[must_use]
pub(crate) struct Red {
    dir: tempfile::TempDir,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    stdin_file: Option<PathBuf>,
    env: Vec<(String, String)>,
    memory: Option<u64>,
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Red {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
            stdin: None,
            stdin_file: None,
            env: Vec::new(),
            memory: None,
        }
    }

    /// Write a file into the scratch directory.
    pub(crate) fn file(self, name: &str, text: &str) -> Self {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(path, text).expect("write file");
        self
    }

    pub(crate) fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub(crate) fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// Give red this file (a device such as `/dev/zero`, or a FIFO) as its standard input.
    pub(crate) fn stdin_file(mut self, path: &Path) -> Self {
        self.stdin_file = Some(path.to_path_buf());
        self
    }

    /// Run red with at most `bytes` of address space (`RLIMIT_AS`), so that a run that reads
    /// without end fails (an allocation failure aborts it) instead of taking the machine's memory.
    pub(crate) fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory = Some(bytes);
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn run(self) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_red"));
        command
            .args(&self.args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("HOME", self.dir.path())
            .env_remove("RUST_LOG")
            .stdin(match (&self.stdin, &self.stdin_file) {
                (Some(_), _) => Stdio::piped(),
                (None, Some(path)) => std::fs::File::open(path).expect("open stdin file").into(),
                (None, None) => Stdio::null(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn red");
        if let Some(bytes) = self.memory {
            limit_memory(&child, bytes);
        }
        if let Some(bytes) = &self.stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(bytes)
                .expect("write stdin");
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("wait for red");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

/// Limit a child's address space. Set just after it starts (before it has read its input), so
/// that only the few instructions of its start run without the limit; this needs no `unsafe`
/// `pre_exec`.
pub(crate) fn limit_memory(child: &std::process::Child, bytes: u64) {
    use rustix::process::{Pid, Resource, Rlimit, prlimit};
    let limit = Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    prlimit(Some(Pid::from_child(child)), Resource::As, limit).expect("limit the address space");
}

impl Run {
    /// Exit code, stdout and stderr in one text, for snapshots.
    pub(crate) fn snapshot(&self) -> String {
        format!(
            "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}
