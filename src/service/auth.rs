//! Authentication by personal access token: a token's SHA-256 hash is looked up, and the user
//! it belongs to is reused for a few seconds (see [`TokenCache`]). And issuing a token
//! (`pushmirror token create`): only its hash is stored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::app::App;
use crate::model::entities::User;
use crate::secret::{hash_token, mint_token};
use crate::store::StoreError;

/// How long a token's user is reused without asking the database. Every API call authenticates,
/// and this lookup was a third of a mirror listing's queries; in exchange a change to the user
/// (an admin promotion, a token deleted in the database) takes effect within this time.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// Most tokens remembered; past this the cache starts over (a bound, not a tuning knob).
const TOKEN_CACHE_MAX: usize = 10_000;

/// Recently seen token hashes and their users. Unknown tokens are never cached, so a token
/// created a moment ago works at once.
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, (User, Instant)>>);

impl TokenCache {
    fn get(&self, hash: &str) -> Option<User> {
        let map = self.0.lock().expect("token cache is never poisoned");
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(u, _)| u.clone())
    }

    fn put(&self, hash: String, user: User) {
        let mut map = self.0.lock().expect("token cache is never poisoned");
        if map.len() >= TOKEN_CACHE_MAX {
            map.clear();
        }
        map.insert(hash, (user, Instant::now()));
    }
}

/// Resolves a token to its user.
pub async fn user_for_token(app: &App, token: &str) -> Result<Option<User>, StoreError> {
    if token.is_empty() {
        return Ok(None);
    }
    let hash = hash_token(token);
    if let Some(user) = app.token_cache.get(&hash) {
        return Ok(Some(user));
    }
    let user = app.store.user_by_token_hash(&hash).await?;
    if let Some(u) = &user {
        app.token_cache.put(hash, u.clone());
    }
    Ok(user)
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
