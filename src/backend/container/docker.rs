//! The few Docker Engine API calls the container backend makes, through bollard.
//!
//! Every call is bounded by bollard's request timeout, and its errors are sorted into what the
//! backend acts on: the engine cannot be reached, the object does not exist, or anything else.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, PortBinding, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures::{Stream, StreamExt};

/// Label naming the gateway instance that owns a container or volume.
pub const LABEL_INSTANCE: &str = "io.bucketgate.instance";
/// Label naming the bucket a container or volume serves.
pub const LABEL_BUCKET: &str = "io.bucketgate.bucket";
/// Label holding the bucket's stable id.
pub const LABEL_BUCKET_ID: &str = "io.bucketgate.bucket-id";
/// Label naming the backend profile.
pub const LABEL_PROFILE: &str = "io.bucketgate.profile";

/// What went wrong talking to the engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine cannot be reached (no socket, daemon down, timeout).
    #[error("docker unavailable: {0}")]
    Unavailable(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The engine refused the request (name in use, port taken, bad image…).
    #[error("{0}")]
    Refused(String),
}

impl From<bollard::errors::Error> for DockerError {
    fn from(e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError {
                status_code: 404,
                message,
            } => Self::NotFound(message),
            E::DockerResponseServerError { message, .. } => Self::Refused(message),
            E::RequestTimeoutError => Self::Unavailable("request timed out".into()),
            other => {
                let text = other.to_string();
                if matches!(other, E::HyperResponseError { .. } | E::IOError { .. })
                    || text.contains("connect")
                    || text.contains("No such file")
                {
                    Self::Unavailable(text)
                } else {
                    Self::Refused(text)
                }
            }
        }
    }
}

/// A container to create.
pub struct NewContainer<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub entrypoint: Option<Vec<String>>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub volume: &'a str,
    pub data_path: &'a str,
    /// (container port, host address, host port)
    pub ports: Vec<(u16, String, u16)>,
    /// Docker's init as PID 1.
    pub init: bool,
}

/// The state of one container as the engine reports it.
#[derive(Debug, Clone)]
pub struct ContainerState {
    pub running: bool,
    /// The container's address on its Docker network, when it has one.
    pub ip: Option<std::net::IpAddr>,
    /// Why it is not running (exit code, OOM, engine error), for status messages.
    pub detail: String,
}

/// A labelled container found on the engine.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub bucket: Option<String>,
    pub bucket_id: Option<String>,
    pub running: bool,
}

/// A client of one Docker engine.
#[derive(Clone)]
pub struct Docker {
    inner: bollard::Docker,
}

impl Docker {
    /// A client of `host` (`unix://…`, `tcp://…`), else of `DOCKER_HOST` or the local socket.
    /// Nothing is contacted yet.
    pub fn new(host: Option<&str>, timeout: Duration) -> Result<Self, DockerError> {
        let inner = match host {
            Some(h) => bollard::Docker::connect_with_host(h),
            None => bollard::Docker::connect_with_defaults(),
        }
        .map_err(|e| DockerError::Unavailable(e.to_string()))?;
        Ok(Self {
            inner: inner.with_timeout(timeout),
        })
    }

    /// Pings the engine and settles the API version with it (older engines refuse requests
    /// of newer versions).
    pub async fn connect(&self) -> Result<Self, DockerError> {
        self.inner.ping().await.map_err(DockerError::from)?;
        let inner = self.inner.clone().negotiate_version().await?;
        Ok(Self { inner })
    }

    pub async fn ping(&self) -> Result<(), DockerError> {
        self.inner.ping().await?;
        Ok(())
    }

    /// Makes sure the image is there, pulling it when it is not.
    pub async fn ensure_image(&self, image: &str) -> Result<(), DockerError> {
        match self.inner.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) => match DockerError::from(e) {
                DockerError::NotFound(_) => {}
                other => return Err(other),
            },
        }
        tracing::info!(image, "pulling image");
        let opts = CreateImageOptionsBuilder::new().from_image(image).build();
        let mut progress = self.inner.create_image(Some(opts), None, None);
        while let Some(item) = progress.next().await {
            item.map_err(|e| DockerError::Refused(format!("pulling {image}: {e}")))?;
        }
        Ok(())
    }

    pub async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), DockerError> {
        self.inner
            .create_volume(VolumeCreateRequest {
                name: Some(name.to_owned()),
                labels: Some(labels),
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    pub async fn volume_exists(&self, name: &str) -> Result<bool, DockerError> {
        match self.inner.inspect_volume(name).await {
            Ok(_) => Ok(true),
            Err(e) => match DockerError::from(e) {
                DockerError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        let opts = RemoveVolumeOptionsBuilder::new().force(true).build();
        match self.inner.remove_volume(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) => match DockerError::from(e) {
                DockerError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Creates (does not start) a container; returns its id.
    pub async fn create_container(&self, c: NewContainer<'_>) -> Result<String, DockerError> {
        let mut bindings = HashMap::new();
        let mut exposed = Vec::new();
        for (inner, host_ip, host_port) in &c.ports {
            let key = format!("{inner}/tcp");
            exposed.push(key.clone());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: Some(host_ip.clone()),
                    host_port: Some(host_port.to_string()),
                }]),
            );
        }
        let body = ContainerCreateBody {
            image: Some(c.image.to_owned()),
            entrypoint: c.entrypoint,
            cmd: Some(c.command),
            env: Some(c.env),
            labels: Some(c.labels),
            exposed_ports: Some(exposed),
            host_config: Some(HostConfig {
                port_bindings: Some(bindings),
                init: c.init.then_some(true),
                mounts: Some(vec![Mount {
                    target: Some(c.data_path.to_owned()),
                    source: Some(c.volume.to_owned()),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]),
                // The gateway decides when a bucket runs (idle stop, auto-start); a container
                // the engine restarts on its own would fight that.
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::NO),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(c.name).build();
        Ok(self.inner.create_container(Some(opts), body).await?.id)
    }

    /// Starts a container; one already running is fine.
    pub async fn start(&self, name: &str) -> Result<(), DockerError> {
        self.inner.start_container(name, None).await?;
        Ok(())
    }

    /// Stops a container (SIGTERM, then SIGKILL after `grace`); one already stopped is fine.
    pub async fn stop(&self, name: &str, grace: Duration) -> Result<(), DockerError> {
        let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let opts = StopContainerOptionsBuilder::new().t(t).build();
        match self.inner.stop_container(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a container, stopping it first; a missing one is fine.
    pub async fn remove(&self, name: &str) -> Result<(), DockerError> {
        let opts = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.inner.remove_container(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) => match DockerError::from(e) {
                DockerError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// The container's state, `None` when it does not exist.
    pub async fn inspect(&self, name: &str) -> Result<Option<ContainerState>, DockerError> {
        let info = match self.inner.inspect_container(name, None).await {
            Ok(info) => info,
            Err(e) => {
                return match DockerError::from(e) {
                    DockerError::NotFound(_) => Ok(None),
                    other => Err(other),
                };
            }
        };
        let ip = info.network_settings.and_then(|n| {
            n.networks
                .into_iter()
                .flat_map(HashMap::into_values)
                .filter_map(|e| e.ip_address)
                .find_map(|a| a.parse().ok())
        });
        let state = info.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let mut detail = format!("exit code {}", state.exit_code.unwrap_or(0));
        if state.oom_killed.unwrap_or(false) {
            detail.push_str(", killed for lack of memory");
        }
        if let Some(err) = state.error.filter(|e| !e.is_empty()) {
            detail.push_str(": ");
            detail.push_str(&err);
        }
        Ok(Some(ContainerState {
            running,
            ip,
            detail,
        }))
    }

    /// Every container labelled as this gateway instance's, running or not.
    pub async fn list(&self, instance: &str) -> Result<Vec<Listed>, DockerError> {
        let mut filters = HashMap::new();
        filters.insert("label", vec![format!("{LABEL_INSTANCE}={instance}")]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let found = self.inner.list_containers(Some(opts)).await?;
        Ok(found
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                Listed {
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_owned(),
                    bucket: labels.get(LABEL_BUCKET).cloned(),
                    bucket_id: labels.get(LABEL_BUCKET_ID).cloned(),
                    running: c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
                }
            })
            .collect())
    }

    /// Container events (`die`, `stop`, `destroy`, …) of this instance's containers: the
    /// container name and the action.
    pub fn events(
        &self,
        instance: &str,
    ) -> impl Stream<Item = Result<(String, String), DockerError>> + use<> {
        let mut filters = HashMap::new();
        filters.insert("type", vec!["container".to_owned()]);
        filters.insert("label", vec![format!("{LABEL_INSTANCE}={instance}")]);
        let opts = EventsOptionsBuilder::new().filters(&filters).build();
        // A stream of its own, without bollard's request timeout: events come when they come.
        let inner = self
            .inner
            .clone()
            .with_timeout(Duration::from_secs(u64::from(u32::MAX)));
        inner.events(Some(opts)).map(|item| {
            let ev = item?;
            let action = ev.action.unwrap_or_default();
            let name = ev
                .actor
                .and_then(|a| a.attributes)
                .and_then(|mut a| a.remove("name"))
                .unwrap_or_default();
            Ok((name, action))
        })
    }
}
