//! Hosting over git's smart HTTP protocol: `GET /<namespace>/<project>.git/info/refs?service=…`
//! and `POST /<namespace>/<project>.git/git-upload-pack|git-receive-pack`, as `git http-backend`
//! and GitLab Workhorse serve them; the namespace is a user's or a group's at any depth
//! (`/org/team/sub/project.git`). The router's fallback reads the path ([`super::path`]) and
//! hands [`serve`] the project and the endpoint.
//!
//! Callers authenticate as [`GitCaller`] reads them. Clone and fetch need
//! [`Caller::can_read_code`]; push needs [`Caller::can_push`], and the push itself is a
//! [`PushSession`]: begun from the command list at the head of the receive-pack request
//! ([`crate::git::protocol::pktline`]) before git starts (protected branches, the archived rule,
//! the durable intent), finished once git exited (the recording). A refused push gets a report-status answer, so git
//! prints its usual `[remote rejected] … (pre-receive hook declined)` lines and GitLab's reason.
//!
//! Invariant: git runs only through [`crate::git::service`], and request and response bodies are
//! streamed; no pack is held in memory.

use crate::storage::LocalRepo;
use std::io::Cursor;
use std::pin::Pin;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use super::auth::{CallerRefusal, GitCaller};
use super::path::Smart;
use crate::git::protocol::pktline::{read_command_list, CommandList};
use crate::git::service::{GitStream, Service};
use crate::http::AppState;
use crate::model::access::Caller;
use crate::model::entities::{Project, User};
use crate::model::tokens::Use;
use crate::service::error::ServiceError;
use crate::service::projects::find_project;
use crate::service::push_session::{refusal_report, Begun, Origin, PushSession, RefChange};

/// Longest `Git-Protocol` header passed on to git; real values are a few bytes (`version=2`).
const MAX_GIT_PROTOCOL: usize = 256;

/// A smart-HTTP failure. git shows `text/plain` bodies to the user as `remote:` lines.
#[derive(Debug)]
enum GitHttpError {
    /// 401 with a Basic challenge, so git asks its credential helper (or the user).
    Unauthorized,
    Forbidden(&'static str),
    NotFound,
    BadRequest(String),
    UnsupportedMediaType,
    MethodNotAllowed,
    Internal(String),
}

impl From<crate::store::StoreError> for GitHttpError {
    fn from(e: crate::store::StoreError) -> Self {
        GitHttpError::Internal(e.to_string())
    }
}

impl IntoResponse for GitHttpError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            GitHttpError::Unauthorized => {
                let mut r = text(StatusCode::UNAUTHORIZED, "HTTP Basic: Access denied.");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"pushmirror\""),
                );
                return r;
            }
            GitHttpError::Forbidden(m) => (StatusCode::FORBIDDEN, m.to_owned()),
            GitHttpError::NotFound => (
                StatusCode::NOT_FOUND,
                "The project you were looking for could not be found.".to_owned(),
            ),
            GitHttpError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            GitHttpError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported content type or encoding.".to_owned(),
            ),
            GitHttpError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed.".to_owned(),
            ),
            GitHttpError::Internal(cause) => {
                tracing::error!(%cause, "git request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error.".to_owned(),
                )
            }
        };
        text(status, &message)
    }
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

impl From<CallerRefusal> for GitHttpError {
    fn from(refusal: CallerRefusal) -> Self {
        match refusal {
            CallerRefusal::BadCredentials => GitHttpError::Unauthorized,
            CallerRefusal::Blocked => GitHttpError::Forbidden("Your account has been blocked."),
            CallerRefusal::Scope => {
                GitHttpError::Forbidden("The token's scopes do not allow this git operation.")
            }
            CallerRefusal::Internal(cause) => GitHttpError::Internal(cause),
        }
    }
}

// GET /<namespace>/<project>.git/info/refs, POST /<namespace>/<project>.git/git-*-pack
/// Serves `endpoint` of the project at `full_path` (`namespace/project`).
pub(in crate::http) async fn serve(
    state: &AppState,
    full_path: &str,
    endpoint: Smart,
    request: Request,
) -> Response {
    match handle(state, full_path, endpoint, request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    full_path: &str,
    endpoint: Smart,
    request: Request,
) -> Result<Response, GitHttpError> {
    let (mut parts, body) = request.into_parts();
    let (service, advertise) = match endpoint {
        Smart::InfoRefs if parts.method == Method::GET => {
            let service = parts
                .uri
                .query()
                .and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "service")
                        .and_then(|(_, v)| Service::parse(&v))
                })
                .ok_or_else(|| {
                    GitHttpError::BadRequest("Only git's smart HTTP protocol is supported.".into())
                })?;
            (service, true)
        }
        Smart::Rpc(service) if parts.method == Method::POST => (service, false),
        _ => return Err(GitHttpError::MethodNotAllowed),
    };
    let caller = GitCaller::<GitHttpError>::from_request_parts(&mut parts, state).await?;
    let user = caller.user_for(match service {
        Service::UploadPack => Use::Fetch,
        Service::ReceivePack => Use::Push,
    })?;
    let (project, caller) = authorize(state, full_path, user.as_ref(), service).await?;
    let Ok(repo) = state.storages.open(&project.repo()) else {
        return Err(GitHttpError::NotFound);
    };
    if !repo.path().is_dir() {
        return Err(GitHttpError::NotFound);
    }
    let protocol = git_protocol(&parts.headers, service);
    if advertise {
        return advertise_refs(state, &repo, service, protocol.as_deref());
    }
    let expected = format!("application/x-{}-request", service.name());
    if parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return Err(GitHttpError::UnsupportedMediaType);
    }
    let input = request_reader(&parts.headers, body)?;
    match service {
        Service::UploadPack => upload_pack(state, &repo, protocol.as_deref(), input),
        Service::ReceivePack => receive_pack(state, &project, caller, &repo, input).await,
    }
}

/// Finds the project and checks the caller may use `service` on it. Anonymous callers are asked
/// to authenticate wherever an authenticated one might get further.
async fn authorize(
    state: &AppState,
    full_path: &str,
    user: Option<&User>,
    service: Service,
) -> Result<(Project, Caller), GitHttpError> {
    let (project, caller) = match find_project(state, full_path, user).await {
        Ok(found) => found,
        Err(ServiceError::Unauthenticated) => return Err(GitHttpError::Unauthorized),
        Err(ServiceError::NotFound(_)) => return Err(GitHttpError::NotFound),
        Err(e) => return Err(GitHttpError::Internal(e.to_string())),
    };
    let allowed = match service {
        Service::UploadPack => caller.can_read_code(project.visibility),
        Service::ReceivePack => caller.can_push(),
    };
    if allowed {
        return Ok((project, caller));
    }
    if user.is_none() {
        return Err(GitHttpError::Unauthorized);
    }
    Err(GitHttpError::Forbidden(match service {
        Service::UploadPack => "You are not allowed to download code from this project.",
        Service::ReceivePack => "You are not allowed to push code to this project.",
    }))
}

/// The client's `Git-Protocol` header when it is safe to hand to git. Only upload-pack speaks
/// protocol v2; receive-pack gets nothing, as git's own client never asks it for more.
fn git_protocol(headers: &HeaderMap, service: Service) -> Option<String> {
    if service != Service::UploadPack {
        return None;
    }
    let value = headers.get("git-protocol")?.to_str().ok()?;
    let safe = !value.is_empty()
        && value.len() <= MAX_GIT_PROTOCOL
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b':' | b'.' | b'-' | b'_'));
    safe.then(|| value.to_owned())
}

fn is_v2(protocol: Option<&str>) -> bool {
    protocol.is_some_and(|p| p.split(':').any(|e| e == "version=2"))
}

/// The request body as one reader, gunzipped as it streams when the client compressed it.
fn request_reader(
    headers: &HeaderMap,
    body: Body,
) -> Result<Pin<Box<dyn AsyncRead + Send>>, GitHttpError> {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = StreamReader::new(stream);
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or_default().trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => Ok(Box::pin(reader)),
        Some("gzip") | Some("x-gzip") => Ok(Box::pin(
            async_compression::tokio::bufread::GzipDecoder::new(reader),
        )),
        Some(_) => Err(GitHttpError::UnsupportedMediaType),
    }
}

fn no_cache(mut response: Response, content_type: String) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, max-age=0, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::EXPIRES,
        HeaderValue::from_static("Fri, 01 Jan 1980 00:00:00 GMT"),
    );
    response
}

// GET /:namespace/:project.git/info/refs?service=git-upload-pack|git-receive-pack
fn advertise_refs(
    state: &AppState,
    repo: &LocalRepo,
    service: Service,
    protocol: Option<&str>,
) -> Result<Response, GitHttpError> {
    // For protocol v2 git's own output is the whole answer; v0/v1 clients expect the service
    // announcement first, exactly as `git http-backend` writes it.
    let prefix = (!is_v2(protocol)).then(|| {
        let line = format!("# service={}\n", service.name());
        Bytes::from(format!("{:04x}{line}0000", line.len() + 4))
    });
    let mut cmd = state
        .git
        .command(Some(repo), service.subcommand())
        .args(["--stateless-rpc", "--advertise-refs"])
        .args([repo.path().as_os_str()]);
    if let Some(p) = protocol {
        cmd = cmd.env("GIT_PROTOCOL", p);
    }
    let stream = crate::git::service::serve(
        &state.shutdown,
        cmd,
        tokio::io::empty(),
        prefix,
        state.git.timeout(),
    )
    .map_err(|e| GitHttpError::Internal(e.to_string()))?;
    Ok(streamed(
        stream,
        format!("application/x-{}-advertisement", service.name()),
    ))
}

/// git's output as the response body, with the headers of `git http-backend`. How git ended
/// matters to nobody here: its supervisor logged it.
fn streamed(stream: GitStream, content_type: String) -> Response {
    no_cache(
        Body::from_stream(stream.stdout).into_response(),
        content_type,
    )
}

// POST /:namespace/:project.git/git-upload-pack
fn upload_pack(
    state: &AppState,
    repo: &LocalRepo,
    protocol: Option<&str>,
    input: impl AsyncRead + Send + Unpin + 'static,
) -> Result<Response, GitHttpError> {
    let service = Service::UploadPack;
    let mut cmd = state
        .git
        .command(Some(repo), service.subcommand())
        .args(["--stateless-rpc"])
        .args([repo.path().as_os_str()]);
    if let Some(p) = protocol {
        cmd = cmd.env("GIT_PROTOCOL", p);
    }
    let stream = crate::git::service::serve(&state.shutdown, cmd, input, None, state.git.timeout())
        .map_err(|e| GitHttpError::Internal(e.to_string()))?;
    Ok(streamed(
        stream,
        format!("application/x-{}-result", service.name()),
    ))
}

// POST /:namespace/:project.git/git-receive-pack
async fn receive_pack(
    state: &AppState,
    project: &Project,
    caller: Caller,
    repo: &LocalRepo,
    mut input: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<Response, GitHttpError> {
    let list = read_command_list(&mut input)
        .await
        .map_err(|e| GitHttpError::BadRequest(e.to_string()))?;
    let change = RefChange {
        origin: Origin::HttpPush,
        pusher: caller.user_id,
        updates: list.updates.clone(),
    };
    let mut session = match PushSession::begin(state, project, caller, change).await? {
        Begun::Refused(refused) => return refuse(state, &list, &refused, input).await,
        Begun::Accepted(session) => session,
    };
    let input = Cursor::new(list.raw).chain(input);
    let cmd = session
        .receive_pack(state, repo)
        .map_err(|e| GitHttpError::Internal(e.to_string()))?
        .args(["--stateless-rpc"])
        .args([repo.path().as_os_str()]);
    let stream =
        match crate::git::service::serve(&state.shutdown, cmd, input, None, state.git.timeout()) {
            Ok(stream) => stream,
            Err(e) => {
                // Nothing moved; the intent, if any, is recorded by its job (it finds no change).
                return Err(GitHttpError::Internal(e.to_string()));
            }
        };
    let GitStream { stdout, exit } = stream;
    let app = state.clone();
    state.shutdown.spawn(async move {
        session.finish_when(&app, exit).await;
    });
    Ok(no_cache(
        Body::from_stream(stdout).into_response(),
        format!("application/x-{}-result", Service::ReceivePack.name()),
    ))
}

/// Answers a refused push without starting git. The whole push is refused, as GitLab's
/// pre-receive check does; the rest of the body is read and dropped first, because git sends the
/// whole pack before it reads the answer and would otherwise see a broken connection.
async fn refuse(
    state: &AppState,
    list: &CommandList,
    refused: &[(String, &'static str)],
    mut input: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<Response, GitHttpError> {
    let (_, first_reason) = refused[0];
    if !list.wants_report() {
        return Err(GitHttpError::Forbidden(first_reason));
    }
    let mut sink = tokio::io::sink();
    let drain = tokio::io::copy(&mut input, &mut sink);
    if tokio::time::timeout(state.git.timeout(), drain)
        .await
        .is_err()
    {
        tracing::info!("refused push: the client did not finish sending within the deadline");
    }
    let body = refusal_report(list, refused);
    Ok(no_cache(
        Body::from(body).into_response(),
        format!("application/x-{}-result", Service::ReceivePack.name()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_only_safe_protocol_headers_to_upload_pack() {
        let mut h = HeaderMap::new();
        h.insert("git-protocol", HeaderValue::from_static("version=2"));
        assert_eq!(
            git_protocol(&h, Service::UploadPack).as_deref(),
            Some("version=2")
        );
        assert_eq!(git_protocol(&h, Service::ReceivePack), None);
        assert!(is_v2(Some("version=1:version=2")));
        assert!(!is_v2(Some("version=1")));
        h.insert("git-protocol", HeaderValue::from_static("version=2 x;y"));
        assert_eq!(git_protocol(&h, Service::UploadPack), None);
    }
}
