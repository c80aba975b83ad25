//! GitLab's JSON entities, built field by field from domain values. Nothing reaches the wire
//! unless it is named here, so a new domain field (a credential, say) can never leak by accident.

use serde_json::{json, Value};

use crate::model::access::AccessLevel;
use crate::model::entities::{
    gitlab_time, Group, Member, Millis, MirrorSummary, Namespace, NamespaceKind, Project,
    ProtectedBranch, User,
};
use crate::model::host_keys::fingerprints;
use crate::service::protected_branches::DEFAULT_LEVEL;
use crate::service::ssh_host_keys::Detection;

/// GitLab's timestamp format: ISO 8601, UTC, milliseconds (`2020-01-06T17:32:02.823Z`).
pub(super) fn time(ms: Millis) -> Value {
    gitlab_time(ms).map(Value::String).unwrap_or(Value::Null)
}

/// A commit entity; `project_url` is the project's web URL.
pub(super) fn commit(c: &crate::git::repository::CommitInfo, project_url: &str) -> Value {
    json!({
        "id": c.id,
        "short_id": c.id.get(..8).unwrap_or(&c.id),
        "created_at": c.committed_date,
        "parent_ids": c.parent_ids,
        "title": c.title,
        "message": c.message,
        "author_name": c.author_name,
        "author_email": c.author_email,
        "authored_date": c.authored_date,
        "committer_name": c.committer_name,
        "committer_email": c.committer_email,
        "committed_date": c.committed_date,
        "trailers": {},
        "extended_trailers": {},
        "web_url": format!("{project_url}/-/commit/{}", c.id),
    })
}

/// A branch entity.
pub(super) fn branch(b: &crate::service::repository::Branch, project_url: &str) -> Value {
    json!({
        "name": b.info.name,
        "commit": commit(&b.info.commit, project_url),
        "merged": b.merged,
        "protected": b.protected,
        "developers_can_push": b.developers_can_push,
        "developers_can_merge": b.developers_can_merge,
        "can_push": b.can_push,
        "default": b.default,
        "web_url": format!("{project_url}/-/tree/{}", b.info.name),
    })
}

/// A tag entity.
pub(super) fn tag(t: &crate::git::repository::RefInfo, project_url: &str) -> Value {
    json!({
        "name": t.name,
        "message": t.tag_message,
        "target": t.target,
        "commit": commit(&t.commit, project_url),
        "release": null,
        "protected": false,
        "created_at": null,
    })
}

/// The basic user entity.
pub(super) fn user_basic(u: &User, external_url: &str) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "name": u.name,
        "state": u.state.as_str(),
        "locked": false,
        "avatar_url": null,
        "web_url": format!("{external_url}/{}", u.username),
    })
}

/// The entity `GET /user` returns.
pub(super) fn user_full(u: &User, external_url: &str) -> Value {
    let mut v = user_basic(u, external_url);
    let obj = v.as_object_mut().expect("object");
    obj.insert("is_admin".into(), json!(u.is_admin));
    obj.insert("email".into(), json!(u.email));
    obj.insert("created_at".into(), time(u.created_at));
    obj.insert("bot".into(), json!(false));
    v
}

/// The project entity, with the caller's access in `permissions`.
pub(super) fn project(p: &Project, caller_level: Option<AccessLevel>, external_url: &str) -> Value {
    let full = p.full_path();
    let web_url = format!("{external_url}/{full}");
    json!({
        "id": p.id,
        "description": p.description,
        "name": p.name,
        "name_with_namespace": format!("{} / {}", p.namespace.full_name, p.name),
        "path": p.path,
        "path_with_namespace": full,
        "created_at": time(p.created_at),
        "default_branch": p.default_branch,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": null,
        "http_url_to_repo": format!("{web_url}.git"),
        "web_url": web_url,
        "readme_url": null,
        "avatar_url": null,
        "forks_count": 0,
        "star_count": 0,
        "last_activity_at": time(p.last_activity_at),
        "namespace": namespace_basic(&p.namespace, external_url),
        "visibility": p.visibility.as_str(),
        "archived": p.archived,
        "empty_repo": p.empty_repo,
        "creator_id": p.creator_id,
        "remote_mirror_available_overridden": null,
        // No project is shared with a group here; gitlabform's members section reads it.
        "shared_with_groups": [],
        "permissions": {
            "project_access": caller_level.map(|l| json!({"access_level": l.as_i64(), "notification_level": 3})),
            "group_access": null,
        },
    })
}

/// A namespace's web URL: a user's profile, or a group's page (`/groups/<full path>`).
fn namespace_web_url(n: &Namespace, external_url: &str) -> String {
    match n.kind {
        NamespaceKind::User => format!("{external_url}/{}", n.full_path),
        NamespaceKind::Group => format!("{external_url}/groups/{}", n.full_path),
    }
}

/// GitLab's `NamespaceBasic` entity (a project's `namespace`).
pub(super) fn namespace_basic(n: &Namespace, external_url: &str) -> Value {
    json!({
        "id": n.id,
        "name": n.name,
        "path": n.path(),
        "kind": n.kind.as_str(),
        "full_path": n.full_path,
        "parent_id": n.parent_id,
        "avatar_url": null,
        "web_url": namespace_web_url(n, external_url),
    })
}

/// GitLab's `Namespace` entity; `members_count_with_descendants` only for those who may
/// administer the group.
pub(super) fn namespace(n: &Namespace, members_count: Option<i64>, external_url: &str) -> Value {
    let mut v = namespace_basic(n, external_url);
    if let (Some(count), Some(obj)) = (members_count, v.as_object_mut()) {
        obj.insert("members_count_with_descendants".into(), json!(count));
    }
    v
}

/// GitLab's `Group` entity.
pub(super) fn group(g: &Group, external_url: &str) -> Value {
    let n = &g.namespace;
    json!({
        "id": n.id,
        "web_url": namespace_web_url(n, external_url),
        "name": n.name,
        "path": n.path(),
        "description": g.description.clone().unwrap_or_default(),
        "visibility": n.visibility.as_str(),
        "share_with_group_lock": false,
        "require_two_factor_authentication": false,
        "two_factor_grace_period": 48,
        "project_creation_level": g.project_creation_level.as_str(),
        "auto_devops_enabled": null,
        "subgroup_creation_level": g.subgroup_creation_level.as_str(),
        "emails_disabled": false,
        "emails_enabled": true,
        "mentions_disabled": null,
        "lfs_enabled": true,
        "archived": false,
        "default_branch": null,
        "default_branch_protection": 2,
        "avatar_url": null,
        "request_access_enabled": true,
        "full_name": n.full_name,
        "full_path": n.full_path,
        "created_at": time(g.created_at),
        "parent_id": n.parent_id,
        "organization_id": 1,
        "shared_runners_setting": "enabled",
        "max_artifacts_size": null,
        "marked_for_deletion_on": null,
    })
}

/// GitLab's `GroupDetail` entity: the group with its projects (the first 100 the caller may
/// see, as GitLab caps them) when asked.
pub(super) fn group_detail(g: &Group, projects: Option<Vec<Value>>, external_url: &str) -> Value {
    let mut v = group(g, external_url);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("shared_with_groups".into(), json!([]));
        obj.insert(
            "prevent_sharing_groups_outside_hierarchy".into(),
            json!(false),
        );
        if let Some(projects) = projects {
            obj.insert("projects".into(), Value::Array(projects));
            obj.insert("shared_projects".into(), json!([]));
        }
    }
    v
}

/// The member entity.
pub(super) fn member(m: &Member, external_url: &str) -> Value {
    let mut v = user_basic(&m.user, external_url);
    let obj = v.as_object_mut().expect("object");
    obj.insert("access_level".into(), json!(m.access_level.as_i64()));
    obj.insert("created_at".into(), time(m.created_at));
    obj.insert("expires_at".into(), json!(m.expires_at));
    obj.insert("membership_state".into(), json!("active"));
    v
}

fn access_description(level: i64) -> &'static str {
    match level {
        0 => "No one",
        30 => "Developers + Maintainers",
        40 => "Maintainers",
        60 => "Admins",
        _ => "Custom",
    }
}

/// The protected-branch entity.
pub(super) fn protected_branch(b: &ProtectedBranch) -> Value {
    let list = |entries: &[crate::model::entities::AccessEntry]| -> Value {
        entries
            .iter()
            .map(|e| {
                // A user entry, as GitLab's: the column's default level (Maintainer, which
                // grants nothing by itself) and the user's name as its description.
                let (level, description) = match (e.access_level, e.user_id) {
                    (Some(l), _) => (l, access_description(l).to_owned()),
                    (None, Some(u)) => (
                        DEFAULT_LEVEL,
                        e.user_name.clone().unwrap_or_else(|| format!("User {u}")),
                    ),
                    (None, None) => (DEFAULT_LEVEL, String::new()),
                };
                json!({
                    "id": e.id,
                    "access_level": level,
                    "access_level_description": description,
                    "deploy_key_id": null,
                    "user_id": e.user_id,
                    "group_id": null,
                })
            })
            .collect()
    };
    json!({
        "id": b.id,
        "name": b.name,
        "push_access_levels": list(&b.push),
        "merge_access_levels": list(&b.merge),
        "unprotect_access_levels": list(&b.unprotect),
        "allow_force_push": b.allow_force_push,
        "code_owner_approval_required": b.code_owner_approval_required,
        "inherited": false,
    })
}

/// The remote-mirror entity, with the URL masked as GitLab's `safe_url`. Typed rather than a
/// `Value`: lists serialise a page of these per poll.
#[derive(Debug, serde::Serialize)]
pub(super) struct RemoteMirrorEntity {
    id: i64,
    enabled: bool,
    url: String,
    update_status: &'static str,
    last_update_at: Option<String>,
    last_update_started_at: Option<String>,
    last_successful_update_at: Option<String>,
    last_error: Option<String>,
    only_protected_branches: bool,
    keep_divergent_refs: bool,
    mirror_branch_regex: Option<String>,
    auth_method: &'static str,
    host_keys: Vec<HostKey>,
}

/// One pinned SSH host key, as GitLab lists it.
#[derive(Debug, serde::Serialize)]
struct HostKey {
    fingerprint_sha256: String,
}

/// The remote-mirror entity of `m`.
pub(super) fn remote_mirror(m: MirrorSummary) -> RemoteMirrorEntity {
    RemoteMirrorEntity {
        id: m.id,
        enabled: m.enabled,
        url: m.safe_url(),
        update_status: m.update_status.as_str(),
        last_update_at: m.last_update_at.and_then(gitlab_time),
        last_update_started_at: m.last_update_started_at.and_then(gitlab_time),
        last_successful_update_at: m.last_successful_update_at.and_then(gitlab_time),
        last_error: m.last_error,
        only_protected_branches: m.only_protected_branches,
        keep_divergent_refs: m.keep_divergent_refs,
        mirror_branch_regex: m.mirror_branch_regex,
        auth_method: m.auth_method.as_str(),
        host_keys: host_key_fingerprints(m.ssh_known_hosts.as_deref()),
    }
}

/// The fingerprint of each pinned host key (`SHA256:…`).
fn host_key_fingerprints(known_hosts: Option<&str>) -> Vec<HostKey> {
    fingerprints(known_hosts.unwrap_or_default())
        .into_iter()
        .map(|f| HostKey {
            fingerprint_sha256: f.sha256,
        })
        .collect()
}

/// GitLab's host-key detection answer: `known_hosts`, one fingerprint per line of it (GitLab's
/// `{type, bits, fingerprint, index}` plus the `fingerprint_sha256` its mirror entity shows), and
/// `host_keys_changed`.
pub(super) fn ssh_host_keys(found: &Detection) -> Value {
    let fingerprints: Vec<Value> = found
        .fingerprints
        .iter()
        .map(|f| {
            json!({
                "type": f.key_type,
                "bits": f.bits,
                "fingerprint": f.md5,
                "fingerprint_sha256": f.sha256,
                "index": f.index,
            })
        })
        .collect();
    json!({
        "known_hosts": found.known_hosts,
        "fingerprints": fingerprints,
        "host_keys_changed": found.host_keys_changed,
    })
}

/// GitLab's event attributes pushmirror has nothing to send for: accepted, always `false`.
pub(super) const UNSUPPORTED_HOOK_EVENTS: [&str; 17] = [
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
pub(super) fn project_hook(
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
pub(super) fn hook_event(l: &crate::model::hooks::HookLog) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_z() {
        assert_eq!(time(1_578_331_922_823), json!("2020-01-06T17:32:02.823Z"));
        assert_eq!(time(0), json!("1970-01-01T00:00:00.000Z"));
    }
}
