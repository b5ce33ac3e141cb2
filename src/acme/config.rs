//! `[acme]` and `[domains]` in the configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `[acme]`: certificates for linked domains, ordered and renewed by the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcmeConfig {
    /// Order certificates for linked (and, with `[domains] verify`, proven) domains. Needs
    /// `[tls]`: issued certificates are served on its listener by SNI.
    pub enabled: bool,
    /// The ACME directory URL (default: Let's Encrypt production).
    pub directory_url: String,
    /// Contact of the ACME account, an e-mail address or a `mailto:` URL.
    pub contact: Option<String>,
    /// PEM file of the CA that signs the ACME directory's own HTTPS certificate, when it is not
    /// publicly trusted (a test CA such as pebble's). Unset: the public web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// The challenge answered: `http-01` (on the plain HTTP S3 listener, which must be reached
    /// on port 80 of the domain) or `tls-alpn-01` (on the `[tls]` listener, reached on 443).
    pub challenge: ChallengeKind,
    /// Fraction of a certificate's lifetime after which it is renewed (default 2/3).
    pub renew_at: f64,
    /// Seconds between two passes over the linked domains (renewals, missing certificates).
    pub check_interval_secs: u64,
    /// First delay after a failed order, in seconds; it doubles with each failure (jittered).
    pub retry_min_secs: u64,
    /// Longest delay between two attempts after failures, in seconds.
    pub retry_max_secs: u64,
    /// Seconds one order may take (validation, then issuance) before it counts as failed.
    pub order_timeout_secs: u64,
    /// Plain-HTTP requests to a website host that has a certificate are redirected to HTTPS
    /// (308); ACME challenges and signed S3 requests never are.
    pub redirect_http: bool,
    /// `Strict-Transport-Security` max-age sent on HTTPS website answers for hosts with an
    /// issued certificate; 0 sends none.
    pub hsts_max_age_secs: u64,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            directory_url: LETS_ENCRYPT.to_owned(),
            contact: None,
            ca_file: None,
            challenge: ChallengeKind::Http01,
            renew_at: 2.0 / 3.0,
            check_interval_secs: 3600,
            retry_min_secs: 60,
            retry_max_secs: 86_400,
            order_timeout_secs: 120,
            redirect_http: false,
            hsts_max_age_secs: 0,
        }
    }
}

/// The ACME challenge the gateway answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ChallengeKind {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

/// `[domains]`: what a linked domain must prove before it routes or gets a certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DomainsConfig {
    /// `none`: a link routes at once. `dns`: the TXT record `_bucketgate-challenge.<domain>`
    /// must carry the token the API shows. `http`: the domain must reach this gateway
    /// (`http://<domain>/.well-known/bucketgate-challenge/<token>` answers the token).
    pub verify: VerifyMethod,
    /// DNS server (`ip:port`) for the TXT and address look-ups; unset: the system's.
    pub resolver: Option<SocketAddr>,
    /// Port of `http` proofs (default 80: the S3 listener as the world reaches it).
    pub http_port: u16,
    /// Seconds between two checks of the domains still waiting for their proof.
    pub check_interval_secs: u64,
}

impl Default for DomainsConfig {
    fn default() -> Self {
        Self {
            verify: VerifyMethod::None,
            resolver: None,
            http_port: 80,
            check_interval_secs: 60,
        }
    }
}

/// How a linked domain proves ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMethod {
    None,
    Dns,
    Http,
}

impl AcmeConfig {
    /// Values that cannot work, as a message naming the field.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.renew_at) {
            return Err("acme.renew_at must be at least 0 and below 1".into());
        }
        if self.enabled && !self.directory_url.starts_with("https://") {
            return Err("acme.directory_url must be an https:// URL".into());
        }
        if self.retry_min_secs == 0 || self.retry_max_secs < self.retry_min_secs {
            return Err("acme.retry_min_secs must be at least 1 and at most retry_max_secs".into());
        }
        Ok(())
    }

    /// The account's contact as a URL.
    pub fn contact_url(&self) -> Option<String> {
        let c = self.contact.as_deref()?.trim();
        if c.is_empty() {
            None
        } else if c.contains(':') {
            Some(c.to_owned())
        } else {
            Some(format!("mailto:{c}"))
        }
    }
}
