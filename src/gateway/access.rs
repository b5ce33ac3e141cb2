//! The access decision, one for both routes: made after the signature is verified and
//! before the body is read. Who the caller is, whether the bucket lets them run this
//! operation, and whether the key is one the bucket's server accepts. The caller is left in
//! the request extensions for what follows.
//!
//! Requests s3s parses into operations are checked through [`S3Access`] with s3s's operation
//! name; requests the pass-through route takes are HTTP only, and get an operation name from
//! [`http_operation`]. Both end in [`decide`].

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::Credentials;
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};

use super::Gateway;
use crate::policy::{Principal, authorize};

/// The access check s3s runs for the requests it parses.
pub struct Access {
    pub gateway: Gateway,
}

/// The caller behind a request's credentials.
pub fn caller(gw: &Gateway, credentials: Option<&Credentials>) -> S3Result<Principal> {
    match credentials {
        Some(c) => gw.keys().principal(&c.access_key),
        None => Ok(Principal::Anonymous),
    }
}

/// May `who` run `op` on `bucket` (and `key`)? Unknown buckets: anonymous callers learn
/// nothing (403); signed callers go on to CreateBucket, ListBuckets or a NoSuchBucket answer.
/// Creating a taken name is answered later (BucketAlreadyExists), not with 403.
pub fn decide(
    gw: &Gateway,
    who: &Principal,
    op: &str,
    bucket: Option<&str>,
    key: Option<&str>,
) -> S3Result<()> {
    let rec = bucket.and_then(|b| gw.registry().cached(b));
    if let Some(key) = key {
        let max = rec.as_deref().and_then(|r| gw.backends().max_key_bytes(r));
        crate::s3util::validate_key_within(key, max)?;
    }
    match rec {
        Some(_) if op == "CreateBucket" && *who != Principal::Anonymous => Ok(()),
        Some(rec) => authorize(who, op, &rec),
        None if *who == Principal::Anonymous => Err(s3_error!(AccessDenied, "Access Denied")),
        None => Ok(()),
    }
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let who = caller(&self.gateway, cx.credentials())?;
        let op = cx.s3_op().name();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        decide(&self.gateway, &who, op, bucket.as_deref(), key.as_deref())?;
        cx.extensions_mut().insert(who);
        Ok(())
    }
}

/// The query parameter names of a request.
pub fn query_names(query: &str) -> impl Iterator<Item = &str> {
    query
        .split('&')
        .map(|p| p.split('=').next().unwrap_or(""))
        .filter(|n| !n.is_empty())
}

/// A coarse operation name for the access rules (the route sees HTTP, not S3 operations).
pub fn http_operation(method: &http::Method, object: bool, query: &str) -> &'static str {
    let subresource = query_names(query).any(|n| {
        !n.starts_with("X-Amz-")
            && !matches!(
                n,
                "list-type"
                    | "prefix"
                    | "delimiter"
                    | "max-keys"
                    | "continuation-token"
                    | "start-after"
                    | "encoding-type"
                    | "marker"
                    | "versionId"
                    | "partNumber"
                    | "uploadId"
                    | "uploads"
                    | "response-content-type"
                    | "response-content-disposition"
                    | "response-cache-control"
                    | "response-content-encoding"
                    | "response-content-language"
                    | "response-expires"
                    | "fetch-owner"
                    | "x-id"
            )
    });
    match (method.as_str(), object, subresource) {
        ("GET", true, false) => "GetObject",
        ("GET", true, true) if query_names(query).any(|n| n == "tagging") => "GetObjectTagging",
        ("HEAD", true, _) => "HeadObject",
        ("GET", false, false) => "ListObjects",
        ("HEAD", false, _) => "HeadBucket",
        (_, true, _) => "PutObject",
        ("PUT", false, false) => "CreateBucket",
        _ => "PutBucketConfiguration",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn http_operations_are_classified() {
        assert_eq!(http_operation(&Method::GET, true, ""), "GetObject");
        assert_eq!(
            http_operation(&Method::GET, true, "tagging"),
            "GetObjectTagging"
        );
        // Other object sub-resources count as writes: read grants do not reach them.
        assert_eq!(http_operation(&Method::GET, true, "acl"), "PutObject");
        assert_eq!(
            http_operation(&Method::GET, false, "list-type=2&prefix=a"),
            "ListObjects"
        );
        assert_eq!(http_operation(&Method::PUT, false, ""), "CreateBucket");
        assert_eq!(
            http_operation(&Method::PUT, false, "versioning"),
            "PutBucketConfiguration"
        );
    }
}
