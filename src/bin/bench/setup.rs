//! What every scenario sets up: a real pushmirror server in this process on `127.0.0.1:0` with a
//! fresh data directory (SQLite, or a fresh PostgreSQL database), an admin token, the real git
//! CLI with a sealed-off environment, and small statistics over timings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pushmirror::config::{ServeConfig, StoreConfig, Tuning};
use pushmirror::http::AppState;
use pushmirror::service::pushes::{record_push, RefUpdate};
use secrecy::ExposeSecret;
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::client::Conn;

/// The PostgreSQL server the `api` scenario uses when it answers.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// An in-process server and what it owns; dropping it stops the server and removes its data.
pub struct BenchServer {
    pub state: AppState,
    pub addr: SocketAddr,
    pub token: String,
    shutdown: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

impl BenchServer {
    /// Starts a server (mirrors to loopback allowed) on SQLite, or on `database_url` when given.
    pub async fn start(database_url: Option<&str>, tweak: impl FnOnce(&mut Tuning)) -> BenchServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let mut store = StoreConfig::resolve(Some(dir.path().join("data")), None, None);
        if let Some(url) = database_url {
            store.database_url = url.to_owned();
        }
        let mut engine = Tuning::default();
        tweak(&mut engine);
        let config = ServeConfig {
            store,
            listen: addr,
            external_url: format!("http://{addr}"),
            allow_local_network: true,
            tuning: engine,
            shutdown_grace: Duration::from_secs(5),
            monitoring_allowlist: pushmirror::model::cidr::loopback(),
            smtp: None,
            lfs: Default::default(),
            ssh: Default::default(),
        };
        let state = AppState(
            pushmirror::app::App::build(&config)
                .await
                .expect("build the app"),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        let done = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = pushmirror::server::run(listener, None, served.0, shutdown).await {
                eprintln!("bench server stopped: {e}");
            }
        });
        let now = state.now_ms();
        let user = state
            .store
            .ensure_user("root", true, now)
            .await
            .expect("ensure_user");
        let (token, hash) = pushmirror::secret::mint_token();
        state
            .store
            .insert_token(user.id, &hash, "bench", now)
            .await
            .expect("insert_token");
        BenchServer {
            state,
            addr,
            token: token.expose_secret().to_owned(),
            shutdown: Some(tx),
            done: Some(done),
            _dir: dir,
        }
    }

    /// A fresh keep-alive API connection with the admin token.
    pub async fn conn(&self) -> Conn {
        Conn::connect(self.addr, &self.token)
            .await
            .expect("connect to the bench server")
    }

    /// Creates project `name` through the API; returns its id.
    pub async fn project(&self, conn: &mut Conn, name: &str) -> i64 {
        let r = conn
            .request("POST", "/api/v4/projects", Some(&json!({ "name": name })))
            .await
            .expect("create project");
        assert_eq!(r.status, 201, "creating project {name}");
        r.json()["id"].as_i64().expect("project id")
    }

    /// Adds a mirror through the API; returns its id.
    pub async fn mirror(&self, conn: &mut Conn, project: i64, url: &str, enabled: bool) -> i64 {
        let r = conn
            .request(
                "POST",
                &format!("/api/v4/projects/{project}/remote_mirrors"),
                Some(&json!({ "url": url, "enabled": enabled })),
            )
            .await
            .expect("create mirror");
        assert_eq!(
            r.status,
            201,
            "creating mirror: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["id"].as_i64().expect("mirror id")
    }

    /// `http://oauth2:<token>@127.0.0.1:<port>/root/<name>.git`.
    pub fn push_url(&self, name: &str) -> String {
        format!("http://oauth2:{}@{}/root/{name}.git", self.token, self.addr)
    }

    /// What a push's post-receive bookkeeping does: records the updates and wakes the engine.
    pub async fn record(&self, project: i64, updates: &[RefUpdate]) {
        record_push(&self.state, project, Some(updates), None)
            .await
            .expect("record_push");
    }

    /// Waits (polling every `every`, at most `limit`) until `mirror` is `finished` with no
    /// update pending; panics past the limit with the mirror's state.
    pub async fn wait_finished(&self, mirror: i64, every: Duration, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let m = self
                .state
                .store
                .mirror_by_id(mirror)
                .await
                .expect("mirror_by_id")
                .expect("mirror exists");
            let pending = self
                .state
                .store
                .mirror_update_pending(mirror)
                .await
                .expect("pending");
            if m.update_status.as_str() == "finished" && !pending {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mirror {mirror} did not finish within {limit:?}: {} {:?}",
                m.update_status.as_str(),
                m.last_error
            );
            tokio::time::sleep(every).await;
        }
    }

    /// Stops the server and waits for it (the engine hands its work back).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `main` branch update a post-receive reports for a ref that moved from `old` to `new`.
pub fn ref_update(name: &str, old: Option<&str>, new: &str) -> RefUpdate {
    let zero = "0".repeat(new.len());
    RefUpdate {
        old: old.map_or(zero, str::to_owned),
        new: new.to_owned(),
        name: name.to_owned(),
    }
}

/// Runs the real git CLI with a private HOME and no system config, so the machine's settings do
/// not colour the numbers (or leak credentials helpers, hooks, or URL rewrites into the run).
pub struct Git {
    home: TempDir,
}

impl Git {
    pub fn new() -> Git {
        Git {
            home: tempfile::tempdir().expect("git home"),
        }
    }

    /// A `git` command in `dir` (or with `GIT_DIR=dir` when `bare`).
    pub fn cmd(&self, dir: &Path, bare: bool) -> Command {
        let mut c = Command::new("git");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .args([
                "-c",
                "user.name=Bench",
                "-c",
                "user.email=bench@example.com",
                "-c",
                "protocol.git.allow=always",
                "-c",
                "safe.directory=*",
            ]);
        if bare {
            c.env("GIT_DIR", dir);
        } else {
            c.current_dir(dir);
        }
        c
    }

    /// Runs git and returns trimmed stdout; panics with stderr when it fails.
    pub fn run(&self, dir: &Path, bare: bool, args: &[&str]) -> String {
        run_checked(self.cmd(dir, bare).args(args))
    }

    /// Runs git feeding `input` on stdin.
    pub fn run_input(&self, dir: &Path, bare: bool, args: &[&str], input: &[u8]) -> String {
        use std::io::Write as _;
        let mut child = self
            .cmd(dir, bare)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn git");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("git output");
        let _ = writer.join();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A new commit on top of `parent` (or a root commit) with an empty tree, made in the bare
    /// repository `repo` without a working copy; returns its id.
    pub fn commit_tree(&self, repo: &Path, parent: Option<&str>, msg: &str) -> String {
        let tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"; // the empty tree
        self.run_input(
            repo,
            true,
            &["hash-object", "-w", "-t", "tree", "--stdin"],
            b"",
        );
        let mut args = vec!["commit-tree", tree, "-m", msg];
        if let Some(p) = parent {
            args.extend(["-p", p]);
        }
        self.run(repo, true, &args)
    }

    /// A working repository with one commit on `main`; returns its path holder.
    pub fn work(&self) -> TempDir {
        let w = tempfile::tempdir().expect("work dir");
        self.run(w.path(), false, &["init", "-q", "-b", "main"]);
        self.run(
            w.path(),
            false,
            &["commit", "-q", "--allow-empty", "-m", "base"],
        );
        w
    }
}

/// Runs `cmd` to completion, panicking with its stderr when it fails; returns trimmed stdout.
pub fn run_checked(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Reads a ref of a bare repository straight from disk (a loose file, else `packed-refs`): far
/// cheaper than spawning git, so it can be polled every millisecond.
pub fn read_ref(repo: &Path, name: &str) -> Option<String> {
    if let Ok(s) = std::fs::read_to_string(repo.join(name)) {
        let s = s.trim();
        if s.len() >= 40 {
            return Some(s.to_owned());
        }
    }
    let packed = std::fs::read_to_string(repo.join("packed-refs")).ok()?;
    packed.lines().find_map(|l| {
        let (oid, n) = l.split_once(' ')?;
        (n == name).then(|| oid.to_owned())
    })
}

/// Polls `repo`'s ref `name` every `every` until it is `want`; returns when it saw it, or
/// `None` past `limit`.
pub fn wait_ref(
    repo: &Path,
    name: &str,
    want: &str,
    every: Duration,
    limit: Duration,
) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if read_ref(repo, name).as_deref() == Some(want) {
            return Some(Instant::now());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Copies the directory tree `from` to `to` (a template bare repository into a new one).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst: PathBuf = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}

/// The `p`-th percentile (0–100) of `samples`, nearest-rank.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// Milliseconds as a float, for the table.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The bare repository of `project`, which the bench always creates on the `default` storage.
pub fn hosted_repo(state: &AppState, project: i64) -> PathBuf {
    use pushmirror::model::storage::{RepoRef, StorageName};
    state
        .storages
        .open(&RepoRef::new(StorageName::default_storage(), project))
        .expect("the default storage is always served")
        .path()
        .to_owned()
}
