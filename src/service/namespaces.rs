//! Namespaces as a caller finds them (GitLab's `find_namespace!`): a user's own namespace, or a
//! group they may see, by id or full path; anything else does not exist for them. And where a
//! caller may put a project: their own namespace, anyone's for an admin, a group whose
//! `project_creation_level` their level meets ([`project_namespaces`] lists them for a form).

use crate::app::App;
use crate::model::access::{AccessLevel, Caller};
use crate::model::entities::{Group, Namespace, NamespaceKind, User};
use crate::store::{GroupFilter, GroupOrder, PageRequest, Viewer};

use super::auth::today;
use super::error::{Resource, ServiceError};

/// A namespace the caller may see, with the caller's standing in it and, for a group, the group.
#[derive(Debug, Clone)]
pub struct FoundNamespace {
    pub namespace: Namespace,
    pub group: Option<Group>,
    pub caller: Caller,
}

/// Resolves a namespace by id or full path as GitLab's `find_namespace!` does: a user namespace
/// is visible to its user and admins, a group to whoever may see it; anything else is
/// `NotFound(Resource::Namespace)`.
pub async fn find_namespace(
    app: &App,
    id_or_path: &str,
    user: &User,
) -> Result<FoundNamespace, ServiceError> {
    let namespace = app.store.namespace(id_or_path).await?;
    admit(app, namespace, user).await
}

/// The caller's own namespace (by their username, which may look like a number).
pub async fn own_namespace(app: &App, user: &User) -> Result<FoundNamespace, ServiceError> {
    let namespace = app.store.namespace_by_path(&user.username).await?;
    admit(app, namespace, user).await
}

/// What `user` is to `namespace`, or the error hiding it.
async fn admit(
    app: &App,
    namespace: Option<Namespace>,
    user: &User,
) -> Result<FoundNamespace, ServiceError> {
    let namespace = namespace.ok_or(ServiceError::NotFound(Resource::Namespace))?;
    match namespace.kind {
        NamespaceKind::User => {
            let own = namespace.owner_id == Some(user.id);
            if !own && !user.is_admin {
                return Err(ServiceError::NotFound(Resource::Namespace));
            }
            Ok(FoundNamespace {
                caller: Caller {
                    is_admin: user.is_admin,
                    level: own.then_some(AccessLevel::Owner),
                    authenticated: true,
                    user_id: Some(user.id),
                    deploy_key: None,
                },
                namespace,
                group: None,
            })
        }
        NamespaceKind::Group => {
            let today = today(app);
            let viewer = Viewer {
                user_id: Some(user.id),
                is_admin: user.is_admin,
                today: &today,
            };
            let (group, level, below) = app
                .store
                .group_for(&namespace.id.to_string(), viewer)
                .await?
                .ok_or(ServiceError::NotFound(Resource::Namespace))?;
            let caller = Caller {
                is_admin: user.is_admin,
                level,
                authenticated: true,
                user_id: Some(user.id),
                deploy_key: None,
            };
            if !caller.can_read_group(group.namespace.visibility, below) {
                return Err(ServiceError::NotFound(Resource::Namespace));
            }
            Ok(FoundNamespace {
                namespace: group.namespace.clone(),
                group: Some(group),
                caller,
            })
        }
    }
}

impl FoundNamespace {
    /// Whether the caller may create projects here (and transfer projects in): their own
    /// namespace (or any, for an admin), or a group whose project creation rule their level meets.
    pub fn may_create_projects(&self) -> bool {
        match &self.group {
            None => self.caller.is_admin || self.caller.level == Some(AccessLevel::Owner),
            Some(g) => self
                .caller
                .can_create_project_in_group(g.project_creation_level),
        }
    }

    /// The membership a creator of a project here gets of their own: Owner of a personal
    /// project; in a group, Maintainer for someone whose level there is lower (a Developer
    /// allowed to create projects can then administer theirs), none otherwise.
    pub fn creator_level(&self) -> Option<AccessLevel> {
        match &self.group {
            None => Some(AccessLevel::Owner),
            Some(_) if self.caller.is_admin => None,
            Some(_) => (self.caller.level < Some(AccessLevel::Maintainer))
                .then_some(AccessLevel::Maintainer),
        }
    }
}

/// Where `user` may create projects, for a form's choice: their own namespace first, then the
/// groups (by full path) whose project creation rule their level meets, every group for an
/// admin; at most `limit` groups are looked at.
pub async fn project_namespaces(
    app: &App,
    user: &User,
    limit: i64,
) -> Result<Vec<FoundNamespace>, ServiceError> {
    let mut out = vec![own_namespace(app, user).await?];
    let today = today(app);
    let viewer = Viewer {
        user_id: Some(user.id),
        is_admin: user.is_admin,
        today: &today,
    };
    // Below Developer no project creation rule admits anyone but an admin.
    let filter = GroupFilter {
        all_available: user.is_admin,
        min_access_level: (!user.is_admin).then_some(AccessLevel::Developer),
        order: GroupOrder::Path,
        ascending: true,
        ..GroupFilter::default()
    };
    let page = PageRequest {
        page: 1,
        per_page: limit,
    };
    for (group, level) in app.store.groups_for(viewer, &filter, page).await?.items {
        let found = FoundNamespace {
            namespace: group.namespace.clone(),
            group: Some(group),
            caller: Caller {
                is_admin: user.is_admin,
                level,
                authenticated: true,
                user_id: Some(user.id),
                deploy_key: None,
            },
        };
        if found.may_create_projects() {
            out.push(found);
        }
    }
    Ok(out)
}
