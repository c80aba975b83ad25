//! Who may change which branch by pushing, as GitLab enforces protected branches on push. For
//! every pushed branch that at least one rule matches, the most permissive matching rule wins:
//!
//! - nobody deletes a protected branch over git (only through the API or the web);
//! - an update needs a matching rule with a push entry the caller meets: a role (`0` no one,
//!   `30` Developers, `40` Maintainers, `60` instance admins only; admins meet every level but
//!   `0`), the caller by user id (a member who may push at all), or the caller's deploy key by
//!   id (enabled with `can_push`; a deploy key meets no role, as GitLab's);
//! - a new protected branch may also be created by whoever a rule lets merge;
//! - a non-fast-forward update additionally needs a matching rule with `allow_force_push`, which
//!   only git can judge once the pack has arrived, so it is left as [`Verdict::FastForwardOnly`].
//!
//! Branches no rule matches, and tags, are left to the project-wide push permission.

use super::access::{AccessLevel, Caller};
use super::entities::{AccessEntry, ProtectedBranch};
use super::refmatch::BranchPattern;

/// GitLab's message for a push the caller's level does not allow.
pub const PUSH_REFUSED: &str =
    "You are not allowed to push code to protected branches on this project.";
/// GitLab's message for a non-fast-forward push to a protected branch.
pub const FORCE_PUSH_REFUSED: &str =
    "You are not allowed to force push code to a protected branch on this project.";
/// GitLab's message for deleting a protected branch over git.
pub const DELETE_REFUSED: &str = "You can only delete protected branches using the web interface.";
/// GitLab's message for creating a protected branch the caller may neither push nor merge to.
pub const CREATE_REFUSED: &str =
    "You are not allowed to create protected branches on this project.";

/// What one pushed ref may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The update may go ahead.
    Allowed,
    /// The update may go ahead only if it is a fast-forward.
    FastForwardOnly,
    /// The update is refused, with GitLab's reason.
    Refused(&'static str),
}

/// A project's protected-branch rules, ready to judge pushes.
pub struct PushRules {
    rules: Vec<(BranchPattern, ProtectedBranch)>,
}

/// The change a pushed ref makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Delete,
}

impl PushRules {
    pub fn new(rules: Vec<ProtectedBranch>) -> PushRules {
        PushRules {
            rules: rules
                .into_iter()
                .map(|r| (BranchPattern::new(r.name.clone()), r))
                .collect(),
        }
    }

    /// Whether no rule exists (every push is then only the project-wide permission's business).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The verdict on `change` of `branch` (a name without `refs/heads/`; `None` for a ref that
    /// is not a branch) by `caller`, who already may push to the project.
    pub fn judge(&self, caller: Caller, branch: Option<&str>, change: Change) -> Verdict {
        let Some(branch) = branch else {
            return Verdict::Allowed;
        };
        let matching: Vec<&ProtectedBranch> = self
            .rules
            .iter()
            .filter(|(p, _)| p.matches(branch))
            .map(|(_, r)| r)
            .collect();
        if matching.is_empty() {
            return Verdict::Allowed;
        }
        let may_push = matching.iter().any(|r| meets_any(caller, &r.push));
        match change {
            Change::Delete => Verdict::Refused(DELETE_REFUSED),
            Change::Create => {
                let may_merge = matching.iter().any(|r| meets_any(caller, &r.merge));
                if may_push || may_merge {
                    Verdict::Allowed
                } else {
                    Verdict::Refused(CREATE_REFUSED)
                }
            }
            Change::Update if !may_push => Verdict::Refused(PUSH_REFUSED),
            Change::Update if matching.iter().any(|r| r.allow_force_push) => Verdict::Allowed,
            Change::Update => Verdict::FastForwardOnly,
        }
    }
}

/// Whether `caller` meets any entry of an access list.
pub fn meets_any(caller: Caller, entries: &[AccessEntry]) -> bool {
    entries
        .iter()
        .any(|e| match (e.access_level, e.user_id, e.deploy_key_id) {
            (_, _, Some(key)) => caller
                .deploy_key
                .is_some_and(|k| k.key_id == key && k.can_push),
            (_, Some(user), None) => caller.user_id == Some(user) && caller.can_push(),
            (Some(level), None, None) => meets(caller, level),
            (None, None, None) => false,
        })
}

/// Whether `caller` meets a protected branch's access level.
fn meets(caller: Caller, level: i64) -> bool {
    match level {
        0 => false,
        60 => caller.is_admin,
        l => {
            caller.is_admin
                || caller
                    .level
                    .is_some_and(|have| have.as_i64() >= l && have >= AccessLevel::Developer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessLevel::*;

    fn rule(name: &str, push: i64, merge: i64, force: bool) -> ProtectedBranch {
        ProtectedBranch {
            id: 0,
            project_id: 1,
            name: name.into(),
            push: vec![AccessEntry::level(1, push)],
            merge: vec![AccessEntry::level(2, merge)],
            unprotect: vec![],
            allow_force_push: force,
            code_owner_approval_required: false,
        }
    }

    fn member(level: AccessLevel) -> Caller {
        Caller {
            is_admin: false,
            level: Some(level),
            authenticated: true,
            user_id: None,
            deploy_key: None,
        }
    }

    const ADMIN: Caller = Caller {
        is_admin: true,
        level: None,
        authenticated: true,
        user_id: None,
        deploy_key: None,
    };

    #[test]
    fn push_levels_are_enforced_for_everyone_including_maintainers() {
        let rules = PushRules::new(vec![rule("main", 40, 40, false)]);
        let main = Some("main");
        assert_eq!(
            rules.judge(member(Developer), main, Change::Update),
            Verdict::Refused(PUSH_REFUSED)
        );
        assert_eq!(
            rules.judge(member(Maintainer), main, Change::Update),
            Verdict::FastForwardOnly
        );
        let nobody = PushRules::new(vec![rule("main", 0, 40, false)]);
        for who in [member(Maintainer), member(Owner), ADMIN] {
            assert_eq!(
                nobody.judge(who, main, Change::Update),
                Verdict::Refused(PUSH_REFUSED)
            );
        }
        let developers = PushRules::new(vec![rule("main", 30, 40, false)]);
        assert_eq!(
            developers.judge(member(Developer), main, Change::Update),
            Verdict::FastForwardOnly
        );
        let admins = PushRules::new(vec![rule("main", 60, 60, true)]);
        assert_eq!(
            admins.judge(member(Owner), main, Change::Update),
            Verdict::Refused(PUSH_REFUSED)
        );
        assert_eq!(admins.judge(ADMIN, main, Change::Update), Verdict::Allowed);
    }

    #[test]
    fn deletion_over_git_is_refused_to_all_and_unprotected_refs_pass() {
        let rules = PushRules::new(vec![rule("release-*", 30, 30, true)]);
        assert_eq!(
            rules.judge(ADMIN, Some("release-1"), Change::Delete),
            Verdict::Refused(DELETE_REFUSED)
        );
        assert_eq!(
            rules.judge(member(Developer), Some("feature"), Change::Delete),
            Verdict::Allowed
        );
        assert_eq!(
            rules.judge(member(Developer), None, Change::Delete),
            Verdict::Allowed,
            "tags are not branches"
        );
    }

    #[test]
    fn the_most_permissive_matching_rule_wins() {
        let rules = PushRules::new(vec![
            rule("v*", 0, 0, false),
            rule("v1.*", 40, 40, false),
            rule("v1.x", 30, 40, true),
        ]);
        assert_eq!(
            rules.judge(member(Developer), Some("v1.x"), Change::Update),
            Verdict::Allowed
        );
        assert_eq!(
            rules.judge(member(Developer), Some("v1.y"), Change::Update),
            Verdict::Refused(PUSH_REFUSED)
        );
        assert_eq!(
            rules.judge(member(Maintainer), Some("v1.y"), Change::Update),
            Verdict::FastForwardOnly
        );
        assert_eq!(
            rules.judge(member(Maintainer), Some("v2"), Change::Update),
            Verdict::Refused(PUSH_REFUSED)
        );
    }

    #[test]
    fn creation_needs_push_or_merge() {
        let rules = PushRules::new(vec![rule("stable", 0, 30, false)]);
        assert_eq!(
            rules.judge(member(Developer), Some("stable"), Change::Create),
            Verdict::Allowed
        );
        let closed = PushRules::new(vec![rule("stable", 0, 0, false)]);
        assert_eq!(
            closed.judge(member(Owner), Some("stable"), Change::Create),
            Verdict::Refused(CREATE_REFUSED)
        );
    }

    #[test]
    fn a_deploy_key_pushes_to_a_protected_branch_only_when_named_and_writable() {
        use crate::model::access::DeployKeyGrant;
        let mut named = rule("main", 40, 40, false);
        named.push.push(AccessEntry {
            id: 3,
            access_level: None,
            user_id: None,
            user_name: None,
            deploy_key_id: Some(5),
        });
        let rules = PushRules::new(vec![named, rule("stable", 40, 40, false)]);
        let key = |key_id, can_push| Caller::deploy_key(DeployKeyGrant { key_id, can_push });
        // Named, with write access: as any pusher the rule lets in (fast-forward only here).
        assert_eq!(
            rules.judge(key(5, true), Some("main"), Change::Update),
            Verdict::FastForwardOnly
        );
        // Another key, the same key without write access, or a branch whose rule names only
        // roles (a deploy key meets none): refused.
        for (caller, branch) in [
            (key(6, true), "main"),
            (key(5, false), "main"),
            (key(5, true), "stable"),
        ] {
            assert_eq!(
                rules.judge(caller, Some(branch), Change::Update),
                Verdict::Refused(PUSH_REFUSED),
                "{caller:?} on {branch}"
            );
        }
        // Unprotected branches are the project-wide permission's business.
        assert_eq!(
            rules.judge(key(6, true), Some("feature"), Change::Update),
            Verdict::Allowed
        );
    }

    #[test]
    fn a_user_entry_lets_exactly_that_member_push() {
        let mut r = rule("main", 0, 0, false);
        r.push.push(AccessEntry {
            id: 3,
            access_level: None,
            user_id: Some(7),
            user_name: None,
            deploy_key_id: None,
        });
        let rules = PushRules::new(vec![r]);
        let seven = Caller {
            user_id: Some(7),
            deploy_key: None,
            ..member(Developer)
        };
        let eight = Caller {
            user_id: Some(8),
            deploy_key: None,
            ..member(Maintainer)
        };
        let guest_seven = Caller {
            user_id: Some(7),
            deploy_key: None,
            ..member(Guest)
        };
        assert_eq!(
            rules.judge(seven, Some("main"), Change::Update),
            Verdict::FastForwardOnly
        );
        assert_eq!(
            rules.judge(eight, Some("main"), Change::Update),
            Verdict::Refused(PUSH_REFUSED)
        );
        assert_eq!(
            rules.judge(guest_seven, Some("main"), Change::Update),
            Verdict::Refused(PUSH_REFUSED),
            "a user entry does not lift a Guest's project-wide permission"
        );
    }
}
