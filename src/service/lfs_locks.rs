//! Git LFS file locks as use cases (the locking API of git-lfs, as GitLab serves it): take a
//! lock, list a project's locks, list them for a push's verification split into the caller's and
//! everyone else's, release one. The caller is already admitted to the project (the LFS face
//! found it); each use case checks that LFS is on for the project (else the project is not
//! found) and the caller's permission, as GitLab's services do: listing needs read access to
//! the code, everything else push access to a project that is not archived. Who may release
//! whose lock is [`may_unlock`].
//!
//! [`locked_by_others`] is GitLab's server-side rule for pushes: a push changing a path someone
//! else locked is refused; [`held_by_others`] tells cheaply whether a push needs to ask.
//!
//! A lock taken twice is not an error here: [`LockTaken::Exists`] carries the lock that holds
//! the path, which the face answers with 409.

use crate::app::App;
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::model::lfs_locks::{
    check_path, first_locked, may_unlock, parse_id, split_by_owner, LfsLock, LockPage,
    UnlockRefusal,
};
use crate::service::error::{Resource, ServiceError};
use crate::service::projects::writable;
use crate::store::{LockFilter, LockTaken, NewLfsLock};

/// One page of locks and where the next starts.
#[derive(Debug, Clone)]
pub struct LockList {
    pub locks: Vec<LfsLock>,
    pub next_cursor: Option<i64>,
}

/// One page of locks for a push's verification.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Locks the caller holds.
    pub ours: Vec<LfsLock>,
    /// Locks others hold: a push changing their paths is refused by the client.
    pub theirs: Vec<LfsLock>,
    pub next_cursor: Option<i64>,
}

/// What releasing a lock did.
#[derive(Debug, Clone)]
pub enum Unlocked {
    /// The lock is gone; this is what it was.
    Released(LfsLock),
    /// The caller may not release it (nothing was written).
    Refused(LfsLock, UnlockRefusal),
}

/// Which locks to list: by exact path and/or id, as the client sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter<'a> {
    pub path: Option<&'a str>,
    pub id: Option<&'a str>,
}

/// Checks LFS is on for `project`: when off, its locks are as absent as the project (GitLab's
/// `lfs_enabled` switch; every LFS route answers the same).
fn require_lfs(project: &Project) -> Result<(), ServiceError> {
    if project.lfs_enabled {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Resource::Project))
    }
}

/// Checks the caller may change locks of `project`: push access, not archived.
fn require_push(project: &Project, caller: &Caller) -> Result<(), ServiceError> {
    if !caller.can_push() {
        return Err(if caller.authenticated {
            ServiceError::Forbidden
        } else {
            ServiceError::Unauthenticated
        });
    }
    writable(project)
}

/// The caller's user id; only authenticated callers get past [`require_push`].
fn user_id(caller: &Caller) -> Result<i64, ServiceError> {
    caller.user_id.ok_or(ServiceError::Unauthenticated)
}

/// Takes the lock of `path` in `project` for the caller, or says who holds it.
pub async fn lock(
    app: &App,
    project: &Project,
    caller: &Caller,
    path: &str,
    ref_name: Option<&str>,
) -> Result<LockTaken, ServiceError> {
    require_lfs(project)?;
    require_push(project, caller)?;
    let user_id = user_id(caller)?;
    check_path(path).map_err(|e| ServiceError::field("path", e.to_string()))?;
    let new = NewLfsLock {
        project_id: project.id,
        path,
        user_id,
        ref_name: ref_name.filter(|r| !r.is_empty()),
        created_at: app.clock.now_ms(),
    };
    Ok(app.store.take_lfs_lock(&new).await?)
}

/// One page of the project's locks matching `filter`, newest first.
pub async fn list(
    app: &App,
    project: &Project,
    caller: &Caller,
    filter: ListFilter<'_>,
    page: LockPage,
) -> Result<LockList, ServiceError> {
    require_lfs(project)?;
    if !caller.can_read_code(project.visibility) {
        return Err(if caller.authenticated {
            ServiceError::Forbidden
        } else {
            ServiceError::Unauthenticated
        });
    }
    let id = match filter.id.filter(|i| !i.is_empty()) {
        None => None,
        // An id that is not a lock's matches nothing.
        Some(text) => match parse_id(text) {
            Some(id) => Some(id),
            None => {
                return Ok(LockList {
                    locks: Vec::new(),
                    next_cursor: None,
                })
            }
        },
    };
    let store_filter = LockFilter {
        path: filter.path.filter(|p| !p.is_empty()),
        id,
    };
    let fetched = app.store.lfs_locks(project.id, &store_filter, page).await?;
    let (locks, next_cursor) = page.split(fetched);
    Ok(LockList { locks, next_cursor })
}

/// One page of the project's locks split into the caller's and others', for a push.
pub async fn verify(
    app: &App,
    project: &Project,
    caller: &Caller,
    page: LockPage,
) -> Result<Verification, ServiceError> {
    require_lfs(project)?;
    require_push(project, caller)?;
    let user_id = user_id(caller)?;
    let fetched = app
        .store
        .lfs_locks(project.id, &LockFilter::default(), page)
        .await?;
    let (locks, next_cursor) = page.split(fetched);
    let (ours, theirs) = split_by_owner(locks, user_id);
    Ok(Verification {
        ours,
        theirs,
        next_cursor,
    })
}

/// Releases the lock `id` (as the client sent it) of `project`, forcing when asked.
pub async fn unlock(
    app: &App,
    project: &Project,
    caller: &Caller,
    id: &str,
    force: bool,
) -> Result<Unlocked, ServiceError> {
    require_lfs(project)?;
    require_push(project, caller)?;
    let Some(id) = parse_id(id) else {
        return Err(ServiceError::RecordNotFound);
    };
    let Some(lock) = app.store.lfs_lock(project.id, id).await? else {
        return Err(ServiceError::RecordNotFound);
    };
    if let Err(refusal) = may_unlock(caller, &lock, force) {
        return Ok(Unlocked::Refused(lock, refusal));
    }
    if !app.store.release_lfs_lock(project.id, id).await? {
        // Released meanwhile by someone else.
        return Err(ServiceError::RecordNotFound);
    }
    Ok(Unlocked::Released(lock))
}

/// Whether someone other than `pusher` holds any lock of project `project_id`: the cheap
/// question a push asks first, so that only a project with such locks pays for listing the
/// paths the push changes ([`locked_by_others`] then tells which lock, if any, it breaks).
pub async fn held_by_others(app: &App, project_id: i64, pusher: i64) -> Result<bool, ServiceError> {
    Ok(app
        .store
        .lfs_locks_held_by_others(project_id, pusher)
        .await?)
}

/// The lock someone other than `pusher` holds on one of `changed_paths` of `project`, if any:
/// the push that changes them is refused, as GitLab's diff check does
/// ([`crate::model::lfs_locks::locked_path_refusal`] words it). Nothing is locked while LFS is
/// off for the project. The push's pre-receive check (`service::lfs_integrity`) calls it with
/// the paths the pushed commits change.
pub async fn locked_by_others(
    app: &App,
    project: &Project,
    pusher: i64,
    changed_paths: &[String],
) -> Result<Option<LfsLock>, ServiceError> {
    if changed_paths.is_empty() || !project.lfs_enabled {
        return Ok(None);
    }
    let others = app.store.lfs_locks_of_others(project.id, pusher).await?;
    Ok(first_locked(changed_paths.iter().map(String::as_str), &others).cloned())
}
