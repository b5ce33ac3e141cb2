//! TLS for the S3 listener: rustls with one default certificate and per-host certificates
//! picked by SNI (linked website domains with their own certificates).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Picks the certificate by SNI host name, falling back to the default one.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    by_host: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = hello
            .server_name()
            .and_then(|name| self.by_host.get(&name.to_ascii_lowercase()))
            .unwrap_or(&self.default);
        Some(chosen.clone())
    }
}

/// Builds the TLS acceptor from the configuration (ring crypto, HTTP/1.1 and h2 via ALPN).
pub fn acceptor(cfg: &TlsConfig) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
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
        .with_cert_resolver(Arc::new(SniResolver { default, by_host }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
