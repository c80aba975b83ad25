//! Protected branches are enforced on push exactly as GitLab does, over smart HTTP with the real
//! git CLI, on SQLite and PostgreSQL: per-branch push levels (0, 30, 40, 60) for Maintainers too,
//! force push only where a matching rule allows it, no deletion of a protected branch over git,
//! the most permissive matching rule winning, and GitLab's messages in git's usual report.

use std::path::{Path, PathBuf};

use crate::common;
use crate::common::TestServer;
use pushmirror::model::access::AccessLevel;
use serde_json::json;

struct Push {
    server: TestServer,
    dir: tempfile::TempDir,
    home: PathBuf,
    addr: String,
}

impl Push {
    async fn new(server: TestServer) -> Push {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = T\n\temail = t@example.com\n[init]\n\tdefaultBranch = main\n",
        )
        .unwrap();
        let addr = server.base.trim_start_matches("http://").to_owned();
        Push {
            server,
            dir,
            home,
            addr,
        }
    }

    fn url(&self, token: &str) -> String {
        format!("http://oauth2:{token}@{}/owner/repo.git", self.addr)
    }

    /// Runs git; returns (success, stderr).
    fn git(&self, cwd: &Path, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new("git")
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        )
    }

    fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let (ok, out) = self.git(cwd, args);
        assert!(ok, "git {args:?} failed: {out}");
        out
    }

    fn refused(&self, cwd: &Path, args: &[&str]) -> String {
        let (ok, out) = self.git(cwd, args);
        assert!(!ok, "git {args:?} succeeded: {out}");
        assert!(out.contains("pre-receive hook declined"), "{out}");
        out
    }

    fn commit(&self, wt: &Path, name: &str) -> String {
        std::fs::write(wt.join(name), name).unwrap();
        self.ok(wt, &["add", name]);
        self.ok(wt, &["commit", "-q", "-m", name]);
        self.ok(wt, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// The hosted repository's value of `branch`, read from the server's own repository.
    fn hosted(&self, project_id: i64, branch: &str) -> Option<String> {
        let repo = self.server.repo_path(project_id);
        common::refs_of(&repo)
            .get(&format!("refs/heads/{branch}"))
            .cloned()
    }
}

async fn member(s: &TestServer, project_id: i64, name: &str, level: AccessLevel) -> String {
    let token = s.token(name, false).await;
    let uid = s.user_id(name).await;
    s.state
        .store
        .add_member(project_id, uid, level, 1)
        .await
        .unwrap();
    token
}

async fn protect(s: &TestServer, owner: &str, project_id: i64, rule: serde_json::Value) {
    let r = s
        .post_json(
            &format!("/projects/{project_id}/protected_branches"),
            owner,
            rule,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn enforce_every_rule(server: TestServer) {
    let owner = server.token("owner", false).await;
    let p = server.api(&owner).create_project("repo").await;
    let id = p.id;
    let dev = member(&server, id, "dev", AccessLevel::Developer).await;
    let maint = member(&server, id, "maint", AccessLevel::Maintainer).await;
    let admin = server.token("root", true).await;
    let h = Push::new(server).await;
    let s = &h.server;

    let wt = h.dir.path().join("wt");
    std::fs::create_dir_all(&wt).unwrap();
    h.ok(&wt, &["init", "-q", "-b", "main"]);
    let first = h.commit(&wt, "a");
    h.ok(
        &wt,
        &[
            "push",
            "-q",
            &h.url(&owner),
            "main",
            "main:release-1",
            "main:v1.x",
        ],
    );
    protect(s, &owner, id, json!({"name": "main"})).await;

    // A Maintainer may fast-forward; a Developer may not (level 40).
    let second = h.commit(&wt, "b");
    let out = h.refused(&wt, &["push", &h.url(&dev), "main"]);
    assert!(
        out.contains(
            "GitLab: You are not allowed to push code to protected branches on this project."
        ),
        "{out}"
    );
    h.ok(&wt, &["push", "-q", &h.url(&maint), "main"]);
    assert_eq!(h.hosted(id, "main").as_deref(), Some(second.as_str()));

    // The Maintainer's force push is refused (allow_force_push is false), naming the rule.
    h.ok(&wt, &["reset", "-q", "--hard", &first]);
    let rewritten = h.commit(&wt, "c");
    let out = h.refused(&wt, &["push", "-f", &h.url(&maint), "main"]);
    assert!(
        out.contains(
            "You are not allowed to force push code to a protected branch on this project."
        ),
        "{out}"
    );
    assert_eq!(h.hosted(id, "main").as_deref(), Some(second.as_str()));
    h.ok(&wt, &["reset", "-q", "--hard", &second]);
    let forward = h.commit(&wt, "d");
    h.ok(&wt, &["push", "-q", &h.url(&maint), "main"]);
    assert_eq!(h.hosted(id, "main").as_deref(), Some(forward.as_str()));

    // Nobody deletes a protected branch over git, not even an admin.
    for token in [&maint, &owner, &admin] {
        let out = h.refused(&wt, &["push", &h.url(token), ":main"]);
        assert!(
            out.contains("You can only delete protected branches using the web interface."),
            "{out}"
        );
    }
    assert_eq!(h.hosted(id, "main").as_deref(), Some(forward.as_str()));

    // push_access_level 0 ("No one") stops Maintainers and Owners; 30 lets Developers push.
    let r = s
        .delete(&format!("/projects/{id}/protected_branches/main"), &owner)
        .await;
    assert_eq!(r.status, 204);
    protect(
        s,
        &owner,
        id,
        json!({"name": "main", "push_access_level": 0}),
    )
    .await;
    let next = h.commit(&wt, "e");
    for token in [&maint, &owner] {
        h.refused(&wt, &["push", &h.url(token), "main"]);
    }
    protect(
        s,
        &owner,
        id,
        json!({"name": "rel*", "push_access_level": 30, "allow_force_push": true}),
    )
    .await;
    h.ok(
        &wt,
        &[
            "push",
            "-q",
            "-f",
            &h.url(&dev),
            &format!("{rewritten}:refs/heads/release-1"),
        ],
    );
    assert_eq!(
        h.hosted(id, "release-1").as_deref(),
        Some(rewritten.as_str()),
        "force push where the rule allows it"
    );
    assert_eq!(h.hosted(id, "main").as_deref(), Some(forward.as_str()));

    // The most permissive matching rule wins: `v1.x` (Developers, force) over `v*` (no one).
    protect(s, &owner, id, json!({"name": "v*", "push_access_level": 0})).await;
    protect(
        s,
        &owner,
        id,
        json!({"name": "v1.x", "push_access_level": 30, "allow_force_push": true}),
    )
    .await;
    h.ok(
        &wt,
        &[
            "push",
            "-q",
            "-f",
            &h.url(&dev),
            &format!("{rewritten}:refs/heads/v1.x"),
        ],
    );
    assert_eq!(h.hosted(id, "v1.x").as_deref(), Some(rewritten.as_str()));
    let out = h.refused(
        &wt,
        &["push", &h.url(&dev), &format!("{next}:refs/heads/v2")],
    );
    assert!(
        out.contains("You are not allowed to create protected branches"),
        "{out}"
    );
    assert_eq!(h.hosted(id, "v2"), None);

    // A refused ref refuses the whole push; unprotected branches then stay as they were.
    let out = h.refused(
        &wt,
        &[
            "push",
            &h.url(&dev),
            "main",
            &format!("{next}:refs/heads/feature"),
        ],
    );
    assert!(out.contains("protected branches"), "{out}");
    assert_eq!(h.hosted(id, "feature"), None);
    h.ok(
        &wt,
        &[
            "push",
            "-q",
            &h.url(&dev),
            &format!("{next}:refs/heads/feature"),
        ],
    );
    assert_eq!(h.hosted(id, "feature").as_deref(), Some(next.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_branches_are_enforced_on_push_sqlite() {
    enforce_every_rule(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_branches_are_enforced_on_push_postgres() {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return;
    };
    enforce_every_rule(server).await;
}
