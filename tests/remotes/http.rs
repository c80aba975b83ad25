//! [`GitHttpRemote`]: git's smart HTTP protocol served by the real `git http-backend` (run as a
//! CGI program, one process per request) behind a small axum server on `127.0.0.1:<port>`, with
//! optional Basic auth and switches for the failure modes a mirror must survive: remote down and
//! remote hanging. Started [with LFS](GitHttpRemote::start_with_lfs), requests below
//! `…/info/lfs/` go to a real LFS server ([`Giftless`]) instead, the front able to answer a
//! per-object error for chosen oids.
//!
//! The server runs on its **own** tokio runtime (one worker thread), not the test's. That way a
//! test may call blocking code (`std::process::Command::new("git")…output()`) from a
//! `#[tokio::test]` of either flavour without starving the server, and dropping the remote stops
//! every request task and CGI child it started (`kill_on_drop`).
//!
//! "Down" is real: the listening socket is closed, so new connections are refused exactly as with
//! a stopped server; requests that still arrive on an already-open keep-alive connection get
//! `503` with `Connection: close`. Coming back up rebinds the same port (with `SO_REUSEADDR`), so
//! URLs stay valid. Caveat: another process could take the port while it is closed; rebinding
//! then fails after bounded retries and `set_down(false)` panics with the reason.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use base64::Engine as _;
use futures_util::StreamExt as _;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::io::ReaderStream;

use super::Giftless;

/// How long a control call (start, down, up) may wait for the server runtime to act on it.
const CONTROL_DEADLINE: Duration = Duration::from_secs(20);

/// Retries when rebinding the port after `set_down(false)`: a closed port can briefly stay
/// unavailable on some kernels even with `SO_REUSEADDR`; 100 × 50 ms is ample and bounded.
const REBIND_ATTEMPTS: u32 = 100;
const REBIND_INTERVAL: Duration = Duration::from_millis(50);

/// Listen backlog: tests open a handful of connections at a time.
const LISTEN_BACKLOG: u32 = 128;

/// Upper bound on the CGI response header block, so a broken backend cannot make us buffer
/// without limit.
const MAX_CGI_HEADER_BYTES: usize = 64 * 1024;

/// One request as the server saw it, before any auth, down or hang handling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query exactly as received (`/r.git/info/refs?service=git-upload-pack`), so a
    /// test can assert that no credential ever travelled in a URL.
    pub uri: String,
    /// The raw `Authorization` header value, if one was sent (`None`: no header at all).
    pub authorization: Option<String>,
}

impl LoggedRequest {
    /// Whether the request carried an `Authorization` header.
    pub fn has_authorization(&self) -> bool {
        self.authorization.is_some()
    }
}

/// State shared between the control handle and the request handlers.
struct Shared {
    /// Parent of the repositories: `GIT_PROJECT_ROOT` for the backend.
    repos: PathBuf,
    /// Private `HOME` for the backend so no user config leaks in.
    home: PathBuf,
    /// Required `(user, password)`, if the remote enforces Basic auth.
    auth: Option<(String, String)>,
    /// Set while the remote is "down": stragglers on open connections get 503.
    down: AtomicBool,
    /// Set while requests should be accepted and never answered.
    hang: AtomicBool,
    /// Every request seen, in arrival order.
    log: Mutex<Vec<LoggedRequest>>,
    /// Everything the backends wrote to stderr, for diagnosing a failing test.
    backend_stderr: Mutex<String>,
    /// Where `…/info/lfs/` requests go, when the remote serves LFS.
    lfs: Option<LfsFront>,
}

/// The LFS half of the front: giftless's port, and the oids its batch answers refuse.
struct LfsFront {
    upstream: u16,
    /// Oids whose object in a batch answer is replaced by a per-object error.
    refused: Mutex<std::collections::BTreeSet<String>>,
    client: reqwest::Client,
}

/// A smart-HTTP git server on `127.0.0.1:<port>` backed by `git http-backend`.
pub struct GitHttpRemote {
    /// Owns the repositories and the backend's HOME; deleted on drop.
    _dir: TempDir,
    /// Where the server listens; kept across down/up so URLs stay valid.
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop; `None` while down.
    serve_task: Mutex<Option<JoinHandle<()>>>,
    /// The server's private runtime; `None` only during drop.
    runtime: Option<Runtime>,
}

impl GitHttpRemote {
    /// Starts a server on a fresh port of 127.0.0.1. With `auth`, every request must carry
    /// `Authorization: Basic base64(user:pass)`; otherwise the answer is 401 with
    /// `WWW-Authenticate: Basic realm="test"`.
    pub async fn start(auth: Option<(&str, &str)>) -> GitHttpRemote {
        Self::start_inner(auth, None).await
    }

    /// [`GitHttpRemote::start`] with `…/info/lfs/` served by `lfs` (the batch request under the
    /// same Basic auth as git's; giftless's own actions as it authorises them).
    pub async fn start_with_lfs(auth: Option<(&str, &str)>, lfs: &Giftless) -> GitHttpRemote {
        Self::start_inner(auth, Some(lfs.port())).await
    }

    /// From now on, batch answers give `oid` a per-object error (422) instead of actions.
    pub fn refuse_lfs_object(&self, oid: &str) {
        let front = self.shared.lfs.as_ref().expect("started with LFS");
        front.refused.lock().unwrap().insert(oid.to_owned());
    }

    /// How many LFS objects were uploaded (`PUT`s that reached the LFS server) so far.
    pub fn lfs_uploads(&self) -> usize {
        self.request_log()
            .iter()
            .filter(|r| r.method == "PUT" && r.uri.contains("/info/lfs/objects/storage/"))
            .count()
    }

    /// How many LFS requests of any kind arrived so far.
    pub fn lfs_requests(&self) -> usize {
        self.request_log()
            .iter()
            .filter(|r| r.uri.contains("/info/lfs/"))
            .count()
    }

    async fn start_inner(auth: Option<(&str, &str)>, lfs: Option<u16>) -> GitHttpRemote {
        let dir = tempfile::tempdir().expect("tempdir");
        let repos = dir.path().join("repos");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&repos).expect("mkdir repos");
        std::fs::create_dir_all(&home).expect("mkdir home");
        let shared = Arc::new(Shared {
            repos,
            home,
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            down: AtomicBool::new(false),
            hang: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            backend_stderr: Mutex::new(String::new()),
            lfs: lfs.map(|upstream| LfsFront {
                upstream,
                refused: Mutex::default(),
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .build()
                    .expect("LFS front client"),
            }),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("git-http-remote")
            .enable_all()
            .build()
            .expect("server runtime");
        let (addr, task) = block_on_runtime(&runtime, {
            let shared = shared.clone();
            async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1:0");
                let addr = listener.local_addr().expect("local addr");
                (addr, tokio::spawn(serve(listener, shared)))
            }
        });
        GitHttpRemote {
            _dir: dir,
            addr,
            shared,
            serve_task: Mutex::new(Some(task)),
            runtime: Some(runtime),
        }
    }

    /// The port the server listens on (stable across down/up).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Creates the bare repository `<name>.git` and returns its URL (without credentials).
    pub fn create_repo(&self, name: &str) -> String {
        super::init_bare(&self.shared.repos, &self.shared.home, name);
        self.url(name)
    }

    /// `http://127.0.0.1:<port>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}.git", self.addr)
    }

    /// `http://<user>:<pass>@127.0.0.1:<port>/<name>.git`; `user` and `pass` must be URL-safe.
    pub fn url_with_credentials(&self, name: &str, user: &str, pass: &str) -> String {
        format!("http://{user}:{pass}@{}/{name}.git", self.addr)
    }

    /// Path of the bare repository on disk.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.shared.repos.join(format!("{name}.git"))
    }

    /// Every ref of repository `name` (ref name → object id), read directly from disk.
    pub fn refs(&self, name: &str) -> BTreeMap<String, String> {
        super::read_refs(&self.repo_path(name), &self.shared.home)
    }

    /// Takes the remote down (listener closed: connections refused) or brings it back up on
    /// the same port. Returns once the change is in effect. Idempotent.
    pub fn set_down(&self, down: bool) {
        let mut task = self.serve_task.lock().unwrap();
        self.shared.down.store(down, Ordering::SeqCst);
        match (down, task.take()) {
            (true, Some(running)) => {
                running.abort();
                // Awaiting the aborted task guarantees its future, and so the listener, is gone.
                self.on_server(async move {
                    let _ = running.await;
                });
            }
            (false, None) => {
                let (addr, shared) = (self.addr, self.shared.clone());
                // Bind first (so the port is listening when this returns), then serve.
                let listener = self.on_server(rebind(addr));
                let runtime = self.runtime.as_ref().expect("runtime");
                *task = Some(runtime.spawn(serve(listener, shared)));
            }
            (_, unchanged) => *task = unchanged,
        }
    }

    /// While on, requests are accepted (and logged) but never answered; they stay pending until
    /// the client gives up or the remote is dropped. Turning it off affects new requests only.
    pub fn set_hang(&self, hang: bool) {
        self.shared.hang.store(hang, Ordering::SeqCst);
    }

    /// Every request seen so far, in arrival order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.log.lock().unwrap().clone()
    }

    /// What the `git http-backend` processes wrote to stderr, for failure messages.
    pub fn backend_stderr(&self) -> String {
        self.shared.backend_stderr.lock().unwrap().clone()
    }

    /// Runs `fut` on the server runtime and waits (blocking this thread) for its result.
    fn on_server<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        block_on_runtime(self.runtime.as_ref().expect("runtime"), fut)
    }
}

impl Drop for GitHttpRemote {
    fn drop(&mut self) {
        // Cancels every task, which drops (and so kills) any CGI child still running.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `fut` on `runtime` from any thread, including one inside another runtime (where
/// `Runtime::block_on` would panic), by spawning it and waiting on a plain channel.
fn block_on_runtime<T: Send + 'static>(
    runtime: &Runtime,
    fut: impl Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv_timeout(CONTROL_DEADLINE)
        .expect("git http remote: server runtime did not answer")
}

/// Binds `addr` again after a down period, retrying briefly while the port is unavailable.
async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut last_err = None;
    for _ in 0..REBIND_ATTEMPTS {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        match socket
            .bind(addr)
            .and_then(|()| socket.listen(LISTEN_BACKLOG))
        {
            Ok(listener) => return listener,
            Err(e) => last_err = Some(e),
        }
        tokio::time::sleep(REBIND_INTERVAL).await;
    }
    panic!("git http remote: cannot rebind {addr} (taken by another process?): {last_err:?}");
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = axum::Router::new().fallback(handle).with_state(shared);
    // As a real git server would (and pushmirror does): without TCP_NODELAY every streamed
    // response stalls up to 40 ms on the client's delayed ACK, in raw and mirrored pushes alike.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.expect("axum serve");
}

/// Every path: log, then down / hang / auth, then hand over to `git http-backend`.
async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    shared.log.lock().unwrap().push(LoggedRequest {
        method: req.method().to_string(),
        uri: req.uri().to_string(),
        authorization: authorization.clone(),
    });
    if shared.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONNECTION, "close")],
            "remote is down\n",
        )
            .into_response();
    }
    if shared.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let lfs_batch = req.uri().path().ends_with("/info/lfs/objects/batch");
    if let Some(front) = &shared.lfs {
        // giftless authorises its own actions (a token in each href's header); the batch
        // request is the front's to authorise, as a hosting service's would be.
        if req.uri().path().contains("/info/lfs/") && !lfs_batch {
            return front.forward(req, false).await;
        }
    }
    let remote_user = match &shared.auth {
        None => None,
        Some((user, pass)) => {
            if !basic_auth_matches(authorization.as_deref(), user, pass) {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, r#"Basic realm="test""#)],
                    "authentication required\n",
                )
                    .into_response();
            }
            Some(user.clone())
        }
    };
    if let (Some(front), true) = (&shared.lfs, lfs_batch) {
        return front.forward(req, true).await;
    }
    match run_backend(&shared, req, remote_user).await {
        Ok(response) => response,
        Err(e) => {
            shared
                .backend_stderr
                .lock()
                .unwrap()
                .push_str(&format!("wrapper: {e}\n"));
            (StatusCode::BAD_GATEWAY, "git http-backend failed\n").into_response()
        }
    }
}

impl LfsFront {
    /// Sends `req` on to giftless with its `Host` (so giftless's hrefs name this front); a
    /// batch answer loses the objects of refused oids to a per-object error.
    async fn forward(&self, req: Request, batch: bool) -> Response {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("http://127.0.0.1:{}{path}", self.upstream);
        let mut out = self.client.request(parts.method.clone(), url);
        for (name, value) in &parts.headers {
            // The batch request's Basic auth was the front's; giftless needs none.
            if batch && name == header::AUTHORIZATION {
                continue;
            }
            out = out.header(name, value);
        }
        let out = out.body(reqwest::Body::wrap_stream(body.into_data_stream()));
        let answer = match out.send().await {
            Ok(a) => a,
            Err(e) => return (StatusCode::BAD_GATEWAY, format!("giftless: {e}\n")).into_response(),
        };
        let status = StatusCode::from_u16(answer.status().as_u16()).expect("status");
        let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
        let mut bytes = answer.bytes().await.unwrap_or_default().to_vec();
        let refused = self.refused.lock().unwrap().clone();
        if batch && status.is_success() && !refused.is_empty() {
            if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                for object in json["objects"].as_array_mut().into_iter().flatten() {
                    if object["oid"].as_str().is_some_and(|o| refused.contains(o)) {
                        object.as_object_mut().unwrap().remove("actions");
                        object["error"] = serde_json::json!({
                            "code": 422,
                            "message": "this object is refused by the test front"
                        });
                    }
                }
                bytes = serde_json::to_vec(&json).unwrap();
            }
        }
        let mut response = Response::builder().status(status);
        if let Some(ct) = content_type {
            response = response.header(header::CONTENT_TYPE, ct);
        }
        response.body(Body::from(bytes)).expect("response")
    }
}

fn basic_auth_matches(header: Option<&str>, user: &str, pass: &str) -> bool {
    let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .is_ok_and(|decoded| decoded == format!("{user}:{pass}").as_bytes())
}

/// Runs one CGI request through `git http-backend`: the request body is streamed to its stdin,
/// its header block parsed (including `Status:`), and the rest of its stdout streamed back.
async fn run_backend(
    shared: &Arc<Shared>,
    req: Request,
    remote_user: Option<String>,
) -> std::io::Result<Response> {
    let (parts, body) = req.into_parts();
    let header_str = |name: HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut cmd = tokio::process::Command::new(super::git_program("http-backend"));
    cmd.env_clear()
        .envs(super::server_git_env(&shared.home))
        .env("GIT_PROJECT_ROOT", &shared.repos)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let optional = [
        ("CONTENT_TYPE", header_str(header::CONTENT_TYPE)),
        ("CONTENT_LENGTH", header_str(header::CONTENT_LENGTH)),
        (
            "HTTP_CONTENT_ENCODING",
            header_str(header::CONTENT_ENCODING),
        ),
        (
            "GIT_PROTOCOL",
            header_str(HeaderName::from_static("git-protocol")),
        ),
        ("REMOTE_USER", remote_user),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    let mut child = cmd.spawn()?;

    // Request body → stdin, concurrently with reading stdout, so neither side can block the other.
    let mut stdin = child.stdin.take().expect("piped stdin");
    tokio::spawn(async move {
        let mut chunks = body.into_data_stream();
        while let Some(Ok(chunk)) = chunks.next().await {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        // Dropping stdin is the EOF http-backend waits for when no CONTENT_LENGTH was given.
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let sink = shared.clone();
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        if !text.is_empty() {
            sink.backend_stderr.lock().unwrap().push_str(&text);
        }
    });

    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut response = Response::builder();
    let mut header_bytes = 0;
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).await?;
        header_bytes += n;
        if n == 0 || header_bytes > MAX_CGI_HEADER_BYTES {
            return Err(std::io::Error::other(
                "truncated or oversized CGI header block",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| std::io::Error::other(format!("bad CGI header line {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("");
            let status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| std::io::Error::other(format!("bad CGI status {value:?}")))?;
            response = response.status(status);
        } else {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(std::io::Error::other)?;
            let value = HeaderValue::from_str(value).map_err(std::io::Error::other)?;
            response = response.header(name, value);
        }
    }
    // Reap the child once it exits; if the client goes away, the dropped body closes stdout and
    // the backend dies of SIGPIPE.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    response
        .body(Body::from_stream(ReaderStream::new(stdout)))
        .map_err(std::io::Error::other)
}
