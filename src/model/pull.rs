//! Bringing refs *in* from another repository: a project's import and its pull mirror as values
//! ([`ProjectImport`], [`PullMirror`], both reaching an [`Upstream`]), the import's status
//! ([`ImportStatus`]), and the per-ref decision of a sync ([`plan`], [`decide`]): which refs the
//! upstream changed, and whether each is created, fast-forwarded, overwritten, deleted or skipped
//! as diverged. Also which pushes a pull mirror refuses ([`mirrors_ref`]) and when failures pause
//! it ([`after_failure`]).
//!
//! Only `refs/heads/*` and `refs/tags/*` are ever brought in: a host's own namespaces
//! (`refs/pull/*`, `refs/merge-requests/*`, `refs/changes/*`, …) never are.

use std::collections::BTreeMap;

use super::entities::{AuthMethod, Millis};
use super::refmatch::RefFilter;
use super::status::UpdateStatus;

/// Where refs come from: a URL (credentials apart, sealed) and how to reach it, as an import or a
/// pull mirror stores it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Upstream {
    /// The URL without any credentials.
    pub url: String,
    pub has_user: bool,
    pub user_is_git: bool,
    pub has_password: bool,
    /// Sealed credentials (user, password, SSH private key); opened only for one run.
    pub credentials: Option<Vec<u8>>,
    pub auth_method: AuthMethod,
    /// The public half of the generated SSH key pair, for an `ssh://` upstream.
    pub ssh_public_key: Option<String>,
    /// The pinned host keys of an `ssh://` upstream, in `known_hosts` form.
    pub ssh_known_hosts: Option<String>,
}

impl Upstream {
    /// The URL with credentials masked as GitLab masks them (`https://*****:*****@host/…`).
    pub fn safe_url(&self) -> String {
        super::entities::safe_mirror_url(
            &self.url,
            self.has_user,
            self.user_is_git,
            self.has_password,
        )
    }
}

/// How far an import got (GitLab's `import_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportStatus {
    /// The project was not imported.
    #[default]
    None,
    Scheduled,
    Started,
    Finished,
    Failed,
    Canceled,
}

impl ImportStatus {
    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::None => "none",
            ImportStatus::Scheduled => "scheduled",
            ImportStatus::Started => "started",
            ImportStatus::Finished => "finished",
            ImportStatus::Failed => "failed",
            ImportStatus::Canceled => "canceled",
        }
    }

    /// Parses the stored spelling; unknown values read as `none`.
    pub fn parse(s: &str) -> ImportStatus {
        match s {
            "scheduled" => ImportStatus::Scheduled,
            "started" => ImportStatus::Started,
            "finished" => ImportStatus::Finished,
            "failed" => ImportStatus::Failed,
            "canceled" => ImportStatus::Canceled,
            _ => ImportStatus::None,
        }
    }

    /// Whether the import still has work to do (a job runs or will).
    pub fn is_running(self) -> bool {
        matches!(self, ImportStatus::Scheduled | ImportStatus::Started)
    }
}

/// A project's import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectImport {
    pub project_id: i64,
    pub upstream: Upstream,
    pub status: ImportStatus,
    /// Why it failed, scrubbed of credentials.
    pub error: Option<String>,
    /// Names the import in logs (GitLab's `correlation_id`).
    pub correlation_id: String,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// Branches and tags it brought in.
    pub refs_imported: i64,
    /// LFS objects it brought in.
    pub lfs_objects: i64,
}

/// A project's pull mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullMirror {
    pub id: i64,
    pub project_id: i64,
    pub upstream: Upstream,
    pub settings: PullSettings,
    pub update_status: UpdateStatus,
    pub last_update_at: Option<Millis>,
    pub last_update_started_at: Option<Millis>,
    pub last_successful_update_at: Option<Millis>,
    pub last_error: Option<String>,
    /// Consecutive failed syncs.
    pub failures: i64,
    /// Paused after too many consecutive failures; `POST` or `enabled=true` resumes it.
    pub paused: bool,
    /// The refs the last sync skipped because they diverged.
    pub diverged_refs: Vec<String>,
    /// When the schedule syncs it next.
    pub next_sync_at: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What a pull mirror's owner decides, besides the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSettings {
    pub enabled: bool,
    pub only_protected_branches: bool,
    /// GitLab's `mirror_overwrites_diverged_branches`: diverged refs are overwritten and refs
    /// the upstream deleted are deleted, so the mirror is exact.
    pub overwrite_diverged: bool,
    pub mirror_branch_regex: Option<String>,
    /// Accepted and stored (GitLab's `mirror_trigger_builds`); pushmirror runs no pipelines.
    pub trigger_builds: bool,
    /// Seconds between scheduled syncs.
    pub interval_secs: i64,
}

/// Seconds between scheduled syncs unless the owner says otherwise (GitLab's 30 minutes).
pub const DEFAULT_INTERVAL_SECS: i64 = 1800;

/// Consecutive failures after which a pull mirror is paused (GitLab's hard failure at 14).
pub const DEFAULT_MAX_FAILURES: i64 = 14;

/// What a failed sync does to the mirror's schedule: when to try again, and whether it is now
/// paused (`update_status` `failed`) or waits to retry (`to_retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterFailure {
    pub failures: i64,
    pub paused: bool,
    pub status: UpdateStatus,
    pub next_sync_at: Millis,
}

/// The outcome of the `failures_before + 1`-th consecutive failure at `now`: retried after
/// `retry_delay_ms` times the streak (doubling from the third), at most the mirror's interval,
/// and paused at `max_failures`.
pub fn after_failure(
    failures_before: i64,
    max_failures: i64,
    retry_delay_ms: i64,
    interval_secs: i64,
    now: Millis,
) -> AfterFailure {
    let failures = failures_before.saturating_add(1);
    let paused = failures >= max_failures.max(1);
    let exponent = (failures - 1).clamp(0, 16) as u32;
    let delay = retry_delay_ms
        .max(1)
        .saturating_mul(1i64 << exponent)
        .min(interval_secs.max(1).saturating_mul(1000));
    AfterFailure {
        failures,
        paused,
        status: if paused {
            UpdateStatus::Failed
        } else {
            UpdateStatus::ToRetry
        },
        next_sync_at: now.saturating_add(delay),
    }
}

/// The ref filter of a pull mirror with `settings`: its regex (judging the upstream's branch
/// names), or the project's protected-branch patterns, or every branch. A stored regex that no
/// longer compiles covers no branch (tags still come).
pub fn filter(settings: &PullSettings, protected_patterns: Vec<String>) -> RefFilter {
    if let Some(re) = &settings.mirror_branch_regex {
        return match super::refmatch::validate_branch_regex(re) {
            Ok(re) => RefFilter::Regex(re),
            Err(_) => RefFilter::Patterns(Vec::new()),
        };
    }
    if settings.only_protected_branches {
        return RefFilter::protected(protected_patterns);
    }
    RefFilter::All
}

/// Whether a push to `full_ref` of a project with an enabled pull mirror filtering by `filter`
/// is refused: the refs the mirror brings in (tags always, branches by `filter`) are its
/// upstream's to move.
pub fn mirrors_ref(filter: &RefFilter, full_ref: &str) -> bool {
    filter.covers(full_ref)
}

/// The message for a push while the project's import runs.
pub const IMPORT_REFUSAL: &str =
    "This project is being imported; push once the import has finished.";

/// GitLab's message for a push to a ref a pull mirror brings in.
pub const PULL_MIRROR_REFUSAL: &str =
    "This ref is updated by a pull mirror; push to its source instead.";

/// A ref that differs between the upstream and the project, among those the mirror brings in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    /// The project's value, when it has the ref.
    pub local: Option<String>,
    /// The upstream's value, when it has the ref.
    pub upstream: Option<String>,
}

impl Candidate {
    /// Whether moving it needs git to say if it is a fast-forward (a branch both sides have).
    pub fn needs_ancestry(&self) -> bool {
        self.local.is_some() && self.upstream.is_some() && self.name.starts_with("refs/heads/")
    }
}

/// The refs that differ between `upstream` and `local` (full name → oid), among those `filter`
/// brings in, in name order.
pub fn plan(
    upstream: &BTreeMap<String, String>,
    local: &BTreeMap<String, String>,
    filter: &RefFilter,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (name, oid) in upstream {
        if !mirrors_ref(filter, name) {
            continue;
        }
        match local.get(name) {
            Some(l) if l == oid => {}
            l => out.push(Candidate {
                name: name.clone(),
                local: l.cloned(),
                upstream: Some(oid.clone()),
            }),
        }
    }
    for (name, oid) in local {
        if mirrors_ref(filter, name) && !upstream.contains_key(name) {
            out.push(Candidate {
                name: name.clone(),
                local: Some(oid.clone()),
                upstream: None,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What a sync does with one [`Candidate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create {
        new: String,
    },
    FastForward {
        old: String,
        new: String,
    },
    /// A diverged ref overwritten (`overwrite_diverged`).
    Overwrite {
        old: String,
        new: String,
    },
    /// Deleted because the upstream deleted it (`overwrite_diverged` only).
    Delete {
        old: String,
    },
    /// Left as it is, and reported by name.
    SkipDiverged,
    /// Left as it is, silently (a ref only the project has, kept as GitLab keeps it).
    Keep,
}

/// Decides `c`; `fast_forward` says whether the upstream's value descends from the local one
/// (asked of git only when [`Candidate::needs_ancestry`]; a tag that moved never is one).
pub fn decide(c: &Candidate, fast_forward: bool, overwrite_diverged: bool) -> Action {
    match (&c.local, &c.upstream) {
        (None, Some(new)) => Action::Create { new: new.clone() },
        (Some(old), None) if overwrite_diverged => Action::Delete { old: old.clone() },
        (Some(_), None) => Action::Keep,
        (Some(old), Some(new)) if fast_forward && c.needs_ancestry() => Action::FastForward {
            old: old.clone(),
            new: new.clone(),
        },
        (Some(old), Some(new)) if overwrite_diverged => Action::Overwrite {
            old: old.clone(),
            new: new.clone(),
        },
        (Some(_), Some(_)) => Action::SkipDiverged,
        (None, None) => Action::Keep,
    }
}

/// The one-line summary of diverged refs that `last_error` carries.
pub fn diverged_error(diverged: &[String]) -> Option<String> {
    const SHOWN: usize = 10;
    if diverged.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = diverged.iter().take(SHOWN).map(|s| short(s)).collect();
    if diverged.len() > SHOWN {
        names.push("…");
    }
    Some(format!(
        "{} diverged ref{} not updated (the upstream and this project both moved; set mirror_overwrites_diverged_branches to overwrite): {}",
        diverged.len(),
        if diverged.len() == 1 { "" } else { "s" },
        names.join(", ")
    ))
}

fn short(full: &str) -> &str {
    full.strip_prefix("refs/heads/")
        .or_else(|| full.strip_prefix("refs/tags/"))
        .unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, o)| (n.to_string(), o.to_string()))
            .collect()
    }

    #[test]
    fn the_plan_lists_only_differing_mirrored_refs() {
        let upstream = refs(&[
            ("refs/heads/main", "b"),
            ("refs/heads/same", "s"),
            ("refs/heads/new", "n"),
            ("refs/tags/v1", "t"),
            ("refs/pull/1/head", "p"),
        ]);
        let local = refs(&[
            ("refs/heads/main", "a"),
            ("refs/heads/same", "s"),
            ("refs/heads/gone", "g"),
        ]);
        let names: Vec<_> = plan(&upstream, &local, &RefFilter::All)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            [
                "refs/heads/gone",
                "refs/heads/main",
                "refs/heads/new",
                "refs/tags/v1"
            ]
        );
    }

    #[test]
    fn a_regex_filter_leaves_other_branches_alone_but_tags_always_come() {
        let upstream = refs(&[
            ("refs/heads/main", "b"),
            ("refs/heads/wip", "w"),
            ("refs/tags/v1", "t"),
        ]);
        let filter = RefFilter::Regex(regex::Regex::new("^main$").unwrap());
        let names: Vec<_> = plan(&upstream, &BTreeMap::new(), &filter)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["refs/heads/main", "refs/tags/v1"]);
        assert!(mirrors_ref(&filter, "refs/heads/main"));
        assert!(!mirrors_ref(&filter, "refs/heads/wip"));
        assert!(mirrors_ref(&filter, "refs/tags/v2"));
        assert!(!mirrors_ref(&filter, "refs/notes/x"));
    }

    #[test]
    fn decisions_follow_gitlab_unless_overwriting() {
        let c = |l: Option<&str>, u: Option<&str>, n: &str| Candidate {
            name: n.into(),
            local: l.map(Into::into),
            upstream: u.map(Into::into),
        };
        let main = "refs/heads/main";
        assert_eq!(
            decide(&c(None, Some("n"), main), false, false),
            Action::Create { new: "n".into() }
        );
        assert_eq!(
            decide(&c(Some("o"), Some("n"), main), true, false),
            Action::FastForward {
                old: "o".into(),
                new: "n".into()
            }
        );
        assert_eq!(
            decide(&c(Some("o"), Some("n"), main), false, false),
            Action::SkipDiverged
        );
        assert_eq!(
            decide(&c(Some("o"), Some("n"), main), false, true),
            Action::Overwrite {
                old: "o".into(),
                new: "n".into()
            }
        );
        // Deleted upstream: kept, unless the mirror is exact.
        assert_eq!(
            decide(&c(Some("o"), None, main), false, false),
            Action::Keep
        );
        assert_eq!(
            decide(&c(Some("o"), None, main), false, true),
            Action::Delete { old: "o".into() }
        );
        // A moved tag is never a fast-forward.
        let tag = c(Some("o"), Some("n"), "refs/tags/v1");
        assert!(!tag.needs_ancestry());
        assert_eq!(decide(&tag, true, false), Action::SkipDiverged);
    }

    #[test]
    fn failures_back_off_up_to_the_interval_and_pause_at_the_limit() {
        let first = after_failure(0, 14, 60_000, 1800, 1_000);
        assert_eq!(first.failures, 1);
        assert_eq!(first.next_sync_at, 61_000);
        assert_eq!(first.status, UpdateStatus::ToRetry);
        assert!(!first.paused);
        let third = after_failure(2, 14, 60_000, 1800, 0);
        assert_eq!(third.next_sync_at, 240_000);
        let late = after_failure(9, 14, 60_000, 1800, 0);
        assert_eq!(late.next_sync_at, 1_800_000);
        let last = after_failure(13, 14, 60_000, 1800, 0);
        assert!(last.paused);
        assert_eq!(last.status, UpdateStatus::Failed);
    }

    #[test]
    fn diverged_refs_are_named_in_one_line() {
        assert_eq!(diverged_error(&[]), None);
        let one = diverged_error(&["refs/heads/main".into()]).unwrap();
        assert!(one.starts_with("1 diverged ref not updated"), "{one}");
        assert!(one.ends_with(": main"), "{one}");
        let many: Vec<String> = (0..12).map(|i| format!("refs/heads/b{i}")).collect();
        let text = diverged_error(&many).unwrap();
        assert!(text.starts_with("12 diverged refs"));
        assert!(text.ends_with(", …"));
    }

    #[test]
    fn import_statuses_read_back_their_spelling() {
        for s in [
            ImportStatus::None,
            ImportStatus::Scheduled,
            ImportStatus::Started,
            ImportStatus::Finished,
            ImportStatus::Failed,
            ImportStatus::Canceled,
        ] {
            assert_eq!(ImportStatus::parse(s.as_str()), s);
        }
        assert!(ImportStatus::Started.is_running());
        assert!(!ImportStatus::Canceled.is_running());
    }
}
