//! The hot path: a container bucket's upstream for one request, started first when needed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use s3s::{S3Error, S3Result};

use super::*;
use crate::backend::container::{Active, Containers, Slot};
use crate::backend::upstream::{UpstreamLease, unavailable};
use crate::meta::now_millis;

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
