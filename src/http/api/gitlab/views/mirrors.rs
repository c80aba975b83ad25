//! GitLab's remote-mirror entity and its host-key detection answer.

use crate::model::entities::MirrorSummary;
use crate::model::host_keys::fingerprints;
use crate::model::time::iso8601_millis;
use crate::service::ssh_host_keys::Detection;
/// The remote-mirror entity, with the URL masked as GitLab's `safe_url`. Typed rather than a
/// `Value`: lists serialise a page of these per poll.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(in crate::http) struct RemoteMirrorEntity {
    id: i64,
    enabled: bool,
    url: String,
    update_status: &'static str,
    last_update_at: Option<String>,
    last_update_started_at: Option<String>,
    last_successful_update_at: Option<String>,
    last_error: Option<String>,
    only_protected_branches: bool,
    keep_divergent_refs: bool,
    mirror_branch_regex: Option<String>,
    auth_method: &'static str,
    /// What happens to the Git LFS objects of pushed refs: `required`, `best_effort` or `off`.
    #[schema(value_type = crate::http::api::gitlab::choices::LfsSyncName, inline)]
    lfs_sync: &'static str,
    host_keys: Vec<HostKey>,
    /// Not in GitLab: seconds between periodic updates beside those pushes trigger (0: only
    /// on push).
    sync_interval: i64,
    /// Not in GitLab: whether a push updates the mirror.
    sync_on_commit: bool,
}

/// One pinned SSH host key, as GitLab lists it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct HostKey {
    fingerprint_sha256: String,
}

/// The remote-mirror entity of `m`.
pub(in crate::http) fn remote_mirror(m: MirrorSummary) -> RemoteMirrorEntity {
    RemoteMirrorEntity {
        id: m.id,
        enabled: m.enabled,
        url: m.safe_url(),
        update_status: m.update_status.as_str(),
        last_update_at: m.last_update_at.and_then(iso8601_millis),
        last_update_started_at: m.last_update_started_at.and_then(iso8601_millis),
        last_successful_update_at: m.last_successful_update_at.and_then(iso8601_millis),
        last_error: m.last_error,
        only_protected_branches: m.only_protected_branches,
        keep_divergent_refs: m.keep_divergent_refs,
        mirror_branch_regex: m.mirror_branch_regex,
        auth_method: m.auth_method.as_str(),
        lfs_sync: m.lfs_sync.as_str(),
        host_keys: host_key_fingerprints(m.ssh_known_hosts.as_deref()),
        sync_interval: m.sync_interval_secs,
        sync_on_commit: m.sync_on_commit,
    }
}

/// The fingerprint of each pinned host key (`SHA256:…`).
fn host_key_fingerprints(known_hosts: Option<&str>) -> Vec<HostKey> {
    fingerprints(known_hosts.unwrap_or_default())
        .into_iter()
        .map(|f| HostKey {
            fingerprint_sha256: f.sha256,
        })
        .collect()
}

/// GitLab's host-key detection answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(in crate::http) struct SshHostKeysEntity {
    /// The keys found, as `known_hosts` lines (to pin unchanged as a mirror's `host_keys`).
    known_hosts: String,
    /// One per line of `known_hosts`.
    fingerprints: Vec<HostKeyFingerprint>,
    /// Whether the keys differ from `compare_host_keys` (ignoring order, duplicates and
    /// comments); false when nothing was compared.
    host_keys_changed: bool,
}

/// One key found: GitLab's `{type, bits, fingerprint, index}` plus the `fingerprint_sha256`
/// its mirror entity shows.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct HostKeyFingerprint {
    /// `rsa`, `dsa`, `ecdsa`, `ed25519`, `ecdsa_sk` or `ed25519_sk`.
    #[serde(rename = "type")]
    key_type: &'static str,
    /// The key's size in bits.
    bits: u32,
    /// The MD5 fingerprint, colon-separated hex (`2e:65:…`).
    fingerprint: String,
    /// The SHA-256 fingerprint (`SHA256:…`), as `ssh-keygen -l` prints it.
    fingerprint_sha256: String,
    /// The line of `known_hosts` the key is on, from 0.
    index: usize,
}

/// The detection answer of `found`.
pub(in crate::http) fn ssh_host_keys(found: &Detection) -> SshHostKeysEntity {
    SshHostKeysEntity {
        known_hosts: found.known_hosts.clone(),
        fingerprints: found
            .fingerprints
            .iter()
            .map(|f| HostKeyFingerprint {
                key_type: f.key_type,
                bits: f.bits,
                fingerprint: f.md5.clone(),
                fingerprint_sha256: f.sha256.clone(),
                index: f.index,
            })
            .collect(),
        host_keys_changed: found.host_keys_changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host_keys::Fingerprint;
    use serde_json::json;

    #[test]
    fn detection_answers_gitlabs_shape() {
        let found = Detection {
            known_hosts: "[h]:22 ssh-ed25519 AAAA\n".into(),
            fingerprints: vec![Fingerprint {
                key_type: "ed25519",
                bits: 256,
                md5: "2e:65".into(),
                sha256: "SHA256:abc".into(),
                index: 0,
            }],
            host_keys_changed: true,
        };
        assert_eq!(
            serde_json::to_value(ssh_host_keys(&found)).unwrap(),
            json!({
                "known_hosts": "[h]:22 ssh-ed25519 AAAA\n",
                "fingerprints": [{
                    "type": "ed25519",
                    "bits": 256,
                    "fingerprint": "2e:65",
                    "fingerprint_sha256": "SHA256:abc",
                    "index": 0,
                }],
                "host_keys_changed": true,
            })
        );
    }
}
