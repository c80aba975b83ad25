//! The git-lfs face's errors: a whole-request failure as the batch API specifies it
//! (<https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md>): a status and a JSON body
//! `{"message", "documentation_url", "request_id"}` of type `application/vnd.git-lfs+json`; a
//! 401 carries `LFS-Authenticate: Basic realm="…"` so the client asks its credential helper.
//! This is the only place the LFS endpoints turn a failure into a status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::git::auth::CallerRefusal;
use crate::http::monitoring::RequestId;
use crate::service::error::ServiceError;

/// The media type of every git-lfs request and response body.
pub(in crate::http) const LFS_MEDIA_TYPE: &str = "application/vnd.git-lfs+json";

/// Where a client reads about the API whose error it got.
const DOCUMENTATION_URL: &str = "https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md";

/// A whole-request LFS failure.
#[derive(Debug)]
pub(in crate::http) enum LfsError {
    /// 401: no or bad credentials where some might get further.
    Unauthorized,
    /// 403: the caller may not do this (read-only access, an archived project's upload).
    Forbidden(String),
    /// 404: no such project, not visible, LFS off, no such object or route.
    NotFound(String),
    /// 405.
    MethodNotAllowed,
    /// 406: the client does not accept the git-lfs media type.
    NotAcceptable,
    /// 413: too many objects, or more than the project may hold.
    TooLarge(String),
    /// 422: a malformed body, a wrong hash or size.
    Unprocessable(String),
    /// 500: logged, not shown.
    Internal(String),
}

impl LfsError {
    pub(in crate::http) fn not_found() -> LfsError {
        LfsError::NotFound("Not found".into())
    }
}

impl From<ServiceError> for LfsError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) => LfsError::not_found(),
            ServiceError::RecordNotFound => LfsError::NotFound("Object does not exist".into()),
            ServiceError::Unauthenticated => LfsError::Unauthorized,
            // GitLab's message for a caller without the access a route needs
            // (`render_lfs_forbidden`).
            ServiceError::Forbidden => {
                LfsError::Forbidden("Access forbidden. Check your access level.".into())
            }
            ServiceError::Blocked => LfsError::Forbidden("Your account has been blocked.".into()),
            ServiceError::Refused(why) => LfsError::Forbidden(why.to_string()),
            ServiceError::LimitReached(limit) => {
                LfsError::TooLarge(capitalized(&limit.to_string()))
            }
            ServiceError::Invalid(errors) => LfsError::Unprocessable(
                errors
                    .0
                    .into_values()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other @ (ServiceError::InvalidMirror(_)
            | ServiceError::Conflict(_)
            | ServiceError::Store(_)
            | ServiceError::Internal(_)) => LfsError::Internal(other.to_string()),
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<CallerRefusal> for LfsError {
    fn from(refusal: CallerRefusal) -> Self {
        match refusal {
            CallerRefusal::BadCredentials => LfsError::Unauthorized,
            CallerRefusal::Blocked => LfsError::Forbidden("Your account has been blocked.".into()),
            CallerRefusal::Scope => LfsError::Forbidden(
                "The token's scopes do not allow this git LFS operation.".into(),
            ),
            CallerRefusal::Internal(cause) => LfsError::Internal(cause),
        }
    }
}

/// The id the monitoring middleware gave the request (empty outside it, as in unit tests).
pub(in crate::http) fn request_id(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

impl LfsError {
    /// The error's response, naming `request_id` (see [`request_id`]).
    pub(in crate::http) fn respond(self, request_id: &str) -> Response {
        let (status, message) = match self {
            LfsError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Credentials needed: HTTP Basic with a personal access token as password".into(),
            ),
            LfsError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            LfsError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            LfsError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed".into())
            }
            LfsError::NotAcceptable => (
                StatusCode::NOT_ACCEPTABLE,
                format!("The git LFS API answers only {LFS_MEDIA_TYPE}"),
            ),
            LfsError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            LfsError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            LfsError::Internal(cause) => {
                tracing::error!(%cause, "git LFS request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error".into(),
                )
            }
        };
        // The request id is the one the monitoring middleware puts on the response; the body
        // names it too so a client's error output leads to the server's log line.
        let body = serde_json::json!({
            "message": message,
            "documentation_url": DOCUMENTATION_URL,
            "request_id": request_id,
        });
        let mut response = (
            status,
            [(header::CONTENT_TYPE, LFS_MEDIA_TYPE)],
            body.to_string(),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "lfs-authenticate",
                HeaderValue::from_static("Basic realm=\"pushmirror\""),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"pushmirror\""),
            );
        }
        response
    }
}

/// For extractors whose rejection this is; the LFS dispatch answers with
/// [`LfsError::respond`], which names the request id.
impl IntoResponse for LfsError {
    fn into_response(self) -> Response {
        self.respond("")
    }
}
