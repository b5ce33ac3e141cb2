//! One certificate order with instant-acme: the account (created once, its credentials sealed
//! in redb), then order → answer the challenge → wait for validation → finalize with a key
//! generated here → download the chain. No lock or transaction is held across these calls.

use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use super::{ChallengeKind, Manager, lock, store};

/// A chain and its private key (PEM), as issued.
pub(super) struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// Removes the challenge answers of one order when it ends, however it ends.
struct Answers<'a> {
    manager: &'a Manager,
    tokens: Vec<String>,
    alpn_host: Option<String>,
}

impl Drop for Answers<'_> {
    fn drop(&mut self) {
        let mut map = lock(&self.manager.http01);
        for t in &self.tokens {
            map.remove(t);
        }
        drop(map);
        if let Some(h) = &self.alpn_host {
            self.manager.certs.set_challenge(h, None);
        }
    }
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Manager {
    /// The ACME account: cached, else restored from redb, else created (and stored).
    async fn account(&self) -> Result<Account, String> {
        if let Some(a) = lock(&self.account).clone() {
            return Ok(a);
        }
        let url = self.acme.directory_url.clone();
        let builder = match &self.acme.ca_file {
            Some(path) => Account::builder_with_root(path),
            None => Account::builder(),
        }
        .map_err(|e| format!("ACME HTTP client: {e}"))?;
        let stored = store::load_account(self.registry.store(), &url).map_err(text)?;
        let account = match stored {
            Some(sealed) => {
                let json = self.master.open(&sealed).map_err(text)?;
                let creds: AccountCredentials = serde_json::from_str(&json).map_err(text)?;
                builder
                    .from_credentials(creds)
                    .await
                    .map_err(|e| format!("ACME account: {e}"))?
            }
            None => {
                let contact = self.acme.contact_url();
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new = NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                };
                let (account, creds) = builder
                    .create(&new, url.clone(), None)
                    .await
                    .map_err(|e| format!("ACME account creation at {url}: {e}"))?;
                let json = serde_json::to_string(&creds).map_err(text)?;
                store::save_account(self.registry.store(), &url, self.master.seal(&json))
                    .await
                    .map_err(text)?;
                account
            }
        };
        *lock(&self.account) = Some(account.clone());
        Ok(account)
    }

    /// Orders a certificate for `host` and returns it once issued.
    pub(super) async fn issue(&self, host: &str) -> Result<Issued, String> {
        let account = self.account().await?;
        let ids = [Identifier::Dns(host.to_owned())];
        let mut order = account
            .new_order(&NewOrder::new(&ids))
            .await
            .map_err(|e| format!("new order: {e}"))?;
        let mut answers = Answers {
            manager: self,
            tokens: Vec::new(),
            alpn_host: None,
        };
        self.answer_challenges(&mut order, host, &mut answers)
            .await?;
        let timeout = Duration::from_secs(self.acme.order_timeout_secs.max(1));
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .backoff(1.5)
            .timeout(timeout);
        let status = order
            .poll_ready(&retries)
            .await
            .map_err(|e| format!("validation: {e}"))?;
        drop(answers);
        if status != OrderStatus::Ready {
            return Err(invalid_reason(&mut order).await);
        }
        let key = rcgen::KeyPair::generate().map_err(text)?;
        let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).map_err(text)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(text)?;
        order
            .finalize_csr(csr.der())
            .await
            .map_err(|e| format!("finalize: {e}"))?;
        let chain_pem = order
            .poll_certificate(&retries)
            .await
            .map_err(|e| format!("certificate: {e}"))?;
        Ok(Issued {
            chain_pem,
            key_pem: key.serialize_pem(),
        })
    }

    /// Sets up the answer to one challenge of each pending authorization of `order` (the
    /// configured kind when offered, else the other) and tells the server it is ready.
    async fn answer_challenges(
        &self,
        order: &mut instant_acme::Order,
        host: &str,
        answers: &mut Answers<'_>,
    ) -> Result<(), String> {
        let mut authzs = order.authorizations();
        while let Some(authz) = authzs.next().await {
            let mut authz = authz.map_err(|e| format!("authorization: {e}"))?;
            match authz.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => return Err(format!("authorization is {other:?}")),
            }
            let (preferred, other) = match self.acme.challenge {
                ChallengeKind::Http01 => (ChallengeType::Http01, ChallengeType::TlsAlpn01),
                ChallengeKind::TlsAlpn01 => (ChallengeType::TlsAlpn01, ChallengeType::Http01),
            };
            let kind = if authz.challenges.iter().any(|c| c.r#type == preferred) {
                preferred
            } else {
                other
            };
            let mut challenge = authz
                .challenge(kind.clone())
                .ok_or("the ACME server offers neither http-01 nor tls-alpn-01")?;
            let key_auth = challenge.key_authorization();
            if kind == ChallengeType::Http01 {
                lock(&self.http01).insert(
                    challenge.token.clone(),
                    (host.to_owned(), key_auth.as_str().to_owned()),
                );
                answers.tokens.push(challenge.token.clone());
            } else {
                let ck = alpn_certificate(host, key_auth.digest().as_ref())?;
                self.certs.set_challenge(host, Some(ck));
                answers.alpn_host = Some(host.to_owned());
            }
            challenge
                .set_ready()
                .await
                .map_err(|e| format!("challenge: {e}"))?;
        }
        Ok(())
    }
}

/// Why an order became invalid: the validation errors its authorizations report.
async fn invalid_reason(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authzs = order.authorizations();
    while let Some(Ok(mut authz)) = authzs.next().await {
        if let Ok(state) = authz.refresh().await {
            for c in &state.challenges {
                if let Some(p) = &c.error {
                    reasons.push(format!(
                        "{:?}: {}",
                        c.r#type,
                        p.detail.as_deref().unwrap_or("failed")
                    ));
                }
            }
        }
    }
    if reasons.is_empty() {
        "the order became invalid".to_owned()
    } else {
        format!("validation failed: {}", reasons.join("; "))
    }
}

/// The self-signed certificate a TLS-ALPN-01 validation expects (RFC 8737): the host as its
/// only name and the key authorization's digest in the acmeIdentifier extension.
fn alpn_certificate(
    host: &str,
    digest: &[u8],
) -> Result<std::sync::Arc<tokio_rustls::rustls::sign::CertifiedKey>, String> {
    let key = rcgen::KeyPair::generate().map_err(text)?;
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).map_err(text)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(text)?;
    crate::tls::challenge_key(cert.der().to_vec(), &key.serialize_pem()).map_err(text)
}
