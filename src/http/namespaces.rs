//! `/namespaces`: the caller's own namespace and the groups they belong to (every namespace for
//! an admin), and one namespace by id or full path, in GitLab's `Namespace` shape.

use axum::extract::{OriginalUri, Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::CurrentUser;
use super::error::ApiError;
use super::pagination::page_request;
use super::params::Params;
use super::{views, AppState};
use crate::service::auth::today;
use crate::service::namespaces::find_namespace;
use crate::store::Viewer;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/namespaces", get(list))
        .route("/namespaces/{id}", get(show))
}

// GET /namespaces
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let flag =
        |key: &str| -> Result<bool, ApiError> { Ok(params.bool(key)?.flatten().unwrap_or(false)) };
    let today = today(&state);
    let viewer = Viewer {
        user_id: Some(user.id),
        is_admin: user.is_admin,
        today: &today,
    };
    let search = params.string("search")?.flatten();
    let paged = state
        .store
        .namespaces_for(
            viewer,
            flag("owned_only")?,
            flag("top_level_only")?,
            search.as_deref(),
            page,
        )
        .await?;
    let items: Vec<Value> = paged
        .items
        .iter()
        .map(|n| views::namespace(n, None, &state.external_url))
        .collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

// GET /namespaces/:id
async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
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
