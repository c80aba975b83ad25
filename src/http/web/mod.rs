//! The web interface for people: server-rendered HTML (maud templates compiled into the binary)
//! at GitLab's paths, so habits and bookmarks carry over. Every form works without JavaScript;
//! the script served beside the stylesheet only adds live updates, copy buttons and
//! confirmations. Pages read and change through the same services as `/api/v4`, so a page
//! shows and allows exactly what the API would for the same person; nobody sees a credential.
//!
//! `session.rs` signs people in and checks every form's CSRF token; `layout.rs` the shared page
//! shell; `assets.rs` the stylesheet and script; `error.rs` failures as pages; one module per
//! screen. Pages under a project (`/<namespace>/<project>` and `/<namespace>/<project>/-/…`)
//! cannot be axum routes (a namespace has any number of segments): the router's fallback
//! recognises them (`http::git::path`) and hands them to [`ProjectPages`] (the routes of
//! `project_router`) with the project's path as a [`ProjectPath`] extension.

mod admin;
mod assets;
mod dashboard;
mod error;
mod form_errors;
mod groups;
mod hooks;
mod import;
mod layout;
mod live;
mod members;
mod new_group;
mod new_project;
mod pagination;
mod paths;
mod project;
mod project_list;
mod pull_mirrors;
mod session;
mod settings;
mod sign_in;
mod ssh_keys;
mod stream_url;
mod tokens;

use axum::extract::Request;
use axum::http::header::ACCEPT;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

pub(super) use error::not_found_page;

use super::AppState;

/// The full path of the project a project page is about (`group/sub/app`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::http) struct ProjectPath(pub String);

/// The interface's pages at fixed paths.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/-/assets/{file}",
            axum::routing::get(
                |axum::extract::Path(file): axum::extract::Path<String>| async move {
                    assets::serve(&file).unwrap_or_else(error::not_found_page)
                },
            ),
        )
        .merge(sign_in::router())
        .merge(tokens::router())
        .merge(ssh_keys::router())
        .merge(admin::router())
        .merge(dashboard::router())
        .merge(live::router())
        .merge(project_list::router())
        .merge(new_project::router())
        .merge(groups::router())
        .merge(new_group::router())
}

/// The pages of one project, at paths relative to the project (`/` is the project's page,
/// `/-/settings/repository` its repository settings).
fn project_router() -> Router<AppState> {
    Router::new()
        .merge(project::router())
        .merge(settings::router())
        .merge(members::router())
        .merge(hooks::router())
        .merge(import::router())
}

/// The project pages, ready to serve (built once, when the application is).
#[derive(Clone)]
pub(super) struct ProjectPages(Router);

impl ProjectPages {
    pub(super) fn new(state: AppState) -> ProjectPages {
        let mut router = project_router();
        if router.has_routes() {
            router = router.route_layer(axum::middleware::from_fn(
                super::monitoring::label_project_route,
            ));
        }
        ProjectPages(
            router
                .fallback(|request: Request| async move { not_found(&request) })
                .with_state(state),
        )
    }

    /// Serves a project page: the request's path becomes the page's path below the project.
    /// Pages are for browsers: a GET that does not accept HTML (an API client, a script
    /// probing a path) gets GitLab's JSON 404, as any path outside the API does.
    pub(super) async fn serve(
        &self,
        project: String,
        rest: String,
        mut request: Request,
    ) -> Response {
        let reads = matches!(
            *request.method(),
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        if reads && !wants_html(&request) {
            return not_found(&request);
        }
        let query = request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let Ok(uri) = format!("{rest}{query}").parse() else {
            return not_found(&request);
        };
        *request.uri_mut() = uri;
        request.extensions_mut().insert(ProjectPath(project));
        match self.0.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}

/// Whether the client is a browser asking for a page.
pub(super) fn wants_html(request: &Request) -> bool {
    request
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// A 404 in the client's language: an HTML page for browsers, GitLab's JSON for API clients.
pub(super) fn not_found(request: &Request) -> Response {
    if wants_html(request) {
        not_found_page()
    } else {
        super::api::gitlab::error::ApiError::NoRoute.into_response()
    }
}
