//! Creating and starting bucket containers: ports, volume, container, readiness, and the
//! bucket's settings carried to its server.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use s3s::S3Error;

use super::*;
use crate::backend::container::docker::{
    DockerError, LABEL_BUCKET, LABEL_BUCKET_ID, LABEL_INSTANCE, LABEL_PROFILE, NewContainer,
};
use crate::backend::container::profile::{Placeholders, ReadyProbe};
use crate::backend::container::{Containers, Slot, ports};
use crate::backend::upstream::{Upstream, unavailable};
use crate::error::{Error, Result, client_err};
use crate::meta::{BucketRecord, BucketStatus, now_millis};

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
    let spec = rec.container.clone().ok_or_else(|| {
        Provision::Refused(crate::error::internal("container bucket without spec"))
    })?;
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

/// [`bring_up`] within the readiness timeout, recording the outcome in the slot and the
/// record. The caller holds the slot's lock.
pub(super) async fn bounded_bring_up(
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

/// The bucket's volume (created only with the bucket: a missing one later means its data is
/// gone) and its image (pulled, bounded by the pull timeout).
async fn ensure_volume_and_image(
    c: &Containers,
    docker: &crate::backend::container::docker::Docker,
    spec: &ContainerSpec,
    labels: &HashMap<String, String>,
    creating: bool,
) -> std::result::Result<(), Fault> {
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
    Ok(())
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
    ensure_volume_and_image(c, &docker, spec, &labels, creating).await?;
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
    docker: &crate::backend::container::docker::Docker,
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
    docker: &crate::backend::container::docker::Docker,
) -> std::result::Result<std::net::SocketAddr, Fault> {
    use crate::backend::container::Connect;
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
        .map_err(|f| Error::from(fault_to_s3(&f)))
}
