//! Git LFS file locking (`…/info/lfs/locks…`), the locking API of git-lfs
//! (<https://github.com/git-lfs/git-lfs/blob/main/docs/api/locking.md>) as GitLab serves it
//! (`Repositories::LfsLocksApiController`):
//!
//! - `POST locks` `{path, ref?}` takes a lock: 201 `{lock}`, or 409 `{lock, message}` with the
//!   lock that holds the path;
//! - `GET locks?path&id&cursor&limit&refspec` lists them: `{locks, next_cursor?}`;
//! - `POST locks/verify` `{cursor?, limit?, ref?}` lists them for a push: `{ours, theirs,
//!   next_cursor?}`, `ours` the caller's;
//! - `POST locks/<id>/unlock` `{force?, ref?}` releases one: `{lock}`.
//!
//! Callers are [`GitCaller`]s, as for git itself: listing takes a token that may fetch and read
//! access to the code, the rest a token that may push and push access to a project that is not
//! archived. A lock is `{id, path, locked_at, owner: {name}}` with the id as a string and
//! `locked_at` in RFC 3339 to the second, as GitLab's `LfsFileLockEntity`. Every failure is a
//! git-lfs JSON error ([`LfsError`]); refusals that name a lock carry GitLab's words.

use axum::extract::{FromRequestParts, Request};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::{request_id, LfsError, LFS_MEDIA_TYPE};
use crate::http::git::auth::{ssh_token, CallerRefusal, GitCaller};
use crate::http::AppState;
use crate::model::access::Caller;
use crate::model::entities::{Project, User};
use crate::model::lfs_locks::{LfsLock, LockPage, PageError, UnlockRefusal};
use crate::model::tokens::Use;
use crate::service::error::ServiceError;
use crate::service::lfs::access::{token_caller, TokenCaller};
use crate::service::lfs::Operation;
use crate::service::lfs_locks::{self as locks, ListFilter, Unlocked};
use crate::service::projects::find_project;
use crate::store::LockTaken;

/// The largest request body read, in bytes: a lock request is a path of at most
/// [`crate::model::lfs_locks::MAX_PATH_BYTES`] and a ref name, a few KiB even fully escaped.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where a client reads about the locking API.
const DOCUMENTATION_URL: &str = "https://github.com/git-lfs/git-lfs/blob/main/docs/api/locking.md";

/// GitLab's message for a path that is locked already.
const ALREADY_LOCKED: &str = "already locked";

/// A route of the locking API.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    List,
    Create,
    Verify,
    Unlock(String),
}

impl Route {
    /// Reads `rest` (below `info/lfs/`) and the method; `Err(true)` for a known path with
    /// another method, `Err(false)` for no route.
    fn parse(method: &Method, rest: &str) -> Result<Route, bool> {
        let path_known = |r: Route, wanted: Method| {
            if *method == wanted {
                Ok(r)
            } else {
                Err(true)
            }
        };
        match rest.strip_prefix("locks").unwrap_or(rest) {
            "" | "/" if *method == Method::GET => Ok(Route::List),
            "" | "/" => path_known(Route::Create, Method::POST),
            "/verify" => path_known(Route::Verify, Method::POST),
            other => match other
                .strip_prefix('/')
                .and_then(|r| r.strip_suffix("/unlock"))
            {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    path_known(Route::Unlock(id.to_owned()), Method::POST)
                }
                _ => Err(false),
            },
        }
    }

    /// What the caller's token must allow.
    fn token_use(&self) -> Use {
        match self {
            Route::List => Use::Fetch,
            _ => Use::Push,
        }
    }
}

/// A lock as the wire shows it (GitLab's `LfsFileLockEntity`).
#[derive(Debug, Serialize)]
struct LockView {
    id: String,
    path: String,
    locked_at: String,
    owner: OwnerView,
}

#[derive(Debug, Serialize)]
struct OwnerView {
    name: String,
}

impl From<LfsLock> for LockView {
    fn from(lock: LfsLock) -> Self {
        LockView {
            id: lock.id.to_string(),
            path: lock.path,
            locked_at: locked_at(lock.created_at),
            owner: OwnerView {
                name: lock.owner_name,
            },
        }
    }
}

/// RFC 3339 to the second, in UTC, as GitLab writes `locked_at` (`2016-05-17T15:49:06Z`).
fn locked_at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn views(locks: Vec<LfsLock>) -> Vec<LockView> {
    locks.into_iter().map(LockView::from).collect()
}

#[derive(Debug, Serialize)]
struct OneLock {
    lock: LockView,
}

#[derive(Debug, Serialize)]
struct Conflict<'a> {
    lock: LockView,
    message: &'a str,
    documentation_url: &'a str,
    request_id: &'a str,
}

#[derive(Debug, Serialize)]
struct LockListView {
    locks: Vec<LockView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct VerifyView {
    ours: Vec<LockView>,
    theirs: Vec<LockView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// The `ref` object of a request; recorded when locking, otherwise only read past.
#[derive(Debug, Default, Deserialize)]
struct RefBody {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    path: Option<String>,
    #[serde(rename = "ref")]
    ref_: Option<RefBody>,
}

#[derive(Debug, Default, Deserialize)]
struct VerifyBody {
    cursor: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct UnlockBody {
    force: Option<bool>,
}

// GET/POST /<project>.git/info/lfs/locks…
/// Answers the locking API's `rest` (the path below `info/lfs/`, starting with `locks`) for the
/// project at `full_path`.
pub(in crate::http) async fn handle(
    state: &AppState,
    full_path: &str,
    rest: &str,
    request: Request,
) -> Response {
    let id = request_id(request.extensions());
    match serve(state, full_path, rest, request, &id).await {
        Ok(response) => response,
        Err(e) => e.respond(&id),
    }
}

async fn serve(
    state: &AppState,
    full_path: &str,
    rest: &str,
    request: Request,
    request_id: &str,
) -> Result<Response, LfsError> {
    let (mut parts, body) = request.into_parts();
    let route = match Route::parse(&parts.method, rest) {
        Ok(route) => route,
        Err(true) => return Err(LfsError::MethodNotAllowed),
        Err(false) => return Err(LfsError::not_found()),
    };
    let user = match ssh_token(&parts.headers) {
        // An SSH client's `git-lfs-authenticate` token: locks are a user's, so a deploy key's
        // token may not take or list them.
        Some(token) => match token_caller(state, full_path, token, Operation::Download).await {
            Ok(TokenCaller::User(user)) => Some(user),
            Ok(TokenCaller::DeployKey { .. }) => {
                return Err(service_error(ServiceError::Forbidden, true))
            }
            Err(e) => return Err(service_error(e, false)),
        },
        None => {
            let caller = GitCaller::<CallerError>::from_request_parts(&mut parts, state)
                .await
                .map_err(|e| e.0)?;
            caller.user_for(route.token_use()).map_err(|e| e.0)?
        }
    };
    let (project, caller) = admit(state, full_path, user.as_ref()).await?;
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| LfsError::TooLarge("The request body is too large".into()))?;
    let query = parts.uri.query().unwrap_or("");
    let answer = match route {
        Route::List => list(state, &project, &caller, query).await,
        Route::Create => create(state, &project, &caller, &body, request_id).await,
        Route::Verify => verify(state, &project, &caller, &body).await,
        Route::Unlock(id) => unlock(state, &project, &caller, &id, &body).await,
    };
    answer.map_err(|e| match e {
        Failure::Service(e) => service_error(e, user.is_some()),
        Failure::Lfs(e) => e,
    })
}

/// A refusal of the caller's credentials, as the extractor returns it: the [`LfsError`] is
/// taken out and answered with the request's id.
struct CallerError(LfsError);

impl From<CallerRefusal> for CallerError {
    fn from(refusal: CallerRefusal) -> Self {
        CallerError(refusal.into())
    }
}

impl IntoResponse for CallerError {
    fn into_response(self) -> Response {
        self.0.respond("")
    }
}

/// Finds the project as the caller sees it: unknown and hidden ones are 404, and an anonymous
/// caller of a project they cannot see is asked for credentials.
async fn admit(
    state: &AppState,
    full_path: &str,
    user: Option<&User>,
) -> Result<(Project, Caller), LfsError> {
    find_project(state, full_path, user)
        .await
        .map_err(|e| service_error(e, user.is_some()))
}

/// Why a route failed: in the domain's words, or already the face's.
enum Failure {
    Service(ServiceError),
    Lfs(LfsError),
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        Failure::Service(e)
    }
}

impl From<LfsError> for Failure {
    fn from(e: LfsError) -> Self {
        Failure::Lfs(e)
    }
}

/// The git-lfs status of a use case's failure: the LFS face's mapping, except that an anonymous
/// caller who may not do something is asked for credentials (git-lfs then asks its credential
/// helper), the missing record is a lock, and field errors read as GitLab's lock messages.
fn service_error(e: ServiceError, authenticated: bool) -> LfsError {
    match e {
        ServiceError::Forbidden if !authenticated => LfsError::Unauthorized,
        ServiceError::RecordNotFound => LfsError::NotFound("Lock not found".into()),
        ServiceError::Invalid(errors) => LfsError::Unprocessable(errors.full_messages().join(", ")),
        other => other.into(),
    }
}

/// A JSON response of the git-lfs media type.
fn json(status: StatusCode, body: &impl Serialize) -> Result<Response, Failure> {
    let text = serde_json::to_string(body).map_err(|e| LfsError::Internal(e.to_string()))?;
    Ok((status, [(header::CONTENT_TYPE, LFS_MEDIA_TYPE)], text).into_response())
}

/// Reads a JSON body; an empty one is `T::default()` where the API makes every field optional.
fn read_body<T: serde::de::DeserializeOwned>(body: &[u8], empty: Option<T>) -> Result<T, LfsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        if let Some(default) = empty {
            return Ok(default);
        }
    }
    serde_json::from_slice(body)
        .map_err(|e| LfsError::Unprocessable(format!("The request body is not valid: {e}")))
}

fn page_error(e: PageError) -> LfsError {
    LfsError::Unprocessable(
        match e {
            PageError::Cursor => "cursor is invalid",
            PageError::Limit => "limit must be a positive integer",
        }
        .into(),
    )
}

// GET /<project>.git/info/lfs/locks
async fn list(
    state: &AppState,
    project: &Project,
    caller: &Caller,
    query: &str,
) -> Result<Response, Failure> {
    let (mut path, mut id, mut cursor, mut limit) = (None, None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "path" => path = Some(value.into_owned()),
            "id" => id = Some(value.into_owned()),
            "cursor" => cursor = Some(value.into_owned()),
            "limit" if !value.is_empty() => {
                limit = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| page_error(PageError::Limit))?,
                )
            }
            // `refspec` names the branch the client works on; a lock holds its path on all.
            _ => {}
        }
    }
    let page = LockPage::parse(cursor.as_deref(), limit).map_err(page_error)?;
    let filter = ListFilter {
        path: path.as_deref(),
        id: id.as_deref(),
    };
    let found = locks::list(state, project, caller, filter, page).await?;
    json(
        StatusCode::OK,
        &LockListView {
            locks: views(found.locks),
            next_cursor: found.next_cursor.map(|c| c.to_string()),
        },
    )
}

// POST /<project>.git/info/lfs/locks
async fn create(
    state: &AppState,
    project: &Project,
    caller: &Caller,
    body: &[u8],
    request_id: &str,
) -> Result<Response, Failure> {
    let body: CreateBody = read_body(body, None)?;
    let path = body.path.unwrap_or_default();
    let ref_name = body.ref_.unwrap_or_default().name;
    match locks::lock(state, project, caller, &path, ref_name.as_deref()).await? {
        LockTaken::Created(lock) => json(StatusCode::CREATED, &OneLock { lock: lock.into() }),
        LockTaken::Exists(lock) => json(
            StatusCode::CONFLICT,
            &Conflict {
                lock: lock.into(),
                message: ALREADY_LOCKED,
                documentation_url: DOCUMENTATION_URL,
                request_id,
            },
        ),
    }
}

// POST /<project>.git/info/lfs/locks/verify
async fn verify(
    state: &AppState,
    project: &Project,
    caller: &Caller,
    body: &[u8],
) -> Result<Response, Failure> {
    let body: VerifyBody = read_body(body, Some(VerifyBody::default()))?;
    let page = LockPage::parse(body.cursor.as_deref(), body.limit).map_err(page_error)?;
    let found = locks::verify(state, project, caller, page).await?;
    json(
        StatusCode::OK,
        &VerifyView {
            ours: views(found.ours),
            theirs: views(found.theirs),
            next_cursor: found.next_cursor.map(|c| c.to_string()),
        },
    )
}

// POST /<project>.git/info/lfs/locks/:id/unlock
async fn unlock(
    state: &AppState,
    project: &Project,
    caller: &Caller,
    id: &str,
    body: &[u8],
) -> Result<Response, Failure> {
    let body: UnlockBody = read_body(body, Some(UnlockBody::default()))?;
    let force = body.force.unwrap_or(false);
    match locks::unlock(state, project, caller, id, force).await? {
        Unlocked::Released(lock) => json(StatusCode::OK, &OneLock { lock: lock.into() }),
        Unlocked::Refused(lock, refusal) => Err(LfsError::Forbidden(match refusal {
            UnlockRefusal::HeldByOther => {
                format!("{} is locked by GitLab User {}", lock.path, lock.user_id)
            }
            UnlockRefusal::ForceNeedsMaintainer => {
                "You must have maintainer access to force delete a lock".to_owned()
            }
        })
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = Method::GET;
        let post = Method::POST;
        for (method, rest, expected) in [
            (&get, "locks", Ok(Route::List)),
            (&post, "locks", Ok(Route::Create)),
            (&post, "locks/", Ok(Route::Create)),
            (&post, "locks/verify", Ok(Route::Verify)),
            (&post, "locks/12/unlock", Ok(Route::Unlock("12".into()))),
            (&post, "locks/x/unlock", Ok(Route::Unlock("x".into()))),
            (&get, "locks/verify", Err(true)),
            (&get, "locks/12/unlock", Err(true)),
            (&Method::DELETE, "locks", Err(true)),
            (&post, "locks//unlock", Err(false)),
            (&post, "locks/1/2/unlock", Err(false)),
            (&post, "locks/12", Err(false)),
            (&post, "lockss", Err(false)),
            (&get, "locks/verify/x", Err(false)),
        ] {
            assert_eq!(Route::parse(method, rest), expected, "{method} {rest}");
        }
    }

    #[test]
    fn locked_at_is_rfc3339_to_the_second() {
        assert_eq!(locked_at(1_463_500_146_789), "2016-05-17T15:49:06Z");
    }
}
