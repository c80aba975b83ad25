//! Git over SSH to the built-in server, end to end: the real server (SQLite and PostgreSQL)
//! serving SSH on its own `127.0.0.1:0`, driven by the real OpenSSH client and the real git CLI
//! in a sealed-off environment (`-F /dev/null`, one identity, no agent, the server's host key
//! pinned in a known-hosts file of the test's own).
//!
//! This file is the harness (a client with its own key, raw `ssh` commands, git through it);
//! `flows` clones, fetches and pushes; `refusals` checks what must not work; `lifetime` the
//! burst of clones and the push killed midway.

mod flows;
mod keys;
mod lifetime;
mod limits;
mod process;
mod refusals;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::TestServer;

/// What a client sees for a path that names no project it may see.
const NOT_FOUND: &str = "fatal: The project you were looking for could not be found or you don't have permission to view it.";

/// An SSH client with its own key pair, knowing the server's host key and nothing else.
pub struct SshClient {
    dir: tempfile::TempDir,
    port: u16,
}

impl SshClient {
    /// A client of `server` (started with `.ssh(true)`) with a fresh Ed25519 key.
    pub fn new(server: &TestServer) -> SshClient {
        let port = server.ssh_port.expect("the server serves SSH");
        SshClient::of(port, &server.state.ssh_host_key_file)
    }

    /// A client of the SSH server on `port` whose host key is in `host_key_file`, with a fresh
    /// Ed25519 key.
    pub fn of(port: u16, host_key_file: &Path) -> SshClient {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@client", "-f"])
            .arg(dir.path().join("id"))
            .status()
            .expect("ssh-keygen");
        assert!(status.success());
        let host_key = pushmirror::ssh::host_key::load_or_create(host_key_file)
            .expect("the server's host key");
        let line = pushmirror::ssh::host_key::public_line(&host_key);
        std::fs::write(
            dir.path().join("known_hosts"),
            format!("[127.0.0.1]:{port} {line}\n"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        SshClient { dir, port }
    }

    /// The public key line (`ssh-ed25519 AAAA… test@client`).
    pub fn public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("id.pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The private key file.
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("id")
    }

    /// A directory of the client's own, for scratch files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The options that seal ssh off from the operator's configuration, agent and known hosts.
    fn options(&self, identity: &Path) -> Vec<String> {
        let kh = self.dir.path().join("known_hosts");
        [
            "-F".to_owned(),
            "/dev/null".to_owned(),
            "-i".to_owned(),
            identity.display().to_string(),
            "-o".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            "-o".to_owned(),
            "IdentityAgent=none".to_owned(),
            "-o".to_owned(),
            format!("UserKnownHostsFile={}", kh.display()),
            "-o".to_owned(),
            "StrictHostKeyChecking=yes".to_owned(),
            "-o".to_owned(),
            "BatchMode=yes".to_owned(),
            "-o".to_owned(),
            "ConnectTimeout=30".to_owned(),
            "-p".to_owned(),
            self.port.to_string(),
        ]
        .into()
    }

    /// `GIT_SSH_COMMAND` for git.
    pub fn git_ssh_command(&self) -> String {
        format!("ssh {}", self.options(&self.key_file()).join(" "))
    }

    /// `git@127.0.0.1:<full_path>.git` as a URL git uses with [`SshClient::git_ssh_command`].
    pub fn url(&self, full_path: &str) -> String {
        format!("ssh://git@127.0.0.1:{}/{full_path}.git", self.port)
    }

    /// A raw ssh command as `user`, with `args` after the destination.
    pub fn ssh_as(&self, user: &str, identity: &Path, extra: &[&str], args: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.options(identity))
            .args(extra)
            .arg(format!("{user}@127.0.0.1"))
            .args(args)
            .env("HOME", self.dir.path().join("home"))
            .env("SSH_AUTH_SOCK", "")
            .stdin(Stdio::null());
        cmd
    }

    /// `ssh git@127.0.0.1 <command>`: its output.
    pub fn ssh(&self, extra: &[&str], command: &[&str]) -> Output {
        self.ssh_as("git", &self.key_file(), extra, command)
            .output()
            .expect("spawn ssh")
    }

    /// git with this client's ssh, in `cwd`.
    pub fn git_command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(cwd)
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_SSH_COMMAND", self.git_ssh_command())
            .env("SSH_AUTH_SOCK", "")
            .stdin(Stdio::null());
        cmd
    }

    /// git with this client's ssh: stdout, or stderr as the error.
    pub fn git(&self, cwd: &Path, args: &[&str]) -> Result<String, String> {
        let out = self.git_command(cwd, args).output().expect("spawn git");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// A relay between ssh and the server that lets at most about 1.6 MB/s through upstream, so a
/// pack of megabytes takes seconds to send and something can happen in the middle of it.
const SLOW_RELAY: &str = r#"
import os, socket, sys, threading, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def up():
    while True:
        data = os.read(0, 16384)
        if not data:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(data)
        time.sleep(0.01)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
"#;

impl SshClient {
    /// `git push -q <url> <refspec>` in `cwd` through [`SLOW_RELAY`], in a process group of its
    /// own (the test may kill it whole), started and not waited for.
    pub fn slow_push(&self, cwd: &Path, url: &str, refspec: &str) -> std::process::Child {
        use std::os::unix::process::CommandExt as _;
        let relay = self.dir().join("relay.py");
        std::fs::write(&relay, SLOW_RELAY).unwrap();
        let ssh = format!(
            "{} -o 'ProxyCommand=python3 {} {}'",
            self.git_ssh_command(),
            relay.display(),
            self.port
        );
        let mut push = self.git_command(cwd, &["push", "-q", url, refspec]);
        push.env("GIT_SSH_COMMAND", ssh)
            .stderr(Stdio::piped())
            .process_group(0);
        push.spawn().expect("spawn git push")
    }
}

/// Commits `mb` megabytes that do not compress in `work`.
pub fn commit_noise(work: &crate::common::Work, mb: usize) {
    let mut noise = vec![0u8; mb * 1024 * 1024];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(work.path().join("noise.bin"), noise).unwrap();
    work.git(&["add", "noise.bin"]);
    work.git(&["commit", "-q", "-m", "noise"]);
}

/// A key's row, written the way the key APIs write it.
fn new_key<'a>(
    parsed: &'a pushmirror::model::ssh_keys::PublicKey,
    kind: pushmirror::model::ssh_keys::KeyKind,
    user_id: Option<i64>,
    title: &'a str,
    expires_at: Option<i64>,
) -> pushmirror::store::NewSshKey<'a> {
    pushmirror::store::NewSshKey {
        kind,
        user_id,
        title,
        key: &parsed.line,
        fingerprint_md5: &parsed.fingerprint_md5,
        fingerprint_sha256: &parsed.fingerprint_sha256,
        usage_type: pushmirror::model::ssh_keys::UsageType::AuthAndSigning,
        created_at: chrono::Utc::now().timestamp_millis(),
        expires_at,
    }
}

/// Adds `client`'s key to `username`'s keys expiring at `expires_at`, returning the key's id:
/// written to the store as the API writes it, because the API refuses an `expires_at` already
/// past, and this key must have expired.
pub async fn add_user_key_expiring(
    server: &TestServer,
    username: &str,
    client: &SshClient,
    expires_at: Option<i64>,
) -> i64 {
    use pushmirror::model::ssh_keys::{KeyKind, PublicKey};
    let parsed = PublicKey::parse(&client.public_key()).expect("a valid key");
    let user = server.user_id(username).await;
    let new = new_key(&parsed, KeyKind::User, Some(user), "laptop", expires_at);
    server
        .state
        .store
        .create_ssh_key(&new)
        .await
        .expect("add key")
        .id
}

/// Adds `client`'s key to `username`'s keys through `POST /user/keys`, returning its id.
pub async fn add_user_key(server: &TestServer, username: &str, client: &SshClient) -> i64 {
    let token = server.token(username, false).await;
    let body = serde_json::json!({ "title": "laptop", "key": client.public_key() });
    let r = server.post_json("/user/keys", &token, body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_i64().expect("the key's id")
}

/// Adds `client`'s key as a deploy key of `project_id` through `POST
/// /projects/:id/deploy_keys` as `username` (a Maintainer there), returning its id.
pub async fn add_deploy_key(
    server: &TestServer,
    username: &str,
    project_id: i64,
    client: &SshClient,
    can_push: bool,
) -> i64 {
    let token = server.token(username, false).await;
    let body = serde_json::json!({
        "title": "ci deploy",
        "key": client.public_key(),
        "can_push": can_push,
    });
    let r = server
        .post_json(&format!("/projects/{project_id}/deploy_keys"), &token, body)
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_i64().expect("the key's id")
}

/// Stdout and stderr of `out`, as text.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A metric's value from `/-/metrics`, by its exact name and labels.
pub async fn metric(server: &TestServer, series: &str) -> f64 {
    let text = reqwest::get(format!("{}/-/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in {text}"))
        .parse()
        .unwrap()
}
