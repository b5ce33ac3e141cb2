//! Stopping and destroying bucket containers.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::backend::container::docker::DockerError;
use crate::backend::container::{Containers, Slot, ports};
use crate::error::{Result, client_err};
use crate::meta::BucketStatus;

/// Stops a bucket's container (the control plane's `stop`); its data stays on the volume and
/// the next request starts it again.
pub async fn stop(c: &Containers, name: &str) -> Result<()> {
    let slot = c.slot(name);
    let _guard = slot.lock.lock().await;
    stop_locked(c, &slot, name).await
}

pub(super) async fn stop_locked(c: &Containers, slot: &Slot, name: &str) -> Result<()> {
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
