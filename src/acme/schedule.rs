//! The background task: proofs, then for each linked domain whether an order is due (no
//! certificate, renewal time reached, a failure's delay over), at most one order per name.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::{CertPhase, CertStatus, Manager, lock, now_secs, store};
use crate::meta::IssuedCert;

/// When `cert` is due for renewal: `fraction` of its lifetime after its start, a little
/// earlier at random (up to 1/30 of the lifetime) so that certificates issued together do not
/// all renew at the same moment.
pub(super) fn renewal_time(cert: &IssuedCert, fraction: f64) -> i64 {
    let life = (cert.not_after - cert.not_before).max(0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "seconds of a certificate's lifetime fit f64 and back"
    )]
    let offset = (life as f64 * fraction) as i64;
    let jitter = rand::thread_rng().gen_range(0..=life / 30);
    cert.not_before + (offset - jitter).max(0)
}

/// Delay before the next attempt after `failures` failed orders in a row: `min` doubled per
/// failure, at most `max`, then stretched by up to half at random.
pub(super) fn backoff(failures: u32, min: u64, max: u64) -> u64 {
    let doubled = min.saturating_mul(1u64 << failures.saturating_sub(1).min(32));
    let base = doubled.min(max);
    base + rand::thread_rng().gen_range(0..=base / 2)
}

/// Releases a host's claim on ordering when its order ends, however it ends (a panic
/// included), and wakes the background task: a failure's retry time may be earlier than its
/// current sleep.
struct Claim<'a> {
    manager: &'a Manager,
    host: &'a str,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(&self.manager.in_flight).remove(self.host);
        self.manager.kick.notify_one();
    }
}

impl Manager {
    /// Starts the background task (proofs and certificates).
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                me.pass().await;
                let wait = me.next_wake();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = me.kick.notified() => {}
                }
            }
        })
    }

    /// How long to sleep: until the earliest retry or renewal, at most one check interval.
    fn next_wake(&self) -> Duration {
        let mut secs = self.acme.check_interval_secs.max(1);
        if self.registry.proof_required() {
            secs = secs.min(self.domains.check_interval_secs.max(1));
        }
        let now = now_secs();
        for s in lock(&self.status).values() {
            for at in [s.retry_at, s.renew_at].into_iter().flatten() {
                secs = secs.min(u64::try_from(at - now).unwrap_or(0).max(1));
            }
        }
        Duration::from_secs(secs)
    }

    async fn pass(self: &Arc<Self>) {
        if self.registry.proof_required() {
            self.check_proofs().await;
        }
        if !self.acme.enabled {
            return;
        }
        let links = match self.registry.linked_domains() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list linked domains");
                return;
            }
        };
        self.prune(&links).await;
        let now = now_secs();
        for (host, _) in links {
            if self.registry.reserved_hosts().reason(&host).is_some()
                || !self.registry.proven(&host)
                || !self.due(&host, now)
                || !lock(&self.in_flight).insert(host.clone())
            {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move { me.order_one(host).await });
        }
    }

    /// Whether `host` needs an order now.
    fn due(&self, host: &str, now: i64) -> bool {
        match lock(&self.status).get(host) {
            None => true,
            Some(s) if s.retry_at.is_some_and(|at| at > now) => false,
            Some(s) => s.state != CertPhase::Valid || s.renew_at.is_none_or(|at| at <= now),
        }
    }

    /// Stops serving (and forgets) certificates of domains no longer linked.
    async fn prune(&self, links: &[(String, String)]) {
        lock(&self.status).retain(|h, _| links.iter().any(|(l, _)| l == h));
        for host in self.certs.hosts() {
            if links.iter().any(|(h, _)| *h == host) {
                continue;
            }
            self.certs.remove(&host);
            lock(&self.status).remove(&host);
            if let Err(e) = store::remove_cert(self.registry.store(), &host).await {
                tracing::warn!(%host, error = %e, "cannot remove the certificate of an unlinked domain");
            }
        }
    }

    /// One order for `host` (claimed in `in_flight` by the caller), its outcome recorded.
    async fn order_one(self: Arc<Self>, host: String) {
        let _claim = Claim {
            manager: &self,
            host: &host,
        };
        tracing::info!(%host, "ordering a certificate");
        let outcome = match self.issue(&host).await {
            Ok(issued) => self.keep(&host, issued).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(serial) => tracing::info!(%host, %serial, "certificate issued and served"),
            Err(why) => {
                let mut status = lock(&self.status);
                let s = status
                    .entry(host.clone())
                    .or_insert_with(|| CertStatus::pending(None));
                s.failures = s.failures.saturating_add(1);
                let delay = backoff(
                    s.failures,
                    self.acme.retry_min_secs,
                    self.acme.retry_max_secs,
                );
                s.state = CertPhase::Failed;
                s.retry_at = Some(now_secs() + i64::try_from(delay).unwrap_or(i64::MAX / 2));
                tracing::warn!(%host, reason = %why, failures = s.failures, retry_in_secs = delay, "certificate order failed");
                s.reason = Some(why);
            }
        }
    }

    /// Stores an issued certificate (key sealed) and serves it; returns its serial.
    async fn keep(&self, host: &str, issued: super::order::Issued) -> Result<String, String> {
        let (not_before, not_after, serial) = store::leaf_facts(&issued.chain_pem)?;
        let cert = IssuedCert {
            chain_pem: issued.chain_pem,
            key_sealed: self.master.seal(&issued.key_pem),
            not_before,
            not_after,
            serial: serial.clone(),
            issued: crate::meta::now_millis(),
        };
        store::save_cert(self.registry.store(), host, &cert)
            .await
            .map_err(|e| format!("storing the certificate: {e}"))?;
        self.install(host, &cert)?;
        Ok(serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        for (failures, lo, hi) in [(1, 60, 90), (2, 120, 180), (3, 240, 360), (20, 3600, 5400)] {
            let d = backoff(failures, 60, 3600);
            assert!((lo..=hi).contains(&d), "{failures}: {d}");
        }
        assert!(backoff(u32::MAX, 1, 10) <= 15);
    }

    #[test]
    fn renewal_at_two_thirds_of_the_lifetime() {
        let cert = IssuedCert {
            chain_pem: String::new(),
            key_sealed: String::new(),
            not_before: 0,
            not_after: 90 * 86_400,
            serial: String::new(),
            issued: 0,
        };
        let at = renewal_time(&cert, 2.0 / 3.0);
        assert!((57 * 86_400..=60 * 86_400).contains(&at), "{at}");
        assert_eq!(renewal_time(&cert, 0.0), 0);
    }
}
