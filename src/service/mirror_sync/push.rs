//! One push-mirror update: GitLab's sync algorithm (Gitaly's `UpdateRemoteMirror`) run against
//! a real remote, reached through `remote`'s [`GitRemote`]. List local refs; plan against the
//! remote state the last update left (or, without one, against `ls-remote`); answer the plan's
//! ancestry questions with git; push in batches; record the remote state the push left,
//! writing only what changed; classify the outcome. Before each push, the mirror's LFS step
//! ([`super::lfs`]) uploads the objects of the refs about to be pushed, and the mirror's
//! `lfs_sync` decides whether a failure there stops the push. Its result is data for
//! [`update_push_mirror`](super::update_push_mirror), which records it.

use crate::storage::LocalRepo;
use std::collections::BTreeMap;

use super::lfs::{LfsStep, StepInput};
use super::remote_state::{self, changes_between, NewState, RemoteStateCache};
use super::source_digest;
use crate::clock::Clock;
use crate::credentials::MirrorCredentials;
use crate::git::ops::{self, Remote};
use crate::git::{GitError, GitRunner};
use crate::lfs_store::LfsObjects;
use crate::metrics::Metrics;
use crate::model::entities::{LfsSync, RemoteMirror};
use crate::model::host_keys::RepinHint;
use crate::model::plan::{ancestry_questions, plan, PlanInput, RefUpdatePlan};
use crate::model::refmatch::{validate_branch_regex, RefFilter};
use crate::model::storage::StorageName;
use crate::model::url::NetworkPolicy;
use crate::remote::{GitRemote, HostLimits, LfsEndpoint, LfsOperation, RemoteFailure, RemoteSpec};
use crate::secret::Cipher;
use crate::store::{RemoteRefChanges, Store};

/// Refspecs per `git push`. Gitaly pushes 10 at a time; every push pays a full ref advertisement,
/// so with 100,000 refs that would be 10,000 advertisements. 2,000 keeps argv near 200 KB (far
/// under ARG_MAX) while a first mirror of 100k refs takes 50 pushes.
const PUSH_BATCH: usize = 2000;

/// How long a recorded remote state is trusted. The lease detects a remote that moved on a ref
/// we push, but not one that moved (or gained a ref) where we push nothing; a full listing at
/// least this often brings those back in line, as GitLab's every-time listing would.
const MAX_RECORD_AGE_MS: i64 = 600_000;

/// What one update needs.
pub(super) struct UpdateContext<'a> {
    pub store: &'a Store,
    pub cipher: &'a Cipher,
    pub git: &'a GitRunner,
    pub clock: &'a dyn Clock,
    pub repo: LocalRepo,
    pub policy: NetworkPolicy,
    /// This node's copies of recorded remote states.
    pub remote_states: &'a RemoteStateCache,
    /// Where the project's LFS objects are read from.
    pub lfs_objects: &'a LfsObjects,
    pub metrics: &'a Metrics,
    pub host_limits: &'a HostLimits,
    /// The project's storage.
    pub storage: StorageName,
}

/// Runs one update of `mirror`; on success, how many remote refs it created, moved or deleted.
/// The failure is scrubbed of the mirror's credentials.
pub(super) async fn run(
    ctx: &UpdateContext<'_>,
    mirror: &RemoteMirror,
) -> Result<usize, RemoteFailure> {
    let credentials = MirrorCredentials::open(ctx.cipher, mirror.credentials.as_deref())
        .map_err(|e| RemoteFailure::Retryable(e.to_string()))?;
    let lfs = lfs_endpoint(ctx, mirror, &credentials).await?;
    let spec = RemoteSpec {
        url: &mirror.url,
        credentials,
        auth_method: mirror.auth_method,
        ssh_public_key: mirror.ssh_public_key.as_deref(),
        ssh_known_hosts: mirror.ssh_known_hosts.as_deref(),
        repin: RepinHint {
            project_id: mirror.project_id,
            mirror_id: mirror.id,
            url: &mirror.url,
        },
    };
    let remote = GitRemote::prepare(spec, ctx.policy, ctx.git).await?;
    let lfs = lfs.map(|(endpoint, full)| lfs_step(ctx, endpoint, full, &remote));
    let result = match sync(ctx, mirror, &remote, lfs.as_ref()).await {
        Err(f) => Err(remote.explain(f, ctx.git).await),
        ok => ok,
    };
    let pushed_past = lfs.and_then(|step| step.pushed_past.into_inner().ok().flatten());
    let result = match (result, pushed_past) {
        (Ok(_), Some(lfs_failure)) => {
            // The retry asks the remote about every object again: the refs it now has reach
            // the ones that did not arrive.
            if let Err(e) = ctx.store.set_lfs_full_check(mirror.id, None).await {
                tracing::warn!(mirror = mirror.id, error = %e, "cannot ask for an LFS full check");
            }
            Err(RemoteFailure::Retryable(format!(
                "{}. The refs were pushed anyway (lfs_sync: best_effort).",
                lfs_failure.trim_end_matches('.')
            )))
        }
        (result, _) => result,
    };
    if result.is_err() {
        // Part of a push may have landed: the remote state is unknown now.
        if let Err(e) = remote_state::forget(ctx.store, ctx.remote_states, mirror.id).await {
            tracing::warn!(mirror = mirror.id, error = %e, "could not forget the remote state");
        }
    }
    result
}

/// How to reach the mirror's LFS endpoint in this update and whether it is a full pass;
/// `None` when it sends no LFS request (`lfs_sync` off, the project's LFS off, a `git://`
/// remote).
async fn lfs_endpoint(
    ctx: &UpdateContext<'_>,
    mirror: &RemoteMirror,
    credentials: &MirrorCredentials,
) -> Result<Option<(LfsEndpoint, bool)>, RemoteFailure> {
    if mirror.lfs_sync == LfsSync::Off {
        return Ok(None);
    }
    let state = ctx
        .store
        .mirror_lfs_state(mirror.id)
        .await
        .map_err(|e| RemoteFailure::Retryable(e.to_string()))?;
    let Some(state) = state.filter(|s| s.lfs_enabled) else {
        return Ok(None);
    };
    let full = state.full_check_at.is_none();
    Ok(
        LfsEndpoint::for_url(&mirror.url, credentials, ctx.policy, ctx.git.timeout())
            .map(|endpoint| (endpoint, full)),
    )
}

/// The LFS step of an update to `git_remote`: an ssh remote is asked for its endpoint with
/// `git-lfs-authenticate`, as git-lfs does, when the step first needs it.
fn lfs_step<'a>(
    ctx: &'a UpdateContext<'a>,
    endpoint: LfsEndpoint,
    full: bool,
    git_remote: &'a GitRemote,
) -> LfsStep<'a> {
    let connect = Box::pin(endpoint.connect(Some(git_remote), ctx.git, LfsOperation::Upload));
    LfsStep::new(
        connect,
        ctx.lfs_objects,
        ctx.metrics,
        ctx.host_limits,
        ctx.storage.clone(),
        full,
    )
}

async fn filter_for(
    ctx: &UpdateContext<'_>,
    mirror: &RemoteMirror,
    local: &[(String, String)],
) -> Result<RefFilter, RemoteFailure> {
    if let Some(re) = &mirror.mirror_branch_regex {
        let re = validate_branch_regex(re)
            .map_err(|m| RemoteFailure::Final(format!("mirror_branch_regex {m}")))?;
        let branches = local
            .iter()
            .filter_map(|(n, _)| n.strip_prefix("refs/heads/"));
        return Ok(RefFilter::gitlab_branch_regex(&re, branches));
    }
    if mirror.only_protected_branches {
        let patterns = ctx
            .store
            .protected_branch_names(mirror.project_id)
            .await
            .map_err(|e| RemoteFailure::Retryable(e.to_string()))?;
        return Ok(RefFilter::protected(patterns));
    }
    Ok(RefFilter::All)
}

/// Plans and pushes. With a recent recorded remote state, tries the lease path first; a remote
/// that moved behind our back makes the lease fail, and the update is redone from `ls-remote`.
async fn sync(
    ctx: &UpdateContext<'_>,
    mirror: &RemoteMirror,
    prepared: &GitRemote,
    lfs: Option<&LfsStep<'_>>,
) -> Result<usize, RemoteFailure> {
    let local = ops::local_refs(ctx.git, &ctx.repo)
        .await
        .map_err(RemoteFailure::from_git)?;
    let head = ops::head_branch(ctx.git, &ctx.repo)
        .await
        .map_err(RemoteFailure::from_git)?;
    let default_branch = head.filter(|b| {
        local
            .iter()
            .any(|(n, _)| n.strip_prefix("refs/heads/") == Some(b))
    });
    let filter = filter_for(ctx, mirror, &local).await?;
    let mut recorded = remote_state::load(ctx.store, ctx.remote_states, mirror.id, &mirror.url)
        .await
        .map_err(|e| RemoteFailure::Retryable(e.to_string()))?;
    let target = Target {
        ctx,
        mirror,
        remote: prepared.remote(),
        local: &local,
        default_branch: default_branch.as_deref(),
        filter: &filter,
        lfs,
    };
    let now = ctx.clock.now_ms();
    if let Some(fresh) = recorded.take_if(|r| now - r.taken_at < MAX_RECORD_AGE_MS) {
        match attempt(&target, &fresh.refs, true).await {
            Err(Attempt::StaleLease) => recorded = Some(fresh),
            Err(Attempt::Failed(f)) => return Err(f),
            // Nothing to push: the remote was not contacted. A sync always reaches the remote
            // (a rotated credential is tried, a remote that drifted is seen), so list it.
            Ok(planned) if planned.is_empty() => recorded = Some(fresh),
            Ok(planned) => {
                let base = Some(fresh.generation);
                finish(&target, base, RemoteRefChanges::new(), fresh.refs, &planned).await?;
                return Ok(refs_changed(&planned));
            }
        }
    }
    let mut listed = ops::ls_remote(ctx.git, &ctx.repo, prepared.remote())
        .await
        .map_err(RemoteFailure::from_git)?;
    listed.sort_unstable();
    listed.dedup_by(|a, b| a.0 == b.0);
    let planned = match attempt(&target, &listed, false).await {
        Ok(planned) => planned,
        Err(Attempt::Failed(f)) => return Err(f),
        Err(Attempt::StaleLease) => {
            return Err(RemoteFailure::Retryable(
                "the remote changed while it was being updated".into(),
            ))
        }
    };
    // What the listing shows beyond the recorded state (all of it when none is recorded) is
    // written along with the push's own changes.
    let (base, drift) = match recorded {
        Some(r) => (Some(r.generation), changes_between(&r.refs, &listed)),
        None => (None, changes_between(&[], &listed)),
    };
    finish(&target, base, drift, listed, &planned).await?;
    Ok(refs_changed(&planned))
}

/// How many remote refs a pushed plan creates, moves or deletes.
fn refs_changed(planned: &RefUpdatePlan) -> usize {
    planned.updates.len() + planned.deletes.len()
}

enum Attempt {
    StaleLease,
    Failed(RemoteFailure),
}

/// What both attempts of one update plan from and push to.
struct Target<'a, 's> {
    ctx: &'a UpdateContext<'a>,
    mirror: &'a RemoteMirror,
    remote: &'a Remote,
    /// The hosted repository's branches and tags.
    local: &'a [(String, String)],
    default_branch: Option<&'a str>,
    filter: &'a RefFilter,
    /// The LFS step run before each push, if the mirror sends LFS objects.
    lfs: Option<&'a LfsStep<'s>>,
}

/// Plans against `remote_state` (sorted by name) and pushes; `with_leases` pushes each ref only
/// if the remote still holds what `remote_state` says (the recorded-state path).
async fn attempt(
    target: &Target<'_, '_>,
    remote_state: &[(String, String)],
    with_leases: bool,
) -> Result<RefUpdatePlan, Attempt> {
    let Target {
        ctx,
        mirror,
        remote,
        local,
        default_branch,
        filter,
        lfs,
    } = *target;
    let input = PlanInput {
        local,
        remote: remote_state,
        default_branch,
        keep_divergent_refs: mirror.keep_divergent_refs,
        filter,
    };
    let mut answers = BTreeMap::new();
    for q in ancestry_questions(&input) {
        let a = ops::is_ancestor(ctx.git, &ctx.repo, &q.ancestor, &q.descendant)
            .await
            .map_err(|e| Attempt::Failed(RemoteFailure::from_git(e)))?;
        answers.insert((q.ancestor, q.descendant), a);
    }
    let planned: RefUpdatePlan = plan(&input, &|a: &str, d: &str| {
        answers
            .get(&(a.to_owned(), d.to_owned()))
            .copied()
            .flatten()
    });
    let expected: BTreeMap<&str, &str> = planned
        .updates
        .iter()
        .map(|u| (u.name.as_str(), u.old_remote.as_deref().unwrap_or("")))
        .chain(
            planned
                .deletes
                .iter()
                .map(|d| (d.name.as_str(), d.old_remote.as_str())),
        )
        .collect();
    if let Some(step) = lfs {
        lfs_before_push(ctx, mirror, step, local, filter, remote_state, &planned).await?;
    }
    // Under a lease every ref is named (with its expected value), so patterns are for the
    // listed path only, where they turn a quadratic push into a linear one.
    let batches = match (!with_leases)
        .then(|| planned.as_patterns(&input))
        .flatten()
    {
        Some((explicit, patterns)) => explicit
            .chunks(PUSH_BATCH)
            .map(<[String]>::to_vec)
            .chain(std::iter::once(patterns))
            .collect(),
        None => planned.refspecs(PUSH_BATCH),
    };
    for batch in batches {
        let leases: Vec<(String, String)> = if with_leases {
            batch
                .iter()
                .filter_map(|spec| spec.rsplit_once(':').map(|(_, dst)| dst))
                .map(|dst| {
                    (
                        dst.to_owned(),
                        expected.get(dst).copied().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        match ops::push(ctx.git, &ctx.repo, remote, &batch, planned.force, &leases).await {
            Ok(_) => {}
            Err(GitError::Failed { stdout, .. })
                if with_leases
                    && (stdout.contains("stale info") || stdout.contains("fetch first")) =>
            {
                return Err(Attempt::StaleLease)
            }
            Err(e) => return Err(Attempt::Failed(RemoteFailure::from_git(e))),
        }
    }
    Ok(planned)
}

/// Runs the LFS step for the refs `planned` pushes (every mirrored ref in a full pass); a
/// failure stops the push unless the mirror's `lfs_sync` is `best_effort`, where it is kept for
/// the end of the update.
async fn lfs_before_push(
    ctx: &UpdateContext<'_>,
    mirror: &RemoteMirror,
    step: &LfsStep<'_>,
    local: &[(String, String)],
    filter: &RefFilter,
    remote_state: &[(String, String)],
    planned: &RefUpdatePlan,
) -> Result<(), Attempt> {
    let full = step.full.load(std::sync::atomic::Ordering::Relaxed);
    let tips: Vec<String> = if full {
        local
            .iter()
            .filter(|(name, _)| filter.covers(name))
            .map(|(_, oid)| oid.clone())
            .collect()
    } else {
        planned.updates.iter().map(|u| u.new.clone()).collect()
    };
    if tips.is_empty() {
        return Ok(());
    }
    let input = StepInput {
        store: ctx.store,
        git: ctx.git,
        repo: &ctx.repo,
        mirror_id: mirror.id,
        tips,
        remote_heads: remote_state.iter().map(|(_, oid)| oid.clone()).collect(),
        now: ctx.clock.now_ms(),
    };
    match step.run(input).await {
        Ok(()) => Ok(()),
        Err(failure) if mirror.lfs_sync == LfsSync::BestEffort => {
            tracing::info!(mirror = mirror.id, error = %failure, "LFS failed; pushing the refs anyway (best_effort)");
            *step.pushed_past.lock().expect("never poisoned") = Some(failure);
            Ok(())
        }
        Err(failure) => Err(Attempt::Failed(RemoteFailure::Retryable(format!(
            "{}. The refs were not pushed (lfs_sync: required).",
            failure.trim_end_matches('.')
        )))),
    }
}

/// After a push of `planned` to a remote that held `planned_from`: records the state it left
/// (the recorded generation `base` with `changes` and the push's own changes written), and
/// reports divergence, which fails the update.
async fn finish(
    target: &Target<'_, '_>,
    base: Option<i64>,
    mut changes: RemoteRefChanges,
    planned_from: Vec<(String, String)>,
    planned: &RefUpdatePlan,
) -> Result<(), RemoteFailure> {
    let Target {
        ctx, mirror, local, ..
    } = *target;
    if let Some(msg) = planned.divergent_message() {
        // A failed update forgets the remote state (`run`): there is nothing to record.
        return Err(RemoteFailure::Final(msg));
    }
    for u in &planned.updates {
        changes.insert(u.name.clone(), Some(u.new.clone()));
    }
    for d in &planned.deletes {
        changes.insert(d.name.clone(), None);
    }
    let state = NewState {
        base,
        changes: &changes,
        refs: planned.applied_to(planned_from),
        source_digest: &source_digest(local),
    };
    let now = ctx.clock.now_ms();
    let saved = remote_state::save(
        ctx.store,
        ctx.remote_states,
        mirror.id,
        &mirror.url,
        state,
        now,
    )
    .await;
    let why = match saved {
        Ok(true) => return Ok(()),
        Ok(false) => "the recorded remote state changed during the update".to_owned(),
        Err(e) => e.to_string(),
    };
    tracing::warn!(mirror = mirror.id, error = %why, "could not record the remote state");
    let _ = remote_state::forget(ctx.store, ctx.remote_states, mirror.id).await;
    Ok(())
}
