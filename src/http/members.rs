//! `/projects/:id/members`: list, show, add, remove, with GitLab's access levels.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::CurrentUser;
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::model::access::AccessLevel;
use crate::model::entities::Member;
use crate::service::members;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/members", get(list).post(add))
        .route(
            "/projects/{id}/members/{user_id}",
            get(show).put(update).delete(remove),
        )
}

// GET /projects/:id/members
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, _) = find_project(&state, &id, Some(&user)).await?;
    let page = page_request(&params)?;
    let paged = state.store.members(project.id, page).await?;
    let items: Vec<_> = paged
        .items
        .iter()
        .map(|m| views::member(m, &state.external_url))
        .collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

/// One member of a project by the `:user_id` path segment; anything else is `404 Not found`.
async fn find_member(state: &AppState, project_id: i64, user_id: &str) -> Result<Member, ApiError> {
    let uid = user_id
        .parse::<i64>()
        .map_err(|_| ApiError::RecordNotFound)?;
    Ok(members::find_member(state, project_id, uid).await?)
}

// GET /projects/:id/members/:user_id
async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (project, _) = find_project(&state, &id, Some(&user)).await?;
    let member = find_member(&state, project.id, &user_id).await?;
    Ok(Json(views::member(&member, &state.external_url)))
}

// POST /projects/:id/members
async fn add(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let target = params.required_string("user_id")?;
    let level = params
        .int("access_level")?
        .ok_or_else(|| ApiError::Param("access_level is missing".into()))?;
    let level = AccessLevel::from_i64(level).ok_or_else(|| not_valid_value("access_level"))?;
    let member = members::add_member(&state, &project, caller, &target, level).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::member(&member, &state.external_url)),
    )
        .into_response())
}

// PUT /projects/:id/members/:user_id
async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, user_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let level = params
        .int("access_level")?
        .ok_or_else(|| ApiError::Param("access_level is missing".into()))?;
    let level = AccessLevel::from_i64(level).ok_or_else(|| not_valid_value("access_level"))?;
    let member = find_member(&state, project.id, &user_id).await?;
    let updated = members::update_member(&state, &project, caller, &member, level).await?;
    Ok(Json(views::member(&updated, &state.external_url)))
}

// DELETE /projects/:id/members/:user_id
async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let member = find_member(&state, project.id, &user_id).await?;
    members::remove_member(&state, &project, caller, &user, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}
