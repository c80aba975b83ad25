//! Protecting and unprotecting branches (names may be `*` wildcards), Maintainer+ as in GitLab.
//! Enforcement on push is `service::pushes::refused_updates`.

use crate::app::App;
use crate::model::access::Caller;
use crate::model::entities::{Project, ProtectedBranch};
use crate::model::naming::protected_branch_name;
use crate::store::StoreError;

use super::error::ServiceError;

/// The push/merge levels GitLab accepts: no one, developers, maintainers, admins.
pub const LEVELS: [i64; 4] = [0, 30, 40, 60];
/// GitLab's default for both levels: Maintainers.
pub const DEFAULT_LEVEL: i64 = 40;

/// A rule to create; levels are among [`LEVELS`].
#[derive(Debug, Clone)]
pub struct Protection {
    pub name: String,
    pub push_access_level: i64,
    pub merge_access_level: i64,
    pub allow_force_push: bool,
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
        .ok_or_else(|| ServiceError::Unprocessable(vec!["Name can't be blank".into()]))?;
    match app
        .store
        .create_protected_branch(
            project.id,
            name,
            p.push_access_level,
            p.merge_access_level,
            p.allow_force_push,
            app.clock.now_ms(),
        )
        .await
    {
        Ok(b) => Ok(b),
        Err(StoreError::Conflict(_)) => Err(ServiceError::Conflict(format!(
            "Protected branch '{name}' already exists"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Removes the rule named exactly `name`.
pub async fn unprotect(
    app: &App,
    project: &Project,
    caller: Caller,
    name: &str,
) -> Result<(), ServiceError> {
    if !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    if app.store.delete_protected_branch(project.id, name).await? {
        Ok(())
    } else {
        Err(ServiceError::RecordNotFound)
    }
}
