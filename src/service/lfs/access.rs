//! Who may use a project's git LFS objects: the same callers and rules as git over HTTP.
//! Downloading needs what cloning needs, uploading what pushing needs; an archived project is
//! read-only; a project with LFS off, or one the caller cannot see, does not exist. LFS is per
//! project: protected branches do not apply. An SSH client's `git-lfs-authenticate` token
//! stands for its user or deploy key ([`token_caller`]), as they are when it is used.

use crate::app::App;
use crate::model::entities::{Project, User};
use crate::service::error::{Resource, ServiceError};
use crate::service::projects::{find_project, writable};

use super::ssh_token::{self, TokenHolder};
use super::Operation;
use crate::service::auth::today;

/// The project at `full_path` when `user` (`None`: anonymous) may `op` its LFS objects.
/// `Unauthenticated` where credentials might get further, `Forbidden` for a caller who may see
/// but not do, `Refused(ProjectArchived)` for an upload to an archived project.
pub async fn lfs_project(
    app: &App,
    full_path: &str,
    user: Option<&User>,
    op: Operation,
) -> Result<Project, ServiceError> {
    let (project, caller) = find_project(app, full_path, user).await?;
    if !project.lfs_enabled {
        return Err(ServiceError::NotFound(Resource::Project));
    }
    let allowed = match op {
        Operation::Download => caller.can_read_code(project.visibility),
        Operation::Upload => caller.can_push(),
    };
    if !allowed {
        return Err(if user.is_none() {
            ServiceError::Unauthenticated
        } else {
            ServiceError::Forbidden
        });
    }
    if op == Operation::Upload {
        writable(&project)?;
    }
    Ok(project)
}

/// Who a `git-lfs-authenticate` token ([`ssh_token`]) stands for in the project at `full_path`.
#[derive(Debug, Clone)]
pub enum TokenCaller {
    /// A user, as they are now (the usual rules apply to them from here on).
    User(User),
    /// A deploy key enabled in the project: it may download, and upload when it may push.
    DeployKey { can_push: bool },
}

/// Whom `token` stands for at the project at `full_path` for `op`: a token that is not a live
/// token for this project and operation, or whose user or key has gone, lets no one in
/// (`Unauthenticated`); a user blocked since is `Blocked`.
pub async fn token_caller(
    app: &App,
    full_path: &str,
    token: &str,
    op: Operation,
) -> Result<TokenCaller, ServiceError> {
    let Some((project, _)) = app
        .store
        .project_by_path_for(full_path, None, &today(app))
        .await?
    else {
        return Err(ServiceError::Unauthenticated);
    };
    match ssh_token::redeem(app, token, project.id, op).ok_or(ServiceError::Unauthenticated)? {
        TokenHolder::User(id) => {
            let user = app
                .store
                .user_by_id(id)
                .await?
                .ok_or(ServiceError::Unauthenticated)?;
            if user.is_blocked() {
                return Err(ServiceError::Blocked);
            }
            Ok(TokenCaller::User(user))
        }
        TokenHolder::DeployKey(key_id) => {
            let link = app
                .store
                .project_deploy_key(project.id, key_id)
                .await?
                .filter(|l| l.key.lets_in(app.clock.now_ms()))
                .ok_or(ServiceError::Unauthenticated)?;
            Ok(TokenCaller::DeployKey {
                can_push: link.can_push,
            })
        }
    }
}

/// The project at `full_path` when deploy key caller (`can_push`) may `op` its LFS objects.
pub async fn deploy_key_lfs_project(
    app: &App,
    full_path: &str,
    can_push: bool,
    op: Operation,
) -> Result<Project, ServiceError> {
    let project = app
        .store
        .project_by_path_for(full_path, None, &today(app))
        .await?
        .map(|(p, _)| p)
        .filter(|p| p.lfs_enabled)
        .ok_or(ServiceError::NotFound(Resource::Project))?;
    if op == Operation::Upload {
        if !can_push {
            return Err(ServiceError::Forbidden);
        }
        writable(&project)?;
    }
    Ok(project)
}
