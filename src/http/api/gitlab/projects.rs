//! `/projects`: create, list (GitLab's filters), get, update, archive, unarchive, transfer,
//! delete. Project lookup and the use cases are `service::projects`; this module extracts
//! parameters and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::choices;
use super::error::ApiError;
use super::openapi::{Pagination, ProjectId};
use super::pagination::page_request;
use super::params::{lenient, not_valid_value, Params};
use super::{views, AppState};
use crate::http::auth::{CurrentUser, MaybeUser};
use crate::model::access::{Caller, Visibility};
use crate::model::entities::{Project, User};
use crate::model::pull::PullSettings;
use crate::model::url::MirrorTarget;
use crate::service::error::ServiceError;
use crate::service::imports::{self, ImportRequest};
use crate::service::projects::{self, ProjectChanges, ProjectRequest};
use crate::service::pull_mirrors::{self, PullRequest};
use crate::service::upstreams::UpstreamRequest;
use crate::store::{ProjectFilter, ProjectOrder, Viewer};

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(create_for_user))
        .routes(routes!(show, update, remove))
        .routes(routes!(archive))
        .routes(routes!(unarchive))
        .routes(routes!(transfer))
}

/// Resolves `:id` (numeric id or URL-encoded `namespace/path`) and the caller's standing in it,
/// as GitLab's errors: `404 Project Not Found`, or 401 for an anonymous caller of a hidden one.
pub(in crate::http) async fn find_project(
    state: &AppState,
    id: &str,
    user: Option<&User>,
) -> Result<(Project, Caller), ApiError> {
    Ok(projects::find_project(state, id, user).await?)
}

/// A `visibility` parameter's value (`visibility does not have a valid value` for one that is
/// not `private`, `internal` or `public`).
fn parse_visibility(value: Option<String>) -> Result<Option<Visibility>, ApiError> {
    value
        .map(|v| Visibility::parse(&v).ok_or_else(|| not_valid_value("visibility")))
        .transpose()
}

/// `POST /projects`' parameters: at least one of `name` and `path`.
#[derive(Debug, Deserialize, ToSchema)]
struct CreateProjectBody {
    /// The project's name (default: the path). At least one of `name` and `path` is required.
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    /// The project's path (default: derived from the name as GitLab does).
    #[serde(default, deserialize_with = "lenient::string")]
    path: Option<String>,
    /// The namespace to create the project in, by id or full path (default: the caller's own).
    #[serde(default, deserialize_with = "lenient::string")]
    namespace_id: Option<String>,
    /// The namespace by full path, when `namespace_id` is not given.
    #[serde(default, deserialize_with = "lenient::string")]
    namespace_path: Option<String>,
    /// The description (default: none).
    #[serde(default, deserialize_with = "lenient::string")]
    description: Option<String>,
    /// The default branch (default: set by the first push).
    #[serde(default, deserialize_with = "lenient::string")]
    default_branch: Option<String>,
    /// `private` (default), `internal` or `public`; in a group, no more open than the group.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::VisibilityName>, inline)]
    visibility: Option<String>,
    /// The storage to put the repository on (administrators only; ignored for others).
    #[serde(default, deserialize_with = "lenient::string")]
    repository_storage: Option<String>,
    /// Whether git LFS is on for the project (default true).
    #[serde(default, deserialize_with = "lenient::bool")]
    lfs_enabled: Option<bool>,
    /// Import the repository from this URL (`https://`, `http://`, `git://`, `ssh://`); the
    /// project is created at once and `GET /projects/:id/import` follows the import.
    /// Credentials in it are sealed and never shown again.
    #[serde(default, deserialize_with = "lenient::string")]
    import_url: Option<String>,
    /// The user name for `import_url`, given apart (never put into the URL).
    #[serde(default, deserialize_with = "lenient::string")]
    import_url_user: Option<String>,
    /// The password or token for `import_url`, given apart.
    #[serde(default, deserialize_with = "lenient::string")]
    import_url_password: Option<String>,
    /// Keep the project a pull mirror of `import_url` after the import.
    #[serde(default, deserialize_with = "lenient::bool")]
    mirror: Option<bool>,
    /// With `mirror`: accepted and kept (pushmirror runs no pipelines).
    #[serde(default, deserialize_with = "lenient::bool")]
    mirror_trigger_builds: Option<bool>,
    /// With `mirror`: mirror only the branches protected here.
    #[serde(default, deserialize_with = "lenient::bool")]
    only_mirror_protected_branches: Option<bool>,
    /// With `mirror`: overwrite diverged branches (an exact mirror).
    #[serde(default, deserialize_with = "lenient::bool")]
    mirror_overwrites_diverged_branches: Option<bool>,
    /// With `mirror`: mirror only the branches matching this RE2 regular expression.
    #[serde(default, deserialize_with = "lenient::string")]
    mirror_branch_regex: Option<String>,
    /// Extension: the `ssh://` upstream's host keys to pin, in known_hosts form.
    #[serde(default, deserialize_with = "lenient::strings")]
    import_host_keys: Option<Vec<String>>,
}

/// Create a project (in the caller's namespace unless another is named).
#[utoipa::path(post, path = "/projects", tag = "projects",
    request_body(content = CreateProjectBody, description = "The project; `name` or `path` is required"),
    responses((status = 201, description = "The project", body = views::ProjectEntity)))]
async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: Params,
) -> Result<(StatusCode, Json<views::ProjectEntity>), ApiError> {
    create_in(&state, &user, params, None).await
}

/// The `:user_id` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: the handler takes the segment as a string
struct UserId {
    /// The user's id.
    user_id: i64,
}

/// Create a project in a user's namespace (admins), with the same parameters as
/// `POST /projects` (an import included).
#[utoipa::path(post, path = "/projects/user/{user_id}", tag = "projects",
    params(UserId),
    request_body(content = CreateProjectBody, description = "The project; `name` or `path` is required"),
    responses((status = 201, description = "The project", body = views::ProjectEntity)))]
async fn create_for_user(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(user_id): Path<String>,
    params: Params,
) -> Result<(StatusCode, Json<views::ProjectEntity>), ApiError> {
    if !user.is_admin {
        return Err(ApiError::Forbidden);
    }
    let owner = match user_id.parse::<i64>() {
        Ok(id) => state
            .store
            .user_by_id(id)
            .await
            .map_err(ServiceError::from)?,
        Err(_) => None,
    }
    .ok_or(ApiError::NotFound("User"))?;
    create_in(&state, &user, params, Some(owner.username)).await
}

/// `POST /projects` (in `namespace` when given: a user's, for `/projects/user/:user_id`).
async fn create_in(
    state: &AppState,
    user: &User,
    params: Params,
    namespace: Option<String>,
) -> Result<(StatusCode, Json<views::ProjectEntity>), ApiError> {
    let body: CreateProjectBody = params.parse()?;
    if body.name.is_none() && body.path.is_none() {
        return Err(ApiError::Param(
            "name, path are missing, at least one parameter must be provided".into(),
        ));
    }
    let visibility = parse_visibility(body.visibility)?.unwrap_or(Visibility::Private);
    let req = ProjectRequest {
        name: body.name,
        path: body.path,
        namespace: namespace.or(body.namespace_id).or(body.namespace_path),
        description: body.description,
        default_branch: body.default_branch,
        visibility,
        repository_storage: body.repository_storage,
        lfs_enabled: body.lfs_enabled,
    };
    let Some(import_url) = body.import_url.filter(|u| !u.is_empty()) else {
        let (project, level) = projects::create_project(state, user, req).await?;
        return Ok((
            StatusCode::CREATED,
            Json(views::project(&project, level, views::Urls::of(state))),
        ));
    };
    let typed = super::params::typed_credentials(body.import_url_user, body.import_url_password);
    let mirror = body.mirror.unwrap_or(false).then(|| PullSettings {
        only_protected_branches: body.only_mirror_protected_branches.unwrap_or(false),
        overwrite_diverged: body.mirror_overwrites_diverged_branches.unwrap_or(false),
        mirror_branch_regex: body.mirror_branch_regex.filter(|r| !r.is_empty()),
        trigger_builds: body.mirror_trigger_builds.unwrap_or(false),
        ..pull_mirrors::default_settings()
    });
    let import = ImportRequest {
        upstream: UpstreamRequest {
            target: MirrorTarget::from_url(&import_url).with_typed(typed),
            auth_method: None,
            ssh_key_type: None,
            host_keys: body.import_host_keys,
        },
        mirror,
    };
    let (project, level, import) =
        imports::create_imported_project(state, user, req, import).await?;
    let pull = imports::mirror_state(state, &project).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            views::project(&project, level, views::Urls::of(state))
                .with_import(Some(&import), pull.as_ref()),
        ),
    ))
}

/// GitLab's project list filters, on `GET /projects` and `GET /groups/:id/projects`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct ProjectListQuery {
    /// Only projects whose name or path contains this, case-insensitively.
    #[serde(default, deserialize_with = "lenient::string")]
    search: Option<String>,
    /// Only projects in the caller's own namespace (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    owned: Option<bool>,
    /// Only projects the caller is a member of (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    membership: Option<bool>,
    /// Only projects of this visibility: `private`, `internal` or `public`.
    #[serde(default, deserialize_with = "lenient::string")]
    #[param(value_type = Option<choices::VisibilityName>, inline)]
    visibility: Option<String>,
    /// Only archived (true) or only unarchived (false) projects (default: both).
    #[serde(default, deserialize_with = "lenient::bool")]
    archived: Option<bool>,
    /// `id`, `name`, `path`, `created_at` (default), `updated_at` or `last_activity_at`.
    #[serde(default, deserialize_with = "lenient::string")]
    #[param(value_type = Option<choices::ProjectOrderName>, inline)]
    order_by: Option<String>,
    /// `asc` or `desc` (default).
    #[serde(default, deserialize_with = "lenient::string")]
    #[param(value_type = Option<choices::SortName>, inline)]
    sort: Option<String>,
    /// Show GitLab's simple entity (fewer keys, no `permissions`) (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    simple: Option<bool>,
}

impl ProjectListQuery {
    /// GitLab's list filters from the query.
    pub(in crate::http) fn filter(&self) -> Result<ProjectFilter, ApiError> {
        let visibility = parse_visibility(self.visibility.clone())?;
        let order = match self.order_by.as_deref() {
            None => ProjectOrder::default(),
            Some(o) => ProjectOrder::parse(o).ok_or_else(|| not_valid_value("order_by"))?,
        };
        let ascending = match self.sort.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(_) => return Err(not_valid_value("sort")),
        };
        Ok(ProjectFilter {
            group: None,
            search: self.search.clone(),
            owned: self.owned.unwrap_or(false),
            membership: self.membership.unwrap_or(false),
            visibility,
            archived: self.archived,
            order,
            ascending,
        })
    }
}

/// One page of projects as GitLab lists them (`simple` keeps the simple entity's keys).
pub(in crate::http) async fn list_page(
    state: &AppState,
    user: Option<&User>,
    all: bool,
    filter: &ProjectFilter,
    query: &ProjectListQuery,
    params: &Params,
    uri: &axum::http::Uri,
) -> Result<Response, ApiError> {
    let page = page_request(params)?;
    let today = crate::service::auth::today(state);
    let viewer = Viewer {
        user_id: user.map(|u| u.id),
        is_admin: user.is_some_and(|u| u.is_admin),
        today: &today,
    };
    let paged = state.store.projects_for(viewer, all, filter, page).await?;
    let url = views::Urls::of(state);
    Ok(if query.simple.unwrap_or(false) {
        let items: Vec<_> = paged
            .items
            .iter()
            .map(|(p, _)| views::project_simple(p, url))
            .collect();
        state.page_response(uri, page, paged.total, items)
    } else {
        let items: Vec<_> = paged
            .items
            .iter()
            .map(|(p, level)| views::project(p, *level, url))
            .collect();
        state.page_response(uri, page, paged.total, items)
    })
}

/// List the projects the caller may see (GitLab's filters).
#[utoipa::path(get, path = "/projects", tag = "projects",
    params(ProjectListQuery, Pagination),
    responses((status = 200, description = "The projects, paginated", body = Vec<views::ProjectListItem>)))]
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let query: ProjectListQuery = params.parse()?;
    let filter = query.filter()?;
    list_page(&state, Some(&user), true, &filter, &query, &params, &uri).await
}

/// `PUT /projects/:id`'s parameters; an absent one is left as it is.
#[derive(Debug, Deserialize, ToSchema)]
struct UpdateProjectBody {
    /// The new name.
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    /// The new path (Owner or admin).
    #[serde(default, deserialize_with = "lenient::string")]
    path: Option<String>,
    /// The new description; null clears it.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    description: Option<Option<String>>,
    /// The new default branch; it must exist once the repository has branches.
    #[serde(default, deserialize_with = "lenient::string")]
    default_branch: Option<String>,
    /// `private`, `internal` or `public` (Owner or admin).
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::VisibilityName>, inline)]
    visibility: Option<String>,
    /// Archive (true) or unarchive (false) the project (Owner or admin).
    #[serde(default, deserialize_with = "lenient::bool")]
    archived: Option<bool>,
    /// Turn git LFS on or off for the project; off, every LFS route answers 404.
    #[serde(default, deserialize_with = "lenient::bool")]
    lfs_enabled: Option<bool>,
    /// With `mirror: true`, the upstream of the project's pull mirror (GitLab's older
    /// pull-mirror API; `PUT /projects/:id/mirror/pull` is the newer one).
    #[serde(default, deserialize_with = "lenient::string")]
    import_url: Option<String>,
    /// Make the project a pull mirror of `import_url` (true) or stop mirroring (false).
    #[serde(default, deserialize_with = "lenient::bool")]
    mirror: Option<bool>,
    /// Accepted and kept (pushmirror runs no pipelines).
    #[serde(default, deserialize_with = "lenient::bool")]
    mirror_trigger_builds: Option<bool>,
    /// Mirror only the branches protected here.
    #[serde(default, deserialize_with = "lenient::bool")]
    only_mirror_protected_branches: Option<bool>,
    /// Overwrite diverged branches (an exact mirror).
    #[serde(default, deserialize_with = "lenient::bool")]
    mirror_overwrites_diverged_branches: Option<bool>,
    /// Mirror only the branches matching this RE2 regular expression; null or empty clears it.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    mirror_branch_regex: Option<Option<String>>,
}

/// Change a project's settings (Maintainers; the path, visibility and archiving need an Owner).
#[utoipa::path(put, path = "/projects/{id}", tag = "projects",
    params(ProjectId),
    request_body(content = UpdateProjectBody, description = "The settings to change"),
    responses((status = 200, description = "The project", body = views::ProjectEntity)))]
async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<views::ProjectEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let body: UpdateProjectBody = params.parse()?;
    let mirror_change = body.mirror.is_some()
        || body.import_url.is_some()
        || body.mirror_trigger_builds.is_some()
        || body.only_mirror_protected_branches.is_some()
        || body.mirror_overwrites_diverged_branches.is_some()
        || body.mirror_branch_regex.is_some();
    if mirror_change {
        let req = PullRequest {
            upstream: body.import_url.as_deref().map(|url| UpstreamRequest {
                target: MirrorTarget::from_url(url),
                ..UpstreamRequest::default()
            }),
            enabled: body.mirror,
            only_protected_branches: body.only_mirror_protected_branches,
            overwrite_diverged: body.mirror_overwrites_diverged_branches,
            mirror_branch_regex: body.mirror_branch_regex,
            trigger_builds: body.mirror_trigger_builds,
            interval_secs: None,
        };
        if body.mirror == Some(false) && body.import_url.is_none() {
            if let Some(m) = imports::mirror_state(&state, &project).await? {
                if m.settings.enabled {
                    pull_mirrors::configure(&state, &project, caller, req).await?;
                }
            }
        } else {
            pull_mirrors::configure(&state, &project, caller, req).await?;
        }
    }
    let changes = ProjectChanges {
        visibility: parse_visibility(body.visibility)?,
        name: body.name,
        path: body.path,
        description: body.description,
        default_branch: body.default_branch,
        archived: body.archived,
        lfs_enabled: body.lfs_enabled,
    };
    let updated = if changes == ProjectChanges::default() && mirror_change {
        project
    } else {
        projects::update_project(&state, &project, caller, changes).await?
    };
    let import = imports::import_of(&state, &updated).await?;
    let pull = imports::mirror_state(&state, &updated).await?;
    Ok(Json(
        views::project(&updated, caller.level, views::Urls::of(&state))
            .with_import(import.as_ref(), pull.as_ref()),
    ))
}

/// `POST /projects/:id/archive` and `/unarchive`.
async fn set_archived(
    state: &AppState,
    user: &User,
    id: &str,
    archived: bool,
) -> Result<(StatusCode, Json<views::ProjectEntity>), ApiError> {
    let (project, caller) = find_project(state, id, Some(user)).await?;
    let changes = ProjectChanges {
        archived: Some(archived),
        ..ProjectChanges::default()
    };
    let updated = projects::update_project(state, &project, caller, changes).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::project(
            &updated,
            caller.level,
            views::Urls::of(state),
        )),
    ))
}

/// Archive a project: it becomes read-only and its mirrors are no longer pushed (Owner or admin).
#[utoipa::path(post, path = "/projects/{id}/archive", tag = "projects",
    params(ProjectId),
    responses((status = 201, description = "The archived project", body = views::ProjectEntity)))]
async fn archive(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<views::ProjectEntity>), ApiError> {
    set_archived(&state, &user, &id, true).await
}

/// Unarchive a project (Owner or admin).
#[utoipa::path(post, path = "/projects/{id}/unarchive", tag = "projects",
    params(ProjectId),
    responses((status = 201, description = "The unarchived project", body = views::ProjectEntity)))]
async fn unarchive(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<views::ProjectEntity>), ApiError> {
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

/// `PUT /projects/:id/transfer`'s parameters.
#[derive(Debug, Deserialize, ToSchema)]
struct TransferBody {
    /// The namespace to move the project to, by id or full path.
    #[serde(deserialize_with = "lenient::required_string")]
    namespace: String,
}

/// Move a project to another namespace (Owner or admin, who may create projects there).
#[utoipa::path(put, path = "/projects/{id}/transfer", tag = "projects",
    params(ProjectId),
    request_body(content = TransferBody, description = "The new namespace"),
    responses((status = 200, description = "The moved project", body = views::ProjectEntity)))]
async fn transfer(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<views::ProjectEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let body: TransferBody = params.parse()?;
    let moved = projects::transfer_project(&state, &project, caller, &user, &body.namespace)
        .await
        .map_err(transfer_failed)?;
    let (moved, caller) = find_project(&state, &moved.id.to_string(), Some(&user)).await?;
    Ok(Json(views::project(
        &moved,
        caller.level,
        views::Urls::of(&state),
    )))
}

/// `GET /projects/:id`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ShowProjectQuery {
    /// Include the project's `statistics` (Reporters and above) (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    statistics: Option<bool>,
}

/// Get one project.
#[utoipa::path(get, path = "/projects/{id}", tag = "projects",
    params(ProjectId, ShowProjectQuery),
    responses((status = 200, description = "The project", body = views::ProjectEntity)))]
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<views::ProjectEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let query: ShowProjectQuery = params.parse()?;
    let import = imports::import_of(&state, &project).await?;
    let pull = imports::mirror_state(&state, &project).await?;
    let mut entity = views::project(&project, caller.level, views::Urls::of(&state))
        .with_import(import.as_ref(), pull.as_ref());
    if query.statistics.unwrap_or(false) {
        if let Some(s) =
            crate::service::statistics::project_statistics(&state, &project, caller).await?
        {
            entity = entity.with_statistics(s);
        }
    }
    Ok(Json(entity))
}

/// Delete a project and its repository (Owner or admin).
#[utoipa::path(delete, path = "/projects/{id}", tag = "projects",
    params(ProjectId),
    responses((status = 202, description = "Deleted", body = views::AcceptedEntity)))]
async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<views::AcceptedEntity>), ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    projects::delete_project(&state, &project, caller).await?;
    Ok((StatusCode::ACCEPTED, Json(views::accepted())))
}
