//! `execute::docker` against a real Docker daemon.
//!
//! Enabled by the `docker-tests` feature (`scripts/test` turns it on where it started a daemon, as
//! in CI); then a missing daemon or test image is a failure, not a skip. Without the feature the
//! tests are listed as ignored, never counted as passed. Set the daemon up
//! and build the images (no registry needed) with `scripts/docker-up`; it prints the
//! `DOCKER_HOST` to use. Containers use network `none`. Every test labels its containers with
//! its own run id, so tests can run in parallel with each other and with other users of the
//! daemon.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use red::execute::docker::{
    Bind, Bollard, Cancellation, Capture, ContainerApi, ContainerGuard, ContainerOutcome,
    ContainerUser, Error, LABEL_RUN, NetworkMode, PullPolicy, RegistryAuth, RunSpec, ensure_image,
    remove_labelled, run_container,
};

use crate::support::BUSYBOX;
const BUSYBOX_USER: &str = "red-test/busybox-user:latest";
const BUSYBOX_ENTRYPOINT: &str = "red-test/busybox-entrypoint:latest";

/// A runtime and a daemon connection; a daemon that does not answer fails the test.
fn daemon() -> (tokio::runtime::Runtime, Bollard) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let api = runtime
        .block_on(Bollard::connect())
        .unwrap_or_else(|error| {
            panic!("the Docker tests are enabled but {error}: {error:?} (run scripts/docker-up)")
        });
    for image in [BUSYBOX, BUSYBOX_USER, BUSYBOX_ENTRYPOINT] {
        let present = runtime
            .block_on(api.image_present(image))
            .expect("inspect image");
        assert!(
            present,
            "test image `{image}` is missing: run scripts/docker-up"
        );
    }
    (runtime, api)
}

/// A run id no other test (or test run) uses.
fn run_id(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("it-{test}-{}-{nanos}", std::process::id())
}

/// A spec for `image` running `argv`, with `/out` bound to `out`, network `none`.
fn spec(image: &str, argv: &[&str], out: &Path, run: &str) -> RunSpec {
    RunSpec {
        image: image.to_owned(),
        argv: argv.iter().map(|&a| a.to_owned()).collect(),
        working_dir: "/out".to_owned(),
        user: ContainerUser::Image,
        env: Vec::new(),
        binds: vec![Bind {
            host: out.to_path_buf(),
            container: "/out".to_owned(),
            read_only: false,
        }],
        memory_mb: None,
        network: NetworkMode::None,
        labels: RunSpec::labels_for(run, 0),
        gpus: None,
        capture: None,
    }
}

fn labelled(runtime: &tokio::runtime::Runtime, api: &Bollard, run: &str) -> Vec<String> {
    runtime
        .block_on(api.list_labelled(LABEL_RUN, run))
        .expect("list containers")
}

/// Whether run `run` has a container that is running now.
async fn has_running(api: &Bollard, run: &str) -> bool {
    let ids = api.list_labelled(LABEL_RUN, run).await.unwrap_or_default();
    match ids.first() {
        Some(id) => api.inspect(id).await.is_ok_and(|state| state.running),
        None => false,
    }
}

/// Run `spec` to its end (or its `timeout`) as `red exec` does, with no cancellation, and check
/// that its container is gone afterwards, whatever the outcome.
fn run_to_end(
    runtime: &tokio::runtime::Runtime,
    api: &Bollard,
    spec: &RunSpec,
    timeout: Option<Duration>,
) -> Result<ContainerOutcome, Error> {
    let result = runtime.block_on(run_container(
        api,
        spec,
        timeout,
        false,
        &Cancellation::new(),
    ));
    let run = &spec.labels[LABEL_RUN];
    assert_eq!(
        labelled(runtime, api, run),
        Vec::<String>::new(),
        "the container of run {run} was not removed"
    );
    result
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn argv_reaches_the_process_intact_without_a_shell() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("argv");
    // No shell anywhere: `touch` gets these names as they are.
    let names = ["a b", "$HOME;`id`|&*", "'quoted' \"double\"", "semi;colon"];
    let mut argv = vec!["touch"];
    let paths: Vec<String> = names.iter().map(|n| format!("/out/{n}")).collect();
    argv.extend(paths.iter().map(String::as_str));
    let outcome = run_to_end(
        &runtime,
        &api,
        &spec(BUSYBOX, &argv, out.path(), &run),
        None,
    )
    .expect("run");
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}");
    for name in names {
        assert!(
            out.path().join(name).exists(),
            "file `{name}` was not created"
        );
    }
    // Every argument, the empty one and one with a newline included, round-trips.
    let args = ["", "two  spaces", "new\nline", "*", "$(echo no)", "\\back"];
    let mut argv = vec![
        "sh",
        "-c",
        "for a in \"$@\"; do printf '%s\\0' \"$a\"; done > /out/args",
        "sh",
    ];
    argv.extend(args);
    let outcome = run_to_end(
        &runtime,
        &api,
        &spec(BUSYBOX, &argv, out.path(), &run),
        None,
    )
    .expect("run");
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}");
    let written = std::fs::read(out.path().join("args")).expect("args file");
    let got: Vec<&[u8]> = written.split(|&b| b == 0).collect();
    let expected: Vec<&[u8]> = args
        .iter()
        .map(|a| a.as_bytes())
        .chain([&b""[..]])
        .collect();
    assert_eq!(got, expected);
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn stdout_and_stderr_are_captured_byte_for_byte() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("capture");
    let files = tempdir();
    let (stdout, stderr) = (
        files.path().join("stdout.txt"),
        files.path().join("stderr.txt"),
    );
    // 20 MB of stdout interleaved with stderr, binary bytes and no final newline.
    let script = "echo first; echo oops >&2; head -c 20000000 /dev/zero; printf 'a\\000b'; \
                  echo late >&2; printf end";
    let mut spec = spec(BUSYBOX, &["sh", "-c", script], out.path(), &run);
    spec.capture = Some(Capture {
        stdout: stdout.clone(),
        stderr: stderr.clone(),
    });
    let outcome = run_to_end(&runtime, &api, &spec, None).expect("run");
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}");
    let mut expected = b"first\n".to_vec();
    expected.resize(expected.len() + 20_000_000, 0);
    expected.extend_from_slice(b"a\0bend");
    let got = std::fs::read(&stdout).expect("stdout file");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "stdout differs");
    assert_eq!(
        std::fs::read_to_string(&stderr).expect("stderr file"),
        "oops\nlate\n"
    );
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn the_image_entrypoint_is_overridden() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("entrypoint");
    let spec = spec(BUSYBOX_ENTRYPOINT, &["touch", "/out/ran"], out.path(), &run);
    let outcome = run_to_end(&runtime, &api, &spec, None).expect("run");
    // The entrypoint would print WRONG and exit 3.
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}");
    assert!(out.path().join("ran").exists());
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_non_root_image_runs_as_the_given_or_invoking_user() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("user");
    let argv = ["sh", "-c", "id -u > /out/$0; id -g >> /out/$0"];
    let me = ContainerUser::invoking();
    let ContainerUser::Ids {
        uid: my_uid,
        gid: my_gid,
    } = me
    else {
        panic!("{me:?}")
    };
    let mut cases = vec![
        (me, "invoking", my_uid, my_gid),
        (ContainerUser::Image, "image", 1000, 1000),
    ];
    if my_uid == 0 {
        // As root, a uid that exists nowhere: outputs still belong to it.
        cases.push((
            ContainerUser::Ids {
                uid: 4321,
                gid: 8765,
            },
            "explicit",
            4321,
            8765,
        ));
        std::fs::set_permissions(
            out.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod");
    }
    for (user, name, uid, gid) in cases {
        let mut spec = spec(BUSYBOX_USER, &argv, out.path(), &run);
        spec.argv.push(name.to_owned());
        spec.user = user;
        let outcome = run_to_end(&runtime, &api, &spec, None).expect("run");
        assert_eq!(outcome.exit_code, Some(0), "{name}: {outcome:?}");
        let path = out.path().join(name);
        let text = std::fs::read_to_string(&path).expect("output file");
        assert_eq!(text, format!("{uid}\n{gid}\n"), "{name}");
        let meta = std::fs::metadata(&path).expect("metadata");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (uid, gid),
            "{name}: owner of the output file"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn exit_codes_are_kept_and_failed_containers_removed() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("exit");
    for code in [1, 42, 255] {
        let script = format!("exit {code}");
        let spec = spec(BUSYBOX, &["sh", "-c", &script], out.path(), &run);
        let outcome = run_to_end(&runtime, &api, &spec, None)
            .expect("a failing experiment is an outcome, not an error");
        assert_eq!(
            (outcome.exit_code, outcome.oom_killed, outcome.timed_out),
            (Some(code), false, false)
        );
        assert!(!outcome.succeeded());
    }
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_command_that_cannot_start_is_an_outcome_with_126_or_127() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("notfound");
    for (argv, code, words) in [
        ("/no/such/binary", 127, "no such file or directory"),
        ("no-such-command", 127, "executable file not found"),
        ("/etc/passwd", 126, "permission denied"),
    ] {
        let spec = spec(BUSYBOX, &[argv], out.path(), &run);
        let outcome = run_to_end(&runtime, &api, &spec, None)
            .expect("a command that cannot start is an outcome");
        assert_eq!(outcome.exit_code, Some(code), "{argv}: {outcome:?}");
        let message = outcome.start_error.clone().unwrap_or_default();
        assert!(
            message.contains(words) && message.contains(argv),
            "{argv}: {message}"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn running_out_of_memory_is_reported_as_an_oom_kill() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("oom");
    // Hold 400 MB in a shell variable under a 256 MiB limit without swap.
    let script = "x=$(head -c 400000000 /dev/zero | tr '\\0' a); echo survived > /out/survived";
    let mut spec = spec(BUSYBOX, &["sh", "-c", script], out.path(), &run);
    spec.memory_mb = Some(256);
    let outcome = run_to_end(&runtime, &api, &spec, None).expect("run");
    assert!(outcome.oom_killed, "{outcome:?}");
    assert!(!outcome.succeeded());
    assert!(!out.path().join("survived").exists());
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_timeout_kills_and_removes_the_container() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("timeout");
    let spec = spec(BUSYBOX, &["sleep", "600"], out.path(), &run);
    let outcome = run_to_end(&runtime, &api, &spec, Some(Duration::from_secs(1))).expect("run");
    assert_eq!(
        (outcome.timed_out, outcome.exit_code),
        (true, None),
        "{outcome:?}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_missing_image_is_a_clear_error() {
    let (runtime, api) = daemon();
    let absent = format!("red-test/absent-{}:latest", std::process::id());
    let error = runtime
        .block_on(ensure_image(&api, &absent, PullPolicy::Never, None))
        .expect_err("absent image");
    assert!(matches!(error, Error::ImageMissing { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("image `{absent}` is not present on this host and pulling is disabled (--no-pull)")
    );
    // Pulling from a registry that does not answer fails with the image named.
    let unreachable = "127.0.0.1:9/red-test/none:1";
    let error = runtime
        .block_on(ensure_image(&api, unreachable, PullPolicy::IfMissing, None))
        .expect_err("unreachable registry");
    assert!(matches!(error, Error::Pull { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("could not pull image `{unreachable}`")
    );
    // A present image is not pulled.
    let pulled = runtime.block_on(ensure_image(&api, BUSYBOX, PullPolicy::IfMissing, None));
    assert_eq!(pulled.ok(), Some(false));
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn pulling_uses_the_registry_credentials() {
    let (runtime, api) = daemon();
    // Started by scripts/docker-up: a registry on 127.0.0.1 that wants a password.
    let registry = std::env::var("RED_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5099".into());
    let image = format!("{registry}/red-test/busybox-auth:latest");
    let password = "red-test-password";
    let untag = |image: &str| {
        let docker = bollard::Docker::connect_with_defaults().expect("bollard");
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new().build();
        // The tag only: the image stays under its other names.
        let _ = runtime.block_on(async {
            docker
                .negotiate_version()
                .await?
                .remove_image(image, Some(options), None)
                .await
        });
    };
    untag(&image);
    let chain = |error: &Error| {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(&format!(" / {cause}"));
            source = cause.source();
        }
        text
    };
    for auth in [
        None,
        Some(RegistryAuth::new(
            "red-test".into(),
            "wrong-password".into(),
        )),
    ] {
        let error = runtime
            .block_on(ensure_image(
                &api,
                &image,
                PullPolicy::IfMissing,
                auth.as_ref(),
            ))
            .expect_err("a pull without the right password fails");
        let text = chain(&error);
        assert!(
            text.starts_with(&format!("could not pull image `{image}` / ")),
            "{text}"
        );
        assert!(
            !text.contains("wrong-password") && !format!("{error:?}").contains("wrong-password")
        );
    }
    let auth = RegistryAuth::new("red-test".into(), password.into());
    let pulled = runtime.block_on(ensure_image(
        &api,
        &image,
        PullPolicy::IfMissing,
        Some(&auth),
    ));
    assert_eq!(pulled.ok(), Some(true), "pulled with the password");
    let again = runtime.block_on(ensure_image(
        &api,
        &image,
        PullPolicy::IfMissing,
        Some(&auth),
    ));
    assert_eq!(again.ok(), Some(false), "present now: not pulled again");
    let out = tempdir();
    let run = run_id("pulled");
    let outcome = run_to_end(
        &runtime,
        &api,
        &spec(&image, &["true"], out.path(), &run),
        None,
    )
    .expect("run the pulled image");
    assert_eq!(outcome.exit_code, Some(0));
    untag(&image);
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn dropping_the_guard_or_the_run_removes_the_container() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("drop");
    let spec = spec(BUSYBOX, &["sleep", "600"], out.path(), &run);
    // A guard dropped inside the runtime (on a worker thread).
    runtime.block_on(async {
        let id = api.create(&spec).await.expect("create");
        api.start(&id).await.expect("start");
        let guard = ContainerGuard::new(&api, id, false);
        drop(guard);
    });
    assert_eq!(
        labelled(&runtime, &api, &run),
        Vec::<String>::new(),
        "guard dropped in runtime"
    );
    // A guard dropped outside any runtime.
    let id = runtime.block_on(api.create(&spec)).expect("create");
    drop(ContainerGuard::new(&api, id, false));
    assert_eq!(
        labelled(&runtime, &api, &run),
        Vec::<String>::new(),
        "guard dropped outside"
    );
    // A run abandoned while its container runs (its future is dropped).
    runtime.block_on(async {
        let cancellation = Cancellation::new();
        let running = run_container(&api, &spec, None, false, &cancellation);
        tokio::pin!(running);
        // Poll the run until its container is up (for at most a minute), then drop the run.
        for attempt in 0.. {
            assert!(attempt < 600, "the container never ran");
            tokio::select! {
                result = &mut running => panic!("sleep 600 ended: {result:?}"),
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            if has_running(&api, &run).await {
                break;
            }
        }
    });
    assert_eq!(
        labelled(&runtime, &api, &run),
        Vec::<String>::new(),
        "abandoned run"
    );
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn cancellation_removes_the_running_container() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("cancel");
    let spec = spec(BUSYBOX, &["sleep", "600"], out.path(), &run);
    let cancellation = Cancellation::new();
    let result = runtime.block_on(async {
        let trigger = cancellation.clone();
        let (api2, run2) = (api.clone(), run.clone());
        tokio::spawn(async move {
            // Cancel once the container runs (or after a minute, which fails the test).
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if has_running(&api2, &run2).await {
                    break;
                }
            }
            trigger.cancel();
        });
        run_container(&api, &spec, None, false, &cancellation).await
    });
    assert!(
        matches!(result, Err(Error::Interrupted { ref id }) if !id.is_empty()),
        "{result:?}"
    );
    assert_eq!(labelled(&runtime, &api, &run), Vec::<String>::new());
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn leave_container_keeps_it() {
    let (runtime, api) = daemon();
    let out = tempdir();
    let run = run_id("leave");
    let spec = spec(BUSYBOX, &["sh", "-c", "exit 7"], out.path(), &run);
    let outcome = runtime
        .block_on(run_container(&api, &spec, None, true, &Cancellation::new()))
        .expect("run");
    assert_eq!(outcome.exit_code, Some(7));
    assert_eq!(
        labelled(&runtime, &api, &run),
        vec![outcome.container_id.clone()]
    );
    let state = runtime
        .block_on(api.inspect(&outcome.container_id))
        .expect("inspect");
    assert_eq!((state.running, state.exit_code), (false, Some(7)));
    // The end-of-run sweep by label removes it.
    assert_eq!(runtime.block_on(remove_labelled(&api, &run)).ok(), Some(1));
    assert_eq!(labelled(&runtime, &api, &run), Vec::<String>::new());
}

/// Run in a child process by `sigterm_removes_the_container`: run a long container with the
/// signal handlers installed and expect to be interrupted.
#[test]
#[ignore = "a child process of sigterm_removes_the_container"]
fn sigterm_child() {
    let run = std::env::var("RED_TEST_SIGNAL_RUN").expect("RED_TEST_SIGNAL_RUN");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let result = runtime.block_on(async {
        let api = Bollard::connect().await.expect("daemon");
        let cancellation = Cancellation::on_signals().expect("signal handlers");
        let out = tempdir();
        run_container(
            &api,
            &spec(BUSYBOX, &["sleep", "600"], out.path(), &run),
            None,
            false,
            &cancellation,
        )
        .await
    });
    assert!(
        matches!(result, Err(Error::Interrupted { .. })),
        "{result:?}"
    );
    println!("child: interrupted and cleaned up");
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn sigterm_removes_the_container() {
    let (runtime, api) = daemon();
    let run = run_id("sigterm");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "docker::sigterm_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RED_TEST_SIGNAL_RUN", &run)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child");
    // Wait (bounded) until the child's container runs.
    let mut running = false;
    for _ in 0..600 {
        if runtime.block_on(has_running(&api, &run)) {
            running = true;
            break;
        }
        if child.try_wait().expect("child").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !running {
        let _ = child.kill();
        let output = child.wait_with_output().expect("child output");
        panic!(
            "the child's container never ran: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -TERM");
    let output = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("child: interrupted and cleaned up"),
        "{stdout}"
    );
    assert_eq!(labelled(&runtime, &api, &run), Vec::<String>::new());
}
