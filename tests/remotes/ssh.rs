//! [`SshRemote`]: the real OpenSSH `sshd` on 127.0.0.1 with its own configuration, host keys
//! (Ed25519, ECDSA and RSA, like a real host) and `authorized_keys` in a temporary directory,
//! serving bare repositories over `ssh://<login>@127.0.0.1:<port>/<absolute path>.git`.
//!
//! The login is `git`, as on hosting services, and not the user running the tests, so a client
//! that drops the URL's user (and logs in as its own OS user) is refused. That takes root: the
//! harness creates the `git` account (no password, `/bin/sh`, no home) if the machine lacks it
//! and hands it the repositories. Without root sshd can only log in as the user running it;
//! then the login is that user and [`SshRemote::login_is_another_user`] says so (tests that
//! need another user skip, except under `CI=true`, which runs as root).
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
    /// Login name in the URLs: `git` when running as root, else the user running the tests.
    user: String,
    port: u16,
    /// `ssh-ed25519 AAAA…` (without comment).
    host_key_line: String,
    /// Every host key the server offers, `<type> <base64>` (Ed25519, ECDSA, RSA).
    host_key_lines: Vec<String>,
    child: Child,
}

/// The login every root-run remote uses, as on hosting services.
const LOGIN: &str = "git";

/// Creates the [`LOGIN`] account once per test process if the machine has none; returns
/// whether it exists.
fn ensure_login_account() -> bool {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DONE.get_or_init(|| {
        let exists = |name: &str| {
            Command::new("id")
                .arg("-u")
                .arg(name)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !exists(LOGIN) {
            // `-p '*'`: no password, but not locked (sshd refuses locked accounts even for
            // keys). Exit code 9: another process created it meanwhile.
            let status = Command::new("useradd")
                .args(["--system", "--no-create-home", "--home-dir", "/nonexistent"])
                .args(["--shell", "/bin/sh", "--password", "*", LOGIN])
                .status()
                .expect("run useradd");
            assert!(
                status.success() || status.code() == Some(9),
                "useradd {LOGIN}: {status}"
            );
        }
        exists(LOGIN)
    })
}

impl SshRemote {
    /// Starts sshd on a free port, or returns `None` (with a printed reason) when it is not
    /// installed and `CI` is not `true`.
    pub fn start() -> Option<SshRemote> {
        SshRemote::start_with_config("")
    }

    /// [`SshRemote::start`] with `extra` sshd_config lines before the harness's own (sshd keeps
    /// the first value of a keyword, so they win): e.g. an `AuthorizedKeysCommand`.
    pub fn start_with_config(extra: &str) -> Option<SshRemote> {
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
        // Commands the login may run besides git's (`git-lfs-authenticate`), first on its PATH.
        std::fs::create_dir_all(base.join("bin")).expect("mkdir bin");
        let authorized_keys = base.join("authorized_keys");
        std::fs::write(&authorized_keys, "").expect("create authorized_keys");
        let mut host_keys = Vec::new();
        let mut host_key_lines = Vec::new();
        for (kind, bits) in [("ed25519", None), ("ecdsa", None), ("rsa", Some("2048"))] {
            let host_key = base.join(format!("host_{kind}"));
            let mut keygen = Command::new("ssh-keygen");
            keygen.args(["-q", "-t", kind, "-N", "", "-C", ""]);
            if let Some(bits) = bits {
                keygen.args(["-b", bits]);
            }
            super::run_checked(keygen.arg("-f").arg(&host_key));
            let line = std::fs::read_to_string(host_key.with_extension("pub"))
                .expect("read host public key")
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            host_key_lines.push(line);
            host_keys.push(host_key);
        }
        let host_key_line = host_key_lines[0].clone();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let user = if root && ensure_login_account() {
            // The login must reach its repositories and authorized_keys (sshd reads that file
            // as the login): the directory is traversable, the repositories its own.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))
                .expect("chmod remote dir");
            std::fs::set_permissions(&authorized_keys, std::fs::Permissions::from_mode(0o644))
                .expect("chmod authorized_keys");
            super::run_checked(Command::new("chown").arg(LOGIN).arg(&repos));
            LOGIN.to_owned()
        } else {
            super::run_checked(Command::new("id").arg("-un"))
                .trim()
                .to_owned()
        };
        if root {
            // sshd's privilege-separation directory, which it requires when run as root.
            std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        }

        for _ in 0..super::PORT_ATTEMPTS {
            let port = super::free_port();
            let config = base.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "{extra}{}",
                    sshd_config(port, &host_keys, &authorized_keys, &base, &user)
                ),
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
                    host_key_lines,
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

    /// Replaces every authorized key with `lines` (revoking the others).
    pub fn set_authorized_keys(&self, lines: &[&str]) {
        let text: String = lines.iter().map(|l| format!("{}\n", l.trim())).collect();
        std::fs::write(&self.authorized_keys, text).expect("write authorized_keys");
    }

    /// The server's public Ed25519 host key, `ssh-ed25519 AAAA…`.
    /// Installs `git-lfs-authenticate` for the login: it answers every request with `json`
    /// (git-lfs's `{"href": …, "header": {…}}`) and logs its arguments
    /// ([`SshRemote::lfs_authenticate_calls`]).
    pub fn set_lfs_authenticate(&self, json: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let base = self.dir.path().canonicalize().expect("canonical tempdir");
        let log = base.join("lfs-authenticate.log");
        std::fs::write(&log, "").expect("create the log");
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let script = base.join("bin/git-lfs-authenticate");
        assert!(
            !json.contains('\''),
            "the answer is quoted with single quotes"
        );
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\nprintf '%s\\n' '{json}'\n",
                log.display()
            ),
        )
        .expect("write git-lfs-authenticate");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// The arguments of every `git-lfs-authenticate` run so far, one line each.
    pub fn lfs_authenticate_calls(&self) -> Vec<String> {
        let base = self.dir.path().canonicalize().expect("canonical tempdir");
        std::fs::read_to_string(base.join("lfs-authenticate.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn host_key_line(&self) -> String {
        self.host_key_line.clone()
    }

    /// Every host key the server offers, `<type> AAAA…`.
    pub fn host_key_lines(&self) -> Vec<String> {
        self.host_key_lines.clone()
    }

    /// Whether the login in the URLs is another account than the one running the tests (so a
    /// client that ignores the URL's user cannot log in). False only when not run as root.
    pub fn login_is_another_user(&self) -> bool {
        let me = super::run_checked(Command::new("id").arg("-un"));
        me.trim() != self.user
    }

    /// A `known_hosts` line for this server: `[127.0.0.1]:<port> ssh-ed25519 AAAA…`.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key_line)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listening sshd's pid (its per-connection processes are its descendants).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The login name used in URLs (`git`, or the user running the tests when not root).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Creates the bare repository and returns `ssh://<user>@127.0.0.1:<port>/<abs path>.git`.
    pub fn create_repo(&self, name: &str) -> String {
        let path = super::init_bare(&self.repos, &self.home, name);
        if self.user == LOGIN {
            super::run_checked(Command::new("chown").arg("-R").arg(LOGIN).arg(&path));
        }
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
    host_keys: &[PathBuf],
    authorized_keys: &Path,
    dir: &Path,
    user: &str,
) -> String {
    let host_keys: String = host_keys
        .iter()
        .map(|k| format!("HostKey {}\n", k.display()))
        .collect();
    format!(
        "Port {port}
ListenAddress 127.0.0.1
{host_keys}PidFile {pid}
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
SetEnv PATH={bin}:/usr/local/bin:/usr/bin:/bin
LogLevel VERBOSE
",
        pid = dir.join("sshd.pid").display(),
        bin = dir.join("bin").display(),
        authorized_keys = authorized_keys.display(),
    )
}
