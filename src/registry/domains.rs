//! Domains linked to buckets (`DOMAINS`: host → bucket, mirrored in each record's `domains`)
//! and the website host → bucket lookup.

use std::sync::Arc;

use redb::{ReadableTable, WriteTransaction};

use super::Registry;
use crate::error::{Error, Result};
use crate::meta::{BUCKETS, BucketRecord, DOMAINS, get_json};

/// Removes every link to `bucket`, inside a caller's transaction.
pub(super) fn unlink_all_in(txn: &WriteTransaction, bucket: &str) -> Result<()> {
    let mut domains = txn.open_table(DOMAINS)?;
    let mine: Vec<String> = domains
        .iter()?
        .filter_map(|item| item.ok())
        .filter(|(_, b)| b.value() == bucket)
        .map(|(h, _)| h.value().to_owned())
        .collect();
    for h in &mine {
        domains.remove(h.as_str())?;
    }
    super::proofs::remove_in(txn, &mine)
}

/// Stores a changed record inside a transaction: the bucket must still exist.
fn store_record(txn: &WriteTransaction, rec: &BucketRecord) -> Result<()> {
    let mut buckets = txn.open_table(BUCKETS)?;
    if get_json::<&str, BucketRecord>(&buckets, rec.name.as_str())?.is_none() {
        return Err(crate::error::client_err!(
            NoSuchBucket,
            "The specified bucket does not exist"
        ));
    }
    let bytes = serde_json::to_vec(rec)?;
    buckets.insert(rec.name.as_str(), bytes.as_slice())?;
    Ok(())
}

impl Registry {
    /// The bucket a website Host names: a linked domain, or `<bucket>.<website_base>`. Hosts
    /// of the S3 API itself (IPs, the S3 base domain and its subdomains) and reserved names
    /// name none.
    pub fn website_bucket(
        &self,
        host: &str,
        s3_base: &str,
        website_base: &str,
    ) -> Option<Arc<BucketRecord>> {
        let host = crate::hosts::canonical(host);
        let host = host.as_ref();
        if host.parse::<std::net::IpAddr>().is_ok()
            || host == s3_base
            || host.strip_suffix(s3_base).is_some_and(|p| p.ends_with('.'))
        {
            return None;
        }
        if let Some(name) = host
            .strip_suffix(website_base)
            .and_then(|p| p.strip_suffix('.'))
            .filter(|p| !p.is_empty())
        {
            return self.cached(name);
        }
        // A reserved name never routes by a link, whatever is stored (a link made before the
        // name was reserved): the endpoint's own hosts stay the endpoint's.
        if self.reserved.reason(host).is_some() {
            return None;
        }
        let linked = self.domain_owner(host).ok().flatten()?;
        if !self.proven(host) {
            return None;
        }
        self.cached(&linked)
    }

    /// The bucket `host` is linked to, if any.
    pub fn domain_owner(&self, host: &str) -> Result<Option<String>> {
        self.store.read(|txn| {
            let t = txn.open_table(DOMAINS)?;
            Ok(t.get(host)?.map(|v| v.value().to_owned()))
        })
    }

    /// The names no bucket may link (see [`crate::hosts::ReservedHosts`]).
    pub fn reserved_hosts(&self) -> &crate::hosts::ReservedHosts {
        &self.reserved
    }

    /// Why each of a bucket's linked domains does not route, if it does not.
    pub fn domain_refusals(&self, rec: &BucketRecord) -> Vec<(String, Option<String>)> {
        rec.domains
            .iter()
            .map(|d| (d.clone(), self.reserved.reason(d)))
            .collect()
    }

    /// Logs, once at start-up, each stored link that a reserved name now shadows: it no
    /// longer routes (see [`Self::website_bucket`]) and its owner should unlink it.
    pub fn warn_reserved_links(&self) -> Result<()> {
        let links: Vec<(String, String)> = self.store.read(|txn| {
            let t = txn.open_table(DOMAINS)?;
            let mut out = Vec::new();
            for item in t.iter()? {
                let (k, v) = item?;
                out.push((k.value().to_owned(), v.value().to_owned()));
            }
            Ok(out)
        })?;
        for (host, bucket) in links {
            if let Some(why) = self.reserved.reason(&host) {
                tracing::warn!(%host, %bucket, reason = %why, "linked domain is reserved; it does not route until unlinked");
            }
        }
        Ok(())
    }

    /// Links a checked, normalised `host` to `bucket`, with the record, in one transaction;
    /// `409 DomainInUse` when another bucket has it.
    pub async fn link_domain(&self, bucket: &str, host: String) -> Result<Arc<BucketRecord>> {
        let mut rec = (*self.resolve(bucket)?).clone();
        if !rec.domains.contains(&host) {
            rec.domains.push(host.clone());
        }
        rec.updated = crate::meta::now_millis();
        let stored = rec.clone();
        let required = self.proof_required;
        self.store
            .write(move |txn| {
                {
                    let mut domains = txn.open_table(DOMAINS)?;
                    if let Some(other) = domains.get(host.as_str())?
                        && other.value() != stored.name
                    {
                        return Err(Error::custom(
                            "DomainInUse",
                            http::StatusCode::CONFLICT,
                            "domain: already linked to another bucket",
                        ));
                    }
                    domains.insert(host.as_str(), stored.name.as_str())?;
                }
                super::proofs::ensure_in(txn, &host, &stored.name, required)?;
                store_record(txn, &stored)
            })
            .await?;
        let rec = Arc::new(rec);
        self.cache(rec.clone());
        Ok(rec)
    }

    /// Unlinks `hosts` (normalised) from `bucket`, with the record, in one transaction.
    pub async fn unlink_domains(
        &self,
        bucket: &str,
        hosts: Vec<String>,
    ) -> Result<Arc<BucketRecord>> {
        let mut rec = (*self.resolve(bucket)?).clone();
        rec.domains.retain(|h| !hosts.contains(h));
        rec.updated = crate::meta::now_millis();
        let stored = rec.clone();
        self.store
            .write(move |txn| {
                {
                    let mut domains = txn.open_table(DOMAINS)?;
                    let mut mine = Vec::new();
                    for h in &hosts {
                        if domains
                            .get(h.as_str())?
                            .is_some_and(|v| v.value() == stored.name)
                        {
                            mine.push(h.clone());
                        }
                    }
                    for h in &mine {
                        domains.remove(h.as_str())?;
                    }
                    super::proofs::remove_in(txn, &mine)?;
                }
                store_record(txn, &stored)
            })
            .await?;
        let rec = Arc::new(rec);
        self.cache(rec.clone());
        Ok(rec)
    }
}
