//! The Gitea-compatible `/api/v1` (Gitea 1.22+ and Forgejo shapes), beside GitLab's `/api/v4`:
//! a repository (`repos.rs`), its push mirrors (`push_mirrors.rs`) and migration as an import
//! (`migrate.rs`). Its own caller
//! extraction (`auth.rs`: Gitea's ways of sending the same personal access tokens), its own
//! error JSON (`error.rs`, the only place a `ServiceError` becomes Gitea's `{"message", "url"}`),
//! its own entities (`views.rs`) and OpenAPI document (`openapi.rs`, served at
//! `/api/v1/swagger.v1.json`). The rules are the services', shared with every other face.

pub(in crate::http) mod auth;
pub(in crate::http) mod error;
mod migrate;
mod openapi;
mod push_mirrors;
mod repos;
mod views;

use axum::Router;

use crate::http::AppState;
use error::GiteaError;

/// The routes of `/api/v1` and the OpenAPI document collected from them.
pub(in crate::http) fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, api) = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::base())
        .merge(repos::router())
        .merge(push_mirrors::router())
        .merge(migrate::router())
        .split_for_parts();
    (router, openapi::finish(api))
}

/// What `/api/v1` answers for a path it has no route for, and for a method a route lacks.
pub(in crate::http) fn fallbacks(router: Router<AppState>) -> Router<AppState> {
    router
        .fallback(|| async { GiteaError::NotFound })
        .method_not_allowed_fallback(|| async { GiteaError::MethodNotAllowed })
}
