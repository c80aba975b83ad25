//! Who is calling: the token from `PRIVATE-TOKEN`, `Authorization: Bearer`, or the
//! `private_token`/`access_token` query parameters, looked up by its hash. A token that is sent but
//! unknown is a 401 even where anonymous access would do, as in GitLab.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::model::entities::User;
use crate::secret::hash_token;

/// The caller, if any (anonymous callers may read public projects).
pub struct MaybeUser(pub Option<User>);

/// A caller that must be authenticated.
pub struct CurrentUser(pub User);

/// Extracts the token a request carries, if any.
pub fn request_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get("private-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.trim().to_owned());
    }
    if let Some(v) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim().to_owned());
        }
    }
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "private_token" || k == "access_token")
        .map(|(_, v)| v.into_owned())
}

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
pub async fn user_for_token(state: &AppState, token: &str) -> Result<Option<User>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    let hash = hash_token(token);
    if let Some(user) = state.token_cache.get(&hash) {
        return Ok(Some(user));
    }
    let user = state.store.user_by_token_hash(&hash).await?;
    if let Some(u) = &user {
        state.token_cache.put(hash, u.clone());
    }
    Ok(user)
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match request_token(parts) {
            None => Ok(MaybeUser(None)),
            Some(t) => match user_for_token(state, &t).await? {
                Some(u) => Ok(MaybeUser(Some(u))),
                None => Err(ApiError::Unauthorized),
            },
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match MaybeUser::from_request_parts(parts, state).await? {
            MaybeUser(Some(u)) => Ok(CurrentUser(u)),
            MaybeUser(None) => Err(ApiError::Unauthorized),
        }
    }
}
