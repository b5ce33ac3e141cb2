//! The front door's routing, in one place: after s3s has verified a request's signature, the
//! one access decision ([`access`]) runs, then requests for buckets on another S3 server go
//! to the pass-through route ([`passthrough`]) and every other request to the gateway's
//! `s3s::S3` ([`s3`]): bucket operations answered from the registry, object operations routed
//! to the bucket's in-process backend. Both share one quota admission ([`admission`]).
//!
//! The control plane's uploads of unknown length are in [`upload`].

pub mod access;
mod admission;
pub mod host;
pub mod passthrough;
mod s3;
mod upload;
mod versioning;

pub use admission::{CopySourceHead, copy_range_len};

use std::path::PathBuf;
use std::sync::Arc;

use s3s::{S3Request, S3Result};

use crate::backend::Backends;
use crate::error::{Result, client_err};
use crate::keys::{KeyStore, ROOT_USER};
use crate::meta::{BackendKind, BucketStatus};
use crate::policy::{InFlight, Principal};
use crate::registry::Registry;

/// The gateway: cheap to clone, every clone shares the same state (s3s takes its `S3` by
/// value; the control plane and the access check hold clones).
#[derive(Clone)]
pub struct Gateway {
    state: Arc<State>,
}

/// The state every clone of a [`Gateway`] shares.
pub struct State {
    backends: Backends,
    keys: Arc<KeyStore>,
    region: String,
    /// Writes admitted against quotas and not finished yet.
    inflight: Arc<InFlight>,
    /// Requests and bytes per bucket since start-up.
    pub counters: crate::metrics::PerBucket,
    /// Backend of buckets created over S3 (and over the API without a choice).
    default_backend: BackendKind,
    /// Where uploads of unknown length to forwarded buckets are spooled (emptied at start-up).
    tmp_dir: PathBuf,
}

/// What a gateway is assembled from.
pub struct Parts {
    pub backends: Backends,
    pub keys: Arc<KeyStore>,
    pub region: String,
    pub default_backend: BackendKind,
    pub tmp_dir: PathBuf,
}

impl std::ops::Deref for Gateway {
    type Target = State;

    fn deref(&self) -> &State {
        &self.state
    }
}

impl Gateway {
    pub fn new(parts: Parts) -> Self {
        let Parts {
            backends,
            keys,
            region,
            default_backend,
            tmp_dir,
        } = parts;
        Self {
            state: Arc::new(State {
                backends,
                keys,
                region,
                inflight: Arc::new(InFlight::default()),
                counters: crate::metrics::PerBucket::default(),
                default_backend,
                tmp_dir,
            }),
        }
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.backends.registry
    }

    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The backend new buckets get unless they choose.
    pub fn default_backend(&self) -> BackendKind {
        self.default_backend
    }

    /// The caller of a request, as the access check recorded it.
    fn caller<T>(&self, req: &S3Request<T>) -> S3Result<Principal> {
        if let Some(p) = req.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        match &req.credentials {
            Some(c) => self.keys.principal(&c.access_key),
            None => Ok(Principal::Anonymous),
        }
    }

    /// CreateBucket for a name that exists: the owner retrying a container bucket left in
    /// state `error` retries its provisioning; otherwise S3's answers.
    pub async fn create_existing(&self, name: &str, who: &Principal) -> Result<()> {
        let rec = self.registry().resolve(name)?;
        let owned = match who {
            Principal::Root => rec.owner == ROOT_USER,
            Principal::User { id, .. } => rec.owner == *id,
            Principal::Anonymous => false,
        };
        if !owned {
            return Err(client_err!(
                BucketAlreadyExists,
                "The requested bucket name is not available."
            ));
        }
        if rec.backend == BackendKind::Container && rec.status == BucketStatus::Error {
            self.backends.start(name).await?;
            return Ok(());
        }
        Err(client_err!(
            BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it."
        ))
    }

    /// Deletes a bucket through its backend (S3 rules: it must be empty) and forgets it,
    /// with its counters.
    pub async fn delete_bucket(&self, name: &str, keep_volume: bool) -> Result<()> {
        self.backends.delete(name, keep_volume).await?;
        self.counters.remove(name);
        Ok(())
    }
}

/// Aborts abandoned multipart uploads in the background, every
/// `upload_sweep_interval_secs`. Embedded buckets only: their uploads (and the pending bytes
/// the quota counts) live here. Forwarded buckets hold no gateway reservation between
/// requests (their parts are counted in usage when uploaded, until a sync); their servers
/// expire uploads by their own rules.
pub fn spawn_upload_expiry(gw: Gateway, abandoned_upload_secs: u64, sweep_interval_secs: u64) {
    let max_age_ms = i64::try_from(abandoned_upload_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let every = std::time::Duration::from_secs(sweep_interval_secs.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let cutoff = crate::meta::now_millis().saturating_sub(max_age_ms);
            match gw.backends.embedded.expire_uploads(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(aborted = n, "expired abandoned multipart uploads"),
                Err(e) => tracing::warn!(error = %e, "sweeping abandoned multipart uploads"),
            }
        }
    });
}
