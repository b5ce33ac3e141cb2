//! Ownership proofs of linked domains (`DOMAIN_PROOFS`): the token a link's owner publishes,
//! and whether it was seen. The checks themselves (DNS look-ups) run above, in `acme`; this
//! module only keeps the rows, so that a link, its proof and its removal commit together.

use redb::{ReadableTable, WriteTransaction};

use super::Registry;
use crate::error::Result;
use crate::meta::{DOMAIN_PROOFS, DOMAINS, DomainProof, get_json, now_millis};

/// A new random token for a proof.
fn new_token() -> String {
    use rand::Rng;
    let raw: [u8; 16] = rand::thread_rng().r#gen();
    format!("bucketgate-{}", hex::encode(raw))
}

/// Records a proof for `host` linked to `bucket` unless one for that bucket exists; proven at
/// once when no proof is required.
pub(super) fn ensure_in(
    txn: &WriteTransaction,
    host: &str,
    bucket: &str,
    required: bool,
) -> Result<()> {
    let mut t = txn.open_table(DOMAIN_PROOFS)?;
    let existing: Option<DomainProof> = get_json(&t, host)?;
    if existing.is_some_and(|p| p.bucket == bucket) {
        return Ok(());
    }
    let proof = DomainProof {
        bucket: bucket.to_owned(),
        token: new_token(),
        verified: (!required).then(now_millis),
        message: None,
    };
    t.insert(host, serde_json::to_vec(&proof)?.as_slice())?;
    Ok(())
}

/// Removes the proofs of `hosts`, inside a caller's transaction.
pub(super) fn remove_in(txn: &WriteTransaction, hosts: &[String]) -> Result<()> {
    let mut t = txn.open_table(DOMAIN_PROOFS)?;
    for h in hosts {
        t.remove(h.as_str())?;
    }
    Ok(())
}

impl Registry {
    /// Whether a linked domain must prove ownership before it routes or gets a certificate.
    pub fn proof_required(&self) -> bool {
        self.proof_required
    }

    /// The ownership proof of `host`, if one is recorded.
    pub fn proof(&self, host: &str) -> Result<Option<DomainProof>> {
        self.store.read(|txn| {
            let t = txn.open_table(DOMAIN_PROOFS)?;
            get_json(&t, host)
        })
    }

    /// Whether `host` may route and get a certificate as far as ownership goes.
    pub fn proven(&self, host: &str) -> bool {
        !self.proof_required
            || self
                .proof(host)
                .ok()
                .flatten()
                .is_some_and(|p| p.verified.is_some())
    }

    /// Every linked domain with its bucket, sorted by host.
    pub fn linked_domains(&self) -> Result<Vec<(String, String)>> {
        self.store.read(|txn| {
            let t = txn.open_table(DOMAINS)?;
            let mut out = Vec::new();
            for item in t.iter()? {
                let (k, v) = item?;
                out.push((k.value().to_owned(), v.value().to_owned()));
            }
            Ok(out)
        })
    }

    /// The linked domains still waiting for their proof, with it (recording a pending proof
    /// for links made before proofs were kept: the only write, and only when one is missing).
    pub async fn pending_proofs(&self) -> Result<Vec<(String, DomainProof)>> {
        let links = self.linked_domains()?;
        let read = |links: &[(String, String)]| {
            self.store.read(|txn| {
                let t = txn.open_table(DOMAIN_PROOFS)?;
                let mut pending = Vec::new();
                let mut missing = Vec::new();
                for (host, bucket) in links {
                    match get_json::<&str, DomainProof>(&t, host.as_str())? {
                        Some(p) if p.bucket == *bucket => {
                            if p.verified.is_none() {
                                pending.push((host.clone(), p));
                            }
                        }
                        _ => missing.push((host.clone(), bucket.clone())),
                    }
                }
                Ok((pending, missing))
            })
        };
        let (pending, missing) = read(&links)?;
        if missing.is_empty() {
            return Ok(pending);
        }
        let required = self.proof_required;
        self.store
            .write(move |txn| {
                for (host, bucket) in &missing {
                    ensure_in(txn, host, bucket, required)?;
                }
                Ok(())
            })
            .await?;
        Ok(read(&links)?.0)
    }

    /// Records the outcome of one ownership check of `host` (made for `proof`): proven, or
    /// still pending with the reason. A proof replaced meanwhile (unlinked, relinked) is left
    /// alone.
    pub async fn record_proof_check(
        &self,
        host: &str,
        proof: DomainProof,
        outcome: std::result::Result<(), String>,
    ) -> Result<()> {
        let host = host.to_owned();
        self.store
            .write(move |txn| {
                let mut t = txn.open_table(DOMAIN_PROOFS)?;
                let current: Option<DomainProof> = get_json(&t, host.as_str())?;
                if current.as_ref().map(|p| &p.token) != Some(&proof.token) {
                    return Ok(());
                }
                let mut next = proof;
                match outcome {
                    Ok(()) => {
                        next.verified = Some(now_millis());
                        next.message = None;
                    }
                    Err(why) => next.message = Some(why),
                }
                t.insert(host.as_str(), serde_json::to_vec(&next)?.as_slice())?;
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::meta::{BackendKind, BucketRecord, Store};

    async fn registry(dir: &std::path::Path, required: bool) -> Registry {
        let store = Store::open(dir).unwrap();
        let reg = Registry::open(store, Arc::default())
            .unwrap()
            .requiring_proof(required);
        reg.insert_new(BucketRecord::new(
            "b",
            "alice",
            BackendKind::Embedded,
            "us-east-1",
        ))
        .await
        .unwrap();
        reg
    }

    #[tokio::test]
    async fn a_required_proof_gates_routing_until_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), true).await;
        reg.link_domain("b", "a.example.test".into()).await.unwrap();
        let route = |reg: &Registry| reg.website_bucket("a.example.test", "s3.x", "web.x");
        assert!(route(&reg).is_none());
        let pending = reg.pending_proofs().await.unwrap();
        let (host, proof) = pending.into_iter().next().unwrap();
        assert_eq!((host.as_str(), proof.verified), ("a.example.test", None));
        // An outcome for a replaced token is ignored.
        let mut stale = proof.clone();
        stale.token = "old".into();
        reg.record_proof_check(&host, stale, Ok(())).await.unwrap();
        assert!(route(&reg).is_none());
        reg.record_proof_check(&host, proof.clone(), Err("no TXT".into()))
            .await
            .unwrap();
        assert_eq!(
            reg.proof(&host).unwrap().unwrap().message.as_deref(),
            Some("no TXT")
        );
        reg.record_proof_check(&host, proof, Ok(())).await.unwrap();
        assert_eq!(route(&reg).unwrap().name, "b");
        assert!(reg.pending_proofs().await.unwrap().is_empty());
        reg.unlink_domains("b", vec![host.clone()]).await.unwrap();
        assert!(reg.proof(&host).unwrap().is_none());
    }

    #[tokio::test]
    async fn without_a_required_proof_links_route_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), false).await;
        reg.link_domain("b", "a.example.test".into()).await.unwrap();
        assert!(
            reg.website_bucket("a.example.test", "s3.x", "web.x")
                .is_some()
        );
        assert!(
            reg.proof("a.example.test")
                .unwrap()
                .unwrap()
                .verified
                .is_some()
        );
    }
}
