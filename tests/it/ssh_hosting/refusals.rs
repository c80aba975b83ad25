//! What must not work over SSH, and the fixed answers it gets: keys the server never saw, keys
//! offered but not proven, another login user; every command but git's; every path that could
//! mean something else (traversal, `%2e`, shell syntax); a pty, port forwarding and
//! subsystems. `ssh -T` gets the welcome. Nothing reveals a server path.

use super::{add_user_key, metric, texts, SshClient, NOT_FOUND};
use crate::common::{blocking, TestServer};

/// `pushmirror_ssh_auth_total{result}` as the server's metrics show it now.
async fn auth_count(server: &TestServer, result: &str) -> u64 {
    metric(
        server,
        &format!("pushmirror_ssh_auth_total{{result=\"{result}\"}}"),
    )
    .await as u64
}

async fn refusals(server: TestServer) {
    let token = server.token("alice", false).await;
    let api = server.api(&token);
    let project = api.create_project("hello").await;
    let other = server.token("bob", false).await;
    let private = server.api(&other).create_project("secret").await;
    let client = SshClient::new(&server);
    add_user_key(&server, "alice", &client).await;
    let stranger = SshClient::new(&server);
    let data_dir = server.data_dir().display().to_string();
    let http_port = server.base.rsplit(':').next().unwrap().to_owned();
    let (own, secret) = (project.path_with_namespace, private.path_with_namespace);

    blocking(move || {
        // `ssh -T`: the welcome on stdout, status 0, as GitLab answers people testing a key.
        let out = client.ssh(&["-T"], &[]);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(stdout, "Welcome to pushmirror, @alice!\n");

        // A pty is refused (OpenSSH's client then gives up, as it does when a pty it was
        // told to insist on is refused); no shell ever runs.
        let out = client.ssh(&["-tt"], &[]);
        let (stdout, stderr) = texts(&out);
        assert!(stderr.contains("PTY allocation request failed"), "{stderr}");
        assert_eq!(out.status.code(), Some(255), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");

        // Commands other than git's get gitlab-shell's fixed answer.
        for command in [
            "id",
            "sh -c id",
            "bash",
            "git-upload-packx 'alice/hello'",
            "scp -f /etc/passwd",
            "git-lfs-transfer 'alice/hello' upload",
            "git status",
        ] {
            let out = client.ssh(&[], &[command]);
            let (stdout, stderr) = texts(&out);
            assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
            assert_eq!(stderr, "Disallowed command\n", "{command}");
            assert!(stdout.is_empty(), "{command}: {stdout}");
        }

        // Paths that name no project the key may see, or could mean something else: one
        // fixed message, status 1, never a server path, nothing run.
        let marker = client.dir().join("pwned");
        let touch = format!("touch {}", marker.display());
        let cases = [
            format!("git-upload-pack '{secret}.git'"),
            "git-upload-pack '/nope/nope.git'".to_owned(),
            "git-upload-pack '../../etc'".to_owned(),
            format!("git-upload-pack '/{own}/../../{secret}.git'"),
            format!("git-receive-pack '{own}/..'"),
            "git-upload-pack '/etc/passwd'".to_owned(),
            format!("git-upload-pack '{data_dir}/repositories/1.git'"),
            "git-upload-pack 'alice/%2e%2e/bob/secret.git'".to_owned(),
            "git-upload-pack '%2e%2e/%2e%2e/etc'".to_owned(),
            format!("git-upload-pack '{own}';{touch}"),
            format!("git-upload-pack '{own};{touch}'"),
            format!("git-upload-pack 'alice/$({touch})'"),
            format!("git-upload-pack 'alice/`{touch}`'"),
            format!("git-upload-pack '{own}\n{touch}'"),
            format!("git-upload-pack '{own}' && {touch}"),
            format!("git-upload-pack \"{own}\""),
            format!("git-upload-pack '{own}'\\''x'"),
            format!("git-upload-pack '{own}' '{own}'"),
            "git-upload-pack".to_owned(),
        ];
        for command in &cases {
            let out = client.ssh(&[], &[command]);
            let (stdout, stderr) = texts(&out);
            assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
            assert_eq!(stderr, format!("{NOT_FOUND}\n"), "{command:?}");
            assert!(stdout.is_empty(), "{command:?}: {stdout}");
        }
        assert!(!marker.exists(), "a command ran on the server");
        // git's own client, with a traversal in the URL, gets the same answer.
        let dir = tempfile::tempdir().unwrap();
        let url = client.url(&format!("{own}/../../{secret}"));
        let err = client
            .git(dir.path(), &["clone", &url, "c"])
            .expect_err("no such project");
        assert!(err.contains(NOT_FOUND), "{err}");
        assert!(!err.contains(&data_dir), "{err}");

        // Port forwarding, both ways, and subsystems are refused.
        let out = client.ssh(&["-W", &format!("127.0.0.1:{http_port}")], &[]);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(255), "{stderr}");
        assert!(stderr.contains("administratively prohibited"), "{stderr}");
        let out = client.ssh(
            &[
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-R",
                "0:127.0.0.1:9",
            ],
            &[],
        );
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(255), "{stderr}");
        assert!(stderr.contains("remote port forwarding failed"), "{stderr}");
        let out = client.ssh(&["-s"], &["sftp"]);
        let (_, stderr) = texts(&out);
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("subsystem request failed"), "{stderr}");

        // Another login user, with a known key: refused at authentication.
        let out = client
            .ssh_as(
                "root",
                &client.key_file(),
                &[],
                &["git-upload-pack 'alice/hello'"],
            )
            .output()
            .unwrap();
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(255), "{stderr}");
        assert!(stderr.contains("Permission denied (publickey)"), "{stderr}");

        // A key the server never saw.
        let out = stranger.ssh(&["-T"], &[]);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(255), "{stderr}");
        assert!(stderr.contains("Permission denied (publickey)"), "{stderr}");

        // A known key offered by a client that cannot sign with it (it has only the public
        // half and no agent): the server says the key would do, the client cannot prove it
        // holds it, and nothing authenticates.
        let public_only = stranger.dir().join("offer-only.pub");
        std::fs::write(&public_only, client.public_key()).unwrap();
        let out = stranger
            .ssh_as("git", &public_only, &["-v", "-T"], &[])
            .output()
            .unwrap();
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(255), "{stderr}");
        assert!(
            stderr.contains("Server accepts key"),
            "the offer was accepted: {stderr}"
        );
        assert!(stderr.contains("Permission denied (publickey)"), "{stderr}");
        assert!(!stdout.contains("Welcome"), "{stdout}");
    })
    .await;
    assert!(auth_count(&server, "accepted").await >= 1);
    assert!(auth_count(&server, "unknown_key").await >= 1);
    assert!(auth_count(&server, "wrong_user").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_refusals_sqlite() {
    refusals(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_refusals_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    refusals(server).await;
}

/// Anyone who knows a public key can offer it: an offer that is never proven records nothing
/// against the key (its `last_used_at` stays empty), and only the holder's signed login does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unproven_offer_records_no_use() {
    let server = TestServer::builder().ssh(true).start().await;
    server.token("alice", false).await;
    let holder = SshClient::new(&server);
    let key_id = add_user_key(&server, "alice", &holder).await;
    let stranger = SshClient::new(&server);
    let public_only = stranger.dir().join("offer-only.pub");
    std::fs::write(&public_only, holder.public_key()).unwrap();
    let out = blocking(move || {
        stranger
            .ssh_as("git", &public_only, &["-v", "-T"], &[])
            .output()
            .unwrap()
    })
    .await;
    let (_, stderr) = texts(&out);
    assert!(stderr.contains("Server accepts key"), "{stderr}");
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    let key = server.state.store.ssh_key(key_id).await.unwrap().unwrap();
    assert_eq!(key.last_used_at, None, "an unproven offer recorded a use");

    let out = blocking(move || holder.ssh(&["-T"], &[])).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("Welcome to pushmirror, @alice!"),
        "{stdout}"
    );
    let key = server.state.store.ssh_key(key_id).await.unwrap().unwrap();
    assert!(key.last_used_at.is_some(), "a signed login records its use");
}
