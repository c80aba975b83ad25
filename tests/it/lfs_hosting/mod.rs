//! Git LFS hosting, end to end: the real server on `127.0.0.1:0` (SQLite and PostgreSQL, objects
//! on local disk or in a real S3 server, `moto_server`, on loopback), driven by the real
//! `git-lfs` client for the flows (track, push, clone, pull, partial pull) and by raw HTTP for
//! the protocol's error cases. Every refused upload is checked to have stored nothing: no row,
//! no object, no staged file.
//!
//! This file is the harness (the S3 server, the git client, raw batch requests and the checks
//! of what is stored); `flows` drives the git-lfs client, `errors` the protocol's refusals.

mod errors;
mod flows;
mod restart;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{poll_until, TestServer};
use pushmirror::config::S3Config;
use pushmirror::model::lfs::Oid;
use pushmirror::model::storage::StorageName;

const LFS_JSON: &str = "application/vnd.git-lfs+json";

/// Bound for a cut-off upload's staged file to go once the server saw the connection close.
const CLEANED_UP: Duration = Duration::from_secs(10);

/// Whether a tool the suite needs is missing: fails under `CI=true`, else prints why and skips.
fn missing(tool: &str, found: bool) -> bool {
    if found {
        return false;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{tool} is required under CI=true (.ci/run installs it)"
    );
    eprintln!("skipping: {tool} is not installed");
    true
}

fn have(cmd: &str, arg: &str) -> bool {
    std::process::Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A real S3 server (`moto_server`) on an ephemeral loopback port with one bucket; killed on
/// drop.
struct MotoS3 {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for MotoS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server`: `$MOTO_SERVER`, else the venv `.ci/run` makes in `target/`, else on PATH.
fn moto_server_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return Some(p.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    have("moto_server", "--help").then(|| "moto_server".into())
}

impl MotoS3 {
    async fn start(bucket: &str) -> Option<MotoS3> {
        let path = moto_server_path();
        if missing("moto_server (moto[server])", path.is_some()) {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new(path?)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server");
        let s3 = MotoS3 {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let url = format!("{}/{bucket}", s3.endpoint);
        poll_until(Duration::from_secs(30), || async {
            http.put(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        Some(s3)
    }

    fn config(&self, bucket: &str, presigned: bool) -> S3Config {
        S3Config {
            endpoint: self.endpoint.clone(),
            bucket: bucket.to_owned(),
            region: "us-east-1".into(),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".to_owned().into()),
            presigned_downloads: presigned,
        }
    }
}

/// The git CLI with git-lfs, in a sealed-off environment of its own (`HOME` with git-lfs's
/// filters installed, no system config, never a prompt).
struct GitClient {
    home: tempfile::TempDir,
}

impl GitClient {
    async fn new() -> Result<GitClient> {
        let home = tempfile::tempdir()?;
        std::fs::write(
            home.path().join(".gitconfig"),
            "[user]\n\tname = T\n\temail = t@example.com\n[init]\n\tdefaultBranch = main\n",
        )?;
        let c = GitClient { home };
        c.ok(c.home.path(), &["lfs", "install"], &[]).await?;
        Ok(c)
    }

    async fn run(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(bool, String)> {
        let mut cmd = tokio::process::Command::new("git");
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .args(args)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().await?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), text))
    }

    async fn ok(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
        let (ok, text) = self.run(cwd, args, env).await?;
        ensure!(ok, "git {args:?} failed: {text}");
        Ok(text)
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `n` bytes that differ per `seed` (not compressible into a pointer's look-alike).
fn content(seed: u8, n: usize) -> Vec<u8> {
    let mut state = seed as u64 + 1;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

fn basic(token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("oauth2:{token}"))
    )
}

/// The server, raw HTTP to it, and the checks of what is stored.
struct Lfs {
    s: TestServer,
    http: reqwest::Client,
}

impl Lfs {
    fn new(s: TestServer) -> Lfs {
        Lfs {
            s,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn url(&self, token: &str, full_path: &str) -> String {
        self.s.push_url(token, full_path)
    }

    /// A batch request to `full_path` as `token` (`None`: anonymous).
    async fn batch(
        &self,
        full_path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.batch_raw(full_path, token, LFS_JSON, body.to_string().into_bytes())
            .await
    }

    async fn batch_raw(
        &self,
        full_path: &str,
        token: Option<&str>,
        accept: &str,
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .post(format!(
                "{}/{full_path}.git/info/lfs/objects/batch",
                self.s.base
            ))
            .header("accept", accept)
            .header("content-type", LFS_JSON)
            .body(body);
        if let Some(t) = token {
            req = req.header("authorization", basic(t));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Asks to upload `bytes` and returns the upload action (`None` when none is needed).
    async fn upload_action(
        &self,
        full_path: &str,
        token: &str,
        oid: &str,
        size: u64,
    ) -> Option<Value> {
        let (status, _, body) = self
            .batch(
                full_path,
                Some(token),
                json!({"operation": "upload", "objects": [{"oid": oid, "size": size}]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let actions = &body["objects"][0]["actions"];
        (!actions.is_null()).then(|| actions.clone())
    }

    /// Performs an action (`href` + `header`) with `method` and `body`.
    async fn act(&self, action: &Value, method: reqwest::Method, body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, action["href"].as_str().unwrap())
            .body(body);
        if let Some(headers) = action["header"].as_object() {
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str().unwrap());
            }
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.s.state.store.pool())
            .await
            .unwrap()
    }

    /// Whether the default storage's object store holds `oid`.
    async fn stored(&self, oid: &str) -> bool {
        self.s
            .state
            .lfs_objects
            .open(&StorageName::default_storage(), &Oid::parse(oid).unwrap())
            .await
            .unwrap()
            .is_some()
    }

    /// Staged files left in the default storage's LFS directory.
    fn staged(&self) -> usize {
        std::fs::read_dir(self.s.data_dir().join("repositories/lfs-objects/tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Nothing of `oid` is stored: no row, no link, no bytes, no staged file.
    async fn nothing_stored(&self, oid: &str) {
        assert_eq!(
            self.count(&format!(
                "select count(*) from lfs_objects where oid = '{oid}'"
            ))
            .await,
            0
        );
        assert_eq!(
            self.count(&format!(
                "select count(*) from lfs_object_projects where oid = '{oid}'"
            ))
            .await,
            0
        );
        assert!(!self.stored(oid).await, "{oid} is in the object store");
        assert_eq!(self.staged(), 0, "a staged file was left");
    }

    async fn statistics(&self, token: &str, id: i64) -> Value {
        let r = self
            .s
            .get(&format!("/projects/{id}?statistics=true"), token)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["statistics"].clone()
    }
}
