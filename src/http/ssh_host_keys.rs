//! SSH host-key detection, GitLab's `Projects::MirrorsController#ssh_host_keys`: served as
//! `GET /api/v4/projects/:id/mirror/ssh_host_keys` and at GitLab's own web route,
//! `GET /<namespace>/<project>/-/mirror/ssh_host_keys.json` (which `http::git::path` recognises
//! for the router's fallback). Both take `ssh_url` and an optional `compare_host_keys`, need what the
//! remote-mirror endpoints need (Maintainer+ or admin), and answer GitLab's shape; the scan is
//! `service::ssh_host_keys`. Unlike GitLab, which answers 204 while a background scan runs and
//! lets the client poll, the scan runs within the request under its deadline.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::gitlab::error::ApiError;
use super::api::gitlab::openapi::ProjectId;
use super::api::gitlab::params::{lenient, Params};
use super::api::gitlab::remote_mirrors::mirror_project;
use super::api::gitlab::views;
use super::auth::MaybeUser;
use super::AppState;
use crate::model::entities::User;
use crate::service::error::Refusal;
use crate::service::ssh_host_keys::detect;

/// Only the `/api/v4` route is documented: GitLab's web route is served from the router's
/// fallback, outside the API.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(api))
}

/// The scan's parameters, on either route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ScanQuery {
    /// The `ssh://` URL of the remote whose host to scan (`Invalid URL` when missing).
    #[serde(default, deserialize_with = "lenient::string")]
    #[param(required = true)]
    ssh_url: Option<String>,
    /// `known_hosts` text to compare the keys found with (`host_keys_changed`).
    #[serde(default, deserialize_with = "lenient::string")]
    compare_host_keys: Option<String>,
}

/// Detect the SSH host keys of a mirror's remote (Maintainer or admin), to pin them as the
/// mirror's `host_keys`.
#[utoipa::path(get, path = "/projects/{id}/mirror/ssh_host_keys", tag = "ssh_host_keys",
    params(ProjectId, ScanQuery),
    responses((status = 200, description = "The keys found", body = views::SshHostKeysEntity)))]
async fn api(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<views::SshHostKeysEntity>, ApiError> {
    detect_for(&state, &id, user.as_ref(), &params).await
}

// GET /<namespace>/<project>/-/mirror/ssh_host_keys.json (GitLab's web route)
pub(super) async fn web(state: AppState, project_path: String, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let result = async {
        if parts.method != axum::http::Method::GET {
            return Err(ApiError::MethodNotAllowed);
        }
        let MaybeUser(user) = MaybeUser::from_request_parts(&mut parts, &state).await?;
        let params = Params::from_request(Request::from_parts(parts, body), &state).await?;
        detect_for(&state, &project_path, user.as_ref(), &params).await
    }
    .await;
    match result {
        Ok(json) => json.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The before-filter (the project, Maintainer+), then the scan.
async fn detect_for(
    state: &AppState,
    project: &str,
    user: Option<&User>,
    params: &Params,
) -> Result<Json<views::SshHostKeysEntity>, ApiError> {
    mirror_project(state, project, user).await?;
    let query: ScanQuery = params.parse()?;
    let Some(ssh_url) = query.ssh_url else {
        return Err(ApiError::BadRequest(Refusal::HostKeyScanUrl.to_string()));
    };
    let found = detect(state, &ssh_url, query.compare_host_keys.as_deref()).await?;
    Ok(Json(views::ssh_host_keys(&found)))
}
