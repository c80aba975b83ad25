//! GitLab's project, namespace and group entities. Fields GitLab has but pushmirror never fills
//! (stars, forks, avatars, sharing) keep GitLab's constant values so clients find every key.

use serde::Serialize;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::app::App;
use crate::model::access::AccessLevel;
use crate::model::clone_url::SshBase;
use crate::model::entities::{Group, Namespace, NamespaceKind, Project};
use crate::model::time::iso8601_millis;

/// GitLab's `notification_level` of a membership: 3 is `global` (the user's own default),
/// the only level pushmirror knows.
const GLOBAL_NOTIFICATIONS: i64 = 3;

/// GitLab's simple project entity (`simple=true` in lists), the keys the full entity starts
/// with.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProjectSimpleEntity {
    /// The project's id.
    id: i64,
    /// The description, null when none was set.
    description: Option<String>,
    /// The display name.
    name: String,
    /// `Namespace Name / Project Name`.
    name_with_namespace: String,
    /// The last segment of the project's path.
    path: String,
    /// The full path, `namespace/path` at any depth.
    path_with_namespace: String,
    /// When the project was created (ISO 8601, UTC, milliseconds).
    created_at: Option<String>,
    /// The default branch; null until the first push unless set at creation.
    default_branch: Option<String>,
    /// Always empty: pushmirror has no topics (GitLab's deprecated name for them).
    tag_list: Vec<String>,
    /// Always empty: pushmirror has no topics.
    topics: Vec<String>,
    /// The repository's SSH clone URL (`ssh://git@host:port/path.git`, or `git@host:path.git` on
    /// port 22); null when the server serves no SSH and no `--external-ssh-url` is set.
    ssh_url_to_repo: Option<String>,
    /// The repository's smart-HTTP clone URL.
    http_url_to_repo: String,
    /// The project's web address.
    web_url: String,
    /// Always null: there is no web interface to show a README in.
    readme_url: Option<String>,
    /// Always null: projects have no avatars.
    avatar_url: Option<String>,
    /// Always 0: there are no forks.
    forks_count: i64,
    /// Always 0: there are no stars.
    star_count: i64,
    /// When the repository was last pushed to (or the project created).
    last_activity_at: Option<String>,
    /// The namespace the project is in.
    namespace: NamespaceBasicEntity,
}

/// GitLab's project entity, with the caller's access in `permissions`.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProjectEntity {
    /// The simple entity's keys.
    #[serde(flatten)]
    simple: ProjectSimpleEntity,
    /// `private`, `internal` or `public`.
    visibility: &'static str,
    /// Whether the project is archived (read-only, its mirrors not pushed).
    archived: bool,
    /// Whether the repository has no refs at all.
    empty_repo: bool,
    /// Whether git LFS is on for the project.
    lfs_enabled: bool,
    /// The id of the user who created the project.
    creator_id: i64,
    /// Always null: mirroring is available to every project.
    remote_mirror_available_overridden: Option<bool>,
    /// Always empty: no project is shared with a group here (gitlabform's members section
    /// reads it).
    shared_with_groups: Vec<serde_json::Value>,
    /// The caller's access to the project.
    permissions: ProjectPermissions,
    /// With `statistics=true`, for Reporters and above: the project's sizes.
    #[serde(skip_serializing_if = "Option::is_none")]
    statistics: Option<ProjectStatisticsEntity>,
    /// `none` unless the project was imported: `scheduled`, `started`, `finished`, `failed`
    /// or `canceled` (lists show `none`; `GET /projects/:id` and `/import` tell).
    import_status: &'static str,
    /// `git` for a project imported by URL.
    import_type: Option<&'static str>,
    /// The import's (or pull mirror's) upstream, credentials masked.
    import_url: Option<String>,
    /// Why the import failed.
    import_error: Option<String>,
    /// Whether the project is a pull mirror (an enabled one).
    mirror: bool,
    /// The pull mirror's settings, when the project is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    mirror_trigger_builds: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    only_mirror_protected_branches: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mirror_overwrites_diverged_branches: Option<bool>,
}

/// GitLab's project `statistics`, in bytes; what does not exist here is 0.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProjectStatisticsEntity {
    /// Commits of the default branch.
    commit_count: u64,
    /// `repository_size` + `lfs_objects_size`.
    storage_size: u64,
    /// The bare repository on disk.
    repository_size: u64,
    /// Always 0: there are no wikis.
    wiki_size: u64,
    /// The LFS objects the project links.
    lfs_objects_size: u64,
    /// Always 0: there is no CI.
    job_artifacts_size: u64,
    /// Always 0: there is no CI.
    pipeline_artifacts_size: u64,
    /// Always 0: there is no package registry.
    packages_size: u64,
    /// Always 0: there are no snippets.
    snippets_size: u64,
    /// Always 0: there are no uploads.
    uploads_size: u64,
    /// Always 0: there is no container registry.
    container_registry_size: u64,
}

impl ProjectEntity {
    /// The entity with the project's import and pull mirror.
    pub(in crate::http) fn with_import(
        mut self,
        import: Option<&crate::model::pull::ProjectImport>,
        pull: Option<&crate::model::pull::PullMirror>,
    ) -> ProjectEntity {
        if let Some(i) = import {
            self.import_status = i.status.as_str();
            self.import_type = Some("git");
            self.import_url = Some(i.upstream.safe_url());
            self.import_error = i.error.clone();
        }
        if let Some(m) = pull {
            self.mirror = m.settings.enabled;
            self.import_url = Some(m.upstream.safe_url());
            self.mirror_trigger_builds = Some(m.settings.trigger_builds);
            self.only_mirror_protected_branches = Some(m.settings.only_protected_branches);
            self.mirror_overwrites_diverged_branches = Some(m.settings.overwrite_diverged);
        }
        self
    }

    /// The entity with `statistics`.
    pub(in crate::http) fn with_statistics(
        mut self,
        s: crate::service::statistics::ProjectStatistics,
    ) -> ProjectEntity {
        self.statistics = Some(ProjectStatisticsEntity {
            commit_count: s.commit_count,
            storage_size: s.repository_size + s.lfs_objects_size,
            repository_size: s.repository_size,
            wiki_size: 0,
            lfs_objects_size: s.lfs_objects_size,
            job_artifacts_size: 0,
            pipeline_artifacts_size: 0,
            packages_size: 0,
            snippets_size: 0,
            uploads_size: 0,
            container_registry_size: 0,
        });
        self
    }
}

/// The caller's access to a project, as GitLab's `permissions`.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProjectPermissions {
    /// The caller's effective membership (its own or an ancestor group's); null for none.
    project_access: Option<MembershipAccess>,
    /// Always null: the group membership is folded into `project_access`.
    group_access: Option<MembershipAccess>,
}

/// One membership's level, as `permissions` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct MembershipAccess {
    /// The access level: 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner.
    access_level: i64,
    /// Always 3 (`global`).
    notification_level: i64,
}

/// Where a project's URLs point: the external URL, and where SSH clients reach the server.
#[derive(Clone, Copy)]
pub(in crate::http) struct Urls<'a> {
    pub(in crate::http) external_url: &'a str,
    pub(in crate::http) ssh: Option<&'a SshBase>,
}

impl<'a> Urls<'a> {
    pub(in crate::http) fn of(app: &'a App) -> Urls<'a> {
        Urls {
            external_url: &app.external_url,
            ssh: app.ssh_clone_base.as_ref(),
        }
    }
}

/// The simple project entity.
pub(in crate::http) fn project_simple(p: &Project, urls: Urls<'_>) -> ProjectSimpleEntity {
    let external_url = urls.external_url;
    let full = p.full_path();
    let web_url = format!("{external_url}/{full}");
    ProjectSimpleEntity {
        id: p.id,
        description: p.description.clone(),
        name: p.name.clone(),
        name_with_namespace: format!("{} / {}", p.namespace.full_name, p.name),
        path: p.path.clone(),
        created_at: iso8601_millis(p.created_at),
        default_branch: p.default_branch.clone(),
        tag_list: Vec::new(),
        topics: Vec::new(),
        ssh_url_to_repo: urls.ssh.map(|s| s.clone_url(&full)),
        path_with_namespace: full,
        http_url_to_repo: format!("{web_url}.git"),
        web_url,
        readme_url: None,
        avatar_url: None,
        forks_count: 0,
        star_count: 0,
        last_activity_at: iso8601_millis(p.last_activity_at),
        namespace: namespace_basic(&p.namespace, external_url),
    }
}

/// The project entity, with the caller's access in `permissions`.
pub(in crate::http) fn project(
    p: &Project,
    caller_level: Option<AccessLevel>,
    urls: Urls<'_>,
) -> ProjectEntity {
    ProjectEntity {
        simple: project_simple(p, urls),
        visibility: p.visibility.as_str(),
        archived: p.archived,
        empty_repo: p.empty_repo,
        lfs_enabled: p.lfs_enabled,
        creator_id: p.creator_id,
        remote_mirror_available_overridden: None,
        shared_with_groups: Vec::new(),
        permissions: ProjectPermissions {
            project_access: caller_level.map(|l| MembershipAccess {
                access_level: l.as_i64(),
                notification_level: GLOBAL_NOTIFICATIONS,
            }),
            group_access: None,
        },
        statistics: None,
        import_status: "none",
        import_type: None,
        import_url: None,
        import_error: None,
        mirror: false,
        mirror_trigger_builds: None,
        only_mirror_protected_branches: None,
        mirror_overwrites_diverged_branches: None,
    }
}

/// A project list's item: the full entity, or the simple one when the list asks `simple=true`.
/// Documentation only (the lists serialise the entities themselves): GitLab picks the shape at
/// run time, so the schema is either, and `anyOf` because a full entity also has every key of
/// the simple one.
pub(in crate::http) struct ProjectListItem;

impl PartialSchema for ProjectListItem {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(ProjectEntity::name()))
            .item(Ref::from_schema_name(ProjectSimpleEntity::name()))
            .description(Some(
                "A project: the full entity, or the simple one with `simple=true`.",
            ))
            .into()
    }
}

impl ToSchema for ProjectListItem {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ProjectEntity::name().into(), ProjectEntity::schema()));
        ProjectEntity::schemas(schemas);
        schemas.push((
            ProjectSimpleEntity::name().into(),
            ProjectSimpleEntity::schema(),
        ));
        ProjectSimpleEntity::schemas(schemas);
    }
}

/// A namespace's web URL: a user's profile, or a group's page (`/groups/<full path>`).
fn namespace_web_url(n: &Namespace, external_url: &str) -> String {
    match n.kind {
        NamespaceKind::User => format!("{external_url}/{}", n.full_path),
        NamespaceKind::Group => format!("{external_url}/groups/{}", n.full_path),
    }
}

/// GitLab's `NamespaceBasic` entity (a project's `namespace`).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct NamespaceBasicEntity {
    /// The namespace's id (a group's id for a group).
    id: i64,
    /// The display name.
    name: String,
    /// The last segment of the full path.
    path: String,
    /// `user` or `group`.
    kind: &'static str,
    /// The full path: a user's username, or `org/team` for a group at any depth.
    full_path: String,
    /// The parent group of a subgroup; null at the top level.
    parent_id: Option<i64>,
    /// Always null: namespaces have no avatars.
    avatar_url: Option<String>,
    /// The user's profile or the group's page.
    web_url: String,
}

/// GitLab's `NamespaceBasic` entity.
pub(in crate::http) fn namespace_basic(n: &Namespace, external_url: &str) -> NamespaceBasicEntity {
    NamespaceBasicEntity {
        id: n.id,
        name: n.name.clone(),
        path: n.path().to_owned(),
        kind: n.kind.as_str(),
        full_path: n.full_path.clone(),
        parent_id: n.parent_id,
        avatar_url: None,
        web_url: namespace_web_url(n, external_url),
    }
}

/// GitLab's `Namespace` entity: the basic one, with the member count for those who may
/// administer the group.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct NamespaceEntity {
    /// The basic entity's keys.
    #[serde(flatten)]
    basic: NamespaceBasicEntity,
    /// The members of the group and of every group below it; only for the group's Owners
    /// (and admins) when one namespace is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    members_count_with_descendants: Option<i64>,
}

/// GitLab's `Namespace` entity; `members_count_with_descendants` only for those who may
/// administer the group.
pub(in crate::http) fn namespace(
    n: &Namespace,
    members_count: Option<i64>,
    external_url: &str,
) -> NamespaceEntity {
    NamespaceEntity {
        basic: namespace_basic(n, external_url),
        members_count_with_descendants: members_count,
    }
}

/// GitLab's `Group` entity.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct GroupEntity {
    /// The group's id.
    id: i64,
    /// The group's page.
    web_url: String,
    /// The display name.
    name: String,
    /// The last segment of the full path.
    path: String,
    /// The description, empty when none was set.
    description: String,
    /// `private`, `internal` or `public`.
    visibility: &'static str,
    /// Always false.
    share_with_group_lock: bool,
    /// Always false.
    require_two_factor_authentication: bool,
    /// Always 48 (GitLab's default).
    two_factor_grace_period: i64,
    /// Who may create projects: `noone`, `administrator`, `owner`, `maintainer` or `developer`.
    project_creation_level: &'static str,
    /// Always null: there is no CI.
    auto_devops_enabled: Option<bool>,
    /// Who may create subgroups: `owner` or `maintainer`.
    subgroup_creation_level: &'static str,
    /// Always false.
    emails_disabled: bool,
    /// Always true.
    emails_enabled: bool,
    /// Always null.
    mentions_disabled: Option<bool>,
    /// Always true.
    lfs_enabled: bool,
    /// Always false: groups are not archived.
    archived: bool,
    /// Always null: new projects take git's default branch.
    default_branch: Option<String>,
    /// Always 2 (GitLab's default: full protection).
    default_branch_protection: i64,
    /// Always null: groups have no avatars.
    avatar_url: Option<String>,
    /// Always true.
    request_access_enabled: bool,
    /// The names from the top down (`Org / Team`).
    full_name: String,
    /// The full path (`org/team`).
    full_path: String,
    /// When the group was created (ISO 8601, UTC, milliseconds).
    created_at: Option<String>,
    /// The parent group of a subgroup; null at the top level.
    parent_id: Option<i64>,
    /// Always 1: there is one organization.
    organization_id: i64,
    /// Always `enabled`.
    shared_runners_setting: &'static str,
    /// Always null.
    max_artifacts_size: Option<i64>,
    /// Always null: groups are deleted at once.
    marked_for_deletion_on: Option<String>,
}

/// GitLab's `Group` entity.
pub(in crate::http) fn group(g: &Group, external_url: &str) -> GroupEntity {
    let n = &g.namespace;
    GroupEntity {
        id: n.id,
        web_url: namespace_web_url(n, external_url),
        name: n.name.clone(),
        path: n.path().to_owned(),
        description: g.description.clone().unwrap_or_default(),
        visibility: n.visibility.as_str(),
        share_with_group_lock: false,
        require_two_factor_authentication: false,
        two_factor_grace_period: 48,
        project_creation_level: g.project_creation_level.as_str(),
        auto_devops_enabled: None,
        subgroup_creation_level: g.subgroup_creation_level.as_str(),
        emails_disabled: false,
        emails_enabled: true,
        mentions_disabled: None,
        lfs_enabled: true,
        archived: false,
        default_branch: None,
        default_branch_protection: 2,
        avatar_url: None,
        request_access_enabled: true,
        full_name: n.full_name.clone(),
        full_path: n.full_path.clone(),
        created_at: iso8601_millis(g.created_at),
        parent_id: n.parent_id,
        organization_id: 1,
        shared_runners_setting: "enabled",
        max_artifacts_size: None,
        marked_for_deletion_on: None,
    }
}

/// GitLab's `GroupDetail` entity: the group, with its projects when asked.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct GroupDetailEntity {
    /// The group entity's keys.
    #[serde(flatten)]
    group: GroupEntity,
    /// Always empty: no group is shared with another here.
    shared_with_groups: Vec<serde_json::Value>,
    /// Always false.
    prevent_sharing_groups_outside_hierarchy: bool,
    /// The first 100 projects of the group itself (not its subgroups) the caller may see;
    /// absent with `with_projects=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    projects: Option<Vec<ProjectEntity>>,
    /// Always empty, and absent when `projects` is: no project is shared with a group here.
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_projects: Option<Vec<ProjectEntity>>,
}

/// GitLab's `GroupDetail` entity: the group with its projects (the first 100 the caller may
/// see, as GitLab caps them) when asked.
pub(in crate::http) fn group_detail(
    g: &Group,
    projects: Option<Vec<ProjectEntity>>,
    external_url: &str,
) -> GroupDetailEntity {
    GroupDetailEntity {
        group: group(g, external_url),
        shared_with_groups: Vec::new(),
        prevent_sharing_groups_outside_hierarchy: false,
        shared_projects: projects.as_ref().map(|_| Vec::new()),
        projects,
    }
}

/// GitLab's answer to a deletion it queues: `202` with `{"message": "202 Accepted"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct AcceptedEntity {
    /// Always `202 Accepted`.
    message: &'static str,
}

/// The `202 Accepted` body.
pub(in crate::http) fn accepted() -> AcceptedEntity {
    AcceptedEntity {
        message: "202 Accepted",
    }
}
