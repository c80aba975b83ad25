//! The integration-test harness. One way to start a server in-process:
//! `TestServer::builder()` with `.postgres()`, `.engine(true)`, `.local_network(true)`,
//! `.clock(c)` and `.tweak(|cfg| …)`, then `.start().await`: the real server on `127.0.0.1:0`
//! with a fresh data directory (and a fresh PostgreSQL database when asked). Around it:
//! - [`client`]: raw HTTP that records every body, for tests of exact shapes and errors;
//! - [`api`]: the typed API client tests set things up with;
//! - [`binary`]: the real `pushmirror` binary as a child process, the one other way to run a
//!   server;
//! - [`postgres`], [`poll`] (bounded waiting), [`observe`] (files, refs, processes) and [`work`]
//!   (a client's repository, pushed with the real git CLI);
//! - [`receiver`]: a real webhook receiver on loopback that records deliveries and fails on
//!   demand.

pub mod api;
pub mod binary;
pub mod browser;
pub mod client;
pub mod observe;
pub mod poll;
pub mod postgres;
pub mod receiver;
pub mod smtp;
pub mod web;
pub mod work;

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pushmirror::clock::{Clock, SystemClock};
use pushmirror::config::{ServeConfig, StoreConfig, Tuning};
use pushmirror::http::AppState;
use pushmirror::jobs::Runner;
use secrecy::ExposeSecret;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub use api::{Api, Mirror, Project};
pub use client::{Body, Client, Resp};
pub use observe::{contains_bytes, processes_with_home, read_all_files, refs_of};
pub use poll::{poll_for, poll_until, poll_until_blocking};
pub use postgres::PostgresDb;
pub use receiver::{Received, Receiver};
pub use work::{blocking, Work};

/// A running server and everything it owns; dropping it stops the server and removes its data.
pub struct TestServer {
    /// The server's shared state, for looking behind the API (the store, the engine queue).
    pub state: AppState,
    /// `http://127.0.0.1:<port>`, also the server's `external_url`.
    pub base: String,
    /// The SSH server's port, when started with [`Builder::ssh`].
    pub ssh_port: Option<u16>,
    client: Client,
    /// The job runner of [`TestServer::run_pending`], made on first use.
    runner: OnceLock<Arc<Runner>>,
    shutdown: Option<oneshot::Sender<()>>,
    dir: TempDir,
    /// Dropped after the server stopped (fields drop in order), so the database goes last.
    _postgres: Option<PostgresDb>,
}

/// The default backend of a [`Builder`]: SQLite in the data directory.
pub struct Sqlite;

/// A bare repository's place outside any server, for tests that drive `git::` and `remote::`
/// directly: repository `id` of a storage rooted at `dir` (so `<dir>/<id>.git`, not created).
pub fn local_repo(dir: &std::path::Path, id: i64) -> pushmirror::storage::LocalRepo {
    use pushmirror::model::storage::{RepoRef, StorageName};
    let storage = StorageName::default_storage();
    pushmirror::storage::Storages::open_all(&[(storage.clone(), dir.to_owned())], dir)
        .expect("a storage in a temporary directory")
        .open(&RepoRef::new(storage, id))
        .expect("served")
}

/// A [`Builder`] for a fresh PostgreSQL database: its `start` may skip.
pub struct Postgres;

/// A configuration change applied after the builder's own settings.
type Tweak = Box<dyn FnOnce(&mut ServeConfig) + Send>;

/// How to start a [`TestServer`]; see [`TestServer::builder`].
pub struct Builder<B = Sqlite> {
    engine: bool,
    ssh: bool,
    local_network: bool,
    clock: Arc<dyn Clock>,
    tweaks: Vec<Tweak>,
    backend: PhantomData<B>,
}

impl TestServer {
    /// A server on SQLite, with the system clock, no engine (the API and hosting only: pushes
    /// and syncs are queued and nothing runs them, unless the test calls
    /// [`TestServer::run_pending`]) and mirror URLs on the local network refused.
    pub fn builder() -> Builder {
        Builder {
            engine: false,
            ssh: false,
            local_network: false,
            clock: Arc::new(SystemClock),
            tweaks: Vec::new(),
            backend: PhantomData,
        }
    }

    /// The bare repository of `project_id` on the `default` storage, where projects go unless an
    /// administrator places them elsewhere.
    pub fn repo_path(&self, project_id: i64) -> PathBuf {
        use pushmirror::model::storage::{RepoRef, StorageName};
        self.state
            .storages
            .open(&RepoRef::new(StorageName::default_storage(), project_id))
            .expect("the default storage is always served")
            .path()
            .to_owned()
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
        let filter = pushmirror::store::UserFilter {
            username: Some(username.to_owned()),
            ..Default::default()
        };
        self.state.store.users(&filter).await.expect("users")[0].id
    }

    /// The typed API as `token`'s user; its answers are recorded with this server's.
    pub fn api(&self, token: &str) -> Api {
        Api::new(self.client.clone(), token)
    }

    /// The push URL of `<full_path>.git` with `token` as the password.
    pub fn push_url(&self, token: &str, full_path: &str) -> String {
        let host = self.base.trim_start_matches("http://");
        format!("http://oauth2:{token}@{host}/{full_path}.git")
    }

    /// Runs every due job to its end, one at a time, until none is due; returns how many runs
    /// there were. The deterministic alternative to the engine: with a manual clock a test
    /// decides exactly when retries come due.
    pub async fn run_pending(&self) -> usize {
        assert!(
            self.state.tuning.api_only,
            "run_pending beside the server's own engine would race it: start without .engine(true)"
        );
        self.runner
            .get_or_init(|| Runner::new(self.state.0.clone()))
            .run_pending()
            .await
    }

    /// Runs every due recurring schedule (the sweeps) once, on the same runner as
    /// [`TestServer::run_pending`]; returns how many ran. With a manual clock, a test moves the
    /// clock past a schedule's interval, then calls this.
    pub async fn run_due_schedules(&self) -> usize {
        assert!(
            self.state.tuning.api_only,
            "run_due_schedules beside the server's own engine would race it"
        );
        self.runner
            .get_or_init(|| Runner::new(self.state.0.clone()))
            .run_due_schedules()
            .await
    }

    /// Sends a request to `/api/v4<path>` (see [`Client::request`]).
    pub async fn request(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Resp {
        self.client.request(method, path, token, body).await
    }

    /// Sends a prepared request and records the response body.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        self.client.send(rb).await
    }

    /// A raw request builder for `/api/v4<path>`, for auth variants the helpers do not cover.
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.raw(method, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.request("GET", path, Some(token), Body::None).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: serde_json::Value) -> Resp {
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

    pub async fn put_json(&self, path: &str, token: &str, body: serde_json::Value) -> Resp {
        self.request("PUT", path, Some(token), Body::Json(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.request("DELETE", path, Some(token), Body::None).await
    }

    /// Every response body received so far (raw and typed), for secret checks.
    pub fn seen_bodies(&self) -> Vec<String> {
        self.client.seen_bodies()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl<B> Builder<B> {
    /// Runs the push-mirror engine (the job runner), as `serve` without `--api-only` does.
    pub fn engine(mut self, on: bool) -> Self {
        self.engine = on;
        self
    }

    /// Serves SSH too, on its own `127.0.0.1:0` ([`TestServer::ssh_port`]).
    pub fn ssh(mut self, on: bool) -> Self {
        self.ssh = on;
        self
    }

    /// Accepts mirror URLs on loopback and private addresses (`--allow-local-network`), as tests
    /// that mirror into the git servers of `remotes` need.
    pub fn local_network(mut self, on: bool) -> Self {
        self.local_network = on;
        self
    }

    /// The server's time: a `ManualClock` the test moves, usually with the engine off and
    /// [`TestServer::run_pending`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Adjusts the configuration after the builder's own settings (tweaks apply in order).
    pub fn tweak(mut self, f: impl FnOnce(&mut ServeConfig) + Send + 'static) -> Self {
        self.tweaks.push(Box::new(f));
        self
    }

    async fn launch(self, postgres: Option<PostgresDb>) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let ssh_listener = match self.ssh {
            true => Some(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1:0 for ssh"),
            ),
            false => None,
        };
        let ssh_port = ssh_listener
            .as_ref()
            .map(|l| l.local_addr().expect("local addr").port());
        let mut store = StoreConfig::resolve(Some(dir.path().join("data")), None, None);
        if let Some(db) = &postgres {
            store.database_url = db.url.clone();
        }
        let mut config = ServeConfig {
            store,
            listen: addr,
            external_url: format!("http://{addr}"),
            allow_local_network: self.local_network,
            tuning: Tuning {
                // Without the engine, nothing pushes to the tests' mirror URLs (documentation
                // addresses that must never be contacted).
                api_only: !self.engine,
                ..Tuning::default()
            },
            shutdown_grace: Duration::from_secs(5),
            monitoring_allowlist: pushmirror::model::cidr::loopback(),
            smtp: None,
            lfs: Default::default(),
            ssh: pushmirror::config::SshConfig {
                listen: ssh_port.map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p))),
                ..Default::default()
            },
        };
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        let state = AppState(
            pushmirror::app::App::build_with_clock(&config, self.clock)
                .await
                .expect("build the app"),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) =
                pushmirror::server::run(listener, ssh_listener, served.0, shutdown).await
            {
                eprintln!("test server stopped: {e}");
            }
        });
        let base = format!("http://{addr}");
        TestServer {
            state,
            client: Client::new(&base),
            base,
            ssh_port,
            runner: OnceLock::new(),
            shutdown: Some(tx),
            dir,
            _postgres: postgres,
        }
    }
}

impl Builder<Sqlite> {
    /// On a fresh PostgreSQL database instead of SQLite.
    pub fn postgres(self) -> Builder<Postgres> {
        Builder {
            engine: self.engine,
            ssh: self.ssh,
            local_network: self.local_network,
            clock: self.clock,
            tweaks: self.tweaks,
            backend: PhantomData,
        }
    }

    /// Starts the server and waits until it listens.
    pub async fn start(self) -> TestServer {
        self.launch(None).await
    }
}

impl Builder<Postgres> {
    /// Starts the server on a fresh PostgreSQL database, or returns `None` (with the reason
    /// printed) when no PostgreSQL answers. Under `CI=true` a missing PostgreSQL fails instead.
    pub async fn start(self) -> Option<TestServer> {
        let db = PostgresDb::create_or_skip().await?;
        Some(self.launch(Some(db)).await)
    }
}
