//! Metadata in redb: buckets, access keys, objects, multipart uploads, blob reference counts,
//! port leases of bucket containers and gateway settings.
//!
//! Reads open a read transaction where they are (redb reads are short and served from its page
//! cache). Writes go through one writer thread that groups the writes arriving together into a
//! single durable commit: sixteen concurrent small PUTs cost one fsync, not sixteen. A write job
//! runs inside the shared transaction, so it must check everything before it mutates anything;
//! a job that fails returns its error without touching the tables, and the others still commit.

mod records;
mod writer;

pub use records::*;

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::error::{Error, Result};

/// Table names carry their schema version; `SCHEMA` records it so a later release can migrate.
pub const SCHEMA: TableDefinition<&str, u32> = TableDefinition::new("schema");
/// Bucket name → [`BucketRecord`] (JSON).
pub const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets_v1");
/// Access key id → [`AccessKeyRecord`] (JSON).
pub const ACCESS_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("access_keys_v1");
/// (bucket, key) → [`ObjectRecord`] (JSON) of the current version.
pub const OBJECTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("objects_v1");
/// (bucket, key, `u64::MAX - stamp`) → [`ObjectRecord`] (JSON): the versions of a key that
/// are not its current object — noncurrent versions, and delete markers (a key whose newest
/// version is a marker has no row in [`OBJECTS`]). Ascending order is newest first per key.
/// Empty for buckets that never had versioning, so they pay nothing for it.
pub const VERSIONS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("versions_v1");
/// Upload id → [`UploadRecord`] (JSON).
pub const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads_v1");
/// (upload id, part number) → [`PartRecord`] (JSON).
pub const PARTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("parts_v1");
/// User id → [`UserRecord`] (JSON).
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users_v1");
/// Bucket name → [`UsageRecord`] (JSON).
pub const USAGE: TableDefinition<&str, &[u8]> = TableDefinition::new("usage_v1");
/// Host (lower case, no port) → bucket name, for websites on linked domains.
pub const DOMAINS: TableDefinition<&str, &str> = TableDefinition::new("domains_v1");
/// Blob id → number of object versions and parts that reference it.
pub const BLOB_REFS: TableDefinition<&str, u64> = TableDefinition::new("blob_refs_v1");
/// Blob id → bytes of a small blob stored inline.
pub const INLINE_BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("inline_blobs_v1");
/// Host port → bucket name: ports leased to bucket containers.
pub const PORT_LEASES: TableDefinition<u16, &str> = TableDefinition::new("port_leases_v1");
/// Gateway-wide settings (`instance_id`).
pub const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings_v1");
/// (bucket, tier, unix seconds) → JSON stats point (tier 0: every sample, 1: hourly); written
/// by `control::history`.
pub const STATS_HISTORY: TableDefinition<(&str, u8, u64), &[u8]> =
    TableDefinition::new("stats_history_v1");

/// Linked host → [`DomainProof`] (JSON): the ownership token and whether it was proven.
pub const DOMAIN_PROOFS: TableDefinition<&str, &[u8]> = TableDefinition::new("domain_proofs_v1");
/// Host → certificate issued by ACME (JSON, private key sealed with the master key); written
/// by `acme`.
pub const ACME_CERTS: TableDefinition<&str, &[u8]> = TableDefinition::new("acme_certs_v1");
/// ACME directory URL → the account's credentials, sealed with the master key.
pub const ACME_ACCOUNTS: TableDefinition<&str, &str> = TableDefinition::new("acme_accounts_v1");

const TABLE_VERSIONS: &[(&str, u32)] = &[
    ("buckets", 1),
    ("access_keys", 1),
    ("objects", 1),
    ("versions", 1),
    ("uploads", 1),
    ("parts", 1),
    ("blob_refs", 1),
    ("inline_blobs", 1),
    ("users", 1),
    ("usage", 1),
    ("domains", 1),
    ("port_leases", 1),
    ("settings", 1),
    ("stats_history", 1),
    ("domain_proofs", 1),
    ("acme_certs", 1),
    ("acme_accounts", 1),
];

/// Handle to the metadata database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    writer: writer::Writer,
}

impl Store {
    /// Opens (or creates) `<dir>/meta.redb`, creates missing tables and starts the writer.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("meta.redb");
        let db = Database::create(&path)?;
        // Small objects live inline in here: owner-only, like every file of the data dir.
        crate::datadir::fix(&path, crate::datadir::FILE_MODE, &mut Vec::new())
            .map_err(Error::io("setting the mode of meta.redb"))?;
        let txn = db.begin_write()?;
        {
            let mut schema = txn.open_table(SCHEMA)?;
            for (name, version) in TABLE_VERSIONS {
                let stored = redb::ReadableTable::get(&schema, *name)?.map(|v| v.value());
                match stored {
                    None => {
                        schema.insert(*name, *version)?;
                    }
                    Some(v) if v == *version => {}
                    Some(_) => return Err(Error::Bug("metadata schema is newer than this binary")),
                }
            }
            txn.open_table(BUCKETS)?;
            txn.open_table(ACCESS_KEYS)?;
            txn.open_table(OBJECTS)?;
            txn.open_table(VERSIONS)?;
            txn.open_table(UPLOADS)?;
            txn.open_table(PARTS)?;
            txn.open_table(BLOB_REFS)?;
            txn.open_table(INLINE_BLOBS)?;
            txn.open_table(USERS)?;
            txn.open_table(USAGE)?;
            txn.open_table(DOMAINS)?;
            txn.open_table(PORT_LEASES)?;
            txn.open_table(SETTINGS)?;
            txn.open_table(STATS_HISTORY)?;
            txn.open_table(DOMAIN_PROOFS)?;
            txn.open_table(ACME_CERTS)?;
            txn.open_table(ACME_ACCOUNTS)?;
        }
        txn.commit()?;
        let db = Arc::new(db);
        let writer = writer::Writer::start(db.clone());
        Ok(Self { db, writer })
    }

    /// Runs `f` in a read transaction on the calling thread.
    pub fn read<T>(&self, f: impl FnOnce(&redb::ReadTransaction) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_read()?;
        f(&txn)
    }

    /// Runs `f` in a read transaction on the blocking pool: for scans whose length the client
    /// picks (listings).
    pub async fn read_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read()?;
            f(&txn)
        })
        .await
        .map_err(|_| Error::Bug("metadata read task panicked"))?
    }

    /// Runs `f` inside the next grouped write transaction and waits until it is durable.
    /// `f` must not mutate anything before it has checked everything that can fail.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.writer.submit(f).await
    }
}

/// Reads and decodes one JSON record.
pub fn get_json<K, T>(
    table: &impl redb::ReadableTable<K, &'static [u8]>,
    key: K::SelfType<'_>,
) -> Result<Option<T>>
where
    K: redb::Key + 'static,
    T: serde::de::DeserializeOwned,
{
    match table.get(key)? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}
