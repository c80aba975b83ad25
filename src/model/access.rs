//! GitLab access levels and the permission rules pushmirror derives from them, for projects and
//! groups. Pure: callers pass in the caller's membership (the highest of a project's own and
//! every ancestor group's) and admin flag; nothing here reads the store.

/// A GitLab project access level. The numeric values are GitLab's wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    Guest = 10,
    Reporter = 20,
    Developer = 30,
    Maintainer = 40,
    Owner = 50,
}

impl AccessLevel {
    /// Every level a member may hold, lowest first.
    pub const ALL: [AccessLevel; 5] = [
        AccessLevel::Guest,
        AccessLevel::Reporter,
        AccessLevel::Developer,
        AccessLevel::Maintainer,
        AccessLevel::Owner,
    ];

    /// The level for a GitLab wire value, if it is one.
    pub fn from_i64(value: i64) -> Option<AccessLevel> {
        Self::ALL.into_iter().find(|l| *l as i64 == value)
    }

    /// The wire value.
    pub fn as_i64(self) -> i64 {
        self as i64
    }
}

/// Who is asking, relative to one project or group: enough to decide every permission question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Instance administrators may do anything.
    pub is_admin: bool,
    /// The caller's effective level in the project or group: the highest of its own membership
    /// and those of every ancestor group, expired ones not counted.
    pub level: Option<AccessLevel>,
    /// Whether the caller is authenticated at all (anonymous callers can only read public projects).
    pub authenticated: bool,
    /// The caller's user id, when authenticated (protected branches may name users).
    pub user_id: Option<i64>,
    /// A deploy key enabled in the project, when the caller is one (over SSH): it reads the
    /// project whatever its visibility, and pushes where it may (`can_push`) and, to protected
    /// branches, only where a rule names it. It has no level and no user.
    pub deploy_key: Option<DeployKeyGrant>,
}

/// A deploy key's rights in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeployKeyGrant {
    /// The key's id (protected branches' `deploy_key_id` entries name it).
    pub key_id: i64,
    /// Whether the project lets it push.
    pub can_push: bool,
}

impl Caller {
    /// A deploy key enabled in the project with `grant`.
    pub fn deploy_key(grant: DeployKeyGrant) -> Caller {
        Caller {
            is_admin: false,
            level: None,
            authenticated: true,
            user_id: None,
            deploy_key: Some(grant),
        }
    }
}

/// Project visibility, as GitLab names it on the wire; private unless asked otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    #[default]
    Private,
    Internal,
    Public,
}

impl Visibility {
    /// Parses GitLab's wire spelling.
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "private" => Some(Visibility::Private),
            "internal" => Some(Visibility::Internal),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }

    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    /// How open it is: private < internal < public.
    pub fn rank(self) -> u8 {
        match self {
            Visibility::Private => 0,
            Visibility::Internal => 1,
            Visibility::Public => 2,
        }
    }

    /// The more closed of two visibilities.
    pub fn min(self, other: Visibility) -> Visibility {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }
}

/// Who may create projects in a group (GitLab's `project_creation_level`). GitLab's default is
/// Developers and Maintainers (`developer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProjectCreationLevel {
    NoOne,
    Administrator,
    Owner,
    Maintainer,
    #[default]
    Developer,
}

impl ProjectCreationLevel {
    pub const ALL: [ProjectCreationLevel; 5] = [
        ProjectCreationLevel::NoOne,
        ProjectCreationLevel::Administrator,
        ProjectCreationLevel::Owner,
        ProjectCreationLevel::Maintainer,
        ProjectCreationLevel::Developer,
    ];

    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectCreationLevel::NoOne => "noone",
            ProjectCreationLevel::Administrator => "administrator",
            ProjectCreationLevel::Owner => "owner",
            ProjectCreationLevel::Maintainer => "maintainer",
            ProjectCreationLevel::Developer => "developer",
        }
    }

    pub fn parse(s: &str) -> Option<ProjectCreationLevel> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Who may create subgroups in a group (GitLab's `subgroup_creation_level`); GitLab's default
/// is Maintainers (and Owners).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubgroupCreationLevel {
    Owner,
    #[default]
    Maintainer,
}

impl SubgroupCreationLevel {
    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SubgroupCreationLevel::Owner => "owner",
            SubgroupCreationLevel::Maintainer => "maintainer",
        }
    }

    pub fn parse(s: &str) -> Option<SubgroupCreationLevel> {
        match s {
            "owner" => Some(SubgroupCreationLevel::Owner),
            "maintainer" => Some(SubgroupCreationLevel::Maintainer),
            _ => None,
        }
    }
}

impl Caller {
    fn at_least(&self, level: AccessLevel) -> bool {
        self.is_admin || self.level.is_some_and(|l| l >= level)
    }

    /// May see the project at all (GitLab's `read_project`).
    pub fn can_read_project(&self, visibility: Visibility) -> bool {
        match visibility {
            Visibility::Public => true,
            Visibility::Internal => self.authenticated,
            Visibility::Private => self.at_least(AccessLevel::Guest),
        }
    }

    /// May read the repository (clone, fetch, list protected branches): Reporter+, or anyone who
    /// can see a public or internal project.
    pub fn can_read_code(&self, visibility: Visibility) -> bool {
        if self.deploy_key.is_some() {
            return true;
        }
        match visibility {
            Visibility::Private => self.at_least(AccessLevel::Reporter),
            _ => self.can_read_project(visibility),
        }
    }

    /// May push to unprotected branches: Developer+.
    pub fn can_push(&self) -> bool {
        if let Some(key) = self.deploy_key {
            return key.can_push;
        }
        self.at_least(AccessLevel::Developer)
    }

    /// May administer the project (members, protected branches, remote mirrors): Maintainer+.
    pub fn can_admin_project(&self) -> bool {
        self.at_least(AccessLevel::Maintainer)
    }

    /// May delete the project: Owner, or admin.
    pub fn can_remove_project(&self) -> bool {
        self.at_least(AccessLevel::Owner)
    }

    /// May make someone a member at `level`: a Maintainer up to Maintainer, an Owner anything.
    pub fn can_grant(&self, level: AccessLevel) -> bool {
        self.can_admin_project() && (level < AccessLevel::Owner || self.can_remove_project())
    }

    /// May remove a member holding `level`; `is_self` when the member is the caller, who may
    /// always leave. Otherwise the rule of [`Caller::can_grant`].
    pub fn can_remove_member(&self, level: AccessLevel, is_self: bool) -> bool {
        is_self || self.can_grant(level)
    }

    /// May see a group (GitLab's `read_group`): as a project, or, for a private group, when a
    /// member of something below it (`member_below`: a subgroup or a project in it), as GitLab
    /// lets a subgroup's members see its ancestors.
    pub fn can_read_group(&self, visibility: Visibility, member_below: bool) -> bool {
        self.can_read_project(visibility) || (self.authenticated && member_below)
    }

    /// May change or delete a group (GitLab's `admin_group`, `remove_group`): Owner, or admin.
    pub fn can_admin_group(&self) -> bool {
        self.at_least(AccessLevel::Owner)
    }

    /// May create a project in a group whose rule is `rule` (and transfer one into it).
    pub fn can_create_project_in_group(&self, rule: ProjectCreationLevel) -> bool {
        match rule {
            ProjectCreationLevel::NoOne => false,
            ProjectCreationLevel::Administrator => self.is_admin,
            ProjectCreationLevel::Owner => self.at_least(AccessLevel::Owner),
            ProjectCreationLevel::Maintainer => self.at_least(AccessLevel::Maintainer),
            ProjectCreationLevel::Developer => self.at_least(AccessLevel::Developer),
        }
    }

    /// May create a subgroup in a group whose rule is `rule`.
    pub fn can_create_subgroup(&self, rule: SubgroupCreationLevel) -> bool {
        match rule {
            SubgroupCreationLevel::Owner => self.at_least(AccessLevel::Owner),
            SubgroupCreationLevel::Maintainer => self.at_least(AccessLevel::Maintainer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(level: Option<AccessLevel>, is_admin: bool) -> Caller {
        Caller {
            is_admin,
            level,
            authenticated: true,
            user_id: None,
            deploy_key: None,
        }
    }

    #[test]
    fn levels_round_trip_and_reject_unknown_values() {
        for l in AccessLevel::ALL {
            assert_eq!(AccessLevel::from_i64(l.as_i64()), Some(l));
        }
        for bad in [0, 5, 15, 60, -10] {
            assert_eq!(AccessLevel::from_i64(bad), None);
        }
    }

    #[test]
    fn permission_table() {
        use AccessLevel::*;
        // (level, admin, read private, push, admin project, remove)
        let rows = [
            (None, false, false, false, false, false),
            (Some(Guest), false, false, false, false, false),
            (Some(Reporter), false, true, false, false, false),
            (Some(Developer), false, true, true, false, false),
            (Some(Maintainer), false, true, true, true, false),
            (Some(Owner), false, true, true, true, true),
            (None, true, true, true, true, true),
        ];
        for (level, admin, read, push, adm, remove) in rows {
            let c = caller(level, admin);
            assert_eq!(c.can_read_code(Visibility::Private), read, "{level:?}");
            assert_eq!(c.can_push(), push, "{level:?}");
            assert_eq!(c.can_admin_project(), adm, "{level:?}");
            assert_eq!(c.can_remove_project(), remove, "{level:?}");
        }
    }

    #[test]
    fn visibility_rules_for_outsiders() {
        let anon = Caller {
            is_admin: false,
            level: None,
            authenticated: false,
            user_id: None,
            deploy_key: None,
        };
        let outsider = caller(None, false);
        assert!(anon.can_read_project(Visibility::Public));
        assert!(!anon.can_read_project(Visibility::Internal));
        assert!(outsider.can_read_project(Visibility::Internal));
        assert!(!outsider.can_read_project(Visibility::Private));
        assert!(outsider.can_read_code(Visibility::Public));
        assert!(!outsider.can_read_code(Visibility::Private));
        assert_eq!(Visibility::parse("internal"), Some(Visibility::Internal));
        assert_eq!(Visibility::parse("secret"), None);
    }

    #[test]
    fn group_rules() {
        use AccessLevel::*;
        let anon = Caller {
            is_admin: false,
            level: None,
            authenticated: false,
            user_id: None,
            deploy_key: None,
        };
        let outsider = caller(None, false);
        assert!(!outsider.can_read_group(Visibility::Private, false));
        assert!(
            outsider.can_read_group(Visibility::Private, true),
            "a member below sees it"
        );
        assert!(!anon.can_read_group(Visibility::Private, true));
        assert!(outsider.can_read_group(Visibility::Internal, false));
        let dev = caller(Some(Developer), false);
        let maint = caller(Some(Maintainer), false);
        let owner = caller(Some(Owner), false);
        let admin = caller(None, true);
        assert!(dev.can_create_project_in_group(ProjectCreationLevel::Developer));
        assert!(!dev.can_create_project_in_group(ProjectCreationLevel::Maintainer));
        assert!(!owner.can_create_project_in_group(ProjectCreationLevel::Administrator));
        assert!(admin.can_create_project_in_group(ProjectCreationLevel::Administrator));
        assert!(!admin.can_create_project_in_group(ProjectCreationLevel::NoOne));
        assert!(maint.can_create_subgroup(SubgroupCreationLevel::Maintainer));
        assert!(!maint.can_create_subgroup(SubgroupCreationLevel::Owner));
        assert!(!dev.can_create_subgroup(SubgroupCreationLevel::Maintainer));
        assert!(owner.can_admin_group() && admin.can_admin_group() && !maint.can_admin_group());
        for l in ProjectCreationLevel::ALL {
            assert_eq!(ProjectCreationLevel::parse(l.as_str()), Some(l));
        }
        assert_eq!(
            Visibility::Public.min(Visibility::Internal),
            Visibility::Internal
        );
        assert_eq!(
            Visibility::Private.min(Visibility::Public),
            Visibility::Private
        );
    }

    #[test]
    fn members_are_granted_and_removed_up_to_ones_own_rank() {
        use AccessLevel::*;
        let maintainer = caller(Some(Maintainer), false);
        let owner = caller(Some(Owner), false);
        let developer = caller(Some(Developer), false);
        assert!(maintainer.can_grant(Maintainer) && !maintainer.can_grant(Owner));
        assert!(owner.can_grant(Owner));
        assert!(!developer.can_grant(Guest));
        assert!(
            developer.can_remove_member(Developer, true),
            "anyone may leave"
        );
        assert!(!developer.can_remove_member(Guest, false));
        assert!(maintainer.can_remove_member(Maintainer, false));
        assert!(!maintainer.can_remove_member(Owner, false));
        assert!(owner.can_remove_member(Owner, false));
    }
}
