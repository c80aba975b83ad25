//! Git LFS hosting, end to end: the real server on `127.0.0.1:0` (SQLite and PostgreSQL, objects
//! on local disk or in a real S3 server, `moto_server`, on loopback), driven by the real
//! `git-lfs` client for the flows (track, push, clone, pull, partial pull) and by raw HTTP for
//! the protocol's error cases. Every refused upload is checked to have stored nothing: no row,
//! no object, no staged file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
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

/// The git-lfs client end to end: track, push, clone, pull, a partial pull; then
/// statistics, the metrics, knowing an oid granting nothing, and deletion removing what no
/// project links.
/// `on_disk`: objects are in the storage's directory; `presigned`: downloads go to S3 directly.
async fn client_flows(s: TestServer, on_disk: bool, presigned: bool) -> Result<()> {
    if missing("git-lfs", have("git-lfs", "version")) {
        return Ok(());
    }
    let t = Lfs::new(s);
    let alice = t.s.token("alice", false).await;
    let bob = t.s.token("bob", false).await;
    let project =
        t.s.api(&alice)
            .create_project_with(json!({"path": "big", "visibility": "private"}))
            .await;
    let other =
        t.s.api(&bob)
            .create_project_with(json!({"path": "other", "visibility": "private"}))
            .await;
    let git = GitClient::new().await?;
    let dir = tempfile::tempdir()?;
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work)?;
    git.ok(&work, &["init", "-q", "-b", "main"], &[]).await?;
    git.ok(&work, &["lfs", "track", "*.bin"], &[]).await?;
    let (a, b) = (content(1, 300_000), content(2, 200_001));
    std::fs::write(work.join("a.bin"), &a)?;
    std::fs::write(work.join("b.bin"), &b)?;
    git.ok(&work, &["add", "."], &[]).await?;
    git.ok(&work, &["commit", "-q", "-m", "big files"], &[])
        .await?;
    let url = t.url(&alice, "alice/big");
    git.ok(&work, &["push", "-q", &url, "HEAD:main"], &[])
        .await
        .context("git push with LFS objects")?;
    let (oid_a, oid_b) = (sha256(&a), sha256(&b));
    for oid in [&oid_a, &oid_b] {
        assert!(t.stored(oid).await, "{oid} stored");
    }
    assert_eq!(
        t.count(&format!(
            "select count(*) from lfs_object_projects where project_id = {}",
            project.id
        ))
        .await,
        2
    );
    if on_disk {
        // Content-addressed in the storage's directory, and never world-readable staged.
        let path = t.s.data_dir().join(format!(
            "repositories/lfs-objects/{}/{}/{oid_a}",
            &oid_a[0..2],
            &oid_a[2..4]
        ));
        assert_eq!(std::fs::read(&path)?, a);
    }
    assert_eq!(t.staged(), 0);

    // A clone gets the content; a clone without smudging, then a partial pull, only what it
    // asked for.
    let full = dir.path().join("full");
    git.ok(
        dir.path(),
        &["clone", "-q", &url, full.to_str().unwrap()],
        &[],
    )
    .await?;
    assert_eq!(std::fs::read(full.join("a.bin"))?, a);
    assert_eq!(std::fs::read(full.join("b.bin"))?, b);
    let partial = dir.path().join("partial");
    git.ok(
        dir.path(),
        &["clone", "-q", &url, partial.to_str().unwrap()],
        &[("GIT_LFS_SKIP_SMUDGE", "1")],
    )
    .await?;
    assert!(std::fs::read(partial.join("a.bin"))?.starts_with(b"version https://git-lfs"));
    git.ok(&partial, &["lfs", "pull", "--include", "a.bin"], &[])
        .await?;
    assert_eq!(std::fs::read(partial.join("a.bin"))?, a);
    assert!(std::fs::read(partial.join("b.bin"))?.starts_with(b"version https://git-lfs"));
    git.ok(&partial, &["lfs", "pull"], &[]).await?;
    assert_eq!(std::fs::read(partial.join("b.bin"))?, b);

    // Statistics and metrics.
    let stats = t.statistics(&alice, project.id).await;
    assert_eq!(
        stats["lfs_objects_size"],
        json!(a.len() + b.len()),
        "{stats}"
    );
    let metrics = t
        .http
        .get(format!("{}/-/metrics", t.s.base))
        .send()
        .await?
        .text()
        .await?;
    for op in ["upload", "download"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "pushmirror_lfs_transfer_bytes_total{{operation=\"{op}\"}}"
                ))
            })
            .with_context(|| format!("no {op} metric"))?;
        let n: u64 = line.rsplit(' ').next().unwrap().parse()?;
        if op == "download" && presigned {
            assert_eq!(n, 0, "presigned downloads do not pass through: {line}");
        } else {
            assert!(n >= (a.len() + b.len()) as u64, "{line}");
        }
    }

    // Knowing an oid grants nothing: bob's project does not link alice's objects, so it
    // downloads nothing and must upload the bytes (which are checked and stored once).
    let (status, _, body) = t
        .batch(
            "bob/other",
            Some(&bob),
            json!({"operation": "download", "objects": [{"oid": oid_a, "size": a.len()}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["objects"][0]["error"]["code"], 404, "{body}");
    let (_, _, body) = t
        .batch(
            "alice/big",
            Some(&alice),
            json!({"operation": "download", "objects": [{"oid": oid_a, "size": a.len()}]}),
        )
        .await;
    let href = body["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .context("a download action")?;
    assert_eq!(
        !href.starts_with(&t.s.base),
        presigned,
        "presigned downloads point at the bucket: {href}"
    );
    let actions = t
        .upload_action("bob/other", &bob, &oid_a, a.len() as u64)
        .await
        .expect("an upload action for an object bob's project does not link");
    let (status, _) = t
        .act(&actions["upload"], reqwest::Method::PUT, a.clone())
        .await;
    assert_eq!(status, 200);
    let (status, _) = t
        .act(
            &actions["verify"],
            reqwest::Method::POST,
            json!({"oid": oid_a, "size": a.len()})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        t.count(&format!(
            "select count(*) from lfs_objects where oid = '{oid_a}'"
        ))
        .await,
        1,
        "one object, however many projects link it"
    );
    // Alice's own grant is for alice's project: bob's token reads nothing of hers.
    let (status, _, _) = t
        .batch(
            "alice/big",
            Some(&bob),
            json!({"operation": "download", "objects": [{"oid": oid_a, "size": a.len()}]}),
        )
        .await;
    assert_eq!(
        status, 404,
        "a private project bob is no member of does not exist"
    );

    // Deleting alice's project removes the object only bob's project does not link.
    let r =
        t.s.delete(&format!("/projects/{}", project.id), &alice)
            .await;
    assert!(r.status == 202 || r.status == 204, "{}", r.text);
    assert!(t.stored(&oid_a).await, "bob's project still links a");
    assert!(!t.stored(&oid_b).await, "no project links b any more");
    assert_eq!(
        t.count(&format!(
            "select count(*) from lfs_objects where oid = '{oid_b}'"
        ))
        .await,
        0
    );
    let r = t.s.delete(&format!("/projects/{}", other.id), &bob).await;
    assert!(r.status == 202 || r.status == 204, "{}", r.text);
    assert!(!t.stored(&oid_a).await);
    assert_eq!(t.count("select count(*) from lfs_objects").await, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_push_clone_pull_on_local_storage() -> Result<()> {
    client_flows(TestServer::builder().start().await, true, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_push_clone_pull_on_local_storage_postgres() -> Result<()> {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    client_flows(s, true, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_push_clone_pull_on_s3() -> Result<()> {
    let Some(s3) = MotoS3::start("lfs").await else {
        return Ok(());
    };
    let config = s3.config("lfs", false);
    let s = TestServer::builder()
        .tweak(move |c| c.lfs.s3 = Some(config))
        .start()
        .await;
    client_flows(s, false, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_on_s3_with_presigned_downloads_postgres() -> Result<()> {
    let Some(s3) = MotoS3::start("lfs").await else {
        return Ok(());
    };
    let config = s3.config("lfs", true);
    let Some(s) = TestServer::builder()
        .tweak(move |c| c.lfs.s3 = Some(config))
        .postgres()
        .start()
        .await
    else {
        return Ok(());
    };
    client_flows(s, false, true).await
}

/// The protocol's errors over raw HTTP: each a git-lfs JSON error with its status, and nothing
/// stored.
async fn protocol_errors(s: TestServer) -> Result<()> {
    let t = Lfs::new(s);
    let root = t.s.token("root", true).await;
    let alice = t.s.token("alice", false).await;
    let alice_id = t.s.user_id("alice").await;
    let project =
        t.s.api(&alice)
            .create_project_with(json!({"path": "p", "visibility": "private"}))
            .await;
    let bytes = content(7, 5000);
    let oid = sha256(&bytes);
    let upload = json!({"operation": "upload", "objects": [{"oid": oid, "size": bytes.len()}]});

    // No credentials, bad credentials: 401 with the challenge git-lfs answers.
    for token in [None, Some("pmpat-not-a-token")] {
        let (status, headers, body) = t.batch("alice/p", token, upload.clone()).await;
        assert_eq!(status, 401, "{body}");
        assert!(headers["lfs-authenticate"]
            .to_str()?
            .starts_with("Basic realm="));
        assert_eq!(headers["content-type"], LFS_JSON);
        for key in ["message", "documentation_url", "request_id"] {
            assert!(body[key].is_string(), "{key} in {body}");
        }
        assert_eq!(
            body["request_id"].as_str(),
            headers["x-request-id"].to_str().ok()
        );
    }
    // A read-only token downloads but does not upload.
    let r =
        t.s.post_json(
            &format!("/users/{alice_id}/personal_access_tokens"),
            &root,
            json!({"name": "ro", "scopes": ["read_repository"]}),
        )
        .await;
    let read_only = r.body["token"].as_str().context("token")?.to_owned();
    let (status, _, body) = t.batch("alice/p", Some(&read_only), upload.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = t
        .batch(
            "alice/p",
            Some(&read_only),
            json!({"operation": "download", "objects": [{"oid": oid, "size": 1}]}),
        )
        .await;
    assert_eq!(status, 200);
    // No such project, and wrong Accept.
    let (status, _, _) = t.batch("alice/none", Some(&alice), upload.clone()).await;
    assert_eq!(status, 404);
    let (status, _, body) = t
        .batch_raw(
            "alice/p",
            Some(&alice),
            "text/html",
            upload.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 406, "{body}");
    // Malformed bodies, and a batch with no valid object.
    for body in [
        b"{not json".to_vec(),
        br#"{"operation": "upload"}"#.to_vec(),
        br#"{"operation": "delete", "objects": []}"#.to_vec(),
        json!({"operation": "upload", "objects": [{"oid": "ABC", "size": 1}]})
            .to_string()
            .into_bytes(),
    ] {
        let (status, _, answer) = t.batch_raw("alice/p", Some(&alice), LFS_JSON, body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer["message"].is_string());
    }
    // Some valid, some not: per-object 422s.
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "upload", "objects": [
                {"oid": oid, "size": bytes.len()},
                {"oid": "z".repeat(64), "size": 1},
                {"oid": oid.to_uppercase(), "size": 1},
                {"oid": oid, "size": -1},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["objects"][0]["actions"]["upload"].is_object());
    for i in 1..4 {
        assert_eq!(body["objects"][i]["error"]["code"], 422, "{body}");
    }
    // 1,001 objects in one request.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"oid": sha256(&[i as u8, (i >> 8) as u8]), "size": 1}))
        .collect();
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "upload", "objects": many}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    // An unknown oid downloads as a per-object 404.
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "download", "objects": [{"oid": oid, "size": bytes.len()}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["objects"][0]["error"]["code"], 404, "{body}");

    // Uploads: a wrong hash, a short body, a long body, a tampered grant: refused, nothing kept.
    let actions = t
        .upload_action("alice/p", &alice, &oid, bytes.len() as u64)
        .await
        .unwrap();
    assert_eq!(actions["upload"]["expires_in"], 3600);
    assert!(actions["upload"]["header"]["Authorization"]
        .as_str()
        .unwrap()
        .starts_with("RemoteAuth "));
    assert!(
        !actions.to_string().contains(&alice),
        "the caller's secret is never echoed"
    );
    let mut wrong = bytes.clone();
    wrong[0] ^= 1;
    let mut longer = bytes.clone();
    longer.push(0);
    for body in [wrong, bytes[..4000].to_vec(), longer] {
        let (status, answer) = t.act(&actions["upload"], reqwest::Method::PUT, body).await;
        assert_eq!(status, 422, "{answer}");
        t.nothing_stored(&oid).await;
    }
    let mut tampered = actions["upload"].clone();
    tampered["header"]["Authorization"] = json!("RemoteAuth AAAA");
    let (status, _) = t.act(&tampered, reqwest::Method::PUT, bytes.clone()).await;
    assert_eq!(status, 401);
    let mut bare = actions["upload"].clone();
    bare["header"] = json!({"Authorization": basic(&alice)});
    let (status, _) = t.act(&bare, reqwest::Method::PUT, bytes.clone()).await;
    assert_eq!(status, 401, "transfers take their grant only");
    t.nothing_stored(&oid).await;

    // A cut-off upload keeps nothing.
    let href = actions["upload"]["href"].as_str().unwrap();
    let auth = actions["upload"]["header"]["Authorization"]
        .as_str()
        .unwrap();
    let path = href.trim_start_matches(&t.s.base);
    let host = t.s.base.trim_start_matches("http://");
    {
        use tokio::io::AsyncWriteExt;
        let mut conn = tokio::net::TcpStream::connect(host).await?;
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        );
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(&bytes[..2500]).await?;
        conn.flush().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    poll_until(CLEANED_UP, || async { t.staged() == 0 }).await;
    t.nothing_stored(&oid).await;

    // The right bytes are stored; then verify, and a download through the server.
    let (status, _) = t
        .act(&actions["upload"], reqwest::Method::PUT, bytes.clone())
        .await;
    assert_eq!(status, 200);
    assert!(t.stored(&oid).await);
    let (status, _) = t
        .act(
            &actions["verify"],
            reqwest::Method::POST,
            json!({"oid": oid, "size": bytes.len() + 1})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 422, "a verify with the wrong size");
    assert!(t
        .upload_action("alice/p", &alice, &oid, bytes.len() as u64)
        .await
        .is_none());
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&read_only),
            json!({"operation": "download", "objects": [{"oid": oid, "size": bytes.len()}]}),
        )
        .await;
    assert_eq!(status, 200);
    let download = &body["objects"][0]["actions"]["download"];
    let r = t
        .http
        .get(download["href"].as_str().unwrap())
        .header(
            "authorization",
            download["header"]["Authorization"].as_str().unwrap(),
        )
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await?.as_ref(), bytes.as_slice());
    // The download grant is for downloading that object only.
    let mut misuse = download.clone();
    misuse["href"] = json!(href);
    let (status, _) = t.act(&misuse, reqwest::Method::PUT, bytes.clone()).await;
    assert_eq!(status, 401);

    // The path without `.git` is the same API.
    let r = t
        .http
        .post(format!("{}/alice/p/info/lfs/objects/batch", t.s.base))
        .header("accept", LFS_JSON)
        .header("authorization", basic(&alice))
        .body(upload.to_string())
        .send()
        .await?;
    assert_eq!(r.status(), 200);

    // Archived: read-only. LFS off: every route answers 404.
    let id = project.id;
    let r =
        t.s.post_json(&format!("/projects/{id}/archive"), &alice, json!({}))
            .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (status, _, body) = t.batch("alice/p", Some(&alice), upload.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = t
        .act(&actions["upload"], reqwest::Method::PUT, bytes.clone())
        .await;
    assert_eq!(
        status, 403,
        "a grant does not outlive the project's archiving"
    );
    let r =
        t.s.post_json(&format!("/projects/{id}/unarchive"), &alice, json!({}))
            .await;
    assert_eq!(r.status, 201);
    let r =
        t.s.put_json(
            &format!("/projects/{id}"),
            &alice,
            json!({"lfs_enabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["lfs_enabled"], false);
    let (status, _, _) = t.batch("alice/p", Some(&alice), upload.clone()).await;
    assert_eq!(status, 404);
    let r = t
        .http
        .get(download["href"].as_str().unwrap())
        .header(
            "authorization",
            download["header"]["Authorization"].as_str().unwrap(),
        )
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let r = t
        .http
        .get(format!("{}/alice/p.git/info/lfs/locks", t.s.base))
        .header("authorization", basic(&alice))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfs_protocol_errors() -> Result<()> {
    protocol_errors(TestServer::builder().start().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfs_protocol_errors_postgres() -> Result<()> {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    protocol_errors(s).await
}

/// The size limits: an object above `--lfs-max-object-size` is a per-object 422 naming the
/// limit; a batch that would take a project past `--lfs-max-project-size` a whole-request 413
/// naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfs_size_limits() -> Result<()> {
    let s = TestServer::builder()
        .tweak(|c| {
            c.lfs.max_object_size = 1000;
            c.lfs.max_project_size = 1500;
        })
        .start()
        .await;
    let t = Lfs::new(s);
    let alice = t.s.token("alice", false).await;
    t.s.api(&alice)
        .create_project_with(json!({"path": "p"}))
        .await;
    let (small, big) = (content(1, 900), content(2, 1001));
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "upload", "objects": [
                {"oid": sha256(&small), "size": small.len()},
                {"oid": sha256(&big), "size": big.len()},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let error = &body["objects"][1]["error"];
    assert_eq!(error["code"], 422);
    assert!(
        error["message"].as_str().unwrap().contains("1000 bytes"),
        "{error}"
    );
    let actions = t
        .upload_action("alice/p", &alice, &sha256(&small), 900)
        .await
        .unwrap();
    let (status, _) = t
        .act(&actions["upload"], reqwest::Method::PUT, small.clone())
        .await;
    assert_eq!(status, 200);
    let other = content(3, 700);
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "upload", "objects": [{"oid": sha256(&other), "size": 700}]}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("1500 bytes"),
        "{body}"
    );
    // What the project already holds needs no room.
    assert!(t
        .upload_action("alice/p", &alice, &sha256(&small), 900)
        .await
        .is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfs_protocol_errors_on_s3() -> Result<()> {
    let Some(s3) = MotoS3::start("lfs").await else {
        return Ok(());
    };
    let config = s3.config("lfs", false);
    let s = TestServer::builder()
        .tweak(move |c| c.lfs.s3 = Some(config))
        .start()
        .await;
    protocol_errors(s).await
}
