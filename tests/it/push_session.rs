//! `service::push_session`, driven directly against a real repository and database: the order
//! of a change of refs (the intent is durable before any ref may move, the recording comes
//! after and deletes it), and that a refused change writes nothing.

use std::path::Path;

use crate::common::TestServer;
use pushmirror::git::protocol::RefUpdate;
use pushmirror::model::access::{AccessLevel, Caller};
use pushmirror::service::push_session::{Begun, Origin, PushSession, RefChange};
use pushmirror::service::pushes::PushRecord;
use serde_json::json;

/// Runs git in the hosted repository `repo` (standing in for receive-pack) and returns its output.
fn git(repo: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_DIR", repo)
        .envs([
            ("GIT_AUTHOR_NAME", "t"),
            ("GIT_AUTHOR_EMAIL", "t@example.com"),
            ("GIT_COMMITTER_NAME", "t"),
            ("GIT_COMMITTER_EMAIL", "t@example.com"),
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The push intents waiting in the job queue.
async fn intents(s: &TestServer) -> i64 {
    let now = s.state.now_ms();
    let depths = s.state.store.queue_depths(now).await.unwrap();
    depths
        .iter()
        .filter(|d| d.kind == "record_push")
        .map(|d| d.jobs)
        .sum()
}

/// A Maintainer of every project (the admin as the caller, as the smart-HTTP edge would pass).
fn maintainer(user_id: i64) -> Caller {
    Caller {
        is_admin: false,
        level: Some(AccessLevel::Maintainer),
        authenticated: true,
        user_id: Some(user_id),
        deploy_key: None,
    }
}

fn create(name: &str, new: &str) -> RefUpdate {
    RefUpdate {
        old: "0".repeat(40),
        new: new.to_owned(),
        name: name.to_owned(),
    }
}

#[tokio::test]
async fn the_intent_comes_before_git_and_the_recording_after() {
    let s = TestServer::builder().start().await;
    let token = s.token("root", true).await;
    let root = s.user_id("root").await;
    let project = s.api(&token).create_project("app").await;
    let repo = s.repo_path(project.id);
    let tree = git(&repo, &["hash-object", "-t", "tree", "-w", "/dev/null"]);
    let commit = git(&repo, &["commit-tree", &tree, "-m", "first"]);
    let stored = s
        .state
        .store
        .project_by_id(project.id)
        .await
        .unwrap()
        .unwrap();
    let change = RefChange {
        origin: Origin::HttpPush,
        pusher: Some(root),
        updates: vec![create("refs/heads/main", &commit)],
    };
    assert_eq!(intents(&s).await, 0);
    let Begun::Accepted(session) = PushSession::begin(&s.state, &stored, maintainer(root), change)
        .await
        .unwrap()
    else {
        panic!("a Maintainer's push to an unprotected branch is accepted");
    };
    // Durable before git may move a ref, and nothing recorded yet.
    assert_eq!(intents(&s).await, 1);
    let before = s
        .state
        .store
        .project_by_id(project.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.default_branch, None);

    git(&repo, &["update-ref", "refs/heads/main", &commit]);
    let record = session.finish(&s.state).await.unwrap();
    assert!(
        matches!(&record, PushRecord::Recorded { default_branch: Some(b), .. } if b == "main"),
        "{record:?}"
    );
    assert_eq!(intents(&s).await, 0, "the recording deletes the intent");
    let after = s
        .state
        .store
        .project_by_id(project.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.default_branch.as_deref(), Some("main"));
}

#[tokio::test]
async fn a_refused_change_writes_nothing() {
    let s = TestServer::builder().start().await;
    let token = s.token("root", true).await;
    let root = s.user_id("root").await;
    let api = s.api(&token);
    let project = api.create_project("app").await;
    let commit = "a".repeat(40);

    // A protected branch refuses a Developer; an archived project refuses everyone.
    api.protect_branch(project.id, "main").await;
    let stored = s
        .state
        .store
        .project_by_id(project.id)
        .await
        .unwrap()
        .unwrap();
    let developer = Caller {
        level: Some(AccessLevel::Developer),
        ..maintainer(root)
    };
    let change = RefChange {
        origin: Origin::HttpPush,
        pusher: Some(root),
        updates: vec![
            create("refs/heads/topic", &commit),
            create("refs/heads/main", &commit),
        ],
    };
    let begun = PushSession::begin(&s.state, &stored, developer, change.clone())
        .await
        .unwrap();
    let Begun::Refused(refused) = begun else {
        panic!("a Developer may not push to a protected branch: {begun:?}");
    };
    assert_eq!(
        refused.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        ["refs/heads/main"]
    );
    assert_eq!(intents(&s).await, 0);

    let r = s
        .post_json(
            &format!("/projects/{}/archive", project.id),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let archived = s
        .state
        .store
        .project_by_id(project.id)
        .await
        .unwrap()
        .unwrap();
    let begun = PushSession::begin(&s.state, &archived, maintainer(root), change)
        .await
        .unwrap();
    let Begun::Refused(refused) = begun else {
        panic!("an archived project takes no push: {begun:?}");
    };
    assert_eq!(refused.len(), 2, "every ref is refused: {refused:?}");
    assert!(refused
        .iter()
        .all(|(_, why)| *why == "You can't push code to an archived project."));
    assert_eq!(intents(&s).await, 0);
}

#[tokio::test]
async fn a_push_that_names_no_ref_has_no_intent() {
    let s = TestServer::builder().start().await;
    let token = s.token("root", true).await;
    let root = s.user_id("root").await;
    let project = s.api(&token).create_project("app").await;
    let stored = s
        .state
        .store
        .project_by_id(project.id)
        .await
        .unwrap()
        .unwrap();
    let probe = RefChange {
        origin: Origin::HttpPush,
        pusher: Some(root),
        updates: Vec::new(),
    };
    let Begun::Accepted(session) = PushSession::begin(&s.state, &stored, maintainer(root), probe)
        .await
        .unwrap()
    else {
        panic!("git's authentication probe is accepted");
    };
    assert_eq!(intents(&s).await, 0);
    assert_eq!(
        session.finish(&s.state).await.unwrap(),
        PushRecord::Unchanged
    );

    // The API's changes always have one: an annotated tag's id is known only once it is made.
    let unknown = RefChange {
        origin: Origin::Api,
        pusher: Some(root),
        updates: Vec::new(),
    };
    let session = PushSession::begin_judged(&s.state, project.id, unknown)
        .await
        .unwrap();
    assert_eq!(intents(&s).await, 1);
    session.abandon(&s.state).await.unwrap();
    assert_eq!(intents(&s).await, 0);
}
