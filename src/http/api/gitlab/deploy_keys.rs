//! Deploy keys: `GET/POST /projects/:id/deploy_keys`, `GET/PUT/DELETE
//! /projects/:id/deploy_keys/:key_id`, `POST /projects/:id/deploy_keys/:key_id/enable`
//! (Maintainers), and `GET /deploy_keys` (administrators, with the projects each key writes to
//! and reads). The rules are `service::ssh_keys`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::keys::KeyBody;
use super::openapi::Pagination;
use super::pagination::page_request;
use super::params::{lenient, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::http::auth::{CurrentUser, MaybeUser};
use crate::model::access::Caller;
use crate::model::entities::{Project, User};
use crate::service::ssh_keys as svc;

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(enable))
        .routes(routes!(list_all))
}

/// The segments of `/projects/:id/deploy_keys/:key_id`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segments as strings
struct ProjectKeyId {
    /// The ID or URL-encoded path of the project.
    id: String,
    /// The deploy key's id.
    key_id: i64,
}

/// The `:id` segment of `/projects/:id/deploy_keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct ProjectId {
    /// The ID or URL-encoded path of the project.
    id: String,
}

/// A deploy key to add: a key's fields and whether it may push.
#[derive(Debug, Deserialize, ToSchema)]
struct DeployKeyBody {
    /// The key's title (required, at most 255 characters).
    #[serde(deserialize_with = "lenient::required_string")]
    title: String,
    /// The public key line (required): RSA of at least 2048 bits, ECDSA, Ed25519, or a FIDO
    /// `sk-` key; DSA is refused.
    #[serde(deserialize_with = "lenient::required_string")]
    key: String,
    /// Whether the key may push to the project (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    can_push: Option<bool>,
    /// When the key stops working: an ISO 8601 date or date and time, in the future.
    #[serde(default, deserialize_with = "lenient::string")]
    expires_at: Option<String>,
}

/// A change of a deploy key: at least one of the two.
#[derive(Debug, Deserialize, ToSchema)]
struct DeployKeyChange {
    /// The new title (ignored when other projects share the key, unless the caller is an
    /// administrator).
    #[serde(default, deserialize_with = "lenient::string")]
    title: Option<String>,
    /// Whether the key may push to this project.
    #[serde(default, deserialize_with = "lenient::bool")]
    can_push: Option<bool>,
}

/// The project `:id` names and the caller in it, for a signed-in caller (401 otherwise).
async fn project_of(
    state: &AppState,
    id: &str,
    user: Option<User>,
) -> Result<(Project, Caller), ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    find_project(state, id, Some(&user)).await
}

/// A numeric key id from the path: anything else names no key.
fn key_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::RecordNotFound)
}

/// List the deploy keys enabled in a project (Maintainers).
#[utoipa::path(get, path = "/projects/{id}/deploy_keys", tag = "deploy_keys",
    params(ProjectId, Pagination),
    responses((status = 200, description = "The keys, paginated", body = Vec<views::ProjectDeployKeyEntity>)))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, caller) = project_of(&state, &id, user).await?;
    let page = page_request(&params)?;
    let links = svc::project_deploy_keys(&state, &project, caller).await?;
    Ok(state.page_of_list(&uri, page, &links, views::project_deploy_key))
}

/// Add a deploy key to a project, or enable an existing one the caller reaches (Maintainers).
#[utoipa::path(post, path = "/projects/{id}/deploy_keys", tag = "deploy_keys",
    params(ProjectId),
    request_body(content = DeployKeyBody, description = "The key, its title, `can_push` and expiry"),
    responses((status = 201, description = "The key as enabled in the project", body = views::ProjectDeployKeyEntity)))]
async fn create(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, caller) = project_of(&state, &id, user).await?;
    if !caller.can_admin_project() {
        return Err(ApiError::Forbidden);
    }
    let body: DeployKeyBody = params.parse()?;
    let can_push = body.can_push.unwrap_or(false);
    let input = KeyBody {
        title: body.title,
        key: body.key,
        expires_at: body.expires_at,
        // GitLab's deploy keys take no usage: they authenticate.
        usage_type: None,
    }
    .input()?;
    let link = svc::add_deploy_key(&state, &project, caller, &input, can_push).await?;
    Ok((StatusCode::CREATED, Json(views::project_deploy_key(&link))).into_response())
}

/// Get a deploy key enabled in a project (Maintainers).
#[utoipa::path(get, path = "/projects/{id}/deploy_keys/{key_id}", tag = "deploy_keys",
    params(ProjectKeyId),
    responses((status = 200, description = "The key as enabled in the project", body = views::ProjectDeployKeyEntity)))]
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<views::ProjectDeployKeyEntity>, ApiError> {
    let (project, caller) = project_of(&state, &id, user).await?;
    let link = svc::project_deploy_key(&state, &project, caller, key_id(&key)?).await?;
    Ok(Json(views::project_deploy_key(&link)))
}

/// Change a deploy key's title or whether it may push to this project (Maintainers).
#[utoipa::path(put, path = "/projects/{id}/deploy_keys/{key_id}", tag = "deploy_keys",
    params(ProjectKeyId),
    request_body(content = DeployKeyChange, description = "At least one of `title` and `can_push`"),
    responses((status = 200, description = "The key as enabled in the project", body = views::ProjectDeployKeyEntity)))]
async fn update(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, key)): Path<(String, String)>,
    params: Params,
) -> Result<Json<views::ProjectDeployKeyEntity>, ApiError> {
    let (project, caller) = project_of(&state, &id, user).await?;
    if !caller.can_admin_project() {
        return Err(ApiError::Forbidden);
    }
    let change: DeployKeyChange = params.parse()?;
    if change.title.is_none() && change.can_push.is_none() {
        return Err(ApiError::Param(
            "title, can_push are missing, at least one parameter must be provided".into(),
        ));
    }
    let link = svc::update_deploy_key(
        &state,
        &project,
        caller,
        key_id(&key)?,
        change.title.as_deref(),
        change.can_push,
    )
    .await?;
    Ok(Json(views::project_deploy_key(&link)))
}

/// Disable a deploy key in a project; a key no project uses any more is deleted (Maintainers).
#[utoipa::path(delete, path = "/projects/{id}/deploy_keys/{key_id}", tag = "deploy_keys",
    params(ProjectKeyId),
    responses((status = 204, description = "Disabled")))]
async fn remove(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (project, caller) = project_of(&state, &id, user).await?;
    let key = key.parse().map_err(|_| ApiError::NotFound("Deploy Key"))?;
    svc::disable_deploy_key(&state, &project, caller, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable in this project a deploy key the caller reaches elsewhere (Maintainers).
#[utoipa::path(post, path = "/projects/{id}/deploy_keys/{key_id}/enable", tag = "deploy_keys",
    params(ProjectKeyId),
    responses((status = 201, description = "The key", body = views::SshKeyEntity)))]
async fn enable(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (project, caller) = project_of(&state, &id, user).await?;
    let key = key.parse().map_err(|_| ApiError::NotFound("Deploy Key"))?;
    let key = svc::enable_deploy_key(&state, &project, caller, key).await?;
    Ok((StatusCode::CREATED, Json(views::ssh_key(&key))).into_response())
}

/// List every deploy key with the projects it writes to and reads (administrators only).
#[utoipa::path(get, path = "/deploy_keys", tag = "deploy_keys",
    params(Pagination),
    responses((status = 200, description = "The keys, paginated", body = Vec<views::DeployKeyWithProjectsEntity>)))]
async fn list_all(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let all = svc::all_deploy_keys(&state, &caller).await?;
    let total = all.len() as i64;
    let start = usize::try_from(page.offset().min(total)).unwrap_or(usize::MAX);
    let shown = usize::try_from(page.per_page).unwrap_or(usize::MAX);
    let mut rendered = Vec::new();
    // Only the page's keys have their projects read.
    for (key, uses) in all.iter().skip(start).take(shown) {
        let mut projects = Vec::with_capacity(uses.len());
        for (project_id, can_push) in uses {
            if let Some(p) = state.store.project_by_id(*project_id).await? {
                projects.push((p, *can_push));
            }
        }
        rendered.push(views::deploy_key_with_projects(
            key,
            &projects,
            views::Urls::of(&state),
        ));
    }
    Ok(state.page_response(&uri, page, total, rendered))
}
