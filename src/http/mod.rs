//! The HTTP edge: GitLab's `/api/v4` (one module per resource, each exposing `router()`), and the
//! shared [`AppState`] every handler receives. Handlers check permissions, call the store or the
//! engine, and convert domain values to GitLab JSON through [`views`]; nothing below this layer
//! knows about HTTP. Outside `/api/v4`, `git_http` hosts the repositories over git's smart HTTP.

pub mod auth;
pub mod error;
mod git_http;
mod members;
pub mod pagination;
pub mod params;
mod projects;
mod protected_branches;
mod remote_mirrors;
mod users;
pub mod views;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tokio::sync::Notify;

use crate::git::GitRunner;
use crate::model::url::NetworkPolicy;
use crate::secret::Cipher;
use crate::store::Store;
use error::ApiError;

/// Everything a handler may need. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

/// The shared parts of the server.
pub struct AppInner {
    /// The database.
    pub store: Store,
    /// Seals and opens mirror credentials.
    pub cipher: Cipher,
    /// Runs git (repository creation, smart HTTP, pushes).
    pub git: GitRunner,
    /// Where bare repositories live (`<id>.git`).
    pub repositories_dir: PathBuf,
    /// Base URL for links in responses, without trailing `/`.
    pub external_url: String,
    /// Which mirror destinations the operator allows.
    pub network_policy: NetworkPolicy,
    /// The data directory (engine state lives under it).
    pub data_dir: PathBuf,
    /// Engine tuning.
    pub engine: crate::config::EngineConfig,
    /// Recently authenticated tokens.
    pub token_cache: auth::TokenCache,
    /// Wakes the engine when an update was requested.
    pub engine_wakeup: Arc<Notify>,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// Wraps the shared parts.
    pub fn new(inner: AppInner) -> AppState {
        AppState(Arc::new(inner))
    }

    /// A paginated JSON list with GitLab's headers, its links built from the external URL.
    pub fn page_response(
        &self,
        uri: &axum::http::Uri,
        page: crate::store::PageRequest,
        total: i64,
        items: impl serde::Serialize,
    ) -> axum::response::Response {
        pagination::paginated(&self.external_url, uri, page, total, items)
    }

    /// The bare repository of a project.
    pub fn repository_path(&self, project_id: i64) -> PathBuf {
        self.repositories_dir.join(format!("{project_id}.git"))
    }
}

/// The complete HTTP application.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .merge(users::router())
        .merge(projects::router())
        .merge(members::router())
        .merge(protected_branches::router())
        .merge(remote_mirrors::router())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    Router::new()
        .nest("/api/v4", api)
        // Smart HTTP paths (`/<namespace>/<project>.git/…`) cannot be expressed as axum routes;
        // the fallback recognises them and answers everything else with the API's 404.
        .fallback(git_http::serve)
        .with_state(state)
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
