//! SSH host-key detection, GitLab's `Projects::MirrorsController#ssh_host_keys`: served as
//! `GET /api/v4/projects/:id/mirror/ssh_host_keys` and at GitLab's own web route,
//! `GET /<namespace>/<project>/-/mirror/ssh_host_keys.json` (which [`web_path`] recognises for
//! the router's fallback). Both take `ssh_url` and an optional `compare_host_keys`, need what the
//! remote-mirror endpoints need (Maintainer+ or admin), and answer GitLab's shape; the scan is
//! `service::ssh_host_keys`. Unlike GitLab, which answers 204 while a background scan runs and
//! lets the client poll, the scan runs within the request under its deadline.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::auth::MaybeUser;
use super::error::ApiError;
use super::params::Params;
use super::remote_mirrors::mirror_project;
use super::{views, AppState};
use crate::model::entities::User;
use crate::service::ssh_host_keys::{detect, INVALID_URL};

/// The suffix of GitLab's web route after the project's full path.
const WEB_SUFFIX: &str = "/-/mirror/ssh_host_keys.json";

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/projects/{id}/mirror/ssh_host_keys", get(api))
}

// GET /projects/:id/mirror/ssh_host_keys
async fn api(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<serde_json::Value>, ApiError> {
    detect_for(&state, &id, user.as_ref(), &params).await
}

/// The project path of GitLab's web route, if `path` is one (`/group/sub/proj/-/mirror/…`).
pub(super) fn web_path(path: &str) -> Option<String> {
    let project = path.strip_suffix(WEB_SUFFIX)?.strip_prefix('/')?;
    let decoded = percent_encoding::percent_decode_str(project)
        .decode_utf8()
        .ok()?;
    decoded.contains('/').then(|| decoded.into_owned())
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
) -> Result<Json<serde_json::Value>, ApiError> {
    mirror_project(state, project, user).await?;
    let Some(ssh_url) = params.string("ssh_url")?.flatten() else {
        return Err(ApiError::BadRequest(INVALID_URL.into()));
    };
    let compare = params.string("compare_host_keys")?.flatten();
    let found = detect(state, &ssh_url, compare.as_deref()).await?;
    Ok(Json(views::ssh_host_keys(&found)))
}
