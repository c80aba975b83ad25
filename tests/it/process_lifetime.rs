//! No process pushmirror starts outlives the reason it was started: a dropped git future, a
//! dropped streaming child, or the server itself killed with SIGKILL mid-push. Processes are
//! recognised by the `HOME` their runner gives them (`/proc/<pid>/environ`), which covers git,
//! its remote helpers, ssh, ssh-agent and the supervisors themselves.

use crate::common;
use crate::remotes;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{create_admin_token, processes_with_home};
use pushmirror::git::{GitError, GitRunner, Subcommand};
use remotes::GitHttpRemote;
use serde_json::{json, Value};

/// How long killed processes may take to disappear; they go within milliseconds.
const GONE: Duration = Duration::from_secs(10);

/// How long the server may take to start and the engine to begin a push; generous for CI.
const STARTED: Duration = Duration::from_secs(60);

/// Interval between checks of `/proc`.
const POLL: Duration = Duration::from_millis(50);

/// Polls (bounded) until `cond` holds; returns whether it did.
fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until a process with `home` runs a command line containing `what`.
fn wait_for(home: &Path, what: &str, limit: Duration) {
    assert!(
        poll(limit, || processes_with_home(home)
            .iter()
            .any(|(_, c)| c.contains(what))),
        "no process running {what:?} appeared; with that HOME: {:?}",
        processes_with_home(home)
    );
}

/// Asserts that every process with `home` is gone within [`GONE`]; kills survivors first so a
/// failing test leaves nothing behind.
fn assert_all_gone(home: &Path) {
    if poll(GONE, || processes_with_home(home).is_empty()) {
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
    let repo = dir.path().join("r.git");
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

/// The real server binary, started as a child process on a fresh data directory.
struct Server {
    child: std::process::Child,
    data: tempfile::TempDir,
    base: String,
    token: String,
}

impl Server {
    fn start() -> Server {
        let bin = env!("CARGO_BIN_EXE_pushmirror");
        let data = tempfile::tempdir().unwrap();
        let token = create_admin_token(data.path(), None);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(data.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--allow-local-network")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            data,
            base: format!("http://127.0.0.1:{port}"),
            token,
        };
        let up = poll(STARTED, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up {
            server.kill();
            panic!("the server did not start listening");
        }
        server
    }

    fn git_home(&self) -> std::path::PathBuf {
        self.data.path().join("git-home")
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v4{path}", self.base))
            .header("PRIVATE-TOKEN", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// Pushes one commit to `root/p` with the real git CLI, in the background: the server's
    /// answer does not depend on the mirror, but the push is not this test's subject.
    fn push_a_commit(&self, work: &Path) {
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(work)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", work)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_TERMINAL_PROMPT", "0")
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com")
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(work.join("f"), "x\n").unwrap();
        git(&["add", "f"]);
        git(&["commit", "-q", "-m", "c"]);
        let url = format!(
            "http://oauth2:{}@{}/root/p.git",
            self.token,
            self.base.trim_start_matches("http://")
        );
        git(&["push", "-q", &url, "main"]);
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL of the server in the middle of a mirror push leaves no git, remote helper, ssh or
/// ssh-agent behind: their supervisors see the server die and kill them.
async fn killing_the_server_mid_push_leaves_nothing(mirror: Value, running: &[&str]) {
    let server = Server::start();
    server.post("/projects", json!({ "name": "p" })).await;
    server
        .post("/projects/root%2Fp/remote_mirrors", mirror)
        .await;
    let work = tempfile::tempdir().unwrap();
    server.push_a_commit(work.path());
    let home = server.git_home();
    let running: Vec<String> = running.iter().map(|r| r.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        for what in &running {
            wait_for(&home, what, STARTED);
        }
        let mut server = server;
        server.kill();
        assert_all_gone(&home);
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
    )
    .await;
}
