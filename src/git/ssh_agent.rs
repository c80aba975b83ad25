//! A private `ssh-agent` for one push or fetch, so a mirror's SSH private key reaches ssh without ever being
//! written to disk or put in argv: the key is piped into `ssh-add -`, the agent listens on a
//! socket inside a 0700 directory, and the agent dies with this value. Both are started by
//! [`GitRunner::process`], so they run under the same supervision as git and die with the
//! server; the key also carries a lifetime (`ssh-add -t`), so even an agent that somehow
//! outlived everything would forget it. The agent's supervisor owns the socket's directory
//! ([`GitRunner::process_owning`]): if the server dies, it removes the directory too.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncWriteExt;

use super::{GitRunner, GroupGuard};

/// How long starting the agent and loading the key may take; both are instant in practice.
const AGENT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Interval between checks for the agent's socket: it appears within milliseconds.
const SOCKET_POLL: Duration = Duration::from_millis(5);

/// A running agent holding one key.
pub struct SshAgent {
    /// The agent; dropping it SIGKILLs its process group.
    process: GroupGuard,
    socket: PathBuf,
}

impl SshAgent {
    /// Starts an agent with its socket in `dir` (which must be private) and loads `key` into it
    /// for `lifetime` (rounded up to whole seconds), all within [`AGENT_START_TIMEOUT`].
    pub async fn start(
        runner: &GitRunner,
        dir: &Path,
        key: &SecretString,
        lifetime: Duration,
    ) -> std::io::Result<SshAgent> {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let socket = dir.join("agent.sock");
        let agent = runner
            .process_owning(OsStr::new("ssh-agent"), dir)
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut agent = SshAgent {
            process: GroupGuard(agent),
            socket,
        };
        tokio::time::timeout(AGENT_START_TIMEOUT, agent.load(runner, key, lifetime))
            .await
            .map_err(|_| std::io::Error::other("ssh-agent or ssh-add did not finish in time"))??;
        Ok(agent)
    }

    /// Waits until the agent accepts connections, then pipes the key into `ssh-add`. The socket's
    /// file appears at bind(), a moment before listen(): a connection in between is refused, so
    /// the wait is for a connection that succeeds, not for the file.
    async fn load(
        &mut self,
        runner: &GitRunner,
        key: &SecretString,
        lifetime: Duration,
    ) -> std::io::Result<()> {
        while tokio::net::UnixStream::connect(&self.socket).await.is_err() {
            if let Some(status) = self.process.0.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "ssh-agent exited before it listened ({status})"
                )));
            }
            tokio::time::sleep(SOCKET_POLL).await;
        }
        let secs = lifetime.as_secs() + u64::from(lifetime.subsec_nanos() > 0);
        let mut add = GroupGuard(
            runner
                .process(OsStr::new("ssh-add"))
                .env("SSH_AUTH_SOCK", &self.socket)
                .arg("-q")
                .arg("-t")
                .arg(secs.max(1).to_string())
                .arg("-")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        if let Some(mut stdin) = add.0.stdin.take() {
            stdin.write_all(key.expose_secret().as_bytes()).await?;
        }
        let mut stderr = Vec::new();
        if let Some(mut err) = add.0.stderr.take() {
            use tokio::io::AsyncReadExt;
            err.read_to_end(&mut stderr).await?;
        }
        let status = add.0.wait().await?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "ssh-add refused the mirror's key: {}",
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
        Ok(())
    }

    /// The socket to hand ssh as `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}
