//! `/namespaces`: the caller's own namespace and the groups they belong to (every namespace for
//! an admin), and one namespace by id or full path, in GitLab's `Namespace` shape.

use axum::extract::{OriginalUri, Path, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::openapi::Pagination;
use super::pagination::page_request;
use super::params::{lenient, Params};
use super::{views, AppState};
use crate::http::auth::CurrentUser;
use crate::service::auth::today;
use crate::service::namespaces::find_namespace;
use crate::store::Viewer;

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
}

/// The `:id` of a namespace: its numeric id or its URL-encoded full path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: the handler takes the segment as a string
struct NamespaceId {
    /// The ID or URL-encoded full path of the namespace.
    id: String,
}

/// `GET /namespaces`' filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NamespaceListQuery {
    /// Only the caller's own namespace and the groups they are an Owner of (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    owned_only: Option<bool>,
    /// Only top-level namespaces (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    top_level_only: Option<bool>,
    /// Only namespaces whose name or own path contains this, case-insensitively.
    #[serde(default, deserialize_with = "lenient::string")]
    search: Option<String>,
}

/// List the caller's own namespace and the groups they are a member of (every one for an admin).
#[utoipa::path(get, path = "/namespaces", tag = "namespaces",
    params(NamespaceListQuery, Pagination),
    responses((status = 200, description = "The namespaces, paginated", body = Vec<views::NamespaceEntity>)))]
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let query: NamespaceListQuery = params.parse()?;
    let today = today(&state);
    let viewer = Viewer {
        user_id: Some(user.id),
        is_admin: user.is_admin,
        today: &today,
    };
    let paged = state
        .store
        .namespaces_for(
            viewer,
            query.owned_only.unwrap_or(false),
            query.top_level_only.unwrap_or(false),
            query.search.as_deref(),
            page,
        )
        .await?;
    let items: Vec<views::NamespaceEntity> = paged
        .items
        .iter()
        .map(|n| views::namespace(n, None, &state.external_url))
        .collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

/// Get one namespace the caller may see (with its member count for a group's Owners).
#[utoipa::path(get, path = "/namespaces/{id}", tag = "namespaces",
    params(NamespaceId),
    responses((status = 200, description = "The namespace", body = views::NamespaceEntity)))]
async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<views::NamespaceEntity>, ApiError> {
    let found = find_namespace(&state, &id, &user).await?;
    let members = match &found.group {
        Some(g) if found.caller.can_admin_group() => Some(
            state
                .store
                .members_count_with_descendants(g.id(), &today(&state))
                .await?,
        ),
        _ => None,
    };
    Ok(Json(views::namespace(
        &found.namespace,
        members,
        &state.external_url,
    )))
}
