//! Automatic HTTPS for linked domains: ownership proofs and ACME certificates.
//!
//! Layering: above `registry` (linked domains and their proofs), `secrets` (keys sealed with
//! the master key), `meta` and `tls` (the certificate table the HTTPS listener reads by SNI);
//! below `control`, `api` and `server`, which ask it for status, answers to challenges and
//! metrics.
//!
//! One background task ([`Manager::spawn`]) checks pending ownership proofs ([`verify`]) and
//! orders, for each proven linked domain without a fresh certificate, one certificate
//! ([`order`]): never two orders for one name at once; a failure is retried after a delay that
//! doubles each time (jittered), a valid certificate is renewed after `renew_at` of its
//! lifetime. Issued certificates are stored sealed in redb ([`store`]) and served at once; a
//! restart serves the stored ones without ordering again.

pub mod config;
mod order;
mod probe;
mod schedule;
mod store;
mod verify;

pub use config::{AcmeConfig, ChallengeKind, DomainsConfig, VerifyMethod};
pub use probe::{ANSWER_PATH, PortCheck, Reachability};
pub use verify::txt_name;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::meta::IssuedCert;
use crate::registry::Registry;
use crate::secrets::MasterKey;
use crate::tls::CertTable;

/// Where a domain's certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertPhase {
    /// Not issued yet (waiting for its proof, or being ordered).
    Pending,
    /// A certificate is served.
    Valid,
    /// The last order failed; it is retried at `retryAt`.
    Failed,
}

/// A domain's certificate as the API and metrics show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertStatus {
    pub state: CertPhase,
    /// Why the last order failed, or what the certificate waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Expiry of the certificate served (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
    /// Serial number (hex) of the certificate served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// When the served certificate is due for renewal (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_at: Option<i64>,
    /// When a failed order is tried again (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<i64>,
    /// Orders failed in a row.
    pub failures: u32,
    /// An order is running.
    pub ordering: bool,
}

impl CertStatus {
    fn pending(reason: Option<String>) -> Self {
        Self {
            state: CertPhase::Pending,
            reason,
            not_after: None,
            serial: None,
            renew_at: None,
            retry_at: None,
            failures: 0,
            ordering: false,
        }
    }
}

/// Ownership proofs and certificates of linked domains.
pub struct Manager {
    acme: AcmeConfig,
    domains: DomainsConfig,
    registry: Arc<Registry>,
    master: Arc<MasterKey>,
    certs: Arc<CertTable>,
    /// HTTP-01 token → (host, key authorization) while an order waits for validation.
    http01: Mutex<HashMap<String, (String, String)>>,
    /// Certificate status by host (issued, failed, pending).
    status: Mutex<HashMap<String, CertStatus>>,
    /// Hosts with an order running.
    in_flight: Mutex<HashSet<String>>,
    /// The ACME account, once loaded or created.
    account: Mutex<Option<instant_acme::Account>>,
    /// Wakes the background task (a new link).
    kick: tokio::sync::Notify,
    /// Drawn at random when the process starts; with a host name it makes the token answered
    /// at `/.well-known/bucketgate/<token>`, so an answer carrying it comes from this process
    /// ([`probe`]).
    gateway_secret: [u8; 32],
    /// Port of the S3 listener (plain HTTP), asked by reachability checks.
    s3_port: u16,
    /// Reachability checks running at once.
    probe_slots: tokio::sync::Semaphore,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Manager {
    /// Loads the stored certificates into `certs` (served by SNI from the first handshake on).
    /// `s3_port` is the S3 listener's (plain HTTP) port.
    pub fn open(
        (acme, domains): (AcmeConfig, DomainsConfig),
        registry: Arc<Registry>,
        master: Arc<MasterKey>,
        certs: Arc<CertTable>,
        s3_port: u16,
    ) -> crate::error::Result<Arc<Self>> {
        let m = Self {
            acme,
            domains,
            registry,
            master,
            certs,
            http01: Mutex::default(),
            status: Mutex::default(),
            in_flight: Mutex::default(),
            account: Mutex::default(),
            kick: tokio::sync::Notify::new(),
            gateway_secret: rand::random(),
            s3_port,
            probe_slots: tokio::sync::Semaphore::new(probe::SLOTS),
        };
        // Disabled, nothing prunes certificates of unlinked domains: none are served.
        let stored = if m.acme.enabled {
            store::load_certs(m.registry.store())?
        } else {
            Vec::new()
        };
        for (host, cert) in stored {
            if let Err(e) = m.install(&host, &cert) {
                tracing::warn!(%host, error = %e, "stored certificate cannot be served");
            }
        }
        Ok(Arc::new(m))
    }

    /// Whether certificates are ordered at all.
    pub fn enabled(&self) -> bool {
        self.acme.enabled
    }

    pub fn acme_config(&self) -> &AcmeConfig {
        &self.acme
    }

    pub fn domains_config(&self) -> &DomainsConfig {
        &self.domains
    }

    /// Serves `cert` for `host` and records its status.
    fn install(&self, host: &str, cert: &IssuedCert) -> Result<(), String> {
        let key = self
            .master
            .open(&cert.key_sealed)
            .map_err(|e| e.to_string())?;
        let ck = crate::tls::certified_key(&cert.chain_pem, &key).map_err(|e| e.to_string())?;
        self.certs.insert(host, ck);
        let renew_at = schedule::renewal_time(cert, self.acme.renew_at);
        lock(&self.status).insert(
            host.to_owned(),
            CertStatus {
                state: CertPhase::Valid,
                reason: None,
                not_after: Some(cert.not_after),
                serial: Some(cert.serial.clone()),
                renew_at: Some(renew_at),
                retry_at: None,
                failures: 0,
                ordering: false,
            },
        );
        Ok(())
    }

    /// Asks the background task for a pass now (a domain was linked or unlinked).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// The key authorization answering `GET /.well-known/acme-challenge/<token>` on `host`.
    pub fn http01_answer(&self, host: &str, token: &str) -> Option<String> {
        lock(&self.http01)
            .get(token)
            .filter(|(h, _)| h == host)
            .map(|(_, ka)| ka.clone())
    }

    /// Whether `host` has an issued certificate being served.
    pub fn has_cert(&self, host: &str) -> bool {
        self.certs.get(host).is_some()
    }

    /// The certificate status of `host`, when ACME is enabled.
    pub fn cert_status(&self, host: &str) -> Option<CertStatus> {
        if !self.acme.enabled {
            return None;
        }
        let mut s = lock(&self.status)
            .get(host)
            .cloned()
            .unwrap_or_else(|| CertStatus::pending(None));
        s.ordering = lock(&self.in_flight).contains(host);
        if s.state == CertPhase::Pending && s.reason.is_none() && !self.registry.proven(host) {
            s.reason = Some("waiting for the domain's ownership proof".into());
        }
        Some(s)
    }

    /// Prometheus text: days until expiry and the state of each host's certificate.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        if !self.acme.enabled {
            return String::new();
        }
        let mut list: Vec<(String, CertStatus)> = lock(&self.status)
            .iter()
            .map(|(h, s)| (h.clone(), s.clone()))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let now = now_secs();
        let mut out = String::from(
            "# HELP bucketgate_certificate_expiry_days Days until the certificate served for a linked domain expires.\n\
             # TYPE bucketgate_certificate_expiry_days gauge\n",
        );
        for (host, s) in &list {
            if let Some(end) = s.not_after {
                #[allow(clippy::cast_precision_loss, reason = "days as a float gauge")]
                let days = (end - now) as f64 / 86_400.0;
                let _ = writeln!(
                    out,
                    "bucketgate_certificate_expiry_days{{host=\"{host}\"}} {days:.3}"
                );
            }
        }
        out.push_str(
            "# HELP bucketgate_certificate_failures Orders failed in a row for a linked domain.\n\
             # TYPE bucketgate_certificate_failures gauge\n",
        );
        for (host, s) in &list {
            let _ = writeln!(
                out,
                "bucketgate_certificate_failures{{host=\"{host}\"}} {}",
                s.failures
            );
        }
        out
    }

    /// The token a domain's ownership proof needs, if one is recorded.
    pub fn proof(&self, host: &str) -> Option<crate::meta::DomainProof> {
        self.registry.proof(host).ok().flatten()
    }
}

/// Path prefix of `http` ownership proofs (the token follows).
pub const PROOF_PATH: &str = "/.well-known/bucketgate-challenge/";
/// Path prefix of HTTP-01 challenges (the token follows).
pub const HTTP01_PATH: &str = "/.well-known/acme-challenge/";

impl Manager {
    /// The token answering `GET /.well-known/bucketgate-challenge/<token>` on `host`.
    pub fn proof_answer(&self, host: &str, token: &str) -> Option<String> {
        if self.domains.verify != VerifyMethod::Http {
            return None;
        }
        self.proof(host)
            .filter(|p| p.token == token)
            .map(|p| p.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn manager(
        dir: &std::path::Path,
        enabled: bool,
        verify: VerifyMethod,
    ) -> Arc<Manager> {
        let store = crate::meta::Store::open(dir).unwrap();
        let registry = Arc::new(Registry::open(store, Arc::default()).unwrap());
        let acme = AcmeConfig {
            enabled,
            ..AcmeConfig::default()
        };
        let domains = DomainsConfig {
            verify,
            ..DomainsConfig::default()
        };
        let master = Arc::new(MasterKey::from_bytes(&[7; 32]));
        Manager::open((acme, domains), registry, master, Arc::default(), 9000).unwrap()
    }

    #[test]
    fn http01_answers_only_its_token_on_its_host() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path(), true, VerifyMethod::None);
        lock(&m.http01).insert("tok".into(), ("a.example.test".into(), "tok.thumb".into()));
        assert_eq!(
            m.http01_answer("a.example.test", "tok").as_deref(),
            Some("tok.thumb")
        );
        assert_eq!(m.http01_answer("b.example.test", "tok"), None);
        assert_eq!(m.http01_answer("a.example.test", "other"), None);
        // Proof tokens are served only with `verify = "http"`.
        assert_eq!(m.proof_answer("a.example.test", "tok"), None);
        let status = m.cert_status("a.example.test").unwrap();
        assert_eq!((status.state, status.failures), (CertPhase::Pending, 0));
        assert!(
            m.render_metrics()
                .contains("# TYPE bucketgate_certificate_expiry_days gauge")
        );
    }

    #[test]
    fn disabled_acme_reports_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path(), false, VerifyMethod::Dns);
        assert!(m.cert_status("a.example.test").is_none());
        assert_eq!(m.render_metrics(), "");
        assert!(!m.has_cert("a.example.test"));
    }
}
