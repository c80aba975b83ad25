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
//! A mirror also has Gitea's fields: a `remote_name` made once at creation (the
//! Gitea-compatible API's key for it), a periodic update interval and whether pushes update it
//! (`sync_on_commit`); both APIs and the settings page see and change the same rows.
//!
//! Who may administer a project's mirrors (Maintainers, Owners, admins) is decided here once
//! ([`admit_mirror_admin`]) for the API and the settings page. A request names its target as a
//! URL and credentials beside it (`model::url::MirrorTarget`, split at each face's edge); on the
//! settings page's edit, blank credentials keep the stored ones only while the URL stays the
//! same.

use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::credentials::{generate_ssh_key, MirrorCredentials};
use crate::model::access::Caller;
use crate::model::entities::{AuthMethod, MirrorSettings, Project, RemoteMirror, SshKeyType, User};
use crate::model::host_keys::known_hosts;
use crate::model::mirror_settings::{
    check_ssh_auth, MirrorErrors, MirrorField, MirrorRequest, NotInList, Switches,
};
use crate::model::status::UpdateStatus;
use crate::model::url::{
    parse_mirror_target, parse_mirror_url, ssh_login_user_error, Credentials, MirrorTarget,
    NetworkPolicy, ParsedMirrorUrl, Scheme, UrlError,
};
use crate::netcheck::{resolve_checked, ResolveError};

use super::error::{Limit, Refusal, ServiceError};

/// GitLab 18.9's limit of enabled push mirrors per project.
pub const MAX_ENABLED_MIRRORS: i64 = 10;

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
    let mut errors = MirrorErrors::default();
    let auth_method = auth_method(req.auth_method, AuthMethod::Password, &mut errors);
    let no_target = MirrorTarget::default();
    let target = req.target.as_ref().unwrap_or(&no_target);
    let parsed = check_url(app, target, &mut errors).await;
    if let Some(p) = parsed.as_ref().filter(|p| p.scheme == Scheme::Ssh) {
        let requested = req.auth_method.and_then(Result::ok);
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
            &new_remote_name(),
            MAX_ENABLED_MIRRORS,
            app.clock.now_ms(),
        )
        .await?
        .ok_or_else(limit_reached)
}

/// A new mirror's `remote_name`, as Forgejo makes them: `remote_mirror_` and ten random
/// lowercase letters and digits (36^10 names: a clash in one project, which the unique index
/// would refuse, is not a practical concern).
fn new_remote_name() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..10)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("remote_mirror_{suffix}")
}

/// One mirror of `project_id` by its `remote_name` (the Gitea-compatible API's key).
pub async fn find_mirror_by_remote_name(
    app: &App,
    project_id: i64,
    remote_name: &str,
) -> Result<RemoteMirror, ServiceError> {
    app.store
        .mirror_by_remote_name(project_id, remote_name)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Changes `mirror`'s settings as `req` asks.
pub async fn update_mirror(
    app: &App,
    project: &Project,
    mirror: &RemoteMirror,
    req: MirrorRequest,
) -> Result<RemoteMirror, ServiceError> {
    let mut errors = MirrorErrors::default();
    let auth_method = auth_method(req.auth_method, mirror.auth_method, &mut errors);
    let mut creds = MirrorCredentials::open(&app.cipher, mirror.credentials.as_deref())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let new_url = match &req.target {
        None => None,
        Some(target) if req.blank_credentials_keep_stored => {
            let target = keep_stored_credentials(target.clone(), mirror, &creds);
            check_url(app, &target, &mut errors).await
        }
        Some(target) => check_url(app, target, &mut errors).await,
    };
    let over_ssh = match &new_url {
        Some(p) => p.scheme == Scheme::Ssh,
        None => mirror.url.starts_with("ssh://"),
    };
    if over_ssh {
        // A password stored before this rule existed does not block other changes; a new URL
        // with one does.
        let has_password = new_url.as_ref().is_some_and(|p| p.password.is_some());
        let requested = req.auth_method.and_then(Result::ok);
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
            lfs_sync: switches.lfs_sync,
            mirror_branch_regex: switches.mirror_branch_regex,
            auth_method,
            ssh_public_key,
            ssh_known_hosts: host_keys,
            sync_interval_secs: switches.sync_interval_secs,
            sync_on_commit: switches.sync_on_commit,
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
pub(super) async fn new_key_pair(
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
        return Err(ServiceError::Refused(Refusal::MirrorDisabled));
    }
    if mirror.update_status != UpdateStatus::Started {
        super::mirror_jobs::request_update(app, mirror.id).await?;
    }
    Ok(())
}

/// Asks for an update of every enabled mirror of `project` now (Gitea's `push_mirrors-sync`);
/// disabled mirrors are passed over, and a mirror updating now covers the request. Refused
/// for an archived project.
pub async fn sync_all_mirrors(app: &App, project: &Project) -> Result<(), ServiceError> {
    super::projects::writable(project)?;
    let mut page = crate::store::PageRequest {
        page: 1,
        per_page: 100,
    };
    loop {
        let paged = app.store.mirror_rows(project.id, page).await?;
        for mirror in &paged.items {
            if mirror.enabled && mirror.update_status != UpdateStatus::Started {
                super::mirror_jobs::request_update(app, mirror.id).await?;
            }
        }
        if page.offset() + page.per_page >= paged.total {
            return Ok(());
        }
        page.page += 1;
    }
}

/// Deletes `mirror` and its sealed credentials.
pub async fn delete_mirror(app: &App, mirror: &RemoteMirror) -> Result<(), ServiceError> {
    app.store
        .delete_mirror(mirror.project_id, mirror.id)
        .await?;
    Ok(())
}

/// The requested `auth_method`, or `fallback` when absent, or `fallback` with GitLab's error
/// recorded when not on the list.
fn auth_method(
    requested: Option<Result<AuthMethod, NotInList>>,
    fallback: AuthMethod,
    errors: &mut MirrorErrors,
) -> AuthMethod {
    match requested {
        None => fallback,
        Some(Ok(method)) => method,
        Some(Err(NotInList)) => {
            errors.push(MirrorField::AuthMethod, "is not included in the list");
            fallback
        }
    }
}

/// `target` with the stored user name and password filling its blank parts, if it names the
/// mirror's URL still: a mirror moved to another URL keeps no credential it was not given again,
/// so a stored password never follows the mirror to a host it was not typed for.
fn keep_stored_credentials(
    target: MirrorTarget,
    mirror: &RemoteMirror,
    stored: &MirrorCredentials,
) -> MirrorTarget {
    let policy = NetworkPolicy {
        allow_local_network: true,
    };
    let same_url = parse_mirror_url(&target.url, policy).is_ok_and(|p| p.url == mirror.url);
    if !same_url {
        return target;
    }
    target.or_stored(&Credentials {
        user: stored.user.clone(),
        password: stored.password.clone(),
    })
}

/// Whether a requested credential equals the stored one (both absent counts as equal).
fn same_secret(requested: Option<&str>, stored: Option<&SecretString>) -> bool {
    requested == stored.map(|s| s.expose_secret())
}

/// Checks a mirror target fully: blank, syntax and policy, then every address its host resolves to,
/// recording GitLab's `url` error. An unresolvable host is accepted, as GitLab does; the engine
/// checks again, DNS-pinned, before each push.
pub(super) async fn check_url(
    app: &App,
    target: &MirrorTarget,
    errors: &mut MirrorErrors,
) -> Option<ParsedMirrorUrl> {
    if target.url.trim().is_empty() {
        errors.push(MirrorField::Url, "can't be blank");
        return None;
    }
    let checked = match parse_mirror_target(target, app.network_policy) {
        Err(e) => Err(e.to_string()),
        Ok(parsed) if parsed.scheme == Scheme::Ssh => {
            match parsed.user.as_deref().and_then(ssh_login_user_error) {
                Some(msg) => Err(msg.to_owned()),
                None => resolve(app, parsed).await,
            }
        }
        Ok(parsed) => resolve(app, parsed).await,
    };
    checked
        .map_err(|msg| errors.push(MirrorField::Url, msg))
        .ok()
}

/// The parsed URL once every address of its host passed the policy (or it did not resolve).
async fn resolve(app: &App, parsed: ParsedMirrorUrl) -> Result<ParsedMirrorUrl, String> {
    match resolve_checked(&parsed, app.network_policy).await {
        Ok(_) | Err(ResolveError::Unresolvable) => Ok(parsed),
        Err(ResolveError::Blocked(reason)) => Err(UrlError::Blocked(reason).to_string()),
    }
}

/// `host_keys` as `known_hosts` text for `url`; GitLab refuses bad keys with a plain 400.
pub(super) fn host_keys_for(
    keys: &[String],
    url: Option<&ParsedMirrorUrl>,
) -> Result<Option<String>, ServiceError> {
    known_hosts(keys, url.map(|u| (&u.host, u.port)))
        .map_err(|e| ServiceError::Refused(Refusal::BadHostKeys(e)))
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
        lfs_sync: switches.lfs_sync,
        mirror_branch_regex: switches.mirror_branch_regex,
        auth_method,
        ssh_public_key,
        ssh_known_hosts,
        sync_interval_secs: switches.sync_interval_secs,
        sync_on_commit: switches.sync_on_commit,
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
