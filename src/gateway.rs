//! The S3 service the front door calls after authentication: bucket operations answered from
//! the bucket registry, object operations routed to the backend that serves the bucket.
//!
//! The router never knows how a backend stores anything: every backend is an `s3s::S3`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use redb::ReadableTable;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::backend::embedded::Embedded;
use crate::error::{Result, client_err};
use crate::meta::{BUCKETS, BackendKind, BucketRecord, Store, get_json, now_millis};
use crate::s3util::to_timestamp;

/// Owner id of the root access key.
pub const ROOT_USER: &str = "root";

pub struct Gateway {
    store: Store,
    embedded: Embedded,
    keys: Arc<crate::auth::KeyStore>,
    region: String,
    /// Bucket records by name; redb is the source of truth, this saves a read per request.
    buckets: RwLock<HashMap<String, Arc<BucketRecord>>>,
}

impl Gateway {
    pub fn new(
        store: Store,
        embedded: Embedded,
        keys: Arc<crate::auth::KeyStore>,
        region: String,
    ) -> Result<Self> {
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
            store,
            embedded,
            keys,
            region,
            buckets: RwLock::new(records),
        })
    }

    fn cached(&self, name: &str) -> Option<Arc<BucketRecord>> {
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

    fn backend(&self, rec: &BucketRecord) -> &dyn S3 {
        match rec.backend {
            BackendKind::Embedded => &self.embedded,
        }
    }

    fn backend_for(&self, bucket: &str) -> S3Result<&dyn S3> {
        let rec = self.resolve_bucket(bucket)?;
        Ok(self.backend(&rec))
    }

    /// The user behind a request's credentials.
    fn caller(&self, credentials: Option<&s3s::auth::Credentials>) -> S3Result<String> {
        let c = credentials.ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))?;
        self.keys.owner_of(&c.access_key)
    }

    /// Number of buckets (for metrics).
    pub fn bucket_count(&self) -> usize {
        self.buckets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Generates `impl S3 for Gateway`: the hand-written bucket operations, then one routing
/// method per object operation (async_trait must see the expanded methods, hence the macro
/// around the whole impl).
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
                    backend.$op(req).await
                }
            )*
        }
    };
}

gateway_s3_impl! {
    custom {
        async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
            let caller = self.caller(req.credentials.as_ref())?;
            let mut list: Vec<Arc<BucketRecord>> = self
                .buckets
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values()
                .filter(|b| caller == ROOT_USER || b.owner == caller)
                .cloned()
                .collect();
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
            let caller = self.caller(req.credentials.as_ref())?;
            let name = req.input.bucket.clone();
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
            let record = BucketRecord {
                name: name.clone(),
                id: uuid::Uuid::new_v4().simple().to_string(),
                owner: caller.clone(),
                team: None,
                workspace: None,
                backend: BackendKind::Embedded,
                region: self.region.clone(),
                created: now_millis(),
            };
            let bytes = serde_json::to_vec(&record).map_err(crate::error::Error::from)?;
            let key = name.clone();
            self.store
                .write(move |txn| {
                    let mut table = txn.open_table(BUCKETS)?;
                    if let Some(existing) = get_json::<&str, BucketRecord>(&table, key.as_str())? {
                        return Err(if existing.owner == caller {
                            client_err!(BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
                        } else {
                            client_err!(BucketAlreadyExists, "The requested bucket name is not available.")
                        });
                    }
                    table.insert(key.as_str(), bytes.as_slice())?;
                    Ok(())
                })
                .await?;
            let record = Arc::new(record);
            self.buckets
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name.clone(), record.clone());
            self.backend(&record).create_bucket(req).await?;
            tracing::info!(bucket = %name, backend = ?record.backend, "bucket created");
            Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{name}")),
            }))
        }

        async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
            let name = req.input.bucket.clone();
            let record = self.resolve_bucket(&name)?;
            let resp = self.backend(&record).delete_bucket(req).await?;
            self.buckets
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&name);
            tracing::info!(bucket = %name, "bucket deleted");
            Ok(resp)
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

        async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
            if let CopySource::Bucket { bucket, .. } = &req.input.copy_source {
                self.resolve_bucket(bucket)?;
            }
            let backend = self.backend_for(&req.input.bucket)?;
            backend.copy_object(req).await
        }

        async fn upload_part_copy(
            &self,
            req: S3Request<UploadPartCopyInput>,
        ) -> S3Result<S3Response<UploadPartCopyOutput>> {
            if let CopySource::Bucket { bucket, .. } = &req.input.copy_source {
                self.resolve_bucket(bucket)?;
            }
            let backend = self.backend_for(&req.input.bucket)?;
            backend.upload_part_copy(req).await
        }
    }
    route {
        put_object(PutObjectInput) -> PutObjectOutput;
        get_object(GetObjectInput) -> GetObjectOutput;
        head_object(HeadObjectInput) -> HeadObjectOutput;
        delete_object(DeleteObjectInput) -> DeleteObjectOutput;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
        get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput;
        put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput;
        delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput;
        list_objects(ListObjectsInput) -> ListObjectsOutput;
        list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output;
        create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput;
        upload_part(UploadPartInput) -> UploadPartOutput;
        complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput;
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
        list_parts(ListPartsInput) -> ListPartsOutput;
        list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput;
    }
}
