//! Domains linked to buckets: the name is checked here (reserved names, DNS syntax), the
//! link is stored by the registry with the record, in one transaction.

use std::sync::Arc;

use super::{Actor, Control, control_error};
use crate::error::{Error, Result};
use crate::meta::BucketRecord;

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
        registry.link_domain(name, host).await
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
        self.gateway.registry().unlink_domains(name, doomed).await
    }

    /// The bucket linked to `host`, if any.
    pub fn bucket_for_host(&self, host: &str) -> Result<Option<String>> {
        self.gateway.registry().domain_owner(host)
    }
}
