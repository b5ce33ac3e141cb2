//! The S3 service the front door calls after authentication: bucket operations answered from
//! the bucket registry, object operations routed to the backend that serves the bucket.
//!
//! The router never knows how a backend stores anything: every backend is an `s3s::S3`.
//! Bucket life cycle across backends (create, delete, start, stop, usage) is in [`buckets`].

mod buckets;

pub use buckets::BackendRef;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use redb::ReadableTable;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::backend::embedded::Embedded;
use crate::error::{Result, client_err};
use crate::meta::{
    BUCKETS, BackendKind, BucketRecord, CorsRule, Store, USAGE, UsageRecord, Website, get_json,
};
use crate::policy::{InFlight, Need, Principal, Reservation, SharedReservation, authorize};
use crate::s3util::to_timestamp;
use crate::s3util::{check_metadata_bytes, metadata_bytes, tagging_header_bytes};

/// Owner id of the root access key.
pub const ROOT_USER: &str = "root";

/// The gateway: cheap to clone, every clone shares the same state (s3s takes its `S3` by
/// value; the control plane and the access check hold clones).
#[derive(Clone)]
pub struct Gateway {
    state: Arc<State>,
}

/// The state every clone of a [`Gateway`] shares.
pub struct State {
    store: Store,
    embedded: Embedded,
    keys: Arc<crate::auth::KeyStore>,
    region: String,
    /// Bucket records by name; redb is the source of truth, this saves a read per request.
    buckets: RwLock<HashMap<String, Arc<BucketRecord>>>,
    /// Writes admitted against quotas and not finished yet.
    inflight: Arc<InFlight>,
    /// Requests and bytes per bucket since start-up.
    pub counters: crate::metrics::PerBucket,
    /// The remote S3 endpoint, when configured.
    remote: Option<Arc<crate::backend::upstream::Upstream>>,
    /// The container backend (present without Docker too: its buckets then report it).
    containers: Arc<crate::backend::container::Containers>,
    /// Backend of buckets created over S3 (and over the API without a choice).
    default_backend: BackendKind,
    /// Where uploads of unknown length to forwarded buckets are spooled (emptied at start-up).
    tmp_dir: PathBuf,
    /// Names that never route to a bucket by a linked domain.
    reserved: Arc<crate::hosts::ReservedHosts>,
}

/// What a gateway is assembled from.
pub struct Parts {
    pub store: Store,
    pub embedded: Embedded,
    pub keys: Arc<crate::auth::KeyStore>,
    pub region: String,
    pub remote: Option<Arc<crate::backend::upstream::Upstream>>,
    pub containers: Arc<crate::backend::container::Containers>,
    pub default_backend: BackendKind,
    pub tmp_dir: PathBuf,
    pub reserved: Arc<crate::hosts::ReservedHosts>,
}

impl std::ops::Deref for Gateway {
    type Target = State;

    fn deref(&self) -> &State {
        &self.state
    }
}

impl Gateway {
    pub fn new(parts: Parts) -> Result<Self> {
        let Parts {
            store,
            embedded,
            keys,
            region,
            remote,
            containers,
            default_backend,
            tmp_dir,
            reserved,
        } = parts;
        let records = store.read(|txn| {
            let table = txn.open_table(BUCKETS)?;
            let mut map = HashMap::new();
            for item in table.iter()? {
                let (k, v) = item?;
                let rec: BucketRecord = serde_json::from_slice(v.value())?;
                map.insert(k.value().to_owned(), Arc::new(rec));
            }
            Ok(map)
        })?;
        Ok(Self {
            state: Arc::new(State {
                store,
                embedded,
                keys,
                region,
                buckets: RwLock::new(records),
                inflight: Arc::new(InFlight::default()),
                counters: crate::metrics::PerBucket::default(),
                remote,
                containers,
                default_backend,
                tmp_dir,
                reserved,
            }),
        })
    }

    /// The longest key the bucket's server can store, when its container profile sets one.
    pub fn max_key_bytes(&self, rec: &BucketRecord) -> Option<usize> {
        let spec = rec.container.as_ref()?;
        self.containers.profile(&spec.profile)?.max_key_bytes
    }

    pub fn cached(&self, name: &str) -> Option<Arc<BucketRecord>> {
        self.buckets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The bucket record, or `NoSuchBucket`.
    fn resolve_bucket(&self, name: &str) -> Result<Arc<BucketRecord>> {
        self.cached(name)
            .ok_or_else(|| client_err!(NoSuchBucket, "The specified bucket does not exist"))
    }

    /// The backend of a bucket as an `s3s::S3`. S3 clients' requests for forwarded buckets
    /// never get here (the forwarding route takes them before operations are parsed); the
    /// gateway's own calls do.
    fn backend(&self, rec: &BucketRecord) -> BackendRef<'_> {
        match rec.backend {
            BackendKind::Embedded => BackendRef::Local(&self.embedded),
            BackendKind::Remote | BackendKind::Container => {
                BackendRef::Forwarded(crate::backend::forwarded::Forwarded(self.clone()))
            }
        }
    }

    fn backend_for(&self, bucket: &str) -> S3Result<BackendRef<'_>> {
        let rec = self.resolve_bucket(bucket)?;
        Ok(self.backend(&rec))
    }

    /// The container backend.
    pub fn containers(&self) -> &Arc<crate::backend::container::Containers> {
        &self.containers
    }

    /// The backend new buckets get unless they choose.
    pub fn default_backend(&self) -> BackendKind {
        self.default_backend
    }

    /// Admits a write against the bucket's quota (for the forwarding route).
    pub fn admit_write(
        &self,
        bucket: &str,
        bytes: u64,
        objects: u64,
    ) -> S3Result<Option<Reservation>> {
        self.admit(bucket, Need::Bytes(bytes), objects)
    }

    /// The caller behind an access key.
    pub fn principal(&self, access_key: &str) -> S3Result<Principal> {
        let owner = self.keys.owner_of(access_key)?;
        Ok(if owner == ROOT_USER {
            Principal::Root
        } else {
            Principal::User {
                id: owner,
                access_key: access_key.to_owned(),
            }
        })
    }

    /// The caller of a request, as the access check recorded it.
    fn caller<T>(&self, req: &S3Request<T>) -> S3Result<Principal> {
        if let Some(p) = req.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        match &req.credentials {
            Some(c) => self.principal(&c.access_key),
            None => Ok(Principal::Anonymous),
        }
    }

    /// The usage row of a bucket.
    pub fn usage(&self, bucket: &str) -> Result<UsageRecord> {
        self.store.read(|txn| {
            let table = txn.open_table(USAGE)?;
            Ok(get_json(&table, bucket)?.unwrap_or_default())
        })
    }

    /// Admits a write of `need` bytes adding up to `objects` objects against the bucket's
    /// quota: the one admission of every writer (S3 door, forwarded route, control plane),
    /// with the usage row read under the admission lock.
    pub fn admit(&self, bucket: &str, need: Need, objects: u64) -> S3Result<Option<Reservation>> {
        let rec = self.resolve_bucket(bucket)?;
        self.inflight.admit(&rec, need, objects, || {
            self.usage(bucket).map_err(Into::into)
        })
    }

    /// Admits a write that stores `key`: one more object, unless the key already exists and
    /// the bucket is at its object limit (an overwrite or an in-place metadata copy adds no
    /// object, so it is admitted with zero). The key is looked up only when the count refuses
    /// it. A key deleted between this look-up and the commit can still add one object past
    /// the limit: a documented, bounded race (one object per such overwrite).
    pub async fn admit_key(
        &self,
        bucket: &str,
        key: &str,
        need: Need,
    ) -> S3Result<Option<Reservation>> {
        let refused = match self.admit(bucket, need, 1) {
            Err(e)
                if e.code().as_str() == "QuotaExceeded"
                    && self.resolve_bucket(bucket)?.quota.max_objects.is_some() =>
            {
                e
            }
            other => return other,
        };
        if self.key_exists(bucket, key).await? {
            return self.admit(bucket, need, 0);
        }
        Err(refused)
    }

    /// Whether `bucket/key` currently exists (a HEAD through the bucket's backend).
    async fn key_exists(&self, bucket: &str, key: &str) -> S3Result<bool> {
        let rec = self.resolve_bucket(bucket)?;
        let input = HeadObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .build()
            .map_err(|_| s3_error!(InternalError))?;
        match self
            .backend(&rec)
            .s3()
            .head_object(internal_request(input, http::Method::HEAD))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status_code() == Some(http::StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Checks that the caller may read the source of a copy and returns what a HEAD of it
    /// says. The copy may see another version of the source (it can be replaced meanwhile):
    /// the backend grows the reservation to what it really copies (see
    /// [`SharedReservation`]), so this is only the first estimate.
    pub async fn copy_source_head(
        &self,
        who: &Principal,
        source: &CopySource,
        credentials: Option<&s3s::auth::Credentials>,
    ) -> S3Result<CopySourceHead> {
        let CopySource::Bucket { bucket, key, .. } = source else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket copy sources are supported"
            ));
        };
        let rec = self.resolve_bucket(bucket)?;
        authorize(who, "GetObject", &rec)?;
        let input = HeadObjectInput::builder()
            .bucket(bucket.to_string())
            .key(key.to_string())
            .build()
            .map_err(|_| s3_error!(InternalError))?;
        let mut head = internal_request(input, http::Method::HEAD);
        head.credentials = credentials.cloned();
        let out = self.backend(&rec).s3().head_object(head).await?.output;
        Ok(CopySourceHead {
            size: out
                .content_length
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            metadata_bytes: metadata_bytes(out.metadata.as_ref()),
            etag: out.e_tag.map(|e| e.value().to_owned()),
        })
    }

    /// Whether a copy's source bucket lives on another server (so the copy streams through).
    fn source_is_forwarded(&self, source: &CopySource) -> bool {
        matches!(source, CopySource::Bucket { bucket, .. }
            if self.cached(bucket).is_some_and(|b| b.backend.is_forwarded()))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keys(&self) -> &Arc<crate::auth::KeyStore> {
        &self.keys
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Every bucket record, sorted by name.
    pub fn all_buckets(&self) -> Vec<Arc<BucketRecord>> {
        let mut list: Vec<_> = self
            .buckets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Replaces a bucket record in redb (it must exist) and in the cache.
    pub async fn update_bucket(&self, rec: BucketRecord) -> Result<Arc<BucketRecord>> {
        let bytes = serde_json::to_vec(&rec)?;
        let name = rec.name.clone();
        self.store
            .write(move |txn| {
                let mut table = txn.open_table(BUCKETS)?;
                if table.get(name.as_str())?.is_none() {
                    return Err(client_err!(
                        NoSuchBucket,
                        "The specified bucket does not exist"
                    ));
                }
                table.insert(name.as_str(), bytes.as_slice())?;
                Ok(())
            })
            .await?;
        let rec = Arc::new(rec);
        self.buckets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(rec.name.clone(), rec.clone());
        Ok(rec)
    }

    /// Applies `change` to a bucket's record and stores it.
    pub async fn modify_bucket(
        &self,
        bucket: &str,
        change: impl FnOnce(&mut BucketRecord),
    ) -> Result<Arc<BucketRecord>> {
        let mut rec = (*self.resolve_bucket(bucket)?).clone();
        change(&mut rec);
        rec.updated = crate::meta::now_millis();
        self.update_bucket(rec).await
    }

    /// The bucket a website Host names: a linked domain, or `<bucket>.<website_base>`. Hosts of
    /// the S3 API itself (IPs, the S3 base domain and its subdomains) name none.
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
        let linked = self
            .store
            .read(|txn| {
                let t = txn.open_table(crate::meta::DOMAINS)?;
                Ok(t.get(host)?.map(|v| v.value().to_owned()))
            })
            .ok()
            .flatten()?;
        self.cached(&linked)
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
            let t = txn.open_table(crate::meta::DOMAINS)?;
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

    /// Number of buckets (for metrics).
    pub fn bucket_count(&self) -> usize {
        self.buckets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Most of a refused upload's body read and discarded before answering, so that the client,
/// still sending, can read the error instead of a connection reset (closing a socket with
/// unread data resets it). Larger bodies are cut off: such clients should send
/// `Expect: 100-continue`.
const DRAIN_REFUSED_BODY_BYTES: u64 = 1 << 20;

/// Returns `error` after draining up to [`DRAIN_REFUSED_BODY_BYTES`] of the refused body.
async fn refuse_upload(body: Option<StreamingBlob>, error: s3s::S3Error) -> s3s::S3Error {
    use futures::StreamExt;
    if let Some(mut body) = body {
        let mut seen = 0u64;
        while seen < DRAIN_REFUSED_BODY_BYTES {
            match body.next().await {
                Some(Ok(chunk)) => seen += chunk.len() as u64,
                _ => break,
            }
        }
    }
    error
}

/// Aborts abandoned multipart uploads in the background, every
/// `upload_sweep_interval_secs`. Embedded buckets only: their uploads (and the pending bytes
/// the quota counts) live here. Forwarded buckets hold no gateway reservation between
/// requests (their parts are counted in usage when uploaded, until a sync); their servers
/// expire uploads by their own rules.
pub fn spawn_upload_expiry(gw: Gateway, limits: &crate::config::Limits) {
    let max_age_ms =
        i64::try_from(limits.abandoned_upload_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let every = std::time::Duration::from_secs(limits.upload_sweep_interval_secs.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let cutoff = crate::meta::now_millis().saturating_sub(max_age_ms);
            match gw.embedded.expire_uploads(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(aborted = n, "expired abandoned multipart uploads"),
                Err(e) => tracing::warn!(error = %e, "sweeping abandoned multipart uploads"),
            }
        }
    });
}

/// A request made by the gateway itself (control plane, copy-source checks).
pub fn internal_request<T>(input: T, method: http::Method) -> S3Request<T> {
    S3Request {
        input,
        method,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

/// A copy source as a HEAD saw it.
#[derive(Debug, Clone)]
pub struct CopySourceHead {
    /// Body bytes.
    pub size: u64,
    /// Bytes of its user metadata (stored again by a copy with the `COPY` directive).
    pub metadata_bytes: u64,
    /// Its ETag, without quotes.
    pub etag: Option<String>,
}

/// Bytes a copy stores as usage counts them: the source's body, and the metadata it gets
/// (the source's, or the request's with `REPLACE`), plus the request's tags.
fn copy_bytes(
    src: &CopySourceHead,
    replace: Option<&Option<Metadata>>,
    tagging: Option<&str>,
) -> u64 {
    let meta = match replace {
        Some(m) => metadata_bytes(m.as_ref()),
        None => src.metadata_bytes,
    };
    src.size + meta + tagging_header_bytes(tagging)
}

/// Bytes an `x-amz-copy-source-range` (`bytes=first-last`) selects from a source of `size`
/// bytes; the whole source when absent or not understood (the backend refuses bad ranges).
pub fn copy_range_len(range: Option<&str>, size: u64) -> u64 {
    let parsed = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
    match parsed {
        Some((first, last)) if first <= last => (last - first + 1).min(size),
        _ => size,
    }
}

/// Generates `impl S3 for Gateway`: the hand-written bucket operations, then one routing
/// method per object operation (async_trait must see the expanded methods, hence the macro
/// around the whole impl).
/// A website or CORS setting refused by [`crate::settings`], as the S3 error S3 answers.
fn setting_s3_error(e: crate::settings::SettingError) -> s3s::S3Error {
    use crate::settings::S3Kind;
    let code = match e.s3 {
        S3Kind::MalformedXml => s3s::S3ErrorCode::MalformedXML,
        S3Kind::InvalidRequest => s3s::S3ErrorCode::InvalidRequest,
        S3Kind::InvalidArgument => s3s::S3ErrorCode::InvalidArgument,
    };
    s3s::S3Error::with_message(code, format!("{}: {}", e.field, e.message))
}

macro_rules! gateway_s3_impl {
    (
        custom { $($custom:item)* }
        route { $($op:ident($input:ty) -> $output:ty;)* }
    ) => {
        #[async_trait::async_trait]
        impl S3 for Gateway {
            $($custom)*
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    let backend = self.backend_for(&req.input.bucket)?;
                    backend.s3().$op(req).await
                }
            )*
        }
    };
}

gateway_s3_impl! {
    custom {
        async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
            let who = self.caller(&req)?;
            if who == Principal::Anonymous {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
            let mut list: Vec<Arc<BucketRecord>> = self
                .buckets
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values()
                .filter(|b| authorize(&who, "ListObjects", b).is_ok())
                .cloned()
                .collect();
            let caller = match &who {
                Principal::User { id, .. } => id.clone(),
                _ => ROOT_USER.to_owned(),
            };
            list.sort_by(|a, b| a.name.cmp(&b.name));
            let buckets = list
                .iter()
                .map(|b| Bucket {
                    name: Some(b.name.clone()),
                    creation_date: Some(to_timestamp(b.created)),
                    bucket_region: Some(b.region.clone()),
                })
                .collect();
            Ok(S3Response::new(ListBucketsOutput {
                buckets: Some(buckets),
                owner: Some(Owner {
                    display_name: Some(caller.clone()),
                    id: Some(caller),
                }),
                ..Default::default()
            }))
        }

        async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
            let caller = match self.caller(&req)? {
                Principal::Root => ROOT_USER.to_owned(),
                Principal::User { id, .. } => id,
                Principal::Anonymous => return Err(s3_error!(AccessDenied, "Access Denied")),
            };
            let name = req.input.bucket.clone();
            crate::control::validate_bucket_name(&name)?;
            if let Some(loc) = req
                .input
                .create_bucket_configuration
                .as_ref()
                .and_then(|c| c.location_constraint.as_ref())
                && !loc.as_str().is_empty()
                && loc.as_str() != self.region
            {
                return Err(s3_error!(
                    InvalidLocationConstraint,
                    "The specified location-constraint is not valid for this endpoint ({})",
                    self.region
                ));
            }
            let record = self.new_record(&name, &caller, self.default_backend, &self.region, None)?;
            let record = self.register_bucket(record).await?;
            tracing::info!(bucket = %name, backend = ?record.backend, "bucket created");
            Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{name}")),
            }))
        }

        async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
            self.remove_bucket(&req.input.bucket, false).await?;
            Ok(S3Response::with_status(DeleteBucketOutput::default(), http::StatusCode::NO_CONTENT))
        }

        async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
            let record = self.resolve_bucket(&req.input.bucket)?;
            Ok(S3Response::new(HeadBucketOutput {
                bucket_region: Some(record.region.clone()),
                ..Default::default()
            }))
        }

        async fn get_bucket_location(
            &self,
            req: S3Request<GetBucketLocationInput>,
        ) -> S3Result<S3Response<GetBucketLocationOutput>> {
            let record = self.resolve_bucket(&req.input.bucket)?;
            // us-east-1 is reported as an empty LocationConstraint, as AWS does.
            let location = (record.region != "us-east-1").then(|| BucketLocationConstraint::from(record.region.clone()));
            Ok(S3Response::new(GetBucketLocationOutput {
                location_constraint: location,
            }))
        }

        async fn copy_object(&self, mut req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
            let who = self.caller(&req)?;
            let replace = req
                .input
                .metadata_directive
                .as_ref()
                .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
            if replace {
                check_metadata_bytes(metadata_bytes(req.input.metadata.as_ref()))?;
            }
            let src = self.copy_source_head(&who, &req.input.copy_source, req.credentials.as_ref()).await?;
            let bytes = copy_bytes(&src, replace.then_some(&req.input.metadata), req.input.tagging.as_deref());
            let admitted = self.admit_key(&req.input.bucket, &req.input.key, Need::Bytes(bytes)).await?;
            // The backend grows the reservation to what it really copies (the source may have
            // been replaced since the HEAD), or refuses with QuotaExceeded.
            if let Some(r) = admitted {
                req.extensions.insert(SharedReservation::new(r));
            }
            if self.source_is_forwarded(&req.input.copy_source) {
                return crate::backend::copy::copy_into_embedded(self, &self.embedded, req).await;
            }
            let backend = self.backend_for(&req.input.bucket)?;
            backend.s3().copy_object(req).await
        }

        async fn upload_part_copy(
            &self,
            mut req: S3Request<UploadPartCopyInput>,
        ) -> S3Result<S3Response<UploadPartCopyOutput>> {
            let who = self.caller(&req)?;
            let src = self.copy_source_head(&who, &req.input.copy_source, req.credentials.as_ref()).await?;
            // The backend grows the reservation to the part it really copies.
            let part = copy_range_len(req.input.copy_source_range.as_deref(), src.size);
            if let Some(r) = self.admit(&req.input.bucket, Need::Bytes(part), 0)? {
                req.extensions.insert(SharedReservation::new(r));
            }
            if self.source_is_forwarded(&req.input.copy_source) {
                return crate::backend::copy::upload_part_copy_into_embedded(self, &self.embedded, req).await;
            }
            let backend = self.backend_for(&req.input.bucket)?;
            backend.s3().upload_part_copy(req).await
        }

        async fn put_bucket_cors(&self, req: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
            let rules = req.input.cors_configuration.cors_rules;
            let ages: Vec<Option<i64>> = rules.iter().map(|r| r.max_age_seconds.map(i64::from)).collect();
            let stored: Vec<CorsRule> = rules
                .into_iter()
                .map(|r| CorsRule {
                    allowed_origins: r.allowed_origins,
                    allowed_methods: r.allowed_methods,
                    allowed_headers: r.allowed_headers.unwrap_or_default(),
                    expose_headers: r.expose_headers.unwrap_or_default(),
                    max_age_seconds: crate::settings::max_age(r.max_age_seconds.map(i64::from)),
                })
                .collect();
            crate::settings::check_cors(&stored, &ages).map_err(setting_s3_error)?;
            self.modify_bucket(&req.input.bucket, |b| b.cors = Some(stored)).await?;
            Ok(S3Response::new(PutBucketCorsOutput::default()))
        }

        async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
            let rec = self.resolve_bucket(&req.input.bucket)?;
            let Some(rules) = &rec.cors else {
                return Err(s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist"));
            };
            let rules = rules
                .iter()
                .map(|r| CORSRule {
                    allowed_origins: r.allowed_origins.clone(),
                    allowed_methods: r.allowed_methods.clone(),
                    allowed_headers: (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
                    expose_headers: (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
                    id: None,
                    max_age_seconds: r.max_age_seconds.and_then(|s| i32::try_from(s).ok()),
                })
                .collect();
            Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(rules) }))
        }

        async fn delete_bucket_cors(&self, req: S3Request<DeleteBucketCorsInput>) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
            self.modify_bucket(&req.input.bucket, |b| b.cors = None).await?;
            Ok(S3Response::with_status(DeleteBucketCorsOutput::default(), http::StatusCode::NO_CONTENT))
        }

        async fn put_bucket_website(&self, req: S3Request<PutBucketWebsiteInput>) -> S3Result<S3Response<PutBucketWebsiteOutput>> {
            let conf = req.input.website_configuration;
            if conf.redirect_all_requests_to.is_some() || conf.routing_rules.is_some() {
                return Err(s3_error!(NotImplemented, "Redirects and routing rules are not supported"));
            }
            let Some(index) = conf.index_document.map(|d| d.suffix) else {
                return Err(s3_error!(InvalidArgument, "A value for IndexDocument Suffix must be provided"));
            };
            let website = Website {
                index_document: index,
                error_document: conf.error_document.map(|d| d.key),
            };
            crate::settings::check_website(&website).map_err(setting_s3_error)?;
            self.modify_bucket(&req.input.bucket, |b| b.website = Some(website)).await?;
            Ok(S3Response::new(PutBucketWebsiteOutput::default()))
        }

        async fn get_bucket_website(&self, req: S3Request<GetBucketWebsiteInput>) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
            let rec = self.resolve_bucket(&req.input.bucket)?;
            let Some(w) = &rec.website else {
                return Err(s3_error!(NoSuchWebsiteConfiguration, "The specified bucket does not have a website configuration"));
            };
            Ok(S3Response::new(GetBucketWebsiteOutput {
                index_document: Some(IndexDocument { suffix: w.index_document.clone() }),
                error_document: w.error_document.clone().map(|key| ErrorDocument { key }),
                ..Default::default()
            }))
        }

        async fn delete_bucket_website(&self, req: S3Request<DeleteBucketWebsiteInput>) -> S3Result<S3Response<DeleteBucketWebsiteOutput>> {
            self.modify_bucket(&req.input.bucket, |b| b.website = None).await?;
            Ok(S3Response::with_status(DeleteBucketWebsiteOutput::default(), http::StatusCode::NO_CONTENT))
        }

        /// Canned ACLs toggle public read access: `public-read` lets anonymous callers
        /// GET/HEAD objects (listing stays private unless enabled on the control plane),
        /// `private` turns both off. Anonymous writes are never offered.
        async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
            let public = match req.input.acl.as_ref().map(BucketCannedACL::as_str) {
                Some("private") => false,
                Some("public-read") => true,
                Some(other) => return Err(s3_error!(NotImplemented, "The canned ACL {other} is not supported; use private or public-read")),
                None => return Err(s3_error!(NotImplemented, "Only canned ACLs (x-amz-acl) are supported")),
            };
            self.modify_bucket(&req.input.bucket, |b| {
                b.public_read = public;
                if !public {
                    b.public_list = false;
                }
            })
            .await?;
            Ok(S3Response::new(PutBucketAclOutput::default()))
        }

        async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
            let rec = self.resolve_bucket(&req.input.bucket)?;
            let owner = Owner { display_name: Some(rec.owner.clone()), id: Some(rec.owner.clone()) };
            let mut grants = vec![s3s::dto::Grant {
                grantee: Some(Grantee {
                    id: Some(rec.owner.clone()),
                    display_name: Some(rec.owner.clone()),
                    type_: Type::from_static(Type::CANONICAL_USER),
                    email_address: None,
                    uri: None,
                }),
                permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
            }];
            if rec.public_read {
                grants.push(s3s::dto::Grant {
                    grantee: Some(Grantee {
                        type_: Type::from_static(Type::GROUP),
                        uri: Some("http://acs.amazonaws.com/groups/global/AllUsers".to_owned()),
                        id: None,
                        display_name: None,
                        email_address: None,
                    }),
                    permission: Some(Permission::from_static(Permission::READ)),
                });
            }
            Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants), owner: Some(owner) }))
        }

        async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
            let meta = metadata_bytes(req.input.metadata.as_ref());
            if let Err(e) = check_metadata_bytes(meta) {
                return Err(refuse_upload(req.input.body, e.into()).await);
            }
            let len = req.input.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
            let need = Need::Bytes(len + meta + tagging_header_bytes(req.input.tagging.as_deref()));
            let _admitted = match self.admit_key(&req.input.bucket, &req.input.key, need).await {
                Ok(r) => r,
                Err(e) => return Err(refuse_upload(req.input.body, e).await),
            };
            let backend = self.backend_for(&req.input.bucket)?;
            backend.s3().put_object(req).await
        }

        async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
            let len = req.input.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
            let _admitted = match self.admit(&req.input.bucket, Need::Bytes(len), 0) {
                Ok(r) => r,
                Err(e) => return Err(refuse_upload(req.input.body, e).await),
            };
            let backend = self.backend_for(&req.input.bucket)?;
            backend.s3().upload_part(req).await
        }

        async fn create_multipart_upload(
            &self,
            req: S3Request<CreateMultipartUploadInput>,
        ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
            check_metadata_bytes(metadata_bytes(req.input.metadata.as_ref()))?;
            let backend = self.backend_for(&req.input.bucket)?;
            backend.s3().create_multipart_upload(req).await
        }

        async fn complete_multipart_upload(
            &self,
            req: S3Request<CompleteMultipartUploadInput>,
        ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
            // The parts' bytes are already counted as pending; completing adds one object
            // (none when it replaces one). Its metadata (at most 2 KB) and tags are counted
            // when it commits, without a reservation.
            let _admitted = self.admit_key(&req.input.bucket, &req.input.key, Need::Bytes(0)).await?;
            let backend = self.backend_for(&req.input.bucket)?;
            backend.s3().complete_multipart_upload(req).await
        }
    }
    route {
        get_object(GetObjectInput) -> GetObjectOutput;
        head_object(HeadObjectInput) -> HeadObjectOutput;
        delete_object(DeleteObjectInput) -> DeleteObjectOutput;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
        get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput;
        put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput;
        delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput;
        list_objects(ListObjectsInput) -> ListObjectsOutput;
        list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output;
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
        list_parts(ListPartsInput) -> ListPartsOutput;
        list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput;
    }
}
