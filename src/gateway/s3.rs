//! The gateway's `s3s::S3`: bucket operations answered from the registry (the settings the
//! gateway enforces itself: CORS, websites, canned ACLs), writes admitted against the quota,
//! and object operations routed to the bucket's backend. S3 clients' requests for buckets on
//! another server never get here (the pass-through route takes them before s3s parses an
//! operation); the gateway's own calls for them do, and go to the backend's typed client.

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use super::Gateway;
use super::admission::{copy_bytes, copy_range_len, refuse_upload};
use crate::backend::BackendRef;
use crate::keys::ROOT_USER;
use crate::meta::{BucketRecord, CorsRule, Website};
use crate::policy::{Need, Principal, SharedReservation, authorize};
use crate::s3util::{check_metadata_bytes, metadata_bytes, tagging_header_bytes, to_timestamp};

impl Gateway {
    /// Whether the caller may bypass governance retention in `bucket` (its owner only).
    fn may_bypass<T>(&self, req: &S3Request<T>, bucket: &str) -> S3Result<bool> {
        let who = self.caller(req)?;
        let rec = self.registry().resolve(bucket)?;
        Ok(super::versioning::may_bypass(&who, &rec))
    }

    /// The backend serving a bucket, or `NoSuchBucket`.
    fn route(&self, bucket: &str) -> S3Result<BackendRef<'_>> {
        let rec = self.registry().resolve(bucket)?;
        Ok(self.backends.s3(&rec))
    }
}

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

/// Generates `impl S3 for Gateway`: the hand-written operations, then one routing method per
/// object operation that needs nothing of the gateway (async_trait must see the expanded
/// methods, hence the macro around the whole impl).
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
                    self.route(&req.input.bucket)?.s3().$op(req).await
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
            let list: Vec<Arc<BucketRecord>> = self
                .registry()
                .all()
                .into_iter()
                .filter(|b| authorize(&who, "ListObjects", b).is_ok())
                .collect();
            let caller = match &who {
                Principal::User { id, .. } => id.clone(),
                _ => ROOT_USER.to_owned(),
            };
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
            crate::s3util::validate_bucket_name(&name)?;
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
            let mut record = self.backends.new_record(&name, &caller, self.default_backend, &self.region, None)?;
            if req.input.object_lock_enabled_for_bucket == Some(true) {
                if record.backend != crate::meta::BackendKind::Embedded {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Object lock is offered on embedded buckets only"
                    ));
                }
                // Object lock needs versioning, and keeps it on.
                record.object_lock = Some(crate::meta::ObjectLockConfig::default());
                record.versioning = Some("Enabled".to_owned());
            }
            let record = self.backends.create(record).await?;
            tracing::info!(bucket = %name, backend = ?record.backend, "bucket created");
            Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{name}")),
            }))
        }

        async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
            self.delete_bucket(&req.input.bucket, false).await?;
            Ok(S3Response::with_status(DeleteBucketOutput::default(), http::StatusCode::NO_CONTENT))
        }

        async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
            let record = self.registry().resolve(&req.input.bucket)?;
            Ok(S3Response::new(HeadBucketOutput {
                bucket_region: Some(record.region.clone()),
                ..Default::default()
            }))
        }

        async fn get_bucket_location(
            &self,
            req: S3Request<GetBucketLocationInput>,
        ) -> S3Result<S3Response<GetBucketLocationOutput>> {
            let record = self.registry().resolve(&req.input.bucket)?;
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
                return crate::backend::copy::copy_into_embedded(&self.backends, &self.backends.embedded, req).await;
            }
            self.route(&req.input.bucket)?.s3().copy_object(req).await
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
                return crate::backend::copy::upload_part_copy_into_embedded(&self.backends, &self.backends.embedded, req).await;
            }
            self.route(&req.input.bucket)?.s3().upload_part_copy(req).await
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
            self.registry().modify(&req.input.bucket, |b| b.cors = Some(stored)).await?;
            Ok(S3Response::new(PutBucketCorsOutput::default()))
        }

        async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
            let rec = self.registry().resolve(&req.input.bucket)?;
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
            self.registry().modify(&req.input.bucket, |b| b.cors = None).await?;
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
            self.registry().modify(&req.input.bucket, |b| b.website = Some(website)).await?;
            Ok(S3Response::new(PutBucketWebsiteOutput::default()))
        }

        async fn get_bucket_website(&self, req: S3Request<GetBucketWebsiteInput>) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
            let rec = self.registry().resolve(&req.input.bucket)?;
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
            self.registry().modify(&req.input.bucket, |b| b.website = None).await?;
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
            self.registry().modify(&req.input.bucket, |b| {
                b.public_read = public;
                if !public {
                    b.public_list = false;
                }
            })
            .await?;
            Ok(S3Response::new(PutBucketAclOutput::default()))
        }

        async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
            let rec = self.registry().resolve(&req.input.bucket)?;
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
            self.route(&req.input.bucket)?.s3().put_object(req).await
        }

        async fn put_bucket_versioning(
            &self,
            req: S3Request<PutBucketVersioningInput>,
        ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
            self.put_versioning(req).await?;
            Ok(S3Response::new(PutBucketVersioningOutput::default()))
        }

        async fn get_bucket_versioning(
            &self,
            req: S3Request<GetBucketVersioningInput>,
        ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
            Ok(S3Response::new(self.get_versioning(&req.input.bucket)?))
        }

        async fn put_object_lock_configuration(
            &self,
            req: S3Request<PutObjectLockConfigurationInput>,
        ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
            self.put_lock_config(req).await?;
            Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
        }

        async fn get_object_lock_configuration(
            &self,
            req: S3Request<GetObjectLockConfigurationInput>,
        ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
            let conf = self.get_lock_config(&req.input.bucket)?;
            Ok(S3Response::new(GetObjectLockConfigurationOutput { object_lock_configuration: Some(conf) }))
        }

        async fn delete_object(&self, mut req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
            if req.input.bypass_governance_retention == Some(true) && !self.may_bypass(&req, &req.input.bucket)? {
                req.input.bypass_governance_retention = None;
            }
            self.route(&req.input.bucket)?.s3().delete_object(req).await
        }

        async fn delete_objects(&self, mut req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
            if req.input.bypass_governance_retention == Some(true) && !self.may_bypass(&req, &req.input.bucket)? {
                req.input.bypass_governance_retention = None;
            }
            self.route(&req.input.bucket)?.s3().delete_objects(req).await
        }

        async fn put_object_retention(
            &self,
            mut req: S3Request<PutObjectRetentionInput>,
        ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
            if req.input.bypass_governance_retention == Some(true) && !self.may_bypass(&req, &req.input.bucket)? {
                req.input.bypass_governance_retention = None;
            }
            self.route(&req.input.bucket)?.s3().put_object_retention(req).await
        }

        async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
            let len = req.input.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
            let _admitted = match self.admit(&req.input.bucket, Need::Bytes(len), 0) {
                Ok(r) => r,
                Err(e) => return Err(refuse_upload(req.input.body, e).await),
            };
            self.route(&req.input.bucket)?.s3().upload_part(req).await
        }

        async fn create_multipart_upload(
            &self,
            req: S3Request<CreateMultipartUploadInput>,
        ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
            check_metadata_bytes(metadata_bytes(req.input.metadata.as_ref()))?;
            self.route(&req.input.bucket)?.s3().create_multipart_upload(req).await
        }

        async fn complete_multipart_upload(
            &self,
            req: S3Request<CompleteMultipartUploadInput>,
        ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
            // The parts' bytes are already counted as pending; completing adds one object
            // (none when it replaces one). Its metadata (at most 2 KB) and tags are counted
            // when it commits, without a reservation.
            let _admitted = self.admit_key(&req.input.bucket, &req.input.key, Need::Bytes(0)).await?;
            self.route(&req.input.bucket)?.s3().complete_multipart_upload(req).await
        }
    }
    route {
        get_object(GetObjectInput) -> GetObjectOutput;
        head_object(HeadObjectInput) -> HeadObjectOutput;
        list_object_versions(ListObjectVersionsInput) -> ListObjectVersionsOutput;
        get_object_retention(GetObjectRetentionInput) -> GetObjectRetentionOutput;
        put_object_legal_hold(PutObjectLegalHoldInput) -> PutObjectLegalHoldOutput;
        get_object_legal_hold(GetObjectLegalHoldInput) -> GetObjectLegalHoldOutput;
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
