//! `/projects/:id/hooks`: GitLab's project webhooks API (list, get, create, edit, delete, the
//! event log, resend, test), with GitLab's before-filter order: authentication (401), the
//! project (404), Maintainer or admin (403), parameters (400), then the hook (`404 Not found`).
//! The rules are `service::hooks`; this module extracts parameters and renders GitLab's JSON.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::choices;
use super::error::ApiError;
use super::openapi::{ErrorBody, Pagination, ProjectId};
use super::params::{invalid, lenient, not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::http::auth::CurrentUser;
use crate::model::entities::{Project, User};
use crate::model::hooks::{BranchFilterStrategy, ProjectHook, Trigger};
use crate::service::hooks::{self, HookRequest};
use crate::store::PageRequest;

/// Largest page of the event log (GitLab allows 1 to 20).
const MAX_EVENTS_PER_PAGE: i64 = 20;

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(events))
        .routes(routes!(resend))
        .routes(routes!(test))
}

/// The `:hook_id` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct HookId {
    /// The hook's id.
    hook_id: i64,
}

/// The `:event_id` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: the handler takes the segment as a string
struct EventId {
    /// The id of an entry of the hook's event log.
    event_id: i64,
}

/// The `:trigger` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: the handler takes the segment as a string
struct TriggerName {
    /// The event to send a sample of: `push_events`, `tag_push_events` or `remote_mirror_events`.
    #[param(value_type = choices::TriggerName, inline)]
    trigger: String,
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

/// A hook's settings as `POST` and `PUT` take them. `url` is required when creating; on `PUT`
/// every parameter is optional and an absent one is left as it is.
// Not `Debug`: `token`, the URL's credentials and the values of `url_variables` and
// `custom_headers` are secrets.
#[derive(Deserialize, ToSchema)]
struct HookBody {
    /// The URL to send events to; `{key}` placeholders in it are filled from `url_variables`,
    /// and credentials in it are write-only. Required when creating; a changed URL drops the
    /// token, the url_variables and the custom headers.
    #[serde(default, deserialize_with = "lenient::string")]
    url: Option<String>,
    /// A name for the hook; null clears it.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    name: Option<Option<String>>,
    /// A description of the hook; null clears it.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    description: Option<Option<String>>,
    /// A secret sent as `X-Gitlab-Token`, write-only; null or empty removes it.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    token: Option<Option<String>>,
    /// Send push events (default true).
    #[serde(default, deserialize_with = "lenient::bool")]
    push_events: Option<bool>,
    /// Send tag push events (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    tag_push_events: Option<bool>,
    /// Send the events GitLab lacks, when a mirror of the project starts failing or recovers
    /// (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    remote_mirror_events: Option<bool>,
    /// Verify the receiver's TLS certificate (default true).
    #[serde(default, deserialize_with = "lenient::bool")]
    enable_ssl_verification: Option<bool>,
    /// Send push events only for the branches this filter matches (read as
    /// `branch_filter_strategy` says); null or empty: every branch.
    #[serde(default, deserialize_with = "lenient::nullable_string")]
    push_events_branch_filter: Option<Option<String>>,
    /// How `push_events_branch_filter` reads: `wildcard` (default), `regex` or `all_branches`
    /// (which clears the filter).
    #[serde(default, deserialize_with = "lenient::string")]
    #[schema(value_type = Option<choices::BranchFilterStrategyName>, inline)]
    branch_filter_strategy: Option<String>,
    /// Values for the URL's `{key}` placeholders, write-only; added to those the hook has.
    #[serde(default)]
    #[schema(value_type = Option<Vec<KeyedValue>>)]
    url_variables: Option<Value>,
    /// Headers sent with every event, their values write-only; added to those the hook has.
    #[serde(default)]
    #[schema(value_type = Option<Vec<KeyedValue>>)]
    custom_headers: Option<Value>,
    /// Accepted and ignored: pushmirror sends no issue events.
    #[serde(default, deserialize_with = "lenient::bool")]
    issues_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no confidential issue events.
    #[serde(default, deserialize_with = "lenient::bool")]
    confidential_issues_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no merge request events.
    #[serde(default, deserialize_with = "lenient::bool")]
    merge_requests_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no comment events.
    #[serde(default, deserialize_with = "lenient::bool")]
    note_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no confidential comment events.
    #[serde(default, deserialize_with = "lenient::bool")]
    confidential_note_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no job events.
    #[serde(default, deserialize_with = "lenient::bool")]
    job_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no pipeline events.
    #[serde(default, deserialize_with = "lenient::bool")]
    pipeline_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no wiki page events.
    #[serde(default, deserialize_with = "lenient::bool")]
    wiki_page_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no deployment events.
    #[serde(default, deserialize_with = "lenient::bool")]
    deployment_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no feature flag events.
    #[serde(default, deserialize_with = "lenient::bool")]
    feature_flag_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no release events.
    #[serde(default, deserialize_with = "lenient::bool")]
    releases_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no milestone events.
    #[serde(default, deserialize_with = "lenient::bool")]
    milestone_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no emoji events.
    #[serde(default, deserialize_with = "lenient::bool")]
    emoji_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no resource access token events.
    #[serde(default, deserialize_with = "lenient::bool")]
    resource_access_token_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no resource deploy token events.
    #[serde(default, deserialize_with = "lenient::bool")]
    resource_deploy_token_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no vulnerability events.
    #[serde(default, deserialize_with = "lenient::bool")]
    vulnerability_events: Option<bool>,
    /// Accepted and ignored: pushmirror sends no repository update events.
    #[serde(default, deserialize_with = "lenient::bool")]
    repository_update_events: Option<bool>,
}

impl HookBody {
    /// Whether any of GitLab's event attributes pushmirror ignores was sent (not as null): the
    /// request is then not empty.
    fn has_unsupported_attributes(&self) -> bool {
        [
            self.issues_events,
            self.confidential_issues_events,
            self.merge_requests_events,
            self.note_events,
            self.confidential_note_events,
            self.job_events,
            self.pipeline_events,
            self.wiki_page_events,
            self.deployment_events,
            self.feature_flag_events,
            self.releases_events,
            self.milestone_events,
            self.emoji_events,
            self.resource_access_token_events,
            self.resource_deploy_token_events,
            self.vulnerability_events,
            self.repository_update_events,
        ]
        .iter()
        .any(Option::is_some)
    }
}

/// One of `url_variables` or `custom_headers`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: `keyed_values` reads the list
struct KeyedValue {
    /// The variable's key (letters, digits and `_`), or the header's name.
    key: String,
    /// Its value, write-only.
    value: String,
}

/// `custom_headers` or `url_variables` (named `name`) as parsed: an array of `{key, value}`
/// objects whose key and value are strings. Checked here rather than by a field reader because
/// Grape's errors name the item and its field (`custom_headers[0][value] is missing`), which a
/// reader's error (named by its parameter) cannot.
fn keyed_values(
    name: &str,
    value: Option<Value>,
) -> Result<Option<Vec<(String, SecretString)>>, ApiError> {
    let items = match value {
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
    let body: HookBody = params.parse()?;
    if creating && body.url.is_none() {
        return Err(ApiError::Param("url is missing".into()));
    }
    let unsupported_attributes = body.has_unsupported_attributes();
    let strategy = match body.branch_filter_strategy {
        None => None,
        Some(s) => Some(
            BranchFilterStrategy::parse(&s)
                .ok_or_else(|| not_valid_value("branch_filter_strategy"))?,
        ),
    };
    let req = HookRequest {
        url: body.url,
        name: body.name,
        description: body.description,
        token: body.token.map(|t| t.map(SecretString::from)),
        push_events: body.push_events,
        tag_push_events: body.tag_push_events,
        remote_mirror_events: body.remote_mirror_events,
        enable_ssl_verification: body.enable_ssl_verification,
        push_events_branch_filter: body.push_events_branch_filter,
        branch_filter_strategy: strategy,
        url_variables: keyed_values("url_variables", body.url_variables)?,
        custom_headers: keyed_values("custom_headers", body.custom_headers)?,
        unsupported_attributes,
    };
    Ok(req)
}

/// The event log's parameters: its own pagination (at most 20 a page) and a status filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// The page to show, from 1 (default 1).
    #[serde(default, deserialize_with = "lenient::int")]
    page: Option<i64>,
    /// Events per page, 1 to 20 (default 20).
    #[serde(default, deserialize_with = "lenient::int")]
    per_page: Option<i64>,
    /// Only the events with this status: an HTTP status code (`200`), `successful`,
    /// `client_failure` or `server_failure`; several separated by commas (or as `status[]`).
    #[serde(default, deserialize_with = "status_texts")]
    #[param(value_type = Option<String>)]
    status: Option<Vec<String>>,
}

/// `status` as texts: a comma-separated string, a number, or an array (its numbers as their
/// text); anything else is not a valid value.
fn status_texts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let texts = match Value::deserialize(d)? {
        Value::Null => return Ok(None),
        Value::String(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => return Err(serde::de::Error::custom(lenient::NOT_VALID)),
    };
    Ok(Some(texts))
}

/// The answer to a resend: the receiver's status.
#[derive(Debug, Serialize, ToSchema)]
struct Resent {
    /// The HTTP status the receiver answered with.
    response_status: u16,
}

/// The answer to a test delivery the receiver accepted.
#[derive(Debug, Serialize, ToSchema)]
struct Tested {
    /// Always `201 Created`.
    message: &'static str,
}

/// List a project's hooks (Maintainer or admin).
#[utoipa::path(get, path = "/projects/{id}/hooks", tag = "hooks",
    params(ProjectId, Pagination),
    responses((status = 200, description = "The hooks, paginated", body = Vec<views::ProjectHookEntity>)))]
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
    let items: Vec<_> = paged
        .items
        .iter()
        .map(|h| views::project_hook(h, now))
        .collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

/// Get one hook.
#[utoipa::path(get, path = "/projects/{id}/hooks/{hook_id}", tag = "hooks",
    params(ProjectId, HookId),
    responses((status = 200, description = "The hook", body = views::ProjectHookDetail)))]
async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id)): Path<(String, String)>,
) -> Result<Json<views::ProjectHookDetail>, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    Ok(Json(views::project_hook_detail(&hook, state.now_ms())))
}

/// Add a hook to a project.
#[utoipa::path(post, path = "/projects/{id}/hooks", tag = "hooks",
    params(ProjectId),
    request_body(content = HookBody, description = "The hook's settings; `url` is required"),
    responses(
        (status = 201, description = "The hook", body = views::ProjectHookDetail),
        (status = 422, description = "The URL, the branch filter, the url_variables or the custom headers are refused", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let req = read_request(&params, true)?;
    let hook = hooks::create_hook(&state, &project, req).await?;
    let body = views::project_hook_detail(&hook, state.now_ms());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Change a hook; any change re-enables a disabled hook.
#[utoipa::path(put, path = "/projects/{id}/hooks/{hook_id}", tag = "hooks",
    params(ProjectId, HookId),
    request_body(content = HookBody, description = "The settings to change (at least one)"),
    responses(
        (status = 200, description = "The hook", body = views::ProjectHookDetail),
        (status = 422, description = "The URL, the branch filter, the url_variables or the custom headers are refused", body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<views::ProjectHookDetail>, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let req = read_request(&params, false)?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    let updated = hooks::update_hook(&state, &hook, req).await?;
    Ok(Json(views::project_hook_detail(&updated, state.now_ms())))
}

/// Delete a hook, with its event log.
#[utoipa::path(delete, path = "/projects/{id}/hooks/{hook_id}", tag = "hooks",
    params(ProjectId, HookId),
    responses((status = 204, description = "Deleted")))]
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

/// List a hook's deliveries of the last 7 days, newest first.
#[utoipa::path(get, path = "/projects/{id}/hooks/{hook_id}/events", tag = "hooks",
    params(ProjectId, HookId, EventsQuery),
    responses((status = 200, description = "The logged deliveries, paginated", body = Vec<views::HookEventEntity>)))]
async fn events(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let query: EventsQuery = params.parse()?;
    let page = query.page.unwrap_or(1).clamp(1, i32::MAX as i64);
    let per_page = query.per_page.unwrap_or(MAX_EVENTS_PER_PAGE);
    if !(1..=MAX_EVENTS_PER_PAGE).contains(&per_page) {
        return Err(not_valid_value("per_page"));
    }
    let statuses = query
        .status
        .unwrap_or_default()
        .iter()
        .map(|s| hooks::log_status(s).ok_or_else(|| not_valid_value("status")))
        .collect::<Result<Vec<_>, _>>()?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    let page = PageRequest { page, per_page };
    let paged = hooks::hook_events(&state, &hook, &statuses, page).await?;
    let items: Vec<_> = paged.items.iter().map(views::hook_event).collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

/// Send a logged event again, with its data and idempotency key.
#[utoipa::path(post, path = "/projects/{id}/hooks/{hook_id}/events/{event_id}/resend", tag = "hooks",
    params(ProjectId, HookId, EventId),
    responses(
        (status = 201, description = "The receiver answered", body = Resent),
        (status = 422, description = "The delivery failed, or the hook is disabled", body = ErrorBody)))]
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
    let response_status = hooks::resend_event(&state, &hook, &log).await?;
    Ok((StatusCode::CREATED, Json(Resent { response_status })).into_response())
}

/// Send the hook a sample event now, whether or not it is enabled or subscribed to it.
#[utoipa::path(post, path = "/projects/{id}/hooks/{hook_id}/test/{trigger}", tag = "hooks",
    params(ProjectId, HookId, TriggerName),
    responses(
        (status = 201, description = "The receiver answered with a 2xx status", body = Tested),
        (status = 422, description = "The project has nothing to sample, the receiver refused or could not be reached, or the hook is disabled", body = ErrorBody)))]
async fn test(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, hook_id, trigger)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let project = hook_project(&state, &id, &user).await?;
    let trigger = Trigger::from_attribute(&trigger).ok_or_else(|| not_valid_value("trigger"))?;
    let hook = find_hook(&state, &project, &hook_id).await?;
    hooks::test_hook(&state, &project, &hook, trigger, &user).await?;
    let body = Tested {
        message: "201 Created",
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties<T: utoipa::PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_event_attribute_a_hook_shows_is_one_it_takes() {
        let taken = properties::<HookBody>();
        let ignored = properties::<views::UnsupportedEvents>();
        assert_eq!(ignored.len(), 17);
        for name in ignored {
            assert!(taken.contains(&name), "{name} is shown but not taken");
        }
    }

    #[test]
    fn bodies_read_as_grape_reads_them() {
        let parse = |v: Value| read_request(&Params(v.as_object().unwrap().clone()), true);
        let err = |v: Value| parse(v).err().map(|e| e.to_string());
        let req = parse(serde_json::json!({
            "url": "https://example.com/{a}",
            "name": null,
            "push_events": "false",
            "issues_events": "1",
            "branch_filter_strategy": "regex",
            "url_variables": [{"key": "a", "value": "b"}],
        }))
        .unwrap();
        assert_eq!(req.name, Some(None));
        assert_eq!(req.push_events, Some(false));
        assert!(req.unsupported_attributes);
        assert_eq!(
            req.branch_filter_strategy,
            Some(BranchFilterStrategy::Regex)
        );
        assert_eq!(req.url_variables.unwrap()[0].0, "a");
        assert!(req.custom_headers.is_none());
        for (body, want) in [
            (serde_json::json!({"url": null}), "url is missing"),
            (
                serde_json::json!({"url": "x", "custom_headers": {"key": "k"}}),
                "custom_headers is invalid",
            ),
            (
                serde_json::json!({"url": "x", "custom_headers": ["k"]}),
                "custom_headers is invalid",
            ),
            (
                serde_json::json!({"url": "x", "url_variables": [{"key": 1, "value": "v"}]}),
                "url_variables[0][key] is invalid",
            ),
            (
                serde_json::json!({"url": "x", "note_events": "maybe"}),
                "note_events is invalid",
            ),
            (
                serde_json::json!({"url": "x", "branch_filter_strategy": "glob"}),
                "branch_filter_strategy does not have a valid value",
            ),
        ] {
            assert_eq!(err(body).as_deref(), Some(want));
        }
    }

    #[test]
    fn event_log_statuses_are_texts() {
        let parse = |v: Value| {
            Params(v.as_object().unwrap().clone())
                .parse::<EventsQuery>()
                .map(|q| q.status)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            parse(serde_json::json!({"status": "200, successful"})),
            Ok(Some(vec!["200".into(), "successful".into()]))
        );
        assert_eq!(
            parse(serde_json::json!({"status": [404, "server_failure"]})),
            Ok(Some(vec!["404".into(), "server_failure".into()]))
        );
        assert_eq!(parse(serde_json::json!({"status": null})), Ok(None));
        assert_eq!(
            parse(serde_json::json!({"status": true})),
            Err("status does not have a valid value".into())
        );
    }
}
