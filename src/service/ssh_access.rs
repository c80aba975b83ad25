//! Who an SSH client is and what it may do, for both SSH faces (the built-in server and
//! OpenSSH's `AuthorizedKeysCommand` mode). A client is the key it proved it holds
//! ([`authenticate_key`], given the key's wire encoding after the signature was verified): a
//! user's own key acts as the user, with exactly the rules of git over HTTP; a deploy key acts
//! only in the projects it is enabled in ([`Caller::deploy_key`]: it reads them whatever their
//! visibility and pushes where `can_push` and the protected-branch rules allow). Keys past
//! their `expires_at`, signing-only keys, and keys of blocked users let no one in.
//!
//! [`authorize`] answers, for one path and operation, the project and the caller that the git
//! endpoints' push session and upload-pack take; every "no" that could reveal a project is
//! [`AccessRefusal::NotFound`]. [`lfs_authenticate`] answers `git-lfs-authenticate`: the
//! project's LFS endpoint and a sealed token for it ([`crate::service::lfs::ssh_token`]).

use crate::app::App;
use crate::model::access::{Caller, DeployKeyGrant};
use crate::model::entities::{Project, User};
use crate::model::ssh_keys::{fingerprint_sha256, should_record_use, KeyKind, SshKey};

use super::auth::today;
use super::error::ServiceError;
use super::lfs::ssh_token::{self, TokenHolder};
use super::lfs::Operation;
use super::projects::find_project;

/// GitLab's message for a read the caller's level does not allow.
pub const DOWNLOAD_REFUSED: &str = "You are not allowed to download code from this project.";
/// GitLab's message for a push the caller's level does not allow.
pub const PUSH_REFUSED: &str = "You are not allowed to push code to this project.";
/// GitLab's message for a push by a deploy key enabled without write access.
pub const DEPLOY_KEY_READ_ONLY: &str =
    "This deploy key does not have write access to this project.";

/// A client authenticated by a key it proved it holds.
#[derive(Debug, Clone)]
pub struct SshPrincipal {
    /// The key's id.
    pub key_id: i64,
    /// The key's `SHA256:…` fingerprint (what logs name).
    pub fingerprint: String,
    pub holder: KeyHolder,
}

/// Whose key authenticated a client.
#[derive(Debug, Clone)]
pub enum KeyHolder {
    /// A user's own key.
    User(User),
    /// A deploy key, `owner` being the user who added it (its pushes are theirs in webhook
    /// events), if that user still exists.
    Deploy { title: String, owner: Option<i64> },
}

impl SshPrincipal {
    /// How people see the client: the user's username, or the deploy key's title.
    pub fn name(&self) -> String {
        match &self.holder {
            KeyHolder::User(u) => u.username.clone(),
            KeyHolder::Deploy { title, .. } => title.clone(),
        }
    }

    /// The user a push is recorded as (webhook events name them).
    pub fn pusher(&self) -> Option<i64> {
        match &self.holder {
            KeyHolder::User(u) => Some(u.id),
            KeyHolder::Deploy { owner, .. } => *owner,
        }
    }

    /// Whether a deploy key authenticated the client.
    pub fn is_deploy_key(&self) -> bool {
        matches!(self.holder, KeyHolder::Deploy { .. })
    }
}

/// Why a key let no one in (for logs and metrics only: the client is told nothing more than
/// that authentication failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// No such key.
    Unknown,
    /// The key is past its `expires_at`, or may only sign.
    Expired,
    /// The key's user is blocked.
    Blocked,
    /// The lookup failed.
    Internal(String),
}

impl KeyRefusal {
    /// A bounded label for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyRefusal::Unknown => "unknown_key",
            KeyRefusal::Expired => "expired_key",
            KeyRefusal::Blocked => "blocked_user",
            KeyRefusal::Internal(_) => "error",
        }
    }
}

impl From<crate::store::StoreError> for KeyRefusal {
    fn from(e: crate::store::StoreError) -> Self {
        KeyRefusal::Internal(e.to_string())
    }
}

/// What a git command does to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitOp {
    /// `git-upload-pack`, `git-upload-archive`.
    Fetch,
    /// `git-receive-pack`.
    Push,
}

/// Why a command may not run; the face turns it into git's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessRefusal {
    /// No such project, or one the client may not see: one fixed message.
    NotFound,
    /// The client sees the project but may not do this (GitLab's message).
    Forbidden(&'static str),
    /// Something failed on the server (logged; the client gets a generic message).
    Internal(String),
}

impl From<crate::store::StoreError> for AccessRefusal {
    fn from(e: crate::store::StoreError) -> Self {
        AccessRefusal::Internal(e.to_string())
    }
}

/// The client whose proven key has the wire encoding `blob`, recording the key's use (at most
/// hourly).
pub async fn authenticate_key(app: &App, blob: &[u8]) -> Result<SshPrincipal, KeyRefusal> {
    let fingerprint = fingerprint_sha256(blob);
    let key = app
        .store
        .ssh_key_by_fingerprint(&fingerprint)
        .await?
        .ok_or(KeyRefusal::Unknown)?;
    admit(app, key).await
}

/// The client that OpenSSH authenticated with key `key_id` (`ssh serve key-<id>`, which sshd
/// runs only after the key's signature was verified), by the rules of [`authenticate_key`]: the
/// key may have expired or its user been blocked since sshd asked
/// [`offered_key`].
pub async fn principal_for_key(app: &App, key_id: i64) -> Result<SshPrincipal, KeyRefusal> {
    let key = app
        .store
        .ssh_key(key_id)
        .await?
        .ok_or(KeyRefusal::Unknown)?;
    admit(app, key).await
}

/// The key whose wire encoding is `blob`, when it would let someone in now: what is asked of a
/// key a client merely *offers* (before any signature: the built-in server's offer step, and
/// OpenSSH's `AuthorizedKeysCommand`), so nothing is recorded; a use is recorded once the
/// signature is verified ([`authenticate_key`], [`principal_for_key`]). Anyone who knows a
/// public key can offer it.
pub async fn offered_key(app: &App, blob: &[u8]) -> Result<SshKey, KeyRefusal> {
    let key = app
        .store
        .ssh_key_by_fingerprint(&fingerprint_sha256(blob))
        .await?
        .ok_or(KeyRefusal::Unknown)?;
    if !key.lets_in(app.clock.now_ms()) {
        return Err(KeyRefusal::Expired);
    }
    holder(app, &key).await?;
    Ok(key)
}

/// The client `key` lets in now, recording the key's use (at most hourly).
async fn admit(app: &App, key: SshKey) -> Result<SshPrincipal, KeyRefusal> {
    let now = app.clock.now_ms();
    if !key.lets_in(now) {
        return Err(KeyRefusal::Expired);
    }
    let holder = holder(app, &key).await?;
    let fingerprint = key.fingerprint_sha256.clone();
    if should_record_use(key.last_used_at, now) {
        // "Last used" is informational: a failed write must not refuse the client.
        if let Err(e) = app.store.record_ssh_key_use(key.id, now).await {
            tracing::warn!(key_id = key.id, error = %e, "recording an SSH key's use failed");
        }
    }
    Ok(SshPrincipal {
        key_id: key.id,
        fingerprint,
        holder,
    })
}

/// Whose `key` is, as it stands now: a blocked user's key (own, or a deploy key they added)
/// lets no one in.
async fn holder(app: &App, key: &SshKey) -> Result<KeyHolder, KeyRefusal> {
    let owner = match key.user_id {
        Some(id) => app.store.user_by_id(id).await?,
        None => None,
    };
    if owner.as_ref().is_some_and(User::is_blocked) {
        return Err(KeyRefusal::Blocked);
    }
    match key.kind {
        KeyKind::User => owner.map(KeyHolder::User).ok_or(KeyRefusal::Unknown),
        KeyKind::Deploy => Ok(KeyHolder::Deploy {
            title: key.title.clone(),
            owner: owner.map(|u| u.id),
        }),
    }
}

/// The project at `full_path` (`group/sub/project`, no `.git`) and the client as its caller,
/// when `principal` may `op` it.
pub async fn authorize(
    app: &App,
    principal: &SshPrincipal,
    full_path: &str,
    op: GitOp,
) -> Result<(Project, Caller), AccessRefusal> {
    let (project, caller) = match &principal.holder {
        KeyHolder::User(user) => match find_project(app, full_path, Some(user)).await {
            Ok(found) => found,
            Err(ServiceError::NotFound(_) | ServiceError::Unauthenticated) => {
                return Err(AccessRefusal::NotFound)
            }
            Err(e) => return Err(AccessRefusal::Internal(e.to_string())),
        },
        KeyHolder::Deploy { .. } => deploy_key_caller(app, principal.key_id, full_path).await?,
    };
    let allowed = match op {
        GitOp::Fetch => caller.can_read_code(project.visibility),
        GitOp::Push => caller.can_push(),
    };
    if allowed {
        return Ok((project, caller));
    }
    Err(AccessRefusal::Forbidden(match op {
        GitOp::Fetch => DOWNLOAD_REFUSED,
        GitOp::Push if caller.deploy_key.is_some() => DEPLOY_KEY_READ_ONLY,
        GitOp::Push => PUSH_REFUSED,
    }))
}

/// The project at `full_path` and deploy key `key_id` as its caller, when the key is enabled
/// there; otherwise the project does not exist for the key.
async fn deploy_key_caller(
    app: &App,
    key_id: i64,
    full_path: &str,
) -> Result<(Project, Caller), AccessRefusal> {
    let Some((project, _)) = app
        .store
        .project_by_path_for(full_path, None, &today(app))
        .await?
    else {
        return Err(AccessRefusal::NotFound);
    };
    let link = app
        .store
        .project_deploy_key(project.id, key_id)
        .await?
        .ok_or(AccessRefusal::NotFound)?;
    let caller = Caller::deploy_key(DeployKeyGrant {
        key_id,
        can_push: link.can_push,
    });
    Ok((project, caller))
}

/// What `git-lfs-authenticate` answers: where the project's LFS API is and the header that
/// lets the client in there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsAuthentication {
    /// `<external URL>/<full path>.git/info/lfs`.
    pub href: String,
    /// The `Authorization` header's value.
    pub authorization: String,
    /// Seconds the token is good for.
    pub expires_in: u64,
}

/// Answers `git-lfs-authenticate <full_path> upload|download` for `principal`: refused as
/// [`authorize`] would refuse the matching git command, and for a project with LFS off.
pub async fn lfs_authenticate(
    app: &App,
    principal: &SshPrincipal,
    full_path: &str,
    op: Operation,
) -> Result<LfsAuthentication, AccessRefusal> {
    let git_op = match op {
        Operation::Download => GitOp::Fetch,
        Operation::Upload => GitOp::Push,
    };
    let (project, _) = authorize(app, principal, full_path, git_op).await?;
    if !project.lfs_enabled {
        return Err(AccessRefusal::NotFound);
    }
    let holder = match &principal.holder {
        KeyHolder::User(u) => TokenHolder::User(u.id),
        KeyHolder::Deploy { .. } => TokenHolder::DeployKey(principal.key_id),
    };
    Ok(LfsAuthentication {
        href: format!(
            "{}/{}.git/info/lfs",
            app.external_url.trim_end_matches('/'),
            project.full_path()
        ),
        authorization: format!(
            "{} {}",
            ssh_token::SCHEME,
            ssh_token::issue(app, holder, project.id, op)
        ),
        expires_in: ssh_token::TOKEN_TTL.as_secs(),
    })
}
