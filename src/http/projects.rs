//! `/projects`: create, list (GitLab's filters), get, update, archive, unarchive, delete. Project lookup and the use cases are
//! `service::projects`; this module extracts parameters and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::{CurrentUser, MaybeUser};
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::{views, AppState};
use crate::model::access::{Caller, Visibility};
use crate::model::entities::{Project, User};
use crate::service::projects::{self, ProjectChanges, ProjectRequest};
use crate::store::{ProjectFilter, ProjectOrder};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{id}", get(show).put(update).delete(remove))
        .route("/projects/{id}/archive", post(archive))
        .route("/projects/{id}/unarchive", post(unarchive))
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

/// The keys of GitLab's `simple` project entity.
const SIMPLE_KEYS: &[&str] = &[
    "id",
    "description",
    "name",
    "name_with_namespace",
    "path",
    "path_with_namespace",
    "created_at",
    "default_branch",
    "tag_list",
    "topics",
    "ssh_url_to_repo",
    "http_url_to_repo",
    "web_url",
    "readme_url",
    "forks_count",
    "avatar_url",
    "star_count",
    "last_activity_at",
    "namespace",
];

/// GitLab's list filters from `params`.
fn list_filter(params: &Params) -> Result<ProjectFilter, ApiError> {
    let flag =
        |key: &str| -> Result<bool, ApiError> { Ok(params.bool(key)?.flatten().unwrap_or(false)) };
    let visibility = match params.string("visibility")?.flatten() {
        None => None,
        Some(v) => Some(Visibility::parse(&v).ok_or_else(|| not_valid_value("visibility"))?),
    };
    let order = match params.string("order_by")?.flatten() {
        None => ProjectOrder::default(),
        Some(o) => ProjectOrder::parse(&o).ok_or_else(|| not_valid_value("order_by"))?,
    };
    let ascending = match params.string("sort")?.flatten().as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(not_valid_value("sort")),
    };
    Ok(ProjectFilter {
        search: params.string("search")?.flatten(),
        owned: flag("owned")?,
        membership: flag("membership")?,
        visibility,
        archived: params.bool("archived")?.flatten(),
        order,
        ascending,
    })
}

// GET /projects
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let filter = list_filter(&params)?;
    let simple = params.bool("simple")?.flatten().unwrap_or(false);
    let paged = state
        .store
        .projects_for(user.id, user.is_admin, &filter, page)
        .await?;
    let mut items = Vec::with_capacity(paged.items.len());
    for p in &paged.items {
        let level = state.store.access_level(p.id, user.id).await?;
        let mut entity = views::project(p, level, &state.external_url);
        if simple {
            if let Some(obj) = entity.as_object_mut() {
                obj.retain(|k, _| SIMPLE_KEYS.contains(&k.as_str()));
            }
        }
        items.push(entity);
    }
    Ok(state.page_response(&uri, page, paged.total, items))
}

// PUT /projects/:id
async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let visibility = match params.string("visibility")?.flatten() {
        None => None,
        Some(v) => Some(Visibility::parse(&v).ok_or_else(|| not_valid_value("visibility"))?),
    };
    let changes = ProjectChanges {
        name: params.string("name")?.flatten(),
        path: params.string("path")?.flatten(),
        description: params.string("description")?,
        default_branch: params.string("default_branch")?.flatten(),
        visibility,
        archived: params.bool("archived")?.flatten(),
    };
    let updated = projects::update_project(&state, &project, caller, changes).await?;
    Ok(Json(views::project(
        &updated,
        caller.level,
        &state.external_url,
    )))
}

/// `POST /projects/:id/archive` and `/unarchive`.
async fn set_archived(
    state: &AppState,
    user: &User,
    id: &str,
    archived: bool,
) -> Result<Response, ApiError> {
    let (project, caller) = find_project(state, id, Some(user)).await?;
    let changes = ProjectChanges {
        archived: Some(archived),
        ..ProjectChanges::default()
    };
    let updated = projects::update_project(state, &project, caller, changes).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::project(&updated, caller.level, &state.external_url)),
    )
        .into_response())
}

// POST /projects/:id/archive
async fn archive(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_archived(&state, &user, &id, true).await
}

// POST /projects/:id/unarchive
async fn unarchive(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_archived(&state, &user, &id, false).await
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
