//! GitLab's protected-branch entity.

use serde_json::{json, Value};

use crate::model::entities::ProtectedBranch;
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

/// The protected-branch entity.
pub(in crate::http) fn protected_branch(b: &ProtectedBranch) -> Value {
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
