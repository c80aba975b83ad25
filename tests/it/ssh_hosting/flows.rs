//! Clone, fetch and push over SSH (protocol v0 and v2), with the push recorded as an HTTP push
//! is: it reaches the project's push mirror; protected branches refuse with GitLab's message.

use std::time::Duration;

use super::{add_user_key, SshClient};
use crate::common::{blocking, poll_until, TestServer, Work};
use crate::remotes::GitDaemonRemote;

/// Generous bound for a mirror to converge: an update takes well under a second.
const CONVERGE: Duration = Duration::from_secs(30);

async fn clone_fetch_push(server: TestServer) {
    let token = server.token("alice", false).await;
    let api = server.api(&token);
    let project = api.create_project("hello").await;
    let client = SshClient::new(&server);
    add_user_key(&server, "alice", &client).await;
    let url = client.url(&project.path_with_namespace);

    let outcome = blocking(move || {
        let work = Work::new();
        let first = work.commit("first");
        // Protocol v0 push (git never pushes over v2; the client asks v0 of receive-pack).
        client
            .git(
                work.path(),
                &["-c", "protocol.version=0", "push", "-q", &url, "main"],
            )
            .expect("push v0");
        // A clone over v2, and proof that it spoke v2.
        let clone_dir = tempfile::tempdir().unwrap();
        let trace = client
            .git_command(
                clone_dir.path(),
                &["-c", "protocol.version=2", "clone", "-q", &url, "c"],
            )
            .env("GIT_TRACE_PACKET", "1")
            .output()
            .unwrap();
        assert!(trace.status.success(), "{trace:?}");
        let trace = String::from_utf8_lossy(&trace.stderr);
        assert!(trace.contains("version 2"), "{trace}");
        let cloned = clone_dir.path().join("c");
        assert_eq!(client.git(&cloned, &["rev-parse", "HEAD"]).unwrap(), first);
        // A second push (from a v2-configured client), then a fetch over v0 and v2.
        let second = work.commit("second");
        client
            .git(
                work.path(),
                &["-c", "protocol.version=2", "push", "-q", &url, "main"],
            )
            .expect("push v2 client");
        for version in ["0", "2"] {
            client
                .git(
                    &cloned,
                    &[
                        "-c",
                        &format!("protocol.version={version}"),
                        "fetch",
                        "-q",
                        "origin",
                    ],
                )
                .expect("fetch");
            assert_eq!(
                client.git(&cloned, &["rev-parse", "origin/main"]).unwrap(),
                second
            );
        }
        // ls-remote, and git archive --remote (upload-archive).
        let listed = client.git(&cloned, &["ls-remote", &url]).unwrap();
        assert!(
            listed.contains(&format!("{second}\trefs/heads/main")),
            "{listed}"
        );
        let archive = client
            .git(
                &cloned,
                &["archive", "--remote", &url, "--format=tar", "main"],
            )
            .map(|_| ());
        (first, second, archive)
    })
    .await;
    let (_, second, archive) = outcome;
    archive.expect("git archive --remote");
    // The push was recorded as a push: the project knows its default branch's head.
    let p = api.project(project.id).await;
    assert_eq!(p.default_branch.as_deref(), Some("main"));
    let refs = crate::common::refs_of(&server.repo_path(project.id));
    assert_eq!(refs.get("refs/heads/main"), Some(&second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_fetch_push_over_ssh_sqlite() {
    clone_fetch_push(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_fetch_push_over_ssh_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    clone_fetch_push(server).await;
}

async fn push_reaches_the_mirror(server: TestServer) {
    let token = server.token("alice", false).await;
    let api = server.api(&token);
    let project = api.create_project("mirrored").await;
    let daemon = GitDaemonRemote::start();
    api.create_mirror(project.id, &daemon.create_repo("m"), true)
        .await;
    let client = SshClient::new(&server);
    add_user_key(&server, "alice", &client).await;
    let url = client.url(&project.path_with_namespace);
    let head = blocking(move || {
        let work = Work::new();
        let head = work.commit("mirrored");
        client
            .git(work.path(), &["push", "-q", &url, "main"])
            .expect("push");
        head
    })
    .await;
    let reached = poll_until(CONVERGE, || async {
        daemon.refs("m").get("refs/heads/main") == Some(&head)
    })
    .await;
    assert!(
        reached,
        "the mirror never got the push: {:?}",
        daemon.refs("m")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_push_reaches_the_push_mirror_sqlite() {
    push_reaches_the_mirror(
        TestServer::builder()
            .ssh(true)
            .engine(true)
            .local_network(true)
            .start()
            .await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_push_reaches_the_push_mirror_postgres() {
    let Some(server) = TestServer::builder()
        .ssh(true)
        .engine(true)
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    push_reaches_the_mirror(server).await;
}

/// A developer (who may push) pushing to a protected branch gets GitLab's message; nothing moves.
async fn protected_branch(server: TestServer) {
    let owner = server.token("owner", false).await;
    server.token("dev", false).await;
    let dev_id = server.user_id("dev").await;
    let api = server.api(&owner);
    let project = api.create_project("guarded").await;
    api.add_member(project.id, dev_id, 30).await;
    let owner_client = SshClient::new(&server);
    add_user_key(&server, "owner", &owner_client).await;
    let dev_client = SshClient::new(&server);
    add_user_key(&server, "dev", &dev_client).await;
    let url = owner_client.url(&project.path_with_namespace);
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
    let before = crate::common::refs_of(&server.repo_path(project.id));
    let (refused, feature) = blocking(move || {
        work.commit("by dev");
        let refused = dev_client.git(work.path(), &["push", &url, "main"]);
        let feature = dev_client.git(work.path(), &["push", "-q", &url, "main:feature"]);
        (refused, feature)
    })
    .await;
    let stderr = refused.expect_err("a developer cannot push to a protected branch");
    assert!(
        stderr.contains(
            "GitLab: You are not allowed to push code to protected branches on this project."
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("[remote rejected] main -> main (pre-receive hook declined)"),
        "{stderr}"
    );
    let after = crate::common::refs_of(&server.repo_path(project.id));
    assert_eq!(before.get("refs/heads/main"), after.get("refs/heads/main"));
    feature.expect("an unprotected branch takes the developer's push");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_branch_refused_over_ssh_sqlite() {
    protected_branch(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_branch_refused_over_ssh_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    protected_branch(server).await;
}

/// A project three groups deep is reached by its full path, with or without `.git`; archived,
/// it still clones but refuses pushes with GitLab's message.
async fn nested_and_archived(server: TestServer) {
    let token = server.token("alice", false).await;
    let api = server.api(&token);
    let top = api.create_group("org", None).await;
    let team = api.create_group("team", Some(top.id)).await;
    let sub = api.create_group("sub", Some(team.id)).await;
    let project = api
        .create_project_with(serde_json::json!({"name": "deep", "namespace_id": sub.id}))
        .await;
    assert_eq!(project.path_with_namespace, "org/team/sub/deep");
    let client = SshClient::new(&server);
    add_user_key(&server, "alice", &client).await;
    let url = client.url(&project.path_with_namespace);
    let port = server.ssh_port.unwrap();
    let work = blocking(move || {
        let work = Work::new();
        let head = work.commit("deep");
        client
            .git(work.path(), &["push", "-q", &url, "main"])
            .expect("push");
        let dir = tempfile::tempdir().unwrap();
        let bare = format!("ssh://git@127.0.0.1:{port}/org/team/sub/deep");
        client
            .git(dir.path(), &["clone", "-q", &bare, "c"])
            .expect("clone without .git");
        assert_eq!(
            client
                .git(&dir.path().join("c"), &["rev-parse", "HEAD"])
                .unwrap(),
            head
        );
        (client, work, url)
    })
    .await;
    let r = server
        .post_json(
            &format!("/projects/{}/archive", project.id),
            &token,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let before = crate::common::refs_of(&server.repo_path(project.id));
    let (client, work, url) = work;
    let (cloned, pushed) = blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let cloned = client.git(dir.path(), &["clone", "-q", &url, "c"]);
        work.commit("too late");
        let pushed = client.git(work.path(), &["push", &url, "main"]);
        (cloned, pushed)
    })
    .await;
    cloned.expect("an archived project still clones");
    let err = pushed.expect_err("an archived project takes no push");
    assert!(
        err.contains("GitLab: You can't push code to an archived project."),
        "{err}"
    );
    assert_eq!(
        crate::common::refs_of(&server.repo_path(project.id)),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_and_archived_projects_over_ssh_sqlite() {
    nested_and_archived(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_and_archived_projects_over_ssh_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    nested_and_archived(server).await;
}
