//! The HTTP edge, composed of its faces: the JSON APIs (`api::gitlab`, GitLab's `/api/v4`, and
//! `api::gitea`, the Gitea-compatible `/api/v1`), the git endpoints (`git`: the one reading of a path that names a
//! project, and git's smart HTTP), the web pages (`web`) and the operations endpoints
//! (`monitoring`). Each face converts domain values to its own wire shapes and maps service
//! errors at its own edge; nothing below this layer knows about HTTP, and nothing imports it.

mod api;
mod auth;
mod git;
mod monitoring;
mod ssh_host_keys;
mod web;

use axum::Router;

pub use crate::app::AppState;
use api::gitlab::error::ApiError;
use api::gitlab::{self, openapi};

impl AppState {
    /// Now, from the server's clock.
    pub fn now_ms(&self) -> crate::model::entities::Millis {
        self.clock.now_ms()
    }
}

/// Refuses, before routing, a path whose percent-decoded bytes are not UTF-8 or hold a NUL:
/// no route or repository can be named so, and without this the path extractor would answer in
/// plain text and PostgreSQL would fail on the NUL.
async fn refuse_malformed_path(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(request.uri().path()).collect();
    match std::str::from_utf8(&decoded) {
        Ok(path) if !path.contains('\0') => next.run(request).await,
        _ => ApiError::Param("the path is invalid: it must be UTF-8 without NUL characters".into())
            .into_response(),
    }
}

/// Everything outside `/api/v4` and the fixed web paths, read once as (project, endpoint):
/// smart HTTP, git LFS, GitLab's host-key detection web route, a project's web pages, else a 404 (a page
/// for browsers, JSON for the rest).
async fn outside_api(
    state: AppState,
    pages: web::ProjectPages,
    request: axum::extract::Request,
) -> axum::response::Response {
    use git::path::{Endpoint, RepoRequest};
    let Some(target) = RepoRequest::parse(request.uri().path()) else {
        return web::not_found(&request);
    };
    match target.endpoint {
        Endpoint::Smart(endpoint) => {
            git::smart::serve(&state, &target.project, endpoint, request).await
        }
        Endpoint::HostKeys => ssh_host_keys::web(state, target.project, request).await,
        Endpoint::Pages(rest) => pages.serve(target.project, rest, request).await,
        Endpoint::Lfs(rest) => git::lfs::serve(&state, &target.project, &rest, request).await,
    }
}

/// `/api/v4`'s routes and the OpenAPI document collected from them as they are registered.
fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, api) = gitlab::resources()
        .merge(ssh_host_keys::router())
        .split_for_parts();
    (router, openapi::finish(api))
}

/// The OpenAPI document of `/api/v4` as `/api/v4/openapi.json` serves it (pretty JSON).
pub fn openapi_json() -> String {
    openapi::Document::new(&api_routes().1).text().to_owned()
}

/// The OpenAPI document of the Gitea-compatible `/api/v1` as `/api/v1/swagger.v1.json` serves it.
pub fn gitea_openapi_json() -> String {
    openapi::Document::new(&api::gitea::routes().1)
        .text()
        .to_owned()
}

/// `/api/v1`'s routes with its document at `/swagger.v1.json`, Gitea's path.
fn gitea_api() -> Router<AppState> {
    let (routes, api) = api::gitea::routes();
    let document = openapi::Document::new(&api);
    let routes = routes
        .route(
            "/swagger.v1.json",
            axum::routing::get(move || async move { document.response() }),
        )
        .route_layer(axum::middleware::from_fn(monitoring::label_route));
    api::gitea::fallbacks(routes)
}

/// The complete HTTP application.
pub fn app(state: AppState) -> Router {
    let (routes, api) = api_routes();
    let document = openapi::Document::new(&api);
    let pages = web::ProjectPages::new(state.clone());
    let api = routes
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { document.response() }),
        )
        .route_layer(axum::middleware::from_fn(monitoring::label_route))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    Router::new()
        .nest("/api/v4", api)
        .nest("/api/v1", gitea_api())
        .merge(monitoring::router().route_layer(axum::middleware::from_fn(monitoring::label_route)))
        .merge(web::router().route_layer(axum::middleware::from_fn(monitoring::label_route)))
        // Smart HTTP paths (`/<namespace>/<project>.git/…`, the namespace a user's or a group's
        // at any depth) and GitLab's web route for host-key detection
        // (`/<namespace>/<project>/-/mirror/…`) cannot be expressed as axum routes (a namespace
        // has any number of segments), nor can a project's web pages; the fallback recognises
        // them and answers everything else with a 404.
        .fallback(
            move |axum::extract::State(state): axum::extract::State<AppState>, request| {
                outside_api(state, pages.clone(), request)
            },
        )
        .layer(axum::middleware::from_fn(refuse_malformed_path))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            monitoring::observe,
        ))
        .with_state(state)
}
