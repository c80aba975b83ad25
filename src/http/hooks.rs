//! `/projects/:id/hooks`: GitLab's project webhooks API (list, get, create, edit, delete, the
//! event log, resend, test), with GitLab's before-filter order: authentication (401), the
//! project (404), Maintainer or admin (403), parameters (400), then the hook (`404 Not found`).
//! The rules are `service::hooks`; this module extracts parameters and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::error::ApiError;
use super::params::{invalid, not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::model::entities::{Project, User};
use crate::model::hooks::{BranchFilterStrategy, ProjectHook, Trigger};
use crate::service::hooks::{self, HookRequest};
use crate::store::PageRequest;

/// Largest page of the event log (GitLab allows 1 to 20).
const MAX_EVENTS_PER_PAGE: i64 = 20;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/hooks", get(list).post(create))
        .route(
            "/projects/{id}/hooks/{hook_id}",
            get(show).put(update).delete(remove),
        )
        .route("/projects/{id}/hooks/{hook_id}/events", get(events))
        .route(
            "/projects/{id}/hooks/{hook_id}/events/{event_id}/resend",
            post(resend),
        )
        .route("/projects/{id}/hooks/{hook_id}/test/{trigger}", post(test))
}

/// The before-filter: the project, and the caller's right to administer its hooks (403).
async fn hook_project(state: &AppState, id: &str, user: &User) -> Result<Project, ApiError> {
    let (project, caller) = find_project(state, id, Some(user)).await?;
    if !caller.can_admin_project() {
        return Err(ApiError::Forbidden);
    }
    Ok(project)
}

/// The `:hook_id` segment: an integer (Grape's 400 otherwise).
fn hook_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| invalid("hook_id"))
}

async fn find_hook(
    state: &AppState,
    project: &Project,
    raw: &str,
) -> Result<ProjectHook, ApiError> {
    let id = hook_id(raw)?;
    Ok(hooks::find_hook(state, project.id, id).await?)
}

/// `custom_headers` or `url_variables`: an array of `{key, value}` objects.
fn keyed_values(
    params: &Params,
    name: &str,
) -> Result<Option<Vec<(String, SecretString)>>, ApiError> {
    let items = match params.0.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(name)),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(invalid(name));
        };
        let field = |f: &str| match obj.get(f) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => {
                Err(ApiError::Param(format!("{name}[{i}][{f}] is missing")))
            }
            Some(_) => Err(ApiError::Param(format!("{name}[{i}][{f}] is invalid"))),
        };
        out.push((field("key")?, SecretString::from(field("value")?)));
    }
    Ok(Some(out))
}

/// A create or update request's parameters; `url` is required on create.
fn read_request(params: &Params, creating: bool) -> Result<HookRequest, ApiError> {
    let url = if creating {
        Some(params.required_string("url")?)
    } else {
        params.string("url")?.flatten()
    };
    let flag = |name: &str| -> Result<Option<bool>, ApiError> { Ok(params.bool(name)?.flatten()) };
    let mut ignored = false;
    for name in views::UNSUPPORTED_HOOK_EVENTS {
        ignored |= flag(name)?.is_some();
    }
    let strategy = match params.string("branch_filter_strategy")?.flatten() {
        None => None,
        Some(s) => Some(
            BranchFilterStrategy::parse(&s)
                .ok_or_else(|| not_valid_value("branch_filter_strategy"))?,
        ),
    };
    let req = HookRequest {
        url,
        name: params.string("name")?,
        description: params.string("description")?,
        token: params.string("token")?.map(|t| t.map(SecretString::from)),
        push_events: flag("push_events")?,
        tag_push_events: flag("tag_push_events")?,
        remote_mirror_events: flag("remote_mirror_events")?,
        enable_ssl_verification: flag("enable_ssl_verification")?,
        push_events_branch_filter: params.string("push_events_branch_filter")?,
        branch_filter_strategy: strategy,
        url_variables: keyed_values(params, "url_variables")?,
        custom_headers: keyed_values(params, "custom_headers")?,
        unsupported_attributes: ignored,
    };
    Ok(req)
}

// GET /projects/:id/hooks
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let page = super::pagination::page_request(&params)?;
    let paged = hooks::list_hooks(&state, &project, page).await?;
    let now = state.now_ms();
    let items: Vec<Value> = paged
        .items
        .iter()
        .map(|h| views::project_hook(h, now, true))
        .collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

// GET /projects/:id/hooks/:hook_id
async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    Ok(Json(views::project_hook(&hook, state.now_ms(), false)))
}

// POST /projects/:id/hooks
async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let req = read_request(&params, true)?;
    let hook = hooks::create_hook(&state, &project, req).await?;
    let body = views::project_hook(&hook, state.now_ms(), false);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

// PUT /projects/:id/hooks/:hook_id
async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let req = read_request(&params, false)?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    let updated = hooks::update_hook(&state, &hook, req).await?;
    Ok(Json(views::project_hook(&updated, state.now_ms(), false)))
}

// DELETE /projects/:id/hooks/:hook_id
async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    hooks::delete_hook(&state, &hook).await?;
    Ok(StatusCode::NO_CONTENT)
}

// GET /projects/:id/hooks/:hook_id/events
async fn events(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let page = params.int("page")?.unwrap_or(1).clamp(1, i32::MAX as i64);
    let per_page = params.int("per_page")?.unwrap_or(MAX_EVENTS_PER_PAGE);
    if !(1..=MAX_EVENTS_PER_PAGE).contains(&per_page) {
        return Err(not_valid_value("per_page"));
    }
    let statuses = match params.0.get("status") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            let text: Vec<String> = match v {
                Value::String(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
                Value::Number(n) => vec![n.to_string()],
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
                _ => return Err(not_valid_value("status")),
            };
            text.iter()
                .map(|s| hooks::log_status(s).ok_or_else(|| not_valid_value("status")))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let hook = find_hook(&state, &project, &hook_id).await?;
    let page = PageRequest { page, per_page };
    let paged = hooks::hook_events(&state, &hook, &statuses, page).await?;
    let items: Vec<Value> = paged.items.iter().map(views::hook_event).collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

// POST /projects/:id/hooks/:hook_id/events/:hook_event_id/resend
async fn resend(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id, event_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    let event_id: i64 = event_id.parse().map_err(|_| ApiError::RecordNotFound)?;
    let log = state
        .store
        .hook_log(hook.id, event_id)
        .await?
        .ok_or(ApiError::RecordNotFound)?;
    let status = hooks::resend_event(&state, &hook, &log).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"response_status": status})),
    )
        .into_response())
}

// POST /projects/:id/hooks/:hook_id/test/:trigger
async fn test(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id, trigger)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let trigger = Trigger::from_attribute(&trigger).ok_or_else(|| not_valid_value("trigger"))?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    hooks::test_hook(&state, &project, &hook, trigger, &user).await?;
    Ok((StatusCode::CREATED, Json(json!({"message": "201 Created"}))).into_response())
}
