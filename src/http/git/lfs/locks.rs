//! Git LFS file locking (`…/info/lfs/locks…`,
//! <https://github.com/git-lfs/git-lfs/blob/main/docs/api/locking.md>): the hook point the LFS
//! dispatch hands every `locks` sub-path to. Not served yet: every such path answers a git-lfs
//! 404.

use axum::extract::Request;
use axum::response::Response;

use super::error::{request_id, LfsError};
use crate::http::AppState;

// GET/POST /<project>.git/info/lfs/locks…
/// Answers the locking API's `rest` (the path below `info/lfs/`, starting with `locks`) for the
/// project at `full_path`.
pub(in crate::http) async fn handle(
    _state: &AppState,
    _full_path: &str,
    _rest: &str,
    request: Request,
) -> Response {
    LfsError::not_found().respond(&request_id(request.extensions()))
}
