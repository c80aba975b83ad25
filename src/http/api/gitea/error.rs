//! The Gitea face's one error type, and the only place a `ServiceError` becomes Gitea's JSON:
//! `{"message": …, "url": …}` (Gitea's `APIError`; `url` points at this face's document) with
//! Gitea's statuses: 400 for a bad `interval` or remote address, 401 without a valid token,
//! 403 for a caller who may not, 404 for what is not there or hidden, 409 for a name taken, 422
//! for a request Gitea's validation refuses. 5xx bodies are generic; the cause is logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::http::auth::TokenRefused;
use crate::model::mirror_settings::{MirrorErrors, MirrorField};
use crate::service::error::{Refusal, ServiceError, Taken};
use crate::store::StoreError;

/// Where an error's `url` points: this face's OpenAPI document (Gitea points at its Swagger UI).
pub(super) const DOCUMENT_PATH: &str = "/api/v1/swagger.v1.json";

/// A failure of the Gitea face, each variant naming its status.
#[derive(Debug, thiserror::Error)]
pub(in crate::http) enum GiteaError {
    /// 400: a parameter Gitea's handler refuses (`interval`, the remote address).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or one that is unknown, revoked or expired.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: the caller (or the token's scope) may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: nothing there, or nothing the caller may see.
    #[error("The target couldn't be found.")]
    NotFound,
    /// 405: the route has no such method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the name is taken.
    #[error("{0}")]
    Conflict(String),
    /// 422: the request's validation failed, or the repository refuses it.
    #[error("{0}")]
    Unprocessable(String),
    /// 500 with a generic body; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for GiteaError {
    fn from(e: StoreError) -> Self {
        GiteaError::Internal(e.to_string())
    }
}

impl From<TokenRefused> for GiteaError {
    fn from(e: TokenRefused) -> Self {
        match e {
            TokenRefused::Unknown => GiteaError::Unauthorized("user does not exist"),
            TokenRefused::Scope(scope) => GiteaError::Forbidden(format!(
                "token does not have at least one of required scope(s): [{scope}]"
            )),
            TokenRefused::Failed(e) => e.into(),
        }
    }
}

/// A mirror field as this face names it.
fn field_name(field: &MirrorField) -> &'static str {
    match field {
        MirrorField::Url | MirrorField::AuthMethod => "remote_address",
        MirrorField::MirrorBranchRegex | MirrorField::OnlyProtectedBranches => "branch_filter",
        MirrorField::LfsSync => "lfs_sync",
        MirrorField::SyncInterval => "interval",
    }
}

/// A mirror's field errors: 400 when the address or the interval is wrong (Gitea's handler
/// refuses those itself), else 422; the message names each field.
fn mirror_errors(errors: MirrorErrors) -> GiteaError {
    let bad_request = errors
        .0
        .keys()
        .any(|f| matches!(f, MirrorField::Url | MirrorField::SyncInterval));
    let message = errors
        .0
        .iter()
        .flat_map(|(field, messages)| {
            messages
                .iter()
                .map(move |m| format!("{} {m}", field_name(field)))
        })
        .collect::<Vec<_>>()
        .join("; ");
    if bad_request {
        GiteaError::BadRequest(message)
    } else {
        GiteaError::Unprocessable(message)
    }
}

impl From<ServiceError> for GiteaError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) | ServiceError::RecordNotFound => GiteaError::NotFound,
            ServiceError::Unauthenticated => GiteaError::Unauthorized("token is required"),
            ServiceError::Forbidden => GiteaError::Forbidden(
                "user should be an owner or a collaborator with admin write of a repository".into(),
            ),
            ServiceError::Blocked => GiteaError::Forbidden("user is blocked".into()),
            ServiceError::Invalid(errors) => {
                GiteaError::Unprocessable(errors.full_messages().join("; "))
            }
            ServiceError::InvalidMirror(errors) => mirror_errors(errors),
            ServiceError::LimitReached(limit) => GiteaError::Unprocessable(limit.to_string()),
            ServiceError::Conflict(taken) => GiteaError::Conflict(match taken {
                Taken::ProtectedBranch(name) => format!("branch protection for {name} exists"),
                Taken::Member => "the user is a collaborator already".into(),
                _ => "the name is already taken".into(),
            }),
            ServiceError::Refused(Refusal::BadHostKeys(e)) => {
                GiteaError::BadRequest(Refusal::BadHostKeys(e).to_string())
            }
            ServiceError::Refused(why) => GiteaError::Unprocessable(why.to_string()),
            ServiceError::Store(e) => GiteaError::Internal(e.to_string()),
            ServiceError::Internal(m) => GiteaError::Internal(m),
        }
    }
}

impl IntoResponse for GiteaError {
    fn into_response(self) -> Response {
        let status = match &self {
            GiteaError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GiteaError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            GiteaError::Forbidden(_) => StatusCode::FORBIDDEN,
            GiteaError::NotFound => StatusCode::NOT_FOUND,
            GiteaError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            GiteaError::Conflict(_) => StatusCode::CONFLICT,
            GiteaError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            GiteaError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &self {
            GiteaError::Internal(_) => "internal server error".to_owned(),
            e => e.to_string(),
        };
        (
            status,
            Json(json!({"message": message, "url": DOCUMENT_PATH})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_and_interval_errors_are_400_others_422() {
        let mut errors = MirrorErrors::default();
        errors.push(MirrorField::SyncInterval, "must be 0");
        let e = GiteaError::from(ServiceError::InvalidMirror(errors));
        assert!(matches!(&e, GiteaError::BadRequest(m) if m == "interval must be 0"));
        let mut errors = MirrorErrors::default();
        errors.push(MirrorField::MirrorBranchRegex, "is too long");
        let e = GiteaError::from(ServiceError::InvalidMirror(errors));
        assert_eq!(e.into_response().status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e = GiteaError::from(ServiceError::Internal("secret cause".into()));
        assert_eq!(
            e.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
