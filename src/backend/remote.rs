//! The `remote` backend: buckets kept on an existing S3 endpoint (a shared MinIO, AWS S3).
//!
//! Its buckets are served by the forwarding route ([`super::forward`]) through one
//! [`Upstream`] built from `[remote]` in the configuration; bucket names may be namespaced
//! with a prefix so several gateways can share one endpoint.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::upstream::{HttpClient, Upstream, UpstreamConfig};

/// `[remote]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// Base URL of the S3 endpoint, e.g. `http://127.0.0.1:9100` (path-style requests).
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// Prepended to bucket names on the endpoint (to share one endpoint between gateways).
    #[serde(default)]
    pub bucket_prefix: String,
    /// Seconds the endpoint may stay silent (no connection, no answer, no body progress)
    /// before the request fails with `503 ServiceUnavailable`.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_timeout() -> u64 {
    30
}

/// The upstream of the remote backend.
pub fn upstream(cfg: &RemoteConfig, client: HttpClient) -> Result<Arc<Upstream>, String> {
    Upstream::new(
        UpstreamConfig {
            endpoint: cfg.endpoint.clone(),
            access_key: cfg.access_key.clone(),
            secret_key: cfg.secret_key.clone(),
            region: cfg.region.clone(),
            bucket_prefix: cfg.bucket_prefix.clone(),
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
        },
        client,
    )
    .map(Arc::new)
    .map_err(|e| format!("remote.{e}"))
}
