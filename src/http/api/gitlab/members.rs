//! `/projects/:id/members` and `/groups/:id/members`: list, show, add, change, remove, with
//! GitLab's access levels and `expires_at`; and `/members/all` (and `/members/all/:user_id`),
//! which count every ancestor group's members too. The rules are `service::members`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::choices;
use super::error::ApiError;
use super::groups::find_group;
use super::openapi::{ErrorBody, GroupId, Pagination, ProjectId};
use super::pagination::page_request;
use super::params::{invalid, lenient, not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::http::auth::CurrentUser;
use crate::model::access::{AccessLevel, Caller};
use crate::model::entities::{Group, Member, Project, User};
use crate::model::membership::parse_expiry;
use crate::service::members::{self, Target};
use crate::store::PageRequest;

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_project, add_project))
        .routes(routes!(all_project))
        .routes(routes!(show_all_project))
        .routes(routes!(show_project, update_project, remove_project))
        .routes(routes!(list_group, add_group))
        .routes(routes!(all_group))
        .routes(routes!(show_all_group))
        .routes(routes!(show_group, update_group, remove_group))
}

/// The `:user_id` segment: the member's user id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct MemberUserId {
    /// The member's user id.
    user_id: i64,
}

/// A project or a group, as found for the caller.
enum Source {
    Project(Project),
    Group(Group),
}

impl Source {
    fn target(&self) -> Target<'_> {
        match self {
            Source::Project(p) => Target::Project(p),
            Source::Group(g) => Target::Group(g),
        }
    }
}

/// Which kind of source a route is about.
#[derive(Clone, Copy)]
enum Kind {
    Project,
    Group,
}

/// Resolves `:id` as a project or group the caller may see.
async fn find(
    state: &AppState,
    kind: Kind,
    id: &str,
    user: &User,
) -> Result<(Source, Caller), ApiError> {
    Ok(match kind {
        Kind::Project => {
            let (p, c) = find_project(state, id, Some(user)).await?;
            (Source::Project(p), c)
        }
        Kind::Group => {
            let (g, c) = find_group(state, id, Some(user)).await?;
            (Source::Group(g), c)
        }
    })
}

/// The `:user_id` path segment; anything but a number is `404 Not found`.
fn user_id(segment: &str) -> Result<i64, ApiError> {
    segment.parse::<i64>().map_err(|_| ApiError::RecordNotFound)
}

/// A new member, as `POST …/members` takes it.
#[derive(Debug, Deserialize, ToSchema)]
struct MemberAddBody {
    /// The user to add: their numeric id, or their username (required).
    #[serde(deserialize_with = "lenient::required_string")]
    user_id: String,
    /// The access level (required): 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer,
    /// 50 Owner; no more than the caller's own.
    #[serde(default, deserialize_with = "lenient::int")]
    // Read as optional so that its absence gets Grape's `access_level is missing`.
    #[schema(value_type = choices::AccessLevelValue, inline, required = true)]
    access_level: Option<i64>,
    /// The last day the membership grants access: `YYYY-MM-DD` (today or later) or an ISO 8601
    /// timestamp, whose UTC date counts; null, blank or absent for ever.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    expires_at: Option<Option<String>>,
}

/// A member's changes, as `PUT …/members/:user_id` takes them.
#[derive(Debug, Deserialize, ToSchema)]
struct MemberUpdateBody {
    /// The access level (required): 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer,
    /// 50 Owner; no more than the caller's own.
    #[serde(default, deserialize_with = "lenient::int")]
    // Read as optional so that its absence gets Grape's `access_level is missing`.
    #[schema(value_type = choices::AccessLevelValue, inline, required = true)]
    access_level: Option<i64>,
    /// The last day the membership grants access: `YYYY-MM-DD` (today or later) or an ISO 8601
    /// timestamp, whose UTC date counts; null or blank clears it; absent leaves it as it is.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    expires_at: Option<Option<String>>,
}

/// `access_level`, required, one of GitLab's levels.
fn access_level(level: Option<i64>) -> Result<AccessLevel, ApiError> {
    let level = level.ok_or_else(|| ApiError::Param("access_level is missing".into()))?;
    AccessLevel::from_i64(level).ok_or_else(|| not_valid_value("access_level"))
}

/// `expires_at` as Grape's `DateTime` takes it: absent is `None`; null or blank clears
/// (`Some(None)`); anything else must be a date (`expires_at is invalid`).
fn expires_at(sent: Option<Option<String>>) -> Result<Option<Option<String>>, ApiError> {
    match sent {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Some(s)) => parse_expiry(&s)
            .map(|d| Some(Some(d)))
            .ok_or_else(|| invalid("expires_at")),
    }
}

async fn list(
    state: AppState,
    kind: Kind,
    user: User,
    id: String,
    uri: axum::http::Uri,
    params: Params,
) -> Result<Response, ApiError> {
    let (source, _) = find(&state, kind, &id, &user).await?;
    let page = page_request(&params)?;
    let paged = members::members(&state, source.target(), page).await?;
    let items: Vec<_> = paged
        .items
        .iter()
        .map(|m| views::member(m, &state.external_url))
        .collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

async fn all(
    state: AppState,
    kind: Kind,
    user: User,
    id: String,
    uri: axum::http::Uri,
    params: Params,
) -> Result<Response, ApiError> {
    let (source, _) = find(&state, kind, &id, &user).await?;
    let page: PageRequest = page_request(&params)?;
    let everyone = members::all_members(&state, source.target()).await?;
    let total = everyone.len() as i64;
    let items: Vec<_> = everyone
        .iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.per_page as usize)
        .map(|m| views::member(m, &state.external_url))
        .collect();
    Ok(state.page_response(&uri, page, total, items))
}

async fn show_all(
    state: AppState,
    kind: Kind,
    user: User,
    id: String,
    member: String,
) -> Result<Json<views::MemberEntity>, ApiError> {
    let (source, _) = find(&state, kind, &id, &user).await?;
    let uid = user_id(&member)?;
    let everyone = members::all_members(&state, source.target()).await?;
    let found: Option<&Member> = everyone.iter().find(|m| m.user.id == uid);
    let found = found.ok_or(ApiError::RecordNotFound)?;
    Ok(Json(views::member(found, &state.external_url)))
}

async fn show(
    state: AppState,
    kind: Kind,
    user: User,
    id: String,
    member: String,
) -> Result<Json<views::MemberEntity>, ApiError> {
    let (source, _) = find(&state, kind, &id, &user).await?;
    let member = members::find_member(&state, source.target(), user_id(&member)?).await?;
    Ok(Json(views::member(&member, &state.external_url)))
}

async fn add(
    state: AppState,
    kind: Kind,
    user: User,
    id: String,
    params: Params,
) -> Result<Response, ApiError> {
    let (source, caller) = find(&state, kind, &id, &user).await?;
    let body: MemberAddBody = params.parse()?;
    let level = access_level(body.access_level)?;
    let expires = expires_at(body.expires_at)?.flatten();
    let member = members::add_member(
        &state,
        source.target(),
        caller,
        &body.user_id,
        level,
        expires,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(views::member(&member, &state.external_url)),
    )
        .into_response())
}

async fn update(
    state: AppState,
    kind: Kind,
    user: User,
    id: String,
    member: String,
    params: Params,
) -> Result<Json<views::MemberEntity>, ApiError> {
    let (source, caller) = find(&state, kind, &id, &user).await?;
    let body: MemberUpdateBody = params.parse()?;
    let level = access_level(body.access_level)?;
    let expires = expires_at(body.expires_at)?;
    let member = members::find_member(&state, source.target(), user_id(&member)?).await?;
    let updated =
        members::update_member(&state, source.target(), caller, &member, level, expires).await?;
    Ok(Json(views::member(&updated, &state.external_url)))
}

async fn remove(
    state: AppState,
    kind: Kind,
    user: User,
    id: String,
    member: String,
) -> Result<StatusCode, ApiError> {
    let (source, caller) = find(&state, kind, &id, &user).await?;
    let member = members::find_member(&state, source.target(), user_id(&member)?).await?;
    members::remove_member(&state, source.target(), caller, &user, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a project's direct members.
#[utoipa::path(get, path = "/projects/{id}/members", tag = "members",
    params(ProjectId, Pagination),
    responses((status = 200, description = "The members, paginated", body = Vec<views::MemberEntity>)))]
async fn list_project(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    list(state, Kind::Project, user, id, uri, params).await
}

/// List a project's members, inherited ones included.
///
/// The project's own members and those of every group above it, once each with their highest
/// access level.
#[utoipa::path(get, path = "/projects/{id}/members/all", tag = "members",
    params(ProjectId, Pagination),
    responses((status = 200, description = "The members, paginated", body = Vec<views::MemberEntity>)))]
async fn all_project(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    all(state, Kind::Project, user, id, uri, params).await
}

/// Get one member of a project, counting inherited memberships.
#[utoipa::path(get, path = "/projects/{id}/members/all/{user_id}", tag = "members",
    params(ProjectId, MemberUserId),
    responses((status = 200, description = "The member", body = views::MemberEntity)))]
async fn show_all_project(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<views::MemberEntity>, ApiError> {
    show_all(state, Kind::Project, user, id, member).await
}

/// Get one direct member of a project.
#[utoipa::path(get, path = "/projects/{id}/members/{user_id}", tag = "members",
    params(ProjectId, MemberUserId),
    responses((status = 200, description = "The member", body = views::MemberEntity)))]
async fn show_project(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<views::MemberEntity>, ApiError> {
    show(state, Kind::Project, user, id, member).await
}

/// Add a member to a project.
#[utoipa::path(post, path = "/projects/{id}/members", tag = "members",
    params(ProjectId),
    request_body(content = MemberAddBody, description = "The user, their access level and expiry"),
    responses(
        (status = 201, description = "The new member", body = views::MemberEntity),
        (status = 409, description = "The user is a member already", body = ErrorBody)))]
async fn add_project(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    add(state, Kind::Project, user, id, params).await
}

/// Change a project member's access level or expiry.
#[utoipa::path(put, path = "/projects/{id}/members/{user_id}", tag = "members",
    params(ProjectId, MemberUserId),
    request_body(content = MemberUpdateBody, description = "The new access level and expiry"),
    responses((status = 200, description = "The member", body = views::MemberEntity)))]
async fn update_project(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
    params: Params,
) -> Result<Json<views::MemberEntity>, ApiError> {
    update(state, Kind::Project, user, id, member, params).await
}

/// Remove a member from a project (anyone may leave).
#[utoipa::path(delete, path = "/projects/{id}/members/{user_id}", tag = "members",
    params(ProjectId, MemberUserId),
    responses((status = 204, description = "Removed")))]
async fn remove_project(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove(state, Kind::Project, user, id, member).await
}

/// List a group's direct members.
#[utoipa::path(get, path = "/groups/{id}/members", tag = "members",
    params(GroupId, Pagination),
    responses((status = 200, description = "The members, paginated", body = Vec<views::MemberEntity>)))]
async fn list_group(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    list(state, Kind::Group, user, id, uri, params).await
}

/// List a group's members, inherited ones included.
///
/// The group's own members and those of every group above it, once each with their highest
/// access level.
#[utoipa::path(get, path = "/groups/{id}/members/all", tag = "members",
    params(GroupId, Pagination),
    responses((status = 200, description = "The members, paginated", body = Vec<views::MemberEntity>)))]
async fn all_group(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    all(state, Kind::Group, user, id, uri, params).await
}

/// Get one member of a group, counting inherited memberships.
#[utoipa::path(get, path = "/groups/{id}/members/all/{user_id}", tag = "members",
    params(GroupId, MemberUserId),
    responses((status = 200, description = "The member", body = views::MemberEntity)))]
async fn show_all_group(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<views::MemberEntity>, ApiError> {
    show_all(state, Kind::Group, user, id, member).await
}

/// Get one direct member of a group.
#[utoipa::path(get, path = "/groups/{id}/members/{user_id}", tag = "members",
    params(GroupId, MemberUserId),
    responses((status = 200, description = "The member", body = views::MemberEntity)))]
async fn show_group(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<views::MemberEntity>, ApiError> {
    show(state, Kind::Group, user, id, member).await
}

/// Add a member to a group.
#[utoipa::path(post, path = "/groups/{id}/members", tag = "members",
    params(GroupId),
    request_body(content = MemberAddBody, description = "The user, their access level and expiry"),
    responses(
        (status = 201, description = "The new member", body = views::MemberEntity),
        (status = 409, description = "The user is a member already", body = ErrorBody)))]
async fn add_group(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    add(state, Kind::Group, user, id, params).await
}

/// Change a group member's access level or expiry.
#[utoipa::path(put, path = "/groups/{id}/members/{user_id}", tag = "members",
    params(GroupId, MemberUserId),
    request_body(content = MemberUpdateBody, description = "The new access level and expiry"),
    responses((status = 200, description = "The member", body = views::MemberEntity)))]
async fn update_group(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
    params: Params,
) -> Result<Json<views::MemberEntity>, ApiError> {
    update(state, Kind::Group, user, id, member, params).await
}

/// Remove a member from a group (anyone may leave; the last Owner stays).
#[utoipa::path(delete, path = "/groups/{id}/members/{user_id}", tag = "members",
    params(GroupId, MemberUserId),
    responses((status = 204, description = "Removed")))]
async fn remove_group(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove(state, Kind::Group, user, id, member).await
}
