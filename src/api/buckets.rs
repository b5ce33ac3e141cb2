//! Bucket routes: create (with connection details), list, show, update, delete, start/stop,
//! stats, usage sync and domain links.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Json, PathArgs, QueryArgs, parse_json};
use crate::control::{Actor, BucketCreate, BucketPatch, BucketStats};
use crate::keys::ROOT_USER;
use crate::meta::{BucketRecord, GrantLevel, UnixMillis, UsageRecord};

/// A bucket as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketView {
    pub name: String,
    pub id: String,
    pub owner: String,
    pub team: Option<String>,
    pub workspace: Option<String>,
    pub description: Option<String>,
    pub backend: crate::meta::BackendKind,
    pub region: String,
    pub status: &'static str,
    /// Why the bucket is in `error`, or a warning about settings its backend refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The bucket's own S3 server container (`container` buckets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerView>,
    pub created_at: String,
    pub updated_at: String,
    pub max_size_bytes: Option<u64>,
    pub max_objects: Option<u64>,
    pub public_read: bool,
    pub public_list: bool,
    pub versioning: Option<String>,
    pub encryption: Option<String>,
    pub domains: Vec<String>,
    /// Each linked domain and whether it routes: a link made before its name became reserved
    /// is kept, but serves nothing until it is unlinked.
    pub domain_status: Vec<DomainStatus>,
    pub grants: Vec<GrantView>,
    /// Static website documents, `null` when the bucket is no website.
    pub website: Option<crate::settings::WebsiteSettings>,
    /// CORS rules of the S3 listener, `null` when none are set.
    pub cors: Option<Vec<crate::settings::CorsRuleSettings>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
}

/// A container bucket's server, as operators see it (never its credentials).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    pub profile: String,
    pub image: String,
    pub name: String,
    pub volume: String,
    /// `ip:port` the server's S3 API is published on (loopback: for the gateway only).
    pub s3_address: String,
    /// `ip:port` of the server's web console, when its profile has one.
    pub console_address: Option<String>,
}

/// Whether a linked domain routes to its bucket, and why not; its ownership proof and its
/// certificate.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainStatus {
    pub domain: String,
    /// The domain routes to the bucket.
    pub active: bool,
    /// `pending` (ownership not proven: it does not route), `verified` (it routes; its
    /// certificate is not issued yet), `active` (it routes, with its certificate when ACME is
    /// enabled), `reserved` (it never routes).
    pub status: &'static str,
    /// `ReservedDomain`, `OwnershipNotProven` or `CertificateNotIssued` when not `active`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What to publish to prove ownership, when a proof is required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationView>,
    /// The ACME certificate, when ACME is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<crate::acme::CertStatus>,
}

/// The ownership proof of a linked domain.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationView {
    /// `dns` or `http`.
    pub method: &'static str,
    /// `dns`: the TXT record's name; `http`: the URL that must answer the token.
    pub record: String,
    pub token: String,
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
}

fn domain_status(r: crate::control::DomainReport) -> DomainStatus {
    use crate::acme::{CertPhase, VerifyMethod};
    let verification = r.proof.as_ref().and_then(|p| {
        let (method, record) = match r.method {
            VerifyMethod::None => return None,
            VerifyMethod::Dns => ("dns", crate::acme::txt_name(&r.domain)),
            VerifyMethod::Http => (
                "http",
                format!("http://{}{}{}", r.domain, crate::acme::PROOF_PATH, p.token),
            ),
        };
        Some(VerificationView {
            method,
            record,
            token: p.token.clone(),
            verified: p.verified.is_some(),
            verified_at: p.verified.map(rfc3339),
        })
    });
    let cert_missing = r
        .certificate
        .as_ref()
        .is_some_and(|c| c.not_after.is_none() || c.state == CertPhase::Pending);
    let (status, error, message) = if let Some(why) = r.reserved {
        ("reserved", Some("ReservedDomain"), Some(why))
    } else if !r.proven {
        let why = r
            .proof
            .as_ref()
            .and_then(|p| p.message.clone())
            .unwrap_or_else(|| "waiting for the ownership proof (see verification)".to_owned());
        ("pending", Some("OwnershipNotProven"), Some(why))
    } else if cert_missing {
        let why = r.certificate.as_ref().and_then(|c| c.reason.clone());
        ("verified", Some("CertificateNotIssued"), why)
    } else {
        ("active", None, None)
    };
    DomainStatus {
        domain: r.domain,
        active: status == "active" || status == "verified",
        status,
        error,
        message,
        verification,
        certificate: r.certificate,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    pub access_key: String,
    pub level: GrantLevel,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub objects: u64,
    pub bytes: u64,
    pub pending_bytes: u64,
}

/// Milliseconds since the epoch as RFC 3339.
pub fn rfc3339(ms: UnixMillis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn view(
    control: &crate::control::Control,
    rec: &BucketRecord,
    usage: Option<UsageRecord>,
) -> BucketView {
    let gateway = control.gateway();
    let (status, status_message) = gateway.backends().status(rec);
    let bind = gateway.backends().containers.config().bind_address;
    let addr = |port: u16| std::net::SocketAddr::new(bind, port).to_string();
    BucketView {
        name: rec.name.clone(),
        id: rec.id.clone(),
        owner: rec.owner.clone(),
        team: rec.team.clone(),
        workspace: rec.workspace.clone(),
        description: rec.description.clone(),
        backend: rec.backend,
        region: rec.region.clone(),
        status,
        status_message,
        container: rec.container.as_ref().map(|c| ContainerView {
            profile: c.profile.clone(),
            image: c.image.clone(),
            name: c.container_name.clone(),
            volume: c.volume.clone(),
            s3_address: addr(c.host_port),
            console_address: c.console_port.map(addr),
        }),
        created_at: rfc3339(rec.created),
        updated_at: rfc3339(rec.updated),
        max_size_bytes: rec.quota.max_size_bytes,
        max_objects: rec.quota.max_objects,
        public_read: rec.public_read,
        public_list: rec.public_list,
        versioning: rec.versioning.clone(),
        encryption: rec.encryption.clone(),
        domains: rec.domains.clone(),
        domain_status: control
            .domain_reports(rec)
            .into_iter()
            .map(domain_status)
            .collect(),
        grants: rec
            .grants
            .iter()
            .map(|g| GrantView {
                access_key: g.access_key.clone(),
                level: g.level,
            })
            .collect(),
        website: rec.website.as_ref().map(Into::into),
        cors: rec
            .cors
            .as_ref()
            .map(|rules| rules.iter().map(Into::into).collect()),
        usage: usage.map(|u| UsageView {
            objects: u.objects,
            bytes: u.bytes,
            pending_bytes: u.pending_bytes,
        }),
    }
}

fn with_usage(state: &ApiState, rec: &BucketRecord) -> ApiResult<BucketView> {
    let usage = state.control.gateway().registry().usage(&rec.name)?;
    Ok(view(&state.control, rec, Some(usage)))
}

/// How to reach a new bucket over S3.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    /// Only when a key was created by this request: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    pub path_style: bool,
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Json(req): Json<BucketCreate>,
) -> ApiResult<Response> {
    let control = &state.control;
    let rec = control.create_bucket(&caller.actor, req).await?;
    let (access_key, secret_key) = connection_key(&state, &caller, &rec.owner).await?;
    let connection = Connection {
        endpoint: state.s3_endpoint.to_string(),
        region: rec.region.clone(),
        bucket: rec.name.clone(),
        access_key,
        secret_key,
        path_style: true,
    };
    let body = json!({"bucket": with_usage(&state, &rec)?, "connection": connection});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The key a new bucket's owner connects with: the caller's own, an existing key of the owner,
/// or (for an owner without one) a key created now, whose secret is returned this once.
async fn connection_key(
    state: &ApiState,
    caller: &Caller,
    owner: &str,
) -> ApiResult<(String, Option<String>)> {
    let control = &state.control;
    let caller_user = control.actor_user(&caller.actor);
    if let Some(k) = &caller.access_key
        && caller_user == owner
    {
        return Ok((k.clone(), None));
    }
    if owner == ROOT_USER {
        let (k, _) = control.signing_key(&Actor::Admin, None)?;
        return Ok((k, None));
    }
    let keys = control.list_keys(&Actor::Admin, owner)?;
    if let Some(k) = keys.into_iter().find(|k| !k.disabled) {
        return Ok((k.access_key, None));
    }
    let new = control.create_key(&Actor::Admin, owner).await?;
    Ok((new.access_key, Some(new.secret_key)))
}

pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<Value>> {
    let mut out = Vec::new();
    for rec in state.control.list_buckets(&caller.actor) {
        out.push(with_usage(&state, &rec)?);
    }
    Ok(axum::Json(json!({ "buckets": out })))
}

pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
) -> ApiResult<axum::Json<BucketView>> {
    let rec = state.control.bucket(&caller.actor, &name)?;
    Ok(axum::Json(with_usage(&state, &rec)?))
}

pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<BucketView>> {
    let patch = patch_from_json(body)?;
    state.control.bucket(&caller.actor, &name)?;
    check_settings(&patch)?;
    if let Some(grants) = &patch.grants {
        let keys = state.control.gateway().keys();
        for (i, g) in grants.iter().enumerate() {
            if !keys.exists(&g.access_key)? {
                return Err(ApiError::invalid(
                    &format!("grants[{i}].accessKey"),
                    "no such access key",
                ));
            }
        }
    }
    let rec = state
        .control
        .update_bucket(&caller.actor, &name, patch)
        .await?;
    Ok(axum::Json(with_usage(&state, &rec)?))
}

/// Refuses bad website and CORS settings with the field they name (the same checks the S3
/// operations make, in [`crate::settings`]).
fn check_settings(patch: &BucketPatch) -> ApiResult<()> {
    let field = |e: crate::settings::SettingError| ApiError::invalid(&e.field, &e.message);
    if let Some(Some(w)) = &patch.website {
        crate::settings::check_website(&w.clone().into()).map_err(field)?;
    }
    if let Some(Some(c)) = &patch.cors {
        crate::settings::cors_from_settings(c.clone()).map_err(field)?;
    }
    Ok(())
}

/// Reads a [`BucketPatch`], taking grants in the API's camelCase (`accessKey`).
fn patch_from_json(mut body: Value) -> ApiResult<BucketPatch> {
    if let Some(grants) = body.get_mut("grants").and_then(Value::as_array_mut) {
        for g in grants.iter_mut().filter_map(Value::as_object_mut) {
            // Only the camelCase spelling is part of the API.
            let key = g.remove("accessKey");
            g.remove("access_key");
            if let Some(k) = key {
                g.insert("access_key".to_owned(), k);
            }
        }
    }
    let bytes = serde_json::to_vec(&body).map_err(|_| ApiError::internal())?;
    parse_json::<BucketPatch>(&bytes).map_err(|mut e| {
        e.message = e.message.replace("access_key", "accessKey");
        e
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteQuery {
    /// Keep a container bucket's volume (its data) after the bucket is gone.
    #[serde(default)]
    pub keep_volume: bool,
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    QueryArgs(q): QueryArgs<DeleteQuery>,
) -> ApiResult<StatusCode> {
    state.control.bucket(&caller.actor, &name)?;
    // The API also refuses a bucket with multipart uploads in progress (S3 would abort them):
    // a console user deleting a bucket should not lose an upload under way. A container
    // bucket's container checks this itself, once requests to it are held back.
    let rec = state.control.bucket(&caller.actor, &name)?;
    if rec.backend != crate::meta::BackendKind::Container
        && !state.control.gateway().backends().is_empty(&name).await?
    {
        return Err(ApiError::conflict(
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
        ));
    }
    state
        .control
        .delete_bucket(&caller.actor, &name, q.keep_volume)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start and stop: a container bucket's container is started (waiting for readiness) or
/// stopped; other buckets always run, so both answer their state.
pub async fn start(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
) -> ApiResult<axum::Json<BucketView>> {
    state.control.bucket(&caller.actor, &name)?;
    let rec = state.control.gateway().backends().start(&name).await?;
    Ok(axum::Json(with_usage(&state, &rec)?))
}

pub async fn stop(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
) -> ApiResult<axum::Json<BucketView>> {
    state.control.bucket(&caller.actor, &name)?;
    let rec = state.control.gateway().backends().stop(&name).await?;
    Ok(axum::Json(with_usage(&state, &rec)?))
}

pub async fn stats(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
) -> ApiResult<axum::Json<BucketStats>> {
    Ok(axum::Json(state.control.stats(&caller.actor, &name)?))
}

pub async fn sync(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
) -> ApiResult<axum::Json<BucketStats>> {
    Ok(axum::Json(state.control.sync(&caller.actor, &name).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainBody {
    pub domain: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionalDomainBody {
    #[serde(default)]
    pub domain: Option<String>,
}

pub async fn link_domain(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    Json(body): Json<DomainBody>,
) -> ApiResult<axum::Json<BucketView>> {
    let control = &state.control;
    control.bucket(&caller.actor, &name)?;
    let rec = control
        .link_domain(&caller.actor, &name, &body.domain)
        .await?;
    Ok(axum::Json(with_usage(&state, &rec)?))
}

pub async fn unlink_domain(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    Json(body): Json<OptionalDomainBody>,
) -> ApiResult<axum::Json<BucketView>> {
    let rec = state
        .control
        .unlink_domain(&caller.actor, &name, body.domain.as_deref())
        .await?;
    Ok(axum::Json(with_usage(&state, &rec)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    #[serde(default)]
    pub host: Option<String>,
}

/// `GET /api/buckets/{name}/domain/check?host=`: whether a linked host answers from here.
pub async fn check_domain(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    QueryArgs(q): QueryArgs<CheckQuery>,
) -> ApiResult<axum::Json<crate::acme::Reachability>> {
    let host = q
        .host
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("host", "the host name to check is required"))?;
    let r = state
        .control
        .check_domain(&caller.actor, &name, &host)
        .await?;
    Ok(axum::Json(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_takes_camel_case_grants() {
        let p = patch_from_json(json!({"grants": [{"accessKey": "K", "level": "read"}]})).unwrap();
        assert_eq!(p.grants.unwrap()[0].access_key, "K");
        let e =
            patch_from_json(json!({"grants": [{"access_key": "K", "level": "read"}]})).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(patch_from_json(json!({"nope": 1})).is_err());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
