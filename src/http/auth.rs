//! Who is calling: the token from `PRIVATE-TOKEN`, `Authorization: Bearer`, or the
//! `private_token`/`access_token` query parameters, looked up by its hash. A token that is sent but
//! unknown is a 401 even where anonymous access would do, as in GitLab. The token's scopes must
//! allow the request: reads need `read_api` (or `api`; `GET /user` also takes `read_user`),
//! everything else `api`; otherwise 403 `insufficient_scope`. The Gitea face finds its token
//! its own ways (`api::gitea::auth`) and checks it here too ([`check_token`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::api::gitlab::error::ApiError;
use super::AppState;
use crate::model::entities::User;
use crate::model::tokens::{allows, required_scope, Use};
use crate::service::auth::Authenticated;
use crate::service::error::ServiceError;

/// The caller, if any (anonymous callers may read public projects).
pub(super) struct MaybeUser(pub Option<User>);

/// A caller that must be authenticated.
pub(super) struct CurrentUser(pub User);

/// A caller that must be authenticated, with the token they came with.
pub(super) struct CurrentAuth(pub Authenticated);

/// Extracts the token a request carries, if any.
pub(in crate::http) fn request_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get("private-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.trim().to_owned());
    }
    if let Some(v) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim().to_owned());
        }
    }
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "private_token" || k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// What an API request wants to do, for the scope check.
pub(in crate::http) fn api_use(parts: &Parts) -> Use {
    let read = matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if read && parts.uri.path().trim_end_matches('/') == "/api/v4/user" {
        Use::ReadUser
    } else if read {
        Use::ReadApi
    } else {
        Use::WriteApi
    }
}

/// Why a token that was sent does not authenticate a request; each face words it.
pub(in crate::http) enum TokenRefused {
    /// Unknown, revoked or expired.
    Unknown,
    /// Its scopes do not allow the request: the scope it would need.
    Scope(&'static str),
    /// Looking it up failed.
    Failed(ServiceError),
}

/// The holder of `token`, when the token is valid and its scopes allow `use_`: the one check
/// of a personal access token, whichever face and header it came with.
pub(in crate::http) async fn check_token(
    state: &AppState,
    token: &str,
    use_: Use,
) -> Result<Authenticated, TokenRefused> {
    let auth = crate::service::auth::authenticate(state, token)
        .await
        .map_err(TokenRefused::Failed)?
        .ok_or(TokenRefused::Unknown)?;
    if !allows(&auth.token.scopes, use_) {
        return Err(TokenRefused::Scope(required_scope(use_).as_str()));
    }
    Ok(auth)
}

/// The authenticated caller, if any token was sent: 401 for an unknown, revoked or expired
/// token, 403 when its scopes do not allow the request.
async fn authenticated(parts: &Parts, state: &AppState) -> Result<Option<Authenticated>, ApiError> {
    let Some(token) = request_token(parts) else {
        return Ok(None);
    };
    match check_token(state, &token, api_use(parts)).await {
        Ok(auth) => Ok(Some(auth)),
        Err(TokenRefused::Unknown) => Err(ApiError::Unauthorized),
        Err(TokenRefused::Scope(scope)) => Err(ApiError::InsufficientScope(scope)),
        Err(TokenRefused::Failed(e)) => Err(e.into()),
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeUser(
            authenticated(parts, state).await?.map(|a| a.user),
        ))
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticated(parts, state).await? {
            Some(a) => Ok(CurrentUser(a.user)),
            None => Err(ApiError::Unauthorized),
        }
    }
}

impl FromRequestParts<AppState> for CurrentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticated(parts, state).await? {
            Some(a) => Ok(CurrentAuth(a)),
            None => Err(ApiError::Unauthorized),
        }
    }
}
