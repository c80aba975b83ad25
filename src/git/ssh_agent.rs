//! A private, per-push `ssh-agent`, so a mirror's SSH private key reaches ssh without ever being
//! written to disk or put in argv: the key is piped into `ssh-add -`, the agent listens on a
//! socket inside a 0700 directory, and the agent dies with this value.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// How long the agent may take to create its socket; it is instant in practice.
const AGENT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running agent holding one key.
pub struct SshAgent {
    child: Child,
    socket: PathBuf,
}

impl SshAgent {
    /// Starts an agent with its socket in `dir` (which must be private) and loads `key` into it.
    pub async fn start(dir: &Path, key: &SecretString) -> std::io::Result<SshAgent> {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let agent = SshAgent { child, socket };
        let deadline = tokio::time::Instant::now() + AGENT_START_TIMEOUT;
        while !agent.socket.exists() {
            if tokio::time::Instant::now() > deadline {
                return Err(std::io::Error::other("ssh-agent did not start"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut add = Command::new("ssh-add")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("SSH_AUTH_SOCK", &agent.socket)
            .arg("-q")
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        if let Some(mut stdin) = add.stdin.take() {
            stdin.write_all(key.expose_secret().as_bytes()).await?;
        }
        let out = add.wait_with_output().await?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "ssh-add refused the mirror's key: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(agent)
    }

    /// The socket to hand ssh as `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
