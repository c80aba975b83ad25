//! `GET /user`, `GET /users`, `GET /users/:id`, `GET /version`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::error::ApiError;
use super::params::Params;
use super::{views, AppState};

/// The GitLab API version pushmirror answers as: the newest one whose remote-mirror API it matches.
pub(super) const GITLAB_API_VERSION: &str = "18.6.0";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/user", get(current_user))
        .route("/users", get(list_users))
        .route("/users/{id}", get(show_user))
        .route("/version", get(version))
}

// GET /user
async fn current_user(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Json<Value> {
    Json(views::user_full(&user, &state.external_url))
}

// GET /users?username=
async fn list_users(
    State(state): State<AppState>,
    CurrentUser(_): CurrentUser,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let username = params.string("username")?.flatten();
    let users = state.store.users(username.as_deref()).await?;
    Ok(Json(Value::Array(
        users
            .iter()
            .map(|u| views::user_basic(u, &state.external_url))
            .collect(),
    )))
}

// GET /users/:id
async fn show_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = match id.parse::<i64>() {
        Ok(n) => state.store.user_by_id(n).await?,
        Err(_) => None,
    }
    .ok_or(ApiError::NotFound("User"))?;
    // Admins and the user themselves see the full entity, as in GitLab.
    Ok(Json(if caller.is_admin || caller.id == user.id {
        views::user_full(&user, &state.external_url)
    } else {
        views::user_basic(&user, &state.external_url)
    }))
}

// GET /version
async fn version(CurrentUser(_): CurrentUser) -> Json<Value> {
    Json(json!({
        "version": GITLAB_API_VERSION,
        "revision": concat!("pushmirror-", env!("CARGO_PKG_VERSION")),
        "kas": {"enabled": false, "externalUrl": null, "version": null},
        "enterprise": true,
    }))
}
