//! The use cases, callable from the API today and from the web interface and job kinds next:
//! each takes typed input and returns domain values or a typed [`ServiceError`]. No HTTP types
//! here; handlers extract, authorise, call a service and render its result.

pub mod auth;
pub mod pushes;

use std::collections::BTreeMap;

use crate::store::StoreError;

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input broke field rules: field → messages (GitLab's `{"message": {field: [...]}}`).
    #[error("validation failed: {0:?}")]
    Validation(BTreeMap<String, Vec<String>>),
    /// The request cannot be carried out as asked (GitLab's 400 with a message).
    #[error("{0}")]
    Refused(String),
    /// What it names does not exist.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something on our side broke (a credential that cannot be opened, git failing).
    #[error("{0}")]
    Internal(String),
}
