//! Personal access tokens: `POST /users/:id/personal_access_tokens` (admins),
//! `GET /personal_access_tokens[/:id|/self]`, `POST …/:id/rotate` (and `self/rotate`),
//! `DELETE …/:id` (and `self`). The rules are `service::auth`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::{CurrentAuth, CurrentUser};
use super::error::ApiError;
use super::params::{not_valid_value, Params};
use super::{views, AppState};
use crate::model::tokens::{AccessToken, Scope};
use crate::service::auth::{self as svc, Authenticated, IssuedToken};
use secrecy::ExposeSecret;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{id}/personal_access_tokens", post(create))
        .route("/personal_access_tokens", get(list))
        .route("/personal_access_tokens/{id}", get(show).delete(revoke))
        .route("/personal_access_tokens/{id}/rotate", post(rotate))
}

/// GitLab's token entity; `secret` only right after creating or rotating.
fn entity(t: &AccessToken, today: &str, secret: Option<&str>) -> Value {
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "revoked": t.revoked,
        "created_at": views::time(t.created_at),
        "description": null,
        "scopes": t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "user_id": t.user_id,
        "last_used_at": t.last_used_at.map(views::time),
        "active": t.active_on(today),
        "expires_at": t.expires_at,
    });
    if let Some(s) = secret {
        v["token"] = json!(s);
    }
    v
}

fn issued(state: &AppState, i: &IssuedToken) -> Value {
    entity(&i.token, &svc::today(state), Some(i.secret.expose_secret()))
}

/// The token `:id` names: a number, or `self` (the caller's own).
fn token_id(auth: &Authenticated, id: &str) -> Result<i64, ApiError> {
    if id == "self" {
        return Ok(auth.token.id);
    }
    id.parse()
        .map_err(|_| ApiError::NotFound("Personal Access Token"))
}

// POST /users/:id/personal_access_tokens
async fn create(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user_id: i64 = id.parse().map_err(|_| ApiError::NotFound("User"))?;
    let name = params.required_string("name")?;
    let scopes = params
        .string_array("scopes")?
        .ok_or_else(|| ApiError::Param("scopes is missing".into()))?;
    let scopes = scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| not_valid_value("scopes")))
        .collect::<Result<Vec<_>, _>>()?;
    let expires_at = params.string("expires_at")?.flatten();
    let made = svc::create_token(
        &state,
        &caller,
        user_id,
        &name,
        &scopes,
        expires_at.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued(&state, &made))).into_response())
}

// GET /personal_access_tokens
async fn list(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = super::pagination::page_request(&params)?;
    let user_id = params.int("user_id")?;
    let tokens = svc::list_tokens(&state, &caller, user_id).await?;
    let today = svc::today(&state);
    Ok(state.page_of_list(&uri, page, &tokens, |t| entity(t, &today, None)))
}

// GET /personal_access_tokens/:id (or self)
async fn show(
    State(state): State<AppState>,
    CurrentAuth(auth): CurrentAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = token_id(&auth, &id)?;
    let t = svc::find_token(&state, &auth.user, id).await?;
    Ok(Json(entity(&t, &svc::today(&state), None)))
}

// POST /personal_access_tokens/:id/rotate (or self/rotate)
async fn rotate(
    State(state): State<AppState>,
    CurrentAuth(auth): CurrentAuth,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let id = token_id(&auth, &id)?;
    let expires_at = params.string("expires_at")?.flatten();
    let made = svc::rotate_token(&state, &auth.user, id, expires_at.as_deref()).await?;
    Ok(Json(issued(&state, &made)))
}

// DELETE /personal_access_tokens/:id (or self)
async fn revoke(
    State(state): State<AppState>,
    CurrentAuth(auth): CurrentAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = token_id(&auth, &id)?;
    svc::revoke_token(&state, &auth.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
