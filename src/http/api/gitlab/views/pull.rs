//! GitLab's pull-mirror entity (`/projects/:id/mirror/pull`, 17.6+ shapes, with pushmirror's
//! extension fields) and the project import status entity (`/projects/:id/import`).

use crate::model::entities::Project;
use crate::model::pull::{ImportStatus, ProjectImport, PullMirror};
use crate::model::time::iso8601_millis;

/// The pull-mirror entity: the URL masked, credentials never shown.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(in crate::http) struct PullMirrorEntity {
    /// Null when the project has no pull mirror.
    id: Option<i64>,
    enabled: bool,
    /// The upstream with credentials masked (`https://*****:*****@host/…`).
    url: Option<String>,
    /// `none`, `started`, `finished`, `to_retry` or `failed`.
    update_status: &'static str,
    last_update_at: Option<String>,
    last_update_started_at: Option<String>,
    last_successful_update_at: Option<String>,
    /// Null after a clean sync; names the diverged refs when some were skipped.
    last_error: Option<String>,
    /// Accepted and kept; pushmirror runs no pipelines.
    mirror_trigger_builds: bool,
    only_mirror_protected_branches: bool,
    mirror_overwrites_diverged_branches: bool,
    mirror_branch_regex: Option<String>,
    /// Extension: seconds between scheduled syncs.
    interval: i64,
    /// Extension: paused after too many consecutive failures (`POST` or `enabled=true`
    /// resumes it).
    paused: bool,
    /// Extension: the refs the last sync skipped because they diverged.
    diverged_refs: Vec<String>,
    /// Extension: `password` or `ssh_public_key`.
    auth_method: &'static str,
    /// Extension: the public key to give the upstream, for an `ssh://` upstream.
    ssh_public_key: Option<String>,
}

/// The entity of `m`, or of no pull mirror.
pub(in crate::http) fn pull_mirror(m: Option<&PullMirror>) -> PullMirrorEntity {
    let Some(m) = m else {
        return PullMirrorEntity {
            id: None,
            enabled: false,
            url: None,
            update_status: "none",
            last_update_at: None,
            last_update_started_at: None,
            last_successful_update_at: None,
            last_error: None,
            mirror_trigger_builds: false,
            only_mirror_protected_branches: false,
            mirror_overwrites_diverged_branches: false,
            mirror_branch_regex: None,
            interval: crate::model::pull::DEFAULT_INTERVAL_SECS,
            paused: false,
            diverged_refs: Vec::new(),
            auth_method: "password",
            ssh_public_key: None,
        };
    };
    PullMirrorEntity {
        id: Some(m.id),
        enabled: m.settings.enabled,
        url: Some(m.upstream.safe_url()),
        update_status: m.update_status.as_str(),
        last_update_at: m.last_update_at.and_then(iso8601_millis),
        last_update_started_at: m.last_update_started_at.and_then(iso8601_millis),
        last_successful_update_at: m.last_successful_update_at.and_then(iso8601_millis),
        last_error: m.last_error.clone(),
        mirror_trigger_builds: m.settings.trigger_builds,
        only_mirror_protected_branches: m.settings.only_protected_branches,
        mirror_overwrites_diverged_branches: m.settings.overwrite_diverged,
        mirror_branch_regex: m.settings.mirror_branch_regex.clone(),
        interval: m.settings.interval_secs,
        paused: m.paused,
        diverged_refs: m.diverged_refs.clone(),
        auth_method: m.upstream.auth_method.as_str(),
        ssh_public_key: m.upstream.ssh_public_key.clone(),
    }
}

/// GitLab's project import status entity.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(in crate::http) struct ImportStatusEntity {
    id: i64,
    description: Option<String>,
    name: String,
    name_with_namespace: String,
    path: String,
    path_with_namespace: String,
    created_at: Option<String>,
    /// `none`, `scheduled`, `started`, `finished`, `failed` or `canceled`.
    import_status: &'static str,
    /// `git` for an import by URL; null for a project that was not imported.
    import_type: Option<&'static str>,
    /// Names the import in the server's log.
    correlation_id: Option<String>,
    /// Always empty: a repository import has no relations.
    failed_relations: Vec<serde_json::Value>,
    /// Why it failed, scrubbed of credentials.
    import_error: Option<String>,
    /// Extension: the upstream, credentials masked.
    import_url: Option<String>,
    /// Extension: the public key to give an `ssh://` upstream.
    ssh_public_key: Option<String>,
    /// Extension: branches and tags it brought in.
    refs_imported: i64,
    /// Extension: LFS objects it brought in.
    lfs_objects: i64,
}

/// The import status of `p` (`import` absent: not imported).
pub(in crate::http) fn import_status(
    p: &Project,
    import: Option<&ProjectImport>,
) -> ImportStatusEntity {
    ImportStatusEntity {
        id: p.id,
        description: p.description.clone(),
        name: p.name.clone(),
        name_with_namespace: format!("{} / {}", p.namespace.full_name, p.name),
        path: p.path.clone(),
        path_with_namespace: p.full_path(),
        created_at: iso8601_millis(p.created_at),
        import_status: import.map_or(ImportStatus::None, |i| i.status).as_str(),
        import_type: import.map(|_| "git"),
        correlation_id: import.map(|i| i.correlation_id.clone()),
        failed_relations: Vec::new(),
        import_error: import.and_then(|i| i.error.clone()),
        import_url: import.map(|i| i.upstream.safe_url()),
        ssh_public_key: import.and_then(|i| i.upstream.ssh_public_key.clone()),
        refs_imported: import.map_or(0, |i| i.refs_imported),
        lfs_objects: import.map_or(0, |i| i.lfs_objects),
    }
}
