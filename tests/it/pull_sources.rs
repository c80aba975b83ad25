//! Imports and pull mirrors from every kind of source: `git daemon` (`git://`), OpenSSH with the
//! mirror's generated key and pinned host keys, a source with 10,000 refs, another pushmirror,
//! and sources that hang past the deadline or die mid-fetch.

use crate::common;
use crate::pull_mirrors::{
    builder, commit, import_settled, pull_until, push, sync_now, wait_for_ref, SETTLE,
};
use crate::remotes;

use std::sync::Arc;

use common::{blocking, poll_for, refs_of, TestServer, Work};
use remotes::{GitDaemonRemote, GitHttpRemote, SshRemote};
use serde_json::{json, Value};

/// A client with `main`, `feature` and tag `v1`, pushed to `url`.
async fn seeded(url: String) -> Arc<Work> {
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("one");
        w.git(&["tag", "v1"]);
        w.git(&["branch", "feature"]);
        w.commit("two");
        w.push(&url, &["main", "feature", "v1"]);
    })
    .await;
    work
}

async fn import(server: &TestServer, token: &str, body: Value) -> i64 {
    let r = server.post_json("/api/v4/projects", token, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    serde_json::from_str::<Value>(&r.text).unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_git_daemon_source_is_imported_and_pulled() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let daemon = GitDaemonRemote::start();
    daemon.create_repo("d");
    // git daemon takes no pushes here: the client pushes over the file system.
    let work = seeded(daemon.repo_path("d").display().to_string()).await;
    let id = import(
        &server,
        &token,
        json!({"name": "fromdaemon", "import_url": daemon.url("d"), "mirror": true}),
    )
    .await;
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "finished", "{status}");
    assert_eq!(refs_of(&server.repo_path(id)), daemon.refs("d"));
    // The project is a pull mirror of the same source.
    let shown: Value = serde_json::from_str(
        &server
            .get(&format!("/api/v4/projects/{id}/mirror/pull"), &token)
            .await
            .text,
    )
    .unwrap();
    assert_eq!(shown["enabled"], true, "{shown}");
    commit(&work, "three").await;
    push(
        &work,
        daemon.repo_path("d").display().to_string(),
        &["main"],
    )
    .await
    .unwrap();
    sync_now(&server, &token, id).await;
    let want = daemon.refs("d");
    poll_for(
        SETTLE,
        || async { refs_of(&server.repo_path(id)) },
        |r| *r == want,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_ssh_source_takes_the_generated_key_and_pinned_host_keys() {
    let Some(ssh) = SshRemote::start() else {
        return;
    };
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let url = ssh.create_repo("s");
    let path = ssh.repo_path("s").display().to_string();
    blocking(move || {
        let work = Work::new();
        work.commit("one");
        work.git(&["tag", "v1"]);
        work.git(&["branch", "feature"]);
        work.commit("two");
        // Over the file system as us, into a repository sshd's login account owns.
        let receive_pack = "--receive-pack=git -c safe.directory=* receive-pack";
        work.git(&["push", "-q", receive_pack, &path, "main", "feature", "v1"]);
    })
    .await;
    let id = import(
        &server,
        &token,
        json!({
            "name": "fromssh",
            "import_url": url,
            "import_host_keys": ssh.host_key_lines(),
        }),
    )
    .await;
    // The key is not authorised yet: the import fails, saying so, and shows the public key.
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "failed", "{status}");
    let key = status["ssh_public_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ssh-ed25519 "), "{key}");
    ssh.authorize_key(&key);
    let r = server
        .post_json(
            &format!("/api/v4/projects/{id}/import/retry"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "finished", "{status}");
    assert_eq!(refs_of(&server.repo_path(id)), ssh.refs("s"));
}

#[tokio::test]
async fn ten_thousand_refs_come_in_and_one_moved_ref_follows() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("big");
    let work = seeded(remote.url("big")).await;
    // 10,000 branches written straight into the source.
    let repo = remote.repo_path("big");
    blocking(move || {
        let head = String::from_utf8(
            std::process::Command::new("git")
                .arg("--git-dir")
                .arg(&repo)
                .args(["rev-parse", "refs/heads/main"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let mut input = String::new();
        for i in 0..10_000 {
            input.push_str(&format!("create refs/heads/b/{i:05} {}\n", head.trim()));
        }
        let mut child = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&repo)
            .args(["update-ref", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    })
    .await;
    let id = import(
        &server,
        &token,
        json!({"name": "big", "import_url": remote.url("big"), "mirror": true}),
    )
    .await;
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "finished", "{status}");
    assert_eq!(status["refs_imported"], 10_003, "{status}");
    assert_eq!(refs_of(&server.repo_path(id)).len(), 10_003);
    // One branch moves upstream; a sync brings exactly that.
    blocking({
        let w = work.clone();
        move || {
            w.git(&["checkout", "-q", "-b", "b/04242"]);
            w.git(&["reset", "-q", "--hard", "main"]);
            w.commit("moved");
        }
    })
    .await;
    push(&work, remote.url("big"), &["+b/04242"]).await.unwrap();
    sync_now(&server, &token, id).await;
    let want = remote.refs("big")["refs/heads/b/04242"].clone();
    wait_for_ref(
        || {
            refs_of(&server.repo_path(id))
                .get("refs/heads/b/04242")
                .cloned()
        },
        &want,
    )
    .await;
    pull_until(&server, &token, id, |v| v["update_status"] == "finished").await;
}

#[tokio::test]
async fn another_pushmirror_is_a_source_with_its_token() {
    let upstream = TestServer::builder().start().await;
    let up_token = upstream.token("root", true).await;
    let project = upstream.api(&up_token).create_project("origin").await;
    let push_url = upstream.push_url(&up_token, &project.path_with_namespace);
    let _work = seeded(push_url).await;
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let source = format!("{}/{}.git", upstream.base, project.path_with_namespace);
    let id = import(
        &server,
        &token,
        json!({
            "name": "copy",
            "import_url": source,
            "import_url_user": "oauth2",
            "import_url_password": up_token,
        }),
    )
    .await;
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "finished", "{status}");
    assert_eq!(
        refs_of(&server.repo_path(id)),
        refs_of(&upstream.repo_path(project.id))
    );
}

#[tokio::test]
async fn the_deadline_ends_an_import_from_a_hanging_source() {
    let server = builder()
        .tweak(|c| c.tuning.git_timeout_secs = 2)
        .start()
        .await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("h");
    let _work = seeded(remote.url("h")).await;
    remote.set_hang(true);
    let id = import(
        &server,
        &token,
        json!({"name": "hung", "import_url": remote.url("h")}),
    )
    .await;
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "failed", "{status}");
    let error = status["import_error"].as_str().unwrap();
    assert!(error.contains("did not finish within"), "{error}");
}

#[tokio::test]
async fn a_source_that_dies_mid_fetch_fails_the_import_clearly() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("dies");
    let _work = seeded(remote.url("dies")).await;
    remote.set_hang(true);
    let id = import(
        &server,
        &token,
        json!({"name": "died", "import_url": remote.url("dies")}),
    )
    .await;
    let path = format!("/api/v4/projects/{id}/import");
    poll_for(
        SETTLE,
        || async { serde_json::from_str::<Value>(&server.get(&path, &token).await.text).unwrap() },
        |v| v["import_status"] == "started",
    )
    .await
    .unwrap();
    // The source goes away (its server and every open connection) while git waits for it.
    drop(remote);
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "failed", "{status}");
    assert!(status["import_error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    assert!(refs_of(&server.repo_path(id)).is_empty());
}
