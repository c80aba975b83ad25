//! `/projects/:id/repository`: branches, tags and commits through GitLab's API against a
//! repository filled with the real git CLI, on SQLite and PostgreSQL: GitLab's entities and
//! flags, errors, permissions, pagination, and every change recorded as a push (mirrors asked
//! to update).

use std::path::Path;

use crate::common;
use crate::common::TestServer;
use pushmirror::model::access::AccessLevel;
use serde_json::{json, Value};

fn git(home: &Path, cwd: &Path, args: &[&str]) -> String {
    git_env(home, cwd, args, &[])
}

fn git_env(home: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn member(s: &TestServer, project: i64, name: &str, level: AccessLevel) -> String {
    let token = s.token(name, false).await;
    let uid = s.user_id(name).await;
    s.state
        .store
        .add_member(project, uid, level, 1)
        .await
        .unwrap();
    token
}

async fn repository_api(s: &TestServer) {
    let owner = s.token("owner", false).await;
    let p = s.api(&owner).create_project("repo").await;
    let id = p.id;
    let dev = member(s, id, "dev", AccessLevel::Developer).await;
    let maint = member(s, id, "maint", AccessLevel::Maintainer).await;
    let reporter = member(s, id, "rep", AccessLevel::Reporter).await;

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = Ada\n\temail = ada@example.com\n",
    )
    .unwrap();
    let wt = dir.path().join("wt");
    std::fs::create_dir_all(&wt).unwrap();
    git(&home, &wt, &["init", "-q", "-b", "main"]);
    git_env(
        &home,
        &wt,
        &["commit", "-q", "--allow-empty", "-m", "first"],
        &[("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")],
    );
    git_env(
        &home,
        &wt,
        &["commit", "-q", "--allow-empty", "-m", "second\n\nbody"],
        &[("GIT_COMMITTER_DATE", "2026-06-01T00:00:00Z")],
    );
    let head = git(&home, &wt, &["rev-parse", "HEAD"]);
    let parent = git(&home, &wt, &["rev-parse", "HEAD~1"]);
    let url = format!(
        "http://oauth2:{owner}@{}/owner/repo.git",
        s.base.trim_start_matches("http://")
    );
    git(&home, &wt, &["push", "-q", &url, "main"]);
    // The push is recorded once git has exited, which may be just after the client is done.
    let recorded = crate::common::poll_until(std::time::Duration::from_secs(10), || async {
        let p = s.state.store.project_by_id(id).await.unwrap().unwrap();
        p.default_branch.is_some() && !p.empty_repo
    })
    .await;
    assert!(recorded, "the push was never recorded");

    let r = s
        .post_json(
            &format!("/projects/{id}/remote_mirrors"),
            &owner,
            json!({"url": "https://example.com/mirror.git", "enabled": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mirror = r.body["id"].as_i64().unwrap();
    assert!(!s.state.store.mirror_update_pending(mirror).await.unwrap());

    let base = format!("/projects/{id}/repository");
    // The one branch, GitLab's entity.
    let r = s.get(&format!("{base}/branches"), &reporter).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let main = &r.body[0];
    assert_eq!(main["name"], "main");
    assert_eq!(main["default"], true);
    assert_eq!(main["protected"], false);
    assert_eq!(main["merged"], false);
    assert_eq!(main["can_push"], false, "a Reporter cannot push");
    assert_eq!(main["commit"]["id"], head.as_str());
    assert_eq!(main["commit"]["short_id"], &head[..8]);
    assert_eq!(main["commit"]["title"], "second");
    assert_eq!(main["commit"]["message"], "second\n\nbody\n");
    assert_eq!(main["commit"]["parent_ids"], json!([parent]));
    assert_eq!(main["commit"]["author_email"], "ada@example.com");
    assert!(main["web_url"]
        .as_str()
        .unwrap()
        .ends_with("/owner/repo/-/tree/main"));

    // Creating a branch is a push: the mirror is asked to update.
    let r = s
        .post_json(
            &format!("{base}/branches"),
            &dev,
            json!({"branch": "feature", "ref": parent}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["commit"]["id"], parent.as_str());
    assert_eq!(r.body["merged"], true);
    assert_eq!(r.body["can_push"], true);
    assert!(s.state.store.mirror_update_pending(mirror).await.unwrap());
    let hosted = common::refs_of(&s.repo_path(id));
    assert_eq!(hosted.get("refs/heads/feature"), Some(&parent));

    for (body, status, message) in [
        (
            json!({"branch": "feature", "ref": "main"}),
            400,
            "Branch already exists",
        ),
        (
            json!({"branch": "a..b", "ref": "main"}),
            400,
            "Branch name is invalid",
        ),
        (
            json!({"branch": "x", "ref": "nope"}),
            400,
            "Invalid reference name: nope",
        ),
    ] {
        let r = s.post_json(&format!("{base}/branches"), &dev, body).await;
        assert_eq!(r.status, status, "{}", r.text);
        assert_eq!(r.body["message"], message);
    }
    let r = s
        .post_json(&format!("{base}/branches"), &dev, json!({"ref": "main"}))
        .await;
    assert_eq!(
        (r.status, r.body["error"].clone()),
        (400, json!("branch is missing"))
    );
    let r = s
        .post_json(
            &format!("{base}/branches"),
            &reporter,
            json!({"branch": "r", "ref": "main"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Search, pagination, one branch, a missing one.
    let r = s.get(&format!("{base}/branches?search=FEAT"), &dev).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = s
        .get(&format!("{base}/branches?per_page=1&page=2"), &dev)
        .await;
    assert_eq!(r.header("x-total"), "2");
    assert_eq!(r.body[0]["name"], "main");
    let r = s.get(&format!("{base}/branches/feature"), &dev).await;
    assert_eq!(r.body["name"], "feature");
    let r = s.get(&format!("{base}/branches/nope"), &dev).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (404, json!("404 Branch Not Found"))
    );

    // Protection shows, and rules who may delete.
    let r = s
        .post_json(
            &format!("/projects/{id}/protected_branches"),
            &owner,
            json!({"name": "feat*", "push_access_level": 30}),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = s.get(&format!("{base}/branches/feature"), &dev).await;
    assert_eq!(r.body["protected"], true);
    assert_eq!(r.body["developers_can_push"], true);
    assert_eq!(r.body["developers_can_merge"], false);
    let r = s.delete(&format!("{base}/branches/feature"), &dev).await;
    assert_eq!(
        r.status, 403,
        "a Developer cannot delete a protected branch"
    );
    let r = s.delete(&format!("{base}/branches/main"), &maint).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.body["message"],
        "The default branch of a project cannot be deleted."
    );
    let r = s.delete(&format!("{base}/branches/feature"), &maint).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let hosted = common::refs_of(&s.repo_path(id));
    assert!(!hosted.contains_key("refs/heads/feature"));
    let r = s.delete(&format!("{base}/branches/feature"), &maint).await;
    assert_eq!(r.status, 404);

    // Tags: lightweight and annotated.
    let r = s
        .post_json(
            &format!("{base}/tags"),
            &dev,
            json!({"tag_name": "v1", "ref": parent}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["message"], Value::Null);
    assert_eq!(r.body["target"], parent.as_str());
    let r = s
        .post_json(
            &format!("{base}/tags"),
            &dev,
            json!({"tag_name": "v2", "ref": "main", "message": "Release 2"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["message"], "Release 2\n");
    assert_eq!(r.body["commit"]["id"], head.as_str());
    assert_ne!(
        r.body["target"],
        head.as_str(),
        "an annotated tag is its own object"
    );
    let r = s
        .post_json(
            &format!("{base}/tags"),
            &dev,
            json!({"tag_name": "v2", "ref": "main"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (400, json!("Tag v2 already exists"))
    );
    let r = s
        .post_json(
            &format!("{base}/tags"),
            &dev,
            json!({"tag_name": "v3", "ref": "nope"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (400, json!("Target nope is invalid"))
    );
    let r = s.get(&format!("{base}/tags"), &reporter).await;
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["v2", "v1"], "newest commit first");
    let r = s.get(&format!("{base}/tags/v2"), &reporter).await;
    assert_eq!(r.body["name"], "v2");
    let r = s.delete(&format!("{base}/tags/v1"), &reporter).await;
    assert_eq!(r.status, 403);
    let r = s.delete(&format!("{base}/tags/v1"), &dev).await;
    assert_eq!(r.status, 204);
    let r = s.get(&format!("{base}/tags/v1"), &dev).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (404, json!("404 Tag Not Found"))
    );
    let hosted = common::refs_of(&s.repo_path(id));
    assert!(!hosted.contains_key("refs/tags/v1") && hosted.contains_key("refs/tags/v2"));

    // One commit by id, by branch name, or not at all.
    let r = s.get(&format!("{base}/commits/{parent}"), &reporter).await;
    assert_eq!(r.body["id"], parent.as_str());
    assert_eq!(r.body["title"], "first");
    let r = s.get(&format!("{base}/commits/main"), &reporter).await;
    assert_eq!(r.body["id"], head.as_str());
    for bad in ["nope", "--all", "main%00"] {
        let r = s.get(&format!("{base}/commits/{bad}"), &reporter).await;
        assert!(r.status == 404 || r.status == 400, "{bad}: {}", r.text);
    }
    // Outsiders see nothing of a private project.
    let stranger = s.token("stranger", false).await;
    let r = s.get(&format!("{base}/branches"), &stranger).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_branches_tags_and_commits_sqlite() {
    let s = TestServer::builder().start().await;
    repository_api(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_branches_tags_and_commits_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    repository_api(&s).await;
}
