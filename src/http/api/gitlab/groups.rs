//! `/groups`: list (GitLab's filters), create, get, update, delete, and a group's subgroups,
//! descendant groups and projects. Group lookup and the use cases are `service::groups`; this
//! module extracts parameters and renders GitLab's JSON. Group members are in `members`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::choices;
use super::error::{ruby_inspect, ApiError};
use super::openapi::{GroupId, Pagination};
use super::pagination::page_request;
use super::params::{lenient, not_valid_value, Params};
use super::projects::{list_page, ProjectListQuery};
use super::{views, AppState};
use crate::http::auth::{CurrentUser, MaybeUser};
use crate::model::access::{
    AccessLevel, Caller, ProjectCreationLevel, SubgroupCreationLevel, Visibility,
};
use crate::model::entities::{Group, User};
use crate::service::auth::today;
use crate::service::error::ServiceError;
use crate::service::groups::{self, GroupRequest, GroupUpdate};
use crate::store::{GroupFilter, GroupOrder, GroupScope, PageRequest, ProjectFilter, Viewer};

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(subgroups))
        .routes(routes!(descendant_groups))
        .routes(routes!(projects))
}

/// Resolves `:id` (numeric id or URL-encoded full path) and the caller's standing in it, as
/// GitLab's errors: `404 Group Not Found`, or 401 for an anonymous caller of a hidden one.
pub(in crate::http) async fn find_group(
    state: &AppState,
    id: &str,
    user: Option<&User>,
) -> Result<(Group, Caller), ApiError> {
    Ok(groups::find_group(state, id, user).await?)
}

/// A `visibility` parameter's value (`visibility does not have a valid value` for one that is
/// not `private`, `internal` or `public`).
fn visibility(value: Option<&str>) -> Result<Option<Visibility>, ApiError> {
    value
        .map(|v| Visibility::parse(v).ok_or_else(|| not_valid_value("visibility")))
        .transpose()
}

/// The creation rules a request sets, if any, from its `project_creation_level` and
/// `subgroup_creation_level`.
fn creation_levels(
    project: Option<&str>,
    subgroup: Option<&str>,
) -> Result<(Option<ProjectCreationLevel>, Option<SubgroupCreationLevel>), ApiError> {
    let project = project
        .map(|v| {
            ProjectCreationLevel::parse(v).ok_or_else(|| not_valid_value("project_creation_level"))
        })
        .transpose()?;
    let subgroup = subgroup
        .map(|v| {
            SubgroupCreationLevel::parse(v)
                .ok_or_else(|| not_valid_value("subgroup_creation_level"))
        })
        .transpose()?;
    Ok((project, subgroup))
}

/// GitLab's group list filters, on `GET /groups`, `/groups/:id/subgroups` and
/// `/groups/:id/descendant_groups`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GroupListQuery {
    /// Only groups whose name or own path contains this, case-insensitively.
    #[serde(default, deserialize_with = "lenient::string")]
    search: Option<String>,
    /// Every group the caller may see, not only those they are a member of (default: true for
    /// an admin and below a group, false otherwise).
    #[serde(default, deserialize_with = "lenient::bool")]
    all_available: Option<bool>,
    /// Only groups the caller is a direct Owner of (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    owned: Option<bool>,
    /// Only groups where the caller has at least this access level: 10, 20, 30, 40 or 50.
    #[serde(default, deserialize_with = "lenient::int")]
    #[param(value_type = Option<choices::AccessLevelValue>, inline)]
    min_access_level: Option<i64>,
    /// Only top-level groups (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    top_level_only: Option<bool>,
    /// Only groups of this visibility: `private`, `internal` or `public`.
    #[serde(default, deserialize_with = "lenient::string")]
    #[param(value_type = Option<choices::VisibilityName>, inline)]
    visibility: Option<String>,
    /// `name` (default), `path`, `id` or `similarity` (by name).
    #[serde(default, deserialize_with = "lenient::string")]
    #[param(value_type = Option<choices::GroupOrderName>, inline)]
    order_by: Option<String>,
    /// `asc` (default) or `desc`.
    #[serde(default, deserialize_with = "lenient::string")]
    #[param(value_type = Option<choices::SortName>, inline)]
    sort: Option<String>,
}

/// GitLab's group list filters from the query; `all_available` defaults to what GitLab's does
/// (every visible group for an admin and within a group, the caller's own groups otherwise).
fn group_filter(
    query: GroupListQuery,
    user: Option<&User>,
    scope: GroupScope,
) -> Result<GroupFilter, ApiError> {
    let order = match query.order_by.as_deref() {
        None => GroupOrder::default(),
        Some(o) => GroupOrder::parse(o).ok_or_else(|| not_valid_value("order_by"))?,
    };
    let ascending = match query.sort.as_deref() {
        None | Some("asc") => true,
        Some("desc") => false,
        Some(_) => return Err(not_valid_value("sort")),
    };
    let min_access_level = match query.min_access_level {
        None => None,
        Some(l) => {
            Some(AccessLevel::from_i64(l).ok_or_else(|| not_valid_value("min_access_level"))?)
        }
    };
    let default_all = user.is_some_and(|u| u.is_admin) || scope != GroupScope::All;
    Ok(GroupFilter {
        scope,
        search: query.search,
        all_available: query.all_available.unwrap_or(default_all),
        owned: query.owned.unwrap_or(false),
        min_access_level,
        top_level_only: query.top_level_only.unwrap_or(false),
        visibility: visibility(query.visibility.as_deref())?,
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
    let items: Vec<views::GroupEntity> = paged
        .items
        .iter()
        .map(|(g, _)| views::group(g, &state.external_url))
        .collect();
    Ok(state.page_response(uri, page, paged.total, items))
}

/// List the groups the caller may see (GitLab's filters).
#[utoipa::path(get, path = "/groups", tag = "groups",
    params(GroupListQuery, Pagination),
    responses((status = 200, description = "The groups, paginated", body = Vec<views::GroupEntity>)))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let filter = group_filter(params.parse()?, user.as_ref(), GroupScope::All)?;
    list_groups(&state, user.as_ref(), &filter, &params, &uri).await
}

/// List a group's direct subgroups the caller may see.
#[utoipa::path(get, path = "/groups/{id}/subgroups", tag = "groups",
    params(GroupId, GroupListQuery, Pagination),
    responses((status = 200, description = "The subgroups, paginated", body = Vec<views::GroupEntity>)))]
async fn subgroups(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (group, _) = find_group(&state, &id, user.as_ref()).await?;
    let filter = group_filter(
        params.parse()?,
        user.as_ref(),
        GroupScope::Children(group.id()),
    )?;
    list_groups(&state, user.as_ref(), &filter, &params, &uri).await
}

/// List every group below a group that the caller may see.
#[utoipa::path(get, path = "/groups/{id}/descendant_groups", tag = "groups",
    params(GroupId, GroupListQuery, Pagination),
    responses((status = 200, description = "The descendant groups, paginated", body = Vec<views::GroupEntity>)))]
async fn descendant_groups(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (group, _) = find_group(&state, &id, user.as_ref()).await?;
    let filter = group_filter(
        params.parse()?,
        user.as_ref(),
        GroupScope::Descendants(group.id()),
    )?;
    list_groups(&state, user.as_ref(), &filter, &params, &uri).await
}

/// `GET /groups/:id/projects`' own parameter (the project list filters come with it).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GroupProjectsQuery {
    /// Include the projects of every group below (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    include_subgroups: Option<bool>,
}

/// List a group's projects the caller may see (GitLab's project list filters).
#[utoipa::path(get, path = "/groups/{id}/projects", tag = "groups",
    params(GroupId, GroupProjectsQuery, ProjectListQuery, Pagination),
    responses((status = 200, description = "The projects, paginated", body = Vec<views::ProjectListItem>)))]
async fn projects(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (group, _) = find_group(&state, &id, user.as_ref()).await?;
    let own: GroupProjectsQuery = params.parse()?;
    let query: ProjectListQuery = params.parse()?;
    let filter = ProjectFilter {
        group: Some((group.id(), own.include_subgroups.unwrap_or(false))),
        ..query.filter()?
    };
    list_page(&state, user.as_ref(), true, &filter, &query, &params, &uri).await
}

/// The group's detail entity: with the first 100 of its projects the caller may see, unless
/// `with_projects` is false.
async fn detail(
    state: &AppState,
    group: &Group,
    user: Option<&User>,
    with_projects: bool,
) -> Result<views::GroupDetailEntity, ApiError> {
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
                .map(|(p, level)| views::project(p, *level, views::Urls::of(state)))
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

/// `POST /groups`' parameters.
#[derive(Debug, Deserialize, ToSchema)]
struct CreateGroupBody {
    /// The group's name.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(required = true, value_type = String)]
    name: Option<String>,
    /// The group's path (its last URL segment).
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(required = true, value_type = String)]
    path: Option<String>,
    /// The parent group's id, to create a subgroup (default: a top-level group).
    #[serde(default, deserialize_with = "lenient::int")]
    parent_id: Option<i64>,
    /// The description (default: none).
    #[serde(default, deserialize_with = "lenient::string")]
    description: Option<String>,
    /// `private` (default), `internal` or `public`; a subgroup no more open than its parent.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::VisibilityName>, inline)]
    visibility: Option<String>,
    /// Who may create projects: `noone`, `administrator`, `owner`, `maintainer` or
    /// `developer` (default).
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::ProjectCreationLevelName>, inline)]
    project_creation_level: Option<String>,
    /// Who may create subgroups: `owner` or `maintainer` (default).
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::SubgroupCreationLevelName>, inline)]
    subgroup_creation_level: Option<String>,
}

/// Create a group, or a subgroup with `parent_id`; the caller becomes its Owner.
#[utoipa::path(post, path = "/groups", tag = "groups",
    request_body(content = CreateGroupBody, description = "The group; `name` and `path` are required"),
    responses((status = 201, description = "The group with its projects", body = views::GroupDetailEntity)))]
async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: Params,
) -> Result<(StatusCode, Json<views::GroupDetailEntity>), ApiError> {
    let body: CreateGroupBody = params.parse()?;
    let missing: Vec<&str> = [("name", &body.name), ("path", &body.path)]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        let text: Vec<String> = missing.iter().map(|k| format!("{k} is missing")).collect();
        return Err(ApiError::Param(text.join(", ")));
    }
    let (project_creation_level, subgroup_creation_level) = creation_levels(
        body.project_creation_level.as_deref(),
        body.subgroup_creation_level.as_deref(),
    )?;
    let req = GroupRequest {
        visibility: visibility(body.visibility.as_deref())?,
        name: body.name.unwrap_or_default(),
        path: body.path.unwrap_or_default(),
        parent_id: body.parent_id.map(|id| id.to_string()),
        description: body.description,
        project_creation_level,
        subgroup_creation_level,
    };
    let (group, _) = groups::create_group(&state, &user, req)
        .await
        .map_err(save_failed)?;
    let body = detail(&state, &group, Some(&user), true).await?;
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /groups/:id`'s parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GroupShowQuery {
    /// Include the group's projects (the first 100 the caller may see) (default true).
    #[serde(default, deserialize_with = "lenient::bool")]
    with_projects: Option<bool>,
}

/// Get one group, with its projects unless `with_projects=false`.
#[utoipa::path(get, path = "/groups/{id}", tag = "groups",
    params(GroupId, GroupShowQuery),
    responses((status = 200, description = "The group", body = views::GroupDetailEntity)))]
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<views::GroupDetailEntity>, ApiError> {
    let (group, _) = find_group(&state, &id, user.as_ref()).await?;
    let query: GroupShowQuery = params.parse()?;
    let with_projects = query.with_projects.unwrap_or(true);
    Ok(Json(
        detail(&state, &group, user.as_ref(), with_projects).await?,
    ))
}

/// `PUT /groups/:id`'s parameters; an absent one is left as it is.
#[derive(Debug, Deserialize, ToSchema)]
struct UpdateGroupBody {
    /// The new name (carried into every descendant's full name).
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    /// The new path (carried into every descendant's full path).
    #[serde(default, deserialize_with = "lenient::string")]
    path: Option<String>,
    /// The new description; null clears it.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    description: Option<Option<String>>,
    /// `private`, `internal` or `public`: within the parent's, and no more closed than
    /// anything below.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::VisibilityName>, inline)]
    visibility: Option<String>,
    /// Who may create projects: `noone`, `administrator`, `owner`, `maintainer` or `developer`.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::ProjectCreationLevelName>, inline)]
    project_creation_level: Option<String>,
    /// Who may create subgroups: `owner` or `maintainer`.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::SubgroupCreationLevelName>, inline)]
    subgroup_creation_level: Option<String>,
}

/// Change a group's settings (Owner or admin).
#[utoipa::path(put, path = "/groups/{id}", tag = "groups",
    params(GroupId),
    request_body(content = UpdateGroupBody, description = "The settings to change"),
    responses((status = 200, description = "The group with its projects", body = views::GroupDetailEntity)))]
async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<views::GroupDetailEntity>, ApiError> {
    let (group, caller) = find_group(&state, &id, Some(&user)).await?;
    let body: UpdateGroupBody = params.parse()?;
    let (project_creation_level, subgroup_creation_level) = creation_levels(
        body.project_creation_level.as_deref(),
        body.subgroup_creation_level.as_deref(),
    )?;
    let changes = GroupUpdate {
        visibility: visibility(body.visibility.as_deref())?,
        name: body.name,
        path: body.path,
        description: body.description,
        project_creation_level,
        subgroup_creation_level,
    };
    let updated = groups::update_group(&state, &group, caller, changes).await?;
    Ok(Json(detail(&state, &updated, Some(&user), true).await?))
}

/// Delete a group with its subgroups and projects (Owner or admin).
#[utoipa::path(delete, path = "/groups/{id}", tag = "groups",
    params(GroupId),
    responses((status = 202, description = "Deleted", body = views::AcceptedEntity)))]
async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<views::AcceptedEntity>), ApiError> {
    let (group, caller) = find_group(&state, &id, Some(&user)).await?;
    groups::delete_group(&state, &group, caller).await?;
    Ok((StatusCode::ACCEPTED, Json(views::accepted())))
}
