//! The real binary serving SSH: `pushmirror ssh host-key` prints the key the server presents;
//! one log line per session names the user, the key's fingerprint, the command, the project and
//! the exit status, and no key material; SIGTERM lets a push in flight finish within the grace
//! period; after `kill -9` no git process of the server survives.

use std::time::Duration;

use super::{commit_noise, texts, SshClient};
use crate::common::binary::{create_token, free_port, pushmirror, ServerProcess};
use crate::common::{blocking, poll_until, processes_with_home, refs_of, Work};

/// Bound for the server to exit after SIGTERM with a push of a few seconds in flight.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(60);

/// Bound for a push to be under way, or for processes to go.
const BOUND: Duration = Duration::from_secs(30);

/// The base64 of an OpenSSH key line.
fn base64_of(line: &str) -> String {
    line.split_whitespace().nth(1).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_ssh_logs_sessions_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_token(&data, None, "alice", false);

    // The host key, before the first start: made, 0600, printed with its fingerprint.
    let out = pushmirror()
        .args(["ssh", "host-key", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("ssh-ed25519 AAAA"), "{stdout}");
    assert!(lines[1].starts_with("SHA256:"), "{stdout}");
    let key_file = data.join("ssh_host_ed25519_key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let ssh_port = free_port();
    let client = SshClient::of(ssh_port, &key_file);
    let stranger = SshClient::of(ssh_port, &key_file);
    let mut server = ServerProcess::start(
        &data,
        None,
        &[
            "--ssh-listen",
            &format!("127.0.0.1:{ssh_port}"),
            "--log-format",
            "json",
        ],
        &[("PUSHMIRROR_SHUTDOWN_GRACE_SECS", "30")],
    );
    let api = server.api(&token);
    let r = api
        .request(
            "POST",
            "/user/keys",
            crate::common::Body::Json(serde_json::json!({
                "title": "laptop",
                "key": client.public_key(),
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let project = api.create_project("p").await;
    let url = client.url(&project.path_with_namespace);
    let repo = data.join(format!("repositories/{}.git", project.id));

    // The key the server presents is the one `ssh host-key` printed: the client pinned it from
    // the file, and ssh-keyscan sees the same.
    let scanned = std::process::Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-p", &ssh_port.to_string(), "127.0.0.1"])
        .output()
        .unwrap();
    let scanned = String::from_utf8_lossy(&scanned.stdout).into_owned();
    assert!(scanned.contains(&base64_of(lines[0])), "{scanned}");

    let work = blocking({
        let url = url.clone();
        let client_key = client.public_key();
        move || {
            let out = client.ssh(&["-T"], &[]);
            assert_eq!(texts(&out).0, "Welcome to pushmirror, @alice!\n");
            let out = stranger.ssh(&["-T"], &[]);
            assert_eq!(out.status.code(), Some(255));
            let work = Work::new();
            work.commit("first");
            client
                .git(work.path(), &["push", "-q", &url, "main"])
                .expect("push");
            commit_noise(&work, 6);
            (client, work, client_key)
        }
    })
    .await;
    let (client, work, client_key) = work;

    // One line per session, naming who, which key, what, where and how it ended.
    let log = server.log_text();
    let sessions: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "ssh session")
        .collect();
    let push = sessions
        .iter()
        .find(|l| l["command"] == "git-receive-pack")
        .unwrap_or_else(|| panic!("no push session line in:\n{log}"));
    assert_eq!(push["name"], "\"alice\"", "{push}");
    assert!(
        push["key_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:"),
        "{push}"
    );
    assert_eq!(
        push["project"],
        project.path_with_namespace.as_str(),
        "{push}"
    );
    assert_eq!(push["exit_status"], 0, "{push}");
    assert!(push["duration_ms"].is_u64(), "{push}");
    assert!(sessions.iter().any(|l| l["command"] == "welcome"), "{log}");

    // SIGTERM while a push streams: the push completes within the grace period, then the
    // server exits.
    let push = client.slow_push(work.path(), &url, "main:late");
    let home = server.git_home();
    let receiving = || {
        processes_with_home(&home)
            .into_iter()
            .any(|(_, cmd)| cmd.contains("receive-pack") && !cmd.contains("--advertise-refs"))
    };
    assert!(
        poll_until(BOUND, || async { receiving() }).await,
        "the push never started"
    );
    server.sigterm();
    let pushed = blocking(move || push.wait_with_output().unwrap()).await;
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    assert!(
        server.wait_exit(SHUTDOWN_BOUND).is_some(),
        "{}",
        server.log_tail()
    );
    let head = work.git(&["rev-parse", "HEAD"]);
    assert_eq!(refs_of(&repo).get("refs/heads/late"), Some(&head));

    // kill -9 with a push streaming: no git process of the server survives it.
    server.start_again();
    let mut push = client.slow_push(work.path(), &url, "main:lost");
    assert!(
        poll_until(BOUND, || async { receiving() }).await,
        "the push never started"
    );
    server.kill_9();
    let gone = poll_until(BOUND, || async { processes_with_home(&home).is_empty() }).await;
    let survivors = processes_with_home(&home);
    for (pid, _) in &survivors {
        // SAFETY: kill(2) has no memory-safety preconditions; these run with our data dir.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    // SAFETY: as above; the group is the push's own.
    unsafe { libc::kill(-(push.id() as i32), libc::SIGKILL) };
    let _ = push.wait();
    assert!(gone, "git outlived the killed server: {survivors:#?}");

    // No key material in the log: neither the client's public key nor the host key.
    let log = server.log_text();
    let host_private = std::fs::read_to_string(&key_file).unwrap();
    let host_body: String = host_private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for secret in [base64_of(&client_key), base64_of(lines[0]), host_body] {
        assert!(
            !log.contains(&secret[..40]),
            "key material in the log:\n{log}"
        );
    }
}
