//! Hosting over smart HTTP, end to end: the real server on `127.0.0.1:0` with a fresh database and
//! repository root, driven by the real git CLI (and by raw HTTP where git cannot show a detail).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common;

use anyhow::{ensure, Context, Result};
use pushmirror::http::AppState;
use pushmirror::model::access::AccessLevel;
use pushmirror::model::entities::AuthMethod;
use pushmirror::store::NewMirror;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// A running server and the scratch space its tests use.
struct Harness {
    /// Keeps the server (API only: hosting tests check the queue, never act on it) running.
    _server: common::TestServer,
    state: AppState,
    addr: std::net::SocketAddr,
    data_dir: PathBuf,
    /// HOME for the git CLI: holds only the identity and default branch written at start.
    home: PathBuf,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Result<Harness> {
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Tester\n\temail = t@example.com\n[init]\n\tdefaultBranch = main\n",
        )?;
        let server = common::TestServer::start_with(|c| {
            c.allow_local_network = true;
            c.engine.git_timeout_secs = 300;
        })
        .await;
        Ok(Harness {
            state: server.state.clone(),
            addr: server.base.trim_start_matches("http://").parse()?,
            data_dir: server.data_dir(),
            _server: server,
            home,
            dir,
            http: reqwest::Client::new(),
        })
    }

    /// Creates a user and returns its id and a fresh token.
    async fn user(&self, name: &str) -> Result<(i64, String)> {
        let user = self.state.store.ensure_user(name, false, 1).await?;
        let (token, hash) = pushmirror::secret::mint_token();
        self.state
            .store
            .insert_token(user.id, &hash, "t", 1)
            .await?;
        Ok((user.id, token.expose_secret().to_owned()))
    }

    /// Creates a project through the API and returns its JSON.
    async fn project(&self, token: &str, path: &str, visibility: &str) -> Result<Value> {
        let r = self
            .http
            .post(format!("http://{}/api/v4/projects", self.addr))
            .header("PRIVATE-TOKEN", token)
            .json(&json!({"path": path, "visibility": visibility}))
            .send()
            .await?;
        ensure!(r.status() == 201, "creating project: {}", r.status());
        Ok(r.json().await?)
    }

    async fn show(&self, token: &str, id: i64) -> Result<Value> {
        let r = self
            .http
            .get(format!("http://{}/api/v4/projects/{id}", self.addr))
            .header("PRIVATE-TOKEN", token)
            .send()
            .await?;
        Ok(r.json().await?)
    }

    async fn member(&self, project: &Value, user_id: i64, level: AccessLevel) -> Result<()> {
        let id = project["id"].as_i64().context("id")?;
        Ok(self.state.store.add_member(id, user_id, level, 1).await?)
    }

    /// The clone URL of `full_path` with `token` (if any) as Basic credentials.
    fn url(&self, token: Option<&str>, full_path: &str) -> String {
        match token {
            Some(t) => format!("http://oauth2:{t}@{}/{full_path}.git", self.addr),
            None => format!("http://{}/{full_path}.git", self.addr),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the git CLI in `cwd` with a clean environment and never a prompt.
    async fn git(&self, cwd: &Path, args: &[&str]) -> Result<Output> {
        self.git_env(cwd, args, &[]).await
    }

    async fn git_env(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        let mut cmd = tokio::process::Command::new("git");
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .args(args)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ok(cmd.output().await?)
    }

    /// Runs git and fails with its stderr unless it succeeded.
    async fn git_ok(&self, cwd: &Path, args: &[&str]) -> Result<String> {
        let out = self.git(cwd, args).await?;
        ensure!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs git, expects it to fail, and returns its stderr.
    async fn git_fails(&self, cwd: &Path, args: &[&str]) -> Result<String> {
        let out = self.git(cwd, args).await?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        ensure!(!out.status.success(), "git {args:?} succeeded: {stderr}");
        Ok(stderr)
    }

    /// A new local repository with one commit on `branch` holding `file` = `content`.
    async fn work_tree(
        &self,
        name: &str,
        branch: &str,
        file: &str,
        content: &[u8],
    ) -> Result<PathBuf> {
        let wt = self.path(name);
        std::fs::create_dir_all(&wt)?;
        self.git_ok(&wt, &["init", "-q", "-b", branch]).await?;
        self.commit(&wt, file, content).await?;
        Ok(wt)
    }

    async fn commit(&self, wt: &Path, file: &str, content: &[u8]) -> Result<()> {
        std::fs::write(wt.join(file), content)?;
        self.git_ok(wt, &["add", file]).await?;
        self.git_ok(wt, &["commit", "-q", "-m", file]).await?;
        Ok(())
    }
}

/// Waits, boundedly, for `check` to hold.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    for _ in 0..500 {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("timed out waiting for {what}")
}

fn mirror_for(project_id: i64) -> NewMirror {
    NewMirror {
        project_id,
        url: "http://127.0.0.1:9/mirror.git".into(),
        has_user: false,
        user_is_git: false,
        has_password: false,
        credentials: None,
        enabled: true,
        only_protected_branches: false,
        keep_divergent_refs: false,
        mirror_branch_regex: None,
        auth_method: AuthMethod::Password,
        ssh_public_key: None,
        ssh_known_hosts: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_push_and_fetch_round_trip() -> Result<()> {
    let h = Harness::start().await?;
    let (_, token) = h.user("alice").await?;
    let p = h.project(&token, "proj", "private").await?;
    let id = p["id"].as_i64().context("id")?;
    assert_eq!(p["empty_repo"], json!(true));
    let url = h.url(Some(&token), "alice/proj");

    // Cloning the empty repository works and pushing into the clone sets up the project.
    h.git_ok(h.dir.path(), &["clone", "-q", &url, "first"])
        .await?;
    let first = h.path("first");
    h.git_ok(&first, &["symbolic-ref", "HEAD", "refs/heads/main"])
        .await?;
    h.commit(&first, "README", b"hello\n").await?;
    h.git_ok(&first, &["push", "-q", "origin", "main"]).await?;
    eventually("the push to be recorded", || async {
        Ok(h.show(&token, id).await?["empty_repo"] == json!(false))
    })
    .await?;
    let shown = h.show(&token, id).await?;
    assert_eq!(shown["default_branch"], json!("main"));

    // A second clone sees the commit; a v2 fetch brings the next one.
    h.git_ok(h.dir.path(), &["clone", "-q", &url, "second"])
        .await?;
    let second = h.path("second");
    assert_eq!(std::fs::read(second.join("README"))?, b"hello\n");
    h.commit(&first, "NEXT", b"next\n").await?;
    h.git_ok(&first, &["push", "-q", "origin", "main"]).await?;
    let out = h
        .git_env(
            &second,
            &["-c", "protocol.version=2", "fetch", "origin"],
            &[("GIT_TRACE_PACKET", "1")],
        )
        .await?;
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{trace}");
    assert!(
        trace.contains("version 2"),
        "server did not speak v2: {trace}"
    );
    let fetched = h.git_ok(&second, &["rev-parse", "origin/main"]).await?;
    let pushed = h.git_ok(&first, &["rev-parse", "main"]).await?;
    assert_eq!(fetched, pushed);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_push_of_another_branch_becomes_the_default() -> Result<()> {
    let h = Harness::start().await?;
    let (_, token) = h.user("alice").await?;
    let p = h.project(&token, "proj", "private").await?;
    let id = p["id"].as_i64().context("id")?;
    let wt = h.work_tree("wt", "trunk", "a", b"a").await?;
    h.git_ok(
        &wt,
        &["push", "-q", &h.url(Some(&token), "alice/proj"), "trunk"],
    )
    .await?;
    eventually("the default branch", || async {
        Ok(h.show(&token, id).await?["default_branch"] == json!("trunk"))
    })
    .await?;
    h.git_ok(
        h.dir.path(),
        &["clone", "-q", &h.url(Some(&token), "alice/proj"), "back"],
    )
    .await?;
    let head = h.git_ok(&h.path("back"), &["symbolic-ref", "HEAD"]).await?;
    assert_eq!(head.trim(), "refs/heads/trunk");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_push_streams_through() -> Result<()> {
    use rand::RngCore;
    let h = Harness::start().await?;
    let (_, token) = h.user("alice").await?;
    h.project(&token, "big", "private").await?;
    let mut data = vec![0u8; 6 * 1024 * 1024];
    rand::thread_rng().fill_bytes(&mut data);
    let wt = h.work_tree("wt", "main", "blob.bin", &data).await?;
    let url = h.url(Some(&token), "alice/big");
    h.git_ok(&wt, &["push", "-q", &url, "main"]).await?;
    h.git_ok(h.dir.path(), &["clone", "-q", &url, "back"])
        .await?;
    assert!(std::fs::read(h.path("back").join("blob.bin"))? == data);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_request_bodies_are_decompressed() -> Result<()> {
    use tokio::io::AsyncReadExt;
    let h = Harness::start().await?;
    let (_, token) = h.user("alice").await?;
    h.project(&token, "proj", "private").await?;
    let wt = h.work_tree("wt", "main", "a", b"a").await?;
    h.git_ok(
        &wt,
        &["push", "-q", &h.url(Some(&token), "alice/proj"), "main"],
    )
    .await?;
    // A protocol v2 ls-refs request, as git would send it, compressed.
    let request = b"0014command=ls-refs\n00010009peel\n0000";
    let mut gz = Vec::new();
    async_compression::tokio::bufread::GzipEncoder::new(&request[..])
        .read_to_end(&mut gz)
        .await?;
    let r = h
        .http
        .post(format!("http://{}/alice/proj.git/git-upload-pack", h.addr))
        .basic_auth("oauth2", Some(&token))
        .header("Content-Type", "application/x-git-upload-pack-request")
        .header("Content-Encoding", "gzip")
        .header("Git-Protocol", "version=2")
        .body(gz)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/x-git-upload-pack-result"
    );
    let body = r.text().await?;
    assert!(body.contains("refs/heads/main"), "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_permissions_follow_roles_and_protected_branches() -> Result<()> {
    let h = Harness::start().await?;
    let (_, owner) = h.user("alice").await?;
    let (reporter_id, reporter) = h.user("rita").await?;
    let (developer_id, developer) = h.user("dave").await?;
    let (maintainer_id, maintainer) = h.user("mia").await?;
    let p = h.project(&owner, "proj", "private").await?;
    let id = p["id"].as_i64().context("id")?;
    h.member(&p, reporter_id, AccessLevel::Reporter).await?;
    h.member(&p, developer_id, AccessLevel::Developer).await?;
    h.member(&p, maintainer_id, AccessLevel::Maintainer).await?;
    h.state
        .store
        .create_protected_branch(id, "main", 40, 40, false, 1)
        .await?;
    let wt = h.work_tree("wt", "main", "a", b"a").await?;
    h.git_ok(
        &wt,
        &["push", "-q", &h.url(Some(&owner), "alice/proj"), "main"],
    )
    .await?;
    h.commit(&wt, "b", b"b").await?;

    // A Reporter may clone but not push.
    h.git_ok(
        h.dir.path(),
        &["clone", "-q", &h.url(Some(&reporter), "alice/proj"), "r"],
    )
    .await?;
    let err = h
        .git_fails(
            &wt,
            &["push", &h.url(Some(&reporter), "alice/proj"), "main"],
        )
        .await?;
    assert!(err.contains("403"), "{err}");

    // A Developer is refused on the protected branch, with git's usual report naming it…
    let err = h
        .git_fails(
            &wt,
            &["push", &h.url(Some(&developer), "alice/proj"), "main"],
        )
        .await?;
    assert!(err.contains("[remote rejected] main -> main"), "{err}");
    assert!(err.contains("protected branches"), "{err}");
    let remote = h
        .git_ok(
            &wt,
            &[
                "ls-remote",
                &h.url(Some(&owner), "alice/proj"),
                "refs/heads/main",
            ],
        )
        .await?;
    let before = h.git_ok(&wt, &["rev-parse", "main~1"]).await?;
    assert!(remote.starts_with(before.trim()), "main moved: {remote}");
    // …but may push an unprotected branch.
    h.git_ok(
        &wt,
        &[
            "push",
            "-q",
            &h.url(Some(&developer), "alice/proj"),
            "main:feature",
        ],
    )
    .await?;

    // A Maintainer may push the protected branch.
    h.git_ok(
        &wt,
        &[
            "push",
            "-q",
            &h.url(Some(&maintainer), "alice/proj"),
            "main",
        ],
    )
    .await?;
    let remote = h
        .git_ok(
            &wt,
            &[
                "ls-remote",
                &h.url(Some(&owner), "alice/proj"),
                "refs/heads/main",
            ],
        )
        .await?;
    let now = h.git_ok(&wt, &["rev-parse", "main"]).await?;
    assert!(
        remote.starts_with(now.trim()),
        "main did not move: {remote}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_and_bad_credentials() -> Result<()> {
    let h = Harness::start().await?;
    let (_, owner) = h.user("alice").await?;
    h.project(&owner, "secret", "private").await?;
    h.project(&owner, "open", "public").await?;
    let wt = h.work_tree("wt", "main", "a", b"a").await?;
    for p in ["alice/secret", "alice/open"] {
        h.git_ok(&wt, &["push", "-q", &h.url(Some(&owner), p), "main"])
            .await?;
    }
    let top = h.dir.path();
    let err = h
        .git_fails(top, &["clone", "-q", &h.url(None, "alice/secret"), "a1"])
        .await?;
    assert!(err.contains("could not read Username"), "{err}");
    h.git_ok(top, &["clone", "-q", &h.url(None, "alice/open"), "a2"])
        .await?;
    assert!(h.path("a2").join("a").exists());
    // Anonymous callers may read a public project but never push to it.
    let err = h
        .git_fails(&wt, &["push", &h.url(None, "alice/open"), "main:other"])
        .await?;
    assert!(err.contains("could not read Username"), "{err}");
    let err = h
        .git_fails(
            top,
            &["clone", "-q", &h.url(Some(&owner), "alice/missing"), "a3"],
        )
        .await?;
    assert!(err.contains("404") || err.contains("not found"), "{err}");
    let err = h
        .git_fails(
            top,
            &[
                "clone",
                "-q",
                &h.url(Some("glpat-wrong"), "alice/secret"),
                "a4",
            ],
        )
        .await?;
    assert!(err.contains("Authentication failed"), "{err}");

    let r = h
        .http
        .get(format!(
            "http://{}/alice/secret.git/info/refs?service=git-upload-pack",
            h.addr
        ))
        .basic_auth("oauth2", Some("glpat-wrong"))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"pushmirror\""
    );
    let r = h
        .http
        .get(format!(
            "http://{}/alice/open.git/info/refs?service=git-upload-pack",
            h.addr
        ))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/x-git-upload-pack-advertisement"
    );
    assert_eq!(
        r.headers()["cache-control"],
        "no-cache, max-age=0, must-revalidate"
    );
    assert!(r
        .text()
        .await?
        .starts_with("001e# service=git-upload-pack\n0000"));
    // Paths that are not git's keep the API's 404.
    let r = h
        .http
        .get(format!("http://{}/alice/open", h.addr))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await?, json!({"error": "404 Not Found"}));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_requests_mirror_updates() -> Result<()> {
    let h = Harness::start().await?;
    let (_, token) = h.user("alice").await?;
    let p = h.project(&token, "proj", "private").await?;
    let id = p["id"].as_i64().context("id")?;
    let mirror = h
        .state
        .store
        .create_mirror(&mirror_for(id), 10, 1)
        .await?
        .unwrap();
    assert!(!h.state.store.mirror_update_pending(mirror.id).await?);
    let wt = h.work_tree("wt", "main", "a", b"a").await?;
    h.git_ok(
        &wt,
        &[
            "push",
            "-q",
            &h.url(Some(&token), "alice/proj"),
            "main",
            "--tags",
        ],
    )
    .await?;
    eventually("a mirror update to be requested", || async {
        Ok(h.state.store.mirror_update_pending(mirror.id).await?)
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_post_receive_hook_records_pushes_made_another_way() -> Result<()> {
    let h = Harness::start().await?;
    let (_, token) = h.user("alice").await?;
    let p = h.project(&token, "proj", "private").await?;
    let id = p["id"].as_i64().context("id")?;
    let mirror = h
        .state
        .store
        .create_mirror(&mirror_for(id), 10, 1)
        .await?
        .unwrap();
    let repo = h.data_dir.join("repositories").join(format!("{id}.git"));

    // Update the bare repository directly, as an operator's own transport would.
    let wt = h.work_tree("wt", "dev", "a", b"a").await?;
    let repo_arg = repo.to_str().context("utf-8 path")?;
    h.git_ok(&wt, &["push", "-q", repo_arg, "dev"]).await?;
    let new = h.git_ok(&wt, &["rev-parse", "dev"]).await?;
    assert!(!h.state.store.mirror_update_pending(mirror.id).await?);

    let mut hook = tokio::process::Command::new(env!("CARGO_BIN_EXE_pushmirror"));
    hook.args(["hook", "post-receive"])
        .current_dir(&repo)
        .env("GIT_DIR", ".")
        .env_remove("PUSHMIRROR_DATA_DIR")
        .env_remove("PUSHMIRROR_DATABASE_URL")
        .env_remove("PUSHMIRROR_CONFIG")
        .env_remove("PUSHMIRROR_SECRET_KEY_FILE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = hook.spawn()?;
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().context("stdin")?;
        let line = format!("{} {} refs/heads/dev\n", "0".repeat(40), new.trim());
        stdin.write_all(line.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    ensure!(
        out.status.success(),
        "hook failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(h.state.store.mirror_update_pending(mirror.id).await?);
    let shown = h.show(&token, id).await?;
    assert_eq!(shown["default_branch"], json!("dev"));
    assert_eq!(shown["empty_repo"], json!(false));

    // Run from a directory that is not a hosted repository, the hook refuses.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pushmirror"))
        .args(["hook", "post-receive"])
        .current_dir(&wt)
        .env("GIT_DIR", wt.join(".git"))
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    assert!(!out.status.success());
    Ok(())
}
