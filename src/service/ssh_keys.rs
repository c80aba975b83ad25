//! SSH keys as people manage them, with GitLab's rules: a user's own keys (added, listed,
//! deleted by the user; by administrators for anyone), administrators' look-ups by id and by
//! fingerprint, and deploy keys per project (Maintainers: add, enable one they can reach
//! elsewhere, change its title or `can_push`, disable, which deletes the key when no project
//! uses it any more), and the instance's list for administrators. Every key is parsed and held
//! to the strength rules of `model::ssh_keys`; a fingerprint is unique across users' keys and
//! deploy keys, and a duplicate is GitLab's 400 field error, not a conflict.

use crate::app::App;
use crate::model::access::{AccessLevel, Caller};
use crate::model::entities::{Millis, Project, User};
use crate::model::errors::FieldErrors;
use crate::model::ssh_keys::{DeployKeyLink, KeyKind, PublicKey, SshKey, UsageType, MAX_TITLE};
use crate::store::{is_key_taken, NewSshKey, PageRequest, ProjectFilter, UserFilter, Viewer};

use super::error::{Resource, ServiceError};

/// A key as it is asked to be added: the title and the key line, an expiry already read by
/// [`parse_expires_at`] and the usage (GitLab's default `auth_and_signing`).
#[derive(Debug, Clone, Default)]
pub struct KeyInput {
    pub title: String,
    pub key: String,
    pub expires_at: Option<Millis>,
    pub usage_type: UsageType,
}

/// Reads an `expires_at` as GitLab accepts it: an ISO date (`2026-12-31`, the start of that day,
/// UTC) or an ISO 8601 date and time (`2026-12-31T10:00:00Z`, `…+02:00`; without an offset,
/// UTC). `None` for anything else.
pub fn parse_expires_at(value: &str) -> Option<Millis> {
    let value = value.trim();
    if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return day
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(t.timestamp_millis());
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| chrono::NaiveDateTime::parse_from_str(value, format).ok())
    .map(|t| t.and_utc().timestamp_millis())
}

/// The key of `input`, parsed, with every field problem GitLab reports (title blank or too
/// long, key invalid or weak, already expired).
fn checked(app: &App, input: &KeyInput) -> Result<(String, PublicKey), ServiceError> {
    let mut errors = FieldErrors::default();
    let title = input.title.trim();
    if title.is_empty() {
        errors.add("title", "can't be blank");
    } else if title.chars().count() > MAX_TITLE {
        errors.add(
            "title",
            format!("is too long (maximum is {MAX_TITLE} characters)"),
        );
    }
    let parsed = PublicKey::parse(&input.key);
    if let Err(problem) = &parsed {
        errors.add("key", problem.message());
    }
    // GitLab's `Key#expiration`, on create only.
    if input.expires_at.is_some_and(|at| at <= app.clock.now_ms()) {
        errors.add("key", "has expired");
    }
    match parsed {
        Ok(key) if errors.is_empty() => Ok((title.to_owned(), key)),
        _ => Err(errors.into()),
    }
}

/// GitLab's answer to a key that exists already, as a user key or a deploy key, anyone's.
fn taken() -> ServiceError {
    let mut errors = FieldErrors::one("fingerprint", "has already been taken");
    errors.add("key", "has already been taken");
    errors.into()
}

/// The store's row for `key` of `kind`, added by `user_id`.
fn new_key<'a>(
    app: &App,
    kind: KeyKind,
    user_id: Option<i64>,
    title: &'a str,
    key: &'a PublicKey,
    input: &KeyInput,
) -> NewSshKey<'a> {
    NewSshKey {
        kind,
        user_id,
        title,
        key: &key.line,
        fingerprint_md5: &key.fingerprint_md5,
        fingerprint_sha256: &key.fingerprint_sha256,
        usage_type: input.usage_type,
        created_at: app.clock.now_ms(),
        expires_at: input.expires_at,
    }
}

/// Adds a key to `user_id`'s own keys.
async fn add_user_key(app: &App, user_id: i64, input: &KeyInput) -> Result<SshKey, ServiceError> {
    let (title, key) = checked(app, input)?;
    let new = new_key(app, KeyKind::User, Some(user_id), &title, &key, input);
    match app.store.create_ssh_key(&new).await {
        Ok(k) => Ok(k),
        Err(e) if is_key_taken(&e) => Err(taken()),
        Err(e) => Err(e.into()),
    }
}

/// Refuses anyone but an administrator.
fn admin_only(caller: &User) -> Result<(), ServiceError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

/// `POST /user/keys`: adds a key to the caller's own.
pub async fn add_own_key(
    app: &App,
    caller: &User,
    input: &KeyInput,
) -> Result<SshKey, ServiceError> {
    if caller.is_blocked() {
        return Err(ServiceError::Blocked);
    }
    add_user_key(app, caller.id, input).await
}

/// `POST /users/:id/keys`: an administrator adds a key to a user's.
pub async fn add_key_for(
    app: &App,
    caller: &User,
    user_id: i64,
    input: &KeyInput,
) -> Result<SshKey, ServiceError> {
    admin_only(caller)?;
    let user = super::users::find(app, user_id).await?;
    add_user_key(app, user.id, input).await
}

/// The caller's own keys, oldest first.
pub async fn own_keys(app: &App, caller: &User) -> Result<Vec<SshKey>, ServiceError> {
    Ok(app.store.user_ssh_keys(caller.id).await?)
}

/// One of `user_id`'s own keys.
async fn key_of(app: &App, user_id: i64, key_id: i64) -> Result<SshKey, ServiceError> {
    app.store
        .ssh_key(key_id)
        .await?
        .filter(|k| k.kind == KeyKind::User && k.user_id == Some(user_id))
        .ok_or(ServiceError::NotFound(Resource::Key))
}

/// One of the caller's own keys.
pub async fn own_key(app: &App, caller: &User, key_id: i64) -> Result<SshKey, ServiceError> {
    key_of(app, caller.id, key_id).await
}

/// Deletes one of the caller's own keys; it lets no one in from now on.
pub async fn delete_own_key(app: &App, caller: &User, key_id: i64) -> Result<SshKey, ServiceError> {
    let key = key_of(app, caller.id, key_id).await?;
    if !app.store.delete_user_ssh_key(caller.id, key.id).await? {
        return Err(ServiceError::NotFound(Resource::Key));
    }
    Ok(key)
}

/// `DELETE /users/:id/keys/:key_id`: an administrator deletes a user's key.
pub async fn delete_key_for(
    app: &App,
    caller: &User,
    user_id: i64,
    key_id: i64,
) -> Result<(), ServiceError> {
    admin_only(caller)?;
    let user = super::users::find(app, user_id).await?;
    let key = key_of(app, user.id, key_id).await?;
    if !app.store.delete_user_ssh_key(user.id, key.id).await? {
        return Err(ServiceError::NotFound(Resource::Key));
    }
    Ok(())
}

/// A user by id or by username (case-insensitive), as `/users/:id_or_username/keys` names one.
pub async fn find_user(app: &App, id_or_username: &str) -> Result<User, ServiceError> {
    if let Ok(id) = id_or_username.parse::<i64>() {
        return super::users::find(app, id).await;
    }
    let filter = UserFilter {
        username: Some(id_or_username.to_owned()),
        ..UserFilter::default()
    };
    app.store
        .users(&filter)
        .await?
        .into_iter()
        .next()
        .ok_or(ServiceError::NotFound(Resource::User))
}

/// `GET /users/:id_or_username/keys`: anyone's public keys (GitLab needs no sign-in for this).
pub async fn user_keys(app: &App, id_or_username: &str) -> Result<Vec<SshKey>, ServiceError> {
    let user = find_user(app, id_or_username).await?;
    Ok(app.store.user_ssh_keys(user.id).await?)
}

/// `GET /users/:id/keys/:key_id`: one of a user's keys.
pub async fn user_key(
    app: &App,
    id_or_username: &str,
    key_id: i64,
) -> Result<SshKey, ServiceError> {
    let user = find_user(app, id_or_username).await?;
    key_of(app, user.id, key_id).await
}

/// A key with its user (none for a deploy key whose adder is gone).
async fn with_user(app: &App, key: SshKey) -> Result<(SshKey, Option<User>), ServiceError> {
    let user = match key.user_id {
        Some(id) => app.store.user_by_id(id).await?,
        None => None,
    };
    Ok((key, user))
}

/// `GET /keys/:id` (administrators): any key, of either kind, with its user.
pub async fn key_by_id(
    app: &App,
    caller: &User,
    id: i64,
) -> Result<(SshKey, Option<User>), ServiceError> {
    admin_only(caller)?;
    let key = app
        .store
        .ssh_key(id)
        .await?
        .ok_or(ServiceError::RecordNotFound)?;
    with_user(app, key).await
}

/// A fingerprint as people paste it into a query string: a `+` of a SHA-256 one sent
/// unencoded arrives as a space (fingerprints hold none), and an MD5 one may be upper-case or
/// `MD5:`-prefixed in either case.
fn normalised_fingerprint(fingerprint: &str) -> String {
    let fingerprint = fingerprint.trim().replace(' ', "+");
    if fingerprint.starts_with("SHA256:") {
        return fingerprint;
    }
    let md5 = fingerprint.to_ascii_lowercase();
    md5.strip_prefix("md5:").unwrap_or(&md5).to_owned()
}

/// `GET /keys?fingerprint=` (administrators): the key with this `SHA256:…` or MD5 fingerprint.
pub async fn key_by_fingerprint(
    app: &App,
    caller: &User,
    fingerprint: &str,
) -> Result<(SshKey, Option<User>), ServiceError> {
    admin_only(caller)?;
    let key = app
        .store
        .ssh_key_by_fingerprint(&normalised_fingerprint(fingerprint))
        .await?
        .ok_or(ServiceError::NotFound(Resource::Key))?;
    with_user(app, key).await
}

/// Refuses a caller who may not manage the project's deploy keys (GitLab's
/// `authorize_admin_project`: Maintainers, Owners, administrators).
fn maintainer(caller: Caller) -> Result<(), ServiceError> {
    if caller.can_admin_project() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

/// The deploy keys enabled in `project`, in the order they were enabled.
pub async fn project_deploy_keys(
    app: &App,
    project: &Project,
    caller: Caller,
) -> Result<Vec<DeployKeyLink>, ServiceError> {
    maintainer(caller)?;
    Ok(app.store.project_deploy_keys(project.id).await?)
}

/// Deploy key `key_id` as enabled in `project`.
pub async fn project_deploy_key(
    app: &App,
    project: &Project,
    caller: Caller,
    key_id: i64,
) -> Result<DeployKeyLink, ServiceError> {
    maintainer(caller)?;
    app.store
        .project_deploy_key(project.id, key_id)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Whether `caller` can reach deploy key `key` (to enable it in another project): an
/// administrator, or a Maintainer of a project it is enabled in (GitLab's
/// `accessible_deploy_keys`). Having added the key is not enough: one who no longer maintains
/// any of its projects has no say over it.
async fn reaches(app: &App, caller: Caller, key: &SshKey) -> Result<bool, ServiceError> {
    if key.kind != KeyKind::Deploy {
        return Ok(false);
    }
    if caller.is_admin {
        return Ok(true);
    }
    let Some(user_id) = caller.user_id else {
        return Ok(false);
    };
    let today = super::auth::today(app);
    for (project_id, _) in app.store.deploy_key_projects(key.id).await? {
        let level = app.store.access_level(project_id, user_id, &today).await?;
        if level.is_some_and(|l| l >= AccessLevel::Maintainer) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `POST /projects/:id/deploy_keys`: a key already enabled here is returned as it is; a deploy
/// key the caller reaches elsewhere is enabled here with `can_push`; any other existing key
/// (a user's, or a deploy key out of reach) is taken; a new key is added, by the caller.
pub async fn add_deploy_key(
    app: &App,
    project: &Project,
    caller: Caller,
    input: &KeyInput,
    can_push: bool,
) -> Result<DeployKeyLink, ServiceError> {
    maintainer(caller)?;
    let (title, key) = checked(app, input)?;
    if let Some(existing) = app
        .store
        .ssh_key_by_fingerprint(&key.fingerprint_sha256)
        .await?
    {
        if let Some(link) = app
            .store
            .project_deploy_key(project.id, existing.id)
            .await?
        {
            return Ok(link);
        }
        if !reaches(app, caller, &existing).await? {
            return Err(taken());
        }
        app.store
            .enable_deploy_key(project.id, existing.id, can_push, app.clock.now_ms())
            .await?;
        return app
            .store
            .project_deploy_key(project.id, existing.id)
            .await?
            .ok_or(ServiceError::RecordNotFound);
    }
    let new = new_key(app, KeyKind::Deploy, caller.user_id, &title, &key, input);
    match app
        .store
        .create_deploy_key(&new, project.id, can_push)
        .await
    {
        Ok(link) => Ok(link),
        Err(e) if is_key_taken(&e) => Err(taken()),
        Err(e) => Err(e.into()),
    }
}

/// The deploy keys `caller` (`user` in `project`) may enable in `project`: an administrator
/// any, a Maintainer those of the other projects they maintain (GitLab's "Privately
/// accessible deploy keys").
pub async fn deploy_keys_to_enable(
    app: &App,
    project: &Project,
    caller: Caller,
    user: &User,
) -> Result<Vec<SshKey>, ServiceError> {
    maintainer(caller)?;
    if caller.is_admin {
        return Ok(app.store.deploy_keys_to_enable(None, project.id).await?);
    }
    let today = super::auth::today(app);
    let viewer = Viewer {
        user_id: Some(user.id),
        is_admin: false,
        today: &today,
    };
    let filter = ProjectFilter {
        membership: true,
        ..ProjectFilter::default()
    };
    let all = PageRequest {
        page: 1,
        per_page: i64::MAX,
    };
    let maintained: Vec<i64> = app
        .store
        .projects_for(viewer, false, &filter, all)
        .await?
        .items
        .into_iter()
        .filter(|(_, level)| level.is_some_and(|l| l >= AccessLevel::Maintainer))
        .map(|(p, _)| p.id)
        .collect();
    Ok(app
        .store
        .deploy_keys_to_enable(Some(&maintained), project.id)
        .await?)
}

/// `POST /projects/:id/deploy_keys/:key_id/enable`: enables a deploy key the caller reaches
/// (read-only unless it was enabled here before); an unknown or unreachable key is not found.
pub async fn enable_deploy_key(
    app: &App,
    project: &Project,
    caller: Caller,
    key_id: i64,
) -> Result<SshKey, ServiceError> {
    maintainer(caller)?;
    let key = app
        .store
        .ssh_key(key_id)
        .await?
        .ok_or(ServiceError::NotFound(Resource::DeployKey))?;
    if !reaches(app, caller, &key).await? {
        return Err(ServiceError::NotFound(Resource::DeployKey));
    }
    app.store
        .enable_deploy_key(project.id, key.id, false, app.clock.now_ms())
        .await?;
    Ok(key)
}

/// `PUT /projects/:id/deploy_keys/:key_id`: changes `can_push` here, and the title when the
/// key may be renamed (it is enabled only here, or the caller is an administrator; GitLab
/// ignores the title otherwise, since other projects share the key).
pub async fn update_deploy_key(
    app: &App,
    project: &Project,
    caller: Caller,
    key_id: i64,
    title: Option<&str>,
    can_push: Option<bool>,
) -> Result<DeployKeyLink, ServiceError> {
    let link = project_deploy_key(app, project, caller, key_id).await?;
    let title = match title.map(str::trim) {
        Some("") => return Err(ServiceError::field("title", "can't be blank")),
        Some(t) if t.chars().count() > MAX_TITLE => {
            return Err(ServiceError::field(
                "title",
                format!("is too long (maximum is {MAX_TITLE} characters)"),
            ))
        }
        Some(t) => Some(t),
        None => None,
    };
    let shared = app.store.deploy_key_projects(key_id).await?.len() > 1;
    let title = title.filter(|_| caller.is_admin || !shared);
    app.store
        .update_deploy_key(project.id, link.key.id, title, can_push)
        .await?;
    project_deploy_key(app, project, caller, key_id).await
}

/// `DELETE /projects/:id/deploy_keys/:key_id`: disables the key here, deleting it when no
/// project uses it any more.
pub async fn disable_deploy_key(
    app: &App,
    project: &Project,
    caller: Caller,
    key_id: i64,
) -> Result<(), ServiceError> {
    maintainer(caller)?;
    if !app.store.disable_deploy_key(project.id, key_id).await? {
        return Err(ServiceError::NotFound(Resource::DeployKey));
    }
    Ok(())
}

/// A deploy key with the projects it is enabled in (project id, `can_push`).
pub type DeployKeyUse = (SshKey, Vec<(i64, bool)>);

/// `GET /deploy_keys` (administrators): every deploy key and where it is enabled.
pub async fn all_deploy_keys(app: &App, caller: &User) -> Result<Vec<DeployKeyUse>, ServiceError> {
    admin_only(caller)?;
    let mut all = Vec::new();
    for key in app.store.deploy_keys().await? {
        let projects = app.store.deploy_key_projects(key.id).await?;
        all.push((key, projects));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::{normalised_fingerprint, parse_expires_at};

    #[test]
    fn fingerprints_are_read_as_people_paste_them() {
        assert_eq!(normalised_fingerprint(" SHA256:a b/c "), "SHA256:a+b/c");
        assert_eq!(normalised_fingerprint("MD5:AA:bb"), "aa:bb");
        assert_eq!(normalised_fingerprint("md5:aa:bb"), "aa:bb");
        assert_eq!(normalised_fingerprint("AA:BB"), "aa:bb");
    }

    #[test]
    fn expiry_reads_dates_and_times_as_gitlab_does() {
        // 2026-12-31T00:00:00Z
        let day = 1_798_675_200_000;
        assert_eq!(parse_expires_at("2026-12-31"), Some(day));
        assert_eq!(parse_expires_at("2026-12-31T00:00:00Z"), Some(day));
        assert_eq!(parse_expires_at("2026-12-31T02:00:00+02:00"), Some(day));
        assert_eq!(parse_expires_at("2026-12-31T00:00:00.000"), Some(day));
        assert_eq!(parse_expires_at("2026-12-31T10:00"), Some(day + 36_000_000));
        for bad in ["", "tomorrow", "2026-13-01", "31/12/2026"] {
            assert_eq!(parse_expires_at(bad), None, "{bad}");
        }
    }
}
