//! Who calls the Gitea face: a personal access token (the same tokens as `/api/v4`, checked
//! by `http::auth::check_token`, scopes and all) found where Gitea's clients put it:
//! `Authorization: token …` or `Bearer …`, Basic with the token as the password (or as the user
//! name with an empty password, as Gitea takes it), or the `token` / `access_token` query
//! parameters. A token that is sent but not valid is a 401 even where anonymous access would do.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;

use super::error::GiteaError;
use crate::http::auth::{api_use, check_token};
use crate::http::AppState;
use crate::model::entities::User;

/// The caller, if any token was sent (anonymous callers may read public repositories).
pub(in crate::http) struct GiteaCaller(pub Option<User>);

/// The token of a request, found Gitea's ways; `None` when it carries none.
fn request_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "token" | "bearer" => return Some(rest.to_owned()),
            "basic" => return basic_token(rest),
            _ => {}
        }
    }
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token" || k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// The token of Basic credentials: the password, or the user name when the password is empty.
/// Undecodable credentials count as an empty (so invalid) token, not as none.
fn basic_token(encoded: &str) -> Option<String> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
    Some(if password.is_empty() { user } else { password }.to_owned())
}

impl FromRequestParts<AppState> for GiteaCaller {
    type Rejection = GiteaError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, GiteaError> {
        let Some(token) = request_token(parts) else {
            return Ok(GiteaCaller(None));
        };
        if token.is_empty() {
            return Err(GiteaError::Unauthorized("user does not exist"));
        }
        let auth = check_token(state, &token, api_use(parts)).await?;
        Ok(GiteaCaller(Some(auth.user)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_of(header: Option<&str>, uri: &str) -> Option<String> {
        let mut request = axum::http::Request::builder().uri(uri);
        if let Some(h) = header {
            request = request.header(AUTHORIZATION, h);
        }
        let (parts, ()) = request.body(()).unwrap().into_parts();
        request_token(&parts)
    }

    #[test]
    fn finds_the_token_where_gitea_clients_put_it() {
        let basic = |creds: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            )
        };
        for (header, uri, token) in [
            (Some("token abc"), "/x", Some("abc")),
            (Some("Bearer abc"), "/x", Some("abc")),
            (Some("bearer abc"), "/x", Some("abc")),
            (Some(basic("me:abc").as_str()), "/x", Some("abc")),
            (Some(basic("abc:").as_str()), "/x", Some("abc")),
            (None, "/x?token=abc", Some("abc")),
            (None, "/x?access_token=abc&page=2", Some("abc")),
            (None, "/x?page=2", None),
            (Some("Digest abc"), "/x", None),
        ] {
            assert_eq!(token_of(header, uri).as_deref(), token, "{header:?} {uri}");
        }
        assert_eq!(token_of(Some("Basic !!!"), "/x").as_deref(), Some(""));
    }
}
