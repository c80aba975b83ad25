//! Where an import or a pull mirror fetches from, checked as push mirrors' URLs are (syntax,
//! scheme, every address the host resolves to, the SSH login user) and saved the same way:
//! credentials split from the URL and sealed, an SSH key pair generated for an `ssh://`
//! upstream that authenticates by key, its host keys pinned ([`upstream_from`]). At use,
//! [`remote_for`] opens the credentials for one run and prepares a [`GitRemote`] (checked
//! again, DNS-pinned).
//!
//! Invariant: a credential is never kept in the URL; the URL an upstream shows is masked.

use secrecy::SecretString;

use crate::app::App;
use crate::credentials::MirrorCredentials;
use crate::model::entities::{AuthMethod, SshKeyType};
use crate::model::errors::FieldErrors;
use crate::model::host_keys::RepinHint;
use crate::model::mirror_settings::{check_ssh_auth, MirrorErrors};
use crate::model::pull::Upstream;
use crate::model::url::{MirrorTarget, Scheme};
use crate::remote::{GitRemote, RemoteFailure, RemoteSpec};

use super::error::ServiceError;
use super::mirrors::{check_url, host_keys_for, new_key_pair};

/// What a client asks an upstream to be.
#[derive(Debug, Clone, Default)]
pub struct UpstreamRequest {
    /// The URL and the credentials beside it (split at the face's edge).
    pub target: MirrorTarget,
    /// `ssh_public_key` to generate a key pair for an `ssh://` upstream (its default there).
    pub auth_method: Option<AuthMethod>,
    /// The key type to generate.
    pub ssh_key_type: Option<SshKeyType>,
    /// Host keys to pin (`known_hosts` lines or single keys) for an `ssh://` upstream.
    pub host_keys: Option<Vec<String>>,
}

/// Checks `req` and makes the upstream to save; field errors are reported under `field` (GitLab
/// calls it `import_url` on projects, `url` on the pull-mirror API).
pub async fn upstream_from(
    app: &App,
    req: &UpstreamRequest,
    field: &'static str,
) -> Result<Upstream, ServiceError> {
    let mut errors = MirrorErrors::default();
    let parsed = check_url(app, &req.target, &mut errors).await;
    // An `ssh://` upstream authenticates with a key pair made for it unless told otherwise.
    let is_ssh = parsed.as_ref().is_some_and(|p| p.scheme == Scheme::Ssh);
    let auth_method = req.auth_method.unwrap_or(if is_ssh {
        AuthMethod::SshPublicKey
    } else {
        AuthMethod::Password
    });
    if let Some(p) = parsed.as_ref().filter(|p| p.scheme == Scheme::Ssh) {
        check_ssh_auth(p.password.is_some(), Some(auth_method), &mut errors);
    }
    let Some(parsed) = parsed.filter(|_| errors.is_empty()) else {
        let named: FieldErrors = errors.named(|_| field);
        return Err(named.into());
    };
    let ssh_known_hosts = match &req.host_keys {
        Some(keys) => host_keys_for(keys, Some(&parsed))?,
        None => None,
    };
    let mut credentials = MirrorCredentials {
        user: parsed.user.clone().map(SecretString::from),
        password: parsed.password.clone(),
        ssh_private_key: None,
    };
    let mut ssh_public_key = None;
    if parsed.scheme == Scheme::Ssh && auth_method == AuthMethod::SshPublicKey {
        let (private, public) = new_key_pair(app, req.ssh_key_type.unwrap_or_default()).await?;
        credentials.ssh_private_key = Some(private);
        ssh_public_key = Some(public);
    }
    Ok(Upstream {
        url: parsed.url.clone(),
        has_user: parsed.user.is_some(),
        user_is_git: parsed.user.as_deref() == Some("git"),
        has_password: parsed.password.is_some(),
        credentials: credentials.seal(&app.cipher),
        auth_method,
        ssh_public_key,
        ssh_known_hosts,
    })
}

/// The credentials of `upstream`, as a face's edit form shows them back: never. Whether a new
/// request names the same URL, so blank credentials may keep the stored ones.
pub fn same_url(upstream: &Upstream, target: &MirrorTarget) -> bool {
    let policy = crate::model::url::NetworkPolicy {
        allow_local_network: true,
    };
    crate::model::url::parse_mirror_url(&target.url, policy).is_ok_and(|p| p.url == upstream.url)
}

/// `target` with `upstream`'s stored user and password filling its blank parts, when it names
/// the same URL (a password never follows an upstream to another host).
pub fn keep_stored(app: &App, upstream: &Upstream, target: MirrorTarget) -> MirrorTarget {
    if !same_url(upstream, &target) {
        return target;
    }
    match MirrorCredentials::open(&app.cipher, upstream.credentials.as_deref()) {
        Ok(stored) => target.or_stored(&crate::model::url::Credentials {
            user: stored.user,
            password: stored.password,
        }),
        Err(_) => target,
    }
}

/// A [`GitRemote`] for one run against `upstream` of project `project_id` (`owner_id` names the
/// pull mirror or import in a host-key re-pin hint). The failure is scrubbed.
pub async fn remote_for(
    app: &App,
    upstream: &Upstream,
    project_id: i64,
    owner_id: i64,
) -> Result<GitRemote, RemoteFailure> {
    let credentials = MirrorCredentials::open(&app.cipher, upstream.credentials.as_deref())
        .map_err(|e| RemoteFailure::Final(format!("The stored credentials cannot be read: {e}")))?;
    let spec = RemoteSpec {
        url: &upstream.url,
        credentials,
        auth_method: upstream.auth_method,
        ssh_public_key: upstream.ssh_public_key.as_deref(),
        ssh_known_hosts: upstream.ssh_known_hosts.as_deref(),
        repin: RepinHint {
            project_id,
            mirror_id: owner_id,
            url: &upstream.url,
        },
    };
    GitRemote::prepare(spec, app.network_policy, &app.git).await
}
