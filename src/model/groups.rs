//! Groups as GitLab nests them: how deep they may go, their full path and name, and how a
//! visibility must sit between a parent group's and what lies below. Pure, with GitLab's
//! messages.

use crate::model::access::Visibility;

/// The most ancestors a group may have (GitLab's `Group::NUMBER_OF_ANCESTORS_ALLOWED`): a
/// top-level group and 20 levels below it.
pub const MAX_ANCESTORS: usize = 20;

/// GitLab's `parent_id` error for a group that would be nested deeper.
pub const NESTING_MESSAGE: &str = "has too deep level of nesting";

/// Whether a group with this many ancestors may exist.
pub fn nesting_allowed(ancestors: usize) -> bool {
    ancestors <= MAX_ANCESTORS
}

/// A group's full path: its parent's full path and its own path.
pub fn full_path(parent: Option<&str>, path: &str) -> String {
    match parent {
        Some(p) => format!("{p}/{path}"),
        None => path.to_owned(),
    }
}

/// A group's full name, GitLab's `Org / Team`.
pub fn full_name(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(p) => format!("{p} / {name}"),
        None => name.to_owned(),
    }
}

/// Why a subgroup may not be `wanted` under a parent of `parent` visibility, if it may not.
pub fn subgroup_visibility_error(wanted: Visibility, parent: Visibility) -> Option<String> {
    (wanted.rank() > parent.rank()).then(|| {
        format!(
            "{} is not allowed since the parent group has a {} visibility.",
            wanted.as_str(),
            parent.as_str()
        )
    })
}

/// Why a project may not be `wanted` in a group of `group` visibility, if it may not.
pub fn project_visibility_error(wanted: Visibility, group: Visibility) -> Option<String> {
    (wanted.rank() > group.rank()).then(|| {
        format!(
            "{} is not allowed in a {} group.",
            wanted.as_str(),
            group.as_str()
        )
    })
}

/// Why a group may not become `wanted` while its widest subgroup and project are as given.
pub fn group_visibility_error(
    wanted: Visibility,
    widest_subgroup: Option<Visibility>,
    widest_project: Option<Visibility>,
) -> Option<String> {
    let above = |v: Option<Visibility>| v.is_some_and(|v| v.rank() > wanted.rank());
    if above(widest_project) {
        Some(format!(
            "{} is not allowed since this group contains projects with higher visibility.",
            wanted.as_str()
        ))
    } else if above(widest_subgroup) {
        Some(format!(
            "{} is not allowed since there are sub-groups with higher visibility.",
            wanted.as_str()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Visibility::*;

    #[test]
    fn nesting_stops_at_twenty_ancestors() {
        assert!(nesting_allowed(0) && nesting_allowed(20));
        assert!(!nesting_allowed(21));
        assert_eq!(full_path(Some("org/team"), "sub"), "org/team/sub");
        assert_eq!(full_path(None, "org"), "org");
        assert_eq!(full_name(Some("Org / Team"), "Sub"), "Org / Team / Sub");
    }

    #[test]
    fn visibility_sits_between_parent_and_children() {
        assert_eq!(
            subgroup_visibility_error(Internal, Private).as_deref(),
            Some("internal is not allowed since the parent group has a private visibility.")
        );
        assert_eq!(subgroup_visibility_error(Private, Public), None);
        assert_eq!(
            project_visibility_error(Public, Internal).as_deref(),
            Some("public is not allowed in a internal group.")
        );
        assert_eq!(project_visibility_error(Internal, Internal), None);
        assert_eq!(
            group_visibility_error(Private, Some(Internal), Some(Public)).as_deref(),
            Some(
                "private is not allowed since this group contains projects with higher visibility."
            )
        );
        assert_eq!(
            group_visibility_error(Internal, Some(Public), Some(Private)).as_deref(),
            Some("internal is not allowed since there are sub-groups with higher visibility.")
        );
        assert_eq!(group_visibility_error(Public, Some(Public), None), None);
    }
}
