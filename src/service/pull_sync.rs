//! Bringing an upstream's refs into a hosted repository, for an import ([`import_refs`]) and
//! for a pull mirror's sync ([`sync_refs`]): the upstream is prepared as a push mirror's remote
//! is (checked again, DNS-pinned, credentials opened for this run only), fetched, and the
//! refs moved as one change of refs recorded exactly as a push ([`PushSession`], so push
//! mirrors, webhooks and the dashboard follow: a pull mirror with push mirrors is a relay).
//!
//! A sync asks the upstream what it has (`ls-remote`), fetches only the refs that differ here,
//! each into a staging namespace (`refs/pushmirror/pull/…`, hidden from git clients and never
//! mirrored), decides per ref (`model::pull`: create, fast-forward, overwrite,
//! delete, or skip a diverged ref and name it), writes the change's intent, then moves every
//! ref in one `update-ref` transaction that checks each ref's old value (a push racing the
//! sync fails it, to be retried, rather than being overwritten). An import fetches straight
//! into an empty repository's branches and tags (pushes wait for it) and records what it
//! brought.
//!
//! Either may be abandoned at any instant (a cancel, a lost lease, `kill -9`): git moves no
//! ref before its pack is complete, and a run again re-plans from the repository as it is.

use std::collections::BTreeMap;
use std::future::Future;

use crate::app::App;
use crate::git::ops::{self, PRIVATE_REFS};
use crate::git::protocol::RefUpdate;
use crate::model::entities::Project;
use crate::model::pull::{decide, plan, Action, Upstream};
use crate::model::refmatch::RefFilter;
use crate::remote::{GitRemote, RemoteFailure};
use crate::storage::LocalRepo;

use super::push_session::{Origin, PushSession, RefChange};
use super::upstreams::remote_for;

/// Refs written at once from which their loose files are packed into `packed-refs` afterwards.
const PACK_REFS_FROM: usize = 1000;

/// The all-zero object id git uses for "no value".
const ZERO: &str = "0000000000000000000000000000000000000000";

/// What one run brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub created: usize,
    pub fast_forwarded: usize,
    pub overwritten: usize,
    pub deleted: usize,
    /// Refs left as they were because both sides moved, full names.
    pub diverged: Vec<String>,
    /// LFS objects brought in.
    pub lfs_objects: usize,
}

impl SyncReport {
    /// Refs the run moved.
    pub fn moved(&self) -> usize {
        self.created + self.fast_forwarded + self.overwritten + self.deleted
    }
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The upstream (or reaching it) failed; the message is scrubbed.
    #[error("{}", .0.message())]
    Remote(RemoteFailure),
    /// The run was canceled.
    #[error("canceled")]
    Canceled,
    /// The repository here failed (git, the database); for the log, not for people.
    #[error("{0}")]
    Local(String),
}

impl PullError {
    /// The text `last_error` and `import_error` show (never a server path).
    pub fn public_message(&self) -> String {
        match self {
            PullError::Remote(f) => f.message().to_owned(),
            PullError::Canceled => "Import canceled".to_owned(),
            PullError::Local(_) => {
                "The repository could not be updated here; the server's log has the cause."
                    .to_owned()
            }
        }
    }
}

impl From<crate::git::GitError> for PullError {
    fn from(e: crate::git::GitError) -> Self {
        PullError::Local(e.to_string())
    }
}

impl From<super::lfs::fetch::LfsFetchError> for PullError {
    fn from(e: super::lfs::fetch::LfsFetchError) -> Self {
        match e {
            super::lfs::fetch::LfsFetchError::Upstream(f) => PullError::Remote(f),
            e @ super::lfs::fetch::LfsFetchError::Local(_) => PullError::Local(e.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for PullError {
    fn from(e: crate::store::StoreError) -> Self {
        PullError::Local(e.to_string())
    }
}

/// What a sync is asked to do.
pub struct SyncSpec<'a> {
    pub project: &'a Project,
    pub repo: &'a LocalRepo,
    pub upstream: &'a Upstream,
    /// The pull mirror's (or import's project) id, for host-key re-pin hints.
    pub owner_id: i64,
    /// Which branches come in (tags always do).
    pub filter: RefFilter,
    /// GitLab's `mirror_overwrites_diverged_branches`.
    pub overwrite_diverged: bool,
}

/// Runs `work` unless `cancel` resolves first (then [`PullError::Canceled`]; dropping `work`
/// kills its git processes).
async fn cancellable<T>(
    work: impl Future<Output = Result<T, PullError>>,
    cancel: impl Future<Output = ()>,
) -> Result<T, PullError> {
    tokio::select! {
        r = work => r,
        () = cancel => Err(PullError::Canceled),
    }
}

async fn prepare(app: &App, spec: &SyncSpec<'_>) -> Result<GitRemote, PullError> {
    remote_for(app, spec.upstream, spec.project.id, spec.owner_id)
        .await
        .map_err(PullError::Remote)
}

/// Fetches the upstream's branches and tags straight into `repo` (an import: the repository is
/// empty, and pushes wait until the import ends), then records what came in as one change of
/// refs. Idempotent: a second run fetches what is missing and records every branch and tag.
pub async fn import_refs(
    app: &App,
    spec: &SyncSpec<'_>,
    cancel: impl Future<Output = ()>,
) -> Result<SyncReport, PullError> {
    let remote = prepare(app, spec).await?;
    let refspecs = [
        "+refs/heads/*:refs/heads/*".to_owned(),
        "+refs/tags/*:refs/tags/*".to_owned(),
        format!("+HEAD:{PRIVATE_REFS}import/HEAD"),
    ];
    cancellable(
        async {
            remote
                .fetch(&app.git, spec.repo, &refspecs, false)
                .await
                .map_err(PullError::Remote)
        },
        cancel,
    )
    .await?;
    let refs = ops::local_refs(&app.git, spec.repo).await?;
    if refs.len() >= PACK_REFS_FROM {
        ops::pack_refs(&app.git, spec.repo).await?;
    }
    let head = ops::refs_under(&app.git, spec.repo, &format!("{PRIVATE_REFS}import/"))
        .await?
        .into_iter()
        .find(|(name, _)| name.ends_with("/HEAD"))
        .map(|(_, oid)| oid);
    if let Some(branch) = default_branch(
        &refs,
        head.as_deref(),
        spec.project.default_branch.as_deref(),
    ) {
        ops::set_head(&app.git, spec.repo, &branch).await?;
    }
    let updates: Vec<RefUpdate> = refs
        .iter()
        .map(|(name, oid)| RefUpdate {
            old: ZERO.to_owned(),
            new: oid.clone(),
            name: name.clone(),
        })
        .collect();
    let report = SyncReport {
        created: updates.len(),
        ..SyncReport::default()
    };
    let change = RefChange {
        origin: Origin::PullMirror,
        pusher: None,
        updates,
    };
    if !change.updates.is_empty() {
        super::push_session::record(app, spec.project.id, &change)
            .await
            .map_err(|e| PullError::Local(e.to_string()))?;
    }
    Ok(report)
}

/// The branch HEAD should name after an import: the upstream's HEAD's branch when one branch
/// holds its commit (the project's configured default preferred among equals), else the
/// project's default, `main` or `master` when present, else the first branch.
fn default_branch(
    refs: &[(String, String)],
    head: Option<&str>,
    configured: Option<&str>,
) -> Option<String> {
    let branches: Vec<(&str, &str)> = refs
        .iter()
        .filter_map(|(n, o)| Some((n.strip_prefix("refs/heads/")?, o.as_str())))
        .collect();
    let preferred = |names: &[&str]| -> Option<String> {
        for want in configured.into_iter().chain(["main", "master"]) {
            if names.contains(&want) {
                return Some(want.to_owned());
            }
        }
        names.first().map(|s| (*s).to_owned())
    };
    if let Some(head) = head {
        let at_head: Vec<&str> = branches
            .iter()
            .filter(|(_, o)| *o == head)
            .map(|(n, _)| *n)
            .collect();
        if let Some(b) = preferred(&at_head) {
            return Some(b);
        }
    }
    let all: Vec<&str> = branches.iter().map(|(n, _)| *n).collect();
    preferred(&all)
}

/// One sync of a pull mirror: fetch into the staging namespace, decide per ref, and move the
/// refs as one recorded change. `before_move` runs once the upstream's objects are here and
/// before any ref moves, with the new tips (the LFS step); its failure moves nothing.
pub async fn sync_refs<F, Fut>(
    app: &App,
    spec: &SyncSpec<'_>,
    cancel: impl Future<Output = ()>,
    before_move: F,
) -> Result<SyncReport, PullError>
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: Future<Output = Result<usize, PullError>>,
{
    let remote = prepare(app, spec).await?;
    let mut cancel = std::pin::pin!(cancel);
    // What the upstream has; then only the refs that differ here are fetched, each into the
    // staging namespace (hidden, never pushed), so a sync where one ref moved fetches one ref.
    let advertised: BTreeMap<String, String> = cancellable(
        async {
            remote
                .ls_remote(&app.git, spec.repo)
                .await
                .map_err(PullError::Remote)
        },
        cancel.as_mut(),
    )
    .await?
    .into_iter()
    .collect();
    let local: BTreeMap<String, String> = ops::local_refs(&app.git, spec.repo)
        .await?
        .into_iter()
        .collect();
    let staging = format!("{PRIVATE_REFS}pull/");
    let staged = |name: &str| format!("{staging}{}", name.trim_start_matches("refs/"));
    let wanted: Vec<String> = plan(&advertised, &local, &spec.filter)
        .into_iter()
        .filter(|c| c.upstream.is_some())
        .map(|c| c.name)
        .collect();
    let mut upstream = advertised;
    let mut fetched: Vec<(String, String)> = Vec::new();
    if !wanted.is_empty() {
        let refspecs: Vec<String> = wanted
            .iter()
            .map(|name| format!("+{name}:{}", staged(name)))
            .collect();
        cancellable(
            async {
                remote
                    .fetch_listed(&app.git, spec.repo, &refspecs)
                    .await
                    .map_err(PullError::Remote)
            },
            cancel.as_mut(),
        )
        .await?;
        // The values fetched are the truth (the upstream may have moved since it advertised).
        let in_staging: BTreeMap<String, String> = ops::refs_under(&app.git, spec.repo, &staging)
            .await?
            .into_iter()
            .collect();
        for name in &wanted {
            if let Some(oid) = in_staging.get(&staged(name)) {
                upstream.insert(name.clone(), oid.clone());
                fetched.push((staged(name), oid.clone()));
            }
        }
    }
    let mut report = SyncReport::default();
    let mut moves: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for c in plan(&upstream, &local, &spec.filter) {
        let fast_forward = match (&c.local, &c.upstream) {
            (Some(old), Some(new)) if c.needs_ancestry() => {
                ops::is_ancestor(&app.git, spec.repo, old, new)
                    .await?
                    .unwrap_or(false)
            }
            _ => false,
        };
        match decide(&c, fast_forward, spec.overwrite_diverged) {
            Action::Create { new } => {
                report.created += 1;
                moves.push((c.name, None, Some(new)));
            }
            Action::FastForward { old, new } => {
                report.fast_forwarded += 1;
                moves.push((c.name, Some(old), Some(new)));
            }
            Action::Overwrite { old, new } => {
                report.overwritten += 1;
                moves.push((c.name, Some(old), Some(new)));
            }
            Action::Delete { old } => {
                report.deleted += 1;
                moves.push((c.name, Some(old), None));
            }
            Action::SkipDiverged => report.diverged.push(c.name),
            Action::Keep => {}
        }
    }
    if moves.is_empty() {
        return Ok(report);
    }
    let tips: Vec<String> = moves.iter().filter_map(|(_, _, new)| new.clone()).collect();
    // The staging refs go with the moves: they kept the new objects alive until now.
    let mut transaction = moves.clone();
    transaction.extend(
        fetched
            .into_iter()
            .map(|(name, oid)| (name, Some(oid), None)),
    );
    report.lfs_objects = before_move(tips).await?;
    let updates: Vec<RefUpdate> = moves
        .iter()
        .map(|(name, old, new)| RefUpdate {
            old: old.clone().unwrap_or_else(|| ZERO.to_owned()),
            new: new.clone().unwrap_or_else(|| ZERO.to_owned()),
            name: name.clone(),
        })
        .collect();
    let session = PushSession::begin_judged(
        app,
        spec.project.id,
        RefChange {
            origin: Origin::PullMirror,
            pusher: None,
            updates,
        },
    )
    .await?;
    match ops::update_refs(&app.git, spec.repo, &transaction).await {
        Ok(true) => {
            if transaction.len() >= PACK_REFS_FROM {
                if let Err(e) = ops::pack_refs(&app.git, spec.repo).await {
                    tracing::warn!(project = spec.project.id, error = %e, "packing refs after a sync failed");
                }
            }
            if let Err(e) = session.finish(app).await {
                // The intent stays; the `record_push` job records the change later.
                tracing::warn!(project = spec.project.id, error = %e, "recording a pull mirror's change failed; its intent will");
            }
            Ok(report)
        }
        Ok(false) => {
            let _ = session.abandon(app).await;
            Err(PullError::Remote(RemoteFailure::Retryable(
                "A push moved a mirrored ref during the sync; it is retried.".to_owned(),
            )))
        }
        Err(e) => {
            let _ = session.abandon(app).await;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(default: Option<&str>) -> Option<&str> {
        default
    }

    fn refs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, o)| (format!("refs/heads/{n}"), o.to_string()))
            .collect()
    }

    #[test]
    fn the_default_branch_follows_the_upstream_head() {
        let r = refs(&[("a", "1"), ("dev", "2"), ("main", "3")]);
        assert_eq!(
            default_branch(&r, Some("2"), project(None)).as_deref(),
            Some("dev")
        );
        // Several branches at HEAD: the configured, then main, then master.
        let r = refs(&[("x", "1"), ("master", "1"), ("main", "1")]);
        assert_eq!(
            default_branch(&r, Some("1"), project(None)).as_deref(),
            Some("main")
        );
        assert_eq!(
            default_branch(&r, Some("1"), project(Some("x"))).as_deref(),
            Some("x")
        );
        // No HEAD known: main, master, the first.
        let r = refs(&[("b", "1"), ("c", "2")]);
        assert_eq!(
            default_branch(&r, None, project(None)).as_deref(),
            Some("b")
        );
        assert_eq!(default_branch(&[], None, project(None)), None);
    }
}
