//! Who is calling a git endpoint ([`GitCaller`]): git's clients send HTTP Basic (any user name,
//! a personal access token as password, so GitLab's `oauth2:<token>` works), and other tools
//! `PRIVATE-TOKEN`, a Bearer token or the API's token query parameters. Smart HTTP uses it today;
//! git LFS (the same credentials, JSON errors) and SSH (a token as password) are meant to share
//! it, so each face names its own refusal: the extractor is generic over what it rejects with
//! (`R: From<CallerRefusal>`), and git's is a 401 with a Basic challenge.
//!
//! No credentials is an anonymous caller, not a refusal: public projects may be cloned, and
//! the endpoint asks for credentials wherever they might get further.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use base64::Engine as _;

use crate::http::auth::request_token;
use crate::http::AppState;
use crate::model::entities::User;
use crate::model::tokens::{allows, Use};
use crate::service::auth::{authenticate, Authenticated};
use crate::service::error::ServiceError;

/// Why a git request's credentials were not accepted.
#[derive(Debug)]
pub(in crate::http) enum CallerRefusal {
    /// The credentials match no active token, or are not credentials at all.
    BadCredentials,
    /// The token's user is blocked.
    Blocked,
    /// The token's scopes do not allow the operation.
    Scope,
    /// Looking the token up failed.
    Internal(String),
}

/// The caller of a git request: anonymous (`None`) or authenticated by a token. `R` is how the
/// endpoint refuses.
pub(in crate::http) struct GitCaller<R> {
    auth: Option<Authenticated>,
    refusal: PhantomData<fn() -> R>,
}

impl<R: From<CallerRefusal>> GitCaller<R> {
    /// The caller's user, when their token allows `use_` (or anonymous: `None`); refuses a token
    /// whose scopes do not (fetching needs `read_repository`, pushing `write_repository`, or
    /// `api` for either).
    pub(in crate::http) fn user_for(self, use_: Use) -> Result<Option<User>, R> {
        match self.auth {
            None => Ok(None),
            Some(auth) if allows(&auth.token.scopes, use_) => Ok(Some(auth.user)),
            Some(_) => Err(CallerRefusal::Scope.into()),
        }
    }
}

impl<R> FromRequestParts<AppState> for GitCaller<R>
where
    R: From<CallerRefusal> + IntoResponse,
{
    type Rejection = R;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, R> {
        let token = match basic_password(parts)? {
            Some(password) => Some(password),
            None => request_token(parts),
        };
        let auth = match token {
            None => None,
            Some(token) => match authenticate(state, &token).await {
                Ok(Some(auth)) => Some(auth),
                Ok(None) => return Err(CallerRefusal::BadCredentials.into()),
                Err(ServiceError::Blocked) => return Err(CallerRefusal::Blocked.into()),
                Err(e) => return Err(CallerRefusal::Internal(e.to_string()).into()),
            },
        };
        Ok(GitCaller {
            auth,
            refusal: PhantomData,
        })
    }
}

/// The token of an `Authorization: RemoteAuth <token>` header: what `git-lfs-authenticate`
/// gave an SSH client for the LFS API (`service::lfs::ssh_token`), which the LFS endpoints take
/// instead of git's own credentials.
pub(in crate::http) fn ssh_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix(crate::service::lfs::ssh_token::SCHEME)?
        .strip_prefix(' ')
        .map(str::trim)
}

/// The password of an HTTP Basic `Authorization` header, if the request has one; a Basic header
/// that does not decode to `user:password` is refused.
fn basic_password(parts: &Parts) -> Result<Option<String>, CallerRefusal> {
    let Some(encoded) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
    else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| CallerRefusal::BadCredentials)?;
    let decoded = String::from_utf8(decoded).map_err(|_| CallerRefusal::BadCredentials)?;
    let (_user, password) = decoded
        .split_once(':')
        .ok_or(CallerRefusal::BadCredentials)?;
    Ok(Some(password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: &str) -> Parts {
        let request = axum::http::Request::builder()
            .header(header::AUTHORIZATION, authorization)
            .body(())
            .unwrap();
        request.into_parts().0
    }

    #[test]
    fn reads_basic_passwords() {
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let ok = parts(&format!("Basic {}", encode("oauth2:glpat-x")));
        assert_eq!(basic_password(&ok).unwrap().as_deref(), Some("glpat-x"));
        let lower = parts(&format!("basic {}", encode("u:p:q")));
        assert_eq!(basic_password(&lower).unwrap().as_deref(), Some("p:q"));
        assert_eq!(basic_password(&parts("Bearer abc")).unwrap(), None);
        for bad in [
            "Basic !!!".to_owned(),
            format!("Basic {}", encode("no-colon")),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe])
            ),
        ] {
            assert!(
                matches!(
                    basic_password(&parts(&bad)),
                    Err(CallerRefusal::BadCredentials)
                ),
                "{bad}"
            );
        }
    }
}
