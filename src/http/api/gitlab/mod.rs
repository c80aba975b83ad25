//! GitLab's `/api/v4` (one module per resource, each exposing `router()`). Handlers extract,
//! check permissions, call a service (or the store for plain reads) and convert domain values to
//! GitLab JSON through [`views`]; errors become GitLab's JSON through [`error`], and the routes
//! document themselves into the OpenAPI document [`openapi`] finishes.

mod choices;
mod deploy_keys;
pub(in crate::http) mod error;
mod groups;
mod hooks;
mod keys;
mod members;
mod namespaces;
pub(in crate::http) mod openapi;
mod pagination;
pub(in crate::http) mod params;
mod projects;
mod protected_branches;
pub(in crate::http) mod pull_mirror;
pub(in crate::http) mod remote_mirrors;
mod repository;
mod tokens;
mod users;
pub(in crate::http) mod views;

use utoipa_axum::router::OpenApiRouter;

use crate::http::AppState;

/// The GitLab resources' routes, documented on top of the document's base; `http` adds the
/// routes served from elsewhere and finishes the document with [`openapi::finish`].
pub(in crate::http) fn resources() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(users::router())
        .merge(projects::router())
        .merge(groups::router())
        .merge(namespaces::router())
        .merge(members::router())
        .merge(protected_branches::router())
        .merge(remote_mirrors::router())
        .merge(pull_mirror::router())
        .merge(hooks::router())
        .merge(repository::router())
        .merge(tokens::router())
        .merge(keys::router())
        .merge(deploy_keys::router())
}

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
}
