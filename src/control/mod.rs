//! The control plane's operations on users, access keys, buckets and domains, used by the
//! admin REST API (and through it by the CLI and the console). S3 stays the data path: object
//! operations of the API call the gateway's S3 service like any client would.

mod buckets;
mod domains;
pub use domains::DomainReport;
pub mod history;
mod keys;
mod users;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, client_err};
use crate::gateway::Gateway;
use crate::keys::ROOT_USER;
use crate::meta::{BackendKind, Grant, UnixMillis};

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

fn control_error(code: &'static str, status: http::StatusCode, msg: impl Into<String>) -> Error {
    Error::custom(code, status, msg)
}

/// A setting the bucket's own S3 server refused (it lacks versioning, say) is the caller's to
/// change, not a failure of ours: `409 SettingRefused` with the server's answer.
fn refused_by_backend(e: Error) -> Error {
    match e {
        Error::Client(s3) | Error::Upstream(s3)
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
    /// Ownership proofs and certificates of linked domains.
    acme: Option<Arc<crate::acme::Manager>>,
}

impl Control {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            gateway,
            acme: None,
        }
    }

    /// Reports (and is told about new links to) the domains' proofs and certificates.
    #[must_use]
    pub fn with_acme(mut self, acme: Arc<crate::acme::Manager>) -> Self {
        self.acme = Some(acme);
        self
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    pub fn actor_user(&self, actor: &Actor) -> String {
        actor.user_id().to_owned()
    }

    fn store(&self) -> &crate::meta::Store {
        self.gateway.registry().store()
    }
}

fn versioning_status(on: bool) -> String {
    if on { "Enabled" } else { "Suspended" }.to_owned()
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
