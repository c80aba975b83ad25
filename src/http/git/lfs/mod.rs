//! Git LFS over HTTP, below a project's `…/info/lfs/` (with or without `.git`): the batch API
//! (`objects/batch`, [`batch`]), the transfers it hands out (`objects/<oid>` and its `verify`,
//! [`transfer`]), and file locking (`locks…`, [`locks`]). [`serve`] dispatches on the path
//! below `info/lfs/`; every failure is a git-lfs JSON error ([`error`]).

pub(in crate::http) mod batch;
pub(in crate::http) mod error;
pub(in crate::http) mod locks;
pub(in crate::http) mod transfer;

use axum::extract::Request;
use axum::response::Response;

use crate::http::AppState;
use error::{request_id, LfsError};
use transfer::Transfer;

// /<project>.git/info/lfs/<rest>
/// Serves `rest`, the path below `info/lfs/`, for the project at `full_path`.
pub(in crate::http) async fn serve(
    state: &AppState,
    full_path: &str,
    rest: &str,
    request: Request,
) -> Response {
    if rest == "locks" || rest.starts_with("locks/") {
        return locks::handle(state, full_path, rest, request).await;
    }
    let id = request_id(request.extensions());
    let answered = if rest == "objects/batch" {
        batch::handle(state, full_path, request).await
    } else if let Some(transfer) = Transfer::parse(rest) {
        transfer::handle(state, transfer, request).await
    } else {
        Err(LfsError::not_found())
    };
    answered.unwrap_or_else(|e| e.respond(&id))
}
