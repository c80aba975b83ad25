//! `ssh-keyscan` against one checked address, for host-key detection and for explaining a
//! host-key failure. It runs like every process here ([`GitRunner::process`]): cleared
//! environment, own process group, supervised, killed with its group at the deadline or when the
//! caller drops the scan. It is given the address that passed the network policy, never a name
//! it could resolve differently.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use super::{collect_bounded, Collected, GitRunner};

/// `ssh-keyscan -T`: seconds one connection may stay silent. GitLab's value; a host that says
/// nothing for 5 s is not going to serve a mirror either.
const CONNECT_TIMEOUT_SECS: u32 = 5;

/// Bound on the whole scan (one connection per key type, each up to
/// [`CONNECT_TIMEOUT_SECS`]), so a request never waits longer than this.
const SCAN_DEADLINE: Duration = Duration::from_secs(20);

/// Why a scan produced nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot run ssh-keyscan: {0}")]
    Spawn(std::io::Error),
    #[error("ssh-keyscan did not finish within {} s and was killed", SCAN_DEADLINE.as_secs())]
    Timeout,
    #[error("ssh-keyscan failed: {0}")]
    Failed(String),
    #[error("i/o with ssh-keyscan: {0}")]
    Io(#[from] std::io::Error),
}

/// The `known_hosts` lines `ssh-keyscan` prints for `address`:`port` (every key type it
/// offers), with the `#` banner lines it writes to stderr left out.
pub async fn scan(runner: &GitRunner, address: IpAddr, port: u16) -> Result<String, ScanError> {
    let child = runner
        .process(OsStr::new("ssh-keyscan"))
        .arg("-T")
        .arg(CONNECT_TIMEOUT_SECS.to_string())
        .arg("-p")
        .arg(port.to_string())
        .arg("--")
        .arg(address.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ScanError::Spawn)?;
    let Collected {
        status,
        stdout,
        stderr,
    } = collect_bounded(child, SCAN_DEADLINE)
        .await?
        .ok_or(ScanError::Timeout)?;
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    if status.success() && !stdout.trim().is_empty() {
        return Ok(stdout);
    }
    let reasons: Vec<&str> = std::str::from_utf8(&stderr)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    Err(ScanError::Failed(match reasons.as_slice() {
        [] => format!("no host key was offered ({status})"),
        lines => lines.join("; "),
    }))
}
