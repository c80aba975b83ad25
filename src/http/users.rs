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
pub(super) const GITLAB_API_VERSION: &str = crate::model::GITLAB_VERSION;

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

// GET /users?username=&search=&admins=
async fn list_users(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    params: Params,
) -> Result<axum::response::Response, ApiError> {
    let page = super::pagination::page_request(&params)?;
    let username = params.string("username")?.flatten();
    let search = params.string("search")?.flatten().map(|s| s.to_lowercase());
    let admins = params.bool("admins")?.flatten().unwrap_or(false);
    let mut users = state.store.users(username.as_deref()).await?;
    if let Some(s) = &search {
        users
            .retain(|u| u.username.to_lowercase().contains(s) || u.name.to_lowercase().contains(s));
    }
    if admins {
        // Only admins may list admins, as in GitLab.
        if !caller.is_admin {
            return Err(ApiError::Forbidden);
        }
        users.retain(|u| u.is_admin);
    }
    let total = users.len() as i64;
    let start = usize::try_from(page.offset().min(total)).unwrap_or(usize::MAX);
    let items: Vec<Value> = users
        .iter()
        .skip(start)
        .take(page.per_page as usize)
        .map(|u| views::user_basic(u, &state.external_url))
        .collect();
    Ok(state.page_response(&uri, page, total, items))
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
