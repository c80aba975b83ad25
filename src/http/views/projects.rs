//! GitLab's project, namespace and group entities.

use serde_json::{json, Value};

use super::time;
use crate::model::access::AccessLevel;
use crate::model::entities::{Group, Namespace, NamespaceKind, Project};
/// The project entity, with the caller's access in `permissions`.
pub(in crate::http) fn project(
    p: &Project,
    caller_level: Option<AccessLevel>,
    external_url: &str,
) -> Value {
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
pub(in crate::http) fn namespace_basic(n: &Namespace, external_url: &str) -> Value {
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
pub(in crate::http) fn namespace(
    n: &Namespace,
    members_count: Option<i64>,
    external_url: &str,
) -> Value {
    let mut v = namespace_basic(n, external_url);
    if let (Some(count), Some(obj)) = (members_count, v.as_object_mut()) {
        obj.insert("members_count_with_descendants".into(), json!(count));
    }
    v
}

/// GitLab's `Group` entity.
pub(in crate::http) fn group(g: &Group, external_url: &str) -> Value {
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
pub(in crate::http) fn group_detail(
    g: &Group,
    projects: Option<Vec<Value>>,
    external_url: &str,
) -> Value {
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
