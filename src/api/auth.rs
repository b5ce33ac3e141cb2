//! Who calls the API: the admin token, or a user's access key pair, both as a Bearer token.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::ApiState;
use super::error::ApiError;
use crate::control::Actor;
use crate::keys::ROOT_USER;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    /// The access key the caller authenticated with (none for the admin token): presigned
    /// URLs are signed with it and connection details name it.
    pub access_key: Option<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.actor == Actor::Admin
    }

    /// 403 unless the caller is the admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this operation needs the admin token"))
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer credentials"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
        authenticate(state, token)
    }
}

/// Checks a Bearer token: the admin token, or `<access key>:<secret key>` of an enabled key.
fn authenticate(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    if ct_eq(token.as_bytes(), state.admin_token.as_bytes()) {
        return Ok(Caller {
            actor: Actor::Admin,
            access_key: None,
        });
    }
    let bad = || ApiError::unauthorized("invalid credentials");
    let (access_key, secret) = token.split_once(':').ok_or_else(bad)?;
    let keys = state.control.gateway().keys();
    // Unknown and disabled keys fail the same way as a wrong secret.
    let stored = keys.secret_of(access_key).map_err(|_| bad())?;
    if !ct_eq(secret.as_bytes(), stored.as_bytes()) {
        return Err(bad());
    }
    let owner = keys.owner_of(access_key).map_err(|_| bad())?;
    let actor = if owner == ROOT_USER {
        Actor::Admin
    } else {
        Actor::User(owner)
    };
    Ok(Caller {
        actor,
        access_key: Some(access_key.to_owned()),
    })
}

/// Equality in time that depends only on the lengths, not on where the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::ct_eq;

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(ct_eq(b"token", b"token"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"token", b"tokex"));
        assert!(!ct_eq(b"token", b"token2"));
        assert!(!ct_eq(b"token", b""));
        assert!(!ct_eq(b"", b"\xff"));
    }
}
