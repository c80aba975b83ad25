//! No process pushmirror starts outlives the reason it was started: a dropped git future, a
//! dropped streaming child, or the server itself killed with SIGKILL mid-push. Processes are
//! recognised by the `HOME` their runner gives them (`/proc/<pid>/environ`), which covers git,
//! its remote helpers, ssh, ssh-agent and the supervisors themselves.

use crate::common;
use crate::remotes;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::binary::{create_admin_token, ServerProcess};
use common::{poll_until_blocking, processes_with_home, Work};
use pushmirror::git::{GitError, GitRunner, Subcommand};
use remotes::GitHttpRemote;
use serde_json::{json, Value};

/// How long killed processes may take to disappear; they go within milliseconds.
const GONE: Duration = Duration::from_secs(10);

/// How long the engine may take to begin a push; generous for CI.
const STARTED: Duration = Duration::from_secs(60);

/// Waits until a process with `home` runs a command line containing `what`.
fn wait_for(home: &Path, what: &str, limit: Duration) {
    assert!(
        poll_until_blocking(limit, || processes_with_home(home)
            .iter()
            .any(|(_, c)| c.contains(what))),
        "no process running {what:?} appeared; with that HOME: {:?}",
        processes_with_home(home)
    );
}

/// Asserts that every process with `home` is gone within [`GONE`]; kills survivors first so a
/// failing test leaves nothing behind.
fn assert_all_gone(home: &Path) {
    if poll_until_blocking(GONE, || processes_with_home(home).is_empty()) {
        return;
    }
    let survivors = processes_with_home(home);
    for (pid, _) in &survivors {
        // SAFETY: sends a signal; these are this test's own leftovers.
        unsafe {
            libc::kill(*pid as libc::pid_t, libc::SIGKILL);
        }
    }
    panic!("processes outlived their owner: {survivors:?}");
}

/// A TCP listener that accepts connections and never answers, so a client waits forever.
fn silent_listener() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    port
}

fn supervised(home: &Path, timeout: Duration) -> GitRunner {
    GitRunner::new(home, timeout)
        .unwrap()
        .with_supervisor(Some(env!("CARGO_BIN_EXE_pushmirror").into()))
}

/// Dropping a running git future takes git's remote helper (its child) with it.
#[tokio::test]
async fn dropping_a_supervised_git_future_kills_its_descendants() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let runner = supervised(&home, Duration::from_secs(300));
    let url = format!("http://127.0.0.1:{}/x.git", silent_listener());
    let run = tokio::spawn(
        runner
            .command(None, Subcommand::LsRemote)
            .args(["--end-of-options", url.as_str()])
            .run(),
    );
    let waiting = home.clone();
    tokio::task::spawn_blocking(move || wait_for(&waiting, "remote-http", STARTED))
        .await
        .unwrap();
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    tokio::task::spawn_blocking(move || assert_all_gone(&home))
        .await
        .unwrap();
}

/// A streaming child dropped without anyone killing its group: `kill_on_drop` kills only the
/// supervisor, whose watcher then kills the rest.
#[tokio::test]
async fn dropping_a_supervised_streaming_child_kills_its_descendants() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let runner = supervised(&home, Duration::from_secs(300));
    let url = format!("http://127.0.0.1:{}/x.git", silent_listener());
    let child = runner
        .command(None, Subcommand::LsRemote)
        .args(["--end-of-options", url.as_str()])
        .spawn_piped()
        .unwrap();
    let waiting = home.clone();
    tokio::task::spawn_blocking(move || wait_for(&waiting, "remote-http", STARTED))
        .await
        .unwrap();
    drop(child);
    tokio::task::spawn_blocking(move || assert_all_gone(&home))
        .await
        .unwrap();
}

/// Callers see the same output and exit codes with and without the supervisor.
#[tokio::test]
async fn a_supervised_git_reports_like_a_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let plain = GitRunner::new(&dir.path().join("plain"), Duration::from_secs(30))
        .unwrap()
        .with_supervisor(None);
    let sup = supervised(&dir.path().join("sup"), Duration::from_secs(30));
    let repo = crate::common::local_repo(&dir.path().join("storage"), 1);
    pushmirror::git::init_bare(&plain, &repo, "main")
        .await
        .unwrap();
    let mut results = Vec::new();
    for runner in [&plain, &sup] {
        let ok = runner
            .command(Some(&repo), Subcommand::RevParse)
            .args(["--is-bare-repository"])
            .run()
            .await
            .unwrap();
        let err = runner
            .command(Some(&repo), Subcommand::RevParse)
            .args(["--verify", "--end-of-options", "refs/heads/none"])
            .run()
            .await
            .unwrap_err();
        let GitError::Failed {
            stderr,
            stdout,
            code,
            ..
        } = err
        else {
            panic!("{err}");
        };
        results.push((ok.stdout, ok.stderr, stderr, stdout, code));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0].4, Some(128));
}

/// A deadline kills a supervised git and reports a timeout, as without the supervisor.
#[tokio::test]
async fn a_supervised_git_past_its_deadline_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let runner = supervised(&home, Duration::from_millis(500));
    let url = format!("http://127.0.0.1:{}/x.git", silent_listener());
    let err = runner
        .command(None, Subcommand::LsRemote)
        .args(["--end-of-options", url.as_str()])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err}");
    tokio::task::spawn_blocking(move || assert_all_gone(&home))
        .await
        .unwrap();
}

/// SIGKILL of the server in the middle of a mirror push leaves no git, remote helper, ssh or
/// ssh-agent behind: their supervisors see the server die and kill them. `while_running` looks
/// at the data directory while the push hangs, `after` once everything is gone.
async fn killing_the_server_mid_push_leaves_nothing(
    mirror: Value,
    running: &[&str],
    while_running: impl FnOnce(&Path) + Send + 'static,
    after: impl FnOnce(&Path) + Send + 'static,
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_admin_token(&data, None);
    let server = ServerProcess::start(&data, None, &["--allow-local-network"], &[]);
    let api = server.api(&token);
    api.create_project("p").await;
    api.create_mirror_with("root%2Fp", mirror).await;
    // The server's answer to the push does not depend on the mirror; the update starts after it.
    let work = Work::new();
    work.commit("c");
    work.push(&server.push_url(&token, "p"), &["main"]);
    let home = server.git_home();
    let running: Vec<String> = running.iter().map(|r| r.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        for what in &running {
            wait_for(&home, what, STARTED);
        }
        while_running(&data);
        let mut server = server;
        server.kill_9();
        assert_all_gone(&home);
        after(&data);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn killing_the_server_mid_http_push_leaves_nothing() {
    let remote = GitHttpRemote::start(None).await;
    let url = remote.create_repo("m");
    remote.set_hang(true);
    killing_the_server_mid_push_leaves_nothing(
        json!({ "url": url, "enabled": true }),
        &["remote-http"],
        |_| {},
        |_| {},
    )
    .await;
}

/// The ssh tools this test needs, or `None` (with a printed reason) when one is missing and `CI`
/// is not `true`.
fn ssh_tools() -> Option<()> {
    for tool in ["ssh", "ssh-agent", "ssh-add", "ssh-keygen"] {
        let found = ["/usr/local/bin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists());
        if !found {
            let reason = format!("{tool} not found (apt-get install openssh-client)");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: SSH tests must not skip: {reason}"
            );
            eprintln!("skipping: {reason}");
            return None;
        }
    }
    Some(())
}

/// The ssh remote is a listener that never sends its banner, so ssh (with the mirror's key in a
/// private ssh-agent) waits forever; no sshd is needed for that.
#[tokio::test]
async fn killing_the_server_mid_ssh_push_leaves_nothing() {
    if ssh_tools().is_none() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("host");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let host_key = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let port = silent_listener();
    killing_the_server_mid_push_leaves_nothing(
        json!({
            "url": format!("ssh://git@127.0.0.1:{port}/m.git"),
            "enabled": true,
            "auth_method": "ssh_public_key",
            "host_keys": [format!("[127.0.0.1]:{port} {}", host_key.trim())],
        }),
        &["ssh-agent", "ssh -F"],
        move |data| ssh_files_are_private(data, port),
        |data| {
            // The agent's supervisor removes the update's directory once the server is dead,
            // and no private key was ever written anywhere in the data directory.
            assert!(
                poll_until_blocking(GONE, || crate::ssh::ssh_dirs_in(data).is_empty()),
                "left on disk: {:?}",
                crate::ssh::ssh_dirs_in(data)
            );
            for (path, bytes) in common::read_all_files(data) {
                assert!(
                    !common::contains_bytes(&bytes, b"PRIVATE KEY"),
                    "{}",
                    path.display()
                );
            }
        },
    )
    .await;
}

/// While an ssh push runs: its one directory and every file in it are the server user's
/// alone, its configuration names the login and only our identity, and ssh's argv carries
/// neither the user nor a key.
fn ssh_files_are_private(data: &Path, port: u16) {
    use std::os::unix::fs::PermissionsExt as _;
    let dirs = crate::ssh::ssh_dirs_in(data);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dirs[0]), 0o700);
    assert_eq!(mode(dirs[0].parent().unwrap()), 0o700);
    for file in ["known_hosts", "config", "id.pub"] {
        assert_eq!(mode(&dirs[0].join(file)), 0o600, "{file}");
    }
    let config = std::fs::read_to_string(dirs[0].join("config")).unwrap();
    for line in [
        "  User \"git\"",
        "  IdentitiesOnly yes",
        "  StrictHostKeyChecking yes",
    ] {
        assert!(config.lines().any(|l| l == line), "{line} not in\n{config}");
    }
    assert!(config.contains(&format!("  HostKeyAlias \"[127.0.0.1]:{port}\"")));
    let home = data.join("git-home");
    // git starts ssh through `sh -c`, whose argv already holds "ssh -F" (what `wait_for`
    // matched) a moment before ssh itself replaces it: wait for ssh's own process.
    let ssh_itself = || {
        processes_with_home(&home)
            .into_iter()
            .map(|(_, c)| c)
            .find(|c| c.starts_with("ssh -F"))
    };
    assert!(
        poll_until_blocking(STARTED, || ssh_itself().is_some()),
        "ssh runs"
    );
    let ssh = ssh_itself().expect("ssh runs");
    assert!(
        ssh.contains(&dirs[0].join("config").display().to_string()),
        "{ssh}"
    );
    assert!(!ssh.contains("git@") && !ssh.contains("-l "), "{ssh}");
}
