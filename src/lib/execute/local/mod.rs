//! Running a planned experiment on this machine: `red exec`.
//!
//! This is the reference's agent moved out of the container and onto the host (docs/exec.md,
//! "What happens to one batch"). For each batch, connectors running in `red`'s own process put the
//! inputs in a private run directory (mode 0700 under `$TMPDIR`), the container gets them
//! bind-mounted read-only at the planned paths and its working directory `/cc/outputs` bind-mounted
//! read-write, the planned argv runs as the container's command with the image's entrypoint
//! replaced (no shell, no Python, nothing of ours in the image), and afterwards the outputs are
//! found by glob and delivered. Secrets stay in this process: they are handed to connectors in
//! memory and never reach the container, its environment, its labels or its filesystem.
//!
//! Batches run concurrently up to `jobs`, each in its own container. Everything a batch creates
//! is owned by a guard (container, mounts, run directory), so it is removed on success, failure,
//! panic and cancellation alike.

pub(crate) mod batch;
pub mod facts;
pub mod image;
pub(crate) mod prepare;
pub mod provenance;
pub mod report;
mod resume;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::connector;
use crate::diagnostic::Diagnostic;
use crate::execute::docker::{
    self, Bollard, Cancellation, ContainerUser, NetworkMode, PullPolicy, RegistryAuth,
    remove_labelled,
};
use crate::fill::Filled;
use crate::gpus::{self, Selection};
use crate::plan::Plan;

pub use batch::{RECORD_FILE, RECORDS_DIR};
pub use report::{BatchReport, Event, Events, NoEvents, RunReport, State};

/// The error for a document that runs on a CC-Agency server, not here
/// (`execution.engine: ccagency`); `None` for any other document. It needs no filled value, so
/// `red exec` says it before it asks for any.
#[must_use]
pub fn remote_engine(tree: &crate::tree::Tree) -> Option<Diagnostic> {
    let engine = tree.root().pointer("/execution/engine")?;
    (engine.as_str() == Some("ccagency")).then(|| {
        Diagnostic::error(
            "engine",
            "this file runs on a CC-Agency server (`execution.engine: ccagency`), not here",
        )
        .at(engine.span().start)
        .pointer("/execution/engine")
        .hint("submit it with `red submit`, or set `engine: ccfaice` to run it here")
    })
}

/// How to run.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Batches running at once (at least 1).
    pub jobs: usize,
    /// Replaces `./outputs`: a single batch writes into it, batch `i` of several into
    /// `<dir>/<i>`. `None`: the reference's `./outputs` and `./outputs_<i>`.
    pub outputs: Option<PathBuf>,
    /// Where relative paths of local connectors start (the RED file's directory).
    pub base_dir: PathBuf,
    /// Whether to pull a missing image.
    pub pull: PullPolicy,
    /// Keep containers after they stop (`--leave-container`).
    pub leave_container: bool,
    /// Restrict or force GPUs (`--gpu-ids`).
    pub gpu_ids: Option<Vec<String>>,
    /// The container network.
    pub network: NetworkMode,
    /// Who the command runs as.
    pub user: ContainerUser,
    /// Kill a batch's command after this long.
    pub timeout: Option<Duration>,
    /// Start no new batch after one failed.
    pub fail_fast: bool,
    /// When a connector's transfer has stalled (see [`connector::Context::stall`]).
    pub stall_timeout: Duration,
    /// `NAME=value` entries for the container's environment (`--preserve-environment`,
    /// checked by [`crate::execute::environment::preserve`]). Never secrets.
    pub env: Vec<String>,
    /// Check every access block with its connector before anything runs (the reference's
    /// `*-validate`); `false` with `--disable-connector-validation`.
    pub check_connectors: bool,
    /// What each batch's provenance crate copies (the RED file without secrets, the CWL
    /// tool); `None` leaves them out of the crate.
    pub documents: Option<Arc<provenance::Documents>>,
    /// Run only the batches whose record in the outputs directory does not say `succeeded`
    /// (`--resume`); the others are kept as they are.
    pub resume: bool,
    /// Refuse an image whose digest differs from the pin in its reference (`--verify`).
    pub verify: bool,
}

/// Why a run could not be carried out at all (a batch failing is not one: see
/// [`RunReport`]).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Connectors that do not exist or access blocks they refuse.
    #[error("{} connector problem(s)", .0.len())]
    Invalid(Vec<Diagnostic>),
    /// The plan has no batch.
    #[error("the file has no batch to run")]
    Empty,
    /// SIGINT, SIGTERM or SIGHUP came before any batch started, or the run did not end in
    /// time after one.
    #[error("interrupted")]
    Interrupted,
    /// Docker could not be used.
    #[error(transparent)]
    Docker(#[from] docker::Error),
    /// GPUs were asked for and cannot be given.
    #[error(transparent)]
    Gpu(#[from] gpus::Error),
    /// The image on this host is not the one its reference pins (`--verify`), located at the
    /// reference in the file.
    #[error("{}", .0.message)]
    Verify(Box<Diagnostic>),
    /// Another run writes into the same outputs directory.
    #[error(transparent)]
    Lock(#[from] crate::run_lock::Error),
    /// The private run directory could not be made.
    #[error("cannot create the run directory `{path}`")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What every batch of one run shares, owned, for the blocking threads that move data.
#[derive(Clone)]
pub(crate) struct Worker {
    pub(crate) connector_context: connector::Context,
    pub(crate) events: Arc<dyn Events>,
}

/// What every batch of one run shares.
pub(crate) struct Shared<'a> {
    api: &'a Bollard,
    options: &'a ExecOptions,
    run_id: &'a str,
    run_dir: &'a Path,
    image: &'a str,
    gpus: Option<Selection>,
    cancellation: &'a Cancellation,
    several: bool,
    worker: Worker,
    events: Arc<dyn Events>,
    /// One permit per container allowed to run at once (`jobs`). A batch holds one from before
    /// its inputs are received until its process stops; removing the container and delivering
    /// outputs happen outside it, so the next batch can start meanwhile.
    slots: tokio::sync::Semaphore,
    /// Set when a batch did not succeed (`--fail-fast` starts nothing after that).
    failed: AtomicBool,
    /// What every batch's record says about the image, the host and `red`.
    setup: facts::Setup,
}

impl Shared<'_> {
    fn blocking_part(&self) -> Worker {
        self.worker.clone()
    }

    /// The host directory for batch `index`'s outputs and records.
    fn output_dir(&self, index: usize) -> PathBuf {
        output_dir(self.options.outputs.as_deref(), self.several, index)
    }

    /// The mode of a batch's working directory: the invoking user owns it, so 0755 is enough,
    /// unless the command runs as the image's user, who may be anyone.
    fn work_mode(&self) -> u32 {
        match self.options.user {
            ContainerUser::Image => 0o777,
            ContainerUser::Ids { .. } => 0o755,
        }
    }
}

/// The directory relative local paths start from: the RED file's own.
#[must_use]
pub fn base_dir(file: &Path) -> PathBuf {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The host directory for batch `index`'s outputs (see [`ExecOptions::outputs`]).
#[must_use]
pub fn output_dir(outputs: Option<&Path>, several: bool, index: usize) -> PathBuf {
    match (outputs, several) {
        (None, false) => PathBuf::from("outputs"),
        (None, true) => PathBuf::from(format!("outputs_{index}")),
        (Some(dir), false) => dir.to_path_buf(),
        (Some(dir), true) => dir.join(index.to_string()),
    }
}

/// How long a blocking step may go on after the run was cancelled before it is left behind.
/// Connectors watch the stop flag and end well within it; one that does not (a peer stuck in a
/// system call) must not hold `red`, whose run directory and process end go on regardless.
pub(crate) const STOP_GRACE: Duration = Duration::from_millis(500);

/// The directory a run owns while it runs (see [`crate::run_lock`]): the outputs directory of a
/// single batch, the `--outputs` directory that holds those of several, and for several without
/// `--outputs` the working directory, which holds `./outputs_<i>`.
#[must_use]
pub fn outputs_root(outputs: Option<&Path>, several: bool) -> PathBuf {
    match (outputs, several) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, false) => PathBuf::from("outputs"),
        (None, true) => PathBuf::from("."),
    }
}

/// Run a closure on a blocking thread; a panic there becomes a message.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("a worker thread failed: {e}"))
}

/// [`blocking`], but once `cancellation` fires this waits [`STOP_GRACE`] at most before it
/// stops waiting (the thread is left to end on its own, or with the process).
pub(crate) async fn blocking_until<T: Send + 'static>(
    cancellation: &Cancellation,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let task = tokio::task::spawn_blocking(work);
    tokio::select! {
        joined = task => joined.map_err(|e| format!("a worker thread failed: {e}")),
        () = cancellation.cancelled_for(STOP_GRACE) => Err("interrupted".to_owned()),
    }
}

/// The private directory of one run, removed when dropped. It is never removed while something
/// is still mounted inside it: a read-write mount would otherwise lose remote data.
pub(crate) struct RunDir {
    pub(crate) path: PathBuf,
}

impl RunDir {
    /// Make `$TMPDIR/red-run-<run_id>` with mode 0700.
    pub(crate) fn create(run_id: &str) -> Result<Self, ExecError> {
        let path = std::env::temp_dir().join(format!("red-run-{run_id}"));
        let made = fs::create_dir(&path)
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o700)));
        made.map_err(|source| ExecError::RunDir {
            path: path.clone(),
            source,
        })?;
        Ok(Self { path })
    }

    fn mounts_inside(&self) -> Vec<String> {
        let prefix = format!("{}/", self.path.display());
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|mount| mount.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        for mount in self.mounts_inside() {
            for (program, args) in [("fusermount3", ["-u", "-z"]), ("fusermount", ["-u", "-z"])] {
                let done = std::process::Command::new(program)
                    .args(args)
                    .arg(&mount)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if done {
                    break;
                }
            }
        }
        if self.mounts_inside().is_empty() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Registry credentials from the filled `container.settings.image.auth`.
fn registry_auth(filled: &Filled) -> Option<RegistryAuth> {
    let auth = filled
        .tree()
        .root()
        .pointer("/container/settings/image/auth")?;
    let field = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| auth.get(name).and_then(|n| n.as_str()))
            .map(str::to_owned)
    };
    Some(RegistryAuth::new(
        field(["username", "_username"])?,
        field(["password", "_password"])?,
    ))
}

/// The GPUs every batch's container gets, when the file or `--gpu-ids` asks for any.
fn choose_gpus(filled: &Filled, options: &ExecOptions) -> Result<Option<Selection>, ExecError> {
    let requirements = filled
        .tree()
        .root()
        .pointer("/container/settings/gpus")
        .and_then(gpus::requirements)
        .unwrap_or_default();
    if requirements.is_empty() && options.gpu_ids.is_none() {
        return Ok(None);
    }
    let found = gpus::discover()?;
    Ok(gpus::choose(
        &requirements,
        &found,
        options.gpu_ids.as_deref(),
    )?)
}

/// What every batch's record says about its setup: the image as the daemon holds it (nothing
/// when it cannot say), the host and its chosen GPUs, `red`'s version.
async fn setup(
    api: &Bollard,
    image: &str,
    gpus: Option<&Selection>,
    cancellation: &Cancellation,
) -> facts::Setup {
    let identity = cancellation
        .unless(api.image_ids(image))
        .await
        .and_then(Result::ok)
        .flatten();
    facts::Setup {
        image: Some(facts::ImageFacts::new(image, identity)),
        host: Some(facts::HostFacts::here(gpus)),
        red_version: facts::RED_VERSION.to_owned(),
        ..facts::Setup::default()
    }
}

/// Run every batch of `plan` (with [`ExecOptions::resume`], those an earlier run did not
/// finish). Connectors are checked first (all problems at once, located in the file); then the
/// image is made present (and with [`ExecOptions::verify`] checked against its pin), GPUs are
/// chosen, and batches run up to `options.jobs` at once.
///
/// # Errors
/// When the run cannot start: connector problems, Docker unreachable, the image missing or not
/// the pinned one, GPUs unavailable, no run directory. Batch failures are in the report.
pub async fn run(
    filled: &Filled,
    plan: &Plan,
    options: &ExecOptions,
    events: Arc<dyn Events>,
    cancellation: &Cancellation,
) -> Result<RunReport, ExecError> {
    let started = Instant::now();
    let several = filled.tree().root().get("batches").is_some();
    let image = plan
        .batches
        .first()
        .map(|b| b.container.image.clone())
        .ok_or(ExecError::Empty)?;
    let lock = || {
        crate::run_lock::RunLock::acquire(
            &outputs_root(options.outputs.as_deref(), several),
            "--outputs",
        )
    };
    // Held until every batch has delivered and written its record. A resume reads the records
    // under it, so it takes it first; otherwise connector problems are found before it, and a
    // refused file leaves no outputs directory behind.
    let (_lock, resumed) = if options.resume {
        let held = lock()?;
        let resumed = resume::split(plan, options.outputs.as_deref(), several);
        (Some(held), Some(resumed))
    } else {
        (None, None)
    };
    let (plan, kept) = match &resumed {
        Some(resumed) => (&resumed.plan, resumed.kept.clone()),
        None => (plan, Vec::new()),
    };
    let prepared = prepare::batches(filled, plan, several, options.check_connectors)
        .map_err(ExecError::Invalid)?;
    let _lock = match _lock {
        Some(held) => held,
        None => lock()?,
    };
    let start = Start {
        run_id: uuid::Uuid::new_v4().simple().to_string(),
        image,
        jobs: options.jobs.max(1),
        kept,
    };
    if prepared.is_empty() {
        start.announce(events.as_ref(), 0, options, several);
        return Ok(start.report(State::Succeeded, Vec::new(), started));
    }
    // A daemon that accepts and never answers must not hold Ctrl-C.
    let api = cancellation
        .unless(Bollard::connect())
        .await
        .ok_or(ExecError::Interrupted)??;
    let runs = image::ready(&api, filled, &start.image, options, cancellation).await?;
    let gpus = choose_gpus(filled, options)?;
    let setup = setup(&api, &start.image, gpus.as_ref(), cancellation).await;
    let run_dir = RunDir::create(&start.run_id)?;
    // The ssh client's key file and askpass socket live in the run directory, so a transfer
    // an interrupt leaves behind leaves nothing once it is removed.
    let mut prepared = prepared;
    prepare::keep_ssh_files_in(&mut prepared, &run_dir.path);
    start.announce(events.as_ref(), prepared.len(), options, several);
    let context = Context {
        api: &api,
        options,
        run_dir: &run_dir.path,
        image: &runs,
        gpus,
        several,
        setup,
    };
    let reports = run_batches(&context, &start, prepared, events, cancellation).await;
    if !options.leave_container {
        // The guards removed every container; this sweep is for the one a guard could not.
        let _ = remove_labelled(&api, &start.run_id).await;
    }
    drop(run_dir);
    let state = if cancellation.is_cancelled() {
        State::Cancelled
    } else if reports.iter().all(|r| r.state == State::Succeeded) {
        State::Succeeded
    } else {
        State::Failed
    };
    Ok(start.report(state, reports, started))
}

/// What a run knows before its first batch: its id, image, slots and the batches it keeps.
struct Start {
    run_id: String,
    image: String,
    jobs: usize,
    kept: Vec<usize>,
}

impl Start {
    /// `run-started`, then a `batch-kept` for every batch a resume leaves as it is.
    fn announce(&self, events: &dyn Events, batches: usize, options: &ExecOptions, several: bool) {
        events.emit(&Event::RunStarted {
            run_id: self.run_id.clone(),
            batches,
            jobs: self.jobs,
            image: self.image.clone(),
        });
        for &batch in &self.kept {
            events.emit(&Event::BatchKept {
                batch,
                output_dir: output_dir(options.outputs.as_deref(), several, batch)
                    .display()
                    .to_string(),
            });
        }
    }

    fn report(self, state: State, batches: Vec<BatchReport>, started: Instant) -> RunReport {
        RunReport {
            run_id: self.run_id,
            state,
            batches,
            kept: self.kept,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// What the batches of a run need that was found before they start.
struct Context<'a> {
    api: &'a Bollard,
    options: &'a ExecOptions,
    run_dir: &'a Path,
    /// The image reference containers are created from (its content id once verified).
    image: &'a str,
    gpus: Option<Selection>,
    several: bool,
    /// What every batch's record says about the image, the host and `red`.
    setup: facts::Setup,
}

/// Run `prepared` up to `jobs` at once; their reports in index order.
async fn run_batches(
    context: &Context<'_>,
    start: &Start,
    prepared: Vec<prepare::Batch>,
    events: Arc<dyn Events>,
    cancellation: &Cancellation,
) -> Vec<BatchReport> {
    let stop = Arc::new(AtomicBool::new(false));
    let bridge = cancellation.mirror_into(Arc::clone(&stop));
    let options = context.options;
    let shared = Shared {
        api: context.api,
        options,
        run_id: &start.run_id,
        run_dir: context.run_dir,
        image: context.image,
        gpus: context.gpus.clone(),
        cancellation,
        several: context.several,
        worker: Worker {
            connector_context: connector::Context {
                base_dir: options.base_dir.clone(),
                stop: Arc::clone(&stop),
                progress: Arc::new(connector::NoProgress),
                stall: options.stall_timeout,
            },
            events: Arc::clone(&events),
        },
        events,
        slots: tokio::sync::Semaphore::new(start.jobs),
        failed: AtomicBool::new(false),
        setup: context.setup.clone(),
    };
    let shared = &shared;
    let mut reports: Vec<BatchReport> = futures_util::stream::iter(prepared)
        .map(|batch| batch::run_or_skip(batch, shared))
        // Twice as many batches in flight as slots: the extra ones are removing their container
        // or delivering outputs while the next ones run.
        .buffer_unordered(start.jobs.saturating_mul(2))
        .collect()
        .await;
    bridge.abort();
    reports.sort_by_key(|r| r.batch);
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_directories_follow_the_reference_unless_told_otherwise() {
        assert_eq!(output_dir(None, false, 0), PathBuf::from("outputs"));
        assert_eq!(output_dir(None, true, 3), PathBuf::from("outputs_3"));
        let dir = Path::new("/tmp/x");
        assert_eq!(output_dir(Some(dir), false, 0), PathBuf::from("/tmp/x"));
        assert_eq!(output_dir(Some(dir), true, 2), PathBuf::from("/tmp/x/2"));
        // A run's lock covers every output directory it writes.
        assert_eq!(outputs_root(None, false), PathBuf::from("outputs"));
        assert_eq!(outputs_root(None, true), PathBuf::from("."));
        assert_eq!(outputs_root(Some(dir), false), dir);
        assert_eq!(outputs_root(Some(dir), true), dir);
    }

    #[test]
    fn the_run_directory_is_private_and_removed() {
        let id = format!("test-{}", uuid::Uuid::new_v4().simple());
        let dir = RunDir::create(&id).unwrap();
        let path = dir.path.clone();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let inner = path.join("batch-0").join("work");
        fs::create_dir_all(&inner).unwrap();
        fs::write(inner.join("f"), "x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
