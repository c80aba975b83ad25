//! `/projects/:id/repository`: branches (list, get, create, delete), tags (list, get, create,
//! delete) and one commit. The rules are `service::repository`; names arrive URL-encoded.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::MaybeUser;
use super::error::ApiError;
use super::pagination::page_request;
use super::params::Params;
use super::projects::find_project;
use super::{views, AppState};
use crate::model::entities::Project;
use crate::service::repository as svc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{id}/repository/branches",
            get(branches).post(create_branch),
        )
        .route(
            "/projects/{id}/repository/branches/{branch}",
            get(branch).delete(delete_branch),
        )
        .route("/projects/{id}/repository/tags", get(tags).post(create_tag))
        .route(
            "/projects/{id}/repository/tags/{tag}",
            get(tag).delete(delete_tag),
        )
        .route("/projects/{id}/repository/commits/{sha}", get(commit))
}

fn web_url(state: &AppState, project: &Project) -> String {
    format!("{}/{}", state.external_url, project.full_path())
}

// GET /projects/:id/repository/branches
async fn branches(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let search = params.string("search")?.flatten();
    let page = page_request(&params)?;
    let list = svc::branches(&state, &project, caller, search.as_deref()).await?;
    let url = web_url(&state, &project);
    Ok(state.page_of_list(&uri, page, &list, |b| views::branch(b, &url)))
}

// GET /projects/:id/repository/branches/:branch
async fn branch(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let b = svc::branch(&state, &project, caller, &name).await?;
    Ok(Json(views::branch(&b, &web_url(&state, &project))))
}

// POST /projects/:id/repository/branches
async fn create_branch(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let name = params.required_string("branch")?;
    let rev = params.required_string("ref")?;
    let b = svc::create_branch(&state, &project, caller, &name, &rev).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::branch(&b, &web_url(&state, &project))),
    )
        .into_response())
}

// DELETE /projects/:id/repository/branches/:branch
async fn delete_branch(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    svc::delete_branch(&state, &project, caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// GET /projects/:id/repository/tags
async fn tags(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let search = params.string("search")?.flatten();
    let page = page_request(&params)?;
    let list = svc::tags(&state, &project, caller, search.as_deref()).await?;
    let url = web_url(&state, &project);
    // GitLab lists tags newest first by default (`order_by=updated`, `sort=desc`).
    let mut list = list;
    list.sort_by(|a, b| b.commit.committed_date.cmp(&a.commit.committed_date));
    Ok(state.page_of_list(&uri, page, &list, |t| views::tag(t, &url)))
}

// GET /projects/:id/repository/tags/:tag
async fn tag(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let t = svc::tag(&state, &project, caller, &name).await?;
    Ok(Json(views::tag(&t, &web_url(&state, &project))))
}

// POST /projects/:id/repository/tags
async fn create_tag(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let name = params.required_string("tag_name")?;
    let rev = params.required_string("ref")?;
    let message = params.string("message")?.flatten();
    let t = svc::create_tag(
        &state,
        &project,
        caller,
        &user,
        &name,
        &rev,
        message.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(views::tag(&t, &web_url(&state, &project))),
    )
        .into_response())
}

// DELETE /projects/:id/repository/tags/:tag
async fn delete_tag(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    svc::delete_tag(&state, &project, caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// GET /projects/:id/repository/commits/:sha
async fn commit(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, sha)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let c = svc::commit(&state, &project, caller, &sha).await?;
    Ok(Json(views::commit(&c, &web_url(&state, &project))))
}
