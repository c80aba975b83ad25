//! Project webhooks: GitLab's hooks API use cases (create, update, delete, test, resend and the
//! event log), the events pushmirror sends (push, tag push, and the remote- and pull-mirror
//! failure and recovery GitLab lacks) and their delivery.
//!
//! - this file: creating and editing a hook with GitLab's rules (a changed URL resets the token,
//!   and here also the url_variables and custom headers, which belong to the old receiver); the
//!   URL obeys the mirror URL rules (http or https only), checked with DNS when it changes;
//! - `secrets`: the write-only values, sealed;
//! - `target`: a hook's URL resolved, checked and pinned for one delivery;
//! - `payload`: the JSON bodies GitLab sends, built field by field;
//! - `announce`: the deliveries of an event, as jobs enqueued by the transaction that records
//!   the event (`record_push`, a mirror's status transition, a pull mirror's sync);
//! - `deliver`: one delivery attempt (pinned, no redirects, a deadline), its log and GitLab's
//!   auto-disabling; the test and resend endpoints deliver synchronously, as GitLab does.

mod announce;
mod deliver;
mod event_id;
mod payload;
mod secrets;
mod target;

pub use announce::{
    mirror_event_deliveries, pull_mirror_event_deliveries, push_deliveries, MirrorEvent,
    PullMirrorEvent, PushedRef,
};
pub(crate) use deliver::{run_delivery, Delivery};
pub use deliver::{DeliveryOutcome, DeliveryRun};

use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::model::entities::Project;
use crate::model::hooks::{
    branch_filter_error, custom_header_error, valid_variable_key, BranchFilterStrategy, HookLog,
    HookSettings, ProjectHook, Trigger, UrlTemplate, MAX_KEYED_VALUES, MAX_VALUE_LEN,
};
use crate::model::url::masked_url;
use crate::store::{LogStatus, PageRequest, Paged};
use secrets::HookSecrets;

use super::error::{Refusal, ServiceError};

/// A create or update request, as the API extracted it. `None`: not sent; `Some(None)`: sent
/// as null (clears).
#[derive(Default)]
pub struct HookRequest {
    pub url: Option<String>,
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub token: Option<Option<SecretString>>,
    pub push_events: Option<bool>,
    pub tag_push_events: Option<bool>,
    pub remote_mirror_events: Option<bool>,
    pub enable_ssl_verification: Option<bool>,
    pub push_events_branch_filter: Option<Option<String>>,
    pub branch_filter_strategy: Option<BranchFilterStrategy>,
    pub url_variables: Option<Vec<(String, SecretString)>>,
    pub custom_headers: Option<Vec<(String, SecretString)>>,
    /// GitLab attributes pushmirror accepts and ignores (`issues_events`, …) were sent: the
    /// request is not empty.
    pub unsupported_attributes: bool,
}

impl HookRequest {
    /// Whether nothing at all was sent (GitLab refuses such an update).
    pub fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.name.is_none()
            && self.description.is_none()
            && self.token.is_none()
            && self.push_events.is_none()
            && self.tag_push_events.is_none()
            && self.remote_mirror_events.is_none()
            && self.enable_ssl_verification.is_none()
            && self.push_events_branch_filter.is_none()
            && self.branch_filter_strategy.is_none()
            && self.url_variables.is_none()
            && self.custom_headers.is_none()
            && !self.unsupported_attributes
    }
}

/// The hook `id` of `project_id`; a hook of another project is not found.
pub async fn find_hook(app: &App, project_id: i64, id: i64) -> Result<ProjectHook, ServiceError> {
    app.store
        .hook(project_id, id)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// One page of a project's hooks.
pub async fn list_hooks(
    app: &App,
    project: &Project,
    page: PageRequest,
) -> Result<Paged<ProjectHook>, ServiceError> {
    Ok(app.store.hooks(project.id, page).await?)
}

/// Creates a hook of `project`.
pub async fn create_hook(
    app: &App,
    project: &Project,
    req: HookRequest,
) -> Result<ProjectHook, ServiceError> {
    let settings = settings(app, None, req).await?;
    Ok(app
        .store
        .create_hook(project.id, &settings, app.clock.now_ms())
        .await?)
}

/// Changes `hook` as `req` asks; any edit re-enables a disabled hook, as in GitLab.
pub async fn update_hook(
    app: &App,
    hook: &ProjectHook,
    req: HookRequest,
) -> Result<ProjectHook, ServiceError> {
    if req.is_empty() {
        return Err(ServiceError::Refused(Refusal::NothingToChange));
    }
    let settings = settings(app, Some(hook), req).await?;
    app.store
        .update_hook(hook.id, &settings, app.clock.now_ms())
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Deletes `hook`, its logs, and (they find it gone) its pending deliveries.
pub async fn delete_hook(app: &App, hook: &ProjectHook) -> Result<(), ServiceError> {
    app.store.delete_hook(hook.project_id, hook.id).await?;
    Ok(())
}

/// The hook's URL as the API shows it: placeholders kept, credentials masked.
pub fn shown_url(hook: &ProjectHook) -> String {
    let user = hook.settings.has_user.then_some("x");
    masked_url(&hook.settings.url, user, hook.settings.has_password)
}

/// The statuses GitLab's event log filter accepts: a status code, or `successful`,
/// `client_failure`, `server_failure`.
pub fn log_status(s: &str) -> Option<LogStatus> {
    match s {
        "successful" => Some(LogStatus::Range(200, 300)),
        "client_failure" => Some(LogStatus::Range(400, 500)),
        "server_failure" => Some(LogStatus::Range(500, 600)),
        _ => s
            .parse::<u16>()
            .ok()
            .filter(|c| (100..600).contains(c))
            .map(LogStatus::Code),
    }
}

/// One page of `hook`'s delivery log of the last 7 days, newest first.
pub async fn hook_events(
    app: &App,
    hook: &ProjectHook,
    statuses: &[LogStatus],
    page: PageRequest,
) -> Result<Paged<HookLog>, ServiceError> {
    let since = app.clock.now_ms() - crate::model::hooks::LOG_RETENTION_MS;
    Ok(app.store.hook_logs(hook.id, since, statuses, page).await?)
}

/// Sends `hook` a sample event of `trigger` now, whether or not it is enabled or subscribed
/// (GitLab's test button); counts towards its failures like any delivery. `Ok` when the
/// receiver answered 2xx; otherwise GitLab's 422 message.
pub async fn test_hook(
    app: &App,
    project: &Project,
    hook: &ProjectHook,
    trigger: Trigger,
    user: &crate::model::entities::User,
) -> Result<(), ServiceError> {
    let data = announce::sample(app, project, trigger, user).await?;
    let outcome = deliver::deliver_now(app, hook, trigger, data, None, true).await?;
    match outcome {
        DeliveryOutcome::Answered(status, _) if (200..300).contains(&status) => Ok(()),
        DeliveryOutcome::Answered(_, body) => {
            Err(ServiceError::Refused(Refusal::HookAnswered(body)))
        }
        DeliveryOutcome::Failed(message) => {
            Err(ServiceError::Refused(Refusal::HookFailed(message)))
        }
        DeliveryOutcome::Disabled => Err(ServiceError::Refused(Refusal::HookDisabled)),
    }
}

/// Sends a logged event again with its data, its idempotency key and its event UUID; returns
/// the receiver's status (GitLab's `{"response_status": …}`), or GitLab's 422 message.
pub async fn resend_event(
    app: &App,
    hook: &ProjectHook,
    log: &HookLog,
) -> Result<u16, ServiceError> {
    let trigger = Trigger::from_hook_name(&log.trigger)
        .ok_or_else(|| ServiceError::Refused(Refusal::UnknownTrigger))?;
    let data: serde_json::Value = serde_json::from_str(&log.request_data)
        .map_err(|e| ServiceError::Internal(format!("a logged request is not JSON: {e}")))?;
    let keys = deliver::EventKeys {
        idempotency_key: log.idempotency_key.clone(),
        event_uuid: log.event_uuid.clone(),
    };
    match deliver::deliver_now(app, hook, trigger, data, Some(keys), false).await? {
        DeliveryOutcome::Answered(status, _) => Ok(status),
        DeliveryOutcome::Failed(message) => {
            Err(ServiceError::Refused(Refusal::HookFailed(message)))
        }
        DeliveryOutcome::Disabled => Err(ServiceError::Refused(Refusal::HookDisabled)),
    }
}

/// The settings `req` makes of `old` (or of a new hook), with every rule checked.
async fn settings(
    app: &App,
    old: Option<&ProjectHook>,
    req: HookRequest,
) -> Result<HookSettings, ServiceError> {
    let creating = old.is_none();
    let mut s = match old {
        Some(h) => h.settings.clone(),
        None => HookSettings {
            push_events: true,
            enable_ssl_verification: true,
            ..HookSettings::default()
        },
    };
    let mut secrets = match old {
        Some(h) => HookSecrets::open(&app.cipher, h.settings.secrets.as_deref())
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        None => HookSecrets::default(),
    };
    // Whether the URL (or a variable in it) changed and must be checked again.
    let mut recheck = creating;
    if let Some(raw) = &req.url {
        let template = UrlTemplate::split(raw);
        let old_userinfo = secrets
            .userinfo
            .as_ref()
            .map(|u| u.expose_secret().to_owned());
        if template.url != s.url || template.userinfo != old_userinfo {
            recheck = true;
            // The old receiver's secrets do not go to a new one (GitLab resets the token).
            secrets.token = None;
            secrets.url_variables.clear();
            secrets.custom_headers.clear();
        }
        s.url = template.url;
        secrets.userinfo = template.userinfo.map(SecretString::from);
    }
    if let Some(vars) = req.url_variables {
        if vars.len() > MAX_KEYED_VALUES
            || vars
                .iter()
                .any(|(k, v)| !valid_variable_key(k) || v.expose_secret().len() > MAX_VALUE_LEN)
        {
            return Err(ServiceError::Refused(Refusal::InvalidUrlVariables));
        }
        recheck |= !vars.is_empty();
        secrets.url_variables.extend(vars);
        if secrets.url_variables.len() > MAX_KEYED_VALUES {
            return Err(ServiceError::Refused(Refusal::InvalidUrlVariables));
        }
    }
    if let Some(headers) = req.custom_headers {
        let problem = headers
            .iter()
            .find_map(|(k, v)| custom_header_error(k, v.expose_secret()))
            .or_else(|| (headers.len() > MAX_KEYED_VALUES).then(|| "too many headers".into()));
        if let Some(problem) = problem {
            return Err(ServiceError::Refused(Refusal::InvalidCustomHeaders {
                creating,
                problem,
            }));
        }
        secrets.custom_headers.extend(headers);
    }
    if let Some(token) = req.token {
        secrets.token = token.filter(|t| !t.expose_secret().is_empty());
    }
    if recheck {
        let template = UrlTemplate {
            url: s.url.clone(),
            userinfo: secrets
                .userinfo
                .as_ref()
                .map(|u| u.expose_secret().to_owned()),
        };
        match target::check(app, &template, &secrets.variables()).await {
            Ok(parsed) => {
                s.has_user = parsed.user.is_some();
                s.has_password = parsed.password.is_some();
            }
            Err(reason) => {
                tracing::info!(%reason, "refused a hook URL");
                return Err(ServiceError::Refused(Refusal::InvalidHookUrl));
            }
        }
    }
    if let Some(strategy) = req.branch_filter_strategy {
        s.branch_filter_strategy = strategy;
    }
    if let Some(filter) = req.push_events_branch_filter {
        s.push_events_branch_filter = filter;
    }
    if s.branch_filter_strategy == BranchFilterStrategy::AllBranches {
        s.push_events_branch_filter = None;
    }
    if let Some(filter) = &s.push_events_branch_filter {
        if branch_filter_error(s.branch_filter_strategy, filter).is_some() {
            return Err(ServiceError::Refused(Refusal::InvalidBranchFilter));
        }
    }
    if let Some(name) = req.name {
        s.name = name;
    }
    if let Some(description) = req.description {
        s.description = description;
    }
    s.push_events = req.push_events.unwrap_or(s.push_events);
    s.tag_push_events = req.tag_push_events.unwrap_or(s.tag_push_events);
    s.remote_mirror_events = req.remote_mirror_events.unwrap_or(s.remote_mirror_events);
    s.enable_ssl_verification = req
        .enable_ssl_verification
        .unwrap_or(s.enable_ssl_verification);
    s.url_variable_keys = secrets.url_variables.keys().cloned().collect();
    s.custom_header_keys = secrets.custom_headers.keys().cloned().collect();
    s.secrets = secrets.seal(&app.cipher);
    Ok(s)
}
