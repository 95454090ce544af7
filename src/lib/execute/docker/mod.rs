//! Local Docker: the few daemon calls `red` makes, behind the [`ContainerApi`] seam, and their
//! implementation with `bollard` ([`Bollard`]).
//!
//! [`RunSpec`] says what one container is (no secrets can be put in it), [`run_container`] runs
//! it to an [`ContainerOutcome`], and [`ContainerGuard`] makes sure it is removed on every exit
//! path. The contract (user, network, labels, memory, GPUs, cleanup) is written down for users in
//! `docs/exec.md`.
//!
//! The seam is narrow on purpose (docs/testing.md, "Fakes"): unit tests drive [`run_container`]
//! with an in-memory fake, and `tests/it/docker.rs` drives it with [`Bollard`] against a real
//! daemon.

mod bollard_api;
pub mod pin;
mod run;
mod spec;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use futures_util::Stream;

pub use bollard_api::{API_TIMEOUT, Bollard, CONNECT_TIMEOUT, DEFAULT_HOST};
pub use pin::ImageIds;
pub use run::{
    Cancellation, ContainerGuard, ContainerOutcome, PullPolicy, ensure_image, remove_labelled,
    run_container, run_container_then,
};
pub(crate) use spec::registry_host;
pub use spec::{
    Bind, Capture, ContainerUser, MAX_MEMORY_MB, NetworkMode, RunSpec, split_image_reference,
};

/// The label every container `red` creates carries, with the value `true`.
pub const LABEL_MANAGED: &str = "org.red.managed";
/// The label holding the run id (one `red exec` invocation).
pub const LABEL_RUN: &str = "org.red.run";
/// The label holding the batch index within the run.
pub const LABEL_BATCH: &str = "org.red.batch";

/// Errors of the Docker daemon and of `red`'s use of it. An experiment that exits non-zero, is
/// killed for memory or runs out of time is not an error: see [`ContainerOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No daemon answers at the address used.
    #[error("cannot reach the Docker daemon at `{host}`")]
    Connect {
        /// `DOCKER_HOST`, or the default socket.
        host: String,
        /// What bollard said.
        #[source]
        source: bollard::errors::Error,
    },
    /// The image is not on this host and pulling is off.
    #[error("image `{image}` is not present on this host and pulling is disabled (--no-pull)")]
    ImageMissing {
        /// The image reference.
        image: String,
    },
    /// Pulling the image failed.
    #[error("could not pull image `{image}`")]
    Pull {
        /// The image reference.
        image: String,
        /// What the daemon said.
        #[source]
        source: bollard::errors::Error,
    },
    /// The spec cannot describe a container.
    #[error("invalid container specification: {0}")]
    InvalidSpec(String),
    /// A daemon call failed.
    #[error("the Docker daemon could not {action} `{target}`")]
    Daemon {
        /// What `red` asked for (`create a container from`, `start`, …).
        action: &'static str,
        /// The image or container concerned.
        target: String,
        /// What the daemon said.
        #[source]
        source: bollard::errors::Error,
    },
    /// The cleanup thread could not be started or did not finish.
    #[error("could not remove container `{id}`: {reason}")]
    Cleanup {
        /// The container.
        id: String,
        /// Why.
        reason: String,
    },
    /// The container's output could not be written to a host file.
    #[error("could not write the container's output to `{path}`")]
    Output {
        /// The host file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command could not be started in the container (not found: `exit_code` 127; not
    /// executable: 126, as the Docker CLI and shells report them). [`run_container`] turns this
    /// into a [`ContainerOutcome`] with `start_error` set: it is the experiment's failure.
    #[error("the command could not be started in container `{id}`: {message}")]
    CommandNotStarted {
        /// The container.
        id: String,
        /// 127 or 126.
        exit_code: i64,
        /// What the daemon said.
        message: String,
    },
    /// The run was cancelled (Ctrl-C, SIGTERM, SIGHUP); the container was stopped and removed
    /// (or only stopped, with `--leave-container`).
    #[error("the run was interrupted")]
    Interrupted {
        /// The container, or empty when none had been created yet.
        id: String,
    },
}

/// A piece of a container's output, as the daemon sends it while the container runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputChunk {
    /// Bytes the process wrote to its standard output.
    Stdout(Vec<u8>),
    /// Bytes the process wrote to its standard error.
    Stderr(Vec<u8>),
}

/// A container's output, chunk by chunk, until it exits.
pub type OutputStream = Pin<Box<dyn Stream<Item = Result<OutputChunk, Error>> + Send>>;

/// What `red` needs to know about a container after it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerState {
    /// Whether it is still running.
    pub running: bool,
    /// Its exit code, once stopped.
    pub exit_code: Option<i64>,
    /// Whether the kernel's OOM killer fired in its memory cgroup.
    pub oom_killed: bool,
}

/// Credentials for pulling an image, from the filled RED file's `image.auth`. They go to the
/// daemon in the pull request only; `Debug` masks them and there is no `Display`.
#[derive(Clone)]
pub struct RegistryAuth {
    username: zeroize::Zeroizing<String>,
    password: zeroize::Zeroizing<String>,
}

impl RegistryAuth {
    /// Wrap a user name and password.
    #[must_use]
    pub fn new(username: String, password: String) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    pub(crate) fn username(&self) -> &str {
        &self.username
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RegistryAuth { username: ********, password: ******** }")
    }
}

/// The daemon calls `red` makes. [`Bollard`] is the real one; tests may provide a fake.
///
/// Every method that names a container takes its id. `remove` and `kill` treat a container
/// that is already gone (or already stopped) as done.
pub trait ContainerApi: Send + Sync {
    /// Whether the image is on this host.
    fn image_present(&self, image: &str) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Pull the image (tag `latest` when none is given).
    fn pull_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Create the container; returns its id.
    fn create(&self, spec: &RunSpec) -> impl Future<Output = Result<String, Error>> + Send;
    /// Attach to a created container's standard output and error. Called before `start`, so
    /// nothing is missed; the stream ends when the container exits.
    fn attach(&self, id: &str) -> impl Future<Output = Result<OutputStream, Error>> + Send;
    /// Start it.
    fn start(&self, id: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// Wait until it is not running. Its exit code is read with [`ContainerApi::inspect`].
    fn wait(&self, id: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// Its state.
    fn inspect(&self, id: &str) -> impl Future<Output = Result<ContainerState, Error>> + Send;
    /// Send it SIGKILL; a container that is not running is fine.
    fn kill(&self, id: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// Remove it, killing it first if needed, with its anonymous volumes; a container that is
    /// gone already is fine.
    fn remove(&self, id: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// The same as [`ContainerApi::remove`], callable from `Drop` in any context (inside or
    /// outside a runtime, while panicking).
    ///
    /// # Errors
    /// As `remove`.
    fn remove_blocking(&self, id: &str) -> Result<(), Error>;
    /// The ids of all containers (running or not) carrying label `key=value`.
    fn list_labelled(
        &self,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send;
}

#[cfg(test)]
mod tests;
