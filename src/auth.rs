//! The S3 door's plug points for s3s: secrets for SigV4 (`S3Auth`), the access decision made
//! before any body is read (`S3Access`), and Host parsing for virtual-host style (`S3Host`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::host::{S3Host, VirtualHost};
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};

use crate::error::Result;
use crate::meta::{ACCESS_KEYS, AccessKeyRecord, Store, get_json, now_millis};
use crate::policy::{Principal, authorize};
use crate::secrets::MasterKey;

/// Access keys from redb, secrets opened with the master key and cached in memory.
pub struct KeyStore {
    store: Store,
    master: Arc<MasterKey>,
    cache: RwLock<HashMap<String, CachedKey>>,
}

#[derive(Clone)]
struct CachedKey {
    secret: SecretKey,
    owner: String,
}

impl KeyStore {
    pub fn new(store: Store, master: Arc<MasterKey>) -> Self {
        Self {
            store,
            master,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Creates or replaces an access key (used for the root key at start-up).
    pub async fn put_key(&self, access_key: &str, secret: &str, owner: &str) -> Result<()> {
        let record = AccessKeyRecord {
            owner: owner.to_owned(),
            secret_sealed: self.master.seal(secret),
            created: now_millis(),
            disabled: false,
        };
        let bytes = serde_json::to_vec(&record)?;
        let id = access_key.to_owned();
        self.store
            .write(move |txn| {
                txn.open_table(ACCESS_KEYS)?
                    .insert(id.as_str(), bytes.as_slice())?;
                Ok(())
            })
            .await?;
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(access_key);
        Ok(())
    }

    /// True when a key with this id exists.
    pub fn exists(&self, access_key: &str) -> Result<bool> {
        self.store
            .read(|txn| Ok(txn.open_table(ACCESS_KEYS)?.get(access_key)?.is_some()))
    }

    fn lookup(&self, access_key: &str) -> S3Result<CachedKey> {
        if let Some(k) = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(access_key)
        {
            return Ok(k.clone());
        }
        let record = self
            .store
            .read(|txn| {
                let table = txn.open_table(ACCESS_KEYS)?;
                get_json::<&str, AccessKeyRecord>(&table, access_key)
            })
            .map_err(s3s::S3Error::from)?;
        let Some(record) = record.filter(|r| !r.disabled) else {
            return Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ));
        };
        let secret = self.master.open(&record.secret_sealed).map_err(|e| {
            tracing::error!(error = %e, "cannot open a stored secret");
            s3_error!(InternalError)
        })?;
        let key = CachedKey {
            secret: SecretKey::from(secret),
            owner: record.owner,
        };
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(access_key.to_owned(), key.clone());
        Ok(key)
    }

    /// Drops a cached key (after it was disabled, deleted or replaced).
    pub fn forget(&self, access_key: &str) {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(access_key);
    }

    /// The secret of an enabled key (to presign URLs on its behalf).
    pub fn secret_of(&self, access_key: &str) -> S3Result<String> {
        Ok(self.lookup(access_key)?.secret.expose().to_owned())
    }

    /// The user that owns `access_key`.
    pub fn owner_of(&self, access_key: &str) -> S3Result<String> {
        Ok(self.lookup(access_key)?.owner)
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyStore {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        Ok(self.lookup(access_key)?.secret)
    }
}

/// The access decision, made after the signature is verified and before the body is read:
/// who the caller is, whether the bucket lets them run this operation, and whether the key is
/// one we accept. The caller is left in the request extensions for the gateway.
pub struct Access {
    pub gateway: Arc<crate::gateway::Gateway>,
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let who = match cx.credentials() {
            Some(c) => self.gateway.principal(&c.access_key)?,
            None => Principal::Anonymous,
        };
        let op = cx.s3_op().name();
        let bucket = match cx.s3_path() {
            S3Path::Root => None,
            S3Path::Bucket { bucket } => Some(bucket.to_string()),
            S3Path::Object { bucket, key } => {
                crate::s3util::validate_key(key)?;
                Some(bucket.to_string())
            }
        };
        match bucket.and_then(|b| self.gateway.cached(&b)) {
            // Creating a taken name is answered by the gateway (BucketAlreadyExists), not 403.
            Some(_) if op == "CreateBucket" && who != Principal::Anonymous => {}
            Some(rec) => authorize(&who, op, &rec)?,
            // No such bucket (or the root): anonymous callers learn nothing; signed callers go
            // on to CreateBucket, ListBuckets or a NoSuchBucket answer.
            None if who == Principal::Anonymous => {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
            None => {}
        }
        cx.extensions_mut().insert(who);
        Ok(())
    }
}

/// Virtual-host style under one base domain: `<bucket>.<base>` names a bucket, the base
/// domain itself and every other Host (an IP, `localhost`, a proxy's name) mean path style.
pub struct BaseDomainHost {
    base: String,
    /// Website hosts (linked domains, `<bucket>.<website base>`) name their bucket too, so a
    /// presigned URL on a bucket's own domain works.
    websites: Option<(crate::gateway::Gateway, String)>,
}

impl BaseDomainHost {
    pub fn new(base: &str) -> Self {
        Self {
            base: crate::hosts::canonical(base).into_owned(),
            websites: None,
        }
    }

    /// Also maps website hosts to their buckets.
    pub fn with_websites(mut self, gateway: crate::gateway::Gateway, website_base: &str) -> Self {
        self.websites = Some((gateway, crate::hosts::canonical(website_base).into_owned()));
        self
    }
}

impl S3Host for BaseDomainHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        // Host names are case-insensitive (`AliceBkt.S3.LocalHost` is virtual-host style too).
        let name = crate::hosts::canonical(host);
        if let Some(bucket) = name
            .strip_suffix(self.base.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|b| !b.is_empty())
        {
            return Ok(VirtualHost::new(self.base.as_str()).with_bucket(bucket.to_owned()));
        }
        if let Some((gateway, website_base)) = &self.websites
            && let Some(bucket) = gateway.website_bucket(&name, &self.base, website_base)
        {
            return Ok(VirtualHost::new(name).with_bucket(bucket.name.clone()));
        }
        Ok(VirtualHost::new(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_virtual_or_path_style() {
        let h = BaseDomainHost::new("s3.localhost");
        let vh = h.parse_host_header("photos.s3.localhost:9000").unwrap();
        assert_eq!(vh.bucket(), Some("photos"));
        let vh = h.parse_host_header("s3.localhost:9000").unwrap();
        assert_eq!(vh.bucket(), None);
        let vh = h.parse_host_header("localhost:9000").unwrap();
        assert_eq!(vh.bucket(), None);
        let vh = h.parse_host_header("evil-s3.localhost").unwrap();
        assert_eq!(vh.bucket(), None);
        let vh = h.parse_host_header("[::1]:9000").unwrap();
        assert_eq!(vh.bucket(), None);
        let vh = h.parse_host_header("AliceBkt.S3.LocalHost.:9000").unwrap();
        assert_eq!(vh.bucket(), Some("alicebkt"));
    }
}
