//! [`SshRemote`]: the real OpenSSH `sshd` on 127.0.0.1 with its own configuration, host key and
//! `authorized_keys` in a temporary directory, serving bare repositories over
//! `ssh://<current user>@127.0.0.1:<port>/<absolute path>.git`.
//!
//! sshd logs in as the user running the tests (it cannot do otherwise when not root; as root it
//! is allowed by `PermitRootLogin prohibit-password`). The login session runs the user's shell
//! and git with the user's real HOME, so that user's git config applies to the server side.
//!
//! When `/usr/sbin/sshd` is missing, [`SshRemote::start`] prints a skip reason and returns
//! `None` — except under `CI=true`, where it panics, because CI must not skip.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

/// Absolute path, so the sshd that runs is the system's (sshd refuses a relative re-exec path).
const SSHD: &str = "/usr/sbin/sshd";

/// An OpenSSH server on 127.0.0.1, killed on drop.
pub struct SshRemote {
    /// Owns config, keys, log and repositories; deleted on drop.
    dir: TempDir,
    /// Canonical parent of the repositories (URLs carry absolute paths).
    repos: PathBuf,
    /// Private HOME for `git init` / `refs()` run by this harness.
    home: PathBuf,
    /// The `AuthorizedKeysFile`; `authorize_key` appends to it.
    authorized_keys: PathBuf,
    /// Login name in the URLs: the user running the tests.
    user: String,
    port: u16,
    /// `ssh-ed25519 AAAA…` (without comment).
    host_key_line: String,
    child: Child,
}

impl SshRemote {
    /// Starts sshd on a free port, or returns `None` (with a printed reason) when it is not
    /// installed and `CI` is not `true`.
    pub fn start() -> Option<SshRemote> {
        if !Path::new(SSHD).exists() {
            let reason = format!("{SSHD} not found (apt-get install openssh-server)");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: SSH remote tests must not skip: {reason}"
            );
            eprintln!("skipping SSH remote: {reason}");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonical tempdir");
        let repos = base.join("repos");
        let home = base.join("home");
        std::fs::create_dir_all(&repos).expect("mkdir repos");
        std::fs::create_dir_all(&home).expect("mkdir home");
        let authorized_keys = base.join("authorized_keys");
        std::fs::write(&authorized_keys, "").expect("create authorized_keys");
        let host_key = base.join("host_ed25519");
        super::run_checked(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
                .arg(&host_key),
        );
        let host_key_line = std::fs::read_to_string(host_key.with_extension("pub"))
            .expect("read host public key")
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            // sshd's privilege-separation directory, which it requires when run as root.
            std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        }
        let user = super::run_checked(Command::new("id").arg("-un"))
            .trim()
            .to_owned();

        for _ in 0..super::PORT_ATTEMPTS {
            let port = super::free_port();
            let config = base.join("sshd_config");
            std::fs::write(
                &config,
                sshd_config(port, &host_key, &authorized_keys, &base, &user),
            )
            .expect("write sshd_config");
            let log = base.join("sshd.log");
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own group, so drop also ends the per-connection processes it forked.
                .process_group(0)
                .spawn()
                .expect("spawn sshd");
            if super::wait_listening(&mut child, port, "sshd") {
                return Some(SshRemote {
                    dir,
                    repos,
                    home,
                    authorized_keys,
                    user,
                    port,
                    host_key_line,
                    child,
                });
            }
            super::kill_process_group(&mut child);
            eprintln!(
                "sshd log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!(
            "sshd: could not start after {} attempts",
            super::PORT_ATTEMPTS
        );
    }

    /// Allows logins with this public key (an `authorized_keys` line, e.g. `ssh-ed25519 AAAA…`).
    pub fn authorize_key(&self, public_key_line: &str) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.authorized_keys)
            .expect("open authorized_keys");
        writeln!(file, "{}", public_key_line.trim()).expect("append authorized_keys");
    }

    /// The server's public host key, `ssh-ed25519 AAAA…`.
    pub fn host_key_line(&self) -> String {
        self.host_key_line.clone()
    }

    /// A `known_hosts` line for this server: `[127.0.0.1]:<port> ssh-ed25519 AAAA…`.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key_line)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login name used in URLs (the user running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Creates the bare repository and returns `ssh://<user>@127.0.0.1:<port>/<abs path>.git`.
    pub fn create_repo(&self, name: &str) -> String {
        let path = super::init_bare(&self.repos, &self.home, name);
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// Path of the bare repository on disk.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.repos.join(format!("{name}.git"))
    }

    /// Every ref of repository `name` (ref name → object id), read directly from disk.
    pub fn refs(&self, name: &str) -> BTreeMap<String, String> {
        super::read_refs(&self.repo_path(name), &self.home)
    }

    /// sshd's log so far (authentication failures show up here).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for SshRemote {
    fn drop(&mut self) {
        super::kill_process_group(&mut self.child);
    }
}

fn sshd_config(
    port: u16,
    host_key: &Path,
    authorized_keys: &Path,
    dir: &Path,
    user: &str,
) -> String {
    format!(
        "Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid}
AuthorizedKeysFile {authorized_keys}
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PrintMotd no
UseDNS no
LogLevel VERBOSE
",
        host_key = host_key.display(),
        pid = dir.join("sshd.pid").display(),
        authorized_keys = authorized_keys.display(),
    )
}
