//! Backends, and one handle over all of them ([`Backends`]): `embedded` serves buckets
//! in-process (an `s3s::S3`); `remote` and `container` buckets live on another S3 server,
//! reached through an [`upstream::Upstream`]. The gateway's own calls to those go through
//! [`upstream_s3::UpstreamS3`], a typed S3 client; S3 clients' requests for them are passed
//! through whole by the gateway's pass-through route.
//!
//! Backends import nothing above the registry: the bucket records they need come from
//! [`crate::registry::Registry`], never from the gateway.

mod buckets;
pub mod container;
pub mod copy;
pub mod embedded;
pub mod paced;
pub mod remote;
pub mod upstream;
pub mod upstream_s3;

use std::sync::Arc;

use s3s::S3;

use crate::meta::{BackendKind, BucketRecord};
use crate::registry::Registry;

pub use buckets::Provision;

/// Every backend and the registry, cheap to clone: bucket life cycle (create, delete, start,
/// stop, usage, settings) across backend kinds is decided here, once.
#[derive(Clone)]
pub struct Backends(Arc<Parts>);

/// What [`Backends`] is assembled from.
pub struct Parts {
    pub registry: Arc<Registry>,
    pub embedded: embedded::Embedded,
    /// The remote S3 endpoint, when configured.
    pub remote: Option<Arc<upstream::Upstream>>,
    /// The container backend (present without Docker too: its buckets then report it).
    pub containers: Arc<container::Containers>,
}

impl std::ops::Deref for Backends {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// The backend of one bucket as an `s3s::S3`.
pub enum BackendRef<'a> {
    Local(&'a embedded::Embedded),
    Upstream(upstream_s3::UpstreamS3),
}

impl BackendRef<'_> {
    pub fn s3(&self) -> &dyn S3 {
        match self {
            Self::Local(e) => *e,
            Self::Upstream(f) => f,
        }
    }
}

impl Backends {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }

    /// The backend of a bucket as an `s3s::S3`.
    pub fn s3(&self, rec: &BucketRecord) -> BackendRef<'_> {
        match rec.backend {
            BackendKind::Embedded => BackendRef::Local(&self.embedded),
            BackendKind::Remote | BackendKind::Container => {
                BackendRef::Upstream(upstream_s3::UpstreamS3(self.clone()))
            }
        }
    }

    /// The longest key the bucket's server can store, when its container profile sets one.
    pub fn max_key_bytes(&self, rec: &BucketRecord) -> Option<usize> {
        let spec = rec.container.as_ref()?;
        self.containers.profile(&spec.profile)?.max_key_bytes
    }
}
