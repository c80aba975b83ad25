//! The integration-test harness: a real pushmirror server on `127.0.0.1:0` with a fresh data
//! directory (and, on request, a fresh PostgreSQL database), a small HTTP client that speaks to it,
//! and a record of every response body so tests can prove a secret never went over the wire.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushmirror::clock::{Clock, SystemClock};
use pushmirror::config::{EngineConfig, ServeConfig, StoreConfig};
use pushmirror::http::AppState;
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The PostgreSQL server integration tests use when it is there.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A running server and everything it owns; dropping it stops the server and removes its data.
pub struct TestServer {
    /// The server's shared state, for looking behind the API (the store, the engine queue).
    pub state: AppState,
    /// `http://127.0.0.1:<port>`, also the server's `external_url`.
    pub base: String,
    client: reqwest::Client,
    /// Every response body this client received, so secret checks can look at all of them.
    seen: Arc<Mutex<Vec<String>>>,
    shutdown: Option<oneshot::Sender<()>>,
    dir: TempDir,
    postgres: Option<PostgresDb>,
}

/// A request body in one of the encodings GitLab's API accepts.
pub enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
    Multipart(Vec<(&'static str, String)>),
    /// A raw body with its content type, for malformed input.
    Raw(&'static str, Vec<u8>),
}

/// One response: status, headers and the body (parsed as JSON when it is JSON, else `Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// A header as text ("" when missing).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl TestServer {
    /// A server on SQLite with the default configuration.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server on SQLite, after `tweak` has adjusted the configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut ServeConfig)) -> TestServer {
        Self::launch(None, Arc::new(SystemClock), tweak).await
    }

    /// A server on SQLite whose time is `clock` (a `ManualClock` the test moves).
    pub async fn start_with_clock(
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> TestServer {
        Self::launch(None, clock, tweak).await
    }

    /// A server on a fresh PostgreSQL database, or `None` (with the reason printed) when no
    /// PostgreSQL answers. Under `CI=true` a missing PostgreSQL fails the test instead.
    pub async fn start_postgres() -> Option<TestServer> {
        Self::start_postgres_with(|_| {}).await
    }

    /// [`TestServer::start_postgres`], after `tweak` has adjusted the configuration.
    pub async fn start_postgres_with(tweak: impl FnOnce(&mut ServeConfig)) -> Option<TestServer> {
        let db = PostgresDb::create_or_skip().await?;
        Some(Self::launch(Some(db), Arc::new(SystemClock), tweak).await)
    }

    async fn launch(
        postgres: Option<PostgresDb>,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let mut store = StoreConfig::resolve(Some(dir.path().join("data")), None, None);
        if let Some(db) = &postgres {
            store.database_url = db.url.clone();
        }
        let mut config = ServeConfig {
            store,
            listen: addr,
            external_url: format!("http://{addr}"),
            allow_local_network: false,
            engine: EngineConfig::default(),
            shutdown_grace: Duration::from_secs(5),
        };
        // Most tests look at the API alone; the engine would try to push to their mirror URLs
        // (documentation addresses that must never be contacted). Engine tests turn it on.
        config.engine.api_only = true;
        tweak(&mut config);
        let state = AppState(
            pushmirror::app::App::build_with_clock(&config, clock)
                .await
                .expect("build the app"),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = pushmirror::server::run(listener, served.0, shutdown).await {
                eprintln!("test server stopped: {e}");
            }
        });
        TestServer {
            state,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            seen: Arc::default(),
            shutdown: Some(tx),
            dir,
            postgres,
        }
    }

    /// The server's data directory (database, repositories, secret key).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Creates `username` (an admin if asked) and returns a fresh personal access token for it.
    pub async fn token(&self, username: &str, admin: bool) -> String {
        let now = chrono::Utc::now().timestamp_millis();
        let user = self
            .state
            .store
            .ensure_user(username, admin, now)
            .await
            .expect("ensure_user");
        let (token, hash) = pushmirror::secret::mint_token();
        self.state
            .store
            .insert_token(user.id, &hash, "test", now)
            .await
            .expect("insert_token");
        token.expose_secret().to_owned()
    }

    /// The id of a user created by [`TestServer::token`].
    pub async fn user_id(&self, username: &str) -> i64 {
        self.state.store.users(Some(username)).await.expect("users")[0].id
    }

    /// Sends a request to `/api/v4<path>` (or to `path` as is when it does not start with `/`
    /// after the base, such as `/nope`), with `PRIVATE-TOKEN` when a token is given.
    pub async fn request(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Resp {
        let url = if path.starts_with("/api/") || path.starts_with("//") || path == "/" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/api/v4{path}", self.base)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.client.request(method, &url);
        if let Some(t) = token {
            rb = rb.header("PRIVATE-TOKEN", t);
        }
        rb = match body {
            Body::None => rb,
            Body::Json(v) => rb.json(&v),
            Body::Form(pairs) => rb.form(&pairs),
            Body::Multipart(pairs) => {
                let boundary = "pushmirror-test-boundary-7f3a";
                let mut data = String::new();
                for (k, v) in pairs {
                    data.push_str(&format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                    ));
                }
                data.push_str(&format!("--{boundary}--\r\n"));
                rb.header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(data)
            }
            Body::Raw(ct, bytes) => rb.header("content-type", ct).body(bytes),
        };
        self.send(rb).await
    }

    /// Sends a prepared request and records the response body.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        self.seen.lock().unwrap().push(text.clone());
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// A raw request builder for `/api/v4<path>`, for auth variants the helpers do not cover.
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}/api/v4{path}", self.base))
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.request("GET", path, Some(token), Body::None).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request("POST", path, Some(token), Body::Json(body))
            .await
    }

    pub async fn post_form(
        &self,
        path: &str,
        token: &str,
        pairs: Vec<(&'static str, String)>,
    ) -> Resp {
        self.request("POST", path, Some(token), Body::Form(pairs))
            .await
    }

    pub async fn put_json(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request("PUT", path, Some(token), Body::Json(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.request("DELETE", path, Some(token), Body::None).await
    }

    /// Every response body received so far, for secret checks.
    pub fn seen_bodies(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Creates a project as `token`'s user and returns its JSON.
    pub async fn project(&self, token: &str, name: &str) -> Value {
        let r = self
            .post_json("/projects", token, serde_json::json!({ "name": name }))
            .await;
        assert_eq!(r.status, 201, "creating project {name}: {}", r.text);
        r.body
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A uniquely named PostgreSQL database, dropped (best effort) with its handle.
pub struct PostgresDb {
    name: String,
    /// Its URL, for `--database-url`.
    pub url: String,
}

impl PostgresDb {
    /// A fresh database, or `None` (with the reason printed) when PostgreSQL is unreachable and
    /// `CI` is not `true`; under `CI=true` a missing PostgreSQL fails the test instead.
    pub async fn create_or_skip() -> Option<PostgresDb> {
        match Self::create().await {
            Ok(db) => Some(db),
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "PostgreSQL is required under CI=true but {POSTGRES_ADMIN_URL} failed: {e}"
                    );
                }
                eprintln!("skipping PostgreSQL test: {POSTGRES_ADMIN_URL} is unreachable: {e}");
                None
            }
        }
    }

    async fn create() -> Result<PostgresDb, sqlx::Error> {
        use sqlx::Connection;
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::PgConnection::connect(POSTGRES_ADMIN_URL),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
        let name = format!(
            "pushmirror_test_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        Ok(PostgresDb {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        })
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block; a thread with its own runtime can.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await.ok()?;
                sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Every file under `dir`, recursively, with its bytes.
pub fn read_all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Waits for `cond` to hold, checking every few milliseconds, for at most `limit`.
pub async fn poll_until<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Branches and tags of the bare repository at `repo`, name → object id, read with the real git.
pub fn refs_of(repo: &Path) -> BTreeMap<String, String> {
    let out = std::process::Command::new("git")
        .args([
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads",
            "refs/tags",
        ])
        .env("GIT_DIR", repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("spawn git for-each-ref");
    assert!(out.status.success(), "for-each-ref in {}", repo.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

/// Live processes whose environment holds exactly `HOME=<home>`, as `(pid, command line)`: a
/// server's git children all get its `<data-dir>/git-home`. Zombies have an empty environment
/// and so are not counted: they run nothing.
pub fn processes_with_home(home: &Path) -> Vec<(u32, String)> {
    let needle = format!("HOME={}", home.display()).into_bytes();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_slice())
        {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, cmdline));
        }
    }
    found
}

/// `pushmirror token create --username root --admin` with the real binary: a token for the
/// first admin of the data directory `data` (and the database `database_url`, if given).
pub fn create_admin_token(data: &Path, database_url: Option<&str>) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pushmirror"));
    cmd.args([
        "token",
        "create",
        "--username",
        "root",
        "--admin",
        "--data-dir",
    ])
    .arg(data);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let out = cmd.output().expect("spawn pushmirror token create");
    assert!(
        out.status.success(),
        "token create failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 token")
        .trim()
        .to_owned()
}
