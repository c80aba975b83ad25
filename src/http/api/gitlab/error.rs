//! The HTTP edge's one error type, and the only place errors become GitLab JSON. GitLab uses two
//! shapes: `{"error": …}` for parameter-schema failures and unknown routes, `{"message": …}` (a
//! string or a field → messages map) for everything else. 5xx bodies are generic; details are logged.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::model::mirror_settings::MirrorField;
use crate::service::error::{Limit, Refusal, Resource, ServiceError, Taken};
use crate::store::StoreError;

/// An API failure, each variant naming the status and body it becomes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 401 `{"message":"401 Unauthorized"}`.
    #[error("401 Unauthorized")]
    Unauthorized,
    /// 403 `{"message":"403 Forbidden"}`.
    #[error("403 Forbidden")]
    Forbidden,
    /// 403 `{"message":"403 Forbidden - Your account has been blocked."}`.
    #[error("403 Forbidden - Your account has been blocked.")]
    Blocked,
    /// 403 `{"error":"insufficient_scope", …, "scope": <scope>}`: the token may not do this.
    #[error("insufficient scope: {0} required")]
    InsufficientScope(&'static str),
    /// 404 `{"message":"404 <resource> Not Found"}` (`not_found!(resource)`).
    #[error("404 {0} Not Found")]
    NotFound(&'static str),
    /// 404 `{"message":"404 Not Found"}` (`not_found!` without a resource).
    #[error("404 Not Found")]
    NotFoundPlain,
    /// 404 `{"message":"404 Not found"}` (ActiveRecord's RecordNotFound, lower-case f).
    #[error("404 Not found")]
    RecordNotFound,
    /// 404 `{"error":"404 Not Found"}` for a route that does not exist.
    #[error("404 Not Found")]
    NoRoute,
    /// 405 `{"message":"405 Method Not Allowed"}`.
    #[error("405 Method Not Allowed")]
    MethodNotAllowed,
    /// 400 `{"error": <text>}`: a parameter is missing, invalid or out of range (Grape).
    #[error("{0}")]
    Param(String),
    /// 400 `{"message": <text>}`: a service-level refusal.
    #[error("{0}")]
    BadRequest(String),
    /// 400 `{"message": {field: [messages]}}`: model validation failed.
    #[error("validation failed: {0:?}")]
    Validation(BTreeMap<String, Vec<String>>),
    /// 409 `{"message": <text>}`.
    #[error("{0}")]
    Conflict(String),
    /// 422 `{"message": <text>}`.
    #[error("{0}")]
    Rejected(String),
    /// 422 `{"message": [<full messages>]}`.
    #[error("{0:?}")]
    Unprocessable(Vec<String>),
    /// 500 with a generic body; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Field errors as Ruby prints a hash of them (`{:path=>["has already been taken"]}`), which
/// GitLab puts into some messages (`Failed to save group …`).
pub(crate) fn ruby_inspect(errors: &crate::model::errors::FieldErrors) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let fields: Vec<String> = errors
        .0
        .iter()
        .map(|(field, messages)| {
            let list: Vec<String> = messages.iter().map(|m| quote(m)).collect();
            format!(":{field}=>[{}]", list.join(", "))
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// A resource as GitLab names it in `404 <resource> Not Found`.
fn resource_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Project => "Project",
        Resource::Group => "Group",
        Resource::Namespace => "Namespace",
        Resource::User => "User",
        Resource::PersonalAccessToken => "Personal Access Token",
        Resource::Branch => "Branch",
        Resource::Tag => "Tag",
        Resource::Commit => "Commit",
        Resource::Key => "Key",
        Resource::DeployKey => "Deploy Key",
    }
}

/// A conflict as GitLab words it.
fn taken_message(taken: &Taken) -> String {
    match taken {
        Taken::Username => "Username has already been taken".into(),
        Taken::Email => "Email has already been taken".into(),
        Taken::Member => "Member already exists".into(),
        Taken::ProtectedBranch(name) => format!("Protected branch '{name}' already exists"),
    }
}

/// A mirror's field as GitLab's `remote_mirrors` API names its parameter.
fn mirror_parameter(field: &MirrorField) -> &'static str {
    match field {
        MirrorField::Url => "url",
        MirrorField::AuthMethod => "auth_method",
        MirrorField::OnlyProtectedBranches => "only_protected_branches",
        MirrorField::MirrorBranchRegex => "mirror_branch_regex",
        MirrorField::LfsSync => "lfs_sync",
        MirrorField::SyncInterval => "sync_interval",
    }
}

/// A refusal as GitLab answers it: the hook rules and a hook that cannot run (test or resend)
/// are `422`, anything else `400`; the message is the refusal's.
fn refusal(why: Refusal) -> ApiError {
    let unprocessable = why.is_hook_execution()
        || matches!(
            why,
            Refusal::InvalidHookUrl
                | Refusal::InvalidBranchFilter
                | Refusal::InvalidUrlVariables
                | Refusal::InvalidCustomHeaders { .. }
        );
    if unprocessable {
        ApiError::Rejected(why.to_string())
    } else {
        ApiError::BadRequest(why.to_string())
    }
}

/// A limit as GitLab reports it: a validation error of the field that would pass it (GitLab
/// 18.9: `{"enabled": ["cannot be true: a project can have at most 10 enabled push mirrors"]}`).
fn limit_errors(limit: Limit) -> BTreeMap<String, Vec<String>> {
    let field = match limit {
        Limit::EnabledMirrors(_) => "enabled",
        Limit::LfsBatchObjects(_) | Limit::LfsProjectSize(_) => "base",
    };
    BTreeMap::from([(field.to_owned(), vec![format!("cannot be true: {limit}")])])
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(resource) => ApiError::NotFound(resource_name(resource)),
            ServiceError::RecordNotFound => ApiError::RecordNotFound,
            ServiceError::Unauthenticated => ApiError::Unauthorized,
            ServiceError::Forbidden => ApiError::Forbidden,
            ServiceError::Blocked => ApiError::Blocked,
            ServiceError::Invalid(errors) => ApiError::Validation(errors.0),
            ServiceError::InvalidMirror(errors) => {
                ApiError::Validation(errors.named(mirror_parameter).0)
            }
            ServiceError::LimitReached(limit) => ApiError::Validation(limit_errors(limit)),
            ServiceError::Conflict(taken) => ApiError::Conflict(taken_message(&taken)),
            ServiceError::Refused(why) => refusal(why),
            ServiceError::Store(e) => ApiError::Internal(e.to_string()),
            ServiceError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body): (StatusCode, Value) = match &self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"message": "401 Unauthorized"}),
            ),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, json!({"message": "403 Forbidden"})),
            ApiError::Blocked => (StatusCode::FORBIDDEN, json!({"message": self.to_string()})),
            ApiError::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                json!({
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than provided by the access token.",
                    "scope": scope,
                }),
            ),
            ApiError::NotFound(_) | ApiError::NotFoundPlain | ApiError::RecordNotFound => {
                (StatusCode::NOT_FOUND, json!({"message": self.to_string()}))
            }
            ApiError::NoRoute => (StatusCode::NOT_FOUND, json!({"error": "404 Not Found"})),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"message": "405 Method Not Allowed"}),
            ),
            ApiError::Param(m) => (StatusCode::BAD_REQUEST, json!({"error": m})),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({"message": m})),
            ApiError::Validation(map) => (StatusCode::BAD_REQUEST, json!({"message": map})),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, json!({"message": m})),
            ApiError::Rejected(m) => (StatusCode::UNPROCESSABLE_ENTITY, json!({"message": m})),
            ApiError::Unprocessable(list) => {
                (StatusCode::UNPROCESSABLE_ENTITY, json!({"message": list}))
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": "500 Internal Server Error"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::errors::FieldErrors;

    #[test]
    fn field_errors_print_as_ruby_hashes() {
        let mut e = FieldErrors::one("path", "has already been taken");
        e.add("name", r#"can't be "blank""#);
        e.add("name", "is too long");
        assert_eq!(
            ruby_inspect(&e),
            r#"{:name=>["can't be \"blank\"", "is too long"], :path=>["has already been taken"]}"#
        );
        assert_eq!(ruby_inspect(&FieldErrors::default()), "{}");
    }
}
