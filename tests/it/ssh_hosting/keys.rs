//! Whose key it is decides what it may do: a deploy key reads the projects it is enabled in
//! (even private ones) and pushes only where it may write and the protected-branch rules allow;
//! a blocked user's key and a key past its `expires_at` let no one in; git-lfs, over the same
//! key, gets the project's LFS endpoint and a token from `git-lfs-authenticate`.

use serde_json::{json, Value};

use super::{add_deploy_key, add_user_key, add_user_key_expiring, texts, SshClient, NOT_FOUND};
use crate::common::{blocking, refs_of, TestServer, Work};

async fn deploy_keys(server: TestServer) {
    let owner = server.token("owner", false).await;
    let api = server.api(&owner);
    let project = api.create_project("service").await;
    let elsewhere = api.create_project("elsewhere").await;
    let owner_client = SshClient::new(&server);
    add_user_key(&server, "owner", &owner_client).await;
    let reader = SshClient::new(&server);
    add_deploy_key(&server, "owner", project.id, &reader, false).await;
    let writer = SshClient::new(&server);
    add_deploy_key(&server, "owner", project.id, &writer, true).await;
    let url = owner_client.url(&project.path_with_namespace);
    let other_url = owner_client.url(&elsewhere.path_with_namespace);
    let work = blocking({
        let url = url.clone();
        move || {
            let work = Work::new();
            work.commit("base");
            owner_client
                .git(work.path(), &["push", "-q", &url, "main"])
                .expect("owner push");
            work
        }
    })
    .await;
    api.protect_branch(project.id, "main").await;
    let repo = server.repo_path(project.id);
    let before = refs_of(&repo);
    let outcomes = blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        // Read-only: clones the private project, pushes nothing, sees no other project.
        reader
            .git(dir.path(), &["clone", "-q", &url, "r"])
            .expect("a read-only deploy key clones");
        work.commit("from ci");
        let ro_push = reader.git(work.path(), &["push", &url, "main:ci"]);
        let ro_other = reader.git(dir.path(), &["clone", &other_url, "o"]);
        // Read-write: pushes a branch, not the protected one, and sees no other project.
        let rw_branch = writer.git(work.path(), &["push", "-q", &url, "main:ci"]);
        let rw_protected = writer.git(work.path(), &["push", &url, "main"]);
        let rw_other = writer.git(dir.path(), &["clone", &other_url, "o"]);
        (ro_push, ro_other, rw_branch, rw_protected, rw_other)
    })
    .await;
    let (ro_push, ro_other, rw_branch, rw_protected, rw_other) = outcomes;
    let err = ro_push.expect_err("a read-only deploy key cannot push");
    assert!(
        err.contains("This deploy key does not have write access to this project."),
        "{err}"
    );
    for other in [ro_other, rw_other] {
        let err = other.expect_err("a deploy key sees only its projects");
        assert!(err.contains(NOT_FOUND), "{err}");
    }
    rw_branch.expect("a deploy key with write access pushes a branch");
    let err = rw_protected.expect_err("a protected branch lists no deploy key");
    assert!(
        err.contains("You are not allowed to push code to protected branches on this project."),
        "{err}"
    );
    let after = refs_of(&repo);
    assert_eq!(after.get("refs/heads/main"), before.get("refs/heads/main"));
    assert!(after.contains_key("refs/heads/ci"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_keys_read_and_push_as_enabled_sqlite() {
    deploy_keys(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_keys_read_and_push_as_enabled_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    deploy_keys(server).await;
}

async fn blocked_and_expired(server: TestServer) {
    let root = server.token("root", true).await;
    let token = server.token("alice", false).await;
    let project = server.api(&token).create_project("p").await;
    let fresh = SshClient::new(&server);
    add_user_key(&server, "alice", &fresh).await;
    let stale = SshClient::new(&server);
    let yesterday = chrono::Utc::now().timestamp_millis() - 86_400_000;
    add_user_key_expiring(&server, "alice", &stale, Some(yesterday)).await;
    let command = format!("git-upload-pack '{}.git'", project.path_with_namespace);

    let (fresh, stale) = blocking({
        let command = command.clone();
        move || {
            let out = fresh.ssh(&["-T"], &[]);
            assert_eq!(texts(&out).0, "Welcome to pushmirror, @alice!\n");
            let out = stale.ssh(&[], &[&command]);
            let (_, stderr) = texts(&out);
            assert_eq!(out.status.code(), Some(255), "an expired key: {stderr}");
            assert!(stderr.contains("Permission denied (publickey)"), "{stderr}");
            (fresh, stale)
        }
    })
    .await;
    let alice = server.user_id("alice").await;
    let r = server
        .post_json(&format!("/users/{alice}/block"), &root, json!({}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    blocking(move || {
        let out = fresh.ssh(&[], &[&command]);
        let (stdout, stderr) = texts(&out);
        assert_eq!(
            out.status.code(),
            Some(255),
            "a blocked user's key: {stderr}"
        );
        assert!(stderr.contains("Permission denied (publickey)"), "{stderr}");
        assert!(stdout.is_empty());
        drop(stale);
    })
    .await;
    let metrics = reqwest::get(format!("{}/-/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for result in ["expired_key", "blocked_user"] {
        let line = format!("pushmirror_ssh_auth_total{{result=\"{result}\"}} 0");
        assert!(!metrics.contains(&line), "{result} not counted: {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_users_and_expired_keys_are_refused_sqlite() {
    blocked_and_expired(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_users_and_expired_keys_are_refused_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    blocked_and_expired(server).await;
}

/// git-lfs over an SSH remote: `git-lfs-authenticate` answers with the project's LFS API and a
/// token, and the objects travel over HTTP with it; a read-only deploy key gets no upload token.
async fn lfs_over_ssh(server: TestServer) {
    let token = server.token("alice", false).await;
    let project = server.api(&token).create_project("media").await;
    let client = SshClient::new(&server);
    add_user_key(&server, "alice", &client).await;
    let reader = SshClient::new(&server);
    add_deploy_key(&server, "alice", project.id, &reader, false).await;
    let path = project.path_with_namespace.clone();
    let url = client.url(&path);
    let base = server.base.clone();
    blocking(move || {
        let out = client.ssh(
            &[],
            &[&format!("git-lfs-authenticate '{path}.git' download")],
        );
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let answer: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(answer["href"], format!("{base}/{path}.git/info/lfs"));
        let auth = answer["header"]["Authorization"].as_str().unwrap();
        assert!(auth.starts_with("RemoteAuth "), "{auth}");
        assert!(answer["expires_in"].as_u64().unwrap() > 0);
        let out = reader.ssh(&[], &[&format!("git-lfs-authenticate '{path}' upload")]);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stderr,
            "This deploy key does not have write access to this project.\n"
        );

        let work = Work::new();
        let lfs = |cwd: &std::path::Path, args: &[&str]| client.git(cwd, args).unwrap();
        // Into the client's own sealed-off HOME.
        lfs(work.path(), &["lfs", "install"]);
        lfs(work.path(), &["lfs", "track", "*.bin"]);
        std::fs::write(work.path().join("big.bin"), vec![7u8; 300_000]).unwrap();
        lfs(work.path(), &["add", ".gitattributes", "big.bin"]);
        lfs(work.path(), &["commit", "-q", "-m", "lfs"]);
        lfs(work.path(), &["push", "-q", &url, "main"]);
        let dir = tempfile::tempdir().unwrap();
        lfs(dir.path(), &["clone", "-q", &url, "c"]);
        let got = std::fs::read(dir.path().join("c/big.bin")).unwrap();
        assert!(
            got == vec![7u8; 300_000],
            "the object, not its pointer: {} bytes",
            got.len()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_over_ssh_sqlite() {
    lfs_over_ssh(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_over_ssh_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    lfs_over_ssh(server).await;
}
