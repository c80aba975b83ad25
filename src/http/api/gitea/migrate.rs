//! `POST /repos/migrate`: Gitea's repository migration as pushmirror's import
//! (`service::imports`): the repository is created at once and answered (201), and a durable job
//! clones every branch and tag of `clone_addr`; with `mirror`, the repository then stays a pull
//! mirror of it, synced every `mirror_interval`. `service` `git`, `gitea`, `gitlab` and `github`
//! are all plain git (no issues, releases or wikis are brought); other services are refused.
//! `auth_token` is sent as the password (user `oauth2` unless `auth_username` is given), which
//! GitHub, GitLab and Gitea all take over HTTPS. `repo_owner` is a user or a top-level group
//! (the two-segment rule); absent, the caller's own namespace.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::GiteaCaller;
use super::error::GiteaError;
use super::views;
use crate::http::AppState;
use crate::model::access::Visibility;
use crate::model::go_duration::parse_go_duration;
use crate::model::url::{Credentials, MirrorTarget};
use crate::service::error::ServiceError;
use crate::service::imports::{create_imported_project, ImportRequest};
use crate::service::projects::ProjectRequest;
use crate::service::upstreams::UpstreamRequest;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(migrate))
}

/// A mirror's interval when the request names none: Gitea's `[mirror] DEFAULT_INTERVAL`.
const DEFAULT_MIRROR_INTERVAL_SECS: i64 = 8 * 3600;

/// Gitea's `MigrateRepoOptions`; `wiki`, `milestones`, `labels`, `issues`, `pull_requests`,
/// `releases`, `lfs` and `lfs_endpoint` are accepted and ignored (LFS objects come with the
/// import whenever the server hosts LFS).
// No `Debug`: it holds a password and a token.
#[derive(Deserialize, ToSchema)]
struct MigrateRepoOptions {
    /// The repository to clone (`https://`, `http://`, `ssh://`, `git://`), without credentials.
    #[schema(example = "https://127.0.0.1:9/source.git")]
    clone_addr: String,
    /// The new repository's name.
    #[schema(example = "migrated")]
    repo_name: String,
    /// A user's username or a top-level group's path (default: the caller).
    repo_owner: Option<String>,
    /// `git` (default), `gitea`, `gitlab` or `github`: all cloned as plain git.
    #[schema(example = "git")]
    service: Option<String>,
    auth_username: Option<String>,
    auth_password: Option<String>,
    /// A token of the source forge, sent as the password.
    auth_token: Option<String>,
    /// Whether the repository stays a pull mirror of `clone_addr`.
    mirror: Option<bool>,
    /// Between the mirror's syncs, a Go duration (default `8h0m0s`).
    #[schema(example = "8h0m0s")]
    mirror_interval: Option<String>,
    private: Option<bool>,
    description: Option<String>,
    // Accepted from Gitea's clients, and ignored.
    #[allow(dead_code)]
    wiki: Option<bool>,
    #[allow(dead_code)]
    milestones: Option<bool>,
    #[allow(dead_code)]
    labels: Option<bool>,
    #[allow(dead_code)]
    issues: Option<bool>,
    #[allow(dead_code)]
    pull_requests: Option<bool>,
    #[allow(dead_code)]
    releases: Option<bool>,
    #[allow(dead_code)]
    lfs: Option<bool>,
    #[allow(dead_code)]
    lfs_endpoint: Option<String>,
}

/// The services cloned as plain git.
const PLAIN_GIT: [&str; 4] = ["git", "gitea", "gitlab", "github"];

/// The import a migration asks for, with Gitea's refusals (422).
fn import_request(o: &MigrateRepoOptions) -> Result<(ProjectRequest, ImportRequest), GiteaError> {
    let service = o.service.as_deref().unwrap_or("git").to_ascii_lowercase();
    if !PLAIN_GIT.contains(&service.as_str()) {
        return Err(GiteaError::Unprocessable(format!(
            "service {service:?} is not supported: use git, gitea, gitlab or github"
        )));
    }
    if o.repo_owner
        .as_deref()
        .is_some_and(|owner| owner.contains('/'))
    {
        return Err(GiteaError::Unprocessable(
            "repo_owner must be a user or a top-level group".into(),
        ));
    }
    let target = MirrorTarget::from_url(o.clone_addr.trim());
    if target
        .credentials
        .as_ref()
        .is_some_and(|c| c.password.is_some())
    {
        return Err(GiteaError::Unprocessable(
            "clone_addr contains credentials: send them as auth_username and auth_password".into(),
        ));
    }
    let token = o.auth_token.as_deref().filter(|t| !t.is_empty());
    let user = match (o.auth_username.as_deref(), token) {
        (Some(u), _) if !u.is_empty() => Some(u),
        (_, Some(_)) => Some("oauth2"),
        _ => None,
    };
    let typed = Credentials::typed(user, token.or(o.auth_password.as_deref()));
    let mirror = match o.mirror.unwrap_or(false) {
        false => None,
        true => {
            let interval = match o.mirror_interval.as_deref() {
                None | Some("") => DEFAULT_MIRROR_INTERVAL_SECS,
                Some(text) => parse_go_duration(text.trim()).map_err(|e| {
                    GiteaError::Unprocessable(format!("invalid mirror_interval: {e}"))
                })?,
            };
            let mut settings = crate::service::pull_mirrors::default_settings();
            // Gitea's mirrors are exact copies.
            settings.overwrite_diverged = true;
            settings.interval_secs = interval;
            Some(settings)
        }
    };
    let project = ProjectRequest {
        name: Some(o.repo_name.clone()),
        path: Some(o.repo_name.clone()),
        namespace: o.repo_owner.clone(),
        description: o.description.clone().filter(|d| !d.is_empty()),
        visibility: match o.private.unwrap_or(false) {
            true => Visibility::Private,
            false => Visibility::Public,
        },
        ..ProjectRequest::default()
    };
    let import = ImportRequest {
        upstream: UpstreamRequest {
            target: MirrorTarget {
                url: target.url,
                credentials: typed.or(target.credentials),
            },
            ..UpstreamRequest::default()
        },
        mirror,
    };
    Ok((project, import))
}

/// Migrate a remote git repository.
#[utoipa::path(post, path = "/repos/migrate", tag = "repository", operation_id = "repoMigrate",
    request_body(content = MigrateRepoOptions, content_type = "application/json"),
    responses((status = 201, description = "The repository, its import under way",
        body = views::Repository),
        (status = 409, description = "The owner has a repository of that name",
        body = super::openapi::ApiErrorBody)))]
async fn migrate(
    State(state): State<AppState>,
    GiteaCaller(user): GiteaCaller,
    body: Bytes,
) -> Result<(StatusCode, Json<views::Repository>), GiteaError> {
    let user = user.ok_or(GiteaError::Unauthorized("token is required"))?;
    let options: MigrateRepoOptions = serde_json::from_slice(&body).map_err(|e| {
        GiteaError::Unprocessable(format!("the body is not a MigrateRepoOptions: {e}"))
    })?;
    let (project_req, import) = import_request(&options)?;
    let mirrored = import.mirror.is_some();
    let (project, level, _) = create_imported_project(&state, &user, project_req, import)
        .await
        .map_err(|e| match e {
            ServiceError::Invalid(errors)
                if errors
                    .0
                    .values()
                    .flatten()
                    .any(|m| m == "has already been taken") =>
            {
                GiteaError::Conflict("The repository with the same name already exists.".into())
            }
            // Gitea's answer to an owner the caller may not create repositories for.
            ServiceError::Invalid(errors) if errors.0.contains_key("namespace") => {
                GiteaError::Forbidden("cannot create repositories for this owner".into())
            }
            e => e.into(),
        })?;
    let (project, caller) = crate::service::projects::admit(Some((project, level)), Some(&user))?;
    let repo = views::repository(
        &project,
        &caller,
        mirrored,
        &state.external_url,
        state.ssh_clone_base.as_ref(),
    );
    Ok((StatusCode::CREATED, Json(repo)))
}
