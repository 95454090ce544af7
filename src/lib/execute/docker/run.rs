//! Running one container to its end, and removing it whatever happens.
//!
//! [`run_container`] creates, starts and waits; it stops at a timeout or when its
//! [`Cancellation`] fires (Ctrl-C, SIGTERM, SIGHUP with [`Cancellation::on_signals`]). The
//! experiment's own failure (non-zero exit, OOM kill, timeout) is a [`ContainerOutcome`], not an
//! error (docs/exec.md, "Outcome of a container"). A [`ContainerGuard`] owns the container from its
//! creation: it is removed at the end of a normal run, on every error, and in `Drop` when the
//! future is dropped or a panic unwinds, unless the caller asked to leave it.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::{
    Capture, ContainerApi, Error, LABEL_RUN, OutputChunk, OutputStream, RegistryAuth, RunSpec,
};

/// When to pull an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull only when the image is not on this host (the default).
    #[default]
    IfMissing,
    /// Never pull (`--no-pull`); a missing image is an error.
    Never,
}

/// Make sure the image is on this host; returns whether it was pulled.
///
/// # Errors
/// [`Error::ImageMissing`] when it is absent and `policy` is [`PullPolicy::Never`];
/// [`Error::Pull`] when pulling fails.
pub async fn ensure_image<A: ContainerApi>(
    api: &A,
    image: &str,
    policy: PullPolicy,
    auth: Option<&RegistryAuth>,
) -> Result<bool, Error> {
    if api.image_present(image).await? {
        return Ok(false);
    }
    match policy {
        PullPolicy::Never => Err(Error::ImageMissing {
            image: image.to_owned(),
        }),
        PullPolicy::IfMissing => api.pull_image(image, auth).await.map(|()| true),
    }
}

/// How a container's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerOutcome {
    /// The container's id (removed by now unless it was to be left).
    pub container_id: String,
    /// The exit code of its process; `None` when it was killed at the timeout.
    pub exit_code: Option<i64>,
    /// The kernel's OOM killer fired in its memory cgroup (the exit code is then usually 137).
    pub oom_killed: bool,
    /// It ran longer than the timeout and was killed.
    pub timed_out: bool,
    /// Why the command could not be started (not found, not executable); `exit_code` is then
    /// 127 or 126.
    pub start_error: Option<String>,
}

impl ContainerOutcome {
    /// Exit code 0, no OOM kill, no timeout.
    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
            && !self.oom_killed
            && !self.timed_out
            && self.start_error.is_none()
    }
}

/// A cancellation flag shared by everything one `red` run started. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Cancellation {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Cancellation {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancellation {
    /// A flag that is not set.
    #[must_use]
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(false).0),
        }
    }

    /// A flag that SIGINT, SIGTERM or SIGHUP sets. Call it inside the runtime; after the first
    /// signal `red` cleans up and exits 130 instead of dying at once.
    ///
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn on_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let cancellation = Self::new();
        let flag = cancellation.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
            flag.cancel();
        });
        Ok(cancellation)
    }

    /// Set the flag.
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }

    /// Whether the flag is set.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once the flag is set.
    pub async fn cancelled(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }

    /// Resolves `grace` after the flag is set: for a last resort that gives the parts which
    /// watch the flag themselves time to end cleanly first.
    pub async fn cancelled_for(&self, grace: Duration) {
        self.cancelled().await;
        tokio::time::sleep(grace).await;
    }

    /// Set `stop` when the flag is set: for code on blocking threads (connectors), which checks
    /// a plain flag between steps. Abort the returned task once that code has ended.
    pub fn mirror_into(&self, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
        let cancellation = self.clone();
        tokio::spawn(async move {
            cancellation.cancelled().await;
            stop.store(true, Ordering::Relaxed);
        })
    }

    /// `future`'s output, or `None` as soon as the flag is set (the future is then dropped).
    pub async fn unless<T>(&self, future: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            () = self.cancelled() => None,
            output = future => Some(output),
        }
    }
}

/// Owns a created container: removes it when finished or dropped, unless it is to be left.
#[must_use = "dropping the guard removes the container"]
pub struct ContainerGuard<'a, A: ContainerApi> {
    api: &'a A,
    id: String,
    leave: bool,
    armed: bool,
}

impl<'a, A: ContainerApi> ContainerGuard<'a, A> {
    /// Guard container `id`; with `leave` set it is never removed (`--leave-container`).
    pub fn new(api: &'a A, id: String, leave: bool) -> Self {
        Self {
            api,
            id,
            leave,
            armed: true,
        }
    }

    /// The container's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Remove the container now (unless it is to be left).
    ///
    /// # Errors
    /// When the daemon fails to remove it.
    pub async fn finish(mut self) -> Result<(), Error> {
        if !self.leave {
            let removed = self.api.remove(&self.id).await;
            // Disarmed only now: if this future is dropped half-way, `Drop` still removes it.
            self.armed = false;
            return removed;
        }
        self.armed = false;
        Ok(())
    }
}

impl<A: ContainerApi> Drop for ContainerGuard<'_, A> {
    fn drop(&mut self) {
        if self.armed && !self.leave {
            // Nothing can be reported from here; `red` sweeps by label at the end of a run too.
            let _ = self.api.remove_blocking(&self.id);
        }
    }
}

enum Stop {
    Exited,
    TimedOut,
    Cancelled,
}

/// Create, start and wait for one container; then remove it unless `leave_container`.
///
/// The run ends when the process exits, when `timeout` passes (the container is killed and
/// the outcome says `timed_out`), or when `cancellation` fires (the container is killed and
/// [`Error::Interrupted`] returned). The container is removed on every path unless
/// `leave_container`; with it, a timed-out or interrupted container is killed but kept.
///
/// # Errors
/// Daemon failures, an invalid spec, and [`Error::Interrupted`]. The experiment failing is
/// not an error.
pub async fn run_container<A: ContainerApi>(
    api: &A,
    spec: &RunSpec,
    timeout: Option<Duration>,
    leave_container: bool,
    cancellation: &Cancellation,
) -> Result<ContainerOutcome, Error> {
    run_container_then(api, spec, timeout, leave_container, cancellation, || ()).await
}

/// [`run_container`], calling `stopped` as soon as the process has stopped and before the
/// container is removed: a caller that limits how many containers run at once can let the next
/// one start while this one is being removed.
///
/// # Errors
/// As [`run_container`].
pub async fn run_container_then<A: ContainerApi>(
    api: &A,
    spec: &RunSpec,
    timeout: Option<Duration>,
    leave_container: bool,
    cancellation: &Cancellation,
    stopped: impl FnOnce(),
) -> Result<ContainerOutcome, Error> {
    if cancellation.is_cancelled() {
        return Err(Error::Interrupted { id: String::new() });
    }
    let id = api.create(spec).await?;
    let guard = ContainerGuard::new(api, id, leave_container);
    let result = drive(api, spec, guard.id(), timeout, cancellation).await;
    stopped();
    match result {
        Ok(outcome) => guard.finish().await.map(|()| outcome),
        Err(error) => {
            // The run's error matters more than a failure to clean up after it.
            let _ = guard.finish().await;
            Err(error)
        }
    }
}

async fn drive<A: ContainerApi>(
    api: &A,
    spec: &RunSpec,
    id: &str,
    timeout: Option<Duration>,
    cancellation: &Cancellation,
) -> Result<ContainerOutcome, Error> {
    let output = match &spec.capture {
        Some(capture) => Some((api.attach(id).await?, OutputFiles::create(capture)?)),
        None => None,
    };
    match api.start(id).await {
        Ok(()) => {}
        Err(Error::CommandNotStarted {
            exit_code, message, ..
        }) => {
            return Ok(ContainerOutcome {
                container_id: id.to_owned(),
                exit_code: Some(exit_code),
                oom_killed: false,
                timed_out: false,
                start_error: Some(message),
            });
        }
        Err(error) => return Err(error),
    }
    let deadline = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    let stop = tokio::select! {
        biased;
        () = cancellation.cancelled() => Stop::Cancelled,
        finished = async {
            // The output stream ends when the container exits; both must be done.
            tokio::try_join!(api.wait(id), copy_output(output)).map(|_| ())
        } => finished.map(|()| Stop::Exited)?,
        () = deadline => Stop::TimedOut,
    };
    let outcome = |exit_code, oom_killed, timed_out| ContainerOutcome {
        container_id: id.to_owned(),
        exit_code,
        oom_killed,
        timed_out,
        start_error: None,
    };
    match stop {
        Stop::Exited => {
            let state = api.inspect(id).await?;
            Ok(outcome(state.exit_code, state.oom_killed, false))
        }
        Stop::TimedOut => {
            api.kill(id).await?;
            Ok(outcome(None, false, true))
        }
        Stop::Cancelled => {
            api.kill(id).await?;
            Err(Error::Interrupted { id: id.to_owned() })
        }
    }
}

/// The open host files of a [`Capture`].
struct OutputFiles {
    stdout: (PathBuf, File),
    /// `None` when stderr goes to the stdout file.
    stderr: Option<(PathBuf, File)>,
}

impl OutputFiles {
    fn create(capture: &Capture) -> Result<Self, Error> {
        let open = |path: &PathBuf| {
            File::create(path)
                .map(|file| (path.clone(), file))
                .map_err(|source| Error::Output {
                    path: path.clone(),
                    source,
                })
        };
        let stdout = open(&capture.stdout)?;
        let stderr = if capture.stderr == capture.stdout {
            None
        } else {
            Some(open(&capture.stderr)?)
        };
        Ok(Self { stdout, stderr })
    }
}

/// Write every chunk to its file as it arrives (memory stays bounded by one chunk).
async fn copy_output(output: Option<(OutputStream, OutputFiles)>) -> Result<(), Error> {
    let Some((mut stream, mut files)) = output else {
        return Ok(());
    };
    while let Some(chunk) = stream.next().await {
        let (bytes, (path, file)) = match chunk? {
            OutputChunk::Stdout(bytes) => (bytes, &mut files.stdout),
            OutputChunk::Stderr(bytes) => {
                (bytes, files.stderr.as_mut().unwrap_or(&mut files.stdout))
            }
        };
        file.write_all(&bytes).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
    }
    for (path, file) in std::iter::once(&mut files.stdout).chain(files.stderr.as_mut()) {
        file.flush().map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Remove every container of run `run_id` (label `org.red.run`); returns how many there were.
/// A sweep for the end of a run, after the guards, in case a guard could not do its work.
///
/// # Errors
/// When listing fails; removal failures are collected into the first error.
pub async fn remove_labelled<A: ContainerApi>(api: &A, run_id: &str) -> Result<usize, Error> {
    let ids = api.list_labelled(LABEL_RUN, run_id).await?;
    let mut first_error = None;
    for id in &ids {
        if let Err(error) = api.remove(id).await {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(ids.len()), Err)
}
