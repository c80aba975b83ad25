//! `GET /repos/{owner}/{repo}`, and the lookup every `/repos/{owner}/{repo}/…` route starts
//! with: `{owner}/{repo}` is the full path of a project, so only projects whose path has
//! exactly two segments (a user's, or a top-level group's) are reachable here; deeper ones are
//! the GitLab API's. A segment holding a `/` (sent as `%2F`) names nothing, and a project the
//! caller may not see is a 404, as in Gitea.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::GiteaCaller;
use super::error::GiteaError;
use super::views;
use crate::http::AppState;
use crate::model::access::Caller;
use crate::model::entities::{Project, User};
use crate::service::error::ServiceError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_repo))
}

/// The `{owner}/{repo}` segments.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segments as strings
pub(super) struct RepoPath {
    /// The owner: a user's username, or a top-level group's path.
    owner: String,
    /// The repository: the project's path.
    repo: String,
}

/// The project `owner/repo` names, and what `user` is to it; 404 when there is none the caller
/// may see.
pub(super) async fn find_repo(
    state: &AppState,
    owner: &str,
    repo: &str,
    user: Option<&User>,
) -> Result<(Project, Caller), GiteaError> {
    let segment = |s: &str| !s.is_empty() && !s.contains('/');
    if !segment(owner) || !segment(repo) {
        return Err(GiteaError::NotFound);
    }
    let id = format!("{owner}/{repo}");
    // Gitea hides a private repository from anonymous callers (404), where GitLab asks them
    // to sign in.
    crate::service::projects::find_project(state, &id, user)
        .await
        .map_err(|e| match e {
            ServiceError::Unauthenticated => GiteaError::NotFound,
            e => e.into(),
        })
}

/// Get a repository.
#[utoipa::path(get, path = "/repos/{owner}/{repo}", tag = "repository", operation_id = "repoGet",
    params(RepoPath),
    responses((status = 200, description = "The repository", body = views::Repository)))]
async fn get_repo(
    State(state): State<AppState>,
    GiteaCaller(user): GiteaCaller,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Json<views::Repository>, GiteaError> {
    let (project, caller) = find_repo(&state, &owner, &repo, user.as_ref()).await?;
    let pull_mirror = crate::service::imports::mirror_state(&state, &project)
        .await?
        .is_some();
    Ok(Json(views::repository(
        &project,
        &caller,
        pull_mirror,
        &state.external_url,
        state.ssh_clone_base.as_ref(),
    )))
}
