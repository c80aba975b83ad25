//! Self-test of the `remotes` test harness: each real git server accepts a push from the real git
//! CLI, `refs()` sees it, and the failure switches (wrong credentials, down/up, hang) behave.

use crate::remotes;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use remotes::{GitDaemonRemote, GitHttpRemote, SshRemote};

/// How long a client must stay unanswered before we accept that the remote hangs. This is a
/// deadline on the harness side (the process is killed when it passes), not a timing assertion.
const HANG_PROBE: Duration = Duration::from_secs(2);

/// A client-side work repository with one commit, and a private HOME for git and ssh.
struct Client {
    dir: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        let client = Client {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(client.home()).unwrap();
        client.ok(&["init", "--quiet", "--initial-branch=main", "."]);
        client.ok(&[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "first",
        ]);
        client
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn head(&self) -> String {
        String::from_utf8(self.ok(&["rev-parse", "HEAD"]).stdout)
            .unwrap()
            .trim()
            .to_owned()
    }

    /// `git` in the work tree with a clean client environment.
    fn git(&self, args: &[&str]) -> Command {
        std::fs::create_dir_all(self.work()).unwrap();
        let mut cmd = Command::new("git");
        cmd.current_dir(self.work())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.git(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn basic_header(user: &str, pass: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("http.extraHeader=Authorization: Basic {token}")
}

fn main_ref(refs: &std::collections::BTreeMap<String, String>) -> Option<&str> {
    refs.get("refs/heads/main").map(String::as_str)
}

#[tokio::test]
async fn http_push_with_basic_auth_lands_and_sends_credentials_only_in_the_header() {
    let remote = GitHttpRemote::start(Some(("alice", "s3cret"))).await;
    let url = remote.create_repo("group/project");
    let client = Client::new();

    let good = basic_header("alice", "s3cret");
    client.ok(&["-c", &good, "push", "--quiet", &url, "main"]);
    assert_eq!(
        main_ref(&remote.refs("group/project")),
        Some(client.head().as_str())
    );

    let log = remote.request_log();
    assert!(!log.is_empty());
    let expected = good
        .strip_prefix("http.extraHeader=Authorization: ")
        .unwrap();
    for req in &log {
        assert_eq!(req.authorization.as_deref(), Some(expected), "{req:?}");
        assert!(
            !req.uri.contains("s3cret") && !req.uri.contains("alice"),
            "{req:?}"
        );
    }
    assert!(log
        .iter()
        .any(|r| r.method == "POST" && r.uri.ends_with("/git-receive-pack")));
}

#[tokio::test]
async fn http_wrong_or_missing_credentials_are_rejected() {
    let remote = GitHttpRemote::start(Some(("alice", "s3cret"))).await;
    let url = remote.create_repo("project");
    let client = Client::new();

    let bad = basic_header("alice", "wrong");
    let out = client.run(&["-c", &bad, "push", "--quiet", &url, "main"]);
    assert!(!out.status.success());

    let out = client.run(&["push", "--quiet", &url, "main"]);
    assert!(!out.status.success());
    assert!(!remote.request_log().last().unwrap().has_authorization());

    let wrong_url = remote.url_with_credentials("project", "alice", "wrong");
    let out = client.run(&["push", "--quiet", &wrong_url, "main"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Authentication failed"), "{stderr}");

    assert!(remote.refs("project").is_empty());
}

#[tokio::test]
async fn http_without_auth_accepts_anonymous_push() {
    let remote = GitHttpRemote::start(None).await;
    let url = remote.create_repo("open");
    let client = Client::new();
    client.ok(&["push", "--quiet", &url, "main"]);
    assert_eq!(main_ref(&remote.refs("open")), Some(client.head().as_str()));
}

/// A pack larger than `http.postBuffer` is sent chunked (no CONTENT_LENGTH), and a fetch with
/// many wants sends a gzip-encoded body: both must reach `git http-backend` intact.
#[tokio::test]
async fn http_large_push_and_many_ref_clone_round_trip() {
    let remote = GitHttpRemote::start(None).await;
    let url = remote.create_repo("big");
    let client = Client::new();
    let blob: Vec<u8> = (0u32..600_000)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    std::fs::write(client.work().join("blob.bin"), blob).unwrap();
    client.ok(&["add", "blob.bin"]);
    client.ok(&[
        "-c",
        "user.name=Test",
        "-c",
        "user.email=test@example.com",
        "commit",
        "--quiet",
        "-m",
        "big",
    ]);
    // 150 distinct commits (one per branch), so the clone's want list is long enough (>1 KiB)
    // for git to gzip the request body.
    let mut stream = String::new();
    for i in 0..150 {
        let msg = format!("branch {i}\n");
        stream.push_str(&format!(
            "commit refs/heads/branch-{i:03}\ncommitter T <t@example.com> 0 +0000\n\
             data {}\n{msg}from refs/heads/main^0\n\n",
            msg.len()
        ));
    }
    let mut import = client
        .git(&["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut import.stdin.take().unwrap(), stream.as_bytes()).unwrap();
    assert!(import.wait().unwrap().success());
    client.ok(&["push", "--quiet", "--all", &url]);
    assert_eq!(remote.refs("big").len(), 151);

    let out = client.run(&["clone", "--quiet", "--mirror", &url, "../clone.git"]);
    assert!(
        out.status.success(),
        "{}\nbackend stderr:\n{}",
        String::from_utf8_lossy(&out.stderr),
        remote.backend_stderr()
    );
    let cloned = client.ok(&["--git-dir=../clone.git", "rev-parse", "main", "branch-149^"]);
    let head = client.head();
    assert_eq!(
        String::from_utf8_lossy(&cloned.stdout),
        format!("{head}\n{head}\n")
    );
    let log = remote.request_log();
    assert!(log.iter().any(|r| r.uri.ends_with("/git-upload-pack")));
}

#[tokio::test]
async fn http_down_refuses_then_up_serves_on_the_same_url() {
    let remote = GitHttpRemote::start(None).await;
    let url = remote.create_repo("project");
    let client = Client::new();
    client.ok(&["push", "--quiet", &url, "main"]);

    remote.set_down(true);
    let out = client.run(&["ls-remote", &url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Failed to connect") || stderr.contains("Could not connect"),
        "{stderr}"
    );

    remote.set_down(false);
    let out = client.ok(&["ls-remote", &url]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&client.head()));
}

#[tokio::test]
async fn http_hang_accepts_and_never_answers() {
    let remote = GitHttpRemote::start(None).await;
    let url = remote.create_repo("project");
    let client = Client::new();

    remote.set_hang(true);
    let mut child = tokio::process::Command::from(client.git(&["ls-remote", &url]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let waited = tokio::time::timeout(HANG_PROBE, child.wait()).await;
    assert!(
        waited.is_err(),
        "ls-remote finished against a hanging remote: {waited:?}"
    );
    child.kill().await.unwrap();
    assert!(remote
        .request_log()
        .iter()
        .any(|r| r.uri.contains("/info/refs")));

    remote.set_hang(false);
    client.ok(&["push", "--quiet", &url, "main"]);
    assert_eq!(
        main_ref(&remote.refs("project")),
        Some(client.head().as_str())
    );
}

#[test]
fn git_daemon_push_then_down_and_up_again() {
    let mut remote = GitDaemonRemote::start();
    let url = remote.create_repo("project");
    let client = Client::new();
    let allow = "protocol.git.allow=always";
    client.ok(&["-c", allow, "push", "--quiet", &url, "main"]);
    assert_eq!(
        main_ref(&remote.refs("project")),
        Some(client.head().as_str())
    );

    remote.stop();
    assert!(!client
        .run(&["-c", allow, "ls-remote", &url])
        .status
        .success());

    remote.resume();
    let out = client.ok(&["-c", allow, "ls-remote", &url]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&client.head()));
}

#[test]
fn ssh_push_with_key_and_pinned_host_key() {
    let Some(remote) = SshRemote::start() else {
        return;
    };
    let url = remote.create_repo("project");
    let client = Client::new();

    let key = client.home().join("id_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    remote.authorize_key(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
    let known_hosts = client.home().join("known_hosts");
    std::fs::write(&known_hosts, format!("{}\n", remote.known_hosts_line())).unwrap();
    assert!(remote.host_key_line().starts_with("ssh-ed25519 AAAA"));

    let out = client
        .git(&["push", "--quiet", &url, "main"])
        .env("GIT_SSH_COMMAND", ssh_command(&key, &known_hosts))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\nsshd log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        remote.log()
    );
    assert_eq!(
        main_ref(&remote.refs("project")),
        Some(client.head().as_str())
    );
}

fn ssh_command(key: &Path, known_hosts: &Path) -> String {
    format!(
        "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o BatchMode=yes \
         -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
        key.display(),
        known_hosts.display()
    )
}
