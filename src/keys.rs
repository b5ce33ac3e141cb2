//! Access keys: their records (`ACCESS_KEYS`, secrets sealed with the master key), the secrets
//! s3s needs to verify SigV4, and who a key belongs to. The only writer of access-key rows.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use redb::{ReadableTable, WriteTransaction};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use crate::error::{Error, Result};
use crate::meta::{ACCESS_KEYS, AccessKeyRecord, Store, UnixMillis, get_json, now_millis};
use crate::policy::Principal;
use crate::secrets::MasterKey;

/// Owner id of the root access key.
pub const ROOT_USER: &str = "root";

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

/// A key as listed (never its secret).
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub access_key: String,
    pub owner: String,
    pub created: UnixMillis,
    pub disabled: bool,
}

/// What [`KeyStore::change`] does to a key.
#[derive(Debug, Clone, Copy)]
pub enum KeyChange {
    Enable,
    Disable,
    Delete,
}

impl KeyStore {
    pub fn new(store: Store, master: Arc<MasterKey>) -> Self {
        Self {
            store,
            master,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Creates or replaces an access key (the root key at start-up, a user's new key).
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
        self.forget(access_key);
        Ok(())
    }

    /// True when a key with this id exists.
    pub fn exists(&self, access_key: &str) -> Result<bool> {
        self.store
            .read(|txn| Ok(txn.open_table(ACCESS_KEYS)?.get(access_key)?.is_some()))
    }

    /// Every key `keep` accepts, in id order.
    fn entries(&self, keep: impl Fn(&AccessKeyRecord) -> bool) -> Result<Vec<KeyEntry>> {
        self.store.read(|txn| {
            let keys = txn.open_table(ACCESS_KEYS)?;
            let mut out = Vec::new();
            for item in keys.iter()? {
                let (k, v) = item?;
                let rec: AccessKeyRecord = serde_json::from_slice(v.value())?;
                if keep(&rec) {
                    out.push(KeyEntry {
                        access_key: k.value().to_owned(),
                        owner: rec.owner,
                        created: rec.created,
                        disabled: rec.disabled,
                    });
                }
            }
            Ok(out)
        })
    }

    /// The keys of one user.
    pub fn keys_of(&self, owner: &str) -> Result<Vec<KeyEntry>> {
        self.entries(|r| r.owner == owner)
    }

    /// An enabled key of the root user (to presign on the admin's behalf).
    pub fn root_key(&self) -> Result<String> {
        self.entries(|r| r.owner == ROOT_USER && !r.disabled)?
            .into_iter()
            .next()
            .map(|k| k.access_key)
            .ok_or(Error::Bug("no root access key"))
    }

    /// Enables, disables or deletes `owner`'s key; false when `owner` has no such key.
    pub async fn change(&self, owner: &str, access_key: &str, change: KeyChange) -> Result<bool> {
        let (user, key) = (owner.to_owned(), access_key.to_owned());
        let found = self
            .store
            .write(move |txn| {
                let mut keys = txn.open_table(ACCESS_KEYS)?;
                let mut rec: AccessKeyRecord =
                    match get_json::<&str, AccessKeyRecord>(&keys, key.as_str())? {
                        Some(r) if r.owner == user => r,
                        _ => return Ok(false),
                    };
                match change {
                    KeyChange::Enable | KeyChange::Disable => {
                        rec.disabled = matches!(change, KeyChange::Disable);
                        let bytes = serde_json::to_vec(&rec)?;
                        keys.insert(key.as_str(), bytes.as_slice())?;
                    }
                    KeyChange::Delete => {
                        keys.remove(key.as_str())?;
                    }
                }
                Ok(true)
            })
            .await?;
        self.forget(access_key);
        Ok(found)
    }

    /// Deletes every key of `owner` inside a caller's transaction (a user's deletion); the
    /// ids removed, to [`Self::forget`] after the commit.
    pub fn remove_owned_in(txn: &WriteTransaction, owner: &str) -> Result<Vec<String>> {
        let mut keys = txn.open_table(ACCESS_KEYS)?;
        let mut doomed = Vec::new();
        for item in keys.iter()? {
            let (k, v) = item?;
            let rec: AccessKeyRecord = serde_json::from_slice(v.value())?;
            if rec.owner == owner {
                doomed.push(k.value().to_owned());
            }
        }
        for k in &doomed {
            keys.remove(k.as_str())?;
        }
        Ok(doomed)
    }

    fn lookup(&self, access_key: &str) -> S3Result<CachedKey> {
        if let Some(k) = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
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
            .unwrap_or_else(PoisonError::into_inner)
            .insert(access_key.to_owned(), key.clone());
        Ok(key)
    }

    /// Drops a cached key (after it was disabled, deleted or replaced).
    pub fn forget(&self, access_key: &str) {
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
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

    /// The caller behind an access key.
    pub fn principal(&self, access_key: &str) -> S3Result<Principal> {
        let owner = self.owner_of(access_key)?;
        Ok(if owner == ROOT_USER {
            Principal::Root
        } else {
            Principal::User {
                id: owner,
                access_key: access_key.to_owned(),
            }
        })
    }
}

/// The key store as s3s's secret provider (s3s takes it by value).
pub struct Auth(pub Arc<KeyStore>);

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        Ok(self.0.lookup(access_key)?.secret)
    }
}
