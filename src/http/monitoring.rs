//! Operating the server: GitLab's health probes (`/-/health`, `/-/liveness`, `/-/readiness`
//! with `?all=1` for the dependency checks) and Prometheus metrics at `/-/metrics`, all behind
//! the monitoring allowlist of client addresses (404 for anyone else, as GitLab); and the
//! middleware that observes every request: a request id (the client's `X-Request-Id` when it
//! is sane, else a new one) echoed in the response, a metric by route *template* and status,
//! and one log line (method, route, status, duration, request id; never a path, a query or a
//! header, which may carry a token).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::AppState;
use crate::metrics::QueueGauges;
use crate::queue::JobKind;
use crate::service::mirror_jobs::MirrorUpdate;

/// The response header (and accepted request header) carrying the request id.
const REQUEST_ID: &str = "x-request-id";
/// The longest client-chosen request id accepted.
const MAX_REQUEST_ID: usize = 64;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/-/health", get(health))
        .route("/-/liveness", get(liveness))
        .route("/-/readiness", get(readiness))
        .route("/-/metrics", get(metrics))
}

/// Whether the request comes from an allowed client. A request without a peer address (served
/// other than through `server::run`) is refused.
fn allowed(state: &AppState, request: &Request) -> bool {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| {
            state
                .monitoring_allowlist
                .iter()
                .any(|c| c.contains(peer.ip()))
        })
}

/// GitLab's answer to a client outside the allowlist.
fn not_allowed() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "Not Found", "status": 404})),
    )
        .into_response()
}

// GET /-/health: no dependencies, plain text.
async fn health(State(state): State<AppState>, request: Request) -> Response {
    if !allowed(&state, &request) {
        return not_allowed();
    }
    ([("content-type", "text/plain; charset=utf-8")], "GitLab OK").into_response()
}

// GET /-/liveness: the process answers.
async fn liveness(State(state): State<AppState>, request: Request) -> Response {
    if !allowed(&state, &request) {
        return not_allowed();
    }
    Json(json!({"status": "ok"})).into_response()
}

/// One check's entry: `[{"status":"ok"}]` or `[{"status":"failed","message":…}]`.
fn check(result: Result<(), String>) -> (bool, Value) {
    match result {
        Ok(()) => (true, json!([{"status": "ok"}])),
        Err(message) => (false, json!([{"status": "failed", "message": message}])),
    }
}

/// The dependencies `/-/readiness?all=1` checks (and the admin page shows): each `Ok`, or
/// why not, in words that name no address (the causes go to the log).
pub(in crate::http) struct DependencyChecks {
    /// The database answers.
    pub database: Result<(), String>,
    /// The repository storage can be written.
    pub storage: Result<(), String>,
}

/// Checks the database and the repository storage now.
pub(in crate::http) async fn dependency_checks(state: &AppState) -> DependencyChecks {
    // The database's own error text can name the server's address; keep it for the log.
    let database = state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: the database check failed");
        "the database does not answer".to_owned()
    });
    let storage = state.storages.clone();
    let storage = tokio::task::spawn_blocking(move || storage.check_writable())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| {
            tracing::warn!(error = %e, "readiness: the storage check failed");
            "the repository storage cannot be written".to_owned()
        });
    DependencyChecks { database, storage }
}

// GET /-/readiness[?all=1]: ready to serve; with `all`, the database and the repository
// storage are checked too, and any failure is a 503.
async fn readiness(State(state): State<AppState>, request: Request) -> Response {
    if !allowed(&state, &request) {
        return not_allowed();
    }
    let all = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .any(|(k, v)| k == "all" && !matches!(v.as_ref(), "" | "0" | "false"))
        })
        .unwrap_or(false);
    let mut body = json!({"master_check": [{"status": "ok"}]});
    let mut ok = !state.shutdown.is_cancelled();
    if !ok {
        body["master_check"] = json!([{"status": "failed", "message": "shutting down"}]);
    }
    if all {
        let checks = dependency_checks(&state).await;
        let (db_ok, db) = check(checks.database);
        let (storage_ok, st) = check(checks.storage);
        body["db_check"] = db;
        body["storage_check"] = st;
        ok &= db_ok && storage_ok;
    }
    body["status"] = json!(if ok { "ok" } else { "failed" });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

// GET /-/metrics: Prometheus text format.
async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    if !allowed(&state, &request) {
        return not_allowed();
    }
    let now = state.clock.now_ms();
    let queue = match state.store.queue_stats(MirrorUpdate::NAME, now).await {
        Ok(q) => QueueGauges {
            mirror_updates_wanted: q.wanted,
            mirror_updates_due: q.due,
            oldest_wanted_update_age_secs: q
                .oldest_at
                .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0),
            jobs: q.jobs,
        },
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the queue");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(queue),
    )
        .into_response()
}

/// The route a response answered, set by [`label_route`] where a route matched.
#[derive(Clone)]
struct RouteLabel(String);

/// Remembers the matched route template on the response (a `route_layer`: runs only where a
/// route matched, which is where the template is known).
pub(super) async fn label_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteLabel(route));
    }
    response
}

/// [`label_route`] for a project's web pages, whose router sees paths below the project:
/// `/{project}/-/settings/repository`.
pub(super) async fn label_project_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| format!("/{{project}}{}", m.as_str().trim_end_matches('/')));
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteLabel(route));
    }
    response
}

/// The label of a request no route matched: git's smart HTTP by service, else `unmatched`.
fn fallback_route(path: &str) -> &'static str {
    if path.ends_with("/info/refs") {
        "/{repository}.git/info/refs"
    } else if path.ends_with("/git-upload-pack") {
        "/{repository}.git/git-upload-pack"
    } else if path.ends_with("/git-receive-pack") {
        "/{repository}.git/git-receive-pack"
    } else if path.contains("/info/lfs/") {
        if path.ends_with("/info/lfs/objects/batch") {
            "/{repository}.git/info/lfs/objects/batch"
        } else if path.ends_with("/verify") && path.contains("/info/lfs/objects/") {
            "/{repository}.git/info/lfs/objects/{oid}/verify"
        } else if path.contains("/info/lfs/objects/") {
            "/{repository}.git/info/lfs/objects/{oid}"
        } else if path.contains("/info/lfs/locks") {
            "/{repository}.git/info/lfs/locks"
        } else {
            "unmatched"
        }
    } else if path.ends_with("/-/mirror/ssh_host_keys.json") {
        "/{project}/-/mirror/ssh_host_keys.json"
    } else {
        "unmatched"
    }
}

/// The request's id as the response's header and the log line carry it, for a face whose error
/// body names it too (git LFS).
#[derive(Debug, Clone)]
pub(in crate::http) struct RequestId(pub String);

/// A client's request id, when it is short and plain enough to echo and log.
fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= MAX_REQUEST_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    .then(|| s.to_owned())
}

/// Observes every request (see the module doc).
pub(super) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let path_label = fallback_route(request.uri().path());
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 12];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
            hex::encode(bytes)
        });
    let mut request = request;
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let mut response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| path_label.to_owned());
    let status = response.status().as_u16();
    let secs = started.elapsed().as_secs_f64();
    state.metrics.http_request(&method, &route, status, secs);
    tracing::info!(
        target: "pushmirror::request",
        method = %method,
        route = %route,
        status,
        duration_ms = (secs * 1000.0) as u64,
        request_id = %request_id,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmatched_requests_are_labelled_by_kind_not_path() {
        assert_eq!(
            fallback_route("/a/b/c.git/info/refs"),
            "/{repository}.git/info/refs"
        );
        assert_eq!(
            fallback_route("/a/b.git/git-receive-pack"),
            "/{repository}.git/git-receive-pack"
        );
        assert_eq!(fallback_route("/secret-token-in-path"), "unmatched");
    }

    #[test]
    fn only_plain_short_request_ids_are_echoed() {
        let ok = HeaderValue::from_static("abc-123_x.y");
        assert_eq!(sane_request_id(&ok).as_deref(), Some("abc-123_x.y"));
        for bad in ["", "a b", "a\"b", &"x".repeat(65)] {
            assert_eq!(
                sane_request_id(&HeaderValue::from_str(bad).unwrap()),
                None,
                "{bad:?}"
            );
        }
    }
}
