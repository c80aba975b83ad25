//! `/projects/:id/remote_mirrors`: GitLab's seven remote-mirror endpoints (list, get, public_key,
//! create, update, sync, delete) and the key rotation GitLab lacks, with GitLab's before-filter
//! order: project lookup (404/401), then Maintainer+ or admin (401, not 403), then the mirror
//! lookup (`404 Not found`). The rules are `service::mirrors`; this module extracts parameters
//! and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::MaybeUser;
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::model::access::Caller;
use crate::model::entities::{AuthMethod, Project, RemoteMirror, SshKeyType, User};
use crate::model::mirror_settings::MirrorRequest;
use crate::service::mirrors;
use crate::service::projects::{admit, numeric_id};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/remote_mirrors", get(list).post(create))
        .route(
            "/projects/{id}/remote_mirrors/{mirror_id}",
            get(show).put(update).post(update).delete(remove),
        )
        .route("/projects/{id}/remote_mirrors/{mirror_id}/sync", post(sync))
        .route(
            "/projects/{id}/remote_mirrors/{mirror_id}/public_key",
            get(public_key),
        )
        .route(
            "/projects/{id}/remote_mirrors/{mirror_id}/public_key/rotate",
            post(rotate_key),
        )
}

/// The before-filter: the project, and the caller's right to administer its mirrors.
pub(super) async fn mirror_project(
    state: &AppState,
    id: &str,
    user: Option<&User>,
) -> Result<Project, ApiError> {
    admit_admin(find_project(state, id, user).await?)
}

/// Mirrors are for a project's maintainers (and admins); others get 401, as in GitLab.
fn admit_admin((project, caller): (Project, Caller)) -> Result<Project, ApiError> {
    if !caller.can_admin_project() {
        return Err(ApiError::Unauthorized);
    }
    Ok(project)
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

/// A create or update request's parameters. On create `url` is required and `auth_method` is a
/// declared parameter (an unknown value is a 400 before anything else is looked at).
fn read_request(params: &Params, creating: bool) -> Result<MirrorRequest, ApiError> {
    let url = if creating {
        Some(params.required_string("url")?)
    } else {
        params.string("url")?.flatten()
    };
    let req = MirrorRequest {
        url,
        enabled: params.bool("enabled")?,
        auth_method: params.string("auth_method")?.flatten(),
        keep_divergent_refs: params.bool("keep_divergent_refs")?,
        only_protected_branches: params.bool("only_protected_branches")?,
        mirror_branch_regex: params.string("mirror_branch_regex")?,
        host_keys: params.string_array("host_keys")?,
        ssh_key_type: match params.string("ssh_key_type")?.flatten() {
            None => None,
            Some(t) => Some(SshKeyType::parse(&t).ok_or_else(|| not_valid_value("ssh_key_type"))?),
        },
    };
    params.mutually_exclusive(&["only_protected_branches", "mirror_branch_regex"])?;
    let unknown_method = req
        .auth_method
        .as_deref()
        .is_some_and(|s| AuthMethod::parse(s).is_none());
    if creating && unknown_method {
        return Err(not_valid_value("auth_method"));
    }
    Ok(req)
}

// GET /projects/:id/remote_mirrors
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

// GET /projects/:id/remote_mirrors/:mirror_id
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<Json<views::RemoteMirrorEntity>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    Ok(Json(views::remote_mirror((&mirror).into())))
}

// GET /projects/:id/remote_mirrors/:mirror_id/public_key
async fn public_key(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    let key = mirrors::public_key(&mirror).ok_or(ApiError::NotFoundPlain)?;
    Ok(Json(json!({"public_key": key})))
}

// POST /projects/:id/remote_mirrors/:mirror_id/public_key/rotate (not in GitLab)
async fn rotate_key(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    let key = mirrors::rotate_key(&state, &project, &mirror)
        .await?
        .ok_or(ApiError::NotFoundPlain)?;
    Ok(Json(json!({"public_key": key})))
}

// POST /projects/:id/remote_mirrors
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

// PUT /projects/:id/remote_mirrors/:mirror_id (and POST, which @gitbeaker sends)
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

// POST /projects/:id/remote_mirrors/:mirror_id/sync
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

// DELETE /projects/:id/remote_mirrors/:mirror_id
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
