//! `GET /user`, `GET /users`, `GET /users/:id`, `GET /version` (and `/metadata`), and the admin
//! calls: `POST /users`, `PUT /users/:id`, `POST /users/:id/block` and `/unblock`. The rules are
//! `service::users`; this module extracts parameters and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::model::accounts::{AccountChanges, UserState};
use crate::model::entities::User;
use crate::service::users as svc;
use crate::store::UserFilter;

use super::error::ApiError;
use super::openapi::Pagination;
use super::pagination::page_request;
use super::params::{lenient, Params};
use super::{views, AppState};
use crate::http::auth::CurrentUser;

/// The GitLab API version pushmirror answers as: the newest one whose remote-mirror API it matches.
pub(in crate::http) const GITLAB_API_VERSION: &str = crate::model::GITLAB_VERSION;

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current_user))
        .routes(routes!(list_users, create_user))
        .routes(routes!(show_user, update_user))
        .routes(routes!(block_user))
        .routes(routes!(unblock_user))
        .routes(routes!(version))
        .routes(routes!(metadata))
}

/// The `:id` segment of `/users/:id`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct UserId {
    /// The user's id.
    id: i64,
}

/// Get the authenticated user.
#[utoipa::path(get, path = "/user", tag = "users",
    responses((status = 200, description = "The caller's full user entity", body = views::UserFullEntity)))]
async fn current_user(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Json<views::UserFullEntity> {
    Json(views::user_full(&user, &state.external_url))
}

/// The filters of `GET /users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserListQuery {
    /// Only the user with this username (case-insensitive).
    #[serde(default, deserialize_with = "lenient::string")]
    username: Option<String>,
    /// Only users whose username or name contains this, or whose e-mail address is exactly
    /// this, case-insensitively; empty matches everybody.
    #[serde(default, deserialize_with = "lenient::string")]
    search: Option<String>,
    /// Only active users (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    active: Option<bool>,
    /// Only blocked users, for administrators (default false); with `active`, nobody.
    #[serde(default, deserialize_with = "lenient::bool")]
    blocked: Option<bool>,
    /// Only administrators, for administrators (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    admins: Option<bool>,
}

/// List users (administrators see the full entity, with e-mail addresses).
#[utoipa::path(get, path = "/users", tag = "users",
    params(UserListQuery, Pagination),
    responses((status = 200, description = "The users, paginated", body = Vec<views::UserEntity>)))]
async fn list_users(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let query: UserListQuery = params.parse()?;
    let active = query.active.unwrap_or(false);
    let blocked = query.blocked.unwrap_or(false);
    let filter = UserFilter {
        username: query.username,
        search: query.search.filter(|s| !s.is_empty()),
        state: match (active, blocked) {
            (true, false) => Some(UserState::Active),
            (false, true) => Some(UserState::Blocked),
            // Both at once match nobody in GitLab; neither matches everybody.
            (true, true) => {
                return Ok(state.page_of_list(&uri, page, &[] as &[User], |_| json!({})))
            }
            (false, false) => None,
        },
        admins: query.admins.unwrap_or(false),
    };
    let users = svc::list(&state, &caller, filter).await?;
    // Administrators see the full entity (with e-mail addresses), as in GitLab.
    Ok(state.page_of_list(&uri, page, &users, |u| {
        views::user_as_seen(u, caller.is_admin, &state.external_url)
    }))
}

/// A user id from the path: anything but a number names no user.
fn user_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().map_err(|_| ApiError::NotFound("User"))
}

/// Get one user (administrators and the user themselves see the full entity).
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(UserId),
    responses((status = 200, description = "The user", body = views::UserEntity)))]
async fn show_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<views::UserEntity>, ApiError> {
    let user = svc::find(&state, user_id(&id)?).await?;
    // Admins and the user themselves see the full entity, as in GitLab.
    let full = caller.is_admin || caller.id == user.id;
    Ok(Json(views::user_as_seen(&user, full, &state.external_url)))
}

/// A new user's account, as `POST /users` takes it.
// No `Debug`: it holds a credential (a password, or a URL that may carry one).
#[derive(Deserialize, ToSchema)]
struct UserCreateBody {
    /// The login name, also the user's namespace path (required).
    #[serde(default, deserialize_with = "lenient::string")]
    // Read as optional: the service reports a missing one (`can't be blank`) with the others.
    #[schema(value_type = String, required = true)]
    username: Option<String>,
    /// The display name (required).
    #[serde(default, deserialize_with = "lenient::string")]
    // Read as optional: the service reports a missing one (`can't be blank`) with the others.
    #[schema(value_type = String, required = true)]
    name: Option<String>,
    /// The e-mail address (required).
    #[serde(default, deserialize_with = "lenient::string")]
    // Read as optional: the service reports a missing one (`can't be blank`) with the others.
    #[schema(value_type = String, required = true)]
    email: Option<String>,
    /// The password, 8 to 128 characters; required unless `reset_password` or
    /// `force_random_password` is true.
    #[serde(default, deserialize_with = "lenient::string")]
    password: Option<String>,
    /// Make the user an administrator (default false).
    #[serde(default, deserialize_with = "lenient::nullable_bool")]
    admin: Option<Option<bool>>,
    /// The same as `admin`, read only when `admin` is not given.
    #[serde(default, deserialize_with = "lenient::bool")]
    is_admin: Option<bool>,
    /// Give the user no password (they work with tokens only; default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    reset_password: Option<bool>,
    /// Give the user no password anyone knows (they work with tokens only; default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    force_random_password: Option<bool>,
}

/// The account changes `PUT /users/:id` takes; an absent parameter leaves its field as it is.
// No `Debug`: it holds a credential (a password, or a URL that may carry one).
#[derive(Deserialize, ToSchema)]
struct UserUpdateBody {
    /// The new login name (the user's namespace path changes with it).
    #[serde(default, deserialize_with = "lenient::string")]
    username: Option<String>,
    /// The new display name.
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    /// The new e-mail address.
    #[serde(default, deserialize_with = "lenient::string")]
    email: Option<String>,
    /// The new password, 8 to 128 characters.
    #[serde(default, deserialize_with = "lenient::string")]
    password: Option<String>,
    /// Whether the user is an administrator; the last active administrator cannot be demoted.
    /// Null leaves it as it is.
    #[serde(default, deserialize_with = "lenient::nullable_bool")]
    admin: Option<Option<bool>>,
    /// The same as `admin`, read only when `admin` is not given.
    #[serde(default, deserialize_with = "lenient::bool")]
    is_admin: Option<bool>,
}

/// The admin flag a request sets: `admin` is GitLab's name for it; `is_admin` is accepted too.
fn admin_flag(admin: Option<Option<bool>>, is_admin: Option<bool>) -> Option<bool> {
    match admin {
        Some(v) => v,
        None => is_admin,
    }
}

/// Create a user (administrators only).
#[utoipa::path(post, path = "/users", tag = "users",
    request_body(content = UserCreateBody, description = "The new account; `username`, `name`, `email` and a password (or `reset_password` or `force_random_password`) are required"),
    responses(
        (status = 201, description = "The new user's full entity", body = views::UserFullEntity),
        (status = 409, description = "The username or e-mail address is taken", body = super::openapi::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    params: Params,
) -> Result<(StatusCode, Json<views::UserFullEntity>), ApiError> {
    if !caller.is_admin {
        return Err(ApiError::Forbidden);
    }
    let body: UserCreateBody = params.parse()?;
    let mut changes = AccountChanges {
        username: body.username,
        name: body.name,
        email: body.email,
        password: body.password,
        admin: admin_flag(body.admin, body.is_admin),
    };
    // GitLab wants a password unless one of these says there is none to give.
    let no_password =
        body.reset_password.unwrap_or(false) || body.force_random_password.unwrap_or(false);
    if changes.password.is_none() && !no_password {
        return Err(ApiError::Param(
            "password, reset_password, force_random_password are missing, at least one parameter must be provided"
                .into(),
        ));
    }
    if no_password {
        // No password anyone knows: the user works with tokens only.
        changes.password = None;
    }
    let user = svc::create(&state, &caller, changes).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::user_full(&user, &state.external_url)),
    ))
}

/// Change a user's account (administrators only).
#[utoipa::path(put, path = "/users/{id}", tag = "users",
    params(UserId),
    request_body(content = UserUpdateBody, description = "The fields to change"),
    responses(
        (status = 200, description = "The user's full entity", body = views::UserFullEntity),
        (status = 409, description = "The username or e-mail address is taken", body = super::openapi::ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<views::UserFullEntity>, ApiError> {
    if !caller.is_admin {
        return Err(ApiError::Forbidden);
    }
    let id = user_id(&id)?;
    let body: UserUpdateBody = params.parse()?;
    let changes = AccountChanges {
        username: body.username,
        name: body.name,
        email: body.email,
        password: body.password,
        admin: admin_flag(body.admin, body.is_admin),
    };
    let user = svc::update(&state, &caller, id, changes).await?;
    Ok(Json(views::user_full(&user, &state.external_url)))
}

/// Block a user (administrators only; not oneself).
///
/// Their tokens stop working at once. Answers 201 `true`, as GitLab.
#[utoipa::path(post, path = "/users/{id}/block", tag = "users",
    params(UserId),
    responses((status = 201, description = "Blocked (or already blocked)", body = bool, content_type = "application/json")))]
async fn block_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<bool>), ApiError> {
    svc::set_blocked(&state, &caller, user_id(&id)?, true).await?;
    Ok((StatusCode::CREATED, Json(true)))
}

/// Unblock a user (administrators only).
///
/// Answers 201 `true`, as GitLab.
#[utoipa::path(post, path = "/users/{id}/unblock", tag = "users",
    params(UserId),
    responses((status = 201, description = "Unblocked (or not blocked)", body = bool, content_type = "application/json")))]
async fn unblock_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<bool>), ApiError> {
    svc::set_blocked(&state, &caller, user_id(&id)?, false).await?;
    Ok((StatusCode::CREATED, Json(true)))
}

/// GitLab's version entity.
#[derive(Debug, Serialize, ToSchema)]
struct VersionEntity {
    /// The GitLab version whose API pushmirror serves.
    version: &'static str,
    /// `pushmirror-<version>`: the server that answers.
    revision: &'static str,
    /// GitLab's agent server, which pushmirror does not run.
    kas: Kas,
    /// Always true: the Premium APIs pushmirror serves (protected-branch user lists) are there.
    enterprise: bool,
}

/// GitLab's agent server (KAS) in the version entity: never enabled here.
#[derive(Debug, Serialize, ToSchema)]
struct Kas {
    /// Always false.
    enabled: bool,
    /// Always null.
    #[serde(rename = "externalUrl")]
    external_url: Option<String>,
    /// Always null.
    version: Option<String>,
}

/// The version entity `GET /version` and `GET /metadata` answer with.
fn version_entity() -> VersionEntity {
    VersionEntity {
        version: GITLAB_API_VERSION,
        revision: concat!("pushmirror-", env!("CARGO_PKG_VERSION")),
        kas: Kas {
            enabled: false,
            external_url: None,
            version: None,
        },
        enterprise: true,
    }
}

/// Get the GitLab version pushmirror answers as.
#[utoipa::path(get, path = "/version", tag = "users",
    responses((status = 200, description = "The version", body = VersionEntity)))]
async fn version(CurrentUser(_): CurrentUser) -> Json<VersionEntity> {
    Json(version_entity())
}

/// Get the instance's metadata.
///
/// GitLab 15.2's name for `GET /version` (which @gitbeaker's `Metadata.show()` calls): the
/// same entity.
#[utoipa::path(get, path = "/metadata", tag = "users",
    responses((status = 200, description = "The version", body = VersionEntity)))]
async fn metadata(CurrentUser(_): CurrentUser) -> Json<VersionEntity> {
    Json(version_entity())
}
