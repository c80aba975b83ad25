//! GitLab's protected-branch entity.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::entities::{AccessEntry, ProtectedBranch};
use crate::service::protected_branches::DEFAULT_LEVEL;

fn access_description(level: i64) -> &'static str {
    match level {
        0 => "No one",
        30 => "Developers + Maintainers",
        40 => "Maintainers",
        60 => "Admins",
        _ => "Custom",
    }
}

/// The protected-branch entity (GitLab's `ProtectedBranch`).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProtectedBranchEntity {
    /// The rule's id.
    id: i64,
    /// The branch name or wildcard (`release-*`) the rule protects.
    name: String,
    /// Who may push.
    push_access_levels: Vec<ProtectedRefAccess>,
    /// Who may merge.
    merge_access_levels: Vec<ProtectedRefAccess>,
    /// Who may remove the rule (empty: Maintainers).
    unprotect_access_levels: Vec<ProtectedRefAccess>,
    /// Whether those who may push may also force-push.
    allow_force_push: bool,
    /// Whether code owners must approve merges (recorded, not enforced).
    code_owner_approval_required: bool,
    /// Whether the rule is a group's: pushmirror has only project rules, always false.
    inherited: bool,
}

/// One entry of an access list: a role, a user, or a deploy key.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProtectedRefAccess {
    /// The entry's id (what `allowed_to_*` entries name to change or remove it).
    id: i64,
    /// The role: 0 (no one), 30 (Developers + Maintainers), 40 (Maintainers) or 60 (admins);
    /// 40 for a user's entry, which grants nothing by itself.
    access_level: i64,
    /// The role's description, the user's name for a user's entry, `Deploy key` for a
    /// deploy key's.
    access_level_description: String,
    /// The deploy key of a deploy key's entry (push lists only).
    deploy_key_id: Option<i64>,
    /// The user of a user's entry.
    user_id: Option<i64>,
    /// A group's entry: not supported, always null.
    group_id: Option<i64>,
}

/// The entity of one access entry.
fn access(e: &AccessEntry) -> ProtectedRefAccess {
    // A user entry, as GitLab's: the column's default level (Maintainer, which grants nothing
    // by itself) and the user's name as its description.
    let (level, description) = match (e.access_level, e.user_id) {
        _ if e.deploy_key_id.is_some() => (DEFAULT_LEVEL, "Deploy key".to_owned()),
        (Some(l), _) => (l, access_description(l).to_owned()),
        (None, Some(u)) => (
            DEFAULT_LEVEL,
            e.user_name.clone().unwrap_or_else(|| format!("User {u}")),
        ),
        (None, None) => (DEFAULT_LEVEL, String::new()),
    };
    ProtectedRefAccess {
        id: e.id,
        access_level: level,
        access_level_description: description,
        deploy_key_id: e.deploy_key_id,
        user_id: e.user_id,
        group_id: None,
    }
}

/// The protected-branch entity.
pub(in crate::http) fn protected_branch(b: &ProtectedBranch) -> ProtectedBranchEntity {
    let list = |entries: &[AccessEntry]| entries.iter().map(access).collect();
    ProtectedBranchEntity {
        id: b.id,
        name: b.name.clone(),
        push_access_levels: list(&b.push),
        merge_access_levels: list(&b.merge),
        unprotect_access_levels: list(&b.unprotect),
        allow_force_push: b.allow_force_push,
        code_owner_approval_required: b.code_owner_approval_required,
        inherited: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_show_gitlabs_fields_and_describe_users_by_name() {
        let entry = |id, access_level, user_id, user_name: Option<&str>| AccessEntry {
            id,
            access_level,
            user_id,
            user_name: user_name.map(str::to_owned),
            deploy_key_id: None,
        };
        let b = ProtectedBranch {
            id: 1,
            project_id: 2,
            name: "release-*".into(),
            push: vec![
                entry(3, Some(30), None, None),
                entry(4, None, Some(9), Some("Ann")),
            ],
            merge: vec![entry(5, Some(40), None, None)],
            unprotect: vec![entry(6, None, Some(8), None), entry(7, None, None, None)],
            allow_force_push: true,
            code_owner_approval_required: false,
        };
        let level = |id, level, description: &str, user: Option<i64>| {
            json!({
                "id": id,
                "access_level": level,
                "access_level_description": description,
                "deploy_key_id": null,
                "user_id": user,
                "group_id": null,
            })
        };
        assert_eq!(
            serde_json::to_value(protected_branch(&b)).unwrap(),
            json!({
                "id": 1,
                "name": "release-*",
                "push_access_levels": [
                    level(3, 30, "Developers + Maintainers", None),
                    level(4, 40, "Ann", Some(9)),
                ],
                "merge_access_levels": [level(5, 40, "Maintainers", None)],
                "unprotect_access_levels": [
                    level(6, 40, "User 8", Some(8)),
                    level(7, 40, "", None),
                ],
                "allow_force_push": true,
                "code_owner_approval_required": false,
                "inherited": false,
            })
        );
    }
}
