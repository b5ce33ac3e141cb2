//! Records stored in the metadata tables, as JSON so fields can be added without a migration
//! (`#[serde(default)]` on new fields).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

pub fn now_millis() -> UnixMillis {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Which backend serves a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Embedded,
    Remote,
    Container,
}

impl BackendKind {
    /// Whether requests for such buckets are forwarded over HTTP to another S3 server.
    pub fn is_forwarded(self) -> bool {
        matches!(self, Self::Remote | Self::Container)
    }
}

/// The life-cycle state of a bucket's backend. Embedded and remote buckets are always
/// `Running`; a container bucket moves `Creating → Running | Error`, and between `Running`
/// and `Stopped` (by request or after its idle timeout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketStatus {
    Creating,
    #[default]
    Running,
    Stopped,
    Error,
}

impl BucketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Error => "error",
        }
    }
}

/// What the gateway keeps about a bucket's own S3 server container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Backend profile the container was created from.
    pub profile: String,
    /// Image it runs (the profile's at creation time, so a profile change does not silently
    /// swap the server under existing data).
    pub image: String,
    /// Docker container name (unique per bucket id).
    pub container_name: String,
    /// Docker container id, once created.
    #[serde(default)]
    pub container_id: Option<String>,
    /// Named volume holding the bucket's data.
    pub volume: String,
    /// Host port (on the bind address) leased for the S3 API.
    pub host_port: u16,
    /// Host port leased for the server's web console, when the profile has one.
    #[serde(default)]
    pub console_port: Option<u16>,
    /// The container's root access key.
    pub access_key: String,
    /// The container's root secret, sealed with the master key.
    pub secret_sealed: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    /// Stable id, independent of the name.
    pub id: String,
    /// Owning user id.
    pub owner: String,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub workspace: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub backend: BackendKind,
    pub region: String,
    pub created: UnixMillis,
    #[serde(default)]
    pub updated: UnixMillis,
    #[serde(default)]
    pub quota: Quota,
    /// Anonymous GetObject/HeadObject allowed.
    #[serde(default)]
    pub public_read: bool,
    /// Anonymous listing allowed (only together with `public_read`).
    #[serde(default)]
    pub public_list: bool,
    /// `Enabled` or `Suspended` once set; carried to backends that version.
    #[serde(default)]
    pub versioning: Option<String>,
    /// Object lock, enabled when the bucket was created with it (versioning then stays on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLockConfig>,
    /// Server-side encryption requested for the bucket (e.g. `AES256`); carried to backends.
    #[serde(default)]
    pub encryption: Option<String>,
    /// Static website settings; `None` until configured.
    #[serde(default)]
    pub website: Option<Website>,
    /// Hosts linked to this bucket (served as a website).
    #[serde(default)]
    pub domains: Vec<String>,
    /// CORS rules (the S3 `CORSConfiguration`, stored as its JSON form).
    #[serde(default)]
    pub cors: Option<Vec<CorsRule>>,
    /// Access keys of other users allowed on this bucket.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Life-cycle state of the backend (always `running` but for container buckets).
    #[serde(default)]
    pub status: BucketStatus,
    /// Why the bucket is in `error`, or a warning about settings its backend refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The bucket's container, for `container` buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerSpec>,
}

impl BucketRecord {
    /// A new private bucket with no quota.
    pub fn new(name: &str, owner: &str, backend: BackendKind, region: &str) -> Self {
        let now = now_millis();
        Self {
            name: name.to_owned(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            owner: owner.to_owned(),
            team: None,
            workspace: None,
            description: None,
            backend,
            region: region.to_owned(),
            created: now,
            updated: now,
            quota: Quota::default(),
            public_read: false,
            public_list: false,
            versioning: None,
            object_lock: None,
            encryption: None,
            website: None,
            domains: Vec::new(),
            cors: None,
            grants: Vec::new(),
            status: BucketStatus::Running,
            status_message: None,
            container: None,
        }
    }
}

/// A bucket's versioning state, as its writes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: a write replaces the object, a delete removes it.
    Unversioned,
    /// Every write adds a version; a delete adds a delete marker.
    Enabled,
    /// Writes replace the `null` version and keep the others.
    Suspended,
}

impl BucketRecord {
    /// The versioning state the `versioning` setting stands for.
    pub fn versioning_state(&self) -> Versioning {
        match self.versioning.as_deref() {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => Versioning::Unversioned,
        }
    }
}

/// Per-bucket limits; `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    #[serde(default)]
    pub max_size_bytes: Option<u64>,
    #[serde(default)]
    pub max_objects: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Website {
    pub index_document: String,
    #[serde(default)]
    pub error_document: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantLevel {
    Read,
    ReadWrite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub access_key: String,
    pub level: GrantLevel,
}

/// A user of the platform: owns buckets and access keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub team: Option<String>,
    pub created: UnixMillis,
}

/// What a bucket holds and how it is used, kept incrementally.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub objects: u64,
    pub bytes: u64,
    /// Bytes in parts of multipart uploads not yet completed or aborted.
    #[serde(default)]
    pub pending_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// Owning user id; `root` for the root key.
    pub owner: String,
    /// Secret sealed with the master key.
    pub secret_sealed: String,
    pub created: UnixMillis,
    #[serde(default)]
    pub disabled: bool,
}

/// Where a run of an object's bytes lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Blob id (a file under `blobs/`, or a row in the inline table).
    pub blob: String,
    /// The blob is a row in `INLINE_BLOBS`, not a file.
    #[serde(default)]
    pub inline: bool,
    /// Offset of the run inside the blob.
    pub offset: u64,
    /// Length of the run.
    pub len: u64,
}

/// Standard HTTP content headers stored with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Expires`, as Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<UnixMillis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
}

/// Additional checksums, base64 as S3 sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
}

impl Checksums {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The current version of an object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// `None` is the "null" version of an unversioned bucket.
    #[serde(default)]
    pub version_id: Option<String>,
    /// A delete marker of a versioned bucket (no data).
    #[serde(default)]
    pub delete_marker: bool,
    /// When this version was committed, in microseconds since the epoch, unique and
    /// increasing per key: its place among the key's versions (see [`super::VERSIONS`]).
    /// 0 in records written before versioning existed (their place is their
    /// `last_modified`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stamp: u64,
    pub size: u64,
    /// Hex MD5 of the bytes, or `md5-of-part-md5s-N` for multipart objects; without quotes.
    pub etag: String,
    pub last_modified: UnixMillis,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub checksums: Checksums,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Number of parts for multipart objects.
    #[serde(default)]
    pub parts_count: Option<u32>,
    /// Size of each part of a multipart object, in order (for `GET ?partNumber=`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_sizes: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Object lock: retention and legal hold of this version.
    #[serde(default, skip_serializing_if = "ObjectLock::is_unset")]
    pub lock: ObjectLock,
    /// The bytes, in order.
    pub segments: Vec<Segment>,
}

/// Retention and legal hold of one object version (buckets with object lock).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    /// `GOVERNANCE` or `COMPLIANCE`, with `retain_until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<UnixMillis>,
    #[serde(default)]
    pub legal_hold: bool,
}

impl ObjectLock {
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

/// A bucket's object lock configuration: on from creation, never off again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    /// Default retention of new versions: mode and period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_years: Option<u32>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Bytes of user metadata or tags as usage counts them: the UTF-8 bytes of every name and
/// value (the measure AWS applies to its 2 KB metadata cap).
pub fn pairs_bytes<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> u64 {
    pairs
        .into_iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum()
}

impl ObjectRecord {
    /// A record with no data, modified at `last_modified`: the base of delete markers.
    pub fn empty(last_modified: UnixMillis) -> Self {
        Self {
            version_id: None,
            delete_marker: false,
            stamp: 0,
            size: 0,
            etag: String::new(),
            last_modified,
            headers: ContentHeaders::default(),
            user_metadata: BTreeMap::new(),
            checksums: Checksums::default(),
            tags: Vec::new(),
            parts_count: None,
            part_sizes: Vec::new(),
            storage_class: None,
            lock: ObjectLock::default(),
            segments: Vec::new(),
        }
    }

    /// What the object counts against its bucket's usage and quota: its body, its user
    /// metadata and its tags (all stored by us, all chosen by the writer).
    pub fn usage_bytes(&self) -> u64 {
        self.size
            .saturating_add(pairs_bytes(&self.user_metadata))
            .saturating_add(pairs_bytes(self.tags.iter().map(|(k, v)| (k, v))))
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    pub bucket: String,
    pub key: String,
    pub initiated: UnixMillis,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Additional checksum algorithm requested at creation (e.g. `CRC32`).
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Access key that created the upload.
    #[serde(default)]
    pub initiator: Option<String>,
    /// Object lock the completed object gets.
    #[serde(default, skip_serializing_if = "ObjectLock::is_unset")]
    pub lock: ObjectLock,
}

/// One uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    pub size: u64,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub last_modified: UnixMillis,
    #[serde(default)]
    pub checksums: Checksums,
    pub segments: Vec<Segment>,
}

/// Proof that whoever linked a domain controls it (`[domains] verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainProof {
    /// The bucket the domain was linked to when the token was made.
    pub bucket: String,
    /// The value the `_bucketgate-challenge.<domain>` TXT record must carry.
    pub token: String,
    /// When the proof was accepted; `None` while pending.
    #[serde(default)]
    pub verified: Option<UnixMillis>,
    /// Why the last check failed, while pending.
    #[serde(default)]
    pub message: Option<String>,
}

/// A certificate issued by ACME for one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedCert {
    /// PEM chain, leaf first.
    pub chain_pem: String,
    /// PEM private key, sealed with the master key.
    pub key_sealed: String,
    /// Validity of the leaf, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Serial number of the leaf, hex.
    pub serial: String,
    pub issued: UnixMillis,
}
