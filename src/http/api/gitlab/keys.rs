//! Users' SSH keys: `GET/POST /user/keys`, `GET/DELETE /user/keys/:key_id`,
//! `GET /users/:id_or_username/keys[/:key_id]` (public, as in GitLab), `POST /users/:id/keys`
//! and `DELETE /users/:id/keys/:key_id` (administrators), and administrators' look-ups
//! `GET /keys/:id` and `GET /keys?fingerprint=`. The rules are `service::ssh_keys`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::choices;
use super::error::ApiError;
use super::openapi::Pagination;
use super::pagination::page_request;
use super::params::{invalid, lenient, not_valid_value, Params};
use super::{views, AppState};
use crate::http::auth::CurrentUser;
use crate::model::ssh_keys::UsageType;
use crate::service::ssh_keys::{self as svc, KeyInput};

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_own, add_own))
        .routes(routes!(show_own, delete_own))
        .routes(routes!(list_for_user, add_for_user))
        .routes(routes!(show_for_user, delete_for_user))
        .routes(routes!(find_by_fingerprint))
        .routes(routes!(find_by_id))
}

/// The `:key_id` segment of `/user/keys/:key_id`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct KeyId {
    /// The key's id.
    key_id: i64,
}

/// The segments of `/users/:id/keys/:key_id`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segments as strings
struct UserKeyId {
    /// The user's id, or (reading) their username.
    id: String,
    /// The key's id.
    key_id: i64,
}

/// The `:id` segment of `/users/:id/keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct UserId {
    /// The user's id, or (reading) their username.
    id: String,
}

/// The `:id` segment of `/keys/:id`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: the handler takes the segment as a string
struct AnyKeyId {
    /// The key's id (a user's key or a deploy key).
    id: i64,
}

/// A key to add.
#[derive(Debug, Deserialize, ToSchema)]
pub(in crate::http) struct KeyBody {
    /// The key's title (required, at most 255 characters).
    #[serde(deserialize_with = "lenient::required_string")]
    pub title: String,
    /// The public key line (required): RSA of at least 2048 bits, ECDSA, Ed25519, or a FIDO
    /// `sk-` key; DSA is refused.
    #[serde(deserialize_with = "lenient::required_string")]
    pub key: String,
    /// When the key stops working: an ISO 8601 date or date and time, in the future.
    #[serde(default, deserialize_with = "lenient::string")]
    pub expires_at: Option<String>,
    /// What the key is for (default `auth_and_signing`); `signing` keys let no one in.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::UsageTypeName>, inline)]
    pub usage_type: Option<String>,
}

impl KeyBody {
    /// The service's input, `expires_at` and `usage_type` read as Grape would.
    pub(in crate::http) fn input(self) -> Result<KeyInput, ApiError> {
        let expires_at = match self.expires_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(at) => Some(svc::parse_expires_at(at).ok_or_else(|| invalid("expires_at"))?),
        };
        let usage_type = match self.usage_type.as_deref() {
            None => UsageType::default(),
            Some(u) => UsageType::parse(u).ok_or_else(|| not_valid_value("usage_type"))?,
        };
        Ok(KeyInput {
            title: self.title,
            key: self.key,
            expires_at,
            usage_type,
        })
    }
}

/// A numeric id from the path: anything else names no key.
fn key_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound("Key"))
}

/// A numeric user id from the path.
fn user_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound("User"))
}

/// List the authenticated user's SSH keys.
#[utoipa::path(get, path = "/user/keys", tag = "keys",
    params(Pagination),
    responses((status = 200, description = "The keys, paginated", body = Vec<views::SshKeyEntity>)))]
async fn list_own(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let keys = svc::own_keys(&state, &caller).await?;
    Ok(state.page_of_list(&uri, page, &keys, views::ssh_key))
}

/// Add an SSH key to the authenticated user's.
#[utoipa::path(post, path = "/user/keys", tag = "keys",
    request_body(content = KeyBody, description = "The key, its title, expiry and usage"),
    responses((status = 201, description = "The key", body = views::SshKeyEntity)))]
async fn add_own(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    params: Params,
) -> Result<Response, ApiError> {
    let input = params.parse::<KeyBody>()?.input()?;
    let key = svc::add_own_key(&state, &caller, &input).await?;
    Ok((StatusCode::CREATED, Json(views::ssh_key(&key))).into_response())
}

/// Get one of the authenticated user's SSH keys.
#[utoipa::path(get, path = "/user/keys/{key_id}", tag = "keys",
    params(KeyId),
    responses((status = 200, description = "The key", body = views::SshKeyEntity)))]
async fn show_own(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<views::SshKeyEntity>, ApiError> {
    let key = svc::own_key(&state, &caller, key_id(&id)?).await?;
    Ok(Json(views::ssh_key(&key)))
}

/// Delete one of the authenticated user's SSH keys; it lets no one in from now on.
#[utoipa::path(delete, path = "/user/keys/{key_id}", tag = "keys",
    params(KeyId),
    responses((status = 204, description = "Deleted")))]
async fn delete_own(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    svc::delete_own_key(&state, &caller, key_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a user's SSH keys (no authentication needed, as in GitLab).
#[utoipa::path(get, path = "/users/{id}/keys", tag = "keys",
    params(UserId, Pagination),
    responses((status = 200, description = "The keys, paginated", body = Vec<views::SshKeyEntity>)))]
async fn list_for_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let keys = svc::user_keys(&state, &id).await?;
    Ok(state.page_of_list(&uri, page, &keys, views::ssh_key))
}

/// Add an SSH key to a user's (administrators only).
#[utoipa::path(post, path = "/users/{id}/keys", tag = "keys",
    params(UserId),
    request_body(content = KeyBody, description = "The key, its title, expiry and usage"),
    responses((status = 201, description = "The key", body = views::SshKeyEntity)))]
async fn add_for_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    if !caller.is_admin {
        return Err(ApiError::Forbidden);
    }
    let user = user_id(&id)?;
    let input = params.parse::<KeyBody>()?.input()?;
    let key = svc::add_key_for(&state, &caller, user, &input).await?;
    Ok((StatusCode::CREATED, Json(views::ssh_key(&key))).into_response())
}

/// Get one of a user's SSH keys (no authentication needed).
#[utoipa::path(get, path = "/users/{id}/keys/{key_id}", tag = "keys",
    params(UserKeyId),
    responses((status = 200, description = "The key", body = views::SshKeyEntity)))]
async fn show_for_user(
    State(state): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<views::SshKeyEntity>, ApiError> {
    let key = svc::user_key(&state, &id, key_id(&key)?).await?;
    Ok(Json(views::ssh_key(&key)))
}

/// Delete one of a user's SSH keys (administrators only).
#[utoipa::path(delete, path = "/users/{id}/keys/{key_id}", tag = "keys",
    params(UserKeyId),
    responses((status = 204, description = "Deleted")))]
async fn delete_for_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if !caller.is_admin {
        return Err(ApiError::Forbidden);
    }
    svc::delete_key_for(&state, &caller, user_id(&id)?, key_id(&key)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The look-up of `GET /keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FingerprintQuery {
    /// The key's fingerprint: `SHA256:…`, or MD5 (`aa:bb:…`, optionally `MD5:`-prefixed).
    #[serde(deserialize_with = "lenient::required_string")]
    fingerprint: String,
}

/// Find a key, a user's or a deploy key, by its fingerprint (administrators only).
#[utoipa::path(get, path = "/keys", tag = "keys",
    params(FingerprintQuery),
    responses((status = 200, description = "The key with its user", body = views::SshKeyWithUserEntity)))]
async fn find_by_fingerprint(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    params: Params,
) -> Result<Json<views::SshKeyWithUserEntity>, ApiError> {
    if !caller.is_admin {
        return Err(ApiError::Forbidden);
    }
    let query: FingerprintQuery = params.parse()?;
    let (key, user) = svc::key_by_fingerprint(&state, &caller, &query.fingerprint).await?;
    Ok(Json(views::ssh_key_with_user(
        &key,
        user.as_ref(),
        &state.external_url,
    )))
}

/// Get a key, a user's or a deploy key, by id, with its user (administrators only).
#[utoipa::path(get, path = "/keys/{id}", tag = "keys",
    params(AnyKeyId),
    responses((status = 200, description = "The key with its user", body = views::SshKeyWithUserEntity)))]
async fn find_by_id(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<views::SshKeyWithUserEntity>, ApiError> {
    if !caller.is_admin {
        return Err(ApiError::Forbidden);
    }
    let id: i64 = id.parse().map_err(|_| ApiError::RecordNotFound)?;
    let (key, user) = svc::key_by_id(&state, &caller, id).await?;
    Ok(Json(views::ssh_key_with_user(
        &key,
        user.as_ref(),
        &state.external_url,
    )))
}
