//! [`RunSpec`]: everything that defines one experiment container, and its translation into the
//! Docker Engine API's create request.
//!
//! The spec holds no secret by construction: the environment, labels and command are visible
//! to anyone who can run `docker inspect`, so fill-stage secrets must never be put there (the
//! registry credentials travel separately, see [`super::RegistryAuth`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, HostConfigLogConfig, Mount, MountType,
    ResourcesUlimits,
};

use super::{Error, LABEL_BATCH, LABEL_MANAGED, LABEL_RUN};
use crate::gpus::Selection;

/// The largest memory limit Docker can be given; planning owns it, since validation refuses a
/// larger `ram` before anything runs.
pub use crate::plan::MAX_MEMORY_MB;

/// The user the container's process runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerUser {
    /// The image's `USER` (what the reference does).
    Image,
    /// This uid and gid (`--user uid:gid`); the default is the invoking user's, so that files
    /// written to bind-mounted outputs belong to them.
    Ids {
        /// The numeric user id.
        uid: u32,
        /// The numeric group id.
        gid: u32,
    },
}

impl ContainerUser {
    /// The uid and gid of the process running `red`.
    #[must_use]
    pub fn invoking() -> Self {
        Self::Ids {
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        }
    }
}

/// The container's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Docker's default bridge: outgoing connections allowed (the reference's behaviour).
    Bridge,
    /// No network at all, only loopback: `red`'s default, since connectors run on the host and
    /// an experiment that reaches the network is not reproducible.
    #[default]
    None,
    /// The host's network stack.
    Host,
}

impl NetworkMode {
    /// The name Docker uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Bridge => "bridge",
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
    }
}

/// A host path made visible in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The absolute path on the host; it must exist.
    pub host: PathBuf,
    /// The absolute path in the container.
    pub container: String,
    /// Mount it read-only.
    pub read_only: bool,
}

/// Host files that receive the container's standard output and error, byte for byte, as it
/// runs (RED's `cli.stdout` / `cli.stderr`, or red's own record of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Created (or truncated) before the container starts.
    pub stdout: PathBuf,
    /// Created (or truncated) before the container starts; may be the same path as `stdout`.
    pub stderr: PathBuf,
}

/// One experiment container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The image reference (`name[:tag]` or `name@digest`).
    pub image: String,
    /// The command, run as is: it becomes the container's `Cmd` and the image's `ENTRYPOINT`
    /// is replaced by an empty one, so no shell and no wrapper sees it. Must not be empty.
    pub argv: Vec<String>,
    /// The working directory in the container (`/cc/outputs` for RED experiments).
    pub working_dir: String,
    /// The user the process runs as.
    pub user: ContainerUser,
    /// `NAME=value` entries. Never secrets.
    pub env: Vec<String>,
    /// Host paths to mount.
    pub binds: Vec<Bind>,
    /// Memory limit in MiB (RED's `ram`); swap is not allowed beyond it. `None`: unlimited.
    pub memory_mb: Option<u64>,
    /// The network.
    pub network: NetworkMode,
    /// Labels; [`RunSpec::labels_for`] gives the ones every `red` container carries.
    pub labels: BTreeMap<String, String>,
    /// GPUs handed to the container, if any.
    pub gpus: Option<Selection>,
    /// Where its standard output and error go; `None`: they are discarded (Docker's log keeps
    /// them until the container is removed).
    pub capture: Option<Capture>,
}

impl RunSpec {
    /// The labels of batch `batch` of run `run_id`: `org.red.managed=true`,
    /// `org.red.run=<run_id>`, `org.red.batch=<batch>`.
    #[must_use]
    pub fn labels_for(run_id: &str, batch: usize) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_RUN.to_owned(), run_id.to_owned()),
            (LABEL_BATCH.to_owned(), batch.to_string()),
        ])
    }

    /// The Docker Engine API create request for this spec.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] for an empty command, a memory limit that does not fit, or a
    /// relative container path.
    pub fn to_create_body(&self) -> Result<ContainerCreateBody, Error> {
        if self.argv.is_empty() {
            return Err(Error::InvalidSpec("the command is empty".to_owned()));
        }
        for bind in &self.binds {
            if !bind.container.starts_with('/') || !bind.host.is_absolute() {
                return Err(Error::InvalidSpec(format!(
                    "bind mount `{}` → `{}` needs absolute paths",
                    bind.host.display(),
                    bind.container
                )));
            }
        }
        let memory = match self.memory_mb {
            None => None,
            Some(mb) => Some(
                Some(mb)
                    .filter(|mb| *mb <= MAX_MEMORY_MB)
                    .and_then(|mb| i64::try_from(mb * 1024 * 1024).ok())
                    .ok_or_else(|| {
                        Error::InvalidSpec(format!("memory limit `{mb}` MB is too large"))
                    })?,
            ),
        };
        // Whatever the caller set, every container of `red` can be found by this label.
        let mut labels: HashMap<String, String> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.insert(LABEL_MANAGED.to_owned(), "true".to_owned());
        let mut env = self.env.clone();
        let device_requests = self.gpus.as_ref().map(|selection| {
            env.push(format!(
                "NVIDIA_VISIBLE_DEVICES={}",
                selection.visible_devices()
            ));
            vec![gpu_device_request(selection)]
        });
        let mounts = self
            .binds
            .iter()
            .map(|bind| Mount {
                target: Some(bind.container.clone()),
                source: Some(bind.host.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(bind.read_only),
                ..Mount::default()
            })
            .collect();
        let host_config = HostConfig {
            memory,
            // Equal to `memory`: no swap on top of the limit (as the reference; docs/exec.md,
            // "Memory").
            memory_swap: memory,
            mounts: Some(mounts),
            network_mode: Some(self.network.as_str().to_owned()),
            device_requests,
            ulimits: Some(vec![ResourcesUlimits {
                name: Some("nofile".to_owned()),
                soft: Some(4096),
                hard: Some(4096),
            }]),
            log_config: self.capture.as_ref().map(|_| HostConfigLogConfig {
                // The output is streamed to the host files as it comes; a daemon log would be
                // a second, unbounded copy of it.
                typ: Some("none".to_owned()),
                config: None,
            }),
            ..HostConfig::default()
        };
        Ok(ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(self.argv.clone()),
            // An empty (not absent) entrypoint replaces the image's, so `argv` runs as given.
            entrypoint: Some(Vec::new()),
            working_dir: Some(self.working_dir.clone()),
            user: match self.user {
                ContainerUser::Image => None,
                ContainerUser::Ids { uid, gid } => Some(format!("{uid}:{gid}")),
            },
            env: Some(env),
            labels: Some(labels),
            tty: Some(false),
            open_stdin: Some(false),
            attach_stdin: Some(false),
            host_config: Some(host_config),
            ..ContainerCreateBody::default()
        })
    }
}

/// The NVIDIA device request for the chosen GPUs.
pub(crate) fn gpu_device_request(selection: &Selection) -> DeviceRequest {
    DeviceRequest {
        driver: Some("nvidia".to_owned()),
        count: None,
        device_ids: Some(selection.device_ids()),
        capabilities: Some(vec![vec!["gpu".to_owned()]]),
        options: Some(HashMap::new()),
    }
}

/// Split an image reference into what the pull API wants: the repository and the tag (or
/// digest). A reference without either gets `latest`; without it the daemon would pull every
/// tag of the repository.
#[must_use]
pub fn split_image_reference(image: &str) -> (&str, &str) {
    if let Some((repository, digest)) = image.split_once('@') {
        return (repository, digest);
    }
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[name_start..].rfind(':') {
        Some(colon) => (
            &image[..name_start + colon],
            &image[name_start + colon + 1..],
        ),
        None => (image, "latest"),
    }
}

/// The registry host of an image reference, for the credentials' `serveraddress`: the first
/// path component when it looks like a host (has `.` or `:`, or is `localhost`).
pub(crate) fn registry_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}
