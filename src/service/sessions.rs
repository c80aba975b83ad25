//! Signing in to the web interface: a username or e-mail address and a password (checked
//! against the Argon2id hash off the async threads), slowed down after repeated failures
//! ([`crate::model::sign_in`]), and sessions: a random cookie value whose SHA-256 is stored with
//! an expiry, ended at sign-out, by a new password or by blocking the user.

use std::net::IpAddr;
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::model::entities::{Millis, User};
use crate::model::sign_in::{FREE_FAILURES_PER_CLIENT, FREE_FAILURES_PER_LOGIN};
use crate::password;
use crate::secret::hash_token;

use super::error::{Refusal, ServiceError};

/// How long a session lasts from sign-in: GitLab's default `session_expire_delay`, a week.
pub const SESSION_TTL_MS: Millis = 7 * 24 * 3600 * 1000;

/// A session just started: its user and the cookie value (shown to the browser only).
pub struct NewSession {
    pub user: User,
    pub token: SecretString,
}

/// A hash no password matches, checked when the login names nobody (or a user without a
/// password), so such attempts take as long as real ones.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        password::hash(&SecretString::from("pushmirror decoy password".to_owned()))
            .unwrap_or_default()
    })
}

/// Signs `login` (a username or an e-mail address, any case) in with `password` from `client`.
/// Every wrong login or password gets the same refusal ([`Refusal::WrongLogin`]); an attempt that
/// comes too soon after repeated failures is refused unchecked, saying how long to wait.
pub async fn sign_in(
    app: &App,
    login: &str,
    password: SecretString,
    client: Option<IpAddr>,
) -> Result<NewSession, ServiceError> {
    let now = app.clock.now_ms();
    let login = login.trim();
    let login_key = format!("login:{}", login.to_lowercase());
    let client_key = client.map(|c| format!("client:{c}"));
    let wait = app
        .sign_in_throttle
        .get(&login_key)
        .wait_ms(now, FREE_FAILURES_PER_LOGIN)
        .max(
            client_key
                .as_deref()
                .map(|k| {
                    app.sign_in_throttle
                        .get(k)
                        .wait_ms(now, FREE_FAILURES_PER_CLIENT)
                })
                .unwrap_or(0),
        );
    if wait > 0 {
        return Err(ServiceError::Refused(Refusal::SignInThrottled(wait)));
    }
    let found = if login.is_empty() {
        None
    } else {
        app.store.credentials_by_login(login).await?
    };
    let hash = found
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_owned());
    let matches = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .unwrap_or(false);
    let user = match found {
        Some(c) if matches && c.password_hash.is_some() => c.user,
        _ => {
            let mut keys = vec![login_key];
            keys.extend(client_key);
            app.sign_in_throttle.failed(&keys, now);
            return Err(ServiceError::Refused(Refusal::WrongLogin));
        }
    };
    if user.is_blocked() {
        return Err(ServiceError::Refused(Refusal::AccountBlocked));
    }
    app.sign_in_throttle.succeeded(&login_key);
    let (token, token_hash) = mint_session();
    app.store
        .create_session(&token_hash, user.id, now, now + SESSION_TTL_MS)
        .await?;
    Ok(NewSession { user, token })
}

fn mint_session() -> (SecretString, String) {
    use rand::distributions::{Alphanumeric, DistString};
    let token = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 43);
    let hash = hash_token(&token);
    (SecretString::from(token), hash)
}

/// The signed-in user of session cookie value `token`: none when the session is unknown,
/// expired, or its user is blocked.
pub async fn session_user(app: &App, token: &str) -> Result<Option<User>, ServiceError> {
    let user = app
        .store
        .session_user(&hash_token(token), app.clock.now_ms())
        .await?;
    Ok(user.filter(|u| !u.is_blocked()))
}

/// Ends session `token`.
pub async fn sign_out(app: &App, token: &SecretString) -> Result<(), ServiceError> {
    app.store
        .delete_session(&hash_token(token.expose_secret()))
        .await?;
    Ok(())
}
