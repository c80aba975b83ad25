//! GitLab's project hook entity and its delivery log entries.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::model::entities::Millis;
use crate::model::hooks::{AlertStatus, HookLog, ProjectHook};
use crate::model::time::iso8601_millis;

/// The project hook entity (GitLab's `ProjectHook`) as lists show it. The token, the URL's
/// credentials and every url_variable and custom header value are write-only.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProjectHookEntity {
    /// The hook's id.
    id: i64,
    /// The URL events are sent to, `{key}` placeholders kept and credentials masked.
    url: String,
    /// The hook's name.
    name: Option<String>,
    /// The hook's description.
    description: Option<String>,
    /// When the hook was created.
    created_at: Option<String>,
    /// The project's id.
    project_id: i64,
    /// Whether push events are sent.
    push_events: bool,
    /// Whether tag push events are sent.
    tag_push_events: bool,
    /// Whether the remote-mirror failure and recovery events (not in GitLab) are sent.
    remote_mirror_events: bool,
    /// Whether the receiver's TLS certificate is verified.
    enable_ssl_verification: bool,
    /// `executable`, `temporarily_disabled` (failing, paused until `disabled_until`) or
    /// `disabled` (failed too often: paused until the hook is edited or tested).
    alert_status: &'static str,
    /// The end of a temporary disabling; null when there is none, or the hook is `disabled`.
    disabled_until: Option<String>,
    /// Push events are sent only for the branches this filter matches.
    push_events_branch_filter: Option<String>,
    /// How the filter reads: `wildcard`, `regex` or `all_branches`.
    branch_filter_strategy: &'static str,
    /// GitLab's custom payload template: not supported, always null.
    custom_webhook_template: Option<String>,
    /// GitLab's other event subscriptions, always false.
    #[serde(flatten)]
    unsupported: UnsupportedEvents,
}

/// GitLab's event subscriptions pushmirror has nothing to send for: shown, always `false`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(in crate::http) struct UnsupportedEvents {
    /// Issue events: never sent.
    issues_events: bool,
    /// Confidential issue events: never sent.
    confidential_issues_events: bool,
    /// Merge request events: never sent.
    merge_requests_events: bool,
    /// Comment events: never sent.
    note_events: bool,
    /// Confidential comment events: never sent.
    confidential_note_events: bool,
    /// Job events: never sent.
    job_events: bool,
    /// Pipeline events: never sent.
    pipeline_events: bool,
    /// Wiki page events: never sent.
    wiki_page_events: bool,
    /// Deployment events: never sent.
    deployment_events: bool,
    /// Feature flag events: never sent.
    feature_flag_events: bool,
    /// Release events: never sent.
    releases_events: bool,
    /// Milestone events: never sent.
    milestone_events: bool,
    /// Emoji events: never sent.
    emoji_events: bool,
    /// Resource access token events: never sent.
    resource_access_token_events: bool,
    /// Resource deploy token events: never sent.
    resource_deploy_token_events: bool,
    /// Vulnerability events: never sent.
    vulnerability_events: bool,
    /// Repository update events: never sent.
    repository_update_events: bool,
}

/// One hook, as `GET`, `POST` and `PUT` show it: the list entity with the keys (never the
/// values) of its url_variables and custom headers.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProjectHookDetail {
    /// The fields of the list entity.
    #[serde(flatten)]
    hook: ProjectHookEntity,
    /// The URL's variables, by key.
    url_variables: Vec<HookValueKey>,
    /// The custom headers, by name.
    custom_headers: Vec<HookValueKey>,
}

/// A url_variable or custom header, shown by its key only: its value is write-only.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct HookValueKey {
    /// The variable's key, or the header's name.
    key: String,
}

/// The project hook entity, at `now` (which decides `alert_status`), as lists show it.
pub(in crate::http) fn project_hook(h: &ProjectHook, now: Millis) -> ProjectHookEntity {
    let s = &h.settings;
    let status = h.health.alert_status(now);
    let disabled_until = match status {
        AlertStatus::Disabled => None,
        _ => h.health.disabled_until.and_then(iso8601_millis),
    };
    ProjectHookEntity {
        id: h.id,
        url: crate::service::hooks::shown_url(h),
        name: s.name.clone(),
        description: s.description.clone(),
        created_at: iso8601_millis(h.created_at),
        project_id: h.project_id,
        push_events: s.push_events,
        tag_push_events: s.tag_push_events,
        remote_mirror_events: s.remote_mirror_events,
        enable_ssl_verification: s.enable_ssl_verification,
        alert_status: status.as_str(),
        disabled_until,
        push_events_branch_filter: s.push_events_branch_filter.clone(),
        branch_filter_strategy: s.branch_filter_strategy.as_str(),
        custom_webhook_template: None,
        unsupported: UnsupportedEvents::default(),
    }
}

/// One hook at `now`, with the keys of its url_variables and custom headers.
pub(in crate::http) fn project_hook_detail(h: &ProjectHook, now: Millis) -> ProjectHookDetail {
    let keys = |ks: &[String]| -> Vec<HookValueKey> {
        ks.iter().map(|k| HookValueKey { key: k.clone() }).collect()
    };
    ProjectHookDetail {
        hook: project_hook(h, now),
        url_variables: keys(&h.settings.url_variable_keys),
        custom_headers: keys(&h.settings.custom_header_keys),
    }
}

/// One logged delivery (GitLab's `WebHookLog` entity).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct HookEventEntity {
    /// The log entry's id.
    id: i64,
    /// The URL the event was sent to, credentials masked.
    url: String,
    /// The event's scope: `push_hooks`, `tag_push_hooks` or `remote_mirror_hooks`.
    trigger: String,
    /// The request's headers as a JSON object of name to value, secret values `[REDACTED]`.
    request_headers: Value,
    /// The JSON body that was sent (its shape is the event's payload), user e-mails `[REDACTED]`.
    request_data: Value,
    /// The response's headers as a JSON object of name to value.
    response_headers: Value,
    /// The response's body.
    response_body: String,
    /// How long the delivery took, in seconds.
    execution_duration: f64,
    /// The response's HTTP status, or `internal error` when there was no response.
    response_status: String,
}

/// The log entry of `l`.
pub(in crate::http) fn hook_event(l: &HookLog) -> HookEventEntity {
    let parsed = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    HookEventEntity {
        id: l.id,
        url: l.url.clone(),
        trigger: l.trigger.clone(),
        request_headers: parsed(&l.request_headers),
        request_data: parsed(&l.request_data),
        response_headers: parsed(&l.response_headers),
        response_body: l.response_body.clone(),
        execution_duration: l.execution_duration_us as f64 / 1_000_000.0,
        response_status: l.response_status.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hooks::{HookHealth, HookSettings};
    use serde_json::json;

    /// The JSON GitLab's `ProjectHook` entity has, with every unsupported event false.
    fn gitlab_hook(extra: Value) -> Value {
        let mut v = json!({
            "id": 7,
            "url": "https://example.com/hook",
            "name": "n",
            "description": null,
            "created_at": "2020-01-06T17:32:02.823Z",
            "project_id": 3,
            "push_events": true,
            "tag_push_events": false,
            "remote_mirror_events": true,
            "enable_ssl_verification": true,
            "alert_status": "temporarily_disabled",
            "disabled_until": "2020-01-06T17:33:02.823Z",
            "push_events_branch_filter": "main",
            "branch_filter_strategy": "wildcard",
            "custom_webhook_template": null,
        });
        for name in [
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
        ] {
            v[name] = json!(false);
        }
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    }

    #[test]
    fn hooks_show_gitlabs_fields_and_only_the_keys_of_secrets() {
        let created = 1_578_331_922_823;
        let hook = ProjectHook {
            id: 7,
            project_id: 3,
            settings: HookSettings {
                url: "https://example.com/hook".into(),
                url_variable_keys: vec!["a".into()],
                custom_header_keys: vec!["X-B".into()],
                name: Some("n".into()),
                push_events: true,
                push_events_branch_filter: Some("main".into()),
                remote_mirror_events: true,
                enable_ssl_verification: true,
                ..HookSettings::default()
            },
            health: HookHealth {
                recent_failures: 4,
                disabled_until: Some(created + 60_000),
            },
            created_at: created,
        };
        let listed = serde_json::to_value(project_hook(&hook, created)).unwrap();
        assert_eq!(listed, gitlab_hook(json!({})));
        let one = serde_json::to_value(project_hook_detail(&hook, created)).unwrap();
        assert_eq!(
            one,
            gitlab_hook(json!({
                "url_variables": [{"key": "a"}],
                "custom_headers": [{"key": "X-B"}],
            }))
        );
    }

    #[test]
    fn log_entries_parse_their_json_and_show_seconds() {
        let log = HookLog {
            id: 1,
            hook_id: 2,
            trigger: "push_hooks".into(),
            url: "https://example.com/".into(),
            request_headers: r#"{"X-Gitlab-Token":"[REDACTED]"}"#.into(),
            request_data: r#"{"ref":"refs/heads/main"}"#.into(),
            response_headers: "not json".into(),
            response_body: "ok".into(),
            response_status: "200".into(),
            execution_duration_us: 1_500_000,
            idempotency_key: "k".into(),
            event_uuid: "u".into(),
            created_at: 0,
        };
        assert_eq!(
            serde_json::to_value(hook_event(&log)).unwrap(),
            json!({
                "id": 1,
                "url": "https://example.com/",
                "trigger": "push_hooks",
                "request_headers": {"X-Gitlab-Token": "[REDACTED]"},
                "request_data": {"ref": "refs/heads/main"},
                "response_headers": null,
                "response_body": "ok",
                "execution_duration": 1.5,
                "response_status": "200",
            })
        );
    }
}
