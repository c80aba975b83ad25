//! Users as an administrator manages them (GitLab's admin users API): list and look up, create
//! (with a personal namespace and, optionally, an Argon2id password), change (name, username,
//! e-mail, password, admin flag), block and unblock. Blocking, demoting or any other change takes
//! effect at once on this node: the user's cached tokens are forgotten.

use secrecy::SecretString;

use crate::app::App;
use crate::model::accounts::{check_changes, check_new, AccountChanges, UserState};
use crate::model::entities::User;
use crate::password;
use crate::store::{AccountUpdate, NewAccount, StoreError, UserFilter};

use super::error::{Refusal, Resource, ServiceError, Taken};

/// The users `caller` may list with `filter`: only administrators filter by state or list
/// administrators, as in GitLab.
pub async fn list(app: &App, caller: &User, filter: UserFilter) -> Result<Vec<User>, ServiceError> {
    if (filter.admins || filter.state == Some(UserState::Blocked)) && !caller.is_admin {
        return Err(ServiceError::Forbidden);
    }
    Ok(app.store.users(&filter).await?)
}

/// User `id`.
pub async fn find(app: &App, id: i64) -> Result<User, ServiceError> {
    app.store
        .user_by_id(id)
        .await?
        .ok_or(ServiceError::NotFound(Resource::User))
}

fn admin_only(caller: &User) -> Result<(), ServiceError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

fn hashed(password: Option<&str>) -> Result<Option<String>, ServiceError> {
    password
        .map(|p| password::hash(&SecretString::from(p.to_owned())).map_err(ServiceError::Internal))
        .transpose()
}

fn taken(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(field) if field == "email" => ServiceError::Conflict(Taken::Email),
        StoreError::Conflict(_) => ServiceError::Conflict(Taken::Username),
        other => other.into(),
    }
}

/// Creates a user (administrators only).
pub async fn create(app: &App, caller: &User, c: AccountChanges) -> Result<User, ServiceError> {
    admin_only(caller)?;
    create_account(app, c).await
}

/// Creates a user on the operator's word (`pushmirror user create`), with GitLab's field rules.
pub async fn create_account(app: &App, c: AccountChanges) -> Result<User, ServiceError> {
    check_new(&c)?;
    let account = NewAccount {
        username: c.username.unwrap_or_default().trim().to_owned(),
        name: c.name.unwrap_or_default().trim().to_owned(),
        email: c.email.unwrap_or_default().trim().to_owned(),
        admin: c.admin.unwrap_or(false),
        password_hash: hashed(c.password.as_deref())?,
    };
    app.store
        .create_user(&account, app.clock.now_ms())
        .await
        .map_err(taken)
}

/// Changes user `id` (administrators only). The last active administrator cannot take away
/// their own admin flag.
pub async fn update(
    app: &App,
    caller: &User,
    id: i64,
    c: AccountChanges,
) -> Result<User, ServiceError> {
    admin_only(caller)?;
    let user = find(app, id).await?;
    check_changes(&c)?;
    if c.admin == Some(false) && user.is_admin && !app.store.other_active_admin(id).await? {
        return Err(ServiceError::Refused(Refusal::LastAdmin));
    }
    let update = AccountUpdate {
        username: c.username.map(|u| u.trim().to_owned()),
        name: c.name.map(|n| n.trim().to_owned()),
        email: c.email.map(|e| e.trim().to_owned()),
        password_hash: hashed(c.password.as_deref())?,
        admin: c.admin,
        state: None,
    };
    let updated = app
        .store
        .update_user(id, &update)
        .await
        .map_err(taken)?
        .ok_or(ServiceError::NotFound(Resource::User))?;
    app.token_cache.evict_user(id);
    if update.password_hash.is_some() {
        app.store.delete_user_sessions(id).await?;
    }
    Ok(updated)
}

/// Sets the password of the user named `username` on the operator's word
/// (`pushmirror user set-password`), with GitLab's length rule; the user's web sessions end.
pub async fn set_password(app: &App, username: &str, password: &str) -> Result<User, ServiceError> {
    let user = app
        .store
        .users(&UserFilter {
            username: Some(username.to_owned()),
            ..UserFilter::default()
        })
        .await?
        .into_iter()
        .next()
        .ok_or(ServiceError::NotFound(Resource::User))?;
    let changes = AccountChanges {
        password: Some(password.to_owned()),
        ..AccountChanges::default()
    };
    check_changes(&changes)?;
    let update = AccountUpdate {
        password_hash: hashed(Some(password))?,
        ..AccountUpdate::default()
    };
    let updated = app
        .store
        .update_user(user.id, &update)
        .await?
        .ok_or(ServiceError::NotFound(Resource::User))?;
    app.store.delete_user_sessions(user.id).await?;
    Ok(updated)
}

/// Blocks (`blocked`) or unblocks user `id` (administrators only): a blocked user's tokens are
/// refused from the next request on. Administrators cannot block themselves, so an instance
/// never locks out the person fixing it. Idempotent.
pub async fn set_blocked(
    app: &App,
    caller: &User,
    id: i64,
    blocked: bool,
) -> Result<User, ServiceError> {
    admin_only(caller)?;
    if blocked && id == caller.id {
        return Err(ServiceError::Refused(Refusal::BlockSelf));
    }
    let state = if blocked {
        UserState::Blocked
    } else {
        UserState::Active
    };
    let update = AccountUpdate {
        state: Some(state),
        ..AccountUpdate::default()
    };
    let updated = app
        .store
        .update_user(id, &update)
        .await?
        .ok_or(ServiceError::NotFound(Resource::User))?;
    app.token_cache.evict_user(id);
    if blocked {
        app.store.delete_user_sessions(id).await?;
    }
    Ok(updated)
}
