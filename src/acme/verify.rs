//! Ownership proofs: the TXT record `_bucketgate-challenge.<domain>` (`verify = "dns"`) or
//! the token served back by the domain itself (`verify = "http"`), checked for every linked
//! domain still pending. The outcome is recorded by the registry, which routes only proven
//! domains.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use super::{Manager, VerifyMethod};

/// The TXT record name a domain's proof is published under.
pub fn txt_name(host: &str) -> String {
    format!("_bucketgate-challenge.{host}")
}

/// A resolver on the configured DNS server, or the system's. Built for each pass so that an
/// answer cached from the last one (a missing record) does not hide a record just published.
pub(super) fn resolver(server: Option<std::net::SocketAddr>) -> Result<TokioResolver, String> {
    let builder = match server {
        Some(addr) => {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| format!("system resolver: {e}"))?,
    };
    builder.build().map_err(|e| format!("DNS resolver: {e}"))
}

impl Manager {
    /// Checks every pending proof once.
    pub(super) async fn check_proofs(&self) {
        let pending = match self.registry.pending_proofs().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list pending domain proofs");
                return;
            }
        };
        if pending.is_empty() {
            return;
        }
        let resolver = match resolver(self.domains.resolver) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check domain proofs");
                return;
            }
        };
        for (host, proof) in pending {
            let outcome = match self.domains.verify {
                VerifyMethod::Http => self.check_http(&resolver, &host, &proof.token).await,
                _ => check_txt(&resolver, &host, &proof.token).await,
            };
            match &outcome {
                Ok(()) => tracing::info!(%host, "domain ownership proven"),
                Err(why) => {
                    tracing::debug!(%host, reason = %why, "domain ownership not proven yet")
                }
            }
            if let Err(e) = self
                .registry
                .record_proof_check(&host, proof, outcome)
                .await
            {
                tracing::warn!(%host, error = %e, "cannot record a domain proof check");
            }
        }
    }

    /// `http://<host>:<http_port>/.well-known/bucketgate-challenge/<token>` must answer the
    /// token: the domain reaches this gateway.
    async fn check_http(
        &self,
        resolver: &TokioResolver,
        host: &str,
        token: &str,
    ) -> Result<(), String> {
        let ip = resolver
            .lookup_ip(format!("{host}."))
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .iter()
            .next()
            .ok_or_else(|| format!("{host} has no address"))?;
        let addr = std::net::SocketAddr::new(ip, self.domains.http_port);
        let client = reqwest::Client::builder()
            .resolve(host, addr)
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let url = format!(
            "http://{host}:{}{}{token}",
            self.domains.http_port,
            super::PROOF_PATH
        );
        let resp = client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() && body.trim() == token {
            Ok(())
        } else {
            Err(format!("GET {url} answered {status}, not the token"))
        }
    }
}

/// The TXT record of `host` must carry `token`.
async fn check_txt(resolver: &TokioResolver, host: &str, token: &str) -> Result<(), String> {
    let name = txt_name(host);
    let lookup = resolver
        .txt_lookup(format!("{name}."))
        .await
        .map_err(|e| format!("no TXT record {name}: {e}"))?;
    let values: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect();
    if values.iter().any(|v| v.trim() == token) {
        Ok(())
    } else {
        Err(format!(
            "TXT record {name} does not carry the token (found {values:?})"
        ))
    }
}
