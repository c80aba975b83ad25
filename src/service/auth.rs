//! Authentication by personal access token: a token's SHA-256 hash is looked up, and the user
//! it belongs to is reused for a few seconds (see [`crate::token_cache::TokenCache`]). And issuing a token
//! (`pushmirror token create`, an admin's API call, or one's own on the profile page): only its
//! hash is stored.

use crate::app::App;
use crate::model::entities::User;
use crate::model::errors::FieldErrors;
use crate::model::tokens::{valid_date, AccessToken, Scope};
use crate::secret::{hash_token, mint_token};
use crate::store::StoreError;
pub use crate::token_cache::Authenticated;

use super::error::{Refusal, Resource, ServiceError};

/// How often a token's `last_used_at` is written at most.
const LAST_USED_EVERY_MS: i64 = 10 * 60 * 1000;

/// Today's date (UTC) on `app`'s clock, `YYYY-MM-DD`.
pub fn today(app: &App) -> String {
    chrono::DateTime::from_timestamp_millis(app.clock.now_ms())
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Resolves a token to its user and record: `None` for an unknown, revoked or expired token,
/// [`ServiceError::Blocked`] when its user is blocked.
pub async fn authenticate(app: &App, token: &str) -> Result<Option<Authenticated>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    let hash = hash_token(token);
    if let Some(auth) = app.token_cache.get(&hash) {
        if auth.token.active_on(&today(app)) {
            return Ok(Some(auth));
        }
    }
    let Some((user, token)) = app.store.token_by_hash(&hash).await? else {
        return Ok(None);
    };
    if user.is_blocked() {
        return Err(ServiceError::Blocked);
    }
    if !token.active_on(&today(app)) {
        return Ok(None);
    }
    app.store
        .touch_token(token.id, app.clock.now_ms(), LAST_USED_EVERY_MS)
        .await?;
    let auth = Authenticated { user, token };
    app.token_cache.put(hash, auth.clone());
    Ok(Some(auth))
}

/// A new token's plain text and record; the text is shown once and never stored.
pub struct IssuedToken {
    pub secret: secrecy::SecretString,
    pub token: AccessToken,
}

/// Makes a personal access token for user `user_id` (admins only, as GitLab's
/// `POST /users/:id/personal_access_tokens`).
pub async fn create_token(
    app: &App,
    caller: &User,
    user_id: i64,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<&str>,
) -> Result<IssuedToken, ServiceError> {
    if !caller.is_admin {
        return Err(ServiceError::Forbidden);
    }
    app.store
        .user_by_id(user_id)
        .await?
        .ok_or(ServiceError::NotFound(Resource::User))?;
    mint_for(app, user_id, name, scopes, expires_at).await
}

/// Makes a personal access token for `caller` themselves (the profile page's "Add new
/// token"), with the rules of [`create_token`].
pub async fn create_own_token(
    app: &App,
    caller: &User,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<&str>,
) -> Result<IssuedToken, ServiceError> {
    if caller.is_blocked() {
        return Err(ServiceError::Blocked);
    }
    mint_for(app, caller.id, name, scopes, expires_at).await
}

/// Checks a new token's name, scopes and expiry (today or later), then mints and stores it.
async fn mint_for(
    app: &App,
    user_id: i64,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<&str>,
) -> Result<IssuedToken, ServiceError> {
    let mut errors = FieldErrors::default();
    if name.trim().is_empty() {
        errors.add("name", "can't be blank");
    }
    if scopes.is_empty() {
        errors.add("scopes", "can't be blank");
    }
    if expires_at.is_some_and(|d| !valid_date(d) || d < today(app).as_str()) {
        errors.add("expires_at", "must be a date in the future (YYYY-MM-DD)");
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let (secret, hash) = mint_token();
    let token = app
        .store
        .create_token(
            user_id,
            &hash,
            name.trim(),
            scopes,
            expires_at,
            app.clock.now_ms(),
        )
        .await?;
    Ok(IssuedToken { secret, token })
}

/// The tokens `caller` may see: their own, or (admins) anyone's, optionally one user's.
pub async fn list_tokens(
    app: &App,
    caller: &User,
    user_id: Option<i64>,
) -> Result<Vec<AccessToken>, ServiceError> {
    let of = if caller.is_admin {
        user_id
    } else {
        Some(caller.id)
    };
    let mut tokens = app.store.tokens(of).await?;
    if !caller.is_admin {
        tokens.retain(|t| t.user_id == caller.id);
    }
    Ok(tokens)
}

/// One token `caller` may see.
pub async fn find_token(app: &App, caller: &User, id: i64) -> Result<AccessToken, ServiceError> {
    app.store
        .token_by_id(id)
        .await?
        .filter(|t| caller.is_admin || t.user_id == caller.id)
        .ok_or(ServiceError::NotFound(Resource::PersonalAccessToken))
}

/// Revokes token `id` (one's own, or anyone's for admins); it stops working at once.
pub async fn revoke_token(app: &App, caller: &User, id: i64) -> Result<(), ServiceError> {
    let token = find_token(app, caller, id).await?;
    if !app.store.revoke_token(token.id).await? {
        return Err(ServiceError::Refused(Refusal::TokenRevoked));
    }
    app.token_cache.evict(token.id);
    Ok(())
}

/// Replaces token `id` by a new one with the same name and scopes, expiring on `expires_at`
/// (one week from today by default, as GitLab); the old one stops working at once.
pub async fn rotate_token(
    app: &App,
    caller: &User,
    id: i64,
    expires_at: Option<&str>,
) -> Result<IssuedToken, ServiceError> {
    let token = find_token(app, caller, id).await?;
    if token.revoked {
        return Err(ServiceError::Refused(Refusal::TokenRevoked));
    }
    let default = chrono::DateTime::from_timestamp_millis(app.clock.now_ms() + 7 * 86_400_000)
        .map(|t| t.format("%Y-%m-%d").to_string());
    let expires_at = expires_at.map(str::to_owned).or(default);
    if expires_at
        .as_deref()
        .is_some_and(|d| !valid_date(d) || d < today(app).as_str())
    {
        return Err(ServiceError::field(
            "expires_at",
            "must be a date in the future (YYYY-MM-DD)",
        ));
    }
    let (secret, hash) = mint_token();
    let new = app
        .store
        .rotate_token(token.id, &hash, expires_at.as_deref(), app.clock.now_ms())
        .await?
        .ok_or_else(|| ServiceError::Refused(Refusal::TokenRevoked))?;
    app.token_cache.evict(token.id);
    Ok(IssuedToken { secret, token: new })
}

/// Issues a new personal access token named `name` for `username`, creating the user (an admin
/// if `admin`; an existing user is promoted, never demoted) when needed. The token is returned
/// once; the store keeps only its hash. Idempotent up to the new token: a retry after a failure
/// reuses the user.
pub async fn issue_token(
    app: &App,
    username: &str,
    admin: bool,
    name: &str,
) -> Result<secrecy::SecretString, StoreError> {
    let now = app.clock.now_ms();
    let user = app.store.ensure_user(username, admin, now).await?;
    let (token, hash) = mint_token();
    app.store.insert_token(user.id, &hash, name, now).await?;
    Ok(token)
}
