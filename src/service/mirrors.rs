//! A project's push mirrors: create, update, delete and sync, with GitLab's rules. URLs are
//! checked as mirrors use them (syntax, scheme, then every address the host resolves to), the
//! switches normalised (`model::mirror_settings`), host keys converted (`model::host_keys`), an
//! SSH key pair generated when a mirror first authenticates by key (Ed25519, or RSA 4096 with
//! `ssh_key_type`; replaced by [`rotate_key`] or by asking for the other type), passwords over
//! `ssh://` refused, credentials sealed before they reach the store, and the enabled-mirror
//! limit kept by the store's writing statement.
//!
//! A mirror's status starts over (`none`, no timestamps, the recorded remote state forgotten)
//! only when its URL or credentials really change: a client that repeats the unchanged `url` on
//! every update (gitlabform does) keeps its mirror's history.
//!
//! Who may administer a project's mirrors (Maintainers, Owners, admins) is decided here once
//! ([`admit_mirror_admin`]) for the API and the settings page. The page's "Username" and
//! "Password" fields are put into the URL by [`create_mirror_typed`] and
//! [`update_mirror_typed`]; on an edit, blank fields keep the stored credentials only while the
//! URL stays the same.

use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::credentials::{generate_ssh_key, MirrorCredentials};
use crate::model::access::Caller;
use crate::model::entities::{AuthMethod, MirrorSettings, Project, RemoteMirror, SshKeyType, User};
use crate::model::errors::FieldErrors;
use crate::model::host_keys::known_hosts;
use crate::model::mirror_settings::{check_ssh_auth, MirrorRequest, Switches};
use crate::model::status::UpdateStatus;
use crate::model::url::{
    parse_mirror_url, ssh_login_user_error, url_with_credentials, NetworkPolicy, ParsedMirrorUrl,
    Scheme, UrlError,
};
use crate::netcheck::{resolve_checked, ResolveError};

use super::error::{Limit, ServiceError};

/// GitLab 18.9's limit of enabled push mirrors per project.
pub const MAX_ENABLED_MIRRORS: i64 = 10;

/// GitLab's refusal to sync a disabled mirror.
const SYNC_REFUSED: &str =
    "Cannot proceed with the push mirroring. Please verify your mirror configuration.";

/// Mirror settings are for a project's Maintainers and Owners (and admins): anyone else who
/// sees the project is `Forbidden` (the API answers 401, the web interface "not found").
pub fn admit_mirror_admin((project, caller): (Project, Caller)) -> Result<Project, ServiceError> {
    if !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    Ok(project)
}

/// The project `id` (numeric or full path) whose mirrors `user` may administer.
pub async fn mirror_project(
    app: &App,
    id: &str,
    user: Option<&User>,
) -> Result<Project, ServiceError> {
    admit_mirror_admin(super::projects::find_project(app, id, user).await?)
}

/// Credentials typed beside a mirror URL (the settings page's "Username" and "Password"),
/// rather than inside it. Blank fields count as absent.
// No `Debug`: it holds a password.
#[derive(Default)]
pub struct TypedCredentials {
    pub user: Option<String>,
    pub password: Option<SecretString>,
}

impl TypedCredentials {
    fn user(&self) -> Option<&str> {
        self.user.as_deref().filter(|u| !u.is_empty())
    }

    fn password(&self) -> Option<&str> {
        self.password
            .as_ref()
            .map(|p| p.expose_secret())
            .filter(|p| !p.is_empty())
    }
}

/// `raw` with `typed` put into it: a typed user or password replaces the one written in the URL
/// (which is otherwise kept, as the API keeps it). A URL that does not parse is returned as typed,
/// so that the use case answers GitLab's error for it.
fn with_typed_credentials(
    raw: &str,
    typed: &TypedCredentials,
    kept: Option<&MirrorCredentials>,
) -> SecretString {
    if typed.user().is_none() && typed.password().is_none() && kept.is_none() {
        return SecretString::from(raw.to_owned());
    }
    let split = NetworkPolicy {
        allow_local_network: true,
    };
    let Ok(parsed) = parse_mirror_url(raw, split) else {
        return SecretString::from(raw.to_owned());
    };
    let kept_user = kept
        .and_then(|c| c.user.as_ref())
        .map(|s| s.expose_secret());
    let kept_password = kept
        .and_then(|c| c.password.as_ref())
        .map(|s| s.expose_secret());
    let user = typed.user().or(parsed.user.as_deref()).or(kept_user);
    let password = typed
        .password()
        .or(parsed.password.as_ref().map(|s| s.expose_secret()))
        .or(kept_password);
    url_with_credentials(&parsed.url, user, password)
}

/// Creates a mirror from the settings page's form: `req.url` as typed, `typed` its "Username"
/// and "Password" fields.
pub async fn create_mirror_typed(
    app: &App,
    project: &Project,
    mut req: MirrorRequest,
    typed: &TypedCredentials,
) -> Result<RemoteMirror, ServiceError> {
    if let Some(raw) = req.url.take() {
        req.url = Some(
            with_typed_credentials(&raw, typed, None)
                .expose_secret()
                .to_owned(),
        );
    }
    create_mirror(app, project, req).await
}

/// Changes a mirror from the settings page's edit form. A blank "Username" or "Password" keeps
/// the stored one while the URL (without credentials) stays the same; a mirror moved to another
/// URL keeps no credential it was not given again, so a stored password never follows the
/// mirror to a host it was not typed for.
pub async fn update_mirror_typed(
    app: &App,
    project: &Project,
    mirror: &RemoteMirror,
    mut req: MirrorRequest,
    typed: &TypedCredentials,
) -> Result<RemoteMirror, ServiceError> {
    if let Some(raw) = req.url.take() {
        let policy = NetworkPolicy {
            allow_local_network: true,
        };
        let same_url = parse_mirror_url(&raw, policy).is_ok_and(|p| p.url == mirror.url);
        let stored = if same_url {
            Some(
                MirrorCredentials::open(&app.cipher, mirror.credentials.as_deref())
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
            )
        } else {
            None
        };
        req.url = Some(
            with_typed_credentials(&raw, typed, stored.as_ref())
                .expose_secret()
                .to_owned(),
        );
    }
    update_mirror(app, project, mirror, req).await
}

/// One mirror of `project_id`; a mirror of another project is not found.
pub async fn find_mirror(
    app: &App,
    project_id: i64,
    id: i64,
) -> Result<RemoteMirror, ServiceError> {
    app.store
        .mirror(project_id, id)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// The mirror's public SSH key, when it authenticates by key over `ssh://`.
pub fn public_key(mirror: &RemoteMirror) -> Option<&str> {
    mirror.ssh_public_key.as_deref().filter(|_| {
        mirror.url.starts_with("ssh://") && mirror.auth_method == AuthMethod::SshPublicKey
    })
}

/// Creates a mirror of `project` (status `none`).
pub async fn create_mirror(
    app: &App,
    project: &Project,
    req: MirrorRequest,
) -> Result<RemoteMirror, ServiceError> {
    let mut errors = FieldErrors::default();
    let auth_method = match req.auth_method.as_deref() {
        None => AuthMethod::Password,
        Some(s) => auth_method(s, AuthMethod::Password, &mut errors),
    };
    let parsed = check_url(app, req.url.as_deref().unwrap_or_default(), &mut errors).await;
    if let Some(p) = parsed.as_ref().filter(|p| p.scheme == Scheme::Ssh) {
        let requested = req.auth_method.as_deref().and_then(AuthMethod::parse);
        check_ssh_auth(p.password.is_some(), requested, &mut errors);
    }
    let host_keys = match &req.host_keys {
        Some(keys) => host_keys_for(keys, parsed.as_ref())?,
        None => None,
    };
    let switches = Switches::resolve(None, &req, &mut errors);
    let Some(parsed) = parsed.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let mut credentials = MirrorCredentials {
        user: parsed.user.clone().map(SecretString::from),
        password: parsed.password.clone(),
        ssh_private_key: None,
    };
    let mut ssh_public_key = None;
    if auth_method == AuthMethod::SshPublicKey {
        let (private, public) = new_key_pair(app, req.ssh_key_type.unwrap_or_default()).await?;
        credentials.ssh_private_key = Some(private);
        ssh_public_key = Some(public);
    }
    let settings = settings(
        app,
        &parsed,
        &credentials,
        switches,
        auth_method,
        ssh_public_key,
        host_keys,
    );
    app.store
        .create_mirror(
            project.id,
            &settings,
            MAX_ENABLED_MIRRORS,
            app.clock.now_ms(),
        )
        .await?
        .ok_or_else(limit_reached)
}

/// Changes `mirror`'s settings as `req` asks.
pub async fn update_mirror(
    app: &App,
    project: &Project,
    mirror: &RemoteMirror,
    req: MirrorRequest,
) -> Result<RemoteMirror, ServiceError> {
    let mut errors = FieldErrors::default();
    let auth_method = match req.auth_method.as_deref() {
        None => mirror.auth_method,
        Some(s) => auth_method(s, mirror.auth_method, &mut errors),
    };
    let new_url = match &req.url {
        None => None,
        Some(raw) => check_url(app, raw, &mut errors).await,
    };
    let over_ssh = match &new_url {
        Some(p) => p.scheme == Scheme::Ssh,
        None => mirror.url.starts_with("ssh://"),
    };
    if over_ssh {
        // A password stored before this rule existed does not block other changes; a new URL
        // with one does.
        let has_password = new_url.as_ref().is_some_and(|p| p.password.is_some());
        let requested = req.auth_method.as_deref().and_then(AuthMethod::parse);
        check_ssh_auth(has_password, requested, &mut errors);
    }
    // Host keys are bound to the URL they will be used with: the new one, else the stored one.
    let host_keys = match &req.host_keys {
        None => mirror.ssh_known_hosts.clone(),
        Some(keys) => {
            let stored = || {
                let policy = NetworkPolicy {
                    allow_local_network: true,
                };
                parse_mirror_url(&mirror.url, policy).ok()
            };
            let for_url = new_url.clone().or_else(stored);
            host_keys_for(keys, for_url.as_ref())?
        }
    };
    let switches = Switches::resolve(Some(mirror), &req, &mut errors);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut creds = MirrorCredentials::open(&app.cipher, mirror.credentials.as_deref())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut changed = false;
    if let Some(p) = &new_url {
        changed = p.url != mirror.url
            || !same_secret(p.user.as_deref(), creds.user.as_ref())
            || !same_secret(
                p.password.as_ref().map(|s| s.expose_secret()),
                creds.password.as_ref(),
            );
        creds.user = p.user.clone().map(SecretString::from);
        creds.password = p.password.clone();
    }
    let mut ssh_public_key = mirror.ssh_public_key.clone();
    let current_type = ssh_public_key
        .as_deref()
        .and_then(SshKeyType::of_public_key);
    let other_type = req.ssh_key_type.is_some_and(|t| Some(t) != current_type);
    if auth_method == AuthMethod::SshPublicKey && (creds.ssh_private_key.is_none() || other_type) {
        let key_type = req.ssh_key_type.or(current_type).unwrap_or_default();
        let (private, public) = new_key_pair(app, key_type).await?;
        creds.ssh_private_key = Some(private);
        ssh_public_key = Some(public);
    }
    let settings = match &new_url {
        Some(p) => settings(
            app,
            p,
            &creds,
            switches,
            auth_method,
            ssh_public_key,
            host_keys,
        ),
        None => MirrorSettings {
            credentials: creds.seal(&app.cipher),
            enabled: switches.enabled,
            only_protected_branches: switches.only_protected_branches,
            keep_divergent_refs: switches.keep_divergent_refs,
            mirror_branch_regex: switches.mirror_branch_regex,
            auth_method,
            ssh_public_key,
            ssh_known_hosts: host_keys,
            ..mirror.settings()
        },
    };
    app.store
        .update_mirror(
            mirror.id,
            project.id,
            &settings,
            changed,
            MAX_ENABLED_MIRRORS,
            app.clock.now_ms(),
        )
        .await?
        .ok_or_else(limit_reached)
}

/// Replaces the key pair of a mirror that authenticates by key over `ssh://` with a new one of
/// the same type and returns its public key; `None` (nothing changed) for any other mirror. The
/// old private key is gone once the sealed credentials are overwritten: nothing else holds it
/// (an update already running keeps its copy in its agent until it ends). Nothing else about
/// the mirror changes, its status included: the new key works as soon as the remote has it.
pub async fn rotate_key(
    app: &App,
    project: &Project,
    mirror: &RemoteMirror,
) -> Result<Option<String>, ServiceError> {
    let Some(current) = public_key(mirror) else {
        return Ok(None);
    };
    let key_type = SshKeyType::of_public_key(current).unwrap_or_default();
    let mut creds = MirrorCredentials::open(&app.cipher, mirror.credentials.as_deref())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let (private, public) = new_key_pair(app, key_type).await?;
    creds.ssh_private_key = Some(private);
    let settings = MirrorSettings {
        credentials: creds.seal(&app.cipher),
        ssh_public_key: Some(public.clone()),
        ..mirror.settings()
    };
    app.store
        .update_mirror(
            mirror.id,
            project.id,
            &settings,
            false,
            MAX_ENABLED_MIRRORS,
            app.clock.now_ms(),
        )
        .await?
        .ok_or_else(limit_reached)?;
    Ok(Some(public))
}

/// A new key pair with GitLab's comment, generated off the async threads (RSA takes seconds).
async fn new_key_pair(
    app: &App,
    key_type: SshKeyType,
) -> Result<(SecretString, String), ServiceError> {
    let comment = key_comment(app);
    tokio::task::spawn_blocking(move || generate_ssh_key(&comment, key_type))
        .await
        .map_err(|e| ServiceError::Internal(format!("key generation failed: {e}")))
}

/// Asks for an update of `mirror` now. A disabled mirror (or one of an archived project) is
/// refused; a sync while an update runs
/// is a silent no-op (the running one covers it), as in GitLab.
pub async fn sync_mirror(
    app: &App,
    project: &Project,
    mirror: &RemoteMirror,
) -> Result<(), ServiceError> {
    super::projects::writable(project)?;
    if !mirror.enabled {
        return Err(ServiceError::Refused(SYNC_REFUSED.into()));
    }
    if mirror.update_status != UpdateStatus::Started {
        super::mirror_jobs::request_update(app, mirror.id).await?;
    }
    Ok(())
}

/// Deletes `mirror` and its sealed credentials.
pub async fn delete_mirror(app: &App, mirror: &RemoteMirror) -> Result<(), ServiceError> {
    app.store
        .delete_mirror(mirror.project_id, mirror.id)
        .await?;
    Ok(())
}

/// An `auth_method` value, or `fallback` with GitLab's error recorded.
fn auth_method(raw: &str, fallback: AuthMethod, errors: &mut FieldErrors) -> AuthMethod {
    AuthMethod::parse(raw).unwrap_or_else(|| {
        errors.add("auth_method", "is not included in the list");
        fallback
    })
}

/// Whether a requested credential equals the stored one (both absent counts as equal).
fn same_secret(requested: Option<&str>, stored: Option<&SecretString>) -> bool {
    requested == stored.map(|s| s.expose_secret())
}

/// Checks a mirror URL fully: blank, syntax and policy, then every address its host resolves to,
/// recording GitLab's `url` error. An unresolvable host is accepted, as GitLab does; the engine
/// checks again, DNS-pinned, before each push.
async fn check_url(app: &App, raw: &str, errors: &mut FieldErrors) -> Option<ParsedMirrorUrl> {
    if raw.trim().is_empty() {
        errors.add("url", "can't be blank");
        return None;
    }
    let checked = match parse_mirror_url(raw, app.network_policy) {
        Err(e) => Err(e.to_string()),
        Ok(parsed) if parsed.scheme == Scheme::Ssh => {
            match parsed.user.as_deref().and_then(ssh_login_user_error) {
                Some(msg) => Err(msg.to_owned()),
                None => resolve(app, parsed).await,
            }
        }
        Ok(parsed) => resolve(app, parsed).await,
    };
    checked.map_err(|msg| errors.add("url", msg)).ok()
}

/// The parsed URL once every address of its host passed the policy (or it did not resolve).
async fn resolve(app: &App, parsed: ParsedMirrorUrl) -> Result<ParsedMirrorUrl, String> {
    match resolve_checked(&parsed, app.network_policy).await {
        Ok(_) | Err(ResolveError::Unresolvable) => Ok(parsed),
        Err(ResolveError::Blocked(reason)) => Err(UrlError::Blocked(reason).to_string()),
    }
}

/// `host_keys` as `known_hosts` text for `url`; GitLab refuses bad keys with a plain 400.
fn host_keys_for(
    keys: &[String],
    url: Option<&ParsedMirrorUrl>,
) -> Result<Option<String>, ServiceError> {
    known_hosts(keys, url.map(|u| (&u.host, u.port)))
        .map_err(|e| ServiceError::Refused(e.to_string()))
}

/// The settings to save for a mirror at `url` with `creds`.
fn settings(
    app: &App,
    url: &ParsedMirrorUrl,
    creds: &MirrorCredentials,
    switches: Switches,
    auth_method: AuthMethod,
    ssh_public_key: Option<String>,
    ssh_known_hosts: Option<String>,
) -> MirrorSettings {
    MirrorSettings {
        url: url.url.clone(),
        has_user: url.user.is_some(),
        user_is_git: url.user.as_deref() == Some("git"),
        has_password: url.password.is_some(),
        credentials: creds.seal(&app.cipher),
        enabled: switches.enabled,
        only_protected_branches: switches.only_protected_branches,
        keep_divergent_refs: switches.keep_divergent_refs,
        mirror_branch_regex: switches.mirror_branch_regex,
        auth_method,
        ssh_public_key,
        ssh_known_hosts,
    }
}

/// Enabling one more mirror would pass the maximum.
fn limit_reached() -> ServiceError {
    ServiceError::LimitReached(Limit::EnabledMirrors(MAX_ENABLED_MIRRORS))
}

/// The SSH key comment GitLab uses: `git@<host>`.
fn key_comment(app: &App) -> String {
    let host = url::Url::parse(&app.external_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "pushmirror".into());
    format!("git@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(user: &str, password: &str) -> TypedCredentials {
        TypedCredentials {
            user: Some(user.to_owned()),
            password: Some(SecretString::from(password.to_owned())),
        }
    }

    fn url(raw: &str, t: &TypedCredentials, kept: Option<&MirrorCredentials>) -> String {
        with_typed_credentials(raw, t, kept)
            .expose_secret()
            .to_owned()
    }

    #[test]
    fn typed_credentials_go_into_the_url_percent_encoded() {
        let t = typed("bot", "p@ss:w/rd");
        assert_eq!(
            url("https://example.com/a.git", &t, None),
            "https://bot:p%40ss%3Aw%2Frd@example.com/a.git"
        );
        // A typed field replaces its part of the URL; the other part stays.
        assert_eq!(
            url(
                "https://old:secret@example.com/a.git",
                &typed("", "new"),
                None
            ),
            "https://old:new@example.com/a.git"
        );
    }

    #[test]
    fn blank_fields_keep_what_is_stored_and_bad_urls_stay_as_typed() {
        let none = TypedCredentials::default();
        assert_eq!(url("ftp://x/y", &typed("u", "p"), None), "ftp://x/y");
        assert_eq!(url(" https://e.com/a ", &none, None), " https://e.com/a ");
        let stored = MirrorCredentials {
            user: Some(SecretString::from("bot".to_owned())),
            password: Some(SecretString::from("kept".to_owned())),
            ssh_private_key: None,
        };
        assert_eq!(
            url("https://e.com/a.git", &typed("", ""), Some(&stored)),
            "https://bot:kept@e.com/a.git"
        );
        assert_eq!(
            url("https://e.com/a.git", &typed("", "fresh"), Some(&stored)),
            "https://bot:fresh@e.com/a.git"
        );
    }
}
