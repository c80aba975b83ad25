//! `/projects/:id/protected_branches`: list, show, protect, unprotect. Names may be wildcards
//! (`release-*`) and arrive URL-encoded.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::MaybeUser;
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::service::protected_branches::{self, AccessSpec, Protection, ProtectionPatch, LEVELS};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/protected_branches", get(list).post(create))
        .route(
            "/projects/{id}/protected_branches/{name}",
            get(show).patch(update).delete(remove),
        )
}

async fn readable(
    state: &AppState,
    id: &str,
    user: Option<&crate::model::entities::User>,
) -> Result<(Project, Caller), ApiError> {
    let (project, caller) = find_project(state, id, user).await?;
    if !caller.can_read_code(project.visibility) {
        return Err(ApiError::Forbidden);
    }
    Ok((project, caller))
}

// GET /projects/:id/protected_branches
async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, _) = readable(&state, &id, user.as_ref()).await?;
    let page = page_request(&params)?;
    let search = params.string("search")?.flatten();
    let paged = state
        .store
        .protected_branches(project.id, search.as_deref(), page)
        .await?;
    let items: Vec<_> = paged.items.iter().map(views::protected_branch).collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

// GET /projects/:id/protected_branches/:name
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (project, _) = readable(&state, &id, user.as_ref()).await?;
    let branch = state
        .store
        .protected_branch(project.id, &name)
        .await?
        .ok_or(ApiError::RecordNotFound)?;
    Ok(Json(views::protected_branch(&branch)))
}

fn level_param(params: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    match params.int(key)? {
        None => Ok(None),
        Some(l) if LEVELS.contains(&l) => Ok(Some(l)),
        Some(_) => Err(not_valid_value(key)),
    }
}

/// An EE `allowed_to_*` list: an array of `{access_level | user_id | group_id | deploy_key_id,
/// id, _destroy}` objects (JSON bodies).
fn access_list(params: &Params, key: &str) -> Result<Vec<AccessSpec>, ApiError> {
    let Some(value) = params.0.get(key) else {
        return Ok(Vec::new());
    };
    let invalid = || ApiError::Param(format!("{key} is invalid"));
    let items = value.as_array().ok_or_else(invalid)?;
    items
        .iter()
        .map(|item| {
            let obj = item.as_object().ok_or_else(invalid)?;
            let int = |k: &str| -> Result<Option<i64>, ApiError> {
                match obj.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
                    Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
                    Some(_) => Err(invalid()),
                }
            };
            let destroy = match obj.get("_destroy") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::Number(n)) => n.as_i64() == Some(1),
                Some(Value::String(s)) => matches!(s.as_str(), "true" | "1"),
                Some(_) => return Err(invalid()),
            };
            Ok(AccessSpec {
                id: int("id")?,
                destroy,
                access_level: int("access_level")?,
                user_id: int("user_id")?,
                group_id: int("group_id")?,
                deploy_key_id: int("deploy_key_id")?,
            })
        })
        .collect()
}

/// A CE level parameter as a one-entry list, followed by the EE list.
fn levels_and_list(
    params: &Params,
    level_key: &str,
    list_key: &str,
) -> Result<Vec<AccessSpec>, ApiError> {
    let mut list: Vec<AccessSpec> = level_param(params, level_key)?
        .map(|l| AccessSpec {
            access_level: Some(l),
            ..AccessSpec::default()
        })
        .into_iter()
        .collect();
    list.extend(access_list(params, list_key)?);
    Ok(list)
}

// POST /projects/:id/protected_branches
async fn create(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    if !caller.can_admin_project() {
        return Err(ApiError::Forbidden);
    }
    let protection = Protection {
        name: params.required_string("name")?,
        push: levels_and_list(&params, "push_access_level", "allowed_to_push")?,
        merge: levels_and_list(&params, "merge_access_level", "allowed_to_merge")?,
        unprotect: levels_and_list(&params, "unprotect_access_level", "allowed_to_unprotect")?,
        allow_force_push: params.bool("allow_force_push")?.flatten().unwrap_or(false),
        code_owner_approval_required: params
            .bool("code_owner_approval_required")?
            .flatten()
            .unwrap_or(false),
    };
    let branch = protected_branches::protect(&state, &project, caller, protection).await?;
    Ok((StatusCode::CREATED, Json(views::protected_branch(&branch))).into_response())
}

// PATCH /projects/:id/protected_branches/:name
async fn update(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    if !caller.can_admin_project() {
        return Err(ApiError::Forbidden);
    }
    let patch = ProtectionPatch {
        allow_force_push: params.bool("allow_force_push")?.flatten(),
        code_owner_approval_required: params.bool("code_owner_approval_required")?.flatten(),
        push: access_list(&params, "allowed_to_push")?,
        merge: access_list(&params, "allowed_to_merge")?,
        unprotect: access_list(&params, "allowed_to_unprotect")?,
    };
    let branch = protected_branches::update(&state, &project, caller, &name, patch).await?;
    Ok(Json(views::protected_branch(&branch)))
}

// DELETE /projects/:id/protected_branches/:name
async fn remove(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    protected_branches::unprotect(&state, &project, caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
