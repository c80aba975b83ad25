//! The records pushmirror keeps: users, namespaces and groups, projects, members, protected
//! branches and remote mirrors,
//! as plain domain values. The store produces them, the HTTP edge converts them to GitLab JSON;
//! neither a secret nor a wire detail lives here (credentials stay sealed bytes until one push).

use crate::model::access::{AccessLevel, ProjectCreationLevel, SubgroupCreationLevel, Visibility};
use crate::model::accounts::UserState;
use crate::model::status::UpdateStatus;

/// Milliseconds since the Unix epoch, UTC: the one time representation of the domain.
pub type Millis = i64;

/// The mirror URL as anyone may see it, from the stored URL (never with credentials) and what
/// its sealed credentials hold: a user named exactly `git` shows, any other user and any
/// password are masked (GitLab's `safe_url`).
pub(super) fn safe_mirror_url(
    url: &str,
    has_user: bool,
    user_is_git: bool,
    has_password: bool,
) -> String {
    let user = has_user.then_some(if user_is_git { "git" } else { "x" });
    crate::model::url::masked_url(url, user, has_password)
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub name: String,
    /// Users made before e-mail addresses were kept have none.
    pub email: Option<String>,
    pub is_admin: bool,
    pub state: UserState,
    pub created_at: Millis,
}

impl User {
    /// Whether an administrator blocked the account.
    pub fn is_blocked(&self) -> bool {
        self.state == UserState::Blocked
    }
}

/// What kind of namespace a [`Namespace`] is: a user's own, or a group (at any depth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceKind {
    User,
    Group,
}

impl NamespaceKind {
    /// GitLab's wire spelling (`kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceKind::User => "user",
            NamespaceKind::Group => "group",
        }
    }

    /// Parses the stored spelling; anything but `group` is a user's namespace.
    pub fn parse(s: &str) -> NamespaceKind {
        if s == "group" {
            NamespaceKind::Group
        } else {
            NamespaceKind::User
        }
    }
}

/// A namespace that holds projects: every user has one of kind `user` with their username as
/// path; groups nest (`org/team/sub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: i64,
    /// `org/team/sub`, or a user's username: unique regardless of case.
    pub full_path: String,
    pub name: String,
    /// The names from the top down, GitLab's `full_name` (`Org / Team`).
    pub full_name: String,
    pub kind: NamespaceKind,
    /// The user of a user namespace.
    pub owner_id: Option<i64>,
    /// The parent group of a subgroup.
    pub parent_id: Option<i64>,
    /// A group's visibility (a user namespace's is not used).
    pub visibility: Visibility,
}

impl Namespace {
    /// The namespace's own path, the last segment of its full path.
    pub fn path(&self) -> &str {
        self.full_path.rsplit('/').next().unwrap_or(&self.full_path)
    }

    pub fn is_group(&self) -> bool {
        self.kind == NamespaceKind::Group
    }
}

/// A group (or subgroup): its namespace and the settings only groups have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub namespace: Namespace,
    pub description: Option<String>,
    /// Who may create projects in the group.
    pub project_creation_level: ProjectCreationLevel,
    /// Who may create subgroups in the group.
    pub subgroup_creation_level: SubgroupCreationLevel,
    pub created_at: Millis,
}

impl Group {
    pub fn id(&self) -> i64 {
        self.namespace.id
    }
}

/// A hosted project and its bare repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: i64,
    pub namespace: Namespace,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    /// `None` until the first push (or explicitly set at creation).
    pub default_branch: Option<String>,
    pub visibility: Visibility,
    pub creator_id: i64,
    /// Whether the repository has no refs at all.
    pub empty_repo: bool,
    /// Archived projects are read-only and their mirrors are not pushed.
    pub archived: bool,
    /// GitLab's LFS switch: when off, every git LFS route of the project answers 404 and a
    /// push of LFS pointers is not checked.
    pub lfs_enabled: bool,
    /// The storage that holds the repository.
    pub storage: crate::model::storage::StorageName,
    pub created_at: Millis,
    pub last_activity_at: Millis,
}

impl Project {
    /// The project's repository.
    pub fn repo(&self) -> crate::model::storage::RepoRef {
        crate::model::storage::RepoRef::new(self.storage.clone(), self.id)
    }

    /// `namespace/path` at any depth, GitLab's `path_with_namespace`.
    pub fn full_path(&self) -> String {
        format!("{}/{}", self.namespace.full_path, self.path)
    }
}

/// A user's membership in a project or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub access_level: AccessLevel,
    pub created_at: Millis,
    /// `YYYY-MM-DD`: the membership grants nothing from the day after.
    pub expires_at: Option<String>,
}

/// Who one entry of a protected branch's access list lets act: a role (`access_level`: 0 no
/// one, 30 Developers, 40 Maintainers, 60 admins) or one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub id: i64,
    pub access_level: Option<i64>,
    pub user_id: Option<i64>,
    /// A user entry's user's name, which GitLab describes the entry by.
    pub user_name: Option<String>,
    /// A deploy key entry's key (GitLab's `deploy_key_id`; push lists only).
    pub deploy_key_id: Option<i64>,
}

impl AccessEntry {
    /// An entry for a role.
    pub fn level(id: i64, access_level: i64) -> AccessEntry {
        AccessEntry {
            id,
            access_level: Some(access_level),
            user_id: None,
            user_name: None,
            deploy_key_id: None,
        }
    }
}

/// A protected-branch rule; `name` may hold `*` wildcards. Each list holds who may push, merge
/// and unprotect (GitLab EE's `*_access_levels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedBranch {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub push: Vec<AccessEntry>,
    pub merge: Vec<AccessEntry>,
    pub unprotect: Vec<AccessEntry>,
    pub allow_force_push: bool,
    pub code_owner_approval_required: bool,
}

/// How a mirror authenticates to its remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    Password,
    SshPublicKey,
}

impl AuthMethod {
    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::SshPublicKey => "ssh_public_key",
        }
    }

    /// Parses GitLab's wire spelling.
    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "password" => Some(AuthMethod::Password),
            "ssh_public_key" => Some(AuthMethod::SshPublicKey),
            _ => None,
        }
    }
}

/// What a push mirror does with the Git LFS objects of the refs it pushes (`lfs_sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LfsSync {
    /// Upload them first; refs whose objects did not all reach the remote are not pushed.
    #[default]
    Required,
    /// Upload them first, push the refs even when some failed; the update still fails.
    BestEffort,
    /// Send no LFS request at all.
    Off,
}

impl LfsSync {
    /// Every value, in the order forms list them.
    pub const ALL: [LfsSync; 3] = [LfsSync::Required, LfsSync::BestEffort, LfsSync::Off];

    /// The wire and column spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LfsSync::Required => "required",
            LfsSync::BestEffort => "best_effort",
            LfsSync::Off => "off",
        }
    }

    /// Parses the wire and column spelling.
    pub fn parse(s: &str) -> Option<LfsSync> {
        LfsSync::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The kind of key pair a mirror authenticates with over SSH (`ssh_key_type`): Ed25519 by
/// default, RSA (4096 bits) for servers too old for Ed25519.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SshKeyType {
    #[default]
    Ed25519,
    Rsa,
}

impl SshKeyType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SshKeyType::Ed25519 => "ed25519",
            SshKeyType::Rsa => "rsa",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<SshKeyType> {
        match s {
            "ed25519" => Some(SshKeyType::Ed25519),
            "rsa" => Some(SshKeyType::Rsa),
            _ => None,
        }
    }

    /// The type of a public key line (`ssh-rsa AAAA…`), `None` for any other kind.
    pub fn of_public_key(line: &str) -> Option<SshKeyType> {
        match line.split_whitespace().next()? {
            "ssh-ed25519" => Some(SshKeyType::Ed25519),
            "ssh-rsa" => Some(SshKeyType::Rsa),
            _ => None,
        }
    }
}

/// A push mirror of a project.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteMirror {
    pub id: i64,
    pub project_id: i64,
    /// The URL without any credentials.
    pub url: String,
    /// Whether a user name is stored (decides masking of the user part). The user itself is
    /// sealed in `credentials`: people put tokens there too.
    pub has_user: bool,
    /// Whether the stored user is exactly `git`, the one user GitLab shows unmasked.
    pub user_is_git: bool,
    /// Whether a password is stored (decides masking of the password part).
    pub has_password: bool,
    /// Sealed credentials (user, password, SSH private key); opened only for one push.
    pub credentials: Option<Vec<u8>>,
    pub enabled: bool,
    pub only_protected_branches: bool,
    pub keep_divergent_refs: bool,
    /// What happens to the LFS objects of the pushed refs.
    pub lfs_sync: LfsSync,
    pub mirror_branch_regex: Option<String>,
    pub auth_method: AuthMethod,
    /// The public half of the mirror's SSH key pair, when one was generated.
    pub ssh_public_key: Option<String>,
    /// Pinned SSH host keys in known_hosts form, one per line.
    pub ssh_known_hosts: Option<String>,
    /// Seconds between periodic updates beside those pushes trigger; 0: only on push.
    pub sync_interval_secs: i64,
    /// Whether a push to the project updates this mirror.
    pub sync_on_commit: bool,
    /// The name the Gitea-compatible API knows the mirror by: made once, never changed.
    pub remote_name: String,
    pub update_status: UpdateStatus,
    pub last_update_at: Option<Millis>,
    pub last_update_started_at: Option<Millis>,
    pub last_successful_update_at: Option<Millis>,
    pub last_error: Option<String>,
    /// Retries already made for the current failure streak (GitLab retries 3 times).
    pub retry_count: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl RemoteMirror {
    /// The URL with credentials masked, as the API, hooks and e-mail show it.
    pub fn safe_url(&self) -> String {
        safe_mirror_url(
            &self.url,
            self.has_user,
            self.user_is_git,
            self.has_password,
        )
    }
}

impl RemoteMirror {
    /// The settings this mirror was saved with.
    pub fn settings(&self) -> MirrorSettings {
        MirrorSettings {
            url: self.url.clone(),
            has_user: self.has_user,
            user_is_git: self.user_is_git,
            has_password: self.has_password,
            credentials: self.credentials.clone(),
            enabled: self.enabled,
            only_protected_branches: self.only_protected_branches,
            keep_divergent_refs: self.keep_divergent_refs,
            lfs_sync: self.lfs_sync,
            mirror_branch_regex: self.mirror_branch_regex.clone(),
            auth_method: self.auth_method,
            ssh_public_key: self.ssh_public_key.clone(),
            ssh_known_hosts: self.ssh_known_hosts.clone(),
            sync_interval_secs: self.sync_interval_secs,
            sync_on_commit: self.sync_on_commit,
        }
    }
}

/// Everything a mirror's owner decides, as saved: a mirror row minus its id, project and status.
/// The store writes a mirror from this one type (its columns are listed once, in
/// `store::mirrors::SETTING_COLUMNS`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MirrorSettings {
    /// The URL without any credentials.
    pub url: String,
    pub has_user: bool,
    pub user_is_git: bool,
    pub has_password: bool,
    /// Sealed credentials (user, password, SSH private key).
    pub credentials: Option<Vec<u8>>,
    pub enabled: bool,
    pub only_protected_branches: bool,
    pub keep_divergent_refs: bool,
    /// What happens to the LFS objects of the pushed refs.
    pub lfs_sync: LfsSync,
    pub mirror_branch_regex: Option<String>,
    pub auth_method: AuthMethod,
    pub ssh_public_key: Option<String>,
    pub ssh_known_hosts: Option<String>,
    /// Seconds between periodic updates; 0: only on push.
    pub sync_interval_secs: i64,
    /// Whether a push updates the mirror.
    pub sync_on_commit: bool,
}

/// A mirror as lists and pages show it: its settings and status, without credentials or queue
/// state (each face shapes it for its wire: the GitLab API's `views::remote_mirror`, the web
/// pages' table). Lists are read straight into this shape; single mirrors convert from
/// [`RemoteMirror`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorSummary {
    pub id: i64,
    /// The URL without any credentials.
    pub url: String,
    pub has_user: bool,
    pub user_is_git: bool,
    pub has_password: bool,
    pub enabled: bool,
    pub only_protected_branches: bool,
    pub keep_divergent_refs: bool,
    /// What happens to the LFS objects of the pushed refs.
    pub lfs_sync: LfsSync,
    pub mirror_branch_regex: Option<String>,
    pub auth_method: AuthMethod,
    pub ssh_known_hosts: Option<String>,
    /// Seconds between periodic updates; 0: only on push.
    pub sync_interval_secs: i64,
    /// Whether a push updates the mirror.
    pub sync_on_commit: bool,
    pub update_status: UpdateStatus,
    pub last_update_at: Option<Millis>,
    pub last_update_started_at: Option<Millis>,
    pub last_successful_update_at: Option<Millis>,
    pub last_error: Option<String>,
}

impl MirrorSummary {
    /// The URL with credentials masked, as the API, hooks and e-mail show it.
    pub fn safe_url(&self) -> String {
        safe_mirror_url(
            &self.url,
            self.has_user,
            self.user_is_git,
            self.has_password,
        )
    }
}

impl From<&RemoteMirror> for MirrorSummary {
    fn from(m: &RemoteMirror) -> MirrorSummary {
        MirrorSummary {
            id: m.id,
            url: m.url.clone(),
            has_user: m.has_user,
            user_is_git: m.user_is_git,
            has_password: m.has_password,
            enabled: m.enabled,
            only_protected_branches: m.only_protected_branches,
            keep_divergent_refs: m.keep_divergent_refs,
            lfs_sync: m.lfs_sync,
            mirror_branch_regex: m.mirror_branch_regex.clone(),
            auth_method: m.auth_method,
            ssh_known_hosts: m.ssh_known_hosts.clone(),
            sync_interval_secs: m.sync_interval_secs,
            sync_on_commit: m.sync_on_commit,
            update_status: m.update_status,
            last_update_at: m.last_update_at,
            last_update_started_at: m.last_update_started_at,
            last_successful_update_at: m.last_successful_update_at,
            last_error: m.last_error.clone(),
        }
    }
}
