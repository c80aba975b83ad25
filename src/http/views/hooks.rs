//! GitLab's project hook entity and its delivery log entries.

use serde_json::{json, Value};

use super::time;
use crate::model::entities::Millis;
/// GitLab's event attributes pushmirror has nothing to send for: accepted, always `false`.
pub(in crate::http) const UNSUPPORTED_HOOK_EVENTS: [&str; 17] = [
    "issues_events",
    "confidential_issues_events",
    "merge_requests_events",
    "note_events",
    "confidential_note_events",
    "job_events",
    "pipeline_events",
    "wiki_page_events",
    "deployment_events",
    "feature_flag_events",
    "releases_events",
    "milestone_events",
    "emoji_events",
    "resource_access_token_events",
    "resource_deploy_token_events",
    "vulnerability_events",
    "repository_update_events",
];

/// The project hook entity (GitLab's `ProjectHook`), at `now` (which decides `alert_status`).
/// The token, the URL's credentials and every url_variable and custom header value are
/// write-only: only the keys are shown, and lists show not even those, as GitLab.
pub(in crate::http) fn project_hook(
    h: &crate::model::hooks::ProjectHook,
    now: Millis,
    in_list: bool,
) -> Value {
    let s = &h.settings;
    let status = h.health.alert_status(now);
    let disabled_until = match status {
        crate::model::hooks::AlertStatus::Disabled => Value::Null,
        _ => h.health.disabled_until.map(time).unwrap_or(Value::Null),
    };
    let mut v = json!({
        "id": h.id,
        "url": crate::service::hooks::shown_url(h),
        "name": s.name,
        "description": s.description,
        "created_at": time(h.created_at),
        "project_id": h.project_id,
        "push_events": s.push_events,
        "tag_push_events": s.tag_push_events,
        "remote_mirror_events": s.remote_mirror_events,
        "enable_ssl_verification": s.enable_ssl_verification,
        "alert_status": status.as_str(),
        "disabled_until": disabled_until,
        "push_events_branch_filter": s.push_events_branch_filter,
        "branch_filter_strategy": s.branch_filter_strategy.as_str(),
        "custom_webhook_template": null,
    });
    let obj = v.as_object_mut().expect("object");
    for name in UNSUPPORTED_HOOK_EVENTS {
        obj.insert(name.into(), Value::Bool(false));
    }
    if !in_list {
        let keys = |ks: &[String]| -> Value { ks.iter().map(|k| json!({"key": k})).collect() };
        obj.insert("url_variables".into(), keys(&s.url_variable_keys));
        obj.insert("custom_headers".into(), keys(&s.custom_header_keys));
    }
    v
}

/// One logged delivery (GitLab's `WebHookLog` entity).
pub(in crate::http) fn hook_event(l: &crate::model::hooks::HookLog) -> Value {
    let parsed = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    json!({
        "id": l.id,
        "url": l.url,
        "trigger": l.trigger,
        "request_headers": parsed(&l.request_headers),
        "request_data": parsed(&l.request_data),
        "response_headers": parsed(&l.response_headers),
        "response_body": l.response_body,
        "execution_duration": l.execution_duration_us as f64 / 1_000_000.0,
        "response_status": l.response_status,
    })
}
