//! `/projects/:id/protected_branches`: list, show, protect, unprotect. Names may be wildcards
//! (`release-*`) and arrive URL-encoded.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::MaybeUser;
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::service::protected_branches::{self, Protection, DEFAULT_LEVEL, LEVELS};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/protected_branches", get(list).post(create))
        .route(
            "/projects/{id}/protected_branches/{name}",
            get(show).delete(remove),
        )
}

async fn readable(
    state: &AppState,
    id: &str,
    user: Option<&crate::model::entities::User>,
) -> Result<(Project, Caller), ApiError> {
    let (project, caller) = find_project(state, id, user).await?;
    if !caller.can_read_code(project.visibility) {
        return Err(ApiError::Forbidden);
    }
    Ok((project, caller))
}

// GET /projects/:id/protected_branches
async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, _) = readable(&state, &id, user.as_ref()).await?;
    let page = page_request(&params)?;
    let search = params.string("search")?.flatten();
    let paged = state
        .store
        .protected_branches(project.id, search.as_deref(), page)
        .await?;
    let items: Vec<_> = paged.items.iter().map(views::protected_branch).collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

// GET /projects/:id/protected_branches/:name
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (project, _) = readable(&state, &id, user.as_ref()).await?;
    let branch = state
        .store
        .protected_branch(project.id, &name)
        .await?
        .ok_or(ApiError::RecordNotFound)?;
    Ok(Json(views::protected_branch(&branch)))
}

fn level_param(params: &Params, key: &str) -> Result<i64, ApiError> {
    match params.int(key)? {
        None => Ok(DEFAULT_LEVEL),
        Some(l) if LEVELS.contains(&l) => Ok(l),
        Some(_) => Err(not_valid_value(key)),
    }
}

// POST /projects/:id/protected_branches
async fn create(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    if !caller.can_admin_project() {
        return Err(ApiError::Forbidden);
    }
    let protection = Protection {
        name: params.required_string("name")?,
        push_access_level: level_param(&params, "push_access_level")?,
        merge_access_level: level_param(&params, "merge_access_level")?,
        allow_force_push: params.bool("allow_force_push")?.flatten().unwrap_or(false),
    };
    let branch = protected_branches::protect(&state, &project, caller, protection).await?;
    Ok((StatusCode::CREATED, Json(views::protected_branch(&branch))).into_response())
}

// DELETE /projects/:id/protected_branches/:name
async fn remove(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    protected_branches::unprotect(&state, &project, caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
