//! Domains linked to buckets: the name is checked here (reserved names, DNS syntax), the
//! link is stored by the registry with the record, in one transaction.

use std::sync::Arc;

use super::{Actor, Control, control_error};
use crate::acme::{CertStatus, VerifyMethod};
use crate::error::{Error, Result};
use crate::meta::{BucketRecord, DomainProof};

/// One linked domain as the control plane knows it.
#[derive(Debug, Clone)]
pub struct DomainReport {
    pub domain: String,
    /// Why the name is reserved (it never routes).
    pub reserved: Option<String>,
    /// How ownership is proven (`none`: it is not asked).
    pub method: VerifyMethod,
    /// The ownership proof, when one is recorded.
    pub proof: Option<DomainProof>,
    /// Ownership is proven, or no proof is required.
    pub proven: bool,
    /// The certificate, when ACME is enabled.
    pub certificate: Option<CertStatus>,
}

/// A domain the link check refused, as the API's error.
fn domain_refused(r: crate::hosts::Refusal) -> Error {
    control_error(r.code(), http::StatusCode::BAD_REQUEST, r.message())
}

impl Control {
    /// Links `host` to a bucket (served as a website). A host names one bucket at most, and
    /// names the gateway itself answers to can never be linked: `400 ReservedDomain`; a name
    /// that is not a DNS host name is `400 InvalidDomain`, one linked to another bucket
    /// `409 DomainInUse`.
    pub async fn link_domain(
        &self,
        actor: &Actor,
        name: &str,
        host: &str,
    ) -> Result<Arc<BucketRecord>> {
        let registry = self.gateway.registry();
        let host = registry
            .reserved_hosts()
            .check_link(host)
            .map_err(domain_refused)?;
        self.bucket(actor, name)?;
        let rec = registry.link_domain(name, host).await?;
        if let Some(acme) = &self.acme {
            acme.kick();
        }
        Ok(rec)
    }

    /// Unlinks one domain of a bucket, or all of them (`host == None`).
    pub async fn unlink_domain(
        &self,
        actor: &Actor,
        name: &str,
        host: Option<&str>,
    ) -> Result<Arc<BucketRecord>> {
        let rec = self.bucket(actor, name)?;
        let doomed: Vec<String> = match host {
            // Reserved names can be unlinked: that is how a link made before its name was
            // reserved goes away.
            Some(h) => vec![crate::hosts::normalize_domain(h).map_err(domain_refused)?],
            None => rec.domains.clone(),
        };
        let rec = self.gateway.registry().unlink_domains(name, doomed).await?;
        if let Some(acme) = &self.acme {
            // Its certificate stops being served at the next pass: now.
            acme.kick();
        }
        Ok(rec)
    }

    /// Whether `host`, linked to the bucket, currently answers from this gateway (see
    /// [`crate::acme::Manager::reachability`]). Only a host linked to this bucket is checked:
    /// another is `404 NoSuchDomain`, a reserved one (it never routes) `400 ReservedDomain`.
    pub async fn check_domain(
        &self,
        actor: &Actor,
        name: &str,
        host: &str,
    ) -> Result<crate::acme::Reachability> {
        let rec = self.bucket(actor, name)?;
        let host = crate::hosts::normalize_domain(host).map_err(domain_refused)?;
        if !rec.domains.contains(&host) {
            return Err(control_error(
                "NoSuchDomain",
                http::StatusCode::NOT_FOUND,
                format!("{host} is not linked to this bucket"),
            ));
        }
        if let Some(why) = self.gateway.registry().reserved_hosts().reason(&host) {
            return Err(control_error(
                "ReservedDomain",
                http::StatusCode::BAD_REQUEST,
                format!("{host} never routes: {why}"),
            ));
        }
        let acme = self
            .acme
            .as_ref()
            .ok_or(Error::Bug("domain checks need the ACME manager"))?;
        Ok(acme.reachability(&host).await)
    }

    /// Where each of a bucket's linked domains stands: reserved, ownership proof, certificate.
    pub fn domain_reports(&self, rec: &BucketRecord) -> Vec<DomainReport> {
        let registry = self.gateway.registry();
        let method = self
            .acme
            .as_ref()
            .map_or(VerifyMethod::None, |a| a.domains_config().verify);
        registry
            .domain_refusals(rec)
            .into_iter()
            .map(|(domain, reserved)| {
                let proof = registry.proof(&domain).ok().flatten();
                let certificate = self.acme.as_ref().and_then(|a| a.cert_status(&domain));
                DomainReport {
                    proven: registry.proven(&domain),
                    domain,
                    reserved,
                    method,
                    proof,
                    certificate,
                }
            })
            .collect()
    }

    /// The bucket linked to `host`, if any.
    pub fn bucket_for_host(&self, host: &str) -> Result<Option<String>> {
        self.gateway.registry().domain_owner(host)
    }
}
