//! Hosting over smart HTTP, end to end: the real server on `127.0.0.1:0` with a fresh database and
//! repository root, driven by the real git CLI (and by raw HTTP where git cannot show a detail).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common;

use anyhow::{ensure, Context, Result};
use common::{poll_until, Project, TestServer};
use pushmirror::http::AppState;
use pushmirror::model::access::AccessLevel;
use serde_json::{json, Value};

/// Bound for what a push records after git has its answer; it takes milliseconds.
const RECORDED: Duration = Duration::from_secs(10);

/// A running server and the scratch space its tests use.
struct Harness {
    /// The server: API and hosting only (hosting tests check the queue, never act on it).
    server: TestServer,
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
        let server = TestServer::builder()
            .local_network(true)
            .tweak(|c| c.tuning.git_timeout_secs = 300)
            .start()
            .await;
        Ok(Harness {
            state: server.state.clone(),
            addr: server.base.trim_start_matches("http://").parse()?,
            data_dir: server.data_dir(),
            server,
            home,
            dir,
            http: reqwest::Client::new(),
        })
    }

    /// Creates a user and returns its id and a fresh token.
    async fn user(&self, name: &str) -> Result<(i64, String)> {
        let token = self.server.token(name, false).await;
        Ok((self.server.user_id(name).await, token))
    }

    /// Creates a project through the API.
    async fn project(&self, token: &str, path: &str, visibility: &str) -> Project {
        let body = json!({"path": path, "visibility": visibility});
        self.server.api(token).create_project_with(body).await
    }

    async fn show(&self, token: &str, id: i64) -> Project {
        self.server.api(token).project(id).await
    }

    /// Makes `user_id` a member of `project` at `level`, as the project's owner.
    async fn member(&self, owner: &str, project: &Project, user_id: i64, level: AccessLevel) {
        self.server
            .api(owner)
            .add_member(project.id, user_id, level.as_i64())
            .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_push_and_fetch_round_trip() -> Result<()> {
    let h = Harness::start().await?;
    let (_, token) = h.user("alice").await?;
    let p = h.project(&token, "proj", "private").await;
    let id = p.id;
    assert!(p.empty_repo, "{p:?}");
    let url = h.url(Some(&token), "alice/proj");

    // Cloning the empty repository works and pushing into the clone sets up the project.
    h.git_ok(h.dir.path(), &["clone", "-q", &url, "first"])
        .await?;
    let first = h.path("first");
    h.git_ok(&first, &["symbolic-ref", "HEAD", "refs/heads/main"])
        .await?;
    h.commit(&first, "README", b"hello\n").await?;
    h.git_ok(&first, &["push", "-q", "origin", "main"]).await?;
    assert!(
        poll_until(RECORDED, || async { !h.show(&token, id).await.empty_repo }).await,
        "the push was never recorded"
    );
    let shown = h.show(&token, id).await;
    assert_eq!(shown.default_branch.as_deref(), Some("main"));

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
    let p = h.project(&token, "proj", "private").await;
    let id = p.id;
    let wt = h.work_tree("wt", "trunk", "a", b"a").await?;
    h.git_ok(
        &wt,
        &["push", "-q", &h.url(Some(&token), "alice/proj"), "trunk"],
    )
    .await?;
    assert!(
        poll_until(RECORDED, || async {
            h.show(&token, id).await.default_branch.as_deref() == Some("trunk")
        })
        .await,
        "trunk never became the default branch"
    );
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
    h.project(&token, "big", "private").await;
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
    h.project(&token, "proj", "private").await;
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
    let p = h.project(&owner, "proj", "private").await;
    let id = p.id;
    h.member(&owner, &p, reporter_id, AccessLevel::Reporter)
        .await;
    h.member(&owner, &p, developer_id, AccessLevel::Developer)
        .await;
    h.member(&owner, &p, maintainer_id, AccessLevel::Maintainer)
        .await;
    // GitLab's defaults: Maintainers push and merge, nobody force-pushes.
    h.server.api(&owner).protect_branch(id, "main").await;
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
    h.project(&owner, "secret", "private").await;
    h.project(&owner, "open", "public").await;
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
    let p = h.project(&token, "proj", "private").await;
    let id = p.id;
    // Nothing listens on the discard port, and nothing here runs the update anyway.
    let mirror = h
        .server
        .api(&token)
        .create_mirror(id, "http://127.0.0.1:9/mirror.git", true)
        .await;
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
    assert!(
        poll_until(RECORDED, || async {
            h.state
                .store
                .mirror_update_pending(mirror.id)
                .await
                .unwrap()
        })
        .await,
        "the push never requested a mirror update"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_post_receive_hook_records_pushes_made_another_way() -> Result<()> {
    let h = Harness::start().await?;
    let (_, token) = h.user("alice").await?;
    let p = h.project(&token, "proj", "private").await;
    let id = p.id;
    // Nothing listens on the discard port, and nothing here runs the update anyway.
    let mirror = h
        .server
        .api(&token)
        .create_mirror(id, "http://127.0.0.1:9/mirror.git", true)
        .await;
    let repo = h.data_dir.join("repositories").join(format!("{id}.git"));

    // Update the bare repository directly, as an operator's own transport would.
    let wt = h.work_tree("wt", "dev", "a", b"a").await?;
    let repo_arg = repo.to_str().context("utf-8 path")?;
    h.git_ok(&wt, &["push", "-q", repo_arg, "dev"]).await?;
    let new = h.git_ok(&wt, &["rev-parse", "dev"]).await?;
    assert!(!h.state.store.mirror_update_pending(mirror.id).await?);

    let line = format!("{} {} refs/heads/dev\n", "0".repeat(40), new.trim());
    let out = crate::common::binary::post_receive_hook(&repo, &line, None).await?;
    ensure!(
        out.status.success(),
        "hook failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(h.state.store.mirror_update_pending(mirror.id).await?);
    let shown = h.show(&token, id).await;
    assert_eq!(shown.default_branch.as_deref(), Some("dev"));
    assert!(!shown.empty_repo, "{shown:?}");

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
