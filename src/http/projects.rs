//! `/projects`: create, list, get, delete. Project lookup and the use cases are
//! `service::projects`; this module extracts parameters and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::{CurrentUser, MaybeUser};
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::{views, AppState};
use crate::model::access::{Caller, Visibility};
use crate::model::entities::{Project, User};
use crate::service::projects::{self, ProjectRequest};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{id}", get(show).delete(remove))
}

/// Resolves `:id` (numeric id or URL-encoded `namespace/path`) and the caller's standing in it,
/// as GitLab's errors: `404 Project Not Found`, or 401 for an anonymous caller of a hidden one.
pub(super) async fn find_project(
    state: &AppState,
    id: &str,
    user: Option<&User>,
) -> Result<(Project, Caller), ApiError> {
    Ok(projects::find_project(state, id, user).await?)
}

// POST /projects
async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: Params,
) -> Result<Response, ApiError> {
    let name = params.string("name")?.flatten();
    let path = params.string("path")?.flatten();
    if name.is_none() && path.is_none() {
        return Err(ApiError::Param(
            "name, path are missing, at least one parameter must be provided".into(),
        ));
    }
    let visibility = match params.string("visibility")?.flatten() {
        None => Visibility::Private,
        Some(v) => Visibility::parse(&v).ok_or_else(|| not_valid_value("visibility"))?,
    };
    let req = ProjectRequest {
        name,
        path,
        namespace: params.string("namespace_id")?.flatten(),
        description: params.string("description")?.flatten(),
        default_branch: params.string("default_branch")?.flatten(),
        visibility,
    };
    let (project, level) = projects::create_project(&state, &user, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::project(&project, level, &state.external_url)),
    )
        .into_response())
}

// GET /projects
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let paged = state
        .store
        .projects_for(user.id, user.is_admin, page)
        .await?;
    let mut items = Vec::with_capacity(paged.items.len());
    for p in &paged.items {
        let level = state.store.access_level(p.id, user.id).await?;
        items.push(views::project(p, level, &state.external_url));
    }
    Ok(state.page_response(&uri, page, paged.total, items))
}

// GET /projects/:id
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    Ok(Json(views::project(
        &project,
        caller.level,
        &state.external_url,
    )))
}

// DELETE /projects/:id
async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    projects::delete_project(&state, &project, caller).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "202 Accepted"})),
    )
        .into_response())
}
