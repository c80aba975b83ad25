//! Who is looking at a page: the session cookie (`_pushmirror_session`, HttpOnly, SameSite=Lax,
//! Secure when the external URL is https) names a signed-in user through
//! [`crate::service::sessions`]. Every form carries a CSRF token (`authenticity_token`, as
//! GitLab's): the SHA-256 of the session's cookie value under a purpose of its own, or, before
//! signing in, of the `_pushmirror_csrf` cookie's random value. [`Posted`] refuses a form whose
//! token is missing or wrong before its handler runs. A short-lived `_pushmirror_flash` cookie
//! carries one notice or alert across a redirect (Post/Redirect/Get); [`back_with`] is the answer
//! every screen gives a refused form.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::WebError;
pub(in crate::http) use super::paths::local_path;
use crate::http::AppState;
use crate::model::entities::User;

/// The session cookie's name.
pub(in crate::http) const SESSION_COOKIE: &str = "_pushmirror_session";
/// The cookie that ties a signed-out browser's forms (the sign-in form) to it.
const CSRF_COOKIE: &str = "_pushmirror_csrf";
/// The cookie that carries a message across one redirect.
const FLASH_COOKIE: &str = "_pushmirror_flash";
/// The form field (and, for scripts, the `X-CSRF-Token` header) holding the CSRF token.
pub(in crate::http) const CSRF_FIELD: &str = "authenticity_token";
/// The largest form body a page accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A message shown once at the top of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::http) enum Flash {
    /// Something worked.
    Notice(String),
    /// Something was refused or failed.
    Alert(String),
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(in crate::http) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// A `Set-Cookie` value with the interface's attributes; `max_age` none for a browser session,
/// `Some(0)` to delete.
pub(in crate::http) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if state.external_url.starts_with("https://") {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c)
        .unwrap_or_else(|_| HeaderValue::from_static("_pushmirror_invalid=; Path=/"))
}

/// The CSRF token of a browser whose secret cookie value is `secret`.
fn csrf_token_of(secret: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"pushmirror csrf token\0");
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// Compares two tokens in time independent of where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn read_flash(headers: &HeaderMap) -> Option<Flash> {
    let raw = cookie(headers, FLASH_COOKIE)?;
    let text = percent_encoding::percent_decode_str(raw.get(1..)?)
        .decode_utf8()
        .ok()?
        .into_owned();
    match raw.as_bytes().first()? {
        b'n' => Some(Flash::Notice(text)),
        b'a' => Some(Flash::Alert(text)),
        _ => None,
    }
}

/// A signed-in person looking at a page.
pub(in crate::http) struct Viewer {
    pub user: User,
    session: String,
    flash: Option<Flash>,
}

impl Viewer {
    /// The token every form of this viewer's pages carries.
    pub(in crate::http) fn csrf_token(&self) -> String {
        csrf_token_of(&self.session)
    }

    /// The message the previous request left for this page, if any.
    pub(in crate::http) fn flash(&self) -> Option<&Flash> {
        self.flash.as_ref()
    }

    /// The session cookie's value (for signing out).
    pub(super) fn session(&self) -> &str {
        &self.session
    }
}

/// The signed-in viewer, or none.
pub(in crate::http) struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(MaybeViewer(None));
        };
        let user = crate::service::sessions::session_user(state, &session).await?;
        Ok(MaybeViewer(user.map(|user| Viewer {
            user,
            session,
            flash: read_flash(&parts.headers),
        })))
    }
}

/// The path and query a signed-out visitor asked for, to come back to after signing in.
fn return_to(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into())
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        match MaybeViewer::from_request_parts(parts, state).await? {
            MaybeViewer(Some(v)) => Ok(v),
            MaybeViewer(None) => Err(WebError::SignIn(return_to(parts))),
        }
    }
}

/// A signed-out browser's CSRF secret: the cookie's value, or a new one to set.
pub(in crate::http) struct AnonymousCsrf {
    secret: String,
    /// Set when the browser had no secret yet: the page must send this cookie.
    pub new_cookie: Option<HeaderValue>,
    pub flash: Option<Flash>,
}

impl AnonymousCsrf {
    pub(in crate::http) fn token(&self) -> String {
        csrf_token_of(&self.secret)
    }
}

impl FromRequestParts<AppState> for AnonymousCsrf {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let flash = read_flash(&parts.headers);
        Ok(match cookie(&parts.headers, CSRF_COOKIE) {
            Some(secret) if secret.len() >= 32 => AnonymousCsrf {
                secret,
                new_cookie: None,
                flash,
            },
            _ => {
                use rand::distributions::{Alphanumeric, DistString};
                let secret = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 43);
                let new_cookie = Some(set_cookie(state, CSRF_COOKIE, &secret, None));
                AnonymousCsrf {
                    secret,
                    new_cookie,
                    flash,
                }
            }
        })
    }
}

/// Reads a form body (at most [`MAX_FORM_BYTES`]) and checks its CSRF token against `expected`:
/// the `authenticity_token` field, or the `X-CSRF-Token` header for scripts.
async fn checked_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: axum::body::Body,
    expected: &str,
) -> Result<T, WebError> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| WebError::BadRequest("The form is too large.".into()))?;
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned())
        });
    match sent {
        Some(token) if same_token(&token, expected) => {}
        _ => return Err(WebError::InvalidCsrf),
    }
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| WebError::BadRequest(format!("The form is invalid: {e}.")))
}

/// The form of a button that carries nothing but its CSRF token (sign out, remove, revoke…).
#[derive(serde::Deserialize)]
pub(in crate::http) struct CsrfOnly {}

/// A form posted by a signed-in viewer, its CSRF token checked.
pub(in crate::http) struct Posted<T> {
    pub viewer: Viewer,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let form = checked_form(&parts.headers, body, &viewer.csrf_token()).await?;
        Ok(Posted { viewer, form })
    }
}

/// A form posted by a signed-out browser (the sign-in form), its CSRF token checked.
pub(in crate::http) struct AnonymousPosted<T> {
    pub form: T,
    /// The address the form came from.
    pub client: Option<std::net::IpAddr>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for AnonymousPosted<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let csrf = AnonymousCsrf::from_request_parts(&mut parts, state).await?;
        if csrf.new_cookie.is_some() {
            return Err(WebError::InvalidCsrf);
        }
        let form = checked_form(&parts.headers, body, &csrf.token()).await?;
        let client = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(AnonymousPosted { form, client })
    }
}

/// 303 See Other to `to` (a local path), leaving `flash` for the page it lands on.
pub(in crate::http) fn redirect_with(state: &AppState, to: &str, flash: Option<Flash>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(local_path(to)) {
        response.headers_mut().insert(LOCATION, location);
    }
    if let Some(flash) = flash {
        let (tag, text) = match &flash {
            Flash::Notice(t) => ('n', t),
            Flash::Alert(t) => ('a', t),
        };
        let value = format!(
            "{tag}{}",
            percent_encoding::utf8_percent_encode(
                &text.chars().take(1000).collect::<String>(),
                percent_encoding::NON_ALPHANUMERIC
            )
        );
        response.headers_mut().append(
            SET_COOKIE,
            set_cookie(state, FLASH_COOKIE, &value, Some(60)),
        );
    }
    response
}

/// After a refused form: back to `to` with the service's message for the person as an alert;
/// hidden things and faults become their pages.
pub(in crate::http) fn back_with(
    state: &AppState,
    to: &str,
    e: crate::service::error::ServiceError,
) -> Response {
    match WebError::from(e) {
        WebError::BadRequest(message) => redirect_with(state, to, Some(Flash::Alert(message))),
        other => other.into_response(),
    }
}

/// The `Set-Cookie` that deletes the flash once a page showed it.
pub(in crate::http) fn clear_flash(state: &AppState) -> HeaderValue {
    set_cookie(state, FLASH_COOKIE, "", Some(0))
}

/// The `Set-Cookie` of a new session.
pub(in crate::http) fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    set_cookie(state, SESSION_COOKIE, token, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        let t = csrf_token_of("secret");
        assert!(same_token(&t, &csrf_token_of("secret")));
        assert!(!same_token(&t, &csrf_token_of("secreT")));
        assert!(!same_token(&t, ""));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; _pushmirror_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
