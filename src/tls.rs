//! TLS for the S3 listener: rustls with one default certificate and per-host certificates
//! picked by SNI (linked website domains with their own certificates).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// `[tls]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Address of the HTTPS listener serving the S3 API and websites.
    pub listen: std::net::SocketAddr,
    /// PEM certificate chain used when no host-specific certificate matches.
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
    /// Certificates for specific hosts, chosen by SNI.
    #[serde(default)]
    pub hosts: Vec<HostCert>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCert {
    /// Host names this certificate serves (exact match, lower case).
    pub names: Vec<String>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate chain {0}: {1}")]
    Cert(String, String),
    #[error("cannot read private key {0}: {1}")]
    Key(String, String),
    #[error("certificate {0} does not fit its key: {1}")]
    Mismatch(String, String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn load(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect)
        .map_err(|e| TlsError::Cert(cert.display().to_string(), e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Cert(
            cert.display().to_string(),
            "no certificate in file".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key(key.display().to_string(), e.to_string()))?;
    let ck = CertifiedKey::from_der(chain, key_der, provider)
        .map_err(|e| TlsError::Mismatch(cert.display().to_string(), e.to_string()))?;
    Ok(Arc::new(ck))
}

/// The ALPN protocol of TLS-ALPN-01 validation connections (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Certificates that change while the server runs (issued by ACME), by host name, and the
/// TLS-ALPN-01 challenge certificates, served only to handshakes offering `acme-tls/1`.
#[derive(Debug, Default)]
pub struct CertTable {
    certs: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl CertTable {
    /// Serves `ck` for `host` (lower case) from the next handshake on.
    pub fn insert(&self, host: &str, ck: Arc<CertifiedKey>) {
        write(&self.certs).insert(host.to_ascii_lowercase(), ck);
    }

    /// Stops serving a certificate for `host`.
    pub fn remove(&self, host: &str) {
        write(&self.certs).remove(host);
    }

    pub fn get(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        read(&self.certs).get(host).cloned()
    }

    /// Host names holding a certificate.
    pub fn hosts(&self) -> Vec<String> {
        read(&self.certs).keys().cloned().collect()
    }

    /// Answers TLS-ALPN-01 handshakes for `host` with `ck` (`None` removes it).
    pub fn set_challenge(&self, host: &str, ck: Option<Arc<CertifiedKey>>) {
        let mut map = write(&self.challenges);
        match ck {
            Some(ck) => map.insert(host.to_ascii_lowercase(), ck),
            None => map.remove(host),
        };
    }

    fn challenge(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        read(&self.challenges).get(host).cloned()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// A certificate chain and private key, both PEM, as rustls serves them.
pub fn certified_key(chain_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert("(issued)".into(), e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Cert("(issued)".into(), "no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TlsError::Key("(issued)".into(), e.to_string()))?;
    CertifiedKey::from_der(chain, key, &provider)
        .map(Arc::new)
        .map_err(|e| TlsError::Mismatch("(issued)".into(), e.to_string()))
}

/// A TLS-ALPN-01 challenge certificate (one self-signed DER certificate) and its PEM key.
/// Its critical acmeIdentifier extension is unknown to webpki, so the key is not checked
/// against the certificate as [`certified_key`] does: both were just made together.
pub fn challenge_key(cert_der: Vec<u8>, key_pem: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TlsError::Key("(challenge)".into(), e.to_string()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key("(challenge)".into(), e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert_der)],
        signing,
    )))
}

/// Picks the certificate by SNI host name: configured ones, then issued ones, then the default.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    by_host: HashMap<String, Arc<CertifiedKey>>,
    issued: Arc<CertTable>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        // RFC 8737: a validation offers `acme-tls/1` and nothing else.
        let acme_only = hello.alpn().is_some_and(|protocols| {
            let offered: Vec<&[u8]> = protocols.collect();
            !offered.is_empty() && offered.iter().all(|p| *p == ACME_TLS_ALPN)
        });
        if acme_only {
            // A TLS-ALPN-01 validation: its certificate or nothing.
            return name.and_then(|n| self.issued.challenge(&n));
        }
        let Some(name) = name else {
            return Some(self.default.clone());
        };
        self.by_host
            .get(&name)
            .cloned()
            .or_else(|| self.issued.get(&name))
            .or_else(|| Some(self.default.clone()))
    }
}

/// Builds the TLS acceptor from the configuration (ring crypto, HTTP/1.1 and h2 via ALPN, and
/// `acme-tls/1` for TLS-ALPN-01 validations); `issued` holds certificates added at run time.
pub fn acceptor(
    cfg: &TlsConfig,
    issued: Arc<CertTable>,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let default = load(&cfg.cert, &cfg.key, &provider)?;
    let mut by_host = HashMap::new();
    for h in &cfg.hosts {
        let ck = load(&h.cert, &h.key, &provider)?;
        for name in &h.names {
            by_host.insert(name.to_ascii_lowercase(), ck.clone());
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver {
            default,
            by_host,
            issued,
        }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
