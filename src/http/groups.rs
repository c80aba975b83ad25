//! `/groups`: list (GitLab's filters), create, get, update, delete, and a group's subgroups,
//! descendant groups and projects. Group lookup and the use cases are `service::groups`; this
//! module extracts parameters and renders GitLab's JSON. Group members are in `members`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::{CurrentUser, MaybeUser};
use super::error::{ruby_inspect, ApiError};
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::projects::{list_filter, list_page};
use super::{views, AppState};
use crate::model::access::{
    AccessLevel, Caller, ProjectCreationLevel, SubgroupCreationLevel, Visibility,
};
use crate::model::entities::{Group, User};
use crate::service::auth::today;
use crate::service::error::ServiceError;
use crate::service::groups::{self, GroupRequest, GroupUpdate};
use crate::store::{GroupFilter, GroupOrder, GroupScope, PageRequest, ProjectFilter, Viewer};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/groups", get(list).post(create))
        .route("/groups/{id}", get(show).put(update).delete(remove))
        .route("/groups/{id}/subgroups", get(subgroups))
        .route("/groups/{id}/descendant_groups", get(descendant_groups))
        .route("/groups/{id}/projects", get(projects))
}

/// Resolves `:id` (numeric id or URL-encoded full path) and the caller's standing in it, as
/// GitLab's errors: `404 Group Not Found`, or 401 for an anonymous caller of a hidden one.
pub(super) async fn find_group(
    state: &AppState,
    id: &str,
    user: Option<&User>,
) -> Result<(Group, Caller), ApiError> {
    Ok(groups::find_group(state, id, user).await?)
}

/// An optional visibility parameter.
fn visibility(params: &Params) -> Result<Option<Visibility>, ApiError> {
    match params.string("visibility")?.flatten() {
        None => Ok(None),
        Some(v) => Visibility::parse(&v)
            .map(Some)
            .ok_or_else(|| not_valid_value("visibility")),
    }
}

/// The creation rules a request sets, if any.
fn creation_levels(
    params: &Params,
) -> Result<(Option<ProjectCreationLevel>, Option<SubgroupCreationLevel>), ApiError> {
    let project = match params.string("project_creation_level")?.flatten() {
        None => None,
        Some(v) => Some(
            ProjectCreationLevel::parse(&v)
                .ok_or_else(|| not_valid_value("project_creation_level"))?,
        ),
    };
    let subgroup = match params.string("subgroup_creation_level")?.flatten() {
        None => None,
        Some(v) => Some(
            SubgroupCreationLevel::parse(&v)
                .ok_or_else(|| not_valid_value("subgroup_creation_level"))?,
        ),
    };
    Ok((project, subgroup))
}

/// GitLab's group list filters from `params`; `all_available` defaults to what GitLab's does
/// (every visible group for an admin and within a group, the caller's own groups otherwise).
fn group_filter(
    params: &Params,
    user: Option<&User>,
    scope: GroupScope,
) -> Result<GroupFilter, ApiError> {
    let flag = |key: &str| -> Result<Option<bool>, ApiError> { Ok(params.bool(key)?.flatten()) };
    let order = match params.string("order_by")?.flatten() {
        None => GroupOrder::default(),
        Some(o) => GroupOrder::parse(&o).ok_or_else(|| not_valid_value("order_by"))?,
    };
    let ascending = match params.string("sort")?.flatten().as_deref() {
        None | Some("asc") => true,
        Some("desc") => false,
        Some(_) => return Err(not_valid_value("sort")),
    };
    let min_access_level = match params.int("min_access_level")? {
        None => None,
        Some(l) => {
            Some(AccessLevel::from_i64(l).ok_or_else(|| not_valid_value("min_access_level"))?)
        }
    };
    let default_all = user.is_some_and(|u| u.is_admin) || scope != GroupScope::All;
    Ok(GroupFilter {
        scope,
        search: params.string("search")?.flatten(),
        all_available: flag("all_available")?.unwrap_or(default_all),
        owned: flag("owned")?.unwrap_or(false),
        min_access_level,
        top_level_only: flag("top_level_only")?.unwrap_or(false),
        visibility: visibility(params)?,
        order,
        ascending,
    })
}

/// One page of groups as GitLab lists them.
async fn list_groups(
    state: &AppState,
    user: Option<&User>,
    filter: &GroupFilter,
    params: &Params,
    uri: &axum::http::Uri,
) -> Result<Response, ApiError> {
    let page = page_request(params)?;
    let today = today(state);
    let viewer = Viewer {
        user_id: user.map(|u| u.id),
        is_admin: user.is_some_and(|u| u.is_admin),
        today: &today,
    };
    let paged = state.store.groups_for(viewer, filter, page).await?;
    let items: Vec<Value> = paged
        .items
        .iter()
        .map(|(g, _)| views::group(g, &state.external_url))
        .collect();
    Ok(state.page_response(uri, page, paged.total, items))
}

// GET /groups
async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let filter = group_filter(&params, user.as_ref(), GroupScope::All)?;
    list_groups(&state, user.as_ref(), &filter, &params, &uri).await
}

// GET /groups/:id/subgroups
async fn subgroups(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (group, _) = find_group(&state, &id, user.as_ref()).await?;
    let filter = group_filter(&params, user.as_ref(), GroupScope::Children(group.id()))?;
    list_groups(&state, user.as_ref(), &filter, &params, &uri).await
}

// GET /groups/:id/descendant_groups
async fn descendant_groups(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (group, _) = find_group(&state, &id, user.as_ref()).await?;
    let filter = group_filter(&params, user.as_ref(), GroupScope::Descendants(group.id()))?;
    list_groups(&state, user.as_ref(), &filter, &params, &uri).await
}

// GET /groups/:id/projects
async fn projects(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (group, _) = find_group(&state, &id, user.as_ref()).await?;
    let include_subgroups = params.bool("include_subgroups")?.flatten().unwrap_or(false);
    let filter = ProjectFilter {
        group: Some((group.id(), include_subgroups)),
        ..list_filter(&params)?
    };
    list_page(&state, user.as_ref(), true, &filter, &params, &uri).await
}

/// The group's detail entity: with the first 100 of its projects the caller may see, unless
/// `with_projects` is false.
async fn detail(
    state: &AppState,
    group: &Group,
    user: Option<&User>,
    with_projects: bool,
) -> Result<Value, ApiError> {
    let projects = if with_projects {
        let today = today(state);
        let viewer = Viewer {
            user_id: user.map(|u| u.id),
            is_admin: user.is_some_and(|u| u.is_admin),
            today: &today,
        };
        let filter = ProjectFilter {
            group: Some((group.id(), false)),
            ..ProjectFilter::default()
        };
        let page = PageRequest {
            page: 1,
            per_page: 100,
        };
        let paged = state
            .store
            .projects_for(viewer, true, &filter, page)
            .await?;
        Some(
            paged
                .items
                .iter()
                .map(|(p, level)| views::project(p, *level, &state.external_url))
                .collect(),
        )
    } else {
        None
    };
    Ok(views::group_detail(group, projects, &state.external_url))
}

/// A field error as GitLab's failed-creation message: `Failed to save group {:path=>[…]}`.
fn save_failed(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Invalid(errors) => {
            ApiError::BadRequest(format!("Failed to save group {}", ruby_inspect(&errors)))
        }
        e => e.into(),
    }
}

// POST /groups
async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: Params,
) -> Result<Response, ApiError> {
    let name = params.string("name")?.flatten();
    let path = params.string("path")?.flatten();
    let missing: Vec<&str> = [("name", &name), ("path", &path)]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        let text: Vec<String> = missing.iter().map(|k| format!("{k} is missing")).collect();
        return Err(ApiError::Param(text.join(", ")));
    }
    let parent_id = params.int("parent_id")?.map(|id| id.to_string());
    let (project_creation_level, subgroup_creation_level) = creation_levels(&params)?;
    let req = GroupRequest {
        name: name.unwrap_or_default(),
        path: path.unwrap_or_default(),
        parent_id,
        description: params.string("description")?.flatten(),
        visibility: visibility(&params)?,
        project_creation_level,
        subgroup_creation_level,
    };
    let (group, _) = groups::create_group(&state, &user, req)
        .await
        .map_err(save_failed)?;
    let body = detail(&state, &group, Some(&user), true).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

// GET /groups/:id
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let (group, _) = find_group(&state, &id, user.as_ref()).await?;
    let with_projects = params.bool("with_projects")?.flatten().unwrap_or(true);
    Ok(Json(
        detail(&state, &group, user.as_ref(), with_projects).await?,
    ))
}

// PUT /groups/:id
async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let (group, caller) = find_group(&state, &id, Some(&user)).await?;
    let (project_creation_level, subgroup_creation_level) = creation_levels(&params)?;
    let changes = GroupUpdate {
        name: params.string("name")?.flatten(),
        path: params.string("path")?.flatten(),
        description: params.string("description")?,
        visibility: visibility(&params)?,
        project_creation_level,
        subgroup_creation_level,
    };
    let updated = groups::update_group(&state, &group, caller, changes).await?;
    Ok(Json(detail(&state, &updated, Some(&user), true).await?))
}

// DELETE /groups/:id
async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (group, caller) = find_group(&state, &id, Some(&user)).await?;
    groups::delete_group(&state, &group, caller).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "202 Accepted"})),
    )
        .into_response())
}
