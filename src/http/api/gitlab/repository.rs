//! `/projects/:id/repository`: branches (list, get, create, delete), tags (list, get, create,
//! delete) and one commit. The rules are `service::repository`; names arrive URL-encoded.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::openapi::{Pagination, ProjectId};
use super::pagination::page_request;
use super::params::{lenient, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::http::auth::MaybeUser;
use crate::model::entities::Project;
use crate::service::repository as svc;

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(branches, create_branch))
        .routes(routes!(branch, delete_branch))
        .routes(routes!(tags, create_tag))
        .routes(routes!(tag, delete_tag))
        .routes(routes!(commit))
}

/// The `:branch` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct BranchName {
    /// The branch's name, URL-encoded (`feature%2Fx`).
    branch: String,
}

/// The `:tag` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct TagName {
    /// The tag's name, URL-encoded.
    tag: String,
}

/// The `:sha` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: the handler takes the segment as a string
struct CommitRef {
    /// A commit SHA, or a branch or tag name (URL-encoded) naming one.
    sha: String,
}

/// A list's filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RefSearch {
    /// Only the names containing this text, ignoring case.
    #[serde(default, deserialize_with = "lenient::string")]
    search: Option<String>,
}

/// A new branch.
#[derive(Debug, Deserialize, ToSchema)]
struct NewBranch {
    /// The branch's name.
    #[serde(deserialize_with = "lenient::required_string")]
    branch: String,
    /// The commit SHA, branch or tag name to start it at.
    #[serde(rename = "ref", deserialize_with = "lenient::required_string")]
    rev: String,
}

/// A new tag.
#[derive(Debug, Deserialize, ToSchema)]
struct NewTag {
    /// The tag's name.
    #[serde(deserialize_with = "lenient::required_string")]
    tag_name: String,
    /// The commit SHA, branch or tag name to tag.
    #[serde(rename = "ref", deserialize_with = "lenient::required_string")]
    rev: String,
    /// A message, which makes it an annotated tag (default: a lightweight tag).
    #[serde(default, deserialize_with = "lenient::string")]
    message: Option<String>,
}

fn web_url(state: &AppState, project: &Project) -> String {
    format!("{}/{}", state.external_url, project.full_path())
}

/// List a project's branches, by name.
#[utoipa::path(get, path = "/projects/{id}/repository/branches", tag = "repository",
    params(ProjectId, RefSearch, Pagination),
    responses((status = 200, description = "The branches, paginated", body = Vec<views::BranchEntity>)))]
async fn branches(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let query: RefSearch = params.parse()?;
    let page = page_request(&params)?;
    let list = svc::branches(&state, &project, caller, query.search.as_deref()).await?;
    let url = web_url(&state, &project);
    Ok(state.page_of_list(&uri, page, &list, |b| views::branch(b, &url)))
}

/// Get one branch.
#[utoipa::path(get, path = "/projects/{id}/repository/branches/{branch}", tag = "repository",
    params(ProjectId, BranchName),
    responses((status = 200, description = "The branch", body = views::BranchEntity)))]
async fn branch(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<views::BranchEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let b = svc::branch(&state, &project, caller, &name).await?;
    Ok(Json(views::branch(&b, &web_url(&state, &project))))
}

/// Create a branch (Developer or more), pushed like any other.
#[utoipa::path(post, path = "/projects/{id}/repository/branches", tag = "repository",
    params(ProjectId),
    request_body(content = NewBranch, description = "The branch and where it starts"),
    responses((status = 201, description = "The branch", body = views::BranchEntity)))]
async fn create_branch(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let new: NewBranch = params.parse()?;
    let b = svc::create_branch(&state, &project, caller, &new.branch, &new.rev).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::branch(&b, &web_url(&state, &project))),
    )
        .into_response())
}

/// Delete a branch (never the default branch; a protected one as its rule allows).
#[utoipa::path(delete, path = "/projects/{id}/repository/branches/{branch}", tag = "repository",
    params(ProjectId, BranchName),
    responses((status = 204, description = "Deleted")))]
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

/// List a project's tags, newest commit first.
#[utoipa::path(get, path = "/projects/{id}/repository/tags", tag = "repository",
    params(ProjectId, RefSearch, Pagination),
    responses((status = 200, description = "The tags, paginated", body = Vec<views::TagEntity>)))]
async fn tags(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let query: RefSearch = params.parse()?;
    let page = page_request(&params)?;
    let list = svc::tags(&state, &project, caller, query.search.as_deref()).await?;
    let url = web_url(&state, &project);
    // GitLab lists tags newest first by default (`order_by=updated`, `sort=desc`).
    let mut list = list;
    list.sort_by(|a, b| b.commit.committed_date.cmp(&a.commit.committed_date));
    Ok(state.page_of_list(&uri, page, &list, |t| views::tag(t, &url)))
}

/// Get one tag.
#[utoipa::path(get, path = "/projects/{id}/repository/tags/{tag}", tag = "repository",
    params(ProjectId, TagName),
    responses((status = 200, description = "The tag", body = views::TagEntity)))]
async fn tag(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<views::TagEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let t = svc::tag(&state, &project, caller, &name).await?;
    Ok(Json(views::tag(&t, &web_url(&state, &project))))
}

/// Create a tag (Developer or more), pushed like any other.
#[utoipa::path(post, path = "/projects/{id}/repository/tags", tag = "repository",
    params(ProjectId),
    request_body(content = NewTag, description = "The tag, what it names and its message"),
    responses((status = 201, description = "The tag", body = views::TagEntity)))]
async fn create_tag(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let new: NewTag = params.parse()?;
    let t = svc::create_tag(
        &state,
        &project,
        caller,
        &user,
        &new.tag_name,
        &new.rev,
        new.message.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(views::tag(&t, &web_url(&state, &project))),
    )
        .into_response())
}

/// Delete a tag.
#[utoipa::path(delete, path = "/projects/{id}/repository/tags/{tag}", tag = "repository",
    params(ProjectId, TagName),
    responses((status = 204, description = "Deleted")))]
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

/// Get one commit.
#[utoipa::path(get, path = "/projects/{id}/repository/commits/{sha}", tag = "repository",
    params(ProjectId, CommitRef),
    responses((status = 200, description = "The commit", body = views::CommitEntity)))]
async fn commit(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, sha)): Path<(String, String)>,
) -> Result<Json<views::CommitEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let c = svc::commit(&state, &project, caller, &sha).await?;
    Ok(Json(views::commit(&c, &web_url(&state, &project))))
}
