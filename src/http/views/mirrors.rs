//! GitLab's remote-mirror entity and its host-key detection answer.

use serde_json::{json, Value};

use crate::model::entities::{gitlab_time, MirrorSummary};
use crate::model::host_keys::fingerprints;
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
    host_keys: Vec<HostKey>,
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
        last_update_at: m.last_update_at.and_then(gitlab_time),
        last_update_started_at: m.last_update_started_at.and_then(gitlab_time),
        last_successful_update_at: m.last_successful_update_at.and_then(gitlab_time),
        last_error: m.last_error,
        only_protected_branches: m.only_protected_branches,
        keep_divergent_refs: m.keep_divergent_refs,
        mirror_branch_regex: m.mirror_branch_regex,
        auth_method: m.auth_method.as_str(),
        host_keys: host_key_fingerprints(m.ssh_known_hosts.as_deref()),
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

/// GitLab's host-key detection answer: `known_hosts`, one fingerprint per line of it (GitLab's
/// `{type, bits, fingerprint, index}` plus the `fingerprint_sha256` its mirror entity shows), and
/// `host_keys_changed`.
pub(in crate::http) fn ssh_host_keys(found: &Detection) -> Value {
    let fingerprints: Vec<Value> = found
        .fingerprints
        .iter()
        .map(|f| {
            json!({
                "type": f.key_type,
                "bits": f.bits,
                "fingerprint": f.md5,
                "fingerprint_sha256": f.sha256,
                "index": f.index,
            })
        })
        .collect();
    json!({
        "known_hosts": found.known_hosts,
        "fingerprints": fingerprints,
        "host_keys_changed": found.host_keys_changed,
    })
}
