//! Life cycle of bucket containers: create, start (on demand, bounded), stop (by request or
//! when idle), delete, and reconciliation with what Docker actually runs.
//!
//! No redb transaction and no lock guard is held across a Docker or network call: records are
//! read from the gateway's cache, Docker is driven, then the outcome is written in one short
//! metadata write. Per bucket, the slot's async lock serializes starts, stops and deletes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use s3s::{S3Error, S3Result};

use super::docker::{
    DockerError, LABEL_BUCKET, LABEL_BUCKET_ID, LABEL_INSTANCE, LABEL_PROFILE, NewContainer,
};
use super::profile::{Placeholders, ReadyProbe};
use super::{Active, Containers, Slot, ports};
use crate::backend::upstream::{Upstream, UpstreamLease, unavailable};
use crate::error::{Error, Result, client_err};
use crate::meta::{BucketRecord, BucketStatus, ContainerSpec, now_millis};

/// How long requests fail fast after a failed start before the next attempt.
const RETRY_BACKOFF_MS: i64 = 2000;

/// Why bringing a container up failed.
#[derive(Debug)]
enum Fault {
    /// Docker cannot be reached: the bucket is fine, the engine is not.
    Engine(DockerError),
    /// The container cannot be created, started or made ready.
    Container(String),
    /// A metadata failure of our own.
    Internal(Error),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Engine(e) => write!(f, "{e}"),
            Self::Container(m) => f.write_str(m),
            Self::Internal(e) => write!(f, "{e}"),
        }
    }
}

impl From<Error> for Fault {
    fn from(e: Error) -> Self {
        Self::Internal(e)
    }
}

fn docker_fault(c: &Containers, what: &str, e: DockerError) -> Fault {
    c.engine_failed(&e);
    match e {
        DockerError::Unavailable(_) => Fault::Engine(e),
        other => Fault::Container(format!("{what}: {other}")),
    }
}

fn fault_to_s3(f: &Fault) -> S3Error {
    match f {
        Fault::Internal(_) => S3Error::new(s3s::S3ErrorCode::InternalError),
        other => unavailable(
            &format!("The bucket's storage container is not available: {other}"),
            2,
        ),
    }
}

/// Creates a new bucket's container: leases its ports, creates volume and container, starts
/// it, waits for readiness, creates the bucket inside and carries the bucket's settings.
///
/// `Err(Refused)` means nothing was created (Docker unreachable): the caller forgets the
/// record. `Err(Failed)` means the record stays, in state `error` with the reason.
pub async fn provision(c: &Containers, name: &str) -> std::result::Result<(), Provision> {
    c.engine().await.map_err(|e| {
        Provision::Refused(unavailable(
            &format!("Container buckets cannot be created now: {e}"),
            5,
        ))
    })?;
    let rec = c
        .registry()
        .cached(name)
        .ok_or(Provision::Failed(S3Error::new(
            s3s::S3ErrorCode::NoSuchBucket,
        )))?;
    let spec = rec
        .container
        .clone()
        .ok_or_else(|| Provision::Refused(S3Error::new(s3s::S3ErrorCode::InternalError)))?;
    if c.profile(&spec.profile).is_none() {
        return Err(Provision::Refused(S3Error::new(
            s3s::S3ErrorCode::InvalidArgument,
        )));
    }
    // Held from the first step: nothing else (reconciliation, a request) works on the bucket's
    // container while it is being created.
    let slot = c.slot(name);
    let _guard = slot.lock.lock().await;
    lease_ports(c, name)
        .await
        .map_err(|e| Provision::Refused(e.into()))?;
    match bounded_bring_up(c, &slot, name, true).await {
        Ok(()) => Ok(()),
        Err(f) => Err(Provision::Failed(fault_to_s3(&f))),
    }
}

/// Leases the host ports of a bucket's container and records them (a bucket whose creation
/// was interrupted before that gets them on its next start).
async fn lease_ports(c: &Containers, name: &str) -> Result<()> {
    let (_, spec) = record_and_spec(c, name)?;
    let profile = c
        .profile(&spec.profile)
        .ok_or_else(|| client_err!(InvalidArgument, "no backend profile {}", spec.profile))?;
    let count = 1 + usize::from(profile.console_port.is_some());
    let leased = ports::lease(
        &c.store,
        name,
        count,
        (c.cfg.port_min, c.cfg.port_max),
        c.cfg.bind_address,
        BTreeSet::new(),
    )
    .await?;
    let recorded = c
        .registry()
        .modify(name, |b| {
            if let Some(s) = b.container.as_mut() {
                s.host_port = leased[0];
                s.console_port = leased.get(1).copied();
            }
        })
        .await;
    if let Err(e) = recorded {
        let _ = ports::release(&c.store, &leased).await;
        return Err(e);
    }
    Ok(())
}

/// Outcome of a failed [`provision`].
#[derive(Debug)]
pub enum Provision {
    /// Nothing was created; forget the record.
    Refused(S3Error),
    /// The record stays, in state `error`.
    Failed(S3Error),
}

/// The upstream of a container bucket for one request, starting the container first when it
/// is not known to be ready (bounded by the readiness timeout).
/// `write` is false for GET and HEAD: a deletion of the bucket does not wait for those.
pub async fn lease(c: &Containers, name: &str, write: bool) -> S3Result<UpstreamLease> {
    let slot = c.slot(name);
    let active = Active::new(slot.clone(), write);
    if slot.deleting.load(Ordering::SeqCst) {
        return Err(S3Error::with_message(
            s3s::S3ErrorCode::OperationAborted,
            "The bucket is being deleted.",
        ));
    }
    if !slot.ready.load(Ordering::SeqCst) {
        start_for_request(c, &slot, name).await?;
    }
    let rec = c
        .registry()
        .cached(name)
        .ok_or_else(|| S3Error::new(s3s::S3ErrorCode::NoSuchBucket))?;
    let upstream = c.upstream_of(&slot, &rec)?;
    Ok(UpstreamLease {
        upstream,
        hold: Some(Box::new(active)),
    })
}

/// Brings a container up for a request: one start at a time per bucket, the others wait for
/// it; after a failure, requests fail fast for a short while instead of piling up.
async fn start_for_request(c: &Containers, slot: &Arc<Slot>, name: &str) -> S3Result<()> {
    let busy = || unavailable("The bucket's storage container is starting.", 1);
    let failed = |slot: &Slot| {
        unavailable(
            &slot
                .error()
                .unwrap_or_else(|| "The bucket's storage container cannot start.".into()),
            2,
        )
    };
    if now_millis() < slot.failed_until.load(Ordering::SeqCst) {
        return Err(failed(slot));
    }
    let wait = Duration::from_secs(c.cfg.ready_timeout_secs.max(1));
    let Ok(_guard) = tokio::time::timeout(wait, slot.lock.lock()).await else {
        return Err(busy());
    };
    if slot.ready.load(Ordering::SeqCst) {
        return Ok(());
    }
    if now_millis() < slot.failed_until.load(Ordering::SeqCst) {
        return Err(failed(slot));
    }
    let started = Instant::now();
    match bounded_bring_up(c, slot, name, false).await {
        Ok(()) => {
            tracing::info!(
                bucket = name,
                ms = started.elapsed().as_millis() as u64,
                "bucket container ready"
            );
            Ok(())
        }
        Err(f) => Err(fault_to_s3(&f)),
    }
}

/// [`bring_up`] within the readiness timeout, recording the outcome in the slot and the
/// record. The caller holds the slot's lock.
async fn bounded_bring_up(
    c: &Containers,
    slot: &Slot,
    name: &str,
    first: bool,
) -> std::result::Result<(), Fault> {
    let wait = Duration::from_secs(c.cfg.ready_timeout_secs.max(1));
    let outcome = match tokio::time::timeout(wait, bring_up(c, name, first)).await {
        Ok(r) => r,
        Err(_) => Err(Fault::Container(format!(
            "the container did not become ready within {} s",
            wait.as_secs()
        ))),
    };
    match outcome {
        Ok(warning) => {
            slot.set_error(None);
            slot.failed_until.store(0, Ordering::SeqCst);
            slot.ready.store(true, Ordering::SeqCst);
            slot.touch();
            let rec = c.registry().cached(name);
            if rec.is_some_and(|r| r.status != BucketStatus::Running || r.status_message != warning)
            {
                c.registry()
                    .modify(name, |b| {
                        b.status = BucketStatus::Running;
                        b.status_message = warning;
                    })
                    .await?;
            }
            Ok(())
        }
        Err(f) => {
            let msg = f.to_string();
            tracing::warn!(bucket = name, error = %msg, "bucket container is not available");
            slot.failed_until
                .store(now_millis() + RETRY_BACKOFF_MS, Ordering::SeqCst);
            slot.ready.store(false, Ordering::SeqCst);
            // An unreachable engine is the engine's state, reported as such; it is not
            // written into the bucket's record.
            if !matches!(f, Fault::Engine(_)) {
                slot.set_error(Some(msg.clone()));
                let _ = c
                    .registry()
                    .modify(name, |b| {
                        b.status = BucketStatus::Error;
                        b.status_message = Some(msg.clone());
                    })
                    .await;
            }
            Err(f)
        }
    }
}

/// Makes the bucket's container exist, run and answer; creates the bucket inside it and
/// carries the bucket's settings. Returns a warning about settings the server refused.
/// `first`: this is the bucket's creation, so a missing volume is created, not an error.
async fn bring_up(
    c: &Containers,
    name: &str,
    first: bool,
) -> std::result::Result<Option<String>, Fault> {
    let docker = c.engine().await.map_err(Fault::Engine)?;
    if record_and_spec(c, name)?.1.host_port == 0 {
        lease_ports(c, name)
            .await
            .map_err(|e| Fault::Container(format!("leasing a host port: {e}")))?;
    }
    let rec = c
        .registry()
        .cached(name)
        .ok_or_else(|| Fault::Container("the bucket no longer exists".into()))?;
    let spec = rec
        .container
        .clone()
        .ok_or(Fault::Internal(Error::Bug("container bucket without spec")))?;
    let creating = first || rec.status == BucketStatus::Creating;
    let state = docker
        .inspect(&spec.container_name)
        .await
        .map_err(|e| docker_fault(c, "inspecting the container", e))?;
    let state = match state {
        Some(s) => s,
        None => {
            create_container(c, &rec, creating).await?;
            docker
                .inspect(&spec.container_name)
                .await
                .map_err(|e| docker_fault(c, "inspecting the container", e))?
                .ok_or_else(|| Fault::Container("the container vanished after creation".into()))?
        }
    };
    let mut rec = rec;
    if !state.running {
        match docker.start(&spec.container_name).await {
            Ok(()) => {}
            // Another program took the leased port meanwhile: move to a free one.
            Err(DockerError::Refused(msg)) if is_port_conflict(&msg) => {
                rec = relocate(c, &rec).await?;
                let spec = rec
                    .container
                    .as_ref()
                    .ok_or(Fault::Internal(Error::Bug("container bucket without spec")))?;
                docker
                    .start(&spec.container_name)
                    .await
                    .map_err(|e| docker_fault(c, "starting the container", e))?;
            }
            Err(e) => return Err(docker_fault(c, "starting the container", e)),
        }
    }
    let slot = c.slot(name);
    wait_ready(c, &rec, &docker).await?;
    let address = choose_address(c, &rec, &docker).await?;
    tracing::debug!(bucket = name, %address, "bucket container ready");
    slot.set_address(address);
    let upstream = c.upstream_of(&slot, &rec)?;
    upstream.ensure_bucket(name).await.map_err(|e| {
        Fault::Container(format!(
            "creating the bucket inside the container: {} {}",
            e.code().as_str(),
            e.message().unwrap_or("")
        ))
    })?;
    Ok(carry_settings(&upstream, &rec).await)
}

fn is_port_conflict(msg: &str) -> bool {
    msg.contains("port is already allocated") || msg.contains("address already in use")
}

/// Gives a bucket new host ports after its leased ones turned out to be taken by another
/// program: the container is recreated on the same volume with the new ports published.
async fn relocate(
    c: &Containers,
    rec: &BucketRecord,
) -> std::result::Result<Arc<BucketRecord>, Fault> {
    let docker = c.engine().await.map_err(Fault::Engine)?;
    let spec = rec
        .container
        .clone()
        .ok_or(Fault::Internal(Error::Bug("container bucket without spec")))?;
    let old: Vec<u16> = [Some(spec.host_port), spec.console_port]
        .into_iter()
        .flatten()
        .collect();
    let leased = ports::lease(
        &c.store,
        &rec.name,
        old.len(),
        (c.cfg.port_min, c.cfg.port_max),
        c.cfg.bind_address,
        old.iter().copied().collect(),
    )
    .await?;
    tracing::warn!(bucket = %rec.name, old = ?old, new = ?leased, "leased port taken by another program; moving the bucket's container");
    docker
        .remove(&spec.container_name)
        .await
        .map_err(|e| docker_fault(c, "removing the container", e))?;
    ports::release(&c.store, &old).await?;
    let moved = c
        .registry()
        .modify(&rec.name, |b| {
            if let Some(s) = b.container.as_mut() {
                s.host_port = leased[0];
                s.console_port = leased.get(1).copied();
                s.container_id = None;
            }
        })
        .await?;
    create_container(c, &moved, false).await?;
    c.registry()
        .cached(&rec.name)
        .ok_or_else(|| Fault::Container("the bucket no longer exists".into()))
}

/// Creates the volume (first time only) and the container of a bucket.
async fn create_container(
    c: &Containers,
    rec: &BucketRecord,
    creating: bool,
) -> std::result::Result<(), Fault> {
    let docker = c.engine().await.map_err(Fault::Engine)?;
    let spec = rec
        .container
        .as_ref()
        .ok_or(Fault::Internal(Error::Bug("container bucket without spec")))?;
    let profile = c.profile(&spec.profile).ok_or_else(|| {
        Fault::Container(format!(
            "backend profile {} is gone from the configuration",
            spec.profile
        ))
    })?;
    let labels: HashMap<String, String> = [
        (LABEL_INSTANCE, c.instance.clone()),
        (LABEL_BUCKET, rec.name.clone()),
        (LABEL_BUCKET_ID, rec.id.clone()),
        (LABEL_PROFILE, spec.profile.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let has_volume = docker
        .volume_exists(&spec.volume)
        .await
        .map_err(|e| docker_fault(c, "inspecting the volume", e))?;
    if !has_volume {
        if !creating {
            // Recreating the volume would hide that the bucket's data is gone.
            return Err(Fault::Container(format!(
                "the bucket's volume {} is missing; its data cannot be recovered by the gateway",
                spec.volume
            )));
        }
        docker
            .create_volume(&spec.volume, labels.clone())
            .await
            .map_err(|e| docker_fault(c, "creating the volume", e))?;
    }
    let pull = Duration::from_secs(c.cfg.pull_timeout_secs.max(1));
    match tokio::time::timeout(pull, docker.ensure_image(&spec.image)).await {
        Ok(r) => r.map_err(|e| docker_fault(c, "getting the image", e))?,
        Err(_) => {
            return Err(Fault::Container(format!(
                "pulling {} took longer than {} s",
                spec.image,
                pull.as_secs()
            )));
        }
    }
    let secret = c
        .master
        .open(&spec.secret_sealed)
        .map_err(|_| Fault::Internal(Error::Bug("container secret cannot be opened")))?;
    let fill = Placeholders {
        access_key: &spec.access_key,
        secret_key: &secret,
        region: &rec.region,
        bucket: &rec.name,
    };
    let bind = c.cfg.bind_address.to_string();
    let mut published = vec![(profile.s3_port, bind.clone(), spec.host_port)];
    if let (Some(inner), Some(host)) = (profile.console_port, spec.console_port) {
        published.push((inner, bind, host));
    }
    let id = docker
        .create_container(NewContainer {
            name: &spec.container_name,
            image: &spec.image,
            entrypoint: profile
                .entrypoint
                .as_ref()
                .map(|e| e.iter().map(|a| fill.fill(a)).collect()),
            command: profile.command.iter().map(|a| fill.fill(a)).collect(),
            env: profile
                .env
                .iter()
                .map(|(k, v)| format!("{k}={}", fill.fill(v)))
                .collect(),
            labels,
            volume: &spec.volume,
            data_path: &profile.data_path,
            ports: published,
            init: profile.init,
        })
        .await
        .map_err(|e| docker_fault(c, "creating the container", e))?;
    tracing::info!(bucket = %rec.name, container = %spec.container_name, port = spec.host_port, "bucket container created");
    c.registry()
        .modify(&rec.name, |b| {
            if let Some(s) = b.container.as_mut() {
                s.container_id = Some(id);
            }
        })
        .await?;
    Ok(())
}

/// Polls the profile's readiness probe until it answers, failing early when the container
/// exits.
async fn wait_ready(
    c: &Containers,
    rec: &BucketRecord,
    docker: &super::docker::Docker,
) -> std::result::Result<(), Fault> {
    let spec = rec
        .container
        .as_ref()
        .ok_or(Fault::Internal(Error::Bug("container bucket without spec")))?;
    let probe = &c
        .profile(&spec.profile)
        .ok_or_else(|| Fault::Container(format!("backend profile {} is gone", spec.profile)))?
        .ready;
    let addr = c.published(spec.host_port);
    let mut pause = Duration::from_millis(10);
    let mut polls = 0u32;
    loop {
        if probe_answers(c, addr, probe, Duration::from_secs(2)).await? {
            return Ok(());
        }
        polls += 1;
        if polls.is_multiple_of(10) {
            match docker.inspect(&spec.container_name).await {
                Ok(Some(s)) if !s.running => {
                    return Err(Fault::Container(format!(
                        "the container exited while starting ({})",
                        s.detail
                    )));
                }
                Ok(None) => {
                    return Err(Fault::Container(
                        "the container was removed while starting".into(),
                    ));
                }
                Err(e) => return Err(docker_fault(c, "inspecting the container", e)),
                Ok(Some(_)) => {}
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Whether the readiness probe at `addr` answers, as accepted, within `limit`.
async fn probe_answers(
    c: &Containers,
    addr: std::net::SocketAddr,
    probe: &ReadyProbe,
    limit: Duration,
) -> std::result::Result<bool, Fault> {
    let req = http::Request::get(format!("http://{addr}{}", probe.path))
        .header(http::header::HOST, addr.to_string())
        .body(s3s::Body::empty())
        .map_err(|_| Fault::Internal(Error::Bug("readiness probe request")))?;
    Ok(matches!(
        tokio::time::timeout(limit, c.http.request(req)).await,
        Ok(Ok(resp)) if probe.accepts(resp.status().as_u16())
    ))
}

/// Where the gateway talks to a ready container: its published port, or its address on the
/// Docker network (no userland proxy in the way) when configured or, with `auto`, when that
/// address answers the readiness probe from here.
async fn choose_address(
    c: &Containers,
    rec: &BucketRecord,
    docker: &super::docker::Docker,
) -> std::result::Result<std::net::SocketAddr, Fault> {
    use super::Connect;
    let spec = rec
        .container
        .as_ref()
        .ok_or(Fault::Internal(Error::Bug("container bucket without spec")))?;
    let published = c.published(spec.host_port);
    if c.cfg.connect == Connect::Published {
        return Ok(published);
    }
    let profile = c
        .profile(&spec.profile)
        .ok_or_else(|| Fault::Container(format!("backend profile {} is gone", spec.profile)))?;
    let ip = docker
        .inspect(&spec.container_name)
        .await
        .map_err(|e| docker_fault(c, "inspecting the container", e))?
        .and_then(|s| s.ip);
    if let Some(ip) = ip {
        let addr = std::net::SocketAddr::new(ip, profile.s3_port);
        if probe_answers(c, addr, &profile.ready, Duration::from_millis(500)).await? {
            return Ok(addr);
        }
    }
    if c.cfg.connect == Connect::ContainerIp {
        return Err(Fault::Container(
            "the container's network address does not answer from the gateway (connect = \"container-ip\")".into(),
        ));
    }
    Ok(published)
}

/// Applies versioning and default encryption to the server; what it refuses becomes the
/// bucket's warning.
async fn carry_settings(upstream: &Upstream, rec: &BucketRecord) -> Option<String> {
    let mut refused = Vec::new();
    if let Some(v) = &rec.versioning
        && let Err(e) = upstream.put_versioning(&rec.name, v).await
    {
        refused.push(format!("versioning ({})", e.code().as_str()));
    }
    if let Some(alg) = &rec.encryption
        && let Err(e) = upstream.put_encryption(&rec.name, alg).await
    {
        refused.push(format!("encryption ({})", e.code().as_str()));
    }
    (!refused.is_empty()).then(|| {
        format!(
            "the bucket's storage server refused: {}",
            refused.join(", ")
        )
    })
}

/// Starts a bucket's container on request (the control plane's `start`).
pub async fn start(c: &Containers, name: &str) -> Result<()> {
    let slot = c.slot(name);
    // An explicit start retries at once, whatever the last failure.
    slot.failed_until.store(0, Ordering::SeqCst);
    let _guard = slot.lock.lock().await;
    if slot.ready.load(Ordering::SeqCst) {
        return Ok(());
    }
    bounded_bring_up(c, &slot, name, false)
        .await
        .map_err(|f| Error::Client(fault_to_s3(&f)))
}

/// Stops a bucket's container (the control plane's `stop`); its data stays on the volume and
/// the next request starts it again.
pub async fn stop(c: &Containers, name: &str) -> Result<()> {
    let slot = c.slot(name);
    let _guard = slot.lock.lock().await;
    stop_locked(c, &slot, name).await
}

async fn stop_locked(c: &Containers, slot: &Slot, name: &str) -> Result<()> {
    let (_, spec) = record_and_spec(c, name)?;
    slot.ready.store(false, Ordering::SeqCst);
    let docker = c.engine().await.map_err(|e| engine_error(&e))?;
    match docker
        .stop(
            &spec.container_name,
            Duration::from_secs(c.cfg.stop_grace_secs),
        )
        .await
    {
        Ok(()) | Err(DockerError::NotFound(_)) => {}
        Err(e) => {
            c.engine_failed(&e);
            return Err(client_err!(
                ServiceUnavailable,
                "stopping the container: {e}"
            ));
        }
    }
    c.registry()
        .modify(name, |b| {
            b.status = BucketStatus::Stopped;
            b.status_message = None;
        })
        .await?;
    tracing::info!(bucket = name, "bucket container stopped");
    Ok(())
}

/// A container bucket's record and container description.
fn record_and_spec(c: &Containers, name: &str) -> Result<(Arc<BucketRecord>, ContainerSpec)> {
    let rec = c
        .registry()
        .cached(name)
        .ok_or_else(|| client_err!(NoSuchBucket, "The specified bucket does not exist"))?;
    let spec = rec
        .container
        .clone()
        .ok_or(Error::Bug("container bucket without spec"))?;
    Ok((rec, spec))
}

fn engine_error(e: &DockerError) -> Error {
    let mut err = unavailable(&e.to_string(), 5);
    err.set_message(e.to_string());
    Error::Client(err)
}

/// Deletes a bucket's container and, unless `keep_volume`, its volume; releases its ports.
/// S3 rules first: a bucket holding objects or uploads is refused with `BucketNotEmpty`.
/// When the container cannot be brought up to check that, the delete goes on only with
/// `keep_volume` (the data stays in the volume).
pub async fn destroy(c: &Containers, name: &str, keep_volume: bool) -> Result<()> {
    let (rec, spec) = record_and_spec(c, name)?;
    let docker = c.engine().await.map_err(|e| engine_error(&e))?;
    let slot = c.slot(name);
    let _guard = slot.lock.lock().await;
    // Refuse new requests, then wait for the writes in flight so none lands after the check.
    // Reads are not waited for (a client may never finish reading its download): once the
    // bucket is found empty they end at their next chunk, and a client that stopped reading
    // loses its connection after the body idle timeout.
    slot.deleting.store(true, Ordering::SeqCst);
    let drained = wait_writes(&slot, Duration::from_secs(30)).await;
    let checked = async {
        if !drained {
            return Err(client_err!(
                OperationAborted,
                "Writes to the bucket are still in progress; try again."
            ));
        }
        if spec.host_port != 0 {
            match bounded_bring_up(c, &slot, name, false).await {
                Ok(()) => {
                    let upstream = c.upstream_of(&slot, &rec)?;
                    if !upstream.is_empty(name).await? {
                        return Err(client_err!(
                            BucketNotEmpty,
                            "The bucket you tried to delete is not empty"
                        ));
                    }
                    // The server's own bucket goes too (a profile may keep other state).
                    let _ = upstream.delete_bucket(name).await;
                }
                Err(f) if keep_volume => {
                    tracing::warn!(bucket = name, error = %f, "deleting a bucket whose container cannot start; its volume is kept");
                }
                Err(f) => {
                    return Err(client_err!(
                        ServiceUnavailable,
                        "Cannot check that the bucket is empty ({f}); delete it with keepVolume=true to keep its data in volume {}",
                        spec.volume
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = checked {
        slot.deleting.store(false, Ordering::SeqCst);
        return Err(e);
    }
    slot.reads_cut.store(true, Ordering::SeqCst);
    slot.ready.store(false, Ordering::SeqCst);
    docker.remove(&spec.container_name).await.map_err(|e| {
        c.engine_failed(&e);
        client_err!(ServiceUnavailable, "removing the container: {e}")
    })?;
    if !keep_volume {
        docker.remove_volume(&spec.volume).await.map_err(|e| {
            c.engine_failed(&e);
            client_err!(ServiceUnavailable, "removing the volume: {e}")
        })?;
    }
    let leased: Vec<u16> = [Some(spec.host_port), spec.console_port]
        .into_iter()
        .flatten()
        .filter(|p| *p != 0)
        .collect();
    ports::release(&c.store, &leased).await?;
    c.drop_slot(name);
    tracing::info!(bucket = name, keep_volume, "bucket container removed");
    Ok(())
}

/// Waits until no write request holds the slot (bounded); true when it got there.
async fn wait_writes(slot: &Slot, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while slot.writes.load(Ordering::SeqCst) > 0 {
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Stops containers that had no request for the idle timeout. A request that arrives while
/// a container is being stopped waits for the stop, then starts it again.
pub async fn stop_idle(c: &Containers) {
    let idle_ms = i64::try_from(c.cfg.idle_timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    if idle_ms == 0 {
        return;
    }
    for (name, slot) in c.slots() {
        let idle = now_millis() - slot.last_used.load(Ordering::Relaxed) >= idle_ms;
        if !idle || !slot.ready.load(Ordering::SeqCst) || slot.active.load(Ordering::SeqCst) > 0 {
            continue;
        }
        let Ok(_guard) = slot.lock.try_lock() else {
            continue;
        };
        // Claim first, then look again: a request that counted itself before the claim is
        // seen here; one that comes after sees `ready == false` and waits for the lock.
        slot.ready.store(false, Ordering::SeqCst);
        let still_idle = now_millis() - slot.last_used.load(Ordering::Relaxed) >= idle_ms;
        if slot.active.load(Ordering::SeqCst) > 0 || !still_idle {
            slot.ready.store(true, Ordering::SeqCst);
            continue;
        }
        tracing::info!(bucket = %name, idle_secs = c.cfg.idle_timeout_secs, "stopping idle bucket container");
        if let Err(e) = stop_locked(c, &slot, &name).await {
            tracing::warn!(bucket = %name, error = %e, "cannot stop an idle bucket container");
        }
    }
}

/// Matches redb's container buckets with the containers Docker has: recreates the containers
/// of running buckets that vanished (on their kept volumes), finishes creations a crash
/// interrupted, marks containers stopped from outside for a start on the next request, and
/// reports (or removes, when configured) labelled containers no bucket claims.
pub async fn reconcile(c: &Containers) {
    let docker = match c.engine().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reconcile bucket containers");
            return;
        }
    };
    let listed = match docker.list(&c.instance).await {
        Ok(l) => l,
        Err(e) => {
            c.engine_failed(&e);
            tracing::warn!(error = %e, "cannot list bucket containers");
            return;
        }
    };
    let records: Vec<Arc<BucketRecord>> = c
        .registry()
        .all()
        .into_iter()
        .filter(|b| b.backend == crate::meta::BackendKind::Container)
        .collect();
    for rec in &records {
        let Some(spec) = &rec.container else { continue };
        let found = listed.iter().find(|l| l.name == spec.container_name);
        let slot = c.slot(&rec.name);
        // A bucket `creating` since before this process began is a creation an earlier process
        // did not finish; a newer one is being made here (its provisioning finishes it).
        let interrupted = rec.status == BucketStatus::Creating && rec.created < c.opened;
        let recreate = match (found, rec.status) {
            (None, BucketStatus::Running) => true,
            (_, BucketStatus::Creating) => interrupted,
            (Some(l), _) if !l.running => {
                slot.ready.store(false, Ordering::SeqCst);
                false
            }
            _ => false,
        };
        if recreate && !slot.deleting.load(Ordering::SeqCst) {
            tracing::info!(bucket = %rec.name, container = %spec.container_name, "bringing a bucket container back");
            let Ok(_guard) = slot.lock.try_lock() else {
                continue;
            };
            if let Err(f) = bounded_bring_up(c, &slot, &rec.name, false).await {
                tracing::warn!(bucket = %rec.name, error = %f, "cannot bring a bucket container back");
            }
        }
    }
    for l in &listed {
        let claimed = records.iter().any(|r| {
            r.container
                .as_ref()
                .is_some_and(|s| s.container_name == l.name)
        });
        if claimed {
            continue;
        }
        if c.cfg.remove_orphans {
            tracing::warn!(container = %l.name, bucket = ?l.bucket, "removing a bucket container no bucket claims (its volume is kept)");
            if let Err(e) = docker.remove(&l.name).await {
                tracing::warn!(container = %l.name, error = %e, "cannot remove a leftover container");
            }
        } else {
            tracing::warn!(container = %l.name, bucket = ?l.bucket, bucket_id = ?l.bucket_id, "a bucket container no bucket claims is left over (set container.remove_orphans to remove such containers)");
        }
    }
}

/// Runs the background work of the container backend until the process ends: the first
/// reconciliation, then the idle check and periodic reconciliation, and a watch on Docker's
/// container events (a container that dies is started again by the next request).
pub fn spawn_background(c: Arc<Containers>) {
    let timers = c.clone();
    tokio::spawn(async move {
        reconcile(&timers).await;
        let cfg = timers.config().clone();
        let tick = if cfg.idle_timeout_secs == 0 {
            Duration::from_secs(5)
        } else {
            Duration::from_millis((cfg.idle_timeout_secs * 1000 / 4).clamp(250, 5000))
        };
        let every = Duration::from_secs(cfg.reconcile_interval_secs.max(1));
        let mut last = Instant::now();
        loop {
            tokio::time::sleep(tick).await;
            stop_idle(&timers).await;
            if last.elapsed() >= every {
                reconcile(&timers).await;
                last = Instant::now();
            }
        }
    });
    tokio::spawn(async move { watch_events(&c).await });
}

async fn watch_events(c: &Containers) {
    use futures::StreamExt;
    let mut backoff = Duration::from_millis(500);
    loop {
        if let Ok(docker) = c.engine().await {
            let mut events = std::pin::pin!(docker.events(&c.instance));
            backoff = Duration::from_millis(500);
            while let Some(item) = events.next().await {
                let Ok((container, action)) = item else { break };
                if !matches!(action.as_str(), "die" | "stop" | "kill" | "oom" | "destroy") {
                    continue;
                }
                for rec in c.registry().all() {
                    if rec
                        .container
                        .as_ref()
                        .is_some_and(|s| s.container_name == container)
                    {
                        tracing::info!(bucket = %rec.name, %action, "bucket container event");
                        c.mark_unreachable(&rec.name);
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
