//! Background work: idle containers stopped, reconciliation with what Docker runs, and a
//! watch on Docker's container events.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::backend::container::Containers;
use crate::meta::{BucketRecord, BucketStatus, now_millis};

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
