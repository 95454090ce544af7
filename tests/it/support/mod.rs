//! Test harness: run the `red` binary in a scratch directory and look at what it did.
#![allow(dead_code)] // helpers used by some test modules only

pub(crate) mod figures;
pub(crate) mod peers;
pub(crate) mod pty;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The image the Docker tests run (busybox-static `FROM scratch`, built by scripts/docker-up).
pub(crate) const BUSYBOX: &str = "red-test/busybox:latest";

/// The end of a RED file whose batches run in `image` with Docker (256 MiB) under ccfaice:
/// its `container` and `execution` blocks.
pub(crate) fn docker_blocks(image: &str) -> String {
    format!(
        "container:\n  engine: docker\n  settings:\n    image:\n      url: '{image}'\n    ram: 256\n\
         execution:\n  engine: ccfaice\n  settings: {{}}\n"
    )
}

/// The repository root (where `examples/` and `tests/fixtures/` are).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory for one test: the files it writes, and what its runs leave behind.
pub(crate) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `contents` to `name` (below the directory), creating its parents.
    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(path, contents).expect("write file");
        self
    }

    /// The text of `name`; a missing file fails the test.
    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// A private `TMPDIR` for `red` (created on first use), so a test can check that a run
    /// leaves nothing there: see [`Scratch::assert_tmp_empty`].
    pub(crate) fn tmp(&self) -> PathBuf {
        let tmp = self.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp dir");
        tmp
    }

    /// Nothing is left in [`Scratch::tmp`] (a run directory, a temporary file).
    pub(crate) fn assert_tmp_empty(&self) {
        assert_dir_empty(&self.tmp());
    }

    /// `red`, run in this directory with `HOME` pinned to it.
    pub(crate) fn red(&self) -> Red {
        Red::at(Place::In(self.path().to_path_buf()))
    }
}

/// Where a run happens: its own scratch directory, or one a test holds.
enum Place {
    Own(Scratch),
    In(PathBuf),
}

impl Place {
    fn path(&self) -> &Path {
        match self {
            Self::Own(scratch) => scratch.path(),
            Self::In(path) => path,
        }
    }
}

/// A run of `red` being prepared: files to write, arguments, environment. It runs in a scratch
/// directory (its own, or a [`Scratch`] the test holds), which is also its `HOME`, with
/// `NO_COLOR` set and no `RUST_LOG` or `RED_VAR_*` variable of the test's environment.
#[must_use]
pub(crate) struct Red {
    place: Place,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    stdin_file: Option<PathBuf>,
    env: Vec<(String, String)>,
    memory: Option<u64>,
    cwd: Option<PathBuf>,
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// The variables kiosk-client reads, which `red kiosk` reads too (below its `RED_KIOSK_…`
/// names): never passed on from the tests' own environment, so that a test sees only what it
/// sets.
const KIOSK_CLIENT_VARIABLES: [&str; 17] = [
    "API_HOST",
    "JOB_TYPE",
    "MODEL",
    "PREPROCESS",
    "POSTPROCESS",
    "SCALE",
    "LABEL",
    "UPDATE_INTERVAL",
    "START_DELAY",
    "EXPIRE_TIME",
    "UPLOAD_PREFIX",
    "OUTPUT_DIR",
    "STORAGE_BUCKET",
    "CONCURRENT_REQUESTS_PER_HOST",
    "LOG_LEVEL",
    "LOG_FILE",
    "NUM_GPUS",
];

impl Red {
    pub(crate) fn new() -> Self {
        Self::at(Place::Own(Scratch::new()))
    }

    fn at(place: Place) -> Self {
        Self {
            place,
            args: Vec::new(),
            stdin: None,
            stdin_file: None,
            env: Vec::new(),
            memory: None,
            cwd: None,
        }
    }

    /// Write a file into the scratch directory.
    pub(crate) fn file(self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.dir().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(path, contents).expect("write file");
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

    pub(crate) fn envs(mut self, pairs: &[(&str, &str)]) -> Self {
        for (key, value) in pairs {
            self = self.env(key, value);
        }
        self
    }

    pub(crate) fn dir(&self) -> &Path {
        self.place.path()
    }

    /// Run in `dir` (the scratch directory stays `HOME`): for a test whose messages name paths
    /// relative to a fixture directory, or whose files are in a directory it made itself.
    pub(crate) fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// The command, for a test that runs it its own way (reading its output as it comes, in a
    /// pseudo-terminal); standard output and error are pipes. The run's directory must outlive
    /// it, so this is for runs in a [`Scratch`] the test holds.
    pub(crate) fn into_command(self) -> Command {
        assert!(
            matches!(self.place, Place::In(_)),
            "into_command needs a Scratch that outlives the command"
        );
        self.command()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_red"));
        command
            .args(&self.args)
            .current_dir(self.cwd.as_deref().unwrap_or(self.dir()))
            .env("NO_COLOR", "1")
            .env("HOME", self.dir())
            .env_remove("RUST_LOG")
            .stdin(match (&self.stdin, &self.stdin_file) {
                (Some(_), _) => Stdio::piped(),
                (None, Some(path)) => std::fs::File::open(path).expect("open stdin file").into(),
                (None, None) => Stdio::null(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy();
            if text.starts_with("RED_VAR_")
                || text.starts_with("RED_KIOSK_")
                || KIOSK_CLIENT_VARIABLES.contains(&text.as_ref())
            {
                command.env_remove(name);
            }
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    pub(crate) fn run(self) -> Run {
        let mut child = self.command().spawn().expect("spawn red");
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

    /// Start `red` and return at once (no standard input); see [`Running`].
    pub(crate) fn spawn(self) -> Running {
        let child = self.command().spawn().expect("spawn red");
        if let Some(bytes) = self.memory {
            limit_memory(&child, bytes);
        }
        Running {
            place: self.place,
            child,
        }
    }
}

/// A run of `red` in the background, for signals and deadlines.
pub(crate) struct Running {
    place: Place,
    child: Child,
}

impl Running {
    /// The scratch directory it runs in.
    pub(crate) fn dir(&self) -> &Path {
        self.place.path()
    }

    /// Whether it has not ended yet.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send `signal` (`-INT`, `-TERM`) and wait at most `bound` for `red` to end. Returns what
    /// it did and how long after the signal it ended; past `bound` it is killed and the test
    /// fails.
    pub(crate) fn signal(&mut self, signal: &str, bound: Duration) -> (Run, Duration) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill {signal} failed");
        let at = Instant::now();
        let run = self.wait_at_most(bound);
        (run, at.elapsed())
    }

    /// Wait at most `bound` for `red` to end; past it, it is killed and the test fails.
    pub(crate) fn wait_at_most(&mut self, bound: Duration) -> Run {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for red") {
                break status;
            }
            if start.elapsed() > bound {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("red did not end within {bound:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |pipe: Option<&mut dyn Read>| {
            let mut text = String::new();
            if let Some(pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        };
        Run {
            // Killed by the signal (no exit code) reads as -1.
            code: status.code().unwrap_or(-1),
            stdout: read(self.child.stdout.as_mut().map(|p| p as &mut dyn Read)),
            stderr: read(self.child.stderr.as_mut().map(|p| p as &mut dyn Read)),
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
    /// Standard output and standard error in one text, to look for something in either.
    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Exit code, stdout and stderr in one text, for snapshots.
    pub(crate) fn snapshot(&self) -> String {
        format!(
            "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Nothing is left in `dir` (a run directory, a temporary file).
pub(crate) fn assert_dir_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        dir.display()
    );
}

/// Containers (running or not) of `red exec` run `run_id`, found by its label.
pub(crate) fn containers_of(run_id: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=org.red.run={run_id}"),
        ])
        .output()
        .expect("docker ps");
    assert!(output.status.success(), "docker ps failed");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Run `run_id` left no container and no mount behind.
pub(crate) fn assert_no_container_or_mount(run_id: &str) {
    assert!(containers_of(run_id).is_empty(), "a container was left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(run_id), "a mount was left");
}
