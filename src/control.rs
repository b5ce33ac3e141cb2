//! The control plane's operations on users, access keys and buckets, used by the admin REST
//! API (and through it by the CLI and the console). S3 stays the data path: object operations
//! of the API call the gateway's S3 service like any client would.

pub mod history;

use std::sync::Arc;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, client_err};
use crate::gateway::{Gateway, ROOT_USER};
use crate::meta::{
    ACCESS_KEYS, AccessKeyRecord, BUCKETS, BackendKind, BucketRecord, DOMAINS, Grant, Quota, USERS,
    UnixMillis, UsageRecord, UserRecord, get_json, now_millis,
};
use crate::secrets;

/// Who is calling the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The admin token: everything.
    Admin,
    /// A user's access key: only that user's buckets and keys.
    User(String),
}

impl Actor {
    fn may_see(&self, owner: &str) -> bool {
        match self {
            Self::Admin => true,
            Self::User(id) => id == owner,
        }
    }

    fn user_id(&self) -> &str {
        match self {
            Self::Admin => ROOT_USER,
            Self::User(id) => id,
        }
    }
}

/// A user's access key as listed (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub access_key: String,
    pub user_id: String,
    pub created: UnixMillis,
    pub disabled: bool,
}

/// A new access key: the secret is shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct NewKey {
    pub access_key: String,
    pub secret_key: String,
    pub user_id: String,
}

/// What may be set when creating a bucket.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BucketCreate {
    pub name: String,
    /// Owner (admin only; a user's key always creates for that user).
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub workspace: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub backend: Option<BackendKind>,
    /// Backend profile of a container bucket (`minio`, `rustfs`, …; default from config).
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub max_size_bytes: Option<u64>,
    #[serde(default)]
    pub max_objects: Option<u64>,
    #[serde(default)]
    pub public_read: Option<bool>,
    #[serde(default)]
    pub public_list: Option<bool>,
    #[serde(default)]
    pub versioning: Option<bool>,
    #[serde(default)]
    pub encryption: Option<String>,
}

/// A partial update; absent fields stay as they are, `null` clears optional ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BucketPatch {
    #[serde(default, with = "double_option")]
    pub description: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub max_size_bytes: Option<Option<u64>>,
    #[serde(default, with = "double_option")]
    pub max_objects: Option<Option<u64>>,
    #[serde(default)]
    pub public_read: Option<bool>,
    #[serde(default)]
    pub public_list: Option<bool>,
    #[serde(default)]
    pub versioning: Option<bool>,
    #[serde(default, with = "double_option")]
    pub encryption: Option<Option<String>>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default, with = "double_option")]
    pub team: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub workspace: Option<Option<String>>,
    #[serde(default)]
    pub grants: Option<Vec<Grant>>,
    /// Static website documents; `null` turns the website off.
    #[serde(default, with = "double_option")]
    pub website: Option<Option<crate::settings::WebsiteSettings>>,
    /// CORS rules for the S3 listener; `null` removes them.
    #[serde(default, with = "double_option")]
    pub cors: Option<Option<Vec<crate::settings::CorsRuleSettings>>>,
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Usage and limits of a bucket.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketStats {
    pub bucket: String,
    pub status: &'static str,
    pub objects: u64,
    pub bytes: u64,
    pub pending_bytes: u64,
    pub max_size_bytes: Option<u64>,
    pub max_objects: Option<u64>,
    /// Bytes used as a percentage of `maxSizeBytes`.
    pub size_used_percent: Option<f64>,
    /// Objects as a percentage of `maxObjects`.
    pub objects_used_percent: Option<f64>,
    /// S3 requests, failed ones (4xx/5xx), and bytes received and sent, since the gateway
    /// started (kept in memory).
    pub requests: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

fn invalid(field: &str, msg: &str) -> Error {
    client_err!(InvalidArgument, "{field}: {msg}")
}

/// A refused website or CORS setting: `400 InvalidArgument` naming its field.
fn setting_error(e: crate::settings::SettingError) -> Error {
    invalid(&e.field, &e.message)
}

/// A control-plane error with its own code (not one of S3's) and HTTP status.
fn control_error(code: &'static str, status: http::StatusCode, msg: impl Into<String>) -> Error {
    let mut e = s3s::S3Error::with_message(s3s::S3ErrorCode::Custom(code.into()), msg.into());
    e.set_status_code(status);
    Error::Client(e)
}

/// A setting the bucket's own S3 server refused (it lacks versioning, say) is the caller's to
/// change, not a failure of ours: `409 SettingRefused` with the server's answer.
fn refused_by_backend(e: Error) -> Error {
    match e {
        Error::Client(s3)
            if s3.status_code().is_some_and(|c| c.is_client_error())
                || *s3.code() == s3s::S3ErrorCode::NotImplemented =>
        {
            control_error(
                "SettingRefused",
                http::StatusCode::CONFLICT,
                format!(
                    "the bucket's storage server refused the setting: {} {}",
                    s3.code().as_str(),
                    s3.message().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
            )
        }
        other => other,
    }
}

fn no_such_user() -> Error {
    control_error("NoSuchUser", http::StatusCode::NOT_FOUND, "user not found")
}

fn no_such_key() -> Error {
    control_error(
        "NoSuchAccessKey",
        http::StatusCode::NOT_FOUND,
        "access key not found",
    )
}

/// Checks a bucket name against S3's DNS-compatible naming rules.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    // Prefixes and suffixes AWS reserves for its own naming schemes.
    const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    let reserved = RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        || RESERVED_SUFFIXES.iter().any(|p| name.ends_with(p));
    if s3s::path::check_bucket_name(name) && !name.contains("..") && !reserved {
        Ok(())
    } else {
        Err(client_err!(
            InvalidBucketName,
            "name: 3-63 characters of lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, without AWS-reserved prefixes (xn--, sthree-) or suffixes (-s3alias, --ol-s3)"
        ))
    }
}

fn validate_id(field: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            "1-128 characters of letters, digits, '-', '_', '.', '@'",
        ))
    }
}

/// User ids are path segments of the API (`/api/users/{id}`) and appear in bucket records
/// and logs: lower-case letters, digits, then also `.`, `_`, `@`, `-`; 1-64 characters. A
/// leading letter or digit rules out `.`, `..` (dot segments collapse in URLs) and ids that
/// read as command-line options.
fn validate_user_id(id: &str) -> Result<()> {
    let mut bytes = id.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes.all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'@' | b'-')
    });
    if first_ok && rest_ok && id.len() <= 64 {
        Ok(())
    } else {
        Err(control_error(
            "InvalidUserId",
            http::StatusCode::BAD_REQUEST,
            "id: 1-64 characters of lower-case letters, digits, '.', '_', '@' and '-', starting with a letter or digit",
        ))
    }
}

/// Free text shown to people (descriptions): control characters (C0, DEL, C1) are refused, so
/// no record can carry terminal escapes to an admin's terminal or a log viewer.
pub fn check_text(field: &str, v: Option<&str>) -> Result<()> {
    match v {
        Some(v) if v.chars().any(char::is_control) => Err(invalid(
            field,
            "control characters (U+0000-U+001F, U+007F-U+009F) are not allowed",
        )),
        _ => Ok(()),
    }
}

/// The control plane over one gateway.
pub struct Control {
    gateway: Arc<Gateway>,
}

impl Control {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    // ---- users ----

    pub async fn create_user(
        &self,
        id: &str,
        name: Option<&str>,
        team: Option<&str>,
    ) -> Result<UserRecord> {
        validate_user_id(id)?;
        if id == ROOT_USER {
            return Err(invalid("id", "'root' is reserved"));
        }
        if let Some(t) = team {
            validate_id("team", t)?;
        }
        let rec = UserRecord {
            id: id.to_owned(),
            name: name.unwrap_or(id).to_owned(),
            team: team.map(str::to_owned),
            created: now_millis(),
        };
        let bytes = serde_json::to_vec(&rec)?;
        let key = id.to_owned();
        self.gateway
            .store()
            .write(move |txn| {
                let mut users = txn.open_table(USERS)?;
                if users.get(key.as_str())?.is_some() {
                    return Err(control_error(
                        "UserAlreadyExists",
                        http::StatusCode::CONFLICT,
                        "id: a user with this id exists",
                    ));
                }
                users.insert(key.as_str(), bytes.as_slice())?;
                Ok(())
            })
            .await?;
        Ok(rec)
    }

    pub fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.gateway.store().read(|txn| {
            let users = txn.open_table(USERS)?;
            let mut out = Vec::new();
            for item in users.iter()? {
                out.push(serde_json::from_slice(item?.1.value())?);
            }
            Ok(out)
        })
    }

    pub fn get_user(&self, actor: &Actor, id: &str) -> Result<UserRecord> {
        if !actor.may_see(id) {
            return Err(no_such_user());
        }
        self.gateway
            .store()
            .read(|txn| get_json(&txn.open_table(USERS)?, id))?
            .ok_or_else(no_such_user)
    }

    /// Deletes a user and their keys; refused while they own buckets.
    pub async fn delete_user(&self, id: &str) -> Result<()> {
        if self.gateway.all_buckets().iter().any(|b| b.owner == id) {
            return Err(control_error(
                "UserOwnsBuckets",
                http::StatusCode::CONFLICT,
                "user still owns buckets; delete them first",
            ));
        }
        let user = id.to_owned();
        let removed_keys = self
            .gateway
            .store()
            .write(move |txn| {
                let mut users = txn.open_table(USERS)?;
                if users.get(user.as_str())?.is_none() {
                    return Err(no_such_user());
                }
                let mut keys = txn.open_table(ACCESS_KEYS)?;
                let mut doomed = Vec::new();
                for item in keys.iter()? {
                    let (k, v) = item?;
                    let rec: AccessKeyRecord = serde_json::from_slice(v.value())?;
                    if rec.owner == user {
                        doomed.push(k.value().to_owned());
                    }
                }
                for k in &doomed {
                    keys.remove(k.as_str())?;
                }
                users.remove(user.as_str())?;
                Ok(doomed)
            })
            .await?;
        for k in removed_keys {
            self.gateway.keys().forget(&k);
        }
        Ok(())
    }

    // ---- access keys ----

    pub async fn create_key(&self, actor: &Actor, user_id: &str) -> Result<NewKey> {
        self.get_user(actor, user_id)?;
        let access_key = secrets::new_access_key();
        let secret_key = secrets::new_secret_key();
        self.gateway
            .keys()
            .put_key(&access_key, &secret_key, user_id)
            .await?;
        Ok(NewKey {
            access_key,
            secret_key,
            user_id: user_id.to_owned(),
        })
    }

    pub fn list_keys(&self, actor: &Actor, user_id: &str) -> Result<Vec<KeyInfo>> {
        self.get_user(actor, user_id)?;
        self.gateway.store().read(|txn| {
            let keys = txn.open_table(ACCESS_KEYS)?;
            let mut out = Vec::new();
            for item in keys.iter()? {
                let (k, v) = item?;
                let rec: AccessKeyRecord = serde_json::from_slice(v.value())?;
                if rec.owner == user_id {
                    out.push(KeyInfo {
                        access_key: k.value().to_owned(),
                        user_id: rec.owner,
                        created: rec.created,
                        disabled: rec.disabled,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Enables or disables a key, or deletes it (`disabled == None`).
    pub async fn change_key(
        &self,
        actor: &Actor,
        user_id: &str,
        access_key: &str,
        disabled: Option<bool>,
    ) -> Result<()> {
        self.get_user(actor, user_id)?;
        let (user, key) = (user_id.to_owned(), access_key.to_owned());
        self.gateway
            .store()
            .write(move |txn| {
                let mut keys = txn.open_table(ACCESS_KEYS)?;
                let mut rec: AccessKeyRecord = match get_json(&keys, key.as_str())? {
                    Some(r) if AccessKeyRecord::owner_is(&r, &user) => r,
                    _ => return Err(no_such_key()),
                };
                match disabled {
                    Some(d) => {
                        rec.disabled = d;
                        let bytes = serde_json::to_vec(&rec)?;
                        keys.insert(key.as_str(), bytes.as_slice())?;
                    }
                    None => {
                        keys.remove(key.as_str())?;
                    }
                }
                Ok(())
            })
            .await?;
        self.gateway.keys().forget(access_key);
        Ok(())
    }

    // ---- buckets ----

    pub fn list_buckets(&self, actor: &Actor) -> Vec<Arc<BucketRecord>> {
        self.gateway
            .all_buckets()
            .into_iter()
            .filter(|b| actor.may_see(&b.owner))
            .collect()
    }

    /// The bucket if the actor may see it; a bucket of someone else is "not found", so its
    /// existence does not leak.
    pub fn bucket(&self, actor: &Actor, name: &str) -> Result<Arc<BucketRecord>> {
        match self.gateway.cached(name) {
            Some(b) if actor.may_see(&b.owner) => Ok(b),
            _ => Err(client_err!(NoSuchBucket, "bucket not found")),
        }
    }

    pub async fn create_bucket(
        &self,
        actor: &Actor,
        req: BucketCreate,
    ) -> Result<Arc<BucketRecord>> {
        validate_bucket_name(&req.name)?;
        check_text("description", req.description.as_deref())?;
        check_text("encryption", req.encryption.as_deref())?;
        let owner = match (actor, &req.owner) {
            (Actor::Admin, Some(o)) => {
                if o != ROOT_USER {
                    self.get_user(actor, o)
                        .map_err(|_| invalid("owner", "no such user"))?;
                }
                o.clone()
            }
            (Actor::Admin, None) => ROOT_USER.to_owned(),
            (Actor::User(id), Some(o)) if o != id => {
                return Err(invalid(
                    "owner",
                    "a user can only create buckets for themselves",
                ));
            }
            (Actor::User(id), _) => id.clone(),
        };
        for (field, v) in [("team", &req.team), ("workspace", &req.workspace)] {
            if let Some(v) = v {
                validate_id(field, v)?;
            }
        }
        let region = req
            .region
            .clone()
            .unwrap_or_else(|| self.gateway.region().to_owned());
        if region != self.gateway.region() {
            return Err(invalid("region", "this gateway serves one region only"));
        }
        let mut rec = self.gateway.new_record(
            &req.name,
            &owner,
            req.backend.unwrap_or(self.gateway.default_backend()),
            &region,
            req.profile.as_deref(),
        )?;
        rec.team = req.team;
        rec.workspace = req.workspace;
        rec.description = req.description;
        rec.quota = Quota {
            max_size_bytes: req.max_size_bytes,
            max_objects: req.max_objects,
        };
        rec.public_read = req.public_read.unwrap_or(false);
        rec.public_list = req.public_list.unwrap_or(false);
        rec.versioning = req.versioning.map(versioning_status);
        rec.encryption = req.encryption;
        self.gateway.register_bucket(rec).await
    }

    pub async fn update_bucket(
        &self,
        actor: &Actor,
        name: &str,
        patch: BucketPatch,
    ) -> Result<Arc<BucketRecord>> {
        let before = self.bucket(actor, name)?;
        check_text(
            "description",
            patch.description.clone().flatten().as_deref(),
        )?;
        check_text("encryption", patch.encryption.clone().flatten().as_deref())?;
        let mut rec = (*before).clone();
        if let Some(v) = patch.description {
            rec.description = v;
        }
        if let Some(v) = patch.max_size_bytes {
            rec.quota.max_size_bytes = v;
        }
        if let Some(v) = patch.max_objects {
            rec.quota.max_objects = v;
        }
        if let Some(v) = patch.public_read {
            rec.public_read = v;
        }
        if let Some(v) = patch.public_list {
            rec.public_list = v;
        }
        if let Some(v) = patch.versioning {
            rec.versioning = Some(versioning_status(v));
        }
        if let Some(v) = patch.encryption.clone() {
            rec.encryption = v;
        }
        if let Some(v) = patch.region
            && v != rec.region
        {
            return Err(invalid("region", "a bucket's region cannot change"));
        }
        if let Some(v) = patch.team {
            if let Some(t) = &v {
                validate_id("team", t)?;
            }
            rec.team = v;
        }
        if let Some(v) = patch.workspace {
            if let Some(w) = &v {
                validate_id("workspace", w)?;
            }
            rec.workspace = v;
        }
        if let Some(g) = patch.grants {
            rec.grants = g;
        }
        if let Some(w) = patch.website {
            rec.website = w.map(Into::into);
            if let Some(w) = &rec.website {
                crate::settings::check_website(w).map_err(setting_error)?;
            }
        }
        if let Some(c) = patch.cors {
            rec.cors = c
                .map(crate::settings::cors_from_settings)
                .transpose()
                .map_err(setting_error)?;
        }
        // Only what changes reaches the bucket's server; suspending versioning that was never
        // enabled changes nothing.
        let versioning = rec
            .versioning
            .clone()
            .filter(|v| before.versioning.as_deref().unwrap_or("Suspended") != v);
        let encryption = patch
            .encryption
            .as_ref()
            .filter(|e| **e != before.encryption)
            .map(Option::as_deref);
        self.gateway
            .carry_settings(name, versioning.as_deref(), encryption)
            .await
            .map_err(refused_by_backend)?;
        rec.updated = now_millis();
        self.gateway.update_bucket(rec).await
    }

    pub fn stats(&self, actor: &Actor, name: &str) -> Result<BucketStats> {
        let rec = self.bucket(actor, name)?;
        let usage = self.gateway.usage(name)?;
        Ok(self.stats_of(&rec, &usage))
    }

    pub async fn sync(&self, actor: &Actor, name: &str) -> Result<BucketStats> {
        let rec = self.bucket(actor, name)?;
        let usage = self.gateway.sync_usage(name).await?;
        Ok(self.stats_of(&rec, &usage))
    }

    // ---- domains ----

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
        let host = self
            .gateway
            .reserved_hosts()
            .check_link(host)
            .map_err(domain_refused)?;
        let mut rec = (*self.bucket(actor, name)?).clone();
        let (h, b) = (host.clone(), name.to_owned());
        self.gateway
            .store()
            .write(move |txn| {
                let mut domains = txn.open_table(DOMAINS)?;
                if let Some(other) = domains.get(h.as_str())?
                    && other.value() != b
                {
                    return Err(control_error(
                        "DomainInUse",
                        http::StatusCode::CONFLICT,
                        "domain: already linked to another bucket",
                    ));
                }
                domains.insert(h.as_str(), b.as_str())?;
                Ok(())
            })
            .await?;
        if !rec.domains.contains(&host) {
            rec.domains.push(host);
        }
        rec.updated = now_millis();
        self.gateway.update_bucket(rec).await
    }

    pub async fn unlink_domain(
        &self,
        actor: &Actor,
        name: &str,
        host: Option<&str>,
    ) -> Result<Arc<BucketRecord>> {
        let mut rec = (*self.bucket(actor, name)?).clone();
        let doomed: Vec<String> = match host {
            // Reserved names can be unlinked: that is how a link made before its name was
            // reserved goes away.
            Some(h) => vec![crate::hosts::normalize_domain(h).map_err(domain_refused)?],
            None => rec.domains.clone(),
        };
        let (d, b) = (doomed.clone(), name.to_owned());
        self.gateway
            .store()
            .write(move |txn| {
                let mut domains = txn.open_table(DOMAINS)?;
                for h in &d {
                    if domains.get(h.as_str())?.is_some_and(|v| v.value() == b) {
                        domains.remove(h.as_str())?;
                    }
                }
                Ok(())
            })
            .await?;
        rec.domains.retain(|h| !doomed.contains(h));
        rec.updated = now_millis();
        self.gateway.update_bucket(rec).await
    }

    /// The bucket linked to `host`, if any.
    pub fn bucket_for_host(&self, host: &str) -> Result<Option<String>> {
        self.gateway.store().read(|txn| {
            let domains = txn.open_table(DOMAINS)?;
            Ok(domains.get(host)?.map(|v| v.value().to_owned()))
        })
    }

    /// The access key and secret to presign with for `actor`: the user's own key, or root's.
    pub fn signing_key(&self, actor: &Actor, access_key: Option<&str>) -> Result<(String, String)> {
        let key = match (actor, access_key) {
            (_, Some(k)) => k.to_owned(),
            (Actor::Admin, None) => self.root_key()?,
            (Actor::User(_), None) => {
                return Err(client_err!(AccessDenied, "no access key to sign with"));
            }
        };
        let secret = self.gateway.keys().secret_of(&key).map_err(Error::Client)?;
        Ok((key, secret))
    }

    fn root_key(&self) -> Result<String> {
        self.gateway.store().read(|txn| {
            let keys = txn.open_table(ACCESS_KEYS)?;
            for item in keys.iter()? {
                let (k, v) = item?;
                let rec: AccessKeyRecord = serde_json::from_slice(v.value())?;
                if rec.owner == ROOT_USER && !rec.disabled {
                    return Ok(k.value().to_owned());
                }
            }
            Err(Error::Bug("no root access key"))
        })
    }

    /// Deletes a bucket through its backend (S3 rules: it must be empty), then releases its
    /// domains; a refused delete leaves everything as it was.
    /// A container bucket's volume is removed too, unless `keep_volume`.
    pub async fn delete_bucket(&self, actor: &Actor, name: &str, keep_volume: bool) -> Result<()> {
        let rec = self.bucket(actor, name)?;
        self.gateway.remove_bucket(name, keep_volume).await?;
        let (hosts, bucket) = (rec.domains.clone(), name.to_owned());
        self.gateway
            .store()
            .write(move |txn| {
                let mut domains = txn.open_table(DOMAINS)?;
                for h in &hosts {
                    if domains
                        .get(h.as_str())?
                        .is_some_and(|v| v.value() == bucket)
                    {
                        domains.remove(h.as_str())?;
                    }
                }
                Ok(())
            })
            .await
    }

    pub fn actor_user(&self, actor: &Actor) -> String {
        actor.user_id().to_owned()
    }

    /// Every bucket name (for checks that do not leak across users).
    pub fn exists_any(&self, name: &str) -> bool {
        self.gateway
            .store()
            .read(|txn| Ok(txn.open_table(BUCKETS)?.get(name)?.is_some()))
            .unwrap_or(false)
    }
}

impl AccessKeyRecord {
    fn owner_is(r: &Self, user: &str) -> bool {
        r.owner == user
    }
}

fn versioning_status(on: bool) -> String {
    if on { "Enabled" } else { "Suspended" }.to_owned()
}

impl Control {
    fn stats_of(&self, rec: &BucketRecord, usage: &UsageRecord) -> BucketStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = self.gateway.counters.of(&rec.name);
        BucketStats {
            requests: c.requests.load(Relaxed),
            errors: c.errors.load(Relaxed),
            bytes_in: c.bytes_in.load(Relaxed),
            bytes_out: c.bytes_out.load(Relaxed),
            status: self.gateway.bucket_status(rec).0,
            ..stats_of(rec, usage)
        }
    }
}

fn stats_of(rec: &BucketRecord, usage: &UsageRecord) -> BucketStats {
    let pct = |used: u64, max: Option<u64>| {
        max.map(|m| {
            if m == 0 {
                100.0
            } else {
                (used as f64 / m as f64 * 10_000.0).round() / 100.0
            }
        })
    };
    BucketStats {
        bucket: rec.name.clone(),
        status: "running",
        objects: usage.objects,
        bytes: usage.bytes,
        pending_bytes: usage.pending_bytes,
        max_size_bytes: rec.quota.max_size_bytes,
        max_objects: rec.quota.max_objects,
        size_used_percent: pct(usage.bytes, rec.quota.max_size_bytes),
        objects_used_percent: pct(usage.objects, rec.quota.max_objects),
        requests: 0,
        errors: 0,
        bytes_in: 0,
        bytes_out: 0,
    }
}

/// A domain the link check refused, as the API's error.
fn domain_refused(r: crate::hosts::Refusal) -> Error {
    control_error(r.code(), http::StatusCode::BAD_REQUEST, r.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_safe_path_segments() {
        for good in [
            "alice",
            "a",
            "bob.smith",
            "x_1",
            "team-7",
            "carol@example.com",
            "0",
        ] {
            assert!(validate_user_id(good).is_ok(), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "", ".", "..", ".hidden", "-rf", "_x", "a/b", "a%2f", "Alice", "a b", "a\u{1b}", &long,
        ] {
            assert!(validate_user_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn free_text_refuses_control_characters() {
        for bad in [
            "a\u{1b}]0;x\u{7}",
            "line\nbreak",
            "tab\t",
            "del\u{7f}",
            "c1\u{9b}31m",
        ] {
            assert!(check_text("description", Some(bad)).is_err(), "{bad:?}");
        }
        for good in [None, Some(""), Some("Photos — 2026 ✓")] {
            assert!(check_text("description", good).is_ok());
        }
    }

    #[test]
    fn patch_distinguishes_null_from_absent() {
        let p: BucketPatch =
            serde_json::from_str(r#"{"maxSizeBytes": null, "publicRead": true}"#).unwrap();
        assert_eq!(p.max_size_bytes, Some(None));
        assert_eq!(p.max_objects, None);
        assert_eq!(p.public_read, Some(true));
        assert!(serde_json::from_str::<BucketPatch>(r#"{"bogus": 1}"#).is_err());
    }
}
