//! Configuration: one serde struct read once at start-up and shared in an `Arc`.
//!
//! Precedence is command-line flags, then the TOML file, then the defaults written here.
//! `config/bucketgate.toml` documents every option; a unit test parses it so it cannot rot.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration of one bucketgate process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding the redb metadata file, object data, temp files and key files.
    pub data_dir: PathBuf,
    /// Address of the S3 listener.
    pub listen: SocketAddr,
    /// Address of the admin listener (`/health`, `/metrics`).
    pub admin_listen: SocketAddr,
    /// Base domain for virtual-host-style addressing: `<bucket>.<base_domain>`.
    pub base_domain: String,
    /// Region reported by GetBucketLocation and expected in signatures.
    pub region: String,
    /// Hosts `<bucket>.<website_base_domain>` serve that bucket as a static website.
    pub website_base_domain: String,
    /// Browser origins allowed by the default CORS rule on every bucket (the console's own).
    pub console_origins: Vec<String>,
    /// Token for the admin REST API (`Authorization: Bearer …`). Unset: taken from
    /// `BUCKETGATE_ADMIN_TOKEN`, else generated into `<data_dir>/admin-token` on first start.
    pub admin_token: Option<String>,
    /// S3 endpoint URL handed out in connection details and presigned URLs (e.g.
    /// `https://s3.example.com`). Unset: `http://<listen>`.
    pub public_endpoint: Option<String>,
    /// Backend of buckets created over S3 (and over the API without a choice).
    pub default_backend: crate::meta::BackendKind,
    /// The S3 endpoint of the `remote` backend.
    pub remote: Option<crate::backend::remote::RemoteConfig>,
    /// The `container` backend: Docker, profiles, ports, timeouts.
    pub container: crate::backend::container::ContainerConfig,
    /// Optional HTTPS listener for the S3 API and websites (certificates by SNI).
    pub tls: Option<crate::tls::TlsConfig>,
    /// Limits that protect the server from clients.
    pub limits: Limits,
    /// Embedded backend tuning.
    pub embedded: crate::backend::embedded::EmbeddedConfig,
    /// A token that may read `/metrics` on the admin listener (`Authorization: Bearer …`), for
    /// a Prometheus that should not hold the admin token. The admin token is accepted too.
    pub metrics_token: Option<String>,
    /// Optional listener serving only `/metrics`, without authentication: bind it to a private
    /// interface that only Prometheus reaches.
    pub metrics_listen: Option<SocketAddr>,
    /// Host names no bucket may link as its domain, besides the built-in ones (`localhost`,
    /// IP literals, the base domains, `public_endpoint`'s host, the console's hosts): exact
    /// names, or `*.suffix` for every name under `suffix`. A stored link that matches stops
    /// routing at the next start.
    pub reserved_hosts: Vec<String>,
    /// Per-bucket stats history (the console's charts).
    pub stats: StatsConfig,
    /// Certificates for linked domains from an ACME CA (Let's Encrypt), renewed in the
    /// background.
    pub acme: crate::acme::AcmeConfig,
    /// Ownership proof a linked domain needs before it routes or gets a certificate.
    pub domains: crate::acme::DomainsConfig,
}

/// Limits on connections and request sizes.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Maximum number of open client connections on the S3 listener; further connections wait
    /// (after the connection idle the longest between requests is asked to close).
    pub max_connections: usize,
    /// Maximum size of an XML request body (DeleteObjects, CompleteMultipartUpload, tagging…).
    pub max_xml_body_bytes: usize,
    /// Maximum size of a file uploaded with a browser POST form (s3s holds it in memory).
    pub max_post_object_bytes: u64,
    /// Seconds allowed to receive the request head before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Seconds an in-flight request may take to finish during graceful shutdown.
    pub shutdown_grace_secs: u64,
    /// Longest validity of a presigned URL, in seconds, for every form (SigV4 `X-Amz-Expires`,
    /// SigV2 `Expires` from now, URLs issued by the API). At most 604800 (seven days, the SigV4
    /// limit); a larger value counts as 604800.
    pub max_presign_expiry_secs: u64,
    /// Multipart uploads older than this many seconds are abandoned: a background task aborts
    /// them (embedded buckets), deleting their parts and releasing the quota they hold.
    pub abandoned_upload_secs: u64,
    /// Seconds between two sweeps for abandoned multipart uploads.
    pub upload_sweep_interval_secs: u64,
    /// Open connections one client IP address may hold on a listener; further ones are closed
    /// at once, so a flood from one address leaves the other slots to everybody else. Well
    /// above what one busy client (an SDK's pool, a benchmark at c64) opens.
    pub max_connections_per_ip: usize,
    /// Seconds a request body may make no progress before the request is aborted with
    /// `RequestTimeout` (400): its quota reservation and temp file are released and the
    /// connection closed. The same limit applies to a client that stops reading a response.
    pub body_idle_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
            base_domain: "s3.localhost".to_owned(),
            region: "us-east-1".to_owned(),
            website_base_domain: "web.localhost".to_owned(),
            console_origins: vec![
                "http://127.0.0.1:9001".to_owned(),
                "http://localhost:9001".to_owned(),
            ],
            admin_token: None,
            public_endpoint: None,
            default_backend: crate::meta::BackendKind::Embedded,
            remote: None,
            container: crate::backend::container::ContainerConfig::default(),
            tls: None,
            limits: Limits::default(),
            embedded: crate::backend::embedded::EmbeddedConfig::default(),
            metrics_token: None,
            metrics_listen: None,
            reserved_hosts: Vec::new(),
            stats: StatsConfig::default(),
            acme: crate::acme::AcmeConfig::default(),
            domains: crate::acme::DomainsConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            // DeleteObjects may carry 1000 keys of up to 1024 bytes each.
            max_xml_body_bytes: 2 << 20,
            max_post_object_bytes: 64 << 20,
            header_read_timeout_secs: 30,
            shutdown_grace_secs: 30,
            max_presign_expiry_secs: 604_800,
            // As S3 lifecycle rules usually do: a week.
            abandoned_upload_secs: 7 * 24 * 3600,
            upload_sweep_interval_secs: 3600,
            max_connections_per_ip: 256,
            body_idle_timeout_secs: 60,
        }
    }
}

/// The stats history sampler.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    /// Seconds between two samples of every bucket's usage and request counters (at least 1).
    pub sample_secs: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self { sample_secs: 60 }
    }
}

impl Config {
    /// Reads a TOML file. Unknown keys are errors so that typos do not pass silently.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Parses configuration from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bucketgate.toml");
        let config = Config::from_file(&path).expect("config/bucketgate.toml must parse");
        let defaults = Config::default();
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.admin_listen, defaults.admin_listen);
        assert_eq!(config.base_domain, defaults.base_domain);
        assert_eq!(config.reserved_hosts, defaults.reserved_hosts);
        assert_eq!(
            config.limits.max_xml_body_bytes,
            defaults.limits.max_xml_body_bytes
        );
        assert_eq!(
            config.embedded.inline_threshold_bytes,
            defaults.embedded.inline_threshold_bytes
        );
        let (c, d) = (&config.container, &defaults.container);
        assert_eq!((c.port_min, c.port_max), (d.port_min, d.port_max));
        assert_eq!(c.profile, d.profile);
        assert_eq!(c.bind_address, d.bind_address);
        assert_eq!(c.idle_timeout_secs, d.idle_timeout_secs);
        assert_eq!(c.ready_timeout_secs, d.ready_timeout_secs);
        assert_eq!(config.stats.sample_secs, defaults.stats.sample_secs);
        assert_eq!(config.acme.enabled, defaults.acme.enabled);
        assert_eq!(config.acme.directory_url, defaults.acme.directory_url);
        assert_eq!(config.acme.challenge, defaults.acme.challenge);
        assert!((config.acme.renew_at - defaults.acme.renew_at).abs() < 1e-9);
        assert_eq!(config.domains.verify, defaults.domains.verify);
        assert_eq!(config.domains.http_port, defaults.domains.http_port);
    }

    #[test]
    fn profiles_can_be_added_in_config() {
        let text = "[container.profiles.garage]\nimage = \"dxflrs/garage:v2.1.0\"\ns3_port = 3900\n[container.profiles.garage.ready]\npath = \"/health\"\n";
        let config = Config::from_toml(text).unwrap();
        let all = crate::backend::container::profile::all(&config.container.profiles).unwrap();
        assert_eq!(all["garage"].s3_port, 3900);
        assert!(all.contains_key("minio"));
    }

    #[test]
    fn acme_and_domains_sections_parse() {
        let text = "[acme]\nenabled = true\ndirectory_url = \"https://ca.example/dir\"\ncontact = \"ops@example.com\"\nchallenge = \"tls-alpn-01\"\n[domains]\nverify = \"dns\"\nresolver = \"127.0.0.1:53\"\n";
        let config = Config::from_toml(text).unwrap();
        assert!(config.acme.enabled);
        assert_eq!(config.acme.challenge, crate::acme::ChallengeKind::TlsAlpn01);
        assert_eq!(config.acme.contact_url().unwrap(), "mailto:ops@example.com");
        assert_eq!(config.domains.verify, crate::acme::VerifyMethod::Dns);
        assert!(config.acme.check().is_ok());
        assert!(Config::from_toml("[domains]\nverify = \"txt\"\n").is_err());
        let bad = Config::from_toml("[acme]\nrenew_at = 1.5\n").unwrap();
        assert!(bad.acme.check().is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(Config::from_toml("lisen = \"127.0.0.1:1\"").is_err());
    }
}
