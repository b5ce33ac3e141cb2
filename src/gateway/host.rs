//! Host → bucket, decided in one place: `<bucket>.<S3 base>` is virtual-host style, a website
//! host (a linked domain or `<bucket>.<website base>`) names its bucket, every other Host (an
//! IP, `localhost`, a proxy's name) means path style. The front door parses each request's
//! [`Target`] with it once; s3s asks it through [`S3Host`].

use std::sync::Arc;

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

use crate::meta::BucketRecord;
use crate::registry::Registry;
use crate::request::{Style, Target};

/// The S3 and website base domains, and the registry that knows linked domains.
pub struct HostMap {
    s3_base: String,
    website_base: String,
    registry: Arc<Registry>,
}

/// What a Host names.
pub enum Named {
    /// Nothing: path style.
    Nothing,
    /// A bucket under the S3 base domain.
    VirtualHost(String),
    /// A website bucket.
    Website(Arc<BucketRecord>),
}

impl HostMap {
    pub fn new(s3_base: &str, website_base: &str, registry: Arc<Registry>) -> Self {
        Self {
            s3_base: crate::hosts::canonical(s3_base).into_owned(),
            website_base: crate::hosts::canonical(website_base).into_owned(),
            registry,
        }
    }

    /// What a canonical Host names.
    pub fn named(&self, host: &str) -> Named {
        if let Some(bucket) = host
            .strip_suffix(self.s3_base.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|b| !b.is_empty())
        {
            return Named::VirtualHost(bucket.to_owned());
        }
        match self
            .registry
            .website_bucket(host, &self.s3_base, &self.website_base)
        {
            Some(rec) => Named::Website(rec),
            None => Named::Nothing,
        }
    }

    /// A request's target, and its website bucket when its Host is a website host.
    pub fn target<B>(&self, req: &http::Request<B>) -> (Target, Option<Arc<BucketRecord>>) {
        let host =
            crate::request::request_host(req).map(|h| crate::hosts::canonical(h).into_owned());
        let (named, website) = match host.as_deref().map(|h| self.named(h)) {
            Some(Named::VirtualHost(b)) => (Some((Style::VirtualHost, b)), None),
            Some(Named::Website(rec)) => (Some((Style::Website, rec.name.clone())), Some(rec)),
            Some(Named::Nothing) | None => (None, None),
        };
        (Target::new(host, named, req.uri().path()), website)
    }
}

impl S3Host for HostMap {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        // Host names are case-insensitive (`AliceBkt.S3.LocalHost` is virtual-host style too).
        let name = crate::hosts::canonical(host);
        Ok(match self.named(&name) {
            Named::VirtualHost(bucket) => {
                VirtualHost::new(self.s3_base.as_str()).with_bucket(bucket)
            }
            Named::Website(rec) => VirtualHost::new(name).with_bucket(rec.name.clone()),
            Named::Nothing => VirtualHost::new(name),
        })
    }
}
