//! The `container` backend: one S3 server container per bucket, managed through the Docker
//! Engine API (bollard), its requests forwarded by [`super::forward`].
//!
//! A bucket's container is created from a backend profile ([`profile`]) with generated root
//! credentials (sealed in redb), a named volume of its own, and host ports leased from a range
//! ([`ports`]) bound to loopback. Labels name the gateway instance and the bucket, so state is
//! reconciled from Docker at start-up and on a timer ([`lifecycle`]): a container that
//! vanished is recreated on its kept volume, one stopped from outside is started again by the
//! next request, leftovers are reported.
//!
//! Per bucket, a [`Slot`] holds what requests need on the hot path without touching Docker or
//! redb: whether the container is known ready, how many requests are streaming, when it was
//! last used. Starting and stopping take the slot's async lock, so concurrent requests to a
//! stopped bucket share one start.

pub mod docker;
pub mod lifecycle;
pub mod ports;
pub mod profile;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use self::docker::{Docker, DockerError};
use self::profile::Profile;
use super::upstream::{HttpClient, Upstream, UpstreamConfig};
use crate::error::{Result, client_err};
use crate::meta::{BucketRecord, ContainerSpec, SETTINGS, Store, now_millis};
use crate::secrets::MasterKey;

/// `[container]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerConfig {
    /// Docker endpoint (`unix:///var/run/docker.sock`, `tcp://host:2375`). Unset:
    /// `DOCKER_HOST`, else the local socket.
    pub docker_host: Option<String>,
    /// Profile of new container buckets that do not choose one.
    pub profile: String,
    /// Lowest host port leased to bucket containers.
    pub port_min: u16,
    /// Highest host port leased to bucket containers.
    pub port_max: u16,
    /// Host address the containers' ports are published on. Keep it on loopback: the gateway
    /// is the only client the containers should have.
    pub bind_address: IpAddr,
    /// How the gateway reaches a container: `published` (its loopback host port, through
    /// Docker's port forwarding), `container-ip` (its address on the Docker network, which skips
    /// Docker's userland proxy: the gateway must run on the Docker host), or `auto` (the
    /// container's address when it answers from here, else the published port).
    pub connect: Connect,
    /// Seconds a container may take to answer its readiness probe after a start.
    pub ready_timeout_secs: u64,
    /// Seconds a container may stay silent during a forwarded request before `503`.
    pub request_timeout_secs: u64,
    /// Stop a bucket's container after this many seconds without requests; the next request
    /// starts it again. 0 keeps containers running.
    pub idle_timeout_secs: u64,
    /// Seconds a stopping container gets between SIGTERM and SIGKILL.
    pub stop_grace_secs: u64,
    /// Seconds between reconciliations of redb records with Docker's containers.
    pub reconcile_interval_secs: u64,
    /// Remove containers labelled with this instance that no bucket record claims (they are
    /// only reported otherwise). Their volumes are always kept.
    pub remove_orphans: bool,
    /// Name of this gateway instance in container labels. Unset: generated once and kept in
    /// the metadata database.
    pub instance: Option<String>,
    /// Seconds one Docker API call may take (image pulls excepted).
    pub docker_timeout_secs: u64,
    /// Seconds an image pull may take.
    pub pull_timeout_secs: u64,
    /// More backend profiles, or replacements of the shipped ones (`minio`, `rustfs`,
    /// `s3s-fs-test`).
    pub profiles: BTreeMap<String, Profile>,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        Self {
            docker_host: None,
            profile: "minio".to_owned(),
            port_min: 40000,
            port_max: 50000,
            bind_address: IpAddr::from([127, 0, 0, 1]),
            connect: Connect::Auto,
            ready_timeout_secs: 60,
            request_timeout_secs: 30,
            idle_timeout_secs: 0,
            stop_grace_secs: 10,
            reconcile_interval_secs: 60,
            remove_orphans: false,
            instance: None,
            docker_timeout_secs: 60,
            pull_timeout_secs: 900,
            profiles: BTreeMap::new(),
        }
    }
}

/// How the gateway reaches bucket containers (see [`ContainerConfig::connect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Connect {
    Auto,
    Published,
    ContainerIp,
}

/// What requests to one bucket share about its container.
pub struct Slot {
    /// The container answered its probe and nothing said it died since.
    ready: AtomicBool,
    /// Requests admitted and not finished (their response bodies still streaming).
    active: AtomicUsize,
    /// Those of `active` that may change the bucket (anything but GET and HEAD): a deletion
    /// waits for these only, since a reader can hold its response for as long as it likes.
    writes: AtomicUsize,
    /// The bucket is being deleted: downloads still streaming end at their next chunk.
    reads_cut: AtomicBool,
    /// Milliseconds since the epoch of the last request start or end.
    last_used: AtomicI64,
    /// A failed start is not retried before this time (ms): requests fail fast meanwhile.
    failed_until: AtomicI64,
    /// The bucket is being deleted: new requests are refused.
    deleting: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Where the gateway reaches the container, chosen when it became ready.
    address: Mutex<Option<std::net::SocketAddr>>,
    /// The upstream of the container, with the address it was built for.
    upstream: Mutex<Option<(std::net::SocketAddr, Arc<Upstream>)>>,
    /// Held while starting, stopping or removing the container.
    lock: tokio::sync::Mutex<()>,
}

impl Slot {
    fn new() -> Self {
        Self {
            ready: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            reads_cut: AtomicBool::new(false),
            last_used: AtomicI64::new(now_millis()),
            failed_until: AtomicI64::new(0),
            deleting: AtomicBool::new(false),
            last_error: Mutex::new(None),
            address: Mutex::new(None),
            upstream: Mutex::new(None),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    fn touch(&self) {
        self.last_used.store(now_millis(), Ordering::Relaxed);
    }

    fn set_error(&self, msg: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = msg;
    }

    fn set_address(&self, addr: std::net::SocketAddr) {
        *self
            .address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(addr);
    }

    fn error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// One request's claim on a bucket's container: it counts as activity until dropped (with
/// the response body, once the client has it all).
pub struct Active {
    slot: Arc<Slot>,
    write: bool,
}

impl Active {
    fn new(slot: Arc<Slot>, write: bool) -> Self {
        slot.active.fetch_add(1, Ordering::SeqCst);
        if write {
            slot.writes.fetch_add(1, Ordering::SeqCst);
        }
        slot.touch();
        Self { slot, write }
    }
}

impl super::upstream::Holder for Active {
    fn is_cut(&self) -> bool {
        !self.write && self.slot.reads_cut.load(Ordering::Relaxed)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.slot.touch();
        if self.write {
            self.slot.writes.fetch_sub(1, Ordering::SeqCst);
        }
        self.slot.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The container backend of one gateway.
pub struct Containers {
    cfg: ContainerConfig,
    profiles: BTreeMap<String, Profile>,
    /// The connected (version-negotiated) client, when the engine answered last time.
    engine: Mutex<Option<Docker>>,
    /// Why the engine cannot be used, when it cannot.
    engine_error: Mutex<Option<String>>,
    instance: String,
    store: Store,
    /// The bucket records its containers belong to.
    registry: Arc<crate::registry::Registry>,
    master: Arc<MasterKey>,
    http: HttpClient,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// When this process opened the backend: a bucket still `creating` from before then is a
    /// creation an earlier process did not finish.
    opened: crate::meta::UnixMillis,
}

impl Containers {
    /// Sets the backend up; Docker is not contacted yet (a gateway without Docker still
    /// serves its other buckets).
    pub async fn open(
        cfg: ContainerConfig,
        registry: Arc<crate::registry::Registry>,
        master: Arc<MasterKey>,
        http: HttpClient,
    ) -> std::result::Result<Self, String> {
        let store = registry.store().clone();
        let profiles = profile::all(&cfg.profiles)?;
        if !profiles.contains_key(&cfg.profile) {
            return Err(format!(
                "container.profile: no profile named {}",
                cfg.profile
            ));
        }
        if cfg.port_min == 0 || cfg.port_min > cfg.port_max {
            return Err("container.port_min..port_max is not a port range".to_owned());
        }
        let instance = instance_id(&store, cfg.instance.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            cfg,
            profiles,
            engine: Mutex::new(None),
            engine_error: Mutex::new(None),
            instance,
            store,
            registry,
            master,
            http,
            slots: Mutex::new(HashMap::new()),
            opened: crate::meta::now_millis(),
        })
    }

    pub fn registry(&self) -> &crate::registry::Registry {
        &self.registry
    }

    pub fn config(&self) -> &ContainerConfig {
        &self.cfg
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }

    /// The connected engine, connecting (and negotiating the API version) when needed.
    pub async fn engine(&self) -> std::result::Result<Docker, DockerError> {
        let known = self
            .engine
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(d) = known {
            return Ok(d);
        }
        // Built each time until it connects: the socket may appear after the gateway started.
        let client = Docker::new(
            self.cfg.docker_host.as_deref(),
            Duration::from_secs(self.cfg.docker_timeout_secs.max(1)),
        );
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                self.set_engine_error(Some(e.to_string()));
                return Err(e);
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), client.connect()).await {
            Ok(Ok(d)) => {
                *self
                    .engine
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(d.clone());
                self.set_engine_error(None);
                Ok(d)
            }
            Ok(Err(e)) => {
                let e = match e {
                    DockerError::Unavailable(_) => e,
                    other => DockerError::Unavailable(other.to_string()),
                };
                self.set_engine_error(Some(e.to_string()));
                Err(e)
            }
            Err(_) => {
                let e = DockerError::Unavailable("the engine did not answer".into());
                self.set_engine_error(Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Notes that a call found the engine unreachable: reconnect next time.
    fn engine_failed(&self, e: &DockerError) {
        if matches!(e, DockerError::Unavailable(_)) {
            *self
                .engine
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            self.set_engine_error(Some(e.to_string()));
        }
    }

    fn set_engine_error(&self, e: Option<String>) {
        *self
            .engine_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = e;
    }

    /// Why Docker cannot be used right now, if it cannot.
    pub fn engine_error(&self) -> Option<String> {
        self.engine_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The slot of a bucket, created on first use.
    pub fn slot(&self, bucket: &str) -> Arc<Slot> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(bucket.to_owned())
            .or_insert_with(|| Arc::new(Slot::new()))
            .clone()
    }

    fn drop_slot(&self, bucket: &str) {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(bucket);
    }

    fn slots(&self) -> Vec<(String, Arc<Slot>)> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A request found the container unreachable: check it (and start it) on the next one.
    pub fn mark_unreachable(&self, bucket: &str) {
        self.slot(bucket).ready.store(false, Ordering::SeqCst);
    }

    /// The runtime view of a bucket's state: the record's, unless Docker cannot be reached
    /// or the last start failed.
    pub fn status(&self, rec: &BucketRecord) -> (&'static str, Option<String>) {
        if let Some(e) = self.engine_error() {
            return ("error", Some(e));
        }
        let slot_error = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&rec.name)
            .and_then(|s| s.error());
        if let Some(e) = slot_error {
            return ("error", Some(e));
        }
        (rec.status.as_str(), rec.status_message.clone())
    }

    /// The description of a new bucket's container (ports are leased when it is created).
    pub fn new_spec(&self, rec: &BucketRecord, profile: Option<&str>) -> Result<ContainerSpec> {
        let name = profile.unwrap_or(&self.cfg.profile);
        let Some(p) = self.profiles.get(name) else {
            return Err(client_err!(
                InvalidArgument,
                "profile: no backend profile named {name} (known: {})",
                self.profile_names().join(", ")
            ));
        };
        let short_id: String = rec.id.chars().take(12).collect();
        let container_name = format!("bucketgate-{}-{short_id}", rec.name);
        Ok(ContainerSpec {
            profile: name.to_owned(),
            image: p.image.clone(),
            volume: format!("{container_name}-data"),
            container_name,
            container_id: None,
            host_port: 0,
            console_port: None,
            access_key: crate::secrets::new_access_key(),
            secret_sealed: self.master.seal(&crate::secrets::new_secret_key()),
        })
    }

    /// The upstream of a bucket's container (built once per slot; rebuilt if its port moved).
    fn upstream_of(&self, slot: &Slot, rec: &BucketRecord) -> Result<Arc<Upstream>> {
        let spec = rec
            .container
            .as_ref()
            .ok_or(crate::error::Error::Bug("container bucket without spec"))?;
        let published = self.published(spec.host_port);
        let addr = slot
            .address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .filter(|a| a.ip() != self.cfg.bind_address || a.port() == spec.host_port)
            .unwrap_or(published);
        let mut known = slot
            .upstream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((a, u)) = known.as_ref()
            && *a == addr
        {
            return Ok(u.clone());
        }
        let endpoint = format!("http://{addr}");
        let secret = self.master.open(&spec.secret_sealed).map_err(|e| {
            tracing::error!(bucket = %rec.name, error = %e, "cannot open a container secret");
            crate::error::Error::Bug("container secret cannot be opened")
        })?;
        let upstream = Upstream::new(
            UpstreamConfig {
                endpoint,
                access_key: spec.access_key.clone(),
                secret_key: secret,
                region: rec.region.clone(),
                bucket_prefix: String::new(),
                timeout: Duration::from_secs(self.cfg.request_timeout_secs.max(1)),
            },
            self.http.clone(),
        )
        .map(Arc::new)
        .map_err(|_| crate::error::Error::Bug("container endpoint is not a URL"))?;
        *known = Some((addr, upstream.clone()));
        Ok(upstream)
    }

    /// `ip:port` of a published port (IPv6 in brackets).
    /// Where a container's host `port` is published.
    fn published(&self, port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.cfg.bind_address, port)
    }
}

/// This gateway's instance name: configured, or generated once and kept in redb.
async fn instance_id(store: &Store, configured: Option<&str>) -> Result<String> {
    if let Some(c) = configured {
        let ok = !c.is_empty()
            && c.len() <= 64
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        return if ok {
            Ok(c.to_owned())
        } else {
            Err(client_err!(
                InvalidArgument,
                "container.instance: 1-64 letters, digits, '-' or '_'"
            ))
        };
    }
    let fresh: String = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    store
        .write(move |txn| {
            let mut t = txn.open_table(SETTINGS)?;
            if let Some(id) = redb::ReadableTable::get(&t, "instance_id")? {
                return Ok(id.value().to_owned());
            }
            t.insert("instance_id", fresh.as_str())?;
            Ok(fresh)
        })
        .await
}
