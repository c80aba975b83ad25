//! The mirror dashboard's use case: every mirror a person may see the status of, across
//! projects, failing ones first, each with how far behind its source it is; the counts at the
//! top; the status filters. The page and its live stream both read through [`mirror_health`],
//! so they always agree. Pull mirrors, beside them, through [`pull_mirror_health`].
//!
//! **Behind** is what the data already holds, for the price of one statement plus one ref-file
//! read per project (never one per mirror, never a git process):
//! - the source's newest commit is its default branch's head, read from the ref files;
//! - what the mirror has is the remote state its last successful update recorded for its
//!   current URL (`mirror_remote_state_refs`, the default branch's row only);
//! - a mirror whose recorded default branch differs from the source's (or with no recorded
//!   state: never updated, or the last update failed part-way) is behind by that commit;
//! - "since" is when its pending update was first asked for (the `mirror_update` job's
//!   creation: later pushes coalesce into it, so it is the oldest change not yet pushed), or,
//!   with nothing pending (the update failed for good, or the mirror is disabled), the
//!   project's last recorded activity;
//! - an update pending for other refs (the default branch is on the mirror) is "changes waiting
//!   since"; a mirror that pushes only some branches is judged by its pending update and status
//!   alone (its remote may never hold the default branch).

use crate::app::App;
use crate::model::entities::{Millis, MirrorSummary, User};
use crate::model::status::UpdateStatus;
use crate::store::DashboardMirror;

use super::auth::today;
use super::error::ServiceError;

/// How far behind its source a mirror is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behind {
    /// The mirror has everything the source has.
    InSync,
    /// The source has changes the mirror lacks: the newest such commit when known (the default
    /// branch's head), and since when.
    Behind {
        commit: Option<String>,
        since: Millis,
    },
    /// Nothing to compare (an empty repository, refs only git can read, a filtered mirror whose
    /// last update did not succeed).
    Unknown,
}

/// One mirror on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorHealth {
    pub project_id: i64,
    /// The project's full path.
    pub project_path: String,
    /// Status, times and error as the API shows them; show the URL only as `safe_url()`.
    pub mirror: MirrorSummary,
    pub behind: Behind,
}

/// The dashboard's status filters (the `status` query parameter's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Failing,
    Retrying,
    Updating,
    UpToDate,
    Never,
    Disabled,
}

impl StatusFilter {
    /// Every filter, in the order the form offers them.
    pub const ALL: [StatusFilter; 6] = [
        StatusFilter::Failing,
        StatusFilter::Retrying,
        StatusFilter::Updating,
        StatusFilter::UpToDate,
        StatusFilter::Never,
        StatusFilter::Disabled,
    ];

    /// The query parameter's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Failing => "failing",
            StatusFilter::Retrying => "retrying",
            StatusFilter::Updating => "updating",
            StatusFilter::UpToDate => "up_to_date",
            StatusFilter::Never => "never",
            StatusFilter::Disabled => "disabled",
        }
    }

    /// How the form names it.
    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::Failing => "Failing",
            StatusFilter::Retrying => "Retrying",
            StatusFilter::Updating => "Updating",
            StatusFilter::UpToDate => "Up to date",
            StatusFilter::Never => "Never updated",
            StatusFilter::Disabled => "Disabled",
        }
    }

    /// The filter a query parameter names (`None`: no filter, or an unknown value).
    pub fn parse(s: &str) -> Option<StatusFilter> {
        StatusFilter::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Whether `m` passes the filter.
    pub fn admits(self, m: &MirrorSummary) -> bool {
        let status = m.update_status;
        match self {
            StatusFilter::Disabled => !m.enabled,
            _ if !m.enabled => false,
            StatusFilter::Failing => is_failing(m),
            StatusFilter::Retrying => status == UpdateStatus::ToRetry,
            StatusFilter::Updating => status == UpdateStatus::Started,
            StatusFilter::UpToDate => status == UpdateStatus::Finished,
            StatusFilter::Never => status == UpdateStatus::None,
        }
    }

    /// Whether pull mirror `m` passes the filter (a paused one counts as failing).
    pub fn admits_pull(self, m: &crate::model::pull::PullMirror) -> bool {
        let status = m.update_status;
        match self {
            StatusFilter::Disabled => !m.settings.enabled,
            _ if !m.settings.enabled => false,
            StatusFilter::Failing => pull_is_failing(m),
            StatusFilter::Retrying => status == UpdateStatus::ToRetry && !m.paused,
            StatusFilter::Updating => status == UpdateStatus::Started,
            StatusFilter::UpToDate => status == UpdateStatus::Finished,
            StatusFilter::Never => status == UpdateStatus::None,
        }
    }
}

/// Where a mirror sorts: failed, then retrying, updating, never updated, up to date; disabled
/// mirrors last whatever their status.
pub fn rank(m: &MirrorSummary) -> u8 {
    if !m.enabled {
        return 5;
    }
    match m.update_status {
        UpdateStatus::Failed => 0,
        UpdateStatus::ToRetry => 1,
        UpdateStatus::Started => 2,
        UpdateStatus::None => 3,
        UpdateStatus::Finished => 4,
    }
}

/// Whether a mirror counts as failing: an enabled mirror whose last attempt failed, for good
/// (`failed`) or with a retry due (`to_retry`) — the same streak webhooks announce as
/// `remote_mirror_failed`.
pub fn is_failing(m: &MirrorSummary) -> bool {
    m.enabled
        && matches!(
            m.update_status,
            UpdateStatus::Failed | UpdateStatus::ToRetry
        )
}

/// The numbers at the top of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub total: usize,
    pub failing: usize,
    pub retrying: usize,
}

impl Counts {
    /// The counts of `mirrors`.
    pub fn of<'a>(mirrors: impl IntoIterator<Item = &'a MirrorHealth>) -> Counts {
        let mut c = Counts::default();
        for m in mirrors {
            c.total += 1;
            c.failing += is_failing(&m.mirror) as usize;
            c.retrying +=
                (m.mirror.enabled && m.mirror.update_status == UpdateStatus::ToRetry) as usize;
        }
        c
    }
}

/// Every mirror `user` may see the status of (an administrator every mirror, anyone else those
/// of projects where they are Developer or more), sorted by [`rank`], then project path, then
/// id; only those of project `project` (a full path) when given.
pub async fn mirror_health(
    app: &App,
    user: &User,
    project: Option<&str>,
) -> Result<Vec<MirrorHealth>, ServiceError> {
    let today = today(app);
    let viewer = crate::store::Viewer {
        user_id: Some(user.id),
        is_admin: user.is_admin,
        today: &today,
    };
    let rows = app.store.dashboard_mirrors(viewer, project).await?;
    let mut out: Vec<MirrorHealth> = rows
        .into_iter()
        .map(|row| MirrorHealth {
            behind: behind(&row, row.default_branch_head.as_deref()),
            project_id: row.project_id,
            project_path: row.project_path,
            mirror: row.mirror,
        })
        .collect();
    // Stable: within a rank, the statement's order (project path, id) stays.
    out.sort_by_key(|m| rank(&m.mirror));
    Ok(out)
}

/// The most pull mirrors the dashboard looks at (newest first).
const MAX_PULL_MIRRORS: i64 = 1000;

/// One pull mirror on the dashboard: its project, and its status as the API shows it (show
/// the upstream only as `upstream.safe_url()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullHealth {
    pub project_id: i64,
    pub project_path: String,
    pub mirror: crate::model::pull::PullMirror,
}

/// Whether an enabled pull mirror needs attention: paused, or failing and retrying.
pub fn pull_is_failing(m: &crate::model::pull::PullMirror) -> bool {
    m.settings.enabled
        && (m.paused
            || matches!(
                m.update_status,
                UpdateStatus::Failed | UpdateStatus::ToRetry
            ))
}

/// Every pull mirror `user` may see the status of, by the rule of [`mirror_health`]
/// (administrators all, anyone else those of projects where they are Developer or more),
/// failing and paused ones first, then by project path; only project `project`'s when given.
pub async fn pull_mirror_health(
    app: &App,
    user: &User,
    project: Option<&str>,
) -> Result<Vec<PullHealth>, ServiceError> {
    let today = today(app);
    let mut out = Vec::new();
    for (mirror, project_path) in app.store.pull_mirrors_overview(MAX_PULL_MIRRORS).await? {
        if project.is_some_and(|p| !p.eq_ignore_ascii_case(&project_path)) {
            continue;
        }
        let visible = user.is_admin
            || app
                .store
                .access_level(mirror.project_id, user.id, &today)
                .await?
                .is_some_and(|l| l >= crate::model::access::AccessLevel::Developer);
        if visible {
            out.push(PullHealth {
                project_id: mirror.project_id,
                project_path,
                mirror,
            });
        }
    }
    out.sort_by(|a, b| {
        (!pull_is_failing(&a.mirror), &a.project_path)
            .cmp(&(!pull_is_failing(&b.mirror), &b.project_path))
    });
    Ok(out)
}

/// How far behind `row` is, given its source's default branch head.
fn behind(row: &DashboardMirror, source_head: Option<&str>) -> Behind {
    let m = &row.mirror;
    let filtered = m.only_protected_branches
        || m.mirror_branch_regex
            .as_deref()
            .is_some_and(|r| !r.is_empty());
    let since = row.update_wanted_since.unwrap_or(row.project_activity_at);
    let Some(head) = source_head else {
        return Behind::Unknown;
    };
    if !filtered && row.remote_head.as_deref() != Some(head) {
        return Behind::Behind {
            commit: Some(head.to_owned()),
            since,
        };
    }
    if let Some(since) = row.update_wanted_since {
        return Behind::Behind {
            commit: None,
            since,
        };
    }
    if !filtered || m.update_status == UpdateStatus::Finished {
        Behind::InSync
    } else {
        Behind::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(status: UpdateStatus, enabled: bool, paused: bool) -> crate::model::pull::PullMirror {
        crate::model::pull::PullMirror {
            id: 1,
            project_id: 1,
            upstream: Default::default(),
            settings: crate::model::pull::PullSettings {
                enabled,
                ..super::super::pull_mirrors::default_settings()
            },
            update_status: status,
            last_update_at: None,
            last_update_started_at: None,
            last_successful_update_at: None,
            last_error: None,
            failures: 0,
            paused,
            diverged_refs: Vec::new(),
            next_sync_at: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn pull_mirrors_pass_the_dashboards_filters() {
        let paused = pull(UpdateStatus::Failed, true, true);
        assert!(pull_is_failing(&paused) && StatusFilter::Failing.admits_pull(&paused));
        let retrying = pull(UpdateStatus::ToRetry, true, false);
        assert!(StatusFilter::Retrying.admits_pull(&retrying));
        assert!(StatusFilter::Failing.admits_pull(&retrying));
        let off = pull(UpdateStatus::Failed, false, true);
        assert!(!pull_is_failing(&off), "a disabled mirror is not failing");
        assert!(StatusFilter::Disabled.admits_pull(&off));
        assert!(!StatusFilter::Failing.admits_pull(&off));
        let fine = pull(UpdateStatus::Finished, true, false);
        assert!(StatusFilter::UpToDate.admits_pull(&fine) && !pull_is_failing(&fine));
        assert!(StatusFilter::Never.admits_pull(&pull(UpdateStatus::None, true, false)));
    }

    fn row(status: UpdateStatus, remote: Option<&str>, wanted: Option<Millis>) -> DashboardMirror {
        DashboardMirror {
            project_id: 1,
            project_path: "g/p".into(),
            mirror: MirrorSummary {
                id: 1,
                url: "https://example.com/x.git".into(),
                has_user: false,
                user_is_git: false,
                has_password: false,
                enabled: true,
                only_protected_branches: false,
                keep_divergent_refs: false,
                lfs_sync: Default::default(),
                mirror_branch_regex: None,
                auth_method: crate::model::entities::AuthMethod::Password,
                ssh_known_hosts: None,
                update_status: status,
                last_update_at: None,
                last_update_started_at: None,
                last_successful_update_at: None,
                last_error: None,
            },
            default_branch: Some("main".into()),
            default_branch_head: None,
            remote_state_known: remote.is_some(),
            remote_head: remote.map(str::to_owned),
            update_wanted_since: wanted,
            project_activity_at: 500,
        }
    }

    #[test]
    fn behind_compares_the_default_branch_with_the_recorded_remote() {
        let head = Some("a".repeat(40));
        let head = head.as_deref();
        let synced = row(UpdateStatus::Finished, head, None);
        assert_eq!(behind(&synced, head), Behind::InSync);
        let stale = row(UpdateStatus::Failed, Some(&"b".repeat(40)), None);
        assert_eq!(
            behind(&stale, head),
            Behind::Behind {
                commit: head.map(str::to_owned),
                since: 500
            }
        );
        let pending = row(UpdateStatus::None, None, Some(100));
        assert_eq!(
            behind(&pending, head),
            Behind::Behind {
                commit: head.map(str::to_owned),
                since: 100
            }
        );
        let other_refs = row(UpdateStatus::Finished, head, Some(100));
        assert_eq!(
            behind(&other_refs, head),
            Behind::Behind {
                commit: None,
                since: 100
            }
        );
        assert_eq!(behind(&synced, None), Behind::Unknown);
        let mut filtered = row(UpdateStatus::Failed, None, None);
        filtered.mirror.only_protected_branches = true;
        assert_eq!(behind(&filtered, head), Behind::Unknown);
    }

    #[test]
    fn failing_mirrors_sort_first_and_disabled_last() {
        let m = |s, enabled| {
            let mut r = row(s, None, None).mirror;
            r.enabled = enabled;
            rank(&r)
        };
        let order = [
            m(UpdateStatus::Failed, true),
            m(UpdateStatus::ToRetry, true),
            m(UpdateStatus::Started, true),
            m(UpdateStatus::None, true),
            m(UpdateStatus::Finished, true),
            m(UpdateStatus::Failed, false),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    #[test]
    fn filters_read_their_own_spelling() {
        for f in StatusFilter::ALL {
            assert_eq!(StatusFilter::parse(f.as_str()), Some(f));
        }
        assert_eq!(StatusFilter::parse("bogus"), None);
        let retrying = row(UpdateStatus::ToRetry, None, None).mirror;
        assert!(
            StatusFilter::Failing.admits(&retrying) && StatusFilter::Retrying.admits(&retrying)
        );
        assert!(is_failing(&retrying), "a retry due is a failure streak too");
        let mut m = row(UpdateStatus::Failed, None, None).mirror;
        assert!(StatusFilter::Failing.admits(&m) && !StatusFilter::Retrying.admits(&m));
        m.enabled = false;
        assert!(!StatusFilter::Failing.admits(&m) && StatusFilter::Disabled.admits(&m));
    }
}
