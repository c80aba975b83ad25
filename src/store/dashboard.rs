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

use super::members::level_columns;
use super::mirrors::mirror_job_key_sql;
use super::{Store, StoreError, Viewer};
use crate::model::access::AccessLevel;
use crate::model::entities::{AuthMethod, LfsSync, Millis, MirrorSummary};
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
    /// The commit the default branch pointed at after the last recorded push (`None` when the
    /// branch does not exist or nothing was recorded yet).
    pub default_branch_head: Option<String>,
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

/// The columns of a [`DashboardRow`], in its order, as the inner statement names them.
const COLUMNS: [&str; 24] = [
    "project_id",
    "project_path",
    "default_branch",
    "default_branch_head",
    "last_activity_at",
    "mirror_id",
    "url",
    "has_user",
    "user_is_git",
    "has_password",
    "enabled",
    "only_protected_branches",
    "keep_divergent_refs",
    "mirror_branch_regex",
    "auth_method",
    "lfs_sync",
    "update_status",
    "last_update_at",
    "last_update_started_at",
    "last_successful_update_at",
    "last_error",
    "state_mirror",
    "remote_head",
    "wanted_since",
];

/// The dashboard's rows; `$1` the user (0 for none), `$2` today, `$3` 1 for an
/// administrator, `$4` a project's full path or `''` for every project.
static ROWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select v.project_id, v.project_path, v.default_branch, v.default_branch_head, \
           v.last_activity_at, \
           m.id as mirror_id, m.url, m.has_user, m.user_is_git, m.has_password, \
           m.enabled, m.only_protected_branches, m.keep_divergent_refs, m.mirror_branch_regex, \
           m.auth_method, m.lfs_sync, m.update_status, m.last_update_at, m.last_update_started_at, \
           m.last_successful_update_at, m.last_error, \
           (select s.mirror_id from mirror_remote_states s \
             where s.mirror_id = m.id and s.url = m.url) as state_mirror, \
           (select r.oid from mirror_remote_states s join mirror_remote_state_refs r \
              on r.mirror_id = s.mirror_id \
             where s.mirror_id = m.id and s.url = m.url \
               and r.name = 'refs/heads/' || v.default_branch) as remote_head, \
           (select j.created_at from jobs j where j.dedup_key = {key}) as wanted_since \
         from (select p.id as project_id, n.path || '/' || p.path as project_path, \
                 p.default_branch, p.default_branch_head, p.last_activity_at, {levels} \
               from projects p join namespaces n on n.id = p.namespace_id \
               where $4 = '' or lower(n.path || '/' || p.path) = lower($4)) v \
         join remote_mirrors m on m.project_id = v.project_id \
         where $3 = 1 or coalesce(v.direct_level, 0) >= {dev} \
           or coalesce(v.inherited_level, 0) >= {dev}",
        levels = level_columns("$1", "$2"),
        key = mirror_job_key_sql("m.id"),
        dev = AccessLevel::Developer.as_i64(),
    )
});

/// [`ROWS`] aggregated into one JSON array by the database, per dialect: sqlx's `Any` driver
/// hands every row over separately (on SQLite a thread wake-up per row) and allocates every
/// column's name and value, which for 1,000 mirrors cost most of the page (BENCHMARKS.md,
/// dashboard), as it did for the API's mirror list.
static QUERIES: LazyLock<[String; 2]> = LazyLock::new(|| {
    let pairs: Vec<String> = COLUMNS.iter().map(|c| format!("'{c}', q.{c}")).collect();
    [
        format!(
            "select json_group_array(json_object({})) from ({}) q",
            pairs.join(", "),
            *ROWS
        ),
        format!(
            "select coalesce(json_agg(q), '[]')::text from ({}) q",
            *ROWS
        ),
    ]
});

/// One element of the aggregated array (flags are 0/1 columns).
#[derive(serde::Deserialize)]
struct DashboardRow {
    project_id: i64,
    project_path: String,
    default_branch: Option<String>,
    default_branch_head: Option<String>,
    last_activity_at: Millis,
    mirror_id: i64,
    url: String,
    has_user: i64,
    user_is_git: i64,
    has_password: i64,
    enabled: i64,
    only_protected_branches: i64,
    keep_divergent_refs: i64,
    mirror_branch_regex: Option<String>,
    auth_method: String,
    lfs_sync: String,
    update_status: String,
    last_update_at: Option<Millis>,
    last_update_started_at: Option<Millis>,
    last_successful_update_at: Option<Millis>,
    last_error: Option<String>,
    state_mirror: Option<i64>,
    remote_head: Option<String>,
    wanted_since: Option<Millis>,
}

impl DashboardRow {
    fn into_mirror(self) -> DashboardMirror {
        let mirror = MirrorSummary {
            id: self.mirror_id,
            url: self.url,
            has_user: self.has_user != 0,
            user_is_git: self.user_is_git != 0,
            has_password: self.has_password != 0,
            enabled: self.enabled != 0,
            only_protected_branches: self.only_protected_branches != 0,
            keep_divergent_refs: self.keep_divergent_refs != 0,
            mirror_branch_regex: self.mirror_branch_regex,
            auth_method: AuthMethod::parse(&self.auth_method).unwrap_or(AuthMethod::Password),
            lfs_sync: LfsSync::parse(&self.lfs_sync).unwrap_or_default(),
            ssh_known_hosts: None,
            // Neither is shown on the dashboard, which does not read them.
            sync_interval_secs: 0,
            sync_on_commit: true,
            update_status: UpdateStatus::parse(&self.update_status),
            last_update_at: self.last_update_at,
            last_update_started_at: self.last_update_started_at,
            last_successful_update_at: self.last_successful_update_at,
            last_error: self.last_error,
        };
        DashboardMirror {
            project_id: self.project_id,
            project_path: self.project_path,
            mirror,
            default_branch: self.default_branch,
            default_branch_head: self.default_branch_head,
            remote_state_known: self.state_mirror.is_some(),
            remote_head: self.remote_head,
            update_wanted_since: self.wanted_since,
            project_activity_at: self.last_activity_at,
        }
    }
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
        let json: Option<String> = sqlx::query_scalar(&QUERIES[self.dialect as usize])
            .bind(viewer.user_id.unwrap_or(0))
            .bind(viewer.today)
            .bind(viewer.is_admin as i64)
            .bind(project.unwrap_or(""))
            .fetch_one(&self.pool)
            .await?;
        let rows: Vec<DashboardRow> = serde_json::from_str(json.as_deref().unwrap_or("[]"))
            .map_err(|e| sqlx::Error::Decode(format!("dashboard: {e}").into()))?;
        let mut mirrors: Vec<DashboardMirror> =
            rows.into_iter().map(DashboardRow::into_mirror).collect();
        // Neither aggregate promises an order.
        mirrors.sort_unstable_by(|a, b| {
            (&a.project_path, a.mirror.id).cmp(&(&b.project_path, b.mirror.id))
        });
        Ok(mirrors)
    }
}
