//! `/projects/:id/remote_mirrors`: GitLab's seven remote-mirror endpoints (list, get, public_key,
//! create, update, sync, delete) and the key rotation GitLab lacks, with GitLab's before-filter
//! order: project lookup (404/401), then Maintainer+ or admin (401, not 403), then the mirror
//! lookup (`404 Not found`). The rules are `service::mirrors`; this module extracts parameters
//! and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::choices;
use super::error::ApiError;
use super::openapi::{Pagination, ProjectId};
use super::pagination::page_request;
use super::params::{lenient, not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::http::auth::MaybeUser;
use crate::model::access::Caller;
use crate::model::entities::{AuthMethod, LfsSync, Project, RemoteMirror, SshKeyType, User};
use crate::model::mirror_settings::{MirrorRequest, NotInList};
use crate::model::url::MirrorTarget;
use crate::service::error::ServiceError;
use crate::service::mirrors;
use crate::service::projects::{admit, numeric_id};

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(sync))
        .routes(routes!(public_key))
        .routes(routes!(rotate_key))
}

/// The `:mirror_id` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct MirrorId {
    /// The mirror's id.
    mirror_id: i64,
}

/// The before-filter: the project, and the caller's right to administer its mirrors.
pub(in crate::http) async fn mirror_project(
    state: &AppState,
    id: &str,
    user: Option<&User>,
) -> Result<Project, ApiError> {
    admit_admin(find_project(state, id, user).await?)
}

/// Mirrors are for a project's maintainers (and admins, `mirrors::admit_mirror_admin`); others
/// get 401, as in GitLab.
fn admit_admin(found: (Project, Caller)) -> Result<Project, ApiError> {
    mirrors::admit_mirror_admin(found).map_err(|e| match e {
        ServiceError::Forbidden => ApiError::Unauthorized,
        e => e.into(),
    })
}

/// The mirror named by the `:mirror_id` segment; anything but a mirror of `project` is
/// `404 Not found`.
async fn find_mirror(
    state: &AppState,
    project: &Project,
    mirror_id: &str,
) -> Result<RemoteMirror, ApiError> {
    let id = mirror_id
        .parse::<i64>()
        .map_err(|_| ApiError::RecordNotFound)?;
    Ok(mirrors::find_mirror(state, project.id, id).await?)
}

/// A mirror's settings as `POST` and `PUT` take them. `url` is required when creating; on
/// `PUT` every parameter is optional and an absent one is left as it is.
// No `Debug`: it holds a credential (a password, or a URL that may carry one).
#[derive(Deserialize, ToSchema)]
struct MirrorBody {
    /// The mirror's URL (`https://`, `http://`, `ssh://`, `git://` or scp-like `user@host:path`).
    /// Credentials in it are sealed and never shown again. Required when creating.
    #[serde(default, deserialize_with = "lenient::string")]
    url: Option<String>,
    /// Whether pushes update the mirror (default false).
    #[serde(default, deserialize_with = "lenient::nullable_bool")]
    enabled: Option<Option<bool>>,
    /// `password` (default) or `ssh_public_key`.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::AuthMethodName>, inline)]
    auth_method: Option<String>,
    /// Leave refs that diverged on the mirror alone instead of overwriting them.
    #[serde(default, deserialize_with = "lenient::nullable_bool")]
    keep_divergent_refs: Option<Option<bool>>,
    /// What happens to the Git LFS objects of pushed refs: `required` (default: uploaded first,
    /// refs not pushed unless all arrived), `best_effort` (refs pushed anyway, the update still
    /// fails) or `off` (no LFS request).
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::LfsSyncName>, inline)]
    lfs_sync: Option<String>,
    /// Push only protected branches (exclusive with `mirror_branch_regex`).
    #[serde(default, deserialize_with = "lenient::nullable_bool")]
    only_protected_branches: Option<Option<bool>>,
    /// Push only branches matching this RE2 regular expression; null or empty clears it.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    mirror_branch_regex: Option<Option<String>>,
    /// The SSH host keys to trust, in known_hosts form (pinned before the first push).
    #[serde(default, deserialize_with = "lenient::strings")]
    host_keys: Option<Vec<String>>,
    /// The type of the SSH key pair made for `ssh_public_key`: `ed25519` (default) or `rsa`.
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::SshKeyTypeName>, inline)]
    ssh_key_type: Option<String>,
    /// Not in GitLab: seconds between periodic updates beside those pushes trigger; 0 (the
    /// default) means only on push, else at least 600 (the Gitea API's `interval`).
    #[serde(default, deserialize_with = "lenient::int")]
    sync_interval: Option<i64>,
    /// Not in GitLab: whether a push updates the mirror (default true; the Gitea API's
    /// `sync_on_commit`).
    #[serde(default, deserialize_with = "lenient::nullable_bool")]
    sync_on_commit: Option<Option<bool>>,
}

/// A create or update request's parameters. On create `url` is required and `auth_method` is a
/// declared parameter (an unknown value is a 400 before anything else is looked at).
fn read_request(params: &Params, creating: bool) -> Result<MirrorRequest, ApiError> {
    let body: MirrorBody = params.parse()?;
    if creating && body.url.is_none() {
        return Err(ApiError::Param("url is missing".into()));
    }
    let auth_method = body
        .auth_method
        .map(|s| AuthMethod::parse(&s).ok_or(NotInList));
    let req = MirrorRequest {
        // GitLab clients write the credentials into the URL: they are split off here, once.
        target: body.url.as_deref().map(MirrorTarget::from_url),
        blank_credentials_keep_stored: false,
        enabled: body.enabled,
        auth_method,
        keep_divergent_refs: body.keep_divergent_refs,
        lfs_sync: body.lfs_sync.map(|s| LfsSync::parse(&s).ok_or(NotInList)),
        only_protected_branches: body.only_protected_branches,
        mirror_branch_regex: body.mirror_branch_regex,
        host_keys: body.host_keys,
        ssh_key_type: match body.ssh_key_type {
            None => None,
            Some(t) => Some(SshKeyType::parse(&t).ok_or_else(|| not_valid_value("ssh_key_type"))?),
        },
        sync_interval_secs: body.sync_interval,
        sync_on_commit: body.sync_on_commit,
    };
    params.mutually_exclusive(&["only_protected_branches", "mirror_branch_regex"])?;
    if creating && req.auth_method == Some(Err(NotInList)) {
        return Err(not_valid_value("auth_method"));
    }
    Ok(req)
}

/// A mirror's SSH public key (`auth_method: ssh_public_key`), to install on the remote.
#[derive(Debug, Serialize, ToSchema)]
struct PublicKey {
    /// The key in OpenSSH's one-line form.
    public_key: String,
}

/// List a project's remote mirrors (Maintainer or admin).
#[utoipa::path(get, path = "/projects/{id}/remote_mirrors", tag = "remote_mirrors",
    params(ProjectId, Pagination),
    responses((status = 200, description = "The mirrors, paginated", body = Vec<views::RemoteMirrorEntity>)))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    // By numeric id (what clients poll), the project, the caller's access and the page come in
    // one round trip; the page is dropped unseen when the caller may not have it.
    let (project, paged) = match numeric_id(&id) {
        Some(n) => {
            let (found, paged) = state
                .store
                .project_with_mirrors_for(
                    n,
                    user.as_ref().map(|u| u.id),
                    &crate::service::auth::today(&state),
                    page,
                )
                .await?
                .map(|(project, level, paged)| ((project, level), paged))
                .unzip();
            (admit_admin(admit(found, user.as_ref())?)?, paged)
        }
        None => (mirror_project(&state, &id, user.as_ref()).await?, None),
    };
    let paged = match paged {
        Some(paged) => paged,
        None => state.store.mirrors(project.id, page).await?,
    };
    let items: Vec<_> = paged.items.into_iter().map(views::remote_mirror).collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

/// Get one remote mirror.
#[utoipa::path(get, path = "/projects/{id}/remote_mirrors/{mirror_id}", tag = "remote_mirrors",
    params(ProjectId, MirrorId),
    responses((status = 200, description = "The mirror", body = views::RemoteMirrorEntity)))]
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<Json<views::RemoteMirrorEntity>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    Ok(Json(views::remote_mirror((&mirror).into())))
}

/// Get the SSH public key of a mirror that authenticates with one (404 otherwise).
#[utoipa::path(get, path = "/projects/{id}/remote_mirrors/{mirror_id}/public_key", tag = "remote_mirrors",
    params(ProjectId, MirrorId),
    responses((status = 200, description = "The public key", body = PublicKey)))]
async fn public_key(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<Json<PublicKey>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    let key = mirrors::public_key(&mirror).ok_or(ApiError::NotFoundPlain)?;
    Ok(Json(PublicKey {
        public_key: key.to_owned(),
    }))
}

/// Replace a mirror's SSH key pair with a new one (not in GitLab); the old key keeps working
/// until the new one has been accepted by the remote once.
#[utoipa::path(post, path = "/projects/{id}/remote_mirrors/{mirror_id}/public_key/rotate", tag = "remote_mirrors",
    params(ProjectId, MirrorId),
    responses((status = 200, description = "The new public key", body = PublicKey)))]
async fn rotate_key(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<Json<PublicKey>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    let key = mirrors::rotate_key(&state, &project, &mirror)
        .await?
        .ok_or(ApiError::NotFoundPlain)?;
    Ok(Json(PublicKey {
        public_key: key.to_owned(),
    }))
}

/// Create a push mirror.
#[utoipa::path(post, path = "/projects/{id}/remote_mirrors", tag = "remote_mirrors",
    params(ProjectId),
    request_body(content = MirrorBody, description = "The mirror's settings; `url` is required"),
    responses((status = 201, description = "The mirror", body = views::RemoteMirrorEntity)))]
async fn create(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let req = read_request(&params, true)?;
    let mirror = mirrors::create_mirror(&state, &project, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::remote_mirror((&mirror).into())),
    )
        .into_response())
}

/// Change a mirror's settings (`POST` too, which @gitbeaker sends).
#[utoipa::path(method(put, post), path = "/projects/{id}/remote_mirrors/{mirror_id}", tag = "remote_mirrors",
    params(ProjectId, MirrorId),
    request_body(content = MirrorBody, description = "The settings to change"),
    responses((status = 200, description = "The mirror", body = views::RemoteMirrorEntity)))]
async fn update(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<views::RemoteMirrorEntity>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    let req = read_request(&params, false)?;
    let updated = mirrors::update_mirror(&state, &project, &mirror, req).await?;
    Ok(Json(views::remote_mirror((&updated).into())))
}

/// Queue an update of the mirror now.
#[utoipa::path(post, path = "/projects/{id}/remote_mirrors/{mirror_id}/sync", tag = "remote_mirrors",
    params(ProjectId, MirrorId),
    responses((status = 204, description = "The update is queued")))]
async fn sync(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    mirrors::sync_mirror(&state, &project, &mirror).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a mirror.
#[utoipa::path(delete, path = "/projects/{id}/remote_mirrors/{mirror_id}", tag = "remote_mirrors",
    params(ProjectId, MirrorId),
    responses((status = 204, description = "Deleted")))]
async fn remove(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    mirrors::delete_mirror(&state, &mirror).await?;
    Ok(StatusCode::NO_CONTENT)
}
