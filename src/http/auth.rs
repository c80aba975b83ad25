//! Who is calling: the token from `PRIVATE-TOKEN`, `Authorization: Bearer`, or the
//! `private_token`/`access_token` query parameters, looked up by its hash. A token that is sent but
//! unknown is a 401 even where anonymous access would do, as in GitLab.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::model::entities::User;

/// The caller, if any (anonymous callers may read public projects).
pub(super) struct MaybeUser(pub Option<User>);

/// A caller that must be authenticated.
pub(super) struct CurrentUser(pub User);

/// Extracts the token a request carries, if any.
pub(super) fn request_token(parts: &Parts) -> Option<String> {
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

/// Resolves a token to its user.
pub(super) async fn user_for_token(
    state: &AppState,
    token: &str,
) -> Result<Option<User>, ApiError> {
    Ok(crate::service::auth::user_for_token(state, token).await?)
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match request_token(parts) {
            None => Ok(MaybeUser(None)),
            Some(t) => match user_for_token(state, &t).await? {
                Some(u) => Ok(MaybeUser(Some(u))),
                None => Err(ApiError::Unauthorized),
            },
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match MaybeUser::from_request_parts(parts, state).await? {
            MaybeUser(Some(u)) => Ok(CurrentUser(u)),
            MaybeUser(None) => Err(ApiError::Unauthorized),
        }
    }
}
