//! The real git-lfs client against the server: `git lfs lock`, `locks` (by path and id),
//! `locks --verify`, `unlock` with and without `--force`, and a `git push` whose pre-push hook
//! verifies locks and refuses a change to a path someone else holds, as against GitLab.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use super::{check_lock, paths, Team};
use crate::common::{blocking, TestServer};

/// Whether the git-lfs client is installed; a missing one skips the CLI tests with a reason,
/// except under `CI=true`, where `.ci/run` installs it and its absence fails them.
fn git_lfs_or_skip() -> bool {
    let found = Command::new("git")
        .args(["lfs", "version"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "git-lfs is required under CI=true"
        );
        eprintln!("skipping: the git-lfs client (`git lfs`) is not installed");
    }
    found
}

// ---- The real git-lfs client ---------------------------------------------------------------

/// A person's clone, driven with the real git and git-lfs in a sealed-off environment: its own
/// `HOME`, no system configuration, never a prompt; the token travels in the remote's URL,
/// where git and git-lfs both read it.
struct Checkout {
    dir: tempfile::TempDir,
}

impl Checkout {
    /// Clones `full_path` as `token`'s user and installs git-lfs's filters and hooks in it.
    async fn clone(server: &TestServer, token: &str, full_path: &str) -> Result<Checkout> {
        let c = Checkout {
            dir: tempfile::tempdir()?,
        };
        std::fs::create_dir_all(c.home())?;
        std::fs::create_dir_all(c.path())?;
        let url = server.push_url(token, full_path);
        c.ok(&["clone", "-q", &url, "."]).await?;
        c.ok(&["lfs", "install", "--local"]).await?;
        Ok(c)
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join(".home")
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Runs `git args` here.
    async fn git(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new("git");
        cmd.args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C");
        Ok(blocking(move || cmd.output()).await?)
    }

    /// Runs git and returns its stdout, failing with its stderr unless it succeeded.
    async fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.git(args).await?;
        ensure!(
            out.status.success(),
            "git {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs git, expects it to fail, and returns its stdout and stderr together.
    async fn fails(&self, args: &[&str]) -> Result<String> {
        let out = self.git(args).await?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(!out.status.success(), "git {args:?} succeeded: {text}");
        Ok(text)
    }

    /// Runs git with `--json` output and parses it.
    async fn json(&self, args: &[&str]) -> Result<Value> {
        let out = self.ok(args).await?;
        serde_json::from_str(&out).with_context(|| format!("git {args:?} printed {out}"))
    }

    fn write(&self, file: &str, content: &str) -> Result<()> {
        Ok(std::fs::write(self.path().join(file), content)?)
    }
}

/// The owner's first commit: `*.bin` goes to LFS and is lockable.
async fn seed(t: &Team) -> Result<()> {
    let c = Checkout {
        dir: tempfile::tempdir()?,
    };
    std::fs::create_dir_all(c.home())?;
    std::fs::create_dir_all(c.path())?;
    c.ok(&["init", "-q", "-b", "main"]).await?;
    c.write(
        ".gitattributes",
        "*.bin filter=lfs diff=lfs merge=lfs -text lockable\n",
    )?;
    c.ok(&["add", "."]).await?;
    c.ok(&["commit", "-q", "-m", "lockable binaries"]).await?;
    let url = t
        .server
        .push_url(&t.owner.2, &t.project.path_with_namespace);
    c.ok(&["push", "-q", &url, "main"]).await?;
    Ok(())
}

async fn git_lfs_cli(team: Team) -> Result<()> {
    if !git_lfs_or_skip() {
        return Ok(());
    }
    let t = &team;
    let full = t.project.path_with_namespace.clone();
    seed(t).await?;
    let dave = Checkout::clone(&t.server, &t.dev.2, &full).await?;
    let dora = Checkout::clone(&t.server, &t.dev2.2, &full).await?;
    let mae = Checkout::clone(&t.server, &t.maint.2, &full).await?;
    let remy = Checkout::clone(&t.server, &t.reporter.2, &full).await?;

    // dave locks a.bin; dora cannot, and sees dave's lock.
    dave.write("a.bin", "dave's art\n")?;
    let locked = dave.json(&["lfs", "lock", "--json", "a.bin"]).await?;
    let id = check_lock(&locked[0], "a.bin", &t.dev.0)?;
    dora.write("a.bin", "dora's art\n")?;
    let out = dora.fails(&["lfs", "lock", "a.bin"]).await?;
    ensure!(out.contains("already locked"), "dora's lock: {out}");
    let list = dora.json(&["lfs", "locks", "--json"]).await?;
    ensure!(
        paths(&list) == ["a.bin"] && list[0]["id"] == id.as_str(),
        "{list}"
    );
    let list = dora
        .json(&["lfs", "locks", "--json", "--path", "a.bin"])
        .await?;
    ensure!(paths(&list) == ["a.bin"], "by path: {list}");
    let list = dora.json(&["lfs", "locks", "--json", "--id", &id]).await?;
    ensure!(paths(&list) == ["a.bin"], "by id: {list}");

    // Verification: the lock is dave's own, and dora's someone else's.
    let v = dave.json(&["lfs", "locks", "--verify", "--json"]).await?;
    ensure!(
        paths(&v["ours"]) == ["a.bin"] && paths(&v["theirs"]).is_empty(),
        "dave: {v}"
    );
    let v = dora.json(&["lfs", "locks", "--verify", "--json"]).await?;
    ensure!(
        paths(&v["ours"]).is_empty() && paths(&v["theirs"]) == ["a.bin"],
        "dora: {v}"
    );

    // dora's push of a change to a.bin: with verification on, git-lfs's pre-push refuses it
    // before anything is sent, naming the lock's owner, as against GitLab.
    dora.ok(&["add", "a.bin"]).await?;
    dora.ok(&["commit", "-q", "-m", "dora's art"]).await?;
    let before = dora.ok(&["ls-remote", "origin", "refs/heads/main"]).await?;
    let out = dora
        .fails(&["-c", "lfs.locksverify=true", "push", "origin", "main"])
        .await?;
    ensure!(
        out.contains("Unable to push locked files")
            && out.contains("* a.bin - dave")
            && out.contains("Cannot update locked files."),
        "dora's verified push: {out}"
    );
    let after = dora.ok(&["ls-remote", "origin", "refs/heads/main"]).await?;
    ensure!(
        before == after,
        "the refused push moved main: {before} -> {after}"
    );
    // Without the setting, the client finds the locking API and suggests turning it on.
    let out = dora.git(&["push", "origin", "main"]).await?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(
        text.contains("Locking support detected on remote"),
        "dora's push: {text}"
    );

    // dora may not release dave's lock, with or without force (a Developer).
    let out = dora.fails(&["lfs", "unlock", "a.bin"]).await?;
    ensure!(
        out.contains(&format!("a.bin is locked by GitLab User {}", t.dev.1)),
        "dora's unlock: {out}"
    );
    let out = dora.fails(&["lfs", "unlock", "--force", "a.bin"]).await?;
    ensure!(
        out.contains("You must have maintainer access to force delete a lock"),
        "dora's forced unlock: {out}"
    );
    // mae, a Maintainer, breaks it (git-lfs looks at the file in her checkout too).
    mae.write("a.bin", "mae's copy\n")?;
    mae.ok(&["lfs", "unlock", "--force", "--id", &id]).await?;
    ensure!(
        dave.json(&["lfs", "locks", "--json"]).await? == json!([]),
        "lock left"
    );

    // dave locks again, commits his work (git-lfs releases only clean files) and releases
    // his own lock.
    dave.json(&["lfs", "lock", "--json", "a.bin"]).await?;
    dave.ok(&["add", "a.bin"]).await?;
    dave.ok(&["commit", "-q", "-m", "dave's art"]).await?;
    let out = dave.json(&["lfs", "unlock", "--json", "a.bin"]).await?;
    ensure!(out[0]["unlocked"] == true, "dave's unlock: {out}");
    ensure!(
        dave.json(&["lfs", "locks", "--json"]).await? == json!([]),
        "lock left"
    );

    // remy, a Reporter, lists but cannot lock.
    dora.json(&["lfs", "lock", "--json", "a.bin"]).await?;
    let list = remy.json(&["lfs", "locks", "--json"]).await?;
    ensure!(paths(&list) == ["a.bin"], "remy's list: {list}");
    remy.write("r.bin", "x")?;
    let out = remy.fails(&["lfs", "lock", "r.bin"]).await?;
    ensure!(
        out.contains("Access forbidden. Check your access level."),
        "remy's lock: {out}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_git_lfs_client_locks_lists_verifies_and_unlocks() -> Result<()> {
    git_lfs_cli(Team::start(TestServer::builder().start().await).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_git_lfs_client_locks_lists_verifies_and_unlocks_postgres() -> Result<()> {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    git_lfs_cli(Team::start(server).await).await
}

/// More locks than one page holds: git-lfs follows `next_cursor` to the end when listing and
/// verifying, and stops at its own `--limit`.
async fn many_locks(team: Team) -> Result<()> {
    if !git_lfs_or_skip() {
        return Ok(());
    }
    let t = &team;
    seed(t).await?;
    let total = pushmirror::model::lfs_locks::MAX_PAGE as usize * 2 + 3;
    for i in 0..total {
        let who = if i % 3 == 0 { &t.dev2 } else { &t.dev };
        let body = json!({"path": format!("many/{i:03}.bin")});
        let resp = t.lfs("POST", "locks", Some(&who.2), Some(body)).await;
        ensure!(resp.status == 201, "lock {i}: {}", resp.text);
    }
    let dave = Checkout::clone(&t.server, &t.dev.2, &t.project.path_with_namespace).await?;
    let list = dave.json(&["lfs", "locks", "--json"]).await?;
    let mut seen = paths(&list);
    seen.sort();
    seen.dedup();
    ensure!(seen.len() == total, "listed {} of {total}", seen.len());
    let v = dave.json(&["lfs", "locks", "--verify", "--json"]).await?;
    let (ours, theirs) = (paths(&v["ours"]).len(), paths(&v["theirs"]).len());
    ensure!(
        ours == total - total.div_ceil(3) && theirs == total.div_ceil(3),
        "verified {ours} ours and {theirs} theirs of {total}"
    );
    let five = dave
        .json(&["lfs", "locks", "--json", "--limit", "5"])
        .await?;
    ensure!(paths(&five).len() == 5, "--limit 5: {five}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_git_lfs_client_follows_pages_to_the_end() -> Result<()> {
    many_locks(Team::start(TestServer::builder().start().await).await).await
}
