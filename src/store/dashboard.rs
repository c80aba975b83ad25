//! The mirror dashboard's one read: every mirror a person may see the status of, across
//! projects, with what its "behind" needs, in one statement whatever the number of mirrors (the
//! page and every poll of its live stream run it).
//!
//! Who sees a mirror is the rule the rest of the server applies to mirror status: an
//! administrator sees every mirror; anyone else the mirrors of projects where their effective
//! level (the highest of the project's own membership and those of the groups above, not
//! expired, from [`super::members::level_columns`]) is Developer or more.
//!
//! Invariant: no credential leaves this module: `remote_mirrors.url` holds no userinfo and the
//! sealed `credentials` column is not read.

use std::sync::LazyLock;

use sqlx::Row;

use super::members::level_columns;
use super::mirrors::mirror_job_key_sql;
use super::{Store, StoreError, Viewer};
use crate::model::access::AccessLevel;
use crate::model::entities::{AuthMethod, Millis, MirrorSummary};
use crate::model::status::UpdateStatus;

/// One mirror as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardMirror {
    pub project_id: i64,
    /// The project's full path (`group/sub/app`).
    pub project_path: String,
    /// The mirror as the API shows it (its URL without credentials; mask it with `safe_url`).
    pub mirror: MirrorSummary,
    /// The project's default branch (`None` for an empty repository).
    pub default_branch: Option<String>,
    /// Whether the last successful update to the mirror's current URL recorded the remote's
    /// refs (a failed update forgets them: the remote's state is then unknown).
    pub remote_state_known: bool,
    /// The commit the recorded remote state has for the default branch.
    pub remote_head: Option<String>,
    /// When the mirror's pending update was first asked for (a push, "Update now"), while one
    /// is pending: later requests coalesce into it, so this is the oldest change not yet pushed.
    pub update_wanted_since: Option<Millis>,
    /// The project's last activity (its last recorded push or change).
    pub project_activity_at: Millis,
}

/// The dashboard's statement; `$1` the user (0 for none), `$2` today, `$3` 1 for an
/// administrator, `$4` a project's full path or `''` for every project.
static QUERY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select v.*, m.id as mirror_id, m.url, m.has_user, m.user_is_git, m.has_password, \
           m.enabled, m.only_protected_branches, m.keep_divergent_refs, m.mirror_branch_regex, \
           m.auth_method, m.update_status, m.last_update_at, m.last_update_started_at, \
           m.last_successful_update_at, m.last_error, \
           s.mirror_id as state_mirror, r.oid as remote_head, j.created_at as wanted_since \
         from (select p.id as project_id, n.path || '/' || p.path as project_path, \
                 p.default_branch, p.last_activity_at, {levels} \
               from projects p join namespaces n on n.id = p.namespace_id \
               where $4 = '' or lower(n.path || '/' || p.path) = lower($4)) v \
         join remote_mirrors m on m.project_id = v.project_id \
         left join mirror_remote_states s on s.mirror_id = m.id and s.url = m.url \
         left join mirror_remote_state_refs r on r.mirror_id = s.mirror_id \
           and r.name = 'refs/heads/' || v.default_branch \
         left join jobs j on j.dedup_key = {key} \
         where $3 = 1 or coalesce(v.direct_level, 0) >= {dev} \
           or coalesce(v.inherited_level, 0) >= {dev} \
         order by v.project_path, m.id",
        levels = level_columns("$1", "$2"),
        key = mirror_job_key_sql("m.id"),
        dev = AccessLevel::Developer.as_i64(),
    )
});

fn from_row(r: &sqlx::any::AnyRow) -> Result<DashboardMirror, sqlx::Error> {
    let b = |name: &str| -> Result<bool, sqlx::Error> { Ok(r.try_get::<i64, _>(name)? != 0) };
    let status: String = r.try_get("update_status")?;
    let auth: String = r.try_get("auth_method")?;
    let state: Option<i64> = r.try_get("state_mirror")?;
    let mirror = MirrorSummary {
        id: r.try_get("mirror_id")?,
        url: r.try_get("url")?,
        has_user: b("has_user")?,
        user_is_git: b("user_is_git")?,
        has_password: b("has_password")?,
        enabled: b("enabled")?,
        only_protected_branches: b("only_protected_branches")?,
        keep_divergent_refs: b("keep_divergent_refs")?,
        mirror_branch_regex: r.try_get("mirror_branch_regex")?,
        auth_method: AuthMethod::parse(&auth).unwrap_or(AuthMethod::Password),
        ssh_known_hosts: None,
        update_status: UpdateStatus::parse(&status),
        last_update_at: r.try_get("last_update_at")?,
        last_update_started_at: r.try_get("last_update_started_at")?,
        last_successful_update_at: r.try_get("last_successful_update_at")?,
        last_error: r.try_get("last_error")?,
    };
    Ok(DashboardMirror {
        project_id: r.try_get("project_id")?,
        project_path: r.try_get("project_path")?,
        mirror,
        default_branch: r.try_get("default_branch")?,
        remote_state_known: state.is_some(),
        remote_head: r.try_get("remote_head")?,
        update_wanted_since: r.try_get("wanted_since")?,
        project_activity_at: r.try_get("last_activity_at")?,
    })
}

impl Store {
    /// Every mirror `viewer` may see the status of, by project path then id; only those of the
    /// project whose full path is `project` (any case) when given.
    pub async fn dashboard_mirrors(
        &self,
        viewer: Viewer<'_>,
        project: Option<&str>,
    ) -> Result<Vec<DashboardMirror>, StoreError> {
        if viewer.user_id.is_none() && !viewer.is_admin {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&QUERY)
            .bind(viewer.user_id.unwrap_or(0))
            .bind(viewer.today)
            .bind(viewer.is_admin as i64)
            .bind(project.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }
}
