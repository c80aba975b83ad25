//! Personal access tokens: `POST /users/:id/personal_access_tokens` (admins),
//! `GET /personal_access_tokens[/:id|/self]`, `POST …/:id/rotate` (and `self/rotate`),
//! `DELETE …/:id` (and `self`). The rules are `service::auth`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::choices;
use super::error::ApiError;
use super::openapi::Pagination;
use super::pagination::page_request;
use super::params::{lenient, not_valid_value, Params};
use super::AppState;
use crate::http::auth::{CurrentAuth, CurrentUser};
use crate::model::time::iso8601_millis;
use crate::model::tokens::{AccessToken, Scope};
use crate::service::auth::{self as svc, Authenticated, IssuedToken};
use secrecy::ExposeSecret;

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(list))
        .routes(routes!(show, revoke))
        .routes(routes!(rotate))
}

/// The `:id` segment of `/users/:id/personal_access_tokens`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: the handler takes the segment as a string
struct UserId {
    /// The id of the user the token is for.
    id: i64,
}

/// The `:id` segment of `/personal_access_tokens/:id`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct TokenId {
    /// The token's id, or `self` for the token the request is made with.
    id: String,
}

/// GitLab's personal access token entity.
#[derive(Debug, Serialize, ToSchema)]
struct PersonalAccessTokenEntity {
    /// The token's id.
    id: i64,
    /// The token's name.
    name: String,
    /// Whether the token was revoked (or replaced by rotating it).
    revoked: bool,
    /// When the token was made (ISO 8601, UTC, milliseconds).
    created_at: Option<String>,
    /// Always null: tokens have no description here.
    description: Option<String>,
    /// What the token may do: `api`, `read_api`, `read_user`, `read_repository`,
    /// `write_repository`.
    scopes: Vec<&'static str>,
    /// The id of the user the token acts as.
    user_id: i64,
    /// When the token was last used (ISO 8601, UTC, milliseconds); null if never.
    last_used_at: Option<String>,
    /// Whether the token works today: neither revoked nor expired.
    active: bool,
    /// The last day (`YYYY-MM-DD`, UTC) the token works; null for never expiring.
    expires_at: Option<String>,
}

/// The token entity with the token itself, which is shown only right after creating or
/// rotating it.
#[derive(Debug, Serialize, ToSchema)]
struct PersonalAccessTokenWithToken {
    #[serde(flatten)]
    entity: PersonalAccessTokenEntity,
    /// The token, to send as `PRIVATE-TOKEN` or `Authorization: Bearer`; never shown again.
    token: String,
}

/// GitLab's token entity of `t`, as of `today`.
fn entity(t: &AccessToken, today: &str) -> PersonalAccessTokenEntity {
    PersonalAccessTokenEntity {
        id: t.id,
        name: t.name.clone(),
        revoked: t.revoked,
        created_at: iso8601_millis(t.created_at),
        description: None,
        scopes: t.scopes.iter().map(|s| s.as_str()).collect(),
        user_id: t.user_id,
        last_used_at: t.last_used_at.and_then(iso8601_millis),
        active: t.active_on(today),
        expires_at: t.expires_at.clone(),
    }
}

/// A token just made, with its secret.
fn issued(state: &AppState, i: &IssuedToken) -> PersonalAccessTokenWithToken {
    PersonalAccessTokenWithToken {
        entity: entity(&i.token, &svc::today(state)),
        token: i.secret.expose_secret().to_owned(),
    }
}

/// The token `:id` names: a number, or `self` (the caller's own).
fn token_id(auth: &Authenticated, id: &str) -> Result<i64, ApiError> {
    if id == "self" {
        return Ok(auth.token.id);
    }
    id.parse()
        .map_err(|_| ApiError::NotFound("Personal Access Token"))
}

/// A new token's parameters.
#[derive(Debug, Deserialize, ToSchema)]
struct TokenCreateBody {
    /// The token's name (required, not blank).
    #[serde(deserialize_with = "lenient::required_string")]
    name: String,
    /// What the token may do (required, at least one): `api`, `read_api`, `read_user`,
    /// `read_repository`, `write_repository`.
    #[serde(default, deserialize_with = "lenient::strings")]
    // Read as optional so that its absence gets Grape's `scopes is missing`.
    #[schema(value_type = Vec<choices::ScopeName>, inline, required = true)]
    scopes: Option<Vec<String>>,
    /// The last day (`YYYY-MM-DD`, today or later) the token works; none for never expiring.
    #[serde(default, deserialize_with = "lenient::string")]
    expires_at: Option<String>,
}

/// Create a personal access token for a user (administrators only).
#[utoipa::path(post, path = "/users/{id}/personal_access_tokens", tag = "tokens",
    params(UserId),
    request_body(content = TokenCreateBody, description = "The token's name, scopes and expiry"),
    responses((status = 201, description = "The token, with its secret", body = PersonalAccessTokenWithToken)))]
async fn create(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user_id: i64 = id.parse().map_err(|_| ApiError::NotFound("User"))?;
    let body: TokenCreateBody = params.parse()?;
    let scopes = body
        .scopes
        .ok_or_else(|| ApiError::Param("scopes is missing".into()))?;
    let scopes = scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| not_valid_value("scopes")))
        .collect::<Result<Vec<_>, _>>()?;
    let made = svc::create_token(
        &state,
        &caller,
        user_id,
        &body.name,
        &scopes,
        body.expires_at.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued(&state, &made))).into_response())
}

/// The filter of `GET /personal_access_tokens`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TokenListQuery {
    /// Only this user's tokens (administrators; everybody else sees only their own).
    #[serde(default, deserialize_with = "lenient::int")]
    user_id: Option<i64>,
}

/// List personal access tokens: the caller's own, or (administrators) everybody's.
#[utoipa::path(get, path = "/personal_access_tokens", tag = "tokens",
    params(TokenListQuery, Pagination),
    responses((status = 200, description = "The tokens, paginated", body = Vec<PersonalAccessTokenEntity>)))]
async fn list(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let query: TokenListQuery = params.parse()?;
    let tokens = svc::list_tokens(&state, &caller, query.user_id).await?;
    let today = svc::today(&state);
    Ok(state.page_of_list(&uri, page, &tokens, |t| entity(t, &today)))
}

/// Get a personal access token (one's own, or anyone's for administrators).
#[utoipa::path(get, path = "/personal_access_tokens/{id}", tag = "tokens",
    params(TokenId),
    responses((status = 200, description = "The token", body = PersonalAccessTokenEntity)))]
async fn show(
    State(state): State<AppState>,
    CurrentAuth(auth): CurrentAuth,
    Path(id): Path<String>,
) -> Result<Json<PersonalAccessTokenEntity>, ApiError> {
    let id = token_id(&auth, &id)?;
    let t = svc::find_token(&state, &auth.user, id).await?;
    Ok(Json(entity(&t, &svc::today(&state))))
}

/// A rotation's parameters.
#[derive(Debug, Deserialize, ToSchema)]
struct TokenRotateBody {
    /// The last day (`YYYY-MM-DD`, today or later) the new token works (default: a week from
    /// today).
    #[serde(default, deserialize_with = "lenient::string")]
    expires_at: Option<String>,
}

/// Replace a token by a new one with the same name and scopes; the old one stops working at once.
#[utoipa::path(post, path = "/personal_access_tokens/{id}/rotate", tag = "tokens",
    params(TokenId),
    request_body(content = TokenRotateBody, description = "The new token's expiry"),
    responses((status = 200, description = "The new token, with its secret", body = PersonalAccessTokenWithToken)))]
async fn rotate(
    State(state): State<AppState>,
    CurrentAuth(auth): CurrentAuth,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<PersonalAccessTokenWithToken>, ApiError> {
    let id = token_id(&auth, &id)?;
    let body: TokenRotateBody = params.parse()?;
    let made = svc::rotate_token(&state, &auth.user, id, body.expires_at.as_deref()).await?;
    Ok(Json(issued(&state, &made)))
}

/// Revoke a token (one's own, or anyone's for administrators); it stops working at once.
#[utoipa::path(delete, path = "/personal_access_tokens/{id}", tag = "tokens",
    params(TokenId),
    responses((status = 204, description = "Revoked")))]
async fn revoke(
    State(state): State<AppState>,
    CurrentAuth(auth): CurrentAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = token_id(&auth, &id)?;
    svc::revoke_token(&state, &auth.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
