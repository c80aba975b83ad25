//! `/projects/:id/members` and `/groups/:id/members`: list, show, add, change, remove, with
//! GitLab's access levels and `expires_at`; and `/members/all` (and `/members/all/:user_id`),
//! which count every ancestor group's members too. The rules are `service::members`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::CurrentUser;
use super::error::ApiError;
use super::groups::find_group;
use super::pagination::page_request;
use super::params::{invalid, not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::model::access::{AccessLevel, Caller};
use crate::model::entities::{Group, Member, Project, User};
use crate::model::membership::parse_expiry;
use crate::service::members::{self, Target};
use crate::store::PageRequest;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/members", get(list_p).post(add_p))
        .route("/projects/{id}/members/all", get(all_p))
        .route("/projects/{id}/members/all/{user_id}", get(show_all_p))
        .route(
            "/projects/{id}/members/{user_id}",
            get(show_p).put(update_p).delete(remove_p),
        )
        .route("/groups/{id}/members", get(list_g).post(add_g))
        .route("/groups/{id}/members/all", get(all_g))
        .route("/groups/{id}/members/all/{user_id}", get(show_all_g))
        .route(
            "/groups/{id}/members/{user_id}",
            get(show_g).put(update_g).delete(remove_g),
        )
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

/// `access_level`, required, one of GitLab's levels.
fn access_level(params: &Params) -> Result<AccessLevel, ApiError> {
    let level = params
        .int("access_level")?
        .ok_or_else(|| ApiError::Param("access_level is missing".into()))?;
    AccessLevel::from_i64(level).ok_or_else(|| not_valid_value("access_level"))
}

/// `expires_at` as Grape's `DateTime` takes it: absent is `None`; null or blank clears
/// (`Some(None)`); anything else must be a date (`expires_at is invalid`).
fn expires_at(params: &Params) -> Result<Option<Option<String>>, ApiError> {
    match params.string("expires_at")? {
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
) -> Result<Json<Value>, ApiError> {
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
) -> Result<Json<Value>, ApiError> {
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
    let who = params.required_string("user_id")?;
    let level = access_level(&params)?;
    let expires = expires_at(&params)?.flatten();
    let member = members::add_member(&state, source.target(), caller, &who, level, expires).await?;
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
) -> Result<Json<Value>, ApiError> {
    let (source, caller) = find(&state, kind, &id, &user).await?;
    let level = access_level(&params)?;
    let expires = expires_at(&params)?;
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

// GET /projects/:id/members
async fn list_p(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    list(state, Kind::Project, user, id, uri, params).await
}

// GET /groups/:id/members
async fn list_g(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    list(state, Kind::Group, user, id, uri, params).await
}

// GET /projects/:id/members/all
async fn all_p(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    all(state, Kind::Project, user, id, uri, params).await
}

// GET /groups/:id/members/all
async fn all_g(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    all(state, Kind::Group, user, id, uri, params).await
}

// GET /projects/:id/members/all/:user_id
async fn show_all_p(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    show_all(state, Kind::Project, user, id, member).await
}

// GET /groups/:id/members/all/:user_id
async fn show_all_g(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    show_all(state, Kind::Group, user, id, member).await
}

// GET /projects/:id/members/:user_id
async fn show_p(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    show(state, Kind::Project, user, id, member).await
}

// GET /groups/:id/members/:user_id
async fn show_g(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    show(state, Kind::Group, user, id, member).await
}

// POST /projects/:id/members
async fn add_p(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    add(state, Kind::Project, user, id, params).await
}

// POST /groups/:id/members
async fn add_g(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    add(state, Kind::Group, user, id, params).await
}

// PUT /projects/:id/members/:user_id
async fn update_p(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    update(state, Kind::Project, user, id, member, params).await
}

// PUT /groups/:id/members/:user_id
async fn update_g(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    update(state, Kind::Group, user, id, member, params).await
}

// DELETE /projects/:id/members/:user_id
async fn remove_p(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove(state, Kind::Project, user, id, member).await
}

// DELETE /groups/:id/members/:user_id
async fn remove_g(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove(state, Kind::Group, user, id, member).await
}
