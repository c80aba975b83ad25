//! This node's cache of recently authenticated personal access tokens: a token's user is reused
//! for a few seconds instead of being read on every API call (`service::auth` fills and evicts
//! it). A leaf: the composition root holds one, and nothing here reaches the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::entities::User;
use crate::model::tokens::AccessToken;

/// How long a token's user is reused without asking the database. Every API call authenticates,
/// and this lookup was a third of a mirror listing's queries; in exchange a change to the user
/// (an admin promotion, a token deleted in the database) takes effect within this time.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// Most tokens remembered; past this the cache starts over (a bound, not a tuning knob).
const TOKEN_CACHE_MAX: usize = 10_000;

/// An authenticated caller: the user and the token they came with.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub token: AccessToken,
}

/// Recently seen token hashes and their users. Unknown, revoked and expired tokens are never
/// cached, so a token created a moment ago works at once; revoking a token through this process
/// evicts it at once (another node's cache may keep it for up to [`TOKEN_CACHE_TTL`]).
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, (Authenticated, Instant)>>);

impl TokenCache {
    pub(crate) fn get(&self, hash: &str) -> Option<Authenticated> {
        let map = self.0.lock().expect("token cache is never poisoned");
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(a, _)| a.clone())
    }

    pub(crate) fn put(&self, hash: String, auth: Authenticated) {
        let mut map = self.0.lock().expect("token cache is never poisoned");
        if map.len() >= TOKEN_CACHE_MAX {
            map.clear();
        }
        map.insert(hash, (auth, Instant::now()));
    }

    /// Forgets token `id` (revoked or rotated).
    pub(crate) fn evict(&self, id: i64) {
        let mut map = self.0.lock().expect("token cache is never poisoned");
        map.retain(|_, (a, _)| a.token.id != id);
    }

    /// Forgets every token of user `user_id` (blocked, or changed by an administrator).
    pub(crate) fn evict_user(&self, user_id: i64) {
        let mut map = self.0.lock().expect("token cache is never poisoned");
        map.retain(|_, (a, _)| a.user.id != user_id);
    }
}
