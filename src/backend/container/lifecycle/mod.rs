//! Life cycle of bucket containers: create, start (on demand, bounded), stop (by request or
//! when idle), delete, and reconciliation with what Docker actually runs.
//!
//! No redb transaction and no lock guard is held across a Docker or network call: records are
//! read from the gateway's cache, Docker is driven, then the outcome is written in one short
//! metadata write. Per bucket, the slot's async lock serializes starts, stops and deletes.
//!
//! [`lease`] is the hot path (one request); [`bring_up`] creates and starts containers;
//! [`teardown`] stops and destroys them; [`background`] runs the idle stops, the
//! reconciliation with Docker and the event watch.

mod background;
mod bring_up;
mod lease;
mod teardown;

pub use background::{reconcile, spawn_background, stop_idle};
pub use bring_up::{provision, start};
pub use lease::lease;
pub use teardown::{destroy, stop};

use bring_up::bounded_bring_up;
use teardown::stop_locked;

use std::sync::Arc;

use s3s::S3Error;

use super::Containers;
use super::docker::DockerError;
use crate::backend::upstream::unavailable;
use crate::error::{Error, Result, client_err};
use crate::meta::{BucketRecord, ContainerSpec};

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
        Fault::Internal(e) => crate::error::internal(&e.to_string()),
        other => unavailable(
            &format!("The bucket's storage container is not available: {other}"),
            2,
        ),
    }
}

/// Outcome of a failed [`provision`].
#[derive(Debug)]
pub enum Provision {
    /// Nothing was created; forget the record.
    Refused(S3Error),
    /// The record stays, in state `error`.
    Failed(S3Error),
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
    Error::Upstream(err)
}
