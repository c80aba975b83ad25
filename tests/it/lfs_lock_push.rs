//! GitLab's server-side rule for LFS file locks, over smart HTTP with the real git CLI, on SQLite
//! and PostgreSQL: once a user locks a path through the locking API, another user's push whose
//! new commits change it (modify, delete, rename away; on a branch or a tag) is refused whole by
//! the pre-receive hook with GitLab's message and moves no ref, before the missing-objects check;
//! the holder's own push, a push touching other paths, a push after the unlock and any push to
//! a project with LFS disabled go through. With the listing of changed paths made to fail, a
//! push to a project where no other user holds a lock still goes through: it starts no
//! `git log`.

use std::path::{Path, PathBuf};

use crate::common::{blocking, TestServer};
use pushmirror::model::access::AccessLevel;
use pushmirror::model::lfs::{Oid, Pointer};
use serde_json::{json, Value};

/// The git-lfs media type of every locking request.
const LFS_JSON: &str = "application/vnd.git-lfs+json";

/// GitLab's refusal of a push of missing LFS objects, as git prints it.
const MISSING: &str = "remote: GitLab: LFS objects are missing.";

/// The refusal when the check itself failed, as git prints it.
const CHECK_FAILED: &str = "remote: GitLab: Internal API unreachable";

/// A client's working repository, driven by the real git CLI off the runtime's workers.
struct Client {
    dir: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("wt")).unwrap();
        Client { dir }
    }

    fn wt(&self) -> PathBuf {
        self.dir.path().join("wt")
    }

    /// Runs git in the work tree: (success, stderr and stdout).
    async fn git(&self, args: &[&str]) -> (bool, String) {
        let root = self.dir.path().to_owned();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        blocking(move || {
            let out = std::process::Command::new("git")
                .current_dir(root.join("wt"))
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", root.join("home"))
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_TERMINAL_PROMPT", "0")
                .env("LC_ALL", "C")
                .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
                .args(&args)
                .output()
                .expect("spawn git");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned()
                    + &String::from_utf8_lossy(&out.stdout),
            )
        })
        .await
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.git(args).await;
        assert!(ok, "git {args:?} failed: {out}");
        out.trim().to_owned()
    }

    /// A push git reports refused by the pre-receive hook.
    async fn refused(&self, args: &[&str]) -> String {
        let (ok, out) = self.git(args).await;
        assert!(!ok, "git {args:?} succeeded: {out}");
        assert!(out.contains("(pre-receive hook declined)"), "{out}");
        out
    }

    /// Writes `name` with `content`, commits everything and returns the new commit.
    async fn commit(&self, name: &str, content: &str) -> String {
        std::fs::write(self.wt().join(name), content).unwrap();
        self.ok(&["add", "-A"]).await;
        self.ok(&["commit", "-q", "-m", name]).await;
        self.ok(&["rev-parse", "HEAD"]).await
    }

    /// Runs `args` (which change the work tree), commits and returns the new commit.
    async fn commit_after(&self, args: &[&str]) -> String {
        self.ok(args).await;
        self.ok(&["commit", "-q", "-m", &args.join(" ")]).await;
        self.ok(&["rev-parse", "HEAD"]).await
    }
}

/// Makes the server's listing of a push's changed paths fail in `repo`, or work again: with
/// `diff.orderFile` naming no file, every `git log` that shows paths dies (rev-list and
/// receive-pack read no diff configuration), so a push whose check lists paths is refused with
/// the check's failure, and one that lists none shows it ran no such process.
fn break_path_listing(repo: &Path, broken: bool) {
    let mut cmd = std::process::Command::new("git");
    cmd.env("GIT_DIR", repo).arg("config");
    if broken {
        cmd.args(["diff.orderFile", "/nonexistent/pushmirror-order"]);
    } else {
        cmd.args(["--unset", "diff.orderFile"]);
    }
    assert!(cmd.status().unwrap().success());
}

/// A locking request to `full_path` as `token`; returns (status, body).
async fn lfs(
    s: &TestServer,
    full_path: &str,
    rest: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/{full_path}.git/info/lfs/{rest}", s.base))
        .header("accept", LFS_JSON)
        .header("content-type", LFS_JSON)
        .basic_auth("oauth2", Some(token))
        .body(body.to_string())
        .send()
        .await
        .expect("locking request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Locks `path` as `token`; returns the lock's id and its owner's name.
async fn lock(s: &TestServer, full_path: &str, token: &str, path: &str) -> (String, String) {
    let (status, body) = lfs(s, full_path, "locks", token, json!({ "path": path })).await;
    assert_eq!(status, 201, "{body}");
    let id = body["lock"]["id"].as_str().expect("lock id").to_owned();
    let owner = body["lock"]["owner"]["name"]
        .as_str()
        .expect("owner")
        .to_owned();
    (id, owner)
}

async fn unlock(s: &TestServer, full_path: &str, token: &str, id: &str) {
    let (status, body) = lfs(
        s,
        full_path,
        &format!("locks/{id}/unlock"),
        token,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn set_lfs_enabled(s: &TestServer, project: i64, on: bool) {
    sqlx::query("update projects set lfs_enabled = $1 where id = $2")
        .bind(i64::from(on))
        .bind(project)
        .execute(s.state.store.pool())
        .await
        .unwrap();
}

fn hosted(repo: &Path) -> std::collections::BTreeMap<String, String> {
    crate::common::refs_of(repo)
}

async fn check_lock_rule(s: TestServer) {
    let owner = s.token("olive", false).await;
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    let project = s
        .api(&owner)
        .create_project_with(json!({"path": "art", "visibility": "private"}))
        .await;
    for name in ["alice", "bob"] {
        let id = s.user_id(name).await;
        s.api(&owner)
            .add_member(project.id, id, AccessLevel::Maintainer.as_i64())
            .await;
    }
    let full = project.path_with_namespace.clone();
    let (as_alice, as_bob) = (s.push_url(&alice, &full), s.push_url(&bob, &full));
    let repo = s.repo_path(project.id);
    let c = Client::new();
    c.ok(&["init", "-q", "-b", "main"]).await;

    // No locks, or only the pusher's own: pushes go through without listing paths (the
    // listing is broken meanwhile, so one that ran would refuse the push).
    break_path_listing(&repo, true);
    c.commit("a.bin", "art v1\n").await;
    c.commit("b.txt", "notes v1\n").await;
    c.ok(&["push", "-q", &as_alice, "main"]).await;
    let base = c.commit("b.txt", "notes v2\n").await;
    c.ok(&["push", "-q", &as_bob, "main"]).await;
    assert_eq!(hosted(&repo)["refs/heads/main"], base);
    let (lock_id, alice_name) = lock(&s, &full, &alice, "a.bin").await;
    let refusal = format!("remote: GitLab: The path 'a.bin' is locked in Git LFS by {alice_name}");
    let mine = c.commit("b.txt", "notes v3\n").await;
    c.ok(&["push", "-q", &as_alice, "main"]).await;
    assert_eq!(hosted(&repo)["refs/heads/main"], mine);
    // Once another user's lock exists, Bob's push lists paths, which fails: refused, safe side.
    c.commit("c.txt", "more\n").await;
    let out = c.refused(&["push", &as_bob, "main"]).await;
    assert!(out.contains(CHECK_FAILED), "{out}");
    assert_eq!(hosted(&repo)["refs/heads/main"], mine);
    break_path_listing(&repo, false);
    c.ok(&["push", "-q", &as_bob, "main"]).await;
    let mine = c.ok(&["rev-parse", "HEAD"]).await;
    assert_eq!(hosted(&repo)["refs/heads/main"], mine);

    // Bob's push modifying a.bin is refused whole, on a branch, a new branch or a tag; no ref
    // moves.
    let before = hosted(&repo);
    c.commit("a.bin", "art v2 by bob\n").await;
    c.commit("c.txt", "even more\n").await;
    c.ok(&["tag", "-a", "-m", "t", "v-bob"]).await;
    let out = c.refused(&["push", &as_bob, "main", "main:side"]).await;
    assert!(out.contains(&refusal), "{out}");
    assert!(
        out.contains("[remote rejected] main -> side (pre-receive hook declined)"),
        "{out}"
    );
    let out = c.refused(&["push", &as_bob, "v-bob"]).await;
    assert!(out.contains(&refusal), "{out}");
    assert_eq!(hosted(&repo), before, "a refused push moved a ref");

    // The lock is checked before the missing LFS objects.
    let pointer = Pointer {
        oid: Oid::parse(&"e".repeat(64)).unwrap(),
        size: 7,
    };
    c.commit("a.bin", &pointer.encode()).await;
    let out = c.refused(&["push", &as_bob, "main"]).await;
    assert!(out.contains(&refusal) && !out.contains(MISSING), "{out}");

    // Deleting or renaming the locked path is changing it too.
    c.ok(&["reset", "-q", "--hard", &mine]).await;
    c.ok(&["tag", "-d", "v-bob"]).await;
    c.commit_after(&["rm", "-q", "a.bin"]).await;
    let out = c.refused(&["push", &as_bob, "main"]).await;
    assert!(out.contains(&refusal), "{out}");
    c.ok(&["reset", "-q", "--hard", &mine]).await;
    c.commit_after(&["mv", "a.bin", "renamed.bin"]).await;
    let out = c.refused(&["push", &as_bob, "main"]).await;
    assert!(out.contains(&refusal), "{out}");
    assert_eq!(hosted(&repo), before);

    // Bob's push touching other paths goes through: a lock no new commit touches never blocks.
    c.ok(&["reset", "-q", "--hard", &mine]).await;
    let other = c.commit("c.txt", "bob's own file\n").await;
    c.ok(&["push", "-q", &as_bob, "main"]).await;
    assert_eq!(hosted(&repo)["refs/heads/main"], other);

    // Alice's own push changing a.bin goes through; Bob building on it (a.bin's change now in
    // history) is not refused for it.
    let by_alice = c.commit("a.bin", "art v2 by alice\n").await;
    c.ok(&["push", "-q", &as_alice, "main"]).await;
    assert_eq!(hosted(&repo)["refs/heads/main"], by_alice);
    let on_top = c.commit("b.txt", "notes v4\n").await;
    c.ok(&["push", "-q", &as_bob, "main"]).await;
    assert_eq!(hosted(&repo)["refs/heads/main"], on_top);

    // After the unlock, Bob may change a.bin.
    let bobs = c.commit("a.bin", "art v3 by bob\n").await;
    c.refused(&["push", &as_bob, "main"]).await;
    unlock(&s, &full, &alice, &lock_id).await;
    c.ok(&["push", "-q", &as_bob, "main"]).await;
    assert_eq!(hosted(&repo)["refs/heads/main"], bobs);

    // With LFS disabled, locks are not checked (and the paths not listed).
    lock(&s, &full, &alice, "a.bin").await;
    let off = c.commit("a.bin", "art v4 by bob\n").await;
    c.refused(&["push", &as_bob, "main"]).await;
    set_lfs_enabled(&s, project.id, false).await;
    c.ok(&["push", "-q", &as_bob, "main"]).await;
    assert_eq!(hosted(&repo)["refs/heads/main"], off);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_changing_paths_others_locked_are_refused_sqlite() {
    check_lock_rule(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_changing_paths_others_locked_are_refused_postgres() {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return;
    };
    check_lock_rule(server).await;
}
