//! Hosting over git's smart HTTP protocol: `GET /<namespace>/<project>.git/info/refs?service=…`
//! and `POST /<namespace>/<project>.git/git-upload-pack|git-receive-pack`, as `git http-backend`
//! and GitLab Workhorse serve them; the namespace is a user's or a group's at any depth
//! (`/org/team/sub/project.git`). axum cannot route `{project}.git`, so [`serve`] is the app's
//! fallback and parses the path itself; anything else stays the API's JSON 404.
//!
//! Callers authenticate with HTTP Basic (any user name, a personal access token as password, so
//! GitLab's `oauth2:<token>` works), `PRIVATE-TOKEN` or a Bearer token. Clone and fetch need
//! [`Caller::can_read_code`]; push needs [`Caller::can_push`] and an unarchived project, and each
//! protected branch its rules (`model::push_rules`, judged by
//! [`crate::service::pushes::judge_push`] from the command list at the head of the receive-pack
//! request ([`pktline`]) before git starts; fast-forward-only refs are checked by the server's
//! pre-receive hook). A refused push gets a report-status answer, so git prints its usual
//! `[remote rejected] … (pre-receive hook declined)` lines and GitLab's reason. After git
//! accepted a push, [`crate::service::pushes::record_push`] records it and wakes the job runner;
//! before receive-pack starts, a push intent is made durable, so no accepted push is lost.
//!
//! Invariant: git is spawned only through [`crate::git`], and request and response bodies are
//! streamed ([`rpc`]); no pack is held in memory.

mod pktline;
mod rpc;

use std::io::Cursor;
use std::pin::Pin;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use super::auth::request_token;
use super::AppState;
use crate::git::Subcommand;
use crate::model::access::Caller;
use crate::model::entities::{Project, User};
use crate::model::tokens::{allows, Use};
use crate::service::auth::authenticate as authenticate_token;
use crate::service::error::ServiceError;
use crate::service::projects::{find_project, ARCHIVED_REFUSAL};
use crate::service::pushes::{
    judge_push, record_push_by, write_intent_with, IntentDetails, RefUpdate,
};
use pktline::{read_command_list, refusal_report, CommandList};

/// Longest `Git-Protocol` header passed on to git; real values are a few bytes (`version=2`).
const MAX_GIT_PROTOCOL: usize = 256;

/// The two services smart HTTP offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    fn parse(s: &str) -> Option<Service> {
        match s {
            "git-upload-pack" => Some(Service::UploadPack),
            "git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }

    fn subcommand(self) -> Subcommand {
        match self {
            Service::UploadPack => Subcommand::UploadPack,
            Service::ReceivePack => Subcommand::ReceivePack,
        }
    }
}

/// What a smart-HTTP path asks for.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint {
    InfoRefs,
    Rpc(Service),
}

/// The most path segments a repository's path has: a top-level group, the most subgroups below
/// it, and the project.
const MAX_SEGMENTS: usize = crate::model::groups::MAX_ANCESTORS + 2;

/// A parsed `/<namespace>/<project>.git/<endpoint>` path.
#[derive(Debug, PartialEq, Eq)]
struct GitPath {
    /// `namespace/project` (`org/team/project`), as [`find_project`] takes it.
    full_path: String,
    endpoint: Endpoint,
}

impl GitPath {
    fn parse(path: &str) -> Option<GitPath> {
        let (rest, endpoint) = [
            ("/info/refs", Endpoint::InfoRefs),
            ("/git-upload-pack", Endpoint::Rpc(Service::UploadPack)),
            ("/git-receive-pack", Endpoint::Rpc(Service::ReceivePack)),
        ]
        .into_iter()
        .find_map(|(suffix, e)| path.strip_suffix(suffix).map(|rest| (rest, e)))?;
        let full_path = rest.strip_prefix('/')?.strip_suffix(".git")?;
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        let segments = full_path.split('/').count();
        ((2..=MAX_SEGMENTS).contains(&segments) && full_path.split('/').all(segment_ok)).then(
            || GitPath {
                full_path: full_path.to_owned(),
                endpoint,
            },
        )
    }
}

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

/// Smart HTTP, when `request` is for a git endpoint of a repository
/// (`/<namespace>/<project>.git/…`); any other request comes back untouched.
pub(super) async fn serve(state: &AppState, request: Request) -> Result<Response, Request> {
    let Some(target) = GitPath::parse(request.uri().path()) else {
        return Err(request);
    };
    Ok(match handle(state, target, request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    })
}

async fn handle(
    state: &AppState,
    target: GitPath,
    request: Request,
) -> Result<Response, GitHttpError> {
    let (parts, body) = request.into_parts();
    let (service, advertise) = match target.endpoint {
        Endpoint::InfoRefs if parts.method == Method::GET => {
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
        Endpoint::Rpc(service) if parts.method == Method::POST => (service, false),
        _ => return Err(GitHttpError::MethodNotAllowed),
    };
    let user = authenticate(state, &parts, service).await?;
    let (project, caller) = authorize(state, &target.full_path, user.as_ref(), service).await?;
    let Ok(repo) = state.storages.open(&project.repo()) else {
        return Err(GitHttpError::NotFound);
    };
    let repo = repo.path().to_owned();
    if !repo.is_dir() {
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
        Service::UploadPack => rpc(state, &repo, service, protocol.as_deref(), input, None),
        Service::ReceivePack => receive_pack(state, &project, caller, &repo, input).await,
    }
}

/// The caller's user: `None` without credentials; 401 for credentials that match no active
/// token; 403 when the token's scopes do not cover `service` (fetching needs `read_repository`,
/// pushing `write_repository`, or `api` for either).
async fn authenticate(
    state: &AppState,
    parts: &Parts,
    service: Service,
) -> Result<Option<User>, GitHttpError> {
    let basic = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let token = match basic {
        Some(encoded) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| GitHttpError::Unauthorized)?;
            let decoded = String::from_utf8(decoded).map_err(|_| GitHttpError::Unauthorized)?;
            let (_user, password) = decoded.split_once(':').ok_or(GitHttpError::Unauthorized)?;
            Some(password.to_owned())
        }
        None => request_token(parts),
    };
    let Some(token) = token else {
        return Ok(None);
    };
    let auth = match authenticate_token(state, &token).await {
        Ok(Some(auth)) => auth,
        Ok(None) => return Err(GitHttpError::Unauthorized),
        Err(ServiceError::Blocked) => {
            return Err(GitHttpError::Forbidden("Your account has been blocked."))
        }
        Err(e) => return Err(GitHttpError::Internal(e.to_string())),
    };
    let use_ = match service {
        Service::UploadPack => Use::Fetch,
        Service::ReceivePack => Use::Push,
    };
    if !allows(&auth.token.scopes, use_) {
        return Err(GitHttpError::Forbidden(
            "The token's scopes do not allow this git operation.",
        ));
    }
    Ok(Some(auth.user))
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
    repo: &std::path::Path,
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
        .args([repo.as_os_str()]);
    if let Some(p) = protocol {
        cmd = cmd.env("GIT_PROTOCOL", p);
    }
    let body = rpc::stream(
        &state.shutdown,
        cmd,
        tokio::io::empty(),
        prefix,
        state.git.timeout(),
        None,
    )
    .map_err(|e| GitHttpError::Internal(e.to_string()))?;
    Ok(no_cache(
        body.into_response(),
        format!("application/x-{}-advertisement", service.name()),
    ))
}

// POST /:namespace/:project.git/git-upload-pack
fn rpc(
    state: &AppState,
    repo: &std::path::Path,
    service: Service,
    protocol: Option<&str>,
    input: impl AsyncRead + Send + Unpin + 'static,
    after: Option<rpc::AfterExit>,
) -> Result<Response, GitHttpError> {
    let mut cmd = state
        .git
        .command(Some(repo), service.subcommand())
        .args(["--stateless-rpc"])
        .args([repo.as_os_str()]);
    if let Some(p) = protocol {
        cmd = cmd.env("GIT_PROTOCOL", p);
    }
    stream_rpc(state, cmd, service, input, after)
}

/// Streams `input` through the prepared git command `cmd` and its output back as the response.
fn stream_rpc(
    state: &AppState,
    cmd: crate::git::GitCommand,
    service: Service,
    input: impl AsyncRead + Send + Unpin + 'static,
    after: Option<rpc::AfterExit>,
) -> Result<Response, GitHttpError> {
    let body = rpc::stream(
        &state.shutdown,
        cmd,
        input,
        None,
        state.git.timeout(),
        after,
    )
    .map_err(|e| GitHttpError::Internal(e.to_string()))?;
    Ok(no_cache(
        body.into_response(),
        format!("application/x-{}-result", service.name()),
    ))
}

// POST /:namespace/:project.git/git-receive-pack
async fn receive_pack(
    state: &AppState,
    project: &Project,
    caller: Caller,
    repo: &std::path::Path,
    mut input: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<Response, GitHttpError> {
    let list = read_command_list(&mut input)
        .await
        .map_err(|e| GitHttpError::BadRequest(e.to_string()))?;
    let mut judgement = judge_push(state, project, caller, &list.updates).await?;
    if project.archived {
        judgement.refused = list
            .updates
            .iter()
            .map(|u| (u.name.clone(), ARCHIVED_REFUSAL))
            .collect();
    }
    if !judgement.refused.is_empty() {
        return refuse(state, &list, &judgement.refused, input).await;
    }
    let mut after = None;
    if !list.updates.is_empty() {
        // Durable before git can accept anything: see `service::pushes`.
        let details = IntentDetails {
            pusher: caller.user_id,
            updates: Some(list.updates.clone()),
        };
        let intent = write_intent_with(state, project.id, &details).await?;
        let state = state.clone();
        let project_id = project.id;
        let updates = list.updates.clone();
        let pusher = caller.user_id;
        after = Some(Box::new(move || {
            Box::pin(async move { after_push(state, project_id, updates, intent, pusher).await })
                as Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        }) as rpc::AfterExit);
    }
    let input = Cursor::new(list.raw).chain(input);
    let cmd = state
        .git
        .receive_pack(repo, &judgement.fast_forward_only)
        .args(["--stateless-rpc"])
        .args([repo.as_os_str()]);
    stream_rpc(state, cmd, Service::ReceivePack, input, after)
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
    // As GitLab's pre-receive check: every reason on the progress band, every ref declined.
    let mut reasons: Vec<&str> = refused.iter().map(|(_, why)| *why).collect();
    reasons.dedup();
    let message = reasons
        .iter()
        .map(|why| format!("GitLab: {why}"))
        .collect::<Vec<_>>()
        .join("\n");
    let body = refusal_report(list, |_| "pre-receive hook declined".to_owned(), &message);
    Ok(no_cache(
        Body::from(body).into_response(),
        format!("application/x-{}-result", Service::ReceivePack.name()),
    ))
}

/// Records a push once receive-pack exited (whether or not it succeeded: git may have applied
/// some updates; the recording judges by the refs) and deletes its intent.
async fn after_push(
    state: AppState,
    project_id: i64,
    updates: Vec<RefUpdate>,
    intent: String,
    pusher: Option<i64>,
) {
    let recorded = record_push_by(&state, project_id, Some(&updates), Some(&intent), pusher);
    if let Err(e) = recorded.await {
        // The intent stays: the `record_push` job records the push later.
        tracing::error!(project = project_id, error = %e, "recording a push failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_paths() {
        let p = GitPath::parse("/alice/proj.git/info/refs").unwrap();
        assert_eq!(p.full_path, "alice/proj");
        assert_eq!(p.endpoint, Endpoint::InfoRefs);
        let p = GitPath::parse("/a.git/b.c.git/git-receive-pack").unwrap();
        assert_eq!(p.full_path, "a.git/b.c");
        assert_eq!(p.endpoint, Endpoint::Rpc(Service::ReceivePack));
        let p = GitPath::parse("/org/team/sub/proj.git/git-upload-pack").unwrap();
        assert_eq!(p.full_path, "org/team/sub/proj", "a project in a subgroup");
        let deepest = format!("/{}p.git/info/refs", "g/".repeat(MAX_SEGMENTS - 1));
        assert!(GitPath::parse(&deepest).is_some());
        let deeper = format!("/{}p.git/info/refs", "g/".repeat(MAX_SEGMENTS));
        for bad in [
            "/alice/proj/info/refs",
            "/proj.git/info/refs",
            "/a//c.git/info/refs",
            "/a/b/.git/info/refs",
            deeper.as_str(),
            "/a/.git/git-upload-pack",
            "/api/v4/projects",
            "/a/b%2f.git/info/refs",
            "/a/b.git/HEAD",
        ] {
            assert_eq!(GitPath::parse(bad), None, "{bad}");
        }
    }

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
