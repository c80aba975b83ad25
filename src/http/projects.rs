//! `/projects`: create, list (GitLab's filters), get, update, archive, unarchive, transfer,
//! delete. Project lookup and the use cases are `service::projects`; this module extracts
//! parameters and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::{CurrentUser, MaybeUser};
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::{views, AppState};
use crate::model::access::{Caller, Visibility};
use crate::model::entities::{Project, User};
use crate::service::error::ServiceError;
use crate::service::projects::{self, ProjectChanges, ProjectRequest};
use crate::store::{ProjectFilter, ProjectOrder, Viewer};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{id}", get(show).put(update).delete(remove))
        .route("/projects/{id}/archive", post(archive))
        .route("/projects/{id}/unarchive", post(unarchive))
        .route("/projects/{id}/transfer", put(transfer))
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
    let namespace = match params.string("namespace_id")?.flatten() {
        Some(ns) => Some(ns),
        None => params.string("namespace_path")?.flatten(),
    };
    let req = ProjectRequest {
        name,
        path,
        namespace,
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
pub(super) fn list_filter(params: &Params) -> Result<ProjectFilter, ApiError> {
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
        group: None,
        search: params.string("search")?.flatten(),
        owned: flag("owned")?,
        membership: flag("membership")?,
        visibility,
        archived: params.bool("archived")?.flatten(),
        order,
        ascending,
    })
}

/// One page of projects as GitLab lists them (`simple` keeps the simple entity's keys).
pub(super) async fn list_page(
    state: &AppState,
    user: Option<&User>,
    all: bool,
    filter: &ProjectFilter,
    params: &Params,
    uri: &axum::http::Uri,
) -> Result<Response, ApiError> {
    let page = page_request(params)?;
    let simple = params.bool("simple")?.flatten().unwrap_or(false);
    let today = crate::service::auth::today(state);
    let viewer = Viewer {
        user_id: user.map(|u| u.id),
        is_admin: user.is_some_and(|u| u.is_admin),
        today: &today,
    };
    let paged = state.store.projects_for(viewer, all, filter, page).await?;
    let items: Vec<Value> = paged
        .items
        .iter()
        .map(|(p, level)| {
            let mut entity = views::project(p, *level, &state.external_url);
            if simple {
                if let Some(obj) = entity.as_object_mut() {
                    obj.retain(|k, _| SIMPLE_KEYS.contains(&k.as_str()));
                }
            }
            entity
        })
        .collect();
    Ok(state.page_response(uri, page, paged.total, items))
}

// GET /projects
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let filter = list_filter(&params)?;
    list_page(&state, Some(&user), true, &filter, &params, &uri).await
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

/// A field error as GitLab's failed-transfer message: `Failed to transfer project
/// {:new_namespace=>["…"]}` (Ruby's rendering of the errors).
fn transfer_failed(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Invalid(errors) => ApiError::BadRequest(format!(
            "Failed to transfer project {}",
            super::error::ruby_inspect(&errors)
        )),
        e => e.into(),
    }
}

// PUT /projects/:id/transfer
async fn transfer(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let target = params.required_string("namespace")?;
    let moved = projects::transfer_project(&state, &project, caller, &user, &target)
        .await
        .map_err(transfer_failed)?;
    let (moved, caller) = find_project(&state, &moved.id.to_string(), Some(&user)).await?;
    Ok(Json(views::project(
        &moved,
        caller.level,
        &state.external_url,
    )))
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
