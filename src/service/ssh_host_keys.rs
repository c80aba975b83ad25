//! Detecting a remote's SSH host keys before they are pinned (GitLab's `SshHostKey`): the URL is
//! checked by the same rules as a mirror's (then `ssh://` only), its host resolved and checked,
//! and the address that passed is scanned with `ssh-keyscan` under a deadline. The keys come
//! back as `known_hosts` text filed under the name the mirror update checks them by, ready to be
//! pinned unchanged as `host_keys`.
//!
//! GitLab answers only two errors, on purpose: `Invalid URL` and `Failed to detect SSH host
//! keys`; why a scan failed goes to the log, not to the caller (it would let anyone with a
//! project probe the network).

use crate::app::App;
use crate::git::keyscan;
use crate::model::host_keys::{fingerprints, host_keys_changed, scanned_known_hosts, Fingerprint};
use crate::model::url::{parse_mirror_url, Scheme};
use crate::netcheck::resolve_checked;

use super::error::{Refusal, ServiceError};

/// What a scan found.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The keys as `known_hosts` lines, cleaned and sorted (GitLab's order).
    pub known_hosts: String,
    /// One per line of `known_hosts`.
    pub fingerprints: Vec<Fingerprint>,
    /// Whether `known_hosts` differs from the text the caller compared it with (ignoring order,
    /// duplicates and comments); `false` when there was nothing to compare.
    pub host_keys_changed: bool,
}

/// Scans the host of `ssh_url` and compares its keys with `compare` (`known_hosts` text).
pub async fn detect(
    app: &App,
    ssh_url: &str,
    compare: Option<&str>,
) -> Result<Detection, ServiceError> {
    let invalid = || ServiceError::Refused(Refusal::HostKeyScanUrl);
    let parsed = parse_mirror_url(ssh_url, app.network_policy).map_err(|_| invalid())?;
    if parsed.scheme != Scheme::Ssh {
        return Err(invalid());
    }
    let address = *resolve_checked(&parsed, app.network_policy)
        .await
        .map_err(|_| invalid())?
        .first()
        .ok_or_else(invalid)?;
    let failed = || ServiceError::Refused(Refusal::HostKeyScanFailed);
    let output = keyscan::scan(&app.git, address, parsed.port)
        .await
        .map_err(|e| {
            tracing::info!(host = %parsed.host_str(), %address, error = %e, "ssh host key scan failed");
            failed()
        })?;
    let known_hosts = scanned_known_hosts(&output, &parsed.host, parsed.port).ok_or_else(failed)?;
    Ok(Detection {
        fingerprints: fingerprints(&known_hosts),
        host_keys_changed: compare.is_some_and(|c| host_keys_changed(&known_hosts, c)),
        known_hosts,
    })
}
