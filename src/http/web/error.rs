//! The web interface's one error type, and the only place its failures become pages: a
//! signed-out visitor is sent to the sign-in page (and back afterwards), a missing or hidden
//! resource is an HTML 404 (as GitLab, a project the viewer may not see is "not found", never
//! "forbidden"), a wrong CSRF token 422, a server fault a generic 500 with the cause logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::model::mirror_settings::MirrorField;
use crate::service::error::{Limit, ServiceError};

/// Why a page could not be shown or a form not accepted.
#[derive(Debug, thiserror::Error)]
pub(in crate::http) enum WebError {
    /// The visitor must sign in first; the path and query to come back to.
    #[error("sign in required")]
    SignIn(String),
    /// Nothing here, or nothing this viewer may see.
    #[error("not found")]
    NotFound,
    /// The viewer sees this but may not change it.
    #[error("forbidden")]
    Forbidden,
    /// The form's CSRF token is missing or wrong.
    #[error("invalid authenticity token")]
    InvalidCsrf,
    /// The request itself is malformed, with a message for the person.
    #[error("{0}")]
    BadRequest(String),
    /// Something below failed; the text is for the log only.
    #[error("{0}")]
    Internal(String),
}

/// A mirror's field as the settings page's messages name it (`Url is blocked: …`, the API's
/// parameter names in Rails' `full_messages` form).
fn mirror_field_name(field: &MirrorField) -> &'static str {
    match field {
        MirrorField::Url => "url",
        MirrorField::AuthMethod => "auth_method",
        MirrorField::OnlyProtectedBranches => "only_protected_branches",
        MirrorField::MirrorBranchRegex => "mirror_branch_regex",
        MirrorField::LfsSync => "lfs_sync",
        MirrorField::SyncInterval => "sync_interval",
    }
}

impl From<ServiceError> for WebError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) | ServiceError::RecordNotFound => WebError::NotFound,
            ServiceError::Unauthenticated => WebError::SignIn("/".into()),
            ServiceError::Forbidden | ServiceError::Blocked => WebError::Forbidden,
            ServiceError::Invalid(errors) => {
                WebError::BadRequest(errors.full_messages().join(", "))
            }
            ServiceError::InvalidMirror(errors) => {
                let named = errors.named(mirror_field_name);
                WebError::BadRequest(named.full_messages().join(", "))
            }
            // Worded as the API's field error reads in full.
            ServiceError::LimitReached(limit @ Limit::EnabledMirrors(_)) => {
                WebError::BadRequest(format!("Enabled cannot be true: {limit}"))
            }
            ServiceError::LimitReached(limit) => WebError::BadRequest(limit.to_string()),
            ServiceError::Conflict(taken) => WebError::BadRequest(taken.to_string()),
            ServiceError::Refused(why) => WebError::BadRequest(why.to_string()),
            ServiceError::Store(e) => WebError::Internal(e.to_string()),
            ServiceError::Internal(m) => WebError::Internal(m),
        }
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

/// A plain error page: status, a heading and a sentence, a link home.
pub(in crate::http) fn error_page(status: StatusCode, heading: &str, text: &str) -> Response {
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (heading) " · pushmirror" }
                link rel="stylesheet" href=(super::assets::css_path());
            }
            body {
                main class="error-page" {
                    h1 { (heading) }
                    p { (text) }
                    p { a href="/" { "Go to the dashboard" } }
                }
            }
        }
    };
    (status, markup).into_response()
}

/// The HTML 404 every unknown path gets when a browser asks.
pub(in crate::http) fn not_found_page() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "The page could not be found or you don't have permission to view it.",
    )
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn(back) => {
                let to = format!(
                    "/users/sign_in?redirect_to={}",
                    percent_encoding::utf8_percent_encode(
                        super::paths::local_path(&back),
                        percent_encoding::NON_ALPHANUMERIC
                    )
                );
                let mut r = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = axum::http::HeaderValue::from_str(&to) {
                    r.headers_mut().insert(axum::http::header::LOCATION, v);
                }
                r
            }
            WebError::NotFound => not_found_page(),
            WebError::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                "Access denied",
                "You don't have permission to do this.",
            ),
            WebError::InvalidCsrf => error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The change you requested was rejected",
                "The form's authenticity token is missing or out of date. Reload the page and try again.",
            ),
            WebError::BadRequest(m) => error_page(StatusCode::BAD_REQUEST, "That did not work", &m),
            WebError::Internal(cause) => {
                tracing::error!(error = %cause, "web page failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not finish this request. Try again; if it keeps failing, the server's log says why.",
                )
            }
        }
    }
}
