//! [`Bollard`]: the [`ContainerApi`] of a real Docker daemon, through the `bollard` crate.
//!
//! The address is `DOCKER_HOST` (`unix://…` or `tcp://…`) or the default socket
//! `/var/run/docker.sock`. The API version is negotiated with the daemon, so Debian's docker.io
//! 20.10 (API 1.41) works as well as current releases. Pitfall of bollard 0.21 handled here:
//! bollard's `wait_container` reports a non-zero exit as an error; `wait` treats that as the
//! container having stopped.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptions, CreateImageOptionsBuilder,
    KillContainerOptions, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, WaitContainerOptionsBuilder,
};
use futures_util::{StreamExt, TryStreamExt};

use super::spec::{registry_host, split_image_reference};
use super::{
    ContainerApi, ContainerState, Error, OutputChunk, OutputStream, RegistryAuth, RunSpec,
};

/// The daemon address used when `DOCKER_HOST` is unset (the Docker CLI's default on Linux).
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long the daemon may take to answer the first request (its version).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the daemon may take to answer any later request (until the answer's headers; the
/// output and wait streams then run as long as the container does).
pub const API_TIMEOUT: Duration = Duration::from_secs(60);

/// How long removing a container from `Drop` may take before it is given up (the label sweep
/// at the end of a run, or `docker rm`, then finishes the job).
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a Docker daemon.
#[derive(Debug, Clone)]
pub struct Bollard {
    docker: Docker,
    host: String,
}

impl Bollard {
    /// Connect to `DOCKER_HOST` or the default socket, check that the daemon answers and agree
    /// on an API version.
    ///
    /// # Errors
    /// [`Error::Connect`] when no daemon answers.
    pub async fn connect() -> Result<Self, Error> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());
        Self::connect_to(&host).await
    }

    /// Connect to this address (`unix:///path` or `tcp://host:port`).
    ///
    /// # Errors
    /// [`Error::Connect`] when no daemon answers.
    pub async fn connect_to(host: &str) -> Result<Self, Error> {
        tracing::debug!(host, "docker: connecting");
        let connect_error = |source| Error::Connect {
            host: host.to_owned(),
            source,
        };
        let docker = Docker::connect_with_host(host)
            .map_err(connect_error)?
            .with_timeout(CONNECT_TIMEOUT);
        let docker = docker
            .negotiate_version()
            .await
            .map_err(connect_error)?
            .with_timeout(API_TIMEOUT);
        tracing::debug!(host, version = ?docker.client_version(), "docker: connected");
        Ok(Self {
            docker,
            host: host.to_owned(),
        })
    }

    /// The address connected to.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// What identifies the image `image` on this host: its content id and the registry digests
    /// it was pulled by; `None` when it is not here. Never pulls.
    ///
    /// # Errors
    /// When the daemon fails to answer.
    pub async fn image_identity(&self, image: &str) -> Result<Option<ImageIdentity>, Error> {
        tracing::debug!(image, "docker: inspect image for its identity");
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(Some(ImageIdentity {
                id: inspect.id.unwrap_or_default(),
                repo_digests: inspect.repo_digests.unwrap_or_default(),
            })),
            Err(error) if status_is(&error, &[404]) => Ok(None),
            Err(error) => Err(daemon("inspect image", image)(error)),
        }
    }
}

/// An image as this host knows it (`docker image inspect`): what `red lock` pins and what a
/// run's provenance record names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageIdentity {
    /// The content id, `sha256:<hex>` (the digest of its configuration; local to this host's
    /// store, not a registry's).
    pub id: String,
    /// `repository@sha256:<hex>`: the manifest digests it was pulled by (empty for an image
    /// built or imported here).
    pub repo_digests: Vec<String>,
}

fn daemon(action: &'static str, target: &str) -> impl FnOnce(BollardError) -> Error {
    let target = target.to_owned();
    move |source| Error::Daemon {
        action,
        target,
        source,
    }
}

/// Whether bollard's error is this HTTP status from the daemon.
fn status_is(error: &BollardError, codes: &[u16]) -> bool {
    matches!(error, BollardError::DockerResponseServerError { status_code, .. } if codes.contains(status_code))
}

impl ContainerApi for Bollard {
    async fn image_present(&self, image: &str) -> Result<bool, Error> {
        tracing::debug!(image, "docker: inspect image");
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(error) if status_is(&error, &[404]) => Ok(false),
            Err(error) => Err(daemon("inspect image", image)(error)),
        }
    }

    async fn pull_image(&self, image: &str, auth: Option<&RegistryAuth>) -> Result<(), Error> {
        tracing::debug!(image, "docker: pull image");
        let (repository, tag) = split_image_reference(image);
        let options = CreateImageOptionsBuilder::new()
            .from_image(repository)
            .tag(tag)
            .build();
        let credentials = auth.map(|auth| DockerCredentials {
            username: Some(auth.username().to_owned()),
            password: Some(auth.password().to_owned()),
            serveraddress: registry_host(image).map(str::to_owned),
            ..DockerCredentials::default()
        });
        self.docker
            .create_image(Some(options), None, credentials)
            .try_for_each(|_progress| async { Ok(()) })
            .await
            .map_err(|source| Error::Pull {
                image: image.to_owned(),
                source,
            })
    }

    async fn create(&self, spec: &RunSpec) -> Result<String, Error> {
        let body = spec.to_create_body()?;
        let created = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(daemon("create a container from", &spec.image))?;
        tracing::debug!(
            image = spec.image,
            id = created.id,
            "docker: created container"
        );
        Ok(created.id)
    }

    async fn attach(&self, id: &str) -> Result<OutputStream, Error> {
        let options = AttachContainerOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(false)
            .build();
        let attached = self
            .docker
            .attach_container(id, Some(options))
            .await
            .map_err(daemon("attach to", id))?;
        let owned_id = id.to_owned();
        let chunks = attached.output.filter_map(move |item| {
            let chunk = match item {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    Some(Ok(OutputChunk::Stdout(message.to_vec())))
                }
                Ok(LogOutput::StdErr { message }) => {
                    Some(Ok(OutputChunk::Stderr(message.to_vec())))
                }
                Ok(LogOutput::StdIn { .. }) => None,
                Err(source) => Some(Err(daemon("read the output of", &owned_id)(source))),
            };
            std::future::ready(chunk)
        });
        Ok(Box::pin(chunks))
    }

    async fn start(&self, id: &str) -> Result<(), Error> {
        tracing::debug!(id, "docker: start container");
        match self
            .docker
            .start_container(id, None::<StartContainerOptions>)
            .await
        {
            Err(BollardError::DockerResponseServerError { message, .. })
                if message.contains("unable to start container process") =>
            {
                // runc could not exec the command; exit codes as the Docker CLI gives them.
                let exit_code = if message.contains("permission denied") {
                    126
                } else {
                    127
                };
                Err(Error::CommandNotStarted {
                    id: id.to_owned(),
                    exit_code,
                    message,
                })
            }
            other => other.map_err(daemon("start", id)),
        }
    }

    async fn wait(&self, id: &str) -> Result<(), Error> {
        tracing::debug!(id, "docker: wait for container");
        loop {
            let options = WaitContainerOptionsBuilder::new()
                .condition("not-running")
                .build();
            let mut stream = self.docker.wait_container(id, Some(options));
            match stream.next().await {
                // A non-zero exit is reported as an error by bollard: the container stopped.
                Some(Ok(_) | Err(BollardError::DockerContainerWaitError { .. })) | None => {
                    return Ok(());
                }
                // bollard's request timeout covers the response headers, which the daemon
                // sends at once; should one expire anyway, ask again.
                Some(Err(BollardError::RequestTimeoutError)) => {}
                Some(Err(error)) => return Err(daemon("wait for", id)(error)),
            }
        }
    }

    async fn inspect(&self, id: &str) -> Result<ContainerState, Error> {
        let inspected = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(daemon("inspect", id))?;
        let state = inspected.state.unwrap_or_default();
        Ok(ContainerState {
            running: state.running.unwrap_or(false),
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
        })
    }

    async fn kill(&self, id: &str) -> Result<(), Error> {
        tracing::debug!(id, "docker: kill container");
        match self
            .docker
            .kill_container(id, None::<KillContainerOptions>)
            .await
        {
            // 409: not running; 404: gone.
            Err(error) if status_is(&error, &[404, 409]) => Ok(()),
            other => other.map_err(daemon("kill", id)),
        }
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        tracing::debug!(id, "docker: remove container");
        match self.docker.remove_container(id, Some(options)).await {
            // 404: gone already; 409: removal already in progress.
            Err(error) if status_is(&error, &[404, 409]) => Ok(()),
            other => other.map_err(daemon("remove", id)),
        }
    }

    fn remove_blocking(&self, id: &str) -> Result<(), Error> {
        // A fresh thread with its own runtime and connection: this runs from `Drop`, possibly on
        // a runtime worker (where blocking on this runtime would deadlock) or during a panic.
        let host = self.host.clone();
        let owned_id = id.to_owned();
        let thread = std::thread::Builder::new()
            .name("red-container-cleanup".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|error| Error::Cleanup {
                        id: owned_id.clone(),
                        reason: error.to_string(),
                    })?;
                runtime.block_on(async {
                    let removed = tokio::time::timeout(CLEANUP_TIMEOUT, async {
                        let api = Bollard::connect_to(&host).await?;
                        api.remove(&owned_id).await
                    });
                    removed.await.unwrap_or_else(|_| {
                        Err(Error::Cleanup {
                            id: owned_id.clone(),
                            reason: format!(
                                "the daemon did not answer within {}s",
                                CLEANUP_TIMEOUT.as_secs()
                            ),
                        })
                    })
                })
            })
            .map_err(|error| Error::Cleanup {
                id: id.to_owned(),
                reason: error.to_string(),
            })?;
        thread.join().unwrap_or_else(|_| {
            Err(Error::Cleanup {
                id: id.to_owned(),
                reason: "the cleanup thread panicked".to_owned(),
            })
        })
    }

    async fn list_labelled(&self, key: &str, value: &str) -> Result<Vec<String>, Error> {
        let filters = HashMap::from([("label", vec![format!("{key}={value}")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(daemon(
                "list containers labelled",
                &format!("{key}={value}"),
            ))?;
        Ok(containers
            .into_iter()
            .filter_map(|container| container.id)
            .collect())
    }
}
