//! Gitea's entities as this face answers them: `Repository` (enough for clients to work: ids,
//! names, owner, visibility, URLs, default branch, state), its `owner` (Gitea's `User`, which
//! also stands for organisations: here a user's or a group's namespace) and `PushMirror` (Gitea's
//! fields, Forgejo's `branch_filter` and `public_key`). Typed, converted explicitly from domain
//! values, so nothing reaches the wire unnamed: a mirror's credentials have no field here.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::access::{Caller, Visibility};
use crate::model::branch_filter::branch_filter_of;
use crate::model::clone_url::SshBase;
use crate::model::entities::{AuthMethod, Namespace, Project, RemoteMirror};
use crate::model::go_duration::format_go_duration;
use crate::model::time::iso8601_millis;

/// Gitea's `User`, for a repository's owner: a user's namespace, or a group's (Gitea's
/// organisation).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct Owner {
    /// The namespace's id.
    id: i64,
    /// The namespace's path (a user's username, a group's path).
    login: String,
    /// `login` again, as Gitea adds it for Gogs' clients.
    username: String,
    /// Always empty: no login source is shown.
    login_name: String,
    /// The namespace's display name.
    full_name: String,
    /// Always empty: e-mail addresses are not shown here.
    email: String,
    /// Always empty: namespaces have no avatars.
    avatar_url: String,
    /// The namespace's web page.
    html_url: String,
    /// `public`, `limited` (GitLab's internal) or `private`.
    visibility: &'static str,
}

/// A caller's rights in a repository, as Gitea reports them.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct Permissions {
    /// May administer it (Maintainer and up, or an admin): its push mirrors too.
    admin: bool,
    /// May push.
    push: bool,
    /// May clone.
    pull: bool,
}

/// Gitea's `Repository`, the fields clients rely on; the rest of Gitea's features (issues, pull
/// requests, wikis, stars) are absent and their counters zero.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct Repository {
    id: i64,
    owner: Owner,
    name: String,
    /// `owner/name`.
    full_name: String,
    description: String,
    /// Whether the repository has no refs at all.
    empty: bool,
    private: bool,
    /// Visible to every signed-in user (GitLab's internal).
    internal: bool,
    fork: bool,
    template: bool,
    /// Whether it is a pull mirror of another repository.
    mirror: bool,
    archived: bool,
    size: i64,
    html_url: String,
    url: String,
    clone_url: String,
    /// Null when SSH is not served.
    ssh_url: Option<String>,
    original_url: String,
    website: String,
    /// Null until the first push.
    default_branch: Option<String>,
    stars_count: i64,
    forks_count: i64,
    watchers_count: i64,
    open_issues_count: i64,
    has_issues: bool,
    has_wiki: bool,
    has_pull_requests: bool,
    #[schema(format = DateTime)]
    created_at: Option<String>,
    #[schema(format = DateTime)]
    updated_at: Option<String>,
    permissions: Permissions,
}

/// Gitea's name for a visibility.
fn visibility_name(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Internal => "limited",
        Visibility::Private => "private",
    }
}

/// The owner entity of namespace `n`.
fn owner(n: &Namespace, external_url: &str) -> Owner {
    Owner {
        id: n.id,
        login: n.full_path.clone(),
        username: n.full_path.clone(),
        login_name: String::new(),
        full_name: n.full_name.clone(),
        email: String::new(),
        avatar_url: String::new(),
        html_url: format!("{external_url}/{}", n.full_path),
        visibility: visibility_name(n.visibility),
    }
}

/// The repository entity of `p`, as `caller` sees it.
pub(in crate::http) fn repository(
    p: &Project,
    caller: &Caller,
    pull_mirror: bool,
    external_url: &str,
    ssh: Option<&SshBase>,
) -> Repository {
    let full = p.full_path();
    let html_url = format!("{external_url}/{full}");
    Repository {
        id: p.id,
        owner: owner(&p.namespace, external_url),
        name: p.path.clone(),
        description: p.description.clone().unwrap_or_default(),
        empty: p.empty_repo,
        private: p.visibility == Visibility::Private,
        internal: p.visibility == Visibility::Internal,
        fork: false,
        template: false,
        mirror: pull_mirror,
        archived: p.archived,
        size: 0,
        url: format!("{external_url}/api/v1/repos/{full}"),
        clone_url: format!("{html_url}.git"),
        ssh_url: ssh.map(|s| s.clone_url(&full)),
        original_url: String::new(),
        website: String::new(),
        html_url,
        default_branch: p.default_branch.clone(),
        stars_count: 0,
        forks_count: 0,
        watchers_count: 0,
        open_issues_count: 0,
        has_issues: false,
        has_wiki: false,
        has_pull_requests: false,
        created_at: iso8601_millis(p.created_at),
        updated_at: iso8601_millis(p.last_activity_at),
        permissions: Permissions {
            admin: caller.can_admin_project(),
            push: caller.can_push(),
            pull: caller.can_read_code(p.visibility),
        },
        full_name: full,
    }
}

/// Gitea's `PushMirror`, with Forgejo's `branch_filter` and `public_key`.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct PushMirror {
    /// The repository's name.
    repo_name: String,
    /// The mirror's name, made by the server (`remote_mirror_…`): the `{name}` of its routes.
    remote_name: String,
    /// The remote's URL without credentials.
    remote_address: String,
    #[schema(format = DateTime)]
    created: Option<String>,
    /// When the last update ended; null before the first.
    #[schema(format = DateTime)]
    last_update: Option<String>,
    /// The last update's error (scrubbed of credentials); empty when it succeeded.
    last_error: String,
    /// Between periodic updates, a Go duration (`8h0m0s`); `0s`: only on push.
    interval: String,
    /// Whether a push updates the mirror.
    sync_on_commit: bool,
    /// The branches pushed, comma-separated; empty for all. A branch regex set through the
    /// GitLab API that is not such a list shows as it is, between slashes (`/^rel/`).
    branch_filter: String,
    /// The SSH public key to install on the remote, for a mirror that authenticates by key;
    /// empty otherwise.
    public_key: String,
}

/// The push-mirror entity of `m`, a mirror of repository `repo_name`.
pub(in crate::http) fn push_mirror(m: &RemoteMirror, repo_name: &str) -> PushMirror {
    let regex = m.mirror_branch_regex.as_deref();
    PushMirror {
        repo_name: repo_name.to_owned(),
        remote_name: m.remote_name.clone(),
        remote_address: m.url.clone(),
        created: iso8601_millis(m.created_at),
        last_update: m.last_update_at.and_then(iso8601_millis),
        last_error: m.last_error.clone().unwrap_or_default(),
        interval: format_go_duration(m.sync_interval_secs),
        sync_on_commit: m.sync_on_commit,
        branch_filter: branch_filter_of(regex)
            .unwrap_or_else(|| format!("/{}/", regex.unwrap_or_default())),
        public_key: match m.auth_method {
            AuthMethod::SshPublicKey => m.ssh_public_key.clone().unwrap_or_default(),
            AuthMethod::Password => String::new(),
        },
    }
}
