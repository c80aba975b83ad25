//! The HTTP edge: GitLab's `/api/v4` (one module per resource, each exposing `router()`).
//! Handlers extract, check permissions, call a service (or the store for plain reads) and
//! convert domain values to GitLab JSON through [`views`]; nothing below this layer knows about
//! HTTP, and nothing imports it. Outside `/api/v4`, [`git`] reads the paths that name a project and
//! hosts the repositories over git's smart HTTP.

mod auth;
mod error;
mod git;
mod groups;
mod hooks;
mod members;
mod monitoring;
mod namespaces;
mod openapi;
mod pagination;
mod params;
mod projects;
mod protected_branches;
mod remote_mirrors;
mod repository;
mod ssh_host_keys;
mod tokens;
mod users;
mod views;
mod web;

use axum::Router;

pub use crate::app::AppState;
use error::ApiError;

impl AppState {
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

    /// One page of a list read whole and already in order, each shown item rendered by
    /// `render`, with GitLab's pagination headers.
    pub fn page_of_list<T, R: serde::Serialize>(
        &self,
        uri: &axum::http::Uri,
        page: crate::store::PageRequest,
        list: &[T],
        render: impl FnMut(&T) -> R,
    ) -> axum::response::Response {
        let total = list.len() as i64;
        let start = usize::try_from(page.offset().min(total)).unwrap_or(usize::MAX);
        let shown: Vec<R> = list
            .iter()
            .skip(start)
            .take(usize::try_from(page.per_page).unwrap_or(usize::MAX))
            .map(render)
            .collect();
        self.page_response(uri, page, total, shown)
    }

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
/// smart HTTP, GitLab's host-key detection web route, a project's web pages, else a 404 (a page
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
        // Not served yet: answered as any path that names nothing.
        Endpoint::Lfs(_) => web::not_found(&request),
    }
}

/// `/api/v4`'s routes and the OpenAPI document collected from them as they are registered.
fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, api) = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::base())
        .merge(users::router())
        .merge(projects::router())
        .merge(groups::router())
        .merge(namespaces::router())
        .merge(members::router())
        .merge(protected_branches::router())
        .merge(remote_mirrors::router())
        .merge(hooks::router())
        .merge(repository::router())
        .merge(tokens::router())
        .merge(ssh_host_keys::router())
        .split_for_parts();
    (router, openapi::finish(api))
}

/// The OpenAPI document of `/api/v4` as `/api/v4/openapi.json` serves it (pretty JSON).
pub fn openapi_json() -> String {
    openapi::Document::new(&api_routes().1).text().to_owned()
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
