//! The one place that starts processes: every git (and the per-update ssh-agent, see
//! [`ssh_agent`], and `ssh-keyscan`, see [`keyscan`]) pushmirror runs is built here, with a
//! cleared environment, forced configuration (each option says why), an allow-list of
//! subcommands, and a deadline. Nothing else in the crate spawns git.
//!
//! Lifetime: each process starts in its own process group. When [`GitRunner`] has a supervisor
//! (the `pushmirror` binary; the server's default), each runs under `pushmirror __supervise`
//! ([`supervise`]), which kills every descendant — git's remote helpers, ssh, the agent — when
//! the process exits, when the server dies (even by SIGKILL), or when its group leader is killed.
//! Without one, `setpriv --pdeathsig KILL` gives only the direct child a parent-death signal.
//! Either way, a deadline that passes, or a caller that drops a running [`GitCommand::run`]
//! future or an [`ssh_agent::SshAgent`], SIGKILLs the whole group (never after the child was
//! reaped, so no recycled pid is hit). A child from [`GitCommand::spawn_piped`] is the caller's:
//! dropping it SIGKILLs only the group leader (which the supervisor's watcher turns into the
//! whole group); the caller kills the group itself on every path it cuts short.
//!
//! Invariant: no credential is ever put in argv or in a file; callers hand secrets over through
//! [`GitCommand::env_secret`], which only the child's environment sees.

pub mod hooks;
pub mod keyscan;
pub mod lfs;
pub mod lfs_authenticate;
pub mod ops;
pub mod protocol;
pub mod refs;
pub mod repository;
pub mod service;
pub mod ssh_agent;
pub mod supervise;

use crate::storage::LocalRepo;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// Most stderr kept from one git process: enough for every error git prints, bounded so a
/// chatty or hostile remote cannot grow our memory.
const MAX_STDERR: usize = 64 * 1024;

/// The git subcommands pushmirror may run. Anything else cannot be expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subcommand {
    Init,
    ForEachRef,
    SymbolicRef,
    RevParse,
    MergeBase,
    Push,
    Fetch,
    LsRemote,
    UploadPack,
    /// `git archive --remote` over SSH.
    UploadArchive,
    ReceivePack,
    UpdateRef,
    Log,
    RevList,
    Tag,
    CatFile,
    /// `git pack-refs`, after an import or a sync wrote many refs.
    PackRefs,
}

impl Subcommand {
    fn as_str(self) -> &'static str {
        match self {
            Subcommand::Init => "init",
            Subcommand::ForEachRef => "for-each-ref",
            Subcommand::SymbolicRef => "symbolic-ref",
            Subcommand::RevParse => "rev-parse",
            Subcommand::MergeBase => "merge-base",
            Subcommand::Push => "push",
            Subcommand::Fetch => "fetch",
            Subcommand::LsRemote => "ls-remote",
            Subcommand::UploadPack => "upload-pack",
            Subcommand::UploadArchive => "upload-archive",
            Subcommand::ReceivePack => "receive-pack",
            Subcommand::UpdateRef => "update-ref",
            Subcommand::Log => "log",
            Subcommand::RevList => "rev-list",
            Subcommand::Tag => "tag",
            Subcommand::CatFile => "cat-file",
            Subcommand::PackRefs => "pack-refs",
        }
    }
}

/// Configuration forced on every git process through `-c`, with the reason for each.
const FORCED_CONFIG: &[(&str, &str)] = &[
    // A malicious or compromised remote could redirect us to an internal host; refuse redirects.
    ("http.followRedirects", "false"),
    // No credential helper may answer (or store) anything: credentials come only from us.
    ("credential.helper", ""),
    // Never ask a person: there is none.
    ("core.askPass", ""),
    // Only these transports; `ext::`, `file://` and local paths are refused (GIT_ALLOW_PROTOCOL too).
    ("protocol.allow", "never"),
    ("protocol.http.allow", "always"),
    ("protocol.https.allow", "always"),
    ("protocol.ssh.allow", "always"),
    ("protocol.git.allow", "always"),
    // A remote that trickles below 1 KB/s for 60 s is treated as hung, ahead of the deadline.
    ("http.lowSpeedLimit", "1000"),
    ("http.lowSpeedTime", "60"),
    // A remote may advertise bundle URIs for a fetch to download first: hosts we never checked.
    ("transfer.bundleURI", "false"),
    // Submodule recursion could reach URLs we never checked.
    ("push.recurseSubmodules", "no"),
    ("fetch.recurseSubmodules", "false"),
    // Our own repositories are owned by whoever runs the server; avoid "dubious ownership" refusals.
    ("safe.directory", "*"),
    // Keep receive-pack from advertising or honouring push options we do not handle.
    ("receive.advertisePushOptions", "false"),
    // Our own working refs (a pull mirror's staging namespace) are never shown to git clients
    // nor writable by them.
    ("transfer.hideRefs", crate::git::ops::PRIVATE_REFS),
];

/// Errors of running git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot start git: {0}")]
    Spawn(std::io::Error),
    #[error("git {subcommand} did not finish within {secs} s and was killed")]
    Timeout { subcommand: &'static str, secs: u64 },
    #[error("git {subcommand} failed: {stderr}")]
    Failed {
        subcommand: &'static str,
        stderr: String,
        /// What it printed on stdout (bounded like stderr): `push --porcelain` reports there.
        stdout: String,
        code: Option<i32>,
    },
    #[error("i/o with git: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds git commands. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GitRunner {
    binary: PathBuf,
    /// An empty directory used as HOME, so no user configuration or ssh config is read.
    home: PathBuf,
    /// Default deadline for one git process.
    timeout: Duration,
    /// `setpriv`, when it can set the parent-death signal (util-linux ≥ 2.33): see
    /// [`GitRunner::process`]. Used only without a supervisor.
    setpriv: Option<PathBuf>,
    /// The `pushmirror` binary every process runs under (`__supervise`), so no descendant
    /// outlives it; see [`supervise`].
    supervisor: Option<PathBuf>,
    /// The server's own hooks (see [`hooks`]), beside `home`.
    hooks: PathBuf,
    /// Where per-update private directories go (see [`GitRunner::private_dir`]), beside `home`.
    scratch: PathBuf,
}

/// Longest path of the agent socket a private directory may have to hold: a Unix socket's
/// address is at most 108 bytes with its NUL, and ssh-agent refuses longer ones.
const MAX_SOCKET_PATH: usize = 100;

impl GitRunner {
    /// A runner using `git` from PATH, with `home` (created if missing) as the empty HOME. When
    /// this process is the `pushmirror` binary (the server, the CLI), it supervises its own
    /// children; elsewhere (tests, tools) it has no supervisor unless given one.
    pub fn new(home: &Path, timeout: Duration) -> std::io::Result<GitRunner> {
        std::fs::create_dir_all(home)?;
        let binary = find_git().unwrap_or_else(|| PathBuf::from("git"));
        let mut hooks_name = home.file_name().unwrap_or_default().to_owned();
        hooks_name.push("-hooks");
        let hooks = hooks::install(&home.with_file_name(hooks_name))?;
        let mut scratch_name = home.file_name().unwrap_or_default().to_owned();
        scratch_name.push("-ssh");
        Ok(GitRunner {
            scratch: home.with_file_name(scratch_name),
            binary,
            hooks,
            home: home.to_owned(),
            timeout,
            setpriv: find_setpriv(),
            supervisor: supervise::this_binary(),
        })
    }

    /// Runs every process under the supervisor at `path` (a `pushmirror` binary), or, with
    /// `None`, under `setpriv` as without one.
    pub fn with_supervisor(mut self, path: Option<PathBuf>) -> Self {
        self.supervisor = path;
        self
    }

    /// The deadline commands get unless told otherwise.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A command running `program` with a cleared environment (only `PATH`, and the empty `HOME`
    /// so nothing reads a user's configuration) in its own process
    /// group, tied to the server's life: under the supervisor when there is one, else with
    /// `PR_SET_PDEATHSIG`.
    ///
    /// The parent-death signal is set by `setpriv`, which then execs the program in place (same
    /// pid, same process group), because setting it in our own child between fork and exec
    /// (`pre_exec`) forbids `posix_spawn`: every process would be a full `fork` of the server,
    /// whose cost grows with the server's memory (BENCHMARKS.md, fan-out). Without a capable
    /// `setpriv` we pay that and use `pre_exec`. The supervised path uses no `pre_exec` either.
    pub(crate) fn process(&self, program: &OsStr) -> Command {
        let mut cmd = match (&self.supervisor, &self.setpriv) {
            (Some(supervisor), _) => {
                let mut cmd = Command::new(supervisor);
                cmd.arg(supervise::MODE).arg(program);
                cmd
            }
            (None, Some(setpriv)) => {
                let mut cmd = Command::new(setpriv);
                cmd.args(["--pdeathsig", "KILL", "--"]).arg(program);
                cmd
            }
            (None, None) => {
                let mut cmd = Command::new(program);
                // SAFETY: prctl is async-signal-safe and touches only the child being exec'd.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                cmd
            }
        };
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .kill_on_drop(true)
            .process_group(0);
        if self.supervisor.is_some() {
            cmd.env(supervise::PARENT_ENV, std::process::id().to_string());
        }
        cmd
    }

    /// A new private directory (mode 0700, named `pushmirror-ssh-…`, the prefix the supervisor
    /// may remove) for one run's private files — an update's ssh files, a push's pre-receive
    /// FIFOs — removed when the value is dropped. It lives beside HOME in the data directory,
    /// where only the server's user looks, unless that path is too long for the agent socket it
    /// must hold; then in the system's temporary directory.
    pub(crate) fn private_dir(&self) -> std::io::Result<tempfile::TempDir> {
        use std::os::unix::fs::PermissionsExt as _;
        let needed = self.scratch.as_os_str().len()
            + "/".len()
            + supervise::REMOVABLE_PREFIX.len()
            + 6
            + "/agent.sock".len();
        let root = if needed <= MAX_SOCKET_PATH {
            std::fs::create_dir_all(&self.scratch)?;
            std::fs::set_permissions(&self.scratch, std::fs::Permissions::from_mode(0o700))?;
            self.scratch.clone()
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix(supervise::REMOVABLE_PREFIX)
            .tempdir_in(root)?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        Ok(dir)
    }

    /// [`GitRunner::process`] for a program working in `dir`, a private directory named
    /// `pushmirror-ssh-…`: its supervisor removes `dir` once the program and everything below it
    /// are dead, even when the server died without running destructors. Without a supervisor
    /// only the caller's own cleanup removes it.
    pub(crate) fn process_owning(&self, program: &OsStr, dir: &Path) -> Command {
        let mut cmd = self.process(program);
        if self.supervisor.is_some() {
            cmd.env(supervise::REMOVE_DIR_ENV, dir);
        }
        cmd
    }

    /// A git command with the safe environment, running `sub` in `git_dir` (a bare repository), or
    /// nowhere in particular when `git_dir` is `None`.
    pub fn command(&self, git_dir: Option<&LocalRepo>, sub: Subcommand) -> GitCommand {
        self.command_with_hooks(git_dir.map(LocalRepo::path), sub, Path::new("/dev/null"))
    }

    /// `git receive-pack` in `repo` with the server's pre-receive hook when the push needs it:
    /// refusing non-fast-forward updates of the refs in `fast_forward_only` (full names), and
    /// asking the server through `channel` (see [`hooks::PreReceiveChannel`]) whether the push
    /// may go ahead. With neither it is [`GitRunner::command`]: no hook runs.
    pub fn receive_pack(
        &self,
        repo: &LocalRepo,
        fast_forward_only: &[String],
        channel: Option<&hooks::PreReceiveChannel>,
    ) -> GitCommand {
        if fast_forward_only.is_empty() && channel.is_none() {
            return self.command(Some(repo), Subcommand::ReceivePack);
        }
        let mut cmd =
            self.command_with_hooks(Some(repo.path()), Subcommand::ReceivePack, &self.hooks);
        if !fast_forward_only.is_empty() {
            cmd.cmd
                .env(hooks::FAST_FORWARD_ONLY_ENV, fast_forward_only.join("\n"));
        }
        if let Some(channel) = channel {
            cmd.cmd.env(hooks::PRE_RECEIVE_ENV, channel.dir());
            // Its supervisor removes the channel's directory even when the server is killed.
            if self.supervisor.is_some() {
                cmd.cmd.env(supervise::REMOVE_DIR_ENV, channel.dir());
            }
        }
        cmd
    }

    /// A new channel between the server and one push's pre-receive hook, in a private
    /// directory.
    pub fn pre_receive_channel(&self) -> std::io::Result<hooks::PreReceiveChannel> {
        hooks::PreReceiveChannel::open(self.private_dir()?)
    }

    fn command_with_hooks(
        &self,
        git_dir: Option<&Path>,
        sub: Subcommand,
        hooks: &Path,
    ) -> GitCommand {
        let mut cmd = self.process(self.binary.as_os_str());
        cmd.env("XDG_CONFIG_HOME", &self.home)
            .env("LC_ALL", "C")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ALLOW_PROTOCOL", "http:https:ssh:git")
            .env("GIT_PROTOCOL_FROM_USER", "0")
            .env("GIT_SSH_VARIANT", "ssh")
            // ssh must not fall back to asking anyone for a passphrase or password.
            .env("SSH_ASKPASS_REQUIRE", "never")
            .env(
                "GIT_SSH_COMMAND",
                "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = git_dir {
            cmd.env("GIT_DIR", dir);
        }
        for (k, v) in FORCED_CONFIG {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        // Hooks inside a hosted repository are the operator's business, never run by our own
        // git calls; only the server's own (`hooks.rs`) may run, and only when asked for.
        cmd.arg("-c")
            .arg(format!("core.hooksPath={}", hooks.display()));
        cmd.arg(sub.as_str());
        GitCommand {
            cmd,
            sub,
            timeout: self.timeout,
        }
    }
}

/// `setpriv` from util-linux, if it is installed and knows `--pdeathsig`.
fn find_setpriv() -> Option<PathBuf> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .filter(|p| {
            std::process::Command::new(p)
                .args(["--pdeathsig", "KILL", "--", "/bin/true"])
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

fn find_git() -> Option<PathBuf> {
    ["/usr/local/bin/git", "/usr/bin/git", "/bin/git"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// One git invocation being built.
pub struct GitCommand {
    cmd: Command,
    sub: Subcommand,
    timeout: Duration,
}

/// What a finished git process printed.
#[derive(Debug)]
pub struct GitOutput {
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl GitCommand {
    /// Adds arguments. Callers put `--end-of-options` before anything a user chose.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        for a in args {
            self.cmd.arg(a.into());
        }
        self
    }

    /// Adds `-c key=value`-equivalent configuration without argv: through GIT_CONFIG_* variables,
    /// so values (which may carry credentials) never appear in `ps`.
    pub fn config_env(mut self, pairs: &[(String, SecretString)]) -> Self {
        self.cmd.env("GIT_CONFIG_COUNT", pairs.len().to_string());
        for (i, (k, v)) in pairs.iter().enumerate() {
            self.cmd.env(format!("GIT_CONFIG_KEY_{i}"), k);
            self.cmd
                .env(format!("GIT_CONFIG_VALUE_{i}"), v.expose_secret());
        }
        self
    }

    /// Sets an environment variable holding a secret (only the child sees it).
    pub fn env_secret(mut self, key: &str, value: &SecretString) -> Self {
        self.cmd.env(key, value.expose_secret());
        self
    }

    /// Sets a plain environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Overrides the deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the process with piped stdin, for streaming callers ([`service::serve`]). The caller
    /// owns the deadline and kills the group ([`kill_group`]) when it gives up; dropping the child
    /// SIGKILLs its group leader, which under a supervisor takes the whole group with it.
    pub fn spawn_piped(mut self) -> Result<Child, GitError> {
        self.cmd.stdin(Stdio::piped());
        self.cmd.spawn().map_err(GitError::Spawn)
    }

    /// Runs to completion, feeding `stdin`, and fails on a non-zero exit.
    pub async fn run_with_input(mut self, stdin: Option<Vec<u8>>) -> Result<GitOutput, GitError> {
        if stdin.is_some() {
            self.cmd.stdin(Stdio::piped());
        }
        let sub = self.sub.as_str();
        let timeout = self.timeout;
        let mut guard = GroupGuard(self.cmd.spawn().map_err(GitError::Spawn)?);
        let child = &mut guard.0;
        let work = async {
            let input = stdin.zip(child.stdin.take());
            // Written while stdout is read: git may answer before it has read all its input
            // (`cat-file --batch`), and both pipes would fill.
            let feed = async move {
                if let Some((input, mut w)) = input {
                    use tokio::io::AsyncWriteExt;
                    // A git that exits early closes its stdin; its exit status tells the story.
                    let _ = w.write_all(&input).await;
                    drop(w);
                }
            };
            let mut out = child.stdout.take().expect("stdout is piped");
            let mut err = child.stderr.take().expect("stderr is piped");
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let ((), a, b) = tokio::join!(
                feed,
                out.read_to_end(&mut stdout),
                read_bounded(&mut err, &mut stderr)
            );
            a?;
            b?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, stdout, stderr))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(res) => {
                let (status, stdout, stderr) = res?;
                let stderr = String::from_utf8_lossy(&stderr).into_owned();
                if status.success() {
                    Ok(GitOutput { stdout, stderr })
                } else {
                    let mut stdout = stdout;
                    stdout.truncate(MAX_STDERR);
                    Err(GitError::Failed {
                        subcommand: sub,
                        stderr,
                        stdout: String::from_utf8_lossy(&stdout).into_owned(),
                        code: status.code(),
                    })
                }
            }
            Err(_) => {
                drop(guard);
                Err(GitError::Timeout {
                    subcommand: sub,
                    secs: timeout.as_secs(),
                })
            }
        }
    }

    /// Runs to completion without input.
    pub async fn run(self) -> Result<GitOutput, GitError> {
        self.run_with_input(None).await
    }
}

/// Reads a stream to its end, keeping at most [`MAX_STDERR`] bytes.
async fn read_bounded(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    keep: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let room = MAX_STDERR.saturating_sub(keep.len());
        keep.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// What a non-git child printed and how it ended, each stream bounded by [`MAX_STDERR`].
pub(crate) struct Collected {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Reads `child`'s stdout and stderr (both piped) to their ends and waits for it, within
/// `deadline`; `Ok(None)` when the deadline passed, the child's group then killed.
pub(crate) async fn collect_bounded(
    child: Child,
    deadline: Duration,
) -> std::io::Result<Option<Collected>> {
    let mut guard = GroupGuard(child);
    let work = async {
        let child = &mut guard.0;
        let mut out = child.stdout.take().expect("stdout is piped");
        let mut err = child.stderr.take().expect("stderr is piped");
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let (a, b) = tokio::join!(
            read_bounded(&mut out, &mut stdout),
            read_bounded(&mut err, &mut stderr)
        );
        a?;
        b?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>(Collected {
            status,
            stdout,
            stderr,
        })
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(collected) => collected.map(Some),
        Err(_) => Ok(None),
    }
}

/// A running child whose whole process group is SIGKILLed when this is dropped before the child
/// was reaped: a deadline passed, or the caller dropped the future that was waiting for it.
pub(crate) struct GroupGuard(pub(crate) Child);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        // `try_wait` reaps a child that has exited; one still unreaped keeps its pid, and with it
        // its group id, from being recycled, so the signal cannot reach a stranger.
        if let Ok(None) = self.0.try_wait() {
            kill_group(self.0.id());
        }
    }
}

/// Kills a git process's whole group (git spawns ssh, remote helpers, pack-objects). Call it only
/// while the process is not yet reaped: a reaped pid may already belong to someone else.
pub fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid {
        // SAFETY: killpg only sends a signal; a stale pid group at worst gets ESRCH.
        unsafe {
            libc::killpg(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// Asks a git process's whole group to stop (SIGTERM): git's signal handlers then remove its lock
/// files before it exits, which SIGKILL would leave behind (a push's quarantined objects stay
/// either way: only a git that ends by itself removes them). Same precondition as [`kill_group`].
pub fn terminate_group(pid: Option<u32>) {
    if let Some(pid) = pid {
        // SAFETY: killpg only sends a signal; a stale pid group at worst gets ESRCH.
        unsafe {
            libc::killpg(pid as libc::pid_t, libc::SIGTERM);
        }
    }
}

/// Creates a bare repository at `path` whose HEAD points at `initial_branch`.
pub async fn init_bare(
    runner: &GitRunner,
    repo: &LocalRepo,
    initial_branch: &str,
) -> Result<(), GitError> {
    let path = repo.path();
    runner
        .command(None, Subcommand::Init)
        .args(["--bare", "--quiet"])
        .args([format!("--initial-branch={initial_branch}")])
        .args([OsString::from("--"), path.as_os_str().to_owned()])
        .run()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn init_bare_creates_a_repository_with_the_given_head() {
        let dir = tempfile::tempdir().unwrap();
        let runner = GitRunner::new(&dir.path().join("home"), Duration::from_secs(30)).unwrap();
        let repo = LocalRepo::for_tests(&dir.path().join("r.git"));
        init_bare(&runner, &repo, "trunk").await.unwrap();
        let head = std::fs::read_to_string(repo.join("HEAD")).unwrap();
        assert_eq!(head.trim(), "ref: refs/heads/trunk");
    }

    #[tokio::test]
    async fn refuses_local_transports_and_reports_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let runner = GitRunner::new(&dir.path().join("home"), Duration::from_secs(30)).unwrap();
        let repo = LocalRepo::for_tests(&dir.path().join("r.git"));
        init_bare(&runner, &repo, "main").await.unwrap();
        for url in [
            format!("file://{}", repo.display()),
            repo.display().to_string(),
            "ext::sh -c touch% /tmp/pwned".into(),
        ] {
            let err = runner
                .command(None, Subcommand::LsRemote)
                .args(["--end-of-options", url.as_str()])
                .run()
                .await
                .unwrap_err();
            assert!(matches!(err, GitError::Failed { .. }), "{url}: {err}");
        }
        assert!(!Path::new("/tmp/pwned").exists());
    }

    /// A git that would hang forever dies with the thread that started it (the kernel's
    /// parent-death signal), so a server killed with SIGKILL leaves no git behind.
    #[test]
    fn a_git_dies_with_the_thread_that_started_it() {
        let dir = tempfile::tempdir().unwrap();
        let runner = GitRunner::new(&dir.path().join("home"), Duration::from_secs(300)).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "git://127.0.0.1:{}/x.git",
            listener.local_addr().unwrap().port()
        );
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().take(4) {
                held.push(conn);
            }
        });
        let pid = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let child = runner
                    .command(None, Subcommand::LsRemote)
                    .args([url])
                    .spawn_piped()
                    .unwrap();
                let pid = child.id().unwrap() as libc::pid_t;
                // Neither killed on drop nor reaped by tokio: only the kernel can end it now.
                std::mem::forget(child);
                // `setpriv` sets the signal before it execs git; once git runs, it is armed.
                let exe = format!("/proc/{pid}/exe");
                let until = std::time::Instant::now() + Duration::from_secs(20);
                while !std::fs::read_link(&exe).is_ok_and(|p| p.ends_with("git"))
                    && std::time::Instant::now() < until
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                pid
            })
        })
        .join()
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child, with a valid status pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if std::time::Instant::now() > deadline {
                kill_group(Some(pid as u32));
                panic!("git {pid} outlived the thread that started it");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(libc::WIFSIGNALED(status), "status {status}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGKILL);
    }

    #[tokio::test]
    async fn deadline_kills_a_hung_git() {
        let dir = tempfile::tempdir().unwrap();
        let runner = GitRunner::new(&dir.path().join("home"), Duration::from_millis(500)).unwrap();
        // A "remote" that accepts connections and never answers: git waits forever.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().take(4) {
                held.push(conn);
            }
        });
        let started = std::time::Instant::now();
        let err = runner
            .command(None, Subcommand::LsRemote)
            .args([format!("git://127.0.0.1:{port}/x.git")])
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, GitError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
