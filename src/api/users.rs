//! Users (admin only, except that users may read their own record) and their access keys
//! (the admin, or the user themselves).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::buckets::rfc3339;
use super::error::{ApiError, ApiResult, Json, PathArgs};
use crate::control::{Actor, KeyInfo};
use crate::meta::UserRecord;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub team: Option<String>,
    pub created_at: String,
}

fn user_view(u: UserRecord) -> UserView {
    UserView {
        id: u.id,
        name: u.name,
        team: u.team,
        created_at: rfc3339(u.created),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub access_key: String,
    pub user_id: String,
    pub created_at: String,
    pub disabled: bool,
}

fn key_view(k: KeyInfo) -> KeyView {
    KeyView {
        access_key: k.access_key,
        user_id: k.user_id,
        created_at: rfc3339(k.created),
        disabled: k.disabled,
    }
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Json(body): Json<UserCreate>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    if let Some(name) = &body.name
        && (name.is_empty() || name.len() > 256 || name.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(
            "name",
            "1-256 characters, no control characters",
        ));
    }
    let user = state
        .control
        .create_user(&body.id, body.name.as_deref(), body.team.as_deref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(user_view(user))).into_response())
}

pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<Value>> {
    caller.require_admin()?;
    let users: Vec<UserView> = state
        .control
        .list_users()?
        .into_iter()
        .map(user_view)
        .collect();
    Ok(axum::Json(json!({ "users": users })))
}

pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(id): PathArgs<String>,
) -> ApiResult<axum::Json<UserView>> {
    let user = state.control.get_user(&caller.actor, &id)?;
    Ok(axum::Json(user_view(user)))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(id): PathArgs<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    state.control.get_user(&Actor::Admin, &id)?;
    state.control.delete_user(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_key(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(id): PathArgs<String>,
) -> ApiResult<Response> {
    let key = state.control.create_key(&caller.actor, &id).await?;
    let body = json!({
        "accessKey": key.access_key,
        "secretKey": key.secret_key,
        "userId": key.user_id,
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub async fn list_keys(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(id): PathArgs<String>,
) -> ApiResult<axum::Json<Value>> {
    let keys: Vec<KeyView> = state
        .control
        .list_keys(&caller.actor, &id)?
        .into_iter()
        .map(key_view)
        .collect();
    Ok(axum::Json(json!({ "keys": keys })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    pub disabled: bool,
}

pub async fn update_key(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs((id, access_key)): PathArgs<(String, String)>,
    Json(body): Json<KeyPatch>,
) -> ApiResult<axum::Json<KeyView>> {
    let control = &state.control;
    control
        .change_key(&caller.actor, &id, &access_key, Some(body.disabled))
        .await?;
    let key = control
        .list_keys(&caller.actor, &id)?
        .into_iter()
        .find(|k| k.access_key == access_key)
        .ok_or_else(|| ApiError::not_found("NoSuchKey", "access key not found"))?;
    Ok(axum::Json(key_view(key)))
}

pub async fn delete_key(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs((id, access_key)): PathArgs<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .control
        .change_key(&caller.actor, &id, &access_key, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
