//! Unit tests of the create request and of `run_container` against an in-memory daemon.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::gpus::{Gpu, Selection, Vendor};

/// How the fake daemon's containers end.
#[derive(Clone, Copy)]
enum Ending {
    Exit(i64),
    Oom,
    Never,
}

/// An in-memory daemon that records calls.
struct Fake {
    images: Vec<String>,
    ending: Ending,
    fail_start: bool,
    not_found: bool,
    output: Vec<OutputChunk>,
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<String>,
    containers: BTreeMap<String, ContainerState>,
    created: u32,
}

impl Fake {
    fn new(ending: Ending) -> Self {
        Self {
            images: vec!["present:latest".to_owned()],
            ending,
            fail_start: false,
            not_found: false,
            output: Vec::new(),
            state: Mutex::new(FakeState::default()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    fn calls(&self) -> Vec<String> {
        self.with(|state| state.calls.clone())
    }

    fn live(&self) -> usize {
        self.with(|state| state.containers.len())
    }

    fn call(&self, call: String) {
        self.with(|state| state.calls.push(call));
    }
}

fn gone(id: &str) -> Error {
    Error::Cleanup {
        id: id.to_owned(),
        reason: "no such container".to_owned(),
    }
}

impl ContainerApi for Fake {
    async fn image_present(&self, image: &str) -> Result<bool, Error> {
        self.call(format!("image_present {image}"));
        Ok(self.images.iter().any(|known| known == image))
    }

    async fn pull_image(&self, image: &str, auth: Option<&RegistryAuth>) -> Result<(), Error> {
        self.call(format!("pull {image} auth={}", auth.is_some()));
        Ok(())
    }

    async fn create(&self, spec: &RunSpec) -> Result<String, Error> {
        spec.to_create_body()?;
        self.with(|state| {
            state.created += 1;
            let id = format!("c{}", state.created);
            state.calls.push(format!("create {id}"));
            state
                .containers
                .insert(id.clone(), ContainerState::default());
            Ok(id)
        })
    }

    async fn attach(&self, id: &str) -> Result<OutputStream, Error> {
        self.call(format!("attach {id}"));
        let chunks: Vec<Result<OutputChunk, Error>> = self.output.iter().cloned().map(Ok).collect();
        Ok(Box::pin(futures_util::stream::iter(chunks)))
    }

    async fn start(&self, id: &str) -> Result<(), Error> {
        self.call(format!("start {id}"));
        if self.fail_start {
            return Err(Error::InvalidSpec("start refused".to_owned()));
        }
        if self.not_found {
            let message = "exec: \"nope\": executable file not found in $PATH".to_owned();
            return Err(Error::CommandNotStarted {
                id: id.to_owned(),
                exit_code: 127,
                message,
            });
        }
        let running = matches!(self.ending, Ending::Never);
        let (exit_code, oom_killed) = match self.ending {
            Ending::Exit(code) => (Some(code), false),
            Ending::Oom => (Some(137), true),
            Ending::Never => (None, false),
        };
        self.with(|state| {
            let container = state.containers.get_mut(id).ok_or_else(|| gone(id))?;
            *container = ContainerState {
                running,
                exit_code,
                oom_killed,
            };
            Ok(())
        })
    }

    async fn wait(&self, id: &str) -> Result<(), Error> {
        self.call(format!("wait {id}"));
        if matches!(self.ending, Ending::Never) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<ContainerState, Error> {
        self.with(|state| state.containers.get(id).copied().ok_or_else(|| gone(id)))
    }

    async fn kill(&self, id: &str) -> Result<(), Error> {
        self.call(format!("kill {id}"));
        self.with(|state| {
            if let Some(container) = state.containers.get_mut(id) {
                container.running = false;
                container.exit_code = Some(137);
            }
        });
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        self.remove_blocking(id)
    }

    fn remove_blocking(&self, id: &str) -> Result<(), Error> {
        self.with(|state| {
            state.calls.push(format!("remove {id}"));
            state.containers.remove(id);
        });
        Ok(())
    }

    async fn list_labelled(&self, _key: &str, _value: &str) -> Result<Vec<String>, Error> {
        Ok(self.with(|state| state.containers.keys().cloned().collect()))
    }
}

fn spec() -> RunSpec {
    RunSpec {
        image: "present:latest".to_owned(),
        argv: vec!["echo".to_owned(), "a b".to_owned(), "$HOME;`x`".to_owned()],
        working_dir: "/cc/outputs".to_owned(),
        user: ContainerUser::Ids {
            uid: 1234,
            gid: 5678,
        },
        env: vec!["LANG=C.UTF-8".to_owned()],
        binds: vec![Bind {
            host: PathBuf::from("/tmp/run/outputs"),
            container: "/cc/outputs".to_owned(),
            read_only: false,
        }],
        memory_mb: Some(256),
        network: NetworkMode::None,
        labels: RunSpec::labels_for("run-1", 3),
        gpus: None,
        capture: None,
    }
}

fn body(spec: &RunSpec) -> bollard::models::ContainerCreateBody {
    match spec.to_create_body() {
        Ok(body) => body,
        Err(error) => panic!("spec rejected: {error}"),
    }
}

#[test]
fn a_captured_container_keeps_no_daemon_log() {
    let log_type = |spec: &RunSpec| {
        body(spec)
            .host_config
            .and_then(|h| h.log_config)
            .and_then(|l| l.typ)
    };
    // Nothing captures the output: the daemon's default log stays the only copy.
    assert_eq!(log_type(&spec()), None);
    let mut captured = spec();
    captured.capture = Some(Capture {
        stdout: PathBuf::from("/tmp/out"),
        stderr: PathBuf::from("/tmp/err"),
    });
    assert_eq!(log_type(&captured).as_deref(), Some("none"));
}

#[test]
fn create_body_runs_argv_without_entrypoint_as_the_given_user() {
    let body = body(&spec());
    assert_eq!(body.cmd, Some(spec().argv));
    assert_eq!(body.entrypoint, Some(Vec::new()));
    assert_eq!(body.user.as_deref(), Some("1234:5678"));
    assert_eq!(body.working_dir.as_deref(), Some("/cc/outputs"));
    assert_eq!(body.env, Some(vec!["LANG=C.UTF-8".to_owned()]));
    let labels = body.labels.unwrap_or_default();
    assert_eq!(
        labels.get("org.red.managed").map(String::as_str),
        Some("true")
    );
    assert_eq!(labels.get("org.red.run").map(String::as_str), Some("run-1"));
    assert_eq!(labels.get("org.red.batch").map(String::as_str), Some("3"));
    let host = body.host_config.unwrap_or_default();
    assert_eq!(host.memory, Some(256 * 1024 * 1024));
    assert_eq!(host.memory_swap, host.memory, "no swap beyond the limit");
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.device_requests, None);
    let mounts = host.mounts.unwrap_or_default();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].source.as_deref(), Some("/tmp/run/outputs"));
    assert_eq!(mounts[0].target.as_deref(), Some("/cc/outputs"));
    assert_eq!(mounts[0].read_only, Some(false));
}

#[test]
fn image_user_unlimited_memory_and_other_networks() {
    let mut spec = spec();
    spec.user = ContainerUser::Image;
    spec.memory_mb = None;
    for (network, name) in [
        (NetworkMode::Host, "host"),
        (NetworkMode::Bridge, "bridge"),
        (NetworkMode::None, "none"),
    ] {
        spec.network = network;
        let body = body(&spec);
        assert_eq!(body.user, None);
        let host = body.host_config.unwrap_or_default();
        assert_eq!((host.memory, host.memory_swap), (None, None));
        assert_eq!(host.network_mode.as_deref(), Some(name));
    }
    assert_eq!(NetworkMode::default(), NetworkMode::None);
}

#[test]
fn gpus_become_a_device_request_and_visible_devices() {
    let gpu = |index: u32| Gpu {
        index,
        uuid: format!("GPU-{index}"),
        name: "Tesla T4".to_owned(),
        memory_mib: Some(15360),
        vendor: Vendor::Nvidia,
    };
    let mut spec = spec();
    spec.gpus = Some(Selection {
        gpus: vec![gpu(1), gpu(3)],
    });
    let body = body(&spec);
    let env = body.env.unwrap_or_default();
    assert!(
        env.contains(&"NVIDIA_VISIBLE_DEVICES=1,3".to_owned()),
        "{env:?}"
    );
    let requests = body
        .host_config
        .and_then(|h| h.device_requests)
        .unwrap_or_default();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].driver.as_deref(), Some("nvidia"));
    assert_eq!(
        requests[0].device_ids,
        Some(vec!["1".to_owned(), "3".to_owned()])
    );
    assert_eq!(requests[0].capabilities, Some(vec![vec!["gpu".to_owned()]]));
    assert_eq!(requests[0].count, None);
}

#[test]
fn invalid_specs_are_errors() {
    let mut empty = spec();
    empty.argv.clear();
    let mut relative = spec();
    relative.binds[0].container = "outputs".to_owned();
    let mut huge = spec();
    huge.memory_mb = Some(u64::MAX / 1024);
    for (spec, words) in [
        (empty, "empty"),
        (relative, "absolute"),
        (huge, "too large"),
    ] {
        match spec.to_create_body() {
            Err(Error::InvalidSpec(message)) => assert!(message.contains(words), "{message}"),
            other => panic!("expected an invalid spec, got {other:?}"),
        }
    }
}

#[test]
fn image_references_split_into_repository_and_tag() {
    for (image, expected) in [
        ("busybox", ("busybox", "latest")),
        ("busybox:1.36", ("busybox", "1.36")),
        (
            "localhost:5000/team/img",
            ("localhost:5000/team/img", "latest"),
        ),
        (
            "localhost:5000/team/img:v2",
            ("localhost:5000/team/img", "v2"),
        ),
        (
            "docker.io/library/debian@sha256:abc",
            ("docker.io/library/debian", "sha256:abc"),
        ),
    ] {
        assert_eq!(split_image_reference(image), expected, "{image}");
    }
    assert_eq!(
        spec::registry_host("registry.example.org/a/b:1"),
        Some("registry.example.org")
    );
    assert_eq!(spec::registry_host("localhost/a"), Some("localhost"));
    assert_eq!(spec::registry_host("library/debian"), None);
    assert_eq!(spec::registry_host("debian"), None);
}

#[test]
fn registry_auth_never_prints() {
    let auth = RegistryAuth::new("alice-user".to_owned(), "hunter2-pw".to_owned());
    let printed = format!("{auth:?}");
    assert!(
        !printed.contains("alice-user") && !printed.contains("hunter2-pw"),
        "{printed}"
    );
    assert!(printed.contains("********"));
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(error) => panic!("no runtime: {error}"),
    }
}

fn run(fake: &Fake, timeout: Option<Duration>, leave: bool) -> Result<ContainerOutcome, Error> {
    block_on(run_container(
        fake,
        &spec(),
        timeout,
        leave,
        &Cancellation::new(),
    ))
}

#[test]
fn exit_codes_are_outcomes_and_the_container_is_removed() {
    for code in [0, 1, 42] {
        let fake = Fake::new(Ending::Exit(code));
        let outcome = run(&fake, None, false).ok();
        assert_eq!(outcome.as_ref().and_then(|o| o.exit_code), Some(code));
        assert_eq!(
            outcome.as_ref().map(ContainerOutcome::succeeded),
            Some(code == 0)
        );
        assert_eq!(
            fake.calls(),
            ["create c1", "start c1", "wait c1", "remove c1"]
        );
        assert_eq!(fake.live(), 0);
    }
}

#[test]
fn oom_kill_is_reported_as_such() {
    let fake = Fake::new(Ending::Oom);
    let outcome = run(&fake, None, false).ok();
    assert_eq!(
        outcome.as_ref().map(|o| (o.oom_killed, o.timed_out)),
        Some((true, false))
    );
    assert_eq!(outcome.map(|o| o.succeeded()), Some(false));
}

#[test]
fn timeout_kills_then_removes_or_leaves() {
    let fake = Fake::new(Ending::Never);
    let outcome = run(&fake, Some(Duration::from_millis(20)), false).ok();
    assert_eq!(
        outcome.as_ref().map(|o| (o.timed_out, o.exit_code)),
        Some((true, None))
    );
    assert_eq!(
        fake.calls(),
        ["create c1", "start c1", "wait c1", "kill c1", "remove c1"]
    );

    let fake = Fake::new(Ending::Never);
    let outcome = run(&fake, Some(Duration::from_millis(20)), true).ok();
    assert_eq!(outcome.map(|o| o.timed_out), Some(true));
    assert_eq!(
        fake.calls(),
        ["create c1", "start c1", "wait c1", "kill c1"]
    );
    assert_eq!(fake.live(), 1, "--leave-container keeps it");
}

#[test]
fn leave_container_keeps_a_finished_container() {
    let fake = Fake::new(Ending::Exit(0));
    assert!(run(&fake, None, true).is_ok());
    assert_eq!(fake.live(), 1);
    assert!(!fake.calls().iter().any(|call| call.starts_with("remove")));
}

#[test]
fn cancellation_kills_removes_and_reports_interrupted() {
    let fake = Fake::new(Ending::Never);
    let cancellation = Cancellation::new();
    let result = block_on(async {
        let trigger = cancellation.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            trigger.cancel();
        });
        run_container(&fake, &spec(), None, false, &cancellation).await
    });
    assert!(
        matches!(result, Err(Error::Interrupted { ref id }) if id == "c1"),
        "{result:?}"
    );
    assert_eq!(
        fake.calls(),
        ["create c1", "start c1", "wait c1", "kill c1", "remove c1"]
    );

    // Already cancelled: nothing is created.
    let fake = Fake::new(Ending::Exit(0));
    let result = block_on(run_container(&fake, &spec(), None, false, &cancellation));
    assert!(matches!(result, Err(Error::Interrupted { ref id }) if id.is_empty()));
    assert!(fake.calls().is_empty());
}

#[test]
fn a_wait_raced_against_the_flag_ends_when_it_is_set() {
    let cancellation = Cancellation::new();
    let ended = block_on(async {
        let trigger = cancellation.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            trigger.cancel();
        });
        cancellation.unless(std::future::pending::<()>()).await
    });
    assert_eq!(ended, None);
    // Already set: even a ready future loses, so nothing new starts after the signal.
    assert_eq!(block_on(cancellation.unless(async { 1 })), None);
    let fresh = Cancellation::new();
    assert_eq!(block_on(fresh.unless(async { 1 })), Some(1));
}

#[test]
fn a_failed_start_still_removes_the_container() {
    let mut fake = Fake::new(Ending::Exit(0));
    fake.fail_start = true;
    assert!(run(&fake, None, false).is_err());
    assert_eq!(fake.calls(), ["create c1", "start c1", "remove c1"]);
}

#[test]
fn dropping_the_run_removes_the_container() {
    let fake = Fake::new(Ending::Never);
    block_on(async {
        let (spec, cancellation) = (spec(), Cancellation::new());
        let run = run_container(&fake, &spec, None, false, &cancellation);
        // Give up on the run after it started: the future, and its guard, are dropped.
        let _ = tokio::time::timeout(Duration::from_millis(20), run).await;
    });
    assert_eq!(
        fake.calls(),
        ["create c1", "start c1", "wait c1", "remove c1"]
    );
    assert_eq!(fake.live(), 0);
}

#[test]
fn the_guard_removes_on_panic() {
    let fake = Fake::new(Ending::Exit(0));
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = ContainerGuard::new(&fake, "c9".to_owned(), false);
        panic!("boom");
    }));
    assert!(unwound.is_err());
    assert_eq!(fake.calls(), ["remove c9"]);
    let left = ContainerGuard::new(&fake, "c10".to_owned(), true);
    drop(left);
    assert_eq!(
        fake.calls(),
        ["remove c9"],
        "a left container is not removed"
    );
}

#[test]
fn images_are_pulled_only_when_missing_and_allowed() {
    let fake = Fake::new(Ending::Exit(0));
    let auth = RegistryAuth::new("u".to_owned(), "p".to_owned());
    let present = block_on(ensure_image(
        &fake,
        "present:latest",
        PullPolicy::IfMissing,
        None,
    ));
    assert_eq!(present.ok(), Some(false));
    let pulled = block_on(ensure_image(
        &fake,
        "absent:1",
        PullPolicy::IfMissing,
        Some(&auth),
    ));
    assert_eq!(pulled.ok(), Some(true));
    let refused = block_on(ensure_image(
        &fake,
        "absent:1",
        PullPolicy::Never,
        Some(&auth),
    ));
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        "image `absent:1` is not present on this host and pulling is disabled (--no-pull)"
    );
    assert_eq!(
        fake.calls(),
        [
            "image_present present:latest",
            "image_present absent:1",
            "pull absent:1 auth=true",
            "image_present absent:1"
        ]
    );
}

#[test]
fn sweep_removes_what_is_labelled() {
    let fake = Fake::new(Ending::Exit(0));
    block_on(async {
        let _ = fake.create(&spec()).await;
        let _ = fake.create(&spec()).await;
    });
    assert_eq!(block_on(remove_labelled(&fake, "run-1")).ok(), Some(2));
    assert_eq!(fake.live(), 0);
}

#[test]
fn a_command_that_cannot_start_is_an_outcome() {
    let mut fake = Fake::new(Ending::Exit(0));
    fake.not_found = true;
    let outcome = run(&fake, None, false).ok();
    assert_eq!(outcome.as_ref().and_then(|o| o.exit_code), Some(127));
    let message = outcome
        .as_ref()
        .and_then(|o| o.start_error.clone())
        .unwrap_or_default();
    assert!(message.contains("executable file not found"), "{message}");
    assert_eq!(outcome.map(|o| o.succeeded()), Some(false));
    assert_eq!(fake.calls(), ["create c1", "start c1", "remove c1"]);
}

#[test]
fn every_container_is_labelled_as_managed_by_red() {
    let mut spec = spec();
    spec.labels.clear();
    spec.labels.insert("other".to_owned(), "x".to_owned());
    let labels = body(&spec).labels.unwrap_or_default();
    assert_eq!(
        labels.get("org.red.managed").map(String::as_str),
        Some("true")
    );
    assert_eq!(labels.get("other").map(String::as_str), Some("x"));
}

#[test]
fn output_goes_to_the_capture_files_in_order() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("temp dir: {error}"),
    };
    let mut fake = Fake::new(Ending::Exit(0));
    fake.output = vec![
        OutputChunk::Stdout(b"one\n".to_vec()),
        OutputChunk::Stderr(b"warn\n".to_vec()),
        OutputChunk::Stdout(vec![0, 255, b'\n']),
    ];
    let (stdout, stderr) = (dir.path().join("out.txt"), dir.path().join("err.txt"));
    let mut separate = spec();
    separate.capture = Some(Capture {
        stdout: stdout.clone(),
        stderr: stderr.clone(),
    });
    let result = block_on(run_container(
        &fake,
        &separate,
        None,
        false,
        &Cancellation::new(),
    ));
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(std::fs::read(&stdout).ok(), Some(b"one\n\0\xff\n".to_vec()));
    assert_eq!(std::fs::read(&stderr).ok(), Some(b"warn\n".to_vec()));
    assert_eq!(
        fake.calls(),
        ["create c1", "attach c1", "start c1", "wait c1", "remove c1"]
    );

    let both = dir.path().join("both.txt");
    let mut merged = spec();
    merged.capture = Some(Capture {
        stdout: both.clone(),
        stderr: both.clone(),
    });
    assert!(
        block_on(run_container(
            &fake,
            &merged,
            None,
            false,
            &Cancellation::new()
        ))
        .is_ok()
    );
    assert_eq!(
        std::fs::read(&both).ok(),
        Some(b"one\nwarn\n\0\xff\n".to_vec())
    );
}

#[test]
fn an_unwritable_capture_file_is_an_error_and_the_container_removed() {
    let fake = Fake::new(Ending::Exit(0));
    let mut spec = spec();
    let missing = PathBuf::from("/nonexistent-red-dir/out.txt");
    spec.capture = Some(Capture {
        stdout: missing.clone(),
        stderr: missing,
    });
    let result = block_on(run_container(
        &fake,
        &spec,
        None,
        false,
        &Cancellation::new(),
    ));
    assert!(matches!(result, Err(Error::Output { .. })), "{result:?}");
    assert_eq!(fake.calls(), ["create c1", "attach c1", "remove c1"]);
}
