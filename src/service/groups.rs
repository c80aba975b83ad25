//! Groups and subgroups: finding one as a caller sees it (hidden ones do not exist for them),
//! creating one (any signed-in user at the top level; a subgroup by whoever the parent's
//! `subgroup_creation_level` allows; the creator becomes its Owner), changing one (Owners), and
//! deleting one with everything below it, repositories included.

use crate::app::App;
use crate::model::access::{Caller, ProjectCreationLevel, SubgroupCreationLevel, Visibility};
use crate::model::entities::{Group, User};
use crate::model::errors::FieldErrors;
use crate::model::groups::{
    full_name, full_path, group_visibility_error, nesting_allowed, subgroup_visibility_error,
    NESTING_MESSAGE,
};
use crate::model::naming::{
    reserved_group_path, valid_group_name, valid_group_path, GROUP_NAME_MESSAGE, GROUP_PATH_MESSAGE,
};
use crate::store::{GroupChanges, NewGroup, StoreError, Viewer};

use super::auth::today;
use super::error::{Resource, ServiceError};

/// Resolves a group by numeric id or full path and the caller's standing in it. Unknown or
/// hidden groups are `NotFound(Resource::Group)`, except that an anonymous caller of a non-public one
/// is asked to authenticate.
pub async fn find_group(
    app: &App,
    id: &str,
    user: Option<&User>,
) -> Result<(Group, Caller), ServiceError> {
    let today = today(app);
    let viewer = Viewer {
        user_id: user.map(|u| u.id),
        is_admin: user.is_some_and(|u| u.is_admin),
        today: &today,
    };
    let found = if id.is_empty() {
        None
    } else {
        app.store.group_for(id, viewer).await?
    };
    let Some((group, level, below)) = found else {
        return Err(ServiceError::NotFound(Resource::Group));
    };
    let caller = Caller {
        is_admin: viewer.is_admin,
        level,
        authenticated: user.is_some(),
        user_id: viewer.user_id,
        deploy_key: None,
    };
    if !caller.can_read_group(group.namespace.visibility, below) {
        return Err(if user.is_none() {
            ServiceError::Unauthenticated
        } else {
            ServiceError::NotFound(Resource::Group)
        });
    }
    Ok((group, caller))
}

/// A store error as a group use case reports it: a path or name already taken is GitLab's
/// field error.
fn taken(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(c) => {
            let field = if c.contains("group_name") {
                "name"
            } else {
                "path"
            };
            ServiceError::field(field, "has already been taken")
        }
        e => e.into(),
    }
}

/// What a new group is asked to be.
#[derive(Debug, Clone, Default)]
pub struct GroupRequest {
    pub name: String,
    pub path: String,
    /// The parent group by id, for a subgroup.
    pub parent_id: Option<String>,
    pub description: Option<String>,
    /// Private unless asked (GitLab's default group visibility).
    pub visibility: Option<Visibility>,
    pub project_creation_level: Option<ProjectCreationLevel>,
    pub subgroup_creation_level: Option<SubgroupCreationLevel>,
}

/// Field errors for a group `name` and `path` under a parent (or at the top level).
fn check_name_and_path(errors: &mut FieldErrors, name: &str, path: &str, top_level: bool) {
    if !valid_group_name(name) {
        errors.add("name", GROUP_NAME_MESSAGE);
    }
    if !valid_group_path(path) {
        errors.add("path", GROUP_PATH_MESSAGE);
    } else if reserved_group_path(path, top_level) {
        errors.add("path", format!("{path} is a reserved name"));
    }
}

/// Creates a group (a subgroup when `parent_id` is given) with `creator` as its Owner.
pub async fn create_group(
    app: &App,
    creator: &User,
    req: GroupRequest,
) -> Result<(Group, Caller), ServiceError> {
    let parent = match &req.parent_id {
        None => None,
        Some(id) => {
            let (parent, caller) = find_group(app, id, Some(creator)).await?;
            if !caller.can_create_subgroup(parent.subgroup_creation_level) {
                return Err(ServiceError::Forbidden);
            }
            Some(parent)
        }
    };
    let mut errors = FieldErrors::default();
    check_name_and_path(&mut errors, &req.name, &req.path, parent.is_none());
    let visibility = req.visibility.unwrap_or_default();
    if let Some(p) = &parent {
        if let Some(m) = subgroup_visibility_error(visibility, p.namespace.visibility) {
            errors.add("visibility_level", m);
        }
        if !nesting_allowed(app.store.group_depth(p.id()).await? as usize) {
            errors.add("parent_id", NESTING_MESSAGE);
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let new = NewGroup {
        parent_id: parent.as_ref().map(Group::id),
        full_path: full_path(
            parent.as_ref().map(|p| p.namespace.full_path.as_str()),
            &req.path,
        ),
        full_name: full_name(
            parent.as_ref().map(|p| p.namespace.full_name.as_str()),
            &req.name,
        ),
        name: req.name,
        description: req.description,
        visibility,
        project_creation_level: req.project_creation_level.unwrap_or_default(),
        subgroup_creation_level: req.subgroup_creation_level.unwrap_or_default(),
        creator_id: creator.id,
    };
    let group = app
        .store
        .create_group(&new, app.clock.now_ms())
        .await
        .map_err(taken)?;
    find_group(app, &group.id().to_string(), Some(creator)).await
}

/// The changes `PUT /groups/:id` asks for; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct GroupUpdate {
    pub name: Option<String>,
    pub path: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub visibility: Option<Visibility>,
    pub project_creation_level: Option<ProjectCreationLevel>,
    pub subgroup_creation_level: Option<SubgroupCreationLevel>,
}

/// Changes `group` as `changes` asks; only its Owners (and admins) may. A new path or name is
/// carried down to every descendant's full path and name; a visibility must stay within the
/// parent's and above everything below.
pub async fn update_group(
    app: &App,
    group: &Group,
    caller: Caller,
    changes: GroupUpdate,
) -> Result<Group, ServiceError> {
    if !caller.can_admin_group() {
        return Err(ServiceError::Forbidden);
    }
    let parent = match group.namespace.parent_id {
        Some(id) => app.store.group_by_id(id).await?,
        None => None,
    };
    let name = changes.name.unwrap_or_else(|| group.namespace.name.clone());
    let path = changes
        .path
        .unwrap_or_else(|| group.namespace.path().to_owned());
    let visibility = changes.visibility.unwrap_or(group.namespace.visibility);
    let mut errors = FieldErrors::default();
    check_name_and_path(&mut errors, &name, &path, parent.is_none());
    if visibility != group.namespace.visibility {
        if let Some(p) = &parent {
            if let Some(m) = subgroup_visibility_error(visibility, p.namespace.visibility) {
                errors.add("visibility_level", m);
            }
        }
        let (groups, projects) = app.store.visibilities_below(group.id()).await?;
        let widest = |v: Vec<Visibility>| v.into_iter().max_by_key(|v| v.rank());
        if let Some(m) = group_visibility_error(visibility, widest(groups), widest(projects)) {
            errors.add("visibility_level", m);
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let parent_path = parent.as_ref().map(|p| p.namespace.full_path.as_str());
    let parent_name = parent.as_ref().map(|p| p.namespace.full_name.as_str());
    let c = GroupChanges {
        full_path: full_path(parent_path, &path),
        full_name: full_name(parent_name, &name),
        name,
        description: changes
            .description
            .unwrap_or_else(|| group.description.clone()),
        visibility,
        project_creation_level: changes
            .project_creation_level
            .unwrap_or(group.project_creation_level),
        subgroup_creation_level: changes
            .subgroup_creation_level
            .unwrap_or(group.subgroup_creation_level),
    };
    app.store.update_group(group, &c).await.map_err(taken)?;
    app.store
        .group_by_id(group.id())
        .await?
        .ok_or(ServiceError::NotFound(Resource::Group))
}

/// Deletes a group, its subgroups and their projects with their repositories, at once (GitLab
/// 18 marks a group for deletion first; here the deletion is immediate). Owners and admins only.
pub async fn delete_group(app: &App, group: &Group, caller: Caller) -> Result<(), ServiceError> {
    if !caller.can_admin_group() {
        return Err(ServiceError::Forbidden);
    }
    let projects = app.store.delete_group(group.id()).await?;
    for repo in projects {
        super::projects::remove_repository(app, &repo).await;
    }
    Ok(())
}
