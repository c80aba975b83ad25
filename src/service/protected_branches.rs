//! Protecting, changing and unprotecting branches (names may be `*` wildcards), Maintainer+ as
//! in GitLab, with GitLab EE's access lists: who may push, merge and unprotect, each a set of
//! roles, users and (push only) deploy keys. Enforcement on push is `model::push_rules`.

use crate::app::App;
use crate::model::access::Caller;
use crate::model::entities::{AccessEntry, Project, ProtectedBranch};
use crate::model::naming::protected_branch_name;
use crate::model::push_rules::meets_any;
use crate::store::{AccessAction, NewAccess, NewProtection, ProtectionChanges, StoreError};

use super::error::{ServiceError, Taken};

/// The push/merge levels GitLab accepts: no one, developers, maintainers, admins.
pub const LEVELS: [i64; 4] = [0, 30, 40, 60];
/// GitLab's default for both levels: Maintainers.
pub const DEFAULT_LEVEL: i64 = 40;

/// One entry of an `allowed_to_*` list as sent (`id` and `destroy` only when changing a rule).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessSpec {
    pub id: Option<i64>,
    pub destroy: bool,
    pub access_level: Option<i64>,
    pub user_id: Option<i64>,
    /// Groups are named so they can be refused clearly.
    pub group_id: Option<i64>,
    /// A deploy key enabled in the project with `can_push` (push lists only).
    pub deploy_key_id: Option<i64>,
}

/// A rule to create: each list defaults to Maintainers (no list: nobody may unprotect but
/// Maintainers, as without one).
#[derive(Debug, Clone, Default)]
pub struct Protection {
    pub name: String,
    pub push: Vec<AccessSpec>,
    pub merge: Vec<AccessSpec>,
    pub unprotect: Vec<AccessSpec>,
    pub allow_force_push: bool,
    pub code_owner_approval_required: bool,
}

/// `PATCH` of a rule: the flags when given; entries with `id` and `destroy` removed, entries
/// without `id` added.
#[derive(Debug, Clone, Default)]
pub struct ProtectionPatch {
    pub allow_force_push: Option<bool>,
    pub code_owner_approval_required: Option<bool>,
    pub push: Vec<AccessSpec>,
    pub merge: Vec<AccessSpec>,
    pub unprotect: Vec<AccessSpec>,
}

/// The field a list's errors are recorded under (its humanised name starts their full messages:
/// `Push access levels entry not found`).
fn list_field(action: AccessAction) -> &'static str {
    match action {
        AccessAction::Push => "push_access_levels",
        AccessAction::Merge => "merge_access_levels",
        AccessAction::Unprotect => "unprotect_access_levels",
    }
}

/// Checks one new entry and turns it into what the store writes.
async fn new_entry(
    app: &App,
    project: &Project,
    action: AccessAction,
    spec: &AccessSpec,
) -> Result<NewAccess, ServiceError> {
    let fail = |m: &str| ServiceError::field(list_field(action), m);
    if spec.group_id.is_some() {
        return Err(fail(
            "group entries are not supported (there are no group memberships of projects)",
        ));
    }
    if let Some(key) = spec.deploy_key_id {
        // GitLab's `ProtectedRefDeployKeyAccess`: push lists only, and the key must be
        // enabled in the project with write access.
        if action != AccessAction::Push {
            return Err(fail("deploy key entries are only allowed to push"));
        }
        let writes = app
            .store
            .project_deploy_key(project.id, key)
            .await?
            .is_some_and(|link| link.can_push);
        if !writes {
            return Err(fail("deploy key is not enabled for this project"));
        }
        return Ok(NewAccess {
            action,
            access_level: None,
            user_id: None,
            deploy_key_id: Some(key),
        });
    }
    match (spec.access_level, spec.user_id) {
        (Some(level), None) if LEVELS.contains(&level) => Ok(NewAccess {
            action,
            access_level: Some(level),
            user_id: None,
            deploy_key_id: None,
        }),
        (Some(_), None) => Err(fail("access level is not included in the list")),
        // An entry naming a user is that user's, whatever level it also names (GitLab keeps
        // the level but checks only the user): Rack makes one such entry of @gitbeaker's
        // `[{accessLevel: 40}, {userId: 5}]`.
        (_, Some(user)) => {
            if app
                .store
                .access_level(project.id, user, &super::auth::today(app))
                .await?
                .is_none()
            {
                return Err(fail("user is not a member of the project"));
            }
            Ok(NewAccess {
                action,
                access_level: None,
                user_id: Some(user),
                deploy_key_id: None,
            })
        }
        (None, None) => Err(fail("must name an access_level or a user_id")),
    }
}

/// The rule named exactly `name`.
async fn find_rule(
    app: &App,
    project: &Project,
    name: &str,
) -> Result<ProtectedBranch, ServiceError> {
    app.store
        .protected_branch(project.id, name)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Protects the branches `p.name` matches.
pub async fn protect(
    app: &App,
    project: &Project,
    caller: Caller,
    p: Protection,
) -> Result<ProtectedBranch, ServiceError> {
    if !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    let name = protected_branch_name(&p.name)
        .ok_or_else(|| ServiceError::field("name", "can't be blank"))?
        .to_owned();
    let default = AccessSpec {
        access_level: Some(DEFAULT_LEVEL),
        ..AccessSpec::default()
    };
    let mut access = Vec::new();
    for (action, list, defaulted) in [
        (AccessAction::Push, &p.push, true),
        (AccessAction::Merge, &p.merge, true),
        (AccessAction::Unprotect, &p.unprotect, false),
    ] {
        if list.is_empty() && defaulted {
            access.push(new_entry(app, project, action, &default).await?);
        }
        for spec in list {
            access.push(new_entry(app, project, action, spec).await?);
        }
    }
    let new = NewProtection {
        name: name.clone(),
        access,
        allow_force_push: p.allow_force_push,
        code_owner_approval_required: p.code_owner_approval_required,
    };
    match app
        .store
        .create_protection(project.id, &new, app.clock.now_ms())
        .await
    {
        Ok(b) => Ok(b),
        Err(StoreError::Conflict(_)) => Err(ServiceError::Conflict(Taken::ProtectedBranch(name))),
        Err(e) => Err(e.into()),
    }
}

/// Changes the rule named exactly `name`.
pub async fn update(
    app: &App,
    project: &Project,
    caller: Caller,
    name: &str,
    patch: ProtectionPatch,
) -> Result<ProtectedBranch, ServiceError> {
    if !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    let rule = find_rule(app, project, name).await?;
    let mut changes = ProtectionChanges {
        allow_force_push: patch.allow_force_push,
        code_owner_approval_required: patch.code_owner_approval_required,
        ..ProtectionChanges::default()
    };
    for (action, list, existing) in [
        (AccessAction::Push, &patch.push, &rule.push),
        (AccessAction::Merge, &patch.merge, &rule.merge),
        (AccessAction::Unprotect, &patch.unprotect, &rule.unprotect),
    ] {
        for spec in list {
            match spec.id {
                Some(id) if existing.iter().any(|e: &AccessEntry| e.id == id) => {
                    if spec.destroy {
                        changes.remove.push(id);
                    }
                }
                Some(_) => return Err(ServiceError::field(list_field(action), "entry not found")),
                None => changes
                    .add
                    .push(new_entry(app, project, action, spec).await?),
            }
        }
    }
    app.store.update_protection(rule.id, &changes).await?;
    find_rule(app, project, name).await
}

/// Removes the rule named exactly `name`. When the rule has an unprotect list, only those it
/// names (and admins) may; otherwise Maintainers.
pub async fn unprotect(
    app: &App,
    project: &Project,
    caller: Caller,
    name: &str,
) -> Result<(), ServiceError> {
    if !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    let rule = find_rule(app, project, name).await?;
    if !rule.unprotect.is_empty() && !caller.is_admin && !meets_any(caller, &rule.unprotect) {
        return Err(ServiceError::Forbidden);
    }
    app.store.delete_protected_branch(project.id, name).await?;
    Ok(())
}
