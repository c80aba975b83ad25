//! `/projects/:id/mirror/pull` (GitLab 17.6+): show, configure and sync a project's pull
//! mirror, and `/projects/:id/import` (status, cancel, and a retry GitLab lacks). The rules are
//! `service::pull_mirrors` and `service::imports`; this module extracts parameters and renders
//! GitLab's JSON. `POST …/mirror/pull` ignores its body and takes a token in the query, so an
//! upstream's push webhook (GitHub, GitLab, Gitea) can point at it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::openapi::ProjectId;
use super::params::{lenient, not_valid_value, typed_credentials, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::http::auth::{CurrentUser, MaybeUser};
use crate::model::entities::{AuthMethod, SshKeyType};
use crate::model::url::MirrorTarget;
use crate::service::error::ServiceError;
use crate::service::imports;
use crate::service::pull_mirrors::{self, PullRequest};
use crate::service::upstreams::UpstreamRequest;

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, configure, sync))
        .routes(routes!(import_status))
        .routes(routes!(import_cancel))
        .routes(routes!(import_retry))
}

/// Pull-mirror settings are for Maintainers (and admins); others get 401, as for push mirrors.
fn unauthorized(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Forbidden => ApiError::Unauthorized,
        e => e.into(),
    }
}

/// `PUT /projects/:id/mirror/pull`'s parameters.
// No `Debug`: it holds a credential.
#[derive(Deserialize, ToSchema)]
struct PullMirrorBody {
    /// Whether the mirror syncs; false turns pull mirroring off (every ref writable again).
    #[serde(default, deserialize_with = "lenient::bool")]
    enabled: Option<bool>,
    /// The upstream's URL (`https://`, `http://`, `ssh://`, `git://`); credentials in it are
    /// sealed and never shown again. Required for a project without a pull mirror.
    #[serde(default, deserialize_with = "lenient::string")]
    url: Option<String>,
    /// The user name for the upstream (write-only).
    #[serde(default, deserialize_with = "lenient::string")]
    auth_user: Option<String>,
    /// The password or token for the upstream (write-only).
    #[serde(default, deserialize_with = "lenient::string")]
    auth_password: Option<String>,
    /// Accepted and kept; pushmirror runs no pipelines.
    #[serde(default, deserialize_with = "lenient::bool")]
    mirror_trigger_builds: Option<bool>,
    /// Mirror only the branches protected here.
    #[serde(default, deserialize_with = "lenient::bool")]
    only_mirror_protected_branches: Option<bool>,
    /// Overwrite diverged branches and delete what the upstream deleted (an exact mirror).
    #[serde(default, deserialize_with = "lenient::bool")]
    mirror_overwrites_diverged_branches: Option<bool>,
    /// Mirror only the branches matching this RE2 regular expression; null or empty clears it.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    mirror_branch_regex: Option<Option<String>>,
    /// Extension: seconds between scheduled syncs (default 1800, at least the server's
    /// `--pull-mirror-min-interval`).
    #[serde(default, deserialize_with = "lenient::int")]
    interval: Option<i64>,
    /// Extension: `password` (default for http(s)) or `ssh_public_key` (default for `ssh://`).
    #[serde(default, deserialize_with = "lenient::string")]
    auth_method: Option<String>,
    /// Extension: the type of key pair made for `ssh_public_key`: `ed25519` (default) or `rsa`.
    #[serde(default, deserialize_with = "lenient::string")]
    ssh_key_type: Option<String>,
    /// Extension: the `ssh://` upstream's host keys to pin, in known_hosts form.
    #[serde(default, deserialize_with = "lenient::strings")]
    host_keys: Option<Vec<String>>,
}

pub(in crate::http) fn parse_auth_method(
    v: Option<String>,
) -> Result<Option<AuthMethod>, ApiError> {
    v.map(|s| AuthMethod::parse(&s).ok_or_else(|| not_valid_value("auth_method")))
        .transpose()
}

pub(in crate::http) fn parse_key_type(v: Option<String>) -> Result<Option<SshKeyType>, ApiError> {
    v.map(|s| SshKeyType::parse(&s).ok_or_else(|| not_valid_value("ssh_key_type")))
        .transpose()
}

/// Show the project's pull mirror (Maintainers).
#[utoipa::path(get, path = "/projects/{id}/mirror/pull", tag = "pull_mirror",
    params(ProjectId),
    responses((status = 200, description = "The pull mirror", body = views::PullMirrorEntity)))]
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<Json<views::PullMirrorEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let mirror = pull_mirrors::pull_mirror_of(&state, &project, caller)
        .await
        .map_err(unauthorized)?;
    Ok(Json(views::pull_mirror(mirror.as_ref())))
}

/// Configure the project's pull mirror (Maintainers); credentials can be changed without
/// recreating it.
#[utoipa::path(put, path = "/projects/{id}/mirror/pull", tag = "pull_mirror",
    params(ProjectId),
    request_body(content = PullMirrorBody, description = "The settings to change"),
    responses((status = 200, description = "The pull mirror", body = views::PullMirrorEntity)))]
async fn configure(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<views::PullMirrorEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    let body: PullMirrorBody = params.parse()?;
    let auth_method = parse_auth_method(body.auth_method)?;
    let ssh_key_type = parse_key_type(body.ssh_key_type)?;
    let typed = typed_credentials(body.auth_user, body.auth_password);
    let upstream = match body.url {
        Some(url) => Some(UpstreamRequest {
            target: MirrorTarget::from_url(&url).with_typed(typed),
            auth_method,
            ssh_key_type,
            host_keys: body.host_keys,
        }),
        // New credentials (or host keys) for the stored URL.
        None if typed.is_some() || body.host_keys.is_some() || auth_method.is_some() => {
            let stored = pull_mirrors::pull_mirror_of(&state, &project, caller)
                .await
                .map_err(unauthorized)?
                .ok_or_else(|| ApiError::Param("url is missing".into()))?;
            Some(UpstreamRequest {
                target: MirrorTarget {
                    url: stored.upstream.url.clone(),
                    credentials: typed,
                },
                auth_method,
                ssh_key_type,
                host_keys: body.host_keys,
            })
        }
        None => None,
    };
    let req = PullRequest {
        upstream,
        enabled: body.enabled,
        only_protected_branches: body.only_mirror_protected_branches,
        overwrite_diverged: body.mirror_overwrites_diverged_branches,
        mirror_branch_regex: body.mirror_branch_regex,
        trigger_builds: body.mirror_trigger_builds,
        interval_secs: body.interval,
    };
    let mirror = pull_mirrors::configure(&state, &project, caller, req)
        .await
        .map_err(unauthorized)?;
    Ok(Json(views::pull_mirror(Some(&mirror))))
}

/// Start a sync of the project's pull mirror now (anyone who may push; the body is ignored, so
/// an upstream's webhook can call it with `?private_token=`). Never rate-limited: a request
/// while a sync runs coalesces into one follow-up; a paused mirror resumes.
#[utoipa::path(post, path = "/projects/{id}/mirror/pull", tag = "pull_mirror",
    params(ProjectId),
    responses((status = 202, description = "The sync was asked for")))]
async fn sync(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    pull_mirrors::request_sync(&state, &project, caller).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The project's import status.
#[utoipa::path(get, path = "/projects/{id}/import", tag = "projects",
    params(ProjectId),
    responses((status = 200, description = "The import status", body = views::ImportStatusEntity)))]
async fn import_status(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<Json<views::ImportStatusEntity>, ApiError> {
    let (project, _) = find_project(&state, &id, user.as_ref()).await?;
    let import = imports::import_of(&state, &project).await?;
    Ok(Json(views::import_status(&project, import.as_ref())))
}

/// Cancel the project's running import (Maintainers); the project stays with what was fetched.
#[utoipa::path(post, path = "/projects/{id}/import/cancel", tag = "projects",
    params(ProjectId),
    responses((status = 200, description = "The import status", body = views::ImportStatusEntity)))]
async fn import_cancel(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<views::ImportStatusEntity>, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let import = imports::cancel_import(&state, &project, caller).await?;
    Ok(Json(views::import_status(&project, Some(&import))))
}

/// Extension: run a failed or canceled import again (Maintainers).
#[utoipa::path(post, path = "/projects/{id}/import/retry", tag = "projects",
    params(ProjectId),
    responses((status = 201, description = "The import status", body = views::ImportStatusEntity)))]
async fn import_retry(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<views::ImportStatusEntity>), ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    let import = imports::retry_import(&state, &project, caller).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::import_status(&project, Some(&import))),
    ))
}
