#![allow(dead_code, unused_imports)]
//! Real git servers on 127.0.0.1 for integration tests: smart HTTP over `git http-backend`
//! ([`GitHttpRemote`]), `git daemon` ([`GitDaemonRemote`]) and OpenSSH's `sshd` ([`SshRemote`]),
//! and a real Git LFS server ([`Giftless`]) behind the HTTP one.
//! Each owns a temporary directory of bare repositories, hands out URLs for them, and reads their
//! refs back with `git for-each-ref` so a test can check what a push really delivered.
//!
//! Include with `mod remotes;` from a test binary; a binary may use any subset of it.
//!
//! **Invariant:** every listener binds 127.0.0.1 and every URL handed out names 127.0.0.1; nothing
//! here ever connects anywhere else.
//! **Invariant:** the servers' own git processes never read the machine's or the user's git config
//! (`GIT_CONFIG_NOSYSTEM`, a private `HOME`), except what sshd's login session reads, which this
//! module cannot control.

mod daemon;
mod giftless;
mod http;
mod ssh;

pub use daemon::GitDaemonRemote;
pub use giftless::Giftless;
pub use http::{GitHttpRemote, LoggedRequest};
pub use ssh::SshRemote;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a freshly spawned server may take to start accepting connections. Generous because
/// the machine is shared and small; the wait ends as soon as the port answers.
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// Interval between readiness probes: short enough not to slow tests, long enough not to spin.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How many fresh ports to try when a server loses the race for its port to another process
/// (the port is found by binding `127.0.0.1:0` and releasing it, so the race is real but rare).
const PORT_ATTEMPTS: usize = 5;

/// Environment for the git processes the servers run (`http-backend`, `daemon` and its
/// `upload-pack`/`receive-pack` children, `init`, `for-each-ref`). `safe.directory=*` because
/// tests may run as root over directories created by another user (or vice versa), which git
/// would otherwise refuse as "dubious ownership"; `GIT_CONFIG_NOSYSTEM` and `home` keep the
/// machine's configuration out of the result.
fn server_git_env(home: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("PATH", std::env::var_os("PATH").unwrap_or_default()),
        ("HOME", home.as_os_str().to_owned()),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_CONFIG_COUNT", "1".into()),
        ("GIT_CONFIG_KEY_0", "safe.directory".into()),
        ("GIT_CONFIG_VALUE_0", "*".into()),
    ]
}

/// A `git` command with a cleared environment plus [`server_git_env`].
fn server_git(home: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear().envs(server_git_env(home));
    cmd
}

/// Path of a git program that `git <name>` would run as a separate process (`git-daemon`,
/// `git-http-backend`). Servers run it directly rather than through the `git` wrapper, because
/// the wrapper runs it as a child: a signal to the wrapper would leave the server running.
fn git_program(name: &str) -> PathBuf {
    static EXEC_PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXEC_PATH
        .get_or_init(|| PathBuf::from(run_checked(Command::new("git").arg("--exec-path")).trim()))
        .join(format!("git-{name}"))
}

/// Validates a repository name: plain path segments only, so `<root>/<name>.git` stays in root.
fn check_repo_name(name: &str) {
    assert!(
        !name.is_empty()
            && !name.ends_with(".git")
            && name
                .split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != ".."),
        "repository name {name:?} must be relative path segments without the .git suffix"
    );
}

/// Creates the bare repository `<root>/<name>.git` with `http.receivepack=true` (so pushes work
/// over smart HTTP without `REMOTE_USER`), returning its path.
fn init_bare(root: &Path, home: &Path, name: &str) -> PathBuf {
    check_repo_name(name);
    let path = root.join(format!("{name}.git"));
    run_checked(
        server_git(home)
            .args(["init", "--quiet", "--bare", "--initial-branch=main"])
            .arg(&path),
    );
    run_checked(
        server_git(home)
            .arg("-C")
            .arg(&path)
            .args(["config", "http.receivepack", "true"]),
    );
    path
}

/// Every ref of the repository at `repo`, name → object id, read directly from disk.
fn read_refs(repo: &Path, home: &Path) -> BTreeMap<String, String> {
    let out = run_checked(
        server_git(home)
            .arg("-C")
            .arg(repo)
            .args(["for-each-ref", "--format=%(refname) %(objectname)"]),
    );
    out.lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(name, oid)| (name.to_owned(), oid.to_owned()))
        .collect()
}

/// Runs `cmd` to completion, panicking with its stderr when it fails; returns stdout.
fn run_checked(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A port that was free on 127.0.0.1 a moment ago (bound to port 0, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Polls until `port` accepts TCP connections, or `child` exits (returns false: typically the
/// port was taken), or [`STARTUP_DEADLINE`] passes (panics).
fn wait_listening(child: &mut Child, port: u16, what: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + STARTUP_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            eprintln!("{what} on port {port} exited early ({status})");
            return false;
        }
        if TcpStream::connect_timeout(&addr, POLL_INTERVAL).is_ok() {
            return true;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within {STARTUP_DEADLINE:?}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Kills and reaps a server process (used by the Drop impls and by stop()).
fn kill_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills a server spawned as the leader of its own process group (`process_group(0)`) together
/// with every connection handler it forked, then reaps it.
fn kill_process_group(child: &mut Child) {
    let pgid = i32::try_from(child.id()).expect("pid fits i32");
    // SAFETY: kill(2) has no memory-safety preconditions; the negative pid names only the group
    // this harness created for its own child.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    kill_child(child);
}
