//! `git-lfs-authenticate` over a mirror's ssh connection, as the git-lfs client runs it: `ssh`
//! with the update's own configuration file (`-F`: the checked address, the pinned host keys,
//! the mirror's key from its private agent, batch mode), the remote command
//! `git-lfs-authenticate '<path>' <operation>`, and its JSON answer on stdout. It runs like
//! every process here ([`GitRunner::process`]): cleared environment, own process group,
//! supervised, killed with its group at the deadline or when the caller drops it.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::{collect_bounded, Collected, GitRunner};

/// Bound on the whole exchange: the answer is a few hundred bytes computed at once; a remote
/// that takes longer is not serving LFS to anyone.
const DEADLINE: Duration = Duration::from_secs(60);

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("cannot run ssh: {0}")]
    Spawn(std::io::Error),
    #[error("git-lfs-authenticate did not answer within {} s", DEADLINE.as_secs())]
    Timeout,
    /// The remote refused or does not offer it (ssh's and the remote's stderr).
    #[error("git-lfs-authenticate failed: {0}")]
    Failed(String),
    /// A path git-lfs could not quote for the remote shell either.
    #[error("the repository path cannot be passed to git-lfs-authenticate")]
    BadPath,
    #[error("i/o with ssh: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `git-lfs-authenticate '<path>' <operation>` on the host `config` (an ssh configuration
/// of `Host *`) points at; its stdout.
pub async fn authenticate(
    runner: &GitRunner,
    config: &Path,
    path: &str,
    operation: &str,
) -> Result<Vec<u8>, AuthenticateError> {
    if path.contains(['\'', '\n', '\0']) || !operation.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(AuthenticateError::BadPath);
    }
    let child = runner
        .process(OsStr::new("ssh"))
        .arg("-F")
        .arg(config)
        .arg("--")
        // `Host *` in `config` names the address, user and port; this is only the name.
        .arg("mirror")
        .arg(format!("git-lfs-authenticate '{path}' {operation}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(AuthenticateError::Spawn)?;
    let Collected {
        status,
        stdout,
        stderr,
    } = collect_bounded(child, DEADLINE)
        .await?
        .ok_or(AuthenticateError::Timeout)?;
    if status.success() {
        return Ok(stdout);
    }
    let text = String::from_utf8_lossy(&stderr).trim().to_owned();
    Err(AuthenticateError::Failed(if text.is_empty() {
        status.to_string()
    } else {
        text
    }))
}
