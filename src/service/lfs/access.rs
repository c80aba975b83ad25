//! Who may use a project's git LFS objects: the same callers and rules as git over HTTP.
//! Downloading needs what cloning needs, uploading what pushing needs; an archived project is
//! read-only; a project with LFS off, or one the caller cannot see, does not exist. LFS is per
//! project: protected branches do not apply.

use crate::app::App;
use crate::model::entities::{Project, User};
use crate::service::error::{Resource, ServiceError};
use crate::service::projects::{find_project, writable};

use super::Operation;

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
