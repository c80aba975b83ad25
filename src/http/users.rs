//! `GET /user`, `GET /users`, `GET /users/:id`, `GET /version`, and the admin calls: `POST
//! /users`, `PUT /users/:id`, `POST /users/:id/block` and `/unblock`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::model::accounts::{AccountChanges, UserState};
use crate::model::entities::User;
use crate::service::users as svc;
use crate::store::UserFilter;

use super::auth::CurrentUser;
use super::error::ApiError;
use super::params::Params;
use super::{views, AppState};

/// The GitLab API version pushmirror answers as: the newest one whose remote-mirror API it matches.
pub(super) const GITLAB_API_VERSION: &str = crate::model::GITLAB_VERSION;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/user", get(current_user))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(show_user).put(update_user))
        .route("/users/{id}/block", post(block_user))
        .route("/users/{id}/unblock", post(unblock_user))
        .route("/version", get(version))
        .route("/metadata", get(version))
}

// GET /user
async fn current_user(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Json<Value> {
    Json(views::user_full(&user, &state.external_url))
}

// GET /users?username=&search=&active=&blocked=&admins=
async fn list_users(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    params: Params,
) -> Result<axum::response::Response, ApiError> {
    let page = super::pagination::page_request(&params)?;
    let active = params.bool("active")?.flatten().unwrap_or(false);
    let blocked = params.bool("blocked")?.flatten().unwrap_or(false);
    let filter = UserFilter {
        username: params.string("username")?.flatten(),
        search: params.string("search")?.flatten().filter(|s| !s.is_empty()),
        state: match (active, blocked) {
            (true, false) => Some(UserState::Active),
            (false, true) => Some(UserState::Blocked),
            // Both at once match nobody in GitLab; neither matches everybody.
            (true, true) => {
                return Ok(state.page_of_list(&uri, page, &[] as &[User], |_| json!({})))
            }
            (false, false) => None,
        },
        admins: params.bool("admins")?.flatten().unwrap_or(false),
    };
    let users = svc::list(&state, &caller, filter).await?;
    // Administrators see the full entity (with e-mail addresses), as in GitLab.
    Ok(state.page_of_list(&uri, page, &users, |u| {
        if caller.is_admin {
            views::user_full(u, &state.external_url)
        } else {
            views::user_basic(u, &state.external_url)
        }
    }))
}

/// A user id from the path: anything but a number names no user.
fn user_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().map_err(|_| ApiError::NotFound("User"))
}

// GET /users/:id
async fn show_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = svc::find(&state, user_id(&id)?).await?;
    // Admins and the user themselves see the full entity, as in GitLab.
    Ok(Json(if caller.is_admin || caller.id == user.id {
        views::user_full(&user, &state.external_url)
    } else {
        views::user_basic(&user, &state.external_url)
    }))
}

/// The account fields a create or update request sets. `admin` is GitLab's name for the flag;
/// `is_admin` is accepted too.
fn account_changes(params: &Params) -> Result<AccountChanges, ApiError> {
    let admin = match params.bool("admin")? {
        Some(v) => v,
        None => params.bool("is_admin")?.flatten(),
    };
    Ok(AccountChanges {
        username: params.string("username")?.flatten(),
        name: params.string("name")?.flatten(),
        email: params.string("email")?.flatten(),
        password: params.string("password")?.flatten(),
        admin,
    })
}

// POST /users (admin)
async fn create_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    params: Params,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !caller.is_admin {
        return Err(ApiError::Forbidden);
    }
    let mut changes = account_changes(&params)?;
    // GitLab wants a password unless one of these says there is none to give.
    let no_password = params.bool("reset_password")?.flatten().unwrap_or(false)
        || params
            .bool("force_random_password")?
            .flatten()
            .unwrap_or(false);
    if changes.password.is_none() && !no_password {
        return Err(ApiError::Param(
            "password, reset_password, force_random_password are missing, at least one parameter must be provided"
                .into(),
        ));
    }
    if no_password {
        // No password anyone knows: the user works with tokens only.
        changes.password = None;
    }
    let user = svc::create(&state, &caller, changes).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::user_full(&user, &state.external_url)),
    ))
}

// PUT /users/:id (admin)
async fn update_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    if !caller.is_admin {
        return Err(ApiError::Forbidden);
    }
    let id = user_id(&id)?;
    let user = svc::update(&state, &caller, id, account_changes(&params)?).await?;
    Ok(Json(views::user_full(&user, &state.external_url)))
}

// POST /users/:id/block, /users/:id/unblock (admin): 201 `true`, as GitLab.
async fn block_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    svc::set_blocked(&state, &caller, user_id(&id)?, true).await?;
    Ok((StatusCode::CREATED, Json(json!(true))))
}

async fn unblock_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    svc::set_blocked(&state, &caller, user_id(&id)?, false).await?;
    Ok((StatusCode::CREATED, Json(json!(true))))
}

// GET /version, and GET /metadata (GitLab 15.2's name for it, which @gitbeaker's
// `Metadata.show()` calls): the same entity.
async fn version(CurrentUser(_): CurrentUser) -> Json<Value> {
    Json(json!({
        "version": GITLAB_API_VERSION,
        "revision": concat!("pushmirror-", env!("CARGO_PKG_VERSION")),
        "kas": {"enabled": false, "externalUrl": null, "version": null},
        "enterprise": true,
    }))
}
