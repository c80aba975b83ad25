//! Projects: finding one as a caller sees it (by id or full path at any depth; hidden ones do
//! not exist for the caller), creating one with its bare repository in a namespace the caller
//! may create projects in, moving one to another namespace, and deleting one with its
//! repository.

use crate::app::App;
use crate::model::access::{AccessLevel, Caller, Visibility};
use crate::model::entities::{Project, User};
use crate::model::errors::FieldErrors;
use crate::model::groups::project_visibility_error;
use crate::model::naming::{
    path_from_name, valid_branch_name, valid_name, valid_path, NAME_MESSAGE, PATH_MESSAGE,
};
use crate::model::storage::{RepoRef, StorageName};
use crate::storage::LocalRepo;
use crate::store::{NewProject, StoreError, TRANSFER_TAKEN};

use super::auth::today;
use super::error::{Refusal, Resource, ServiceError};
use super::namespaces::{find_namespace, own_namespace};

/// `id` as a numeric project id, when it is one (otherwise it may be a `namespace/path`).
pub fn numeric_id(id: &str) -> Option<i64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// Resolves a project by numeric id or full path and the caller's standing in it. Unknown or
/// invisible projects are `NotFound(Resource::Project)`, except that an anonymous caller of a
/// non-public project is asked to authenticate.
pub async fn find_project(
    app: &App,
    id: &str,
    user: Option<&User>,
) -> Result<(Project, Caller), ServiceError> {
    let user_id = user.map(|u| u.id);
    let today = today(app);
    let found = if let Some(n) = numeric_id(id) {
        app.store.project_by_id_for(n, user_id, &today).await?
    } else if id.contains('/') {
        app.store.project_by_path_for(id, user_id, &today).await?
    } else {
        None
    };
    admit(found, user)
}

/// The second half of [`find_project`], for callers that looked the project up themselves: what
/// the caller is to `found`, or the error hiding it.
pub fn admit(
    found: Option<(Project, Option<AccessLevel>)>,
    user: Option<&User>,
) -> Result<(Project, Caller), ServiceError> {
    let Some((project, level)) = found else {
        return Err(ServiceError::NotFound(Resource::Project));
    };
    let caller = Caller {
        is_admin: user.is_some_and(|u| u.is_admin),
        level,
        authenticated: user.is_some(),
        user_id: user.map(|u| u.id),
        deploy_key: None,
    };
    if !caller.can_read_project(project.visibility) {
        return Err(if user.is_none() {
            ServiceError::Unauthenticated
        } else {
            ServiceError::NotFound(Resource::Project)
        });
    }
    Ok((project, caller))
}

/// A store error as the use case reports it: a name or path already taken in the namespace (or
/// by a group) is GitLab's field error.
fn taken(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(c) => {
            // PostgreSQL names the constraint (`projects_name_key`); SQLite lists the columns
            // (`projects.namespace_id, projects.name`), where `namespace_id` also contains "name".
            let field = if c.contains("projects_name_key") || c.ends_with("projects.name") {
                "name"
            } else {
                "path"
            };
            ServiceError::field(field, "has already been taken")
        }
        e => e.into(),
    }
}

/// What a new project is asked to be; at least one of `name` and `path` is given.
#[derive(Debug, Clone, Default)]
pub struct ProjectRequest {
    pub name: Option<String>,
    pub path: Option<String>,
    /// The namespace by id or full path; the creator's own namespace when absent.
    pub namespace: Option<String>,
    pub description: Option<String>,
    pub default_branch: Option<String>,
    pub visibility: Visibility,
    /// The storage to put the repository on (GitLab's `repository_storage`): honoured for
    /// administrators, ignored for everyone else, as GitLab does.
    pub repository_storage: Option<String>,
    /// GitLab's `lfs_enabled` (on unless asked otherwise).
    pub lfs_enabled: Option<bool>,
}

/// GitLab's refusal of a namespace the creator may see but not create projects in.
const NAMESPACE_NOT_VALID: &str = "is not valid";

/// Creates a project by `creator` and its bare repository; returns it with the creator's
/// access level. The namespace is the creator's own unless asked: another user's (for an
/// admin) or a group whose project creation rule the creator's level meets. A path derived from
/// the name as GitLab does; names and paths unique per namespace (and a project's full path
/// never a group's); in a group, no more open than the group. Either both the row and the
/// repository exist afterwards, or neither.
pub async fn create_project(
    app: &App,
    creator: &User,
    req: ProjectRequest,
) -> Result<(Project, Option<AccessLevel>), ServiceError> {
    let found = match &req.namespace {
        Some(ns) => find_namespace(app, ns, creator).await?,
        None => own_namespace(app, creator).await?,
    };
    if !found.may_create_projects() {
        return Err(ServiceError::field("namespace", NAMESPACE_NOT_VALID));
    }
    let path = req
        .path
        .unwrap_or_else(|| path_from_name(req.name.as_deref().unwrap_or_default()));
    let name = req.name.unwrap_or_else(|| path.clone());
    let mut errors = FieldErrors::default();
    if !valid_path(&path) {
        errors.add("path", PATH_MESSAGE);
    }
    if !valid_name(&name) {
        errors.add("name", NAME_MESSAGE);
    }
    if req
        .default_branch
        .as_deref()
        .is_some_and(|b| !valid_branch_name(b))
    {
        errors.add("default_branch", "is invalid");
    }
    if let Some(g) = &found.group {
        if let Some(m) = project_visibility_error(req.visibility, g.namespace.visibility) {
            errors.add("visibility_level", m);
        }
    }
    let storage = match req.repository_storage.as_deref() {
        Some(name) if creator.is_admin => match StorageName::parse(name) {
            Ok(n) if app.storages.serves(n.as_str()) => n,
            _ => {
                errors.add("repository_storage", "is not included in the list");
                StorageName::default_storage()
            }
        },
        _ => StorageName::default_storage(),
    };
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let new = NewProject {
        storage,
        namespace_id: found.namespace.id,
        name,
        path,
        description: req.description,
        default_branch: req.default_branch.clone(),
        visibility: req.visibility,
        creator_id: creator.id,
        creator_level: found.creator_level(),
        lfs_enabled: req.lfs_enabled.unwrap_or(true),
    };
    let project = app
        .store
        .create_project(&new, app.clock.now_ms())
        .await
        .map_err(taken)?;
    let repo = match app.storages.open(&project.repo()) {
        Ok(repo) => repo,
        Err(e) => {
            let _ = app.store.delete_project(project.id).await;
            return Err(e.into());
        }
    };
    let branch = req.default_branch.as_deref().unwrap_or("main");
    if let Err(e) = crate::git::init_bare(&app.git, &repo, branch).await {
        // Leave nothing half-made: no row without its repository.
        let _ = app.store.delete_project(project.id).await;
        let _ = tokio::fs::remove_dir_all(repo.path()).await;
        return Err(ServiceError::Internal(format!("creating repository: {e}")));
    }
    let level = app
        .store
        .access_level(project.id, creator.id, &today(app))
        .await?;
    Ok((project, level))
}

/// The changes `PUT /projects/:id` asks for; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub path: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub default_branch: Option<String>,
    pub visibility: Option<Visibility>,
    pub archived: Option<bool>,
    pub lfs_enabled: Option<bool>,
}

/// Changes `project` as `changes` asks. Maintainers may edit the name, description and default
/// branch; the path, visibility and archiving need an Owner, as in GitLab. A new default branch
/// must exist (once the repository has branches); HEAD follows it.
pub async fn update_project(
    app: &App,
    project: &Project,
    caller: Caller,
    changes: ProjectChanges,
) -> Result<Project, ServiceError> {
    if !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    let owner_only = changes.path.is_some()
        || changes.visibility.is_some_and(|v| v != project.visibility)
        || changes.archived.is_some_and(|a| a != project.archived);
    if owner_only && !caller.can_remove_project() {
        return Err(ServiceError::Forbidden);
    }
    let mut next = project.clone();
    let mut errors = FieldErrors::default();
    if let Some(name) = changes.name {
        if !valid_name(&name) {
            errors.add("name", NAME_MESSAGE);
        }
        next.name = name;
    }
    if let Some(path) = changes.path {
        if !valid_path(&path) {
            errors.add("path", PATH_MESSAGE);
        }
        next.path = path;
    }
    if let Some(description) = changes.description {
        next.description = description;
    }
    if let Some(v) = changes.visibility {
        if v != project.visibility && project.namespace.is_group() {
            if let Some(m) = project_visibility_error(v, project.namespace.visibility) {
                errors.add("visibility_level", m);
            }
        }
        next.visibility = v;
    }
    if let Some(a) = changes.archived {
        next.archived = a;
    }
    if let Some(on) = changes.lfs_enabled {
        next.lfs_enabled = on;
    }
    let repo = repository(app, project)?;
    let mut new_head = None;
    if let Some(branch) = changes.default_branch {
        if !valid_branch_name(&branch) {
            errors.add("default_branch", "is invalid");
        } else if !project.empty_repo {
            new_head = crate::git::repository::resolve_commit(
                &app.git,
                &repo,
                &format!("refs/heads/{branch}"),
            )
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
            if new_head.is_none() {
                errors.add("default_branch", "does not exist in the repository");
            }
        }
        next.default_branch = Some(branch);
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    next.last_activity_at = app.clock.now_ms();
    app.store
        .update_project(&next, next.last_activity_at)
        .await
        .map_err(taken)?;
    if project.archived && !next.archived {
        // Updates that ran while the project was archived pushed nothing: catch the mirrors up.
        // (Should this be lost to a crash, the start-up pass re-queues every mirror whose
        // repository moved on since its last success.)
        let mut tx = app.store.transaction().await?;
        super::mirror_jobs::request_project_updates(&mut tx, project.id, next.last_activity_at)
            .await?;
        tx.commit().await?;
        app.jobs_wakeup.notify_one();
    }
    if next.default_branch != project.default_branch {
        if let Some(branch) = &next.default_branch {
            crate::git::ops::set_head(&app.git, &repo, branch)
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
        }
        app.store
            .set_default_branch_head(project.id, new_head.as_deref())
            .await?;
    }
    Ok(next)
}

/// Refuses a write to `project`'s repository or mirrors when it is archived.
pub fn writable(project: &Project) -> Result<(), ServiceError> {
    if project.archived {
        Err(ServiceError::Refused(Refusal::ProjectArchived))
    } else {
        Ok(())
    }
}

/// Deletes a project (its mirrors, members and rules go with its row) and then its repository.
/// Only an Owner or an admin may.
pub async fn delete_project(
    app: &App,
    project: &Project,
    caller: Caller,
) -> Result<(), ServiceError> {
    if !caller.can_remove_project() {
        return Err(ServiceError::Forbidden);
    }
    let lfs_oids = app.store.lfs_project_oids(project.id).await?;
    app.store.delete_project(project.id).await?;
    super::lfs::gc::remove_unlinked(app, &project.storage, &lfs_oids).await;
    remove_repository(app, &project.repo()).await;
    Ok(())
}

/// Records the default branch's head of every project on this node's storages that has none
/// recorded (projects that predate the record, which pushes now keep): the dashboard reads it
/// from the database. Failures are logged; the next push records the head anyway.
pub async fn record_missing_heads(app: &App) {
    let missing = match app
        .store
        .projects_without_recorded_head(&app.storages.names())
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list projects without a recorded head");
            return;
        }
    };
    for (id, storage, branch) in missing {
        let Ok(storage) = StorageName::parse(&storage) else {
            continue;
        };
        let Ok(repo) = app.storages.open(&RepoRef::new(storage, id)) else {
            continue;
        };
        let head = crate::git::repository::resolve_commit(
            &app.git,
            &repo,
            &format!("refs/heads/{branch}"),
        )
        .await;
        let recorded = match head {
            Ok(head) => app.store.set_default_branch_head(id, head.as_deref()).await,
            Err(e) => {
                tracing::warn!(project = id, error = %e, "cannot read a default branch's head");
                continue;
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(project = id, error = %e, "cannot record a default branch's head");
        }
    }
}

/// `project`'s repository on this node's disk.
pub fn repository(app: &App, project: &Project) -> Result<LocalRepo, ServiceError> {
    Ok(app.storages.open(&project.repo())?)
}

/// Removes the repository of a project whose row is gone (a failure is logged: the row, which
/// the API answers from, is already deleted).
pub(super) async fn remove_repository(app: &App, repo: &RepoRef) {
    let project = repo.project_id;
    let local = match app.storages.open(repo) {
        Ok(local) => local,
        Err(e) => {
            tracing::warn!(project, error = %e, "could not remove repository");
            return;
        }
    };
    if let Err(e) = tokio::fs::remove_dir_all(local.path()).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(project, error = %e, "could not remove repository");
        }
    }
}

/// GitLab's refusals of a transfer, reported on `new_namespace`.
const ALREADY_THERE: &str = "Project is already in this namespace.";
const NO_PERMISSION_THERE: &str =
    "You don't have permission to transfer projects into that namespace.";
const SAME_NAME_OR_PATH: &str = "Project with same name or path in target namespace already exists";

/// Moves `project` into the namespace `target` (an id or full path): the project's Owners (and
/// admins) may, into a namespace they may create projects in. A project more open than its new
/// group takes the group's visibility; one moved into a personal namespace gets that user as
/// an Owner. Repositories are stored by project id, so nothing moves on disk, and nothing else
/// is keyed by the project's path (mirrors and jobs by id, tokens by hash). Refusals are
/// GitLab's, on `new_namespace`.
pub async fn transfer_project(
    app: &App,
    project: &Project,
    caller: Caller,
    user: &User,
    target: &str,
) -> Result<Project, ServiceError> {
    if !caller.can_remove_project() {
        return Err(ServiceError::Forbidden);
    }
    let found = find_namespace(app, target, user).await?;
    let refuse = |m: &str| Err(ServiceError::field("new_namespace", m));
    if found.namespace.id == project.namespace.id {
        return refuse(ALREADY_THERE);
    }
    if !found.may_create_projects() {
        return refuse(NO_PERMISSION_THERE);
    }
    let visibility = match &found.group {
        Some(g) => project.visibility.min(g.namespace.visibility),
        None => project.visibility,
    };
    let owner = match &found.group {
        None => found.namespace.owner_id,
        Some(_) => None,
    };
    match app
        .store
        .transfer_project(
            project,
            found.namespace.id,
            visibility,
            owner,
            app.clock.now_ms(),
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(c)) if c == TRANSFER_TAKEN => return refuse(SAME_NAME_OR_PATH),
        Err(e) => return Err(e.into()),
    }
    app.store
        .project_by_id(project.id)
        .await?
        .ok_or(ServiceError::NotFound(Resource::Project))
}
