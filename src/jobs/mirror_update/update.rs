//! One mirror update: GitLab's sync algorithm (Gitaly's `UpdateRemoteMirror`) run against a real
//! remote. List local refs; plan against the remote state the last update left (or, without one,
//! against `ls-remote`); answer the plan's ancestry questions with git; push in batches; classify
//! the outcome. Its result is data for the scheduler, which records it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::ExposeSecret;

use super::remote::{prepare, PreparedRemote};
use super::source_digest;
use crate::clock::Clock;
use crate::credentials::MirrorCredentials;
use crate::git::ops::{self, Remote};
use crate::git::{GitError, GitRunner};
use crate::model::entities::RemoteMirror;
use crate::model::plan::{ancestry_questions, plan, PlanInput, RefUpdatePlan};
use crate::model::refmatch::{validate_branch_regex, RefFilter};
use crate::model::url::{scrub, NetworkPolicy};
use crate::secret::Cipher;
use crate::store::Store;

/// Refspecs per `git push`. Gitaly pushes 10 at a time; every push pays a full ref advertisement,
/// so with 100,000 refs that would be 10,000 advertisements. 2,000 keeps argv near 200 KB (far
/// under ARG_MAX) while a first mirror of 100k refs takes 50 pushes.
pub(super) const PUSH_BATCH: usize = 2000;
/// Longest `last_error` kept; git's output past this is noise for a person.
const MAX_ERROR_LEN: usize = 4000;

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
    pub repo: PathBuf,
    pub policy: NetworkPolicy,
}

/// How an update failed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum UpdateFailure {
    /// A retry may fix it (network, authentication, a remote that refused).
    Retryable(String),
    /// Only a person can fix it (diverged refs).
    Final(String),
}

/// Runs one update of `mirror`.
pub(super) async fn run(
    ctx: &UpdateContext<'_>,
    mirror: &RemoteMirror,
) -> Result<(), UpdateFailure> {
    let creds = MirrorCredentials::open(ctx.cipher, mirror.credentials.as_deref())
        .map_err(|e| UpdateFailure::Retryable(e.to_string()))?;
    let prepared = prepare(mirror, creds, ctx.policy, ctx.git)
        .await
        .map_err(UpdateFailure::from)?;
    let result = match sync(ctx, mirror, &prepared).await {
        Err(f) => Err(prepared.explain(f, ctx.git, mirror).await),
        ok => ok,
    };
    if result.is_err() {
        // Part of a push may have landed: the remote state is unknown now.
        if let Err(e) = ctx.store.forget_remote_refs(mirror.id).await {
            tracing::warn!(mirror = mirror.id, error = %e, "could not forget the remote state");
        }
    }
    result.map_err(|f| scrub_failure(f, &prepared))
}

fn scrub_failure(f: UpdateFailure, prepared: &PreparedRemote) -> UpdateFailure {
    let secrets: Vec<&str> = prepared.secrets.iter().map(|s| s.expose_secret()).collect();
    let clean = |m: String| {
        let mut s = scrub(&m, &secrets);
        if s.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
        s
    };
    match f {
        UpdateFailure::Retryable(m) => UpdateFailure::Retryable(clean(m)),
        UpdateFailure::Final(m) => UpdateFailure::Final(clean(m)),
    }
}

fn git_failure(e: GitError) -> UpdateFailure {
    UpdateFailure::Retryable(match e {
        GitError::Failed { stderr, stdout, .. } => {
            // `push --porcelain` reports refused refs on stdout as `!\t<src>:<dst>\t<why>`.
            let rejected: Vec<String> = stdout
                .lines()
                .filter(|l| l.starts_with('!'))
                .map(|l| l.replace('\t', " "))
                .collect();
            let text = [stderr.trim().to_owned(), rejected.join("\n")]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            if text.is_empty() {
                "git failed without a message".to_owned()
            } else {
                text
            }
        }
        other => other.to_string(),
    })
}

async fn filter_for(
    ctx: &UpdateContext<'_>,
    mirror: &RemoteMirror,
    local: &[(String, String)],
) -> Result<RefFilter, UpdateFailure> {
    if let Some(re) = &mirror.mirror_branch_regex {
        let re = validate_branch_regex(re)
            .map_err(|m| UpdateFailure::Final(format!("mirror_branch_regex {m}")))?;
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
            .map_err(|e| UpdateFailure::Retryable(e.to_string()))?;
        return Ok(RefFilter::protected(patterns));
    }
    Ok(RefFilter::All)
}

/// Plans and pushes. With a recorded remote state, tries the lease path first; a remote that
/// moved behind our back makes the lease fail, and the update is redone from `ls-remote`.
async fn sync(
    ctx: &UpdateContext<'_>,
    mirror: &RemoteMirror,
    prepared: &PreparedRemote,
) -> Result<(), UpdateFailure> {
    let local = ops::local_refs(ctx.git, &ctx.repo)
        .await
        .map_err(git_failure)?;
    let head = ops::head_branch(ctx.git, &ctx.repo)
        .await
        .map_err(git_failure)?;
    let default_branch = head.filter(|b| {
        local
            .iter()
            .any(|(n, _)| n.strip_prefix("refs/heads/") == Some(b))
    });
    let filter = filter_for(ctx, mirror, &local).await?;
    let recorded = ctx
        .store
        .remote_refs(mirror.id, &mirror.url)
        .await
        .map_err(|e| UpdateFailure::Retryable(e.to_string()))?
        .filter(|(taken_at, _)| ctx.clock.now_ms() - taken_at < MAX_RECORD_AGE_MS)
        .map(|(_, refs)| refs);
    let target = Target {
        ctx,
        mirror,
        remote: &prepared.remote,
        local: &local,
        default_branch: default_branch.as_deref(),
        filter: &filter,
    };
    if let Some(recorded) = recorded {
        match attempt(&target, recorded, true).await {
            Err(Attempt::StaleLease) => {}
            Err(Attempt::Failed(f)) => return Err(f),
            Ok(()) => return Ok(()),
        }
    }
    let listed = ops::ls_remote(ctx.git, &ctx.repo, &prepared.remote)
        .await
        .map_err(git_failure)?;
    let remote: BTreeMap<String, String> = listed.into_iter().collect();
    match attempt(&target, remote, false).await {
        Ok(()) => Ok(()),
        Err(Attempt::Failed(f)) => Err(f),
        Err(Attempt::StaleLease) => Err(UpdateFailure::Retryable(
            "the remote changed while it was being updated".into(),
        )),
    }
}

enum Attempt {
    StaleLease,
    Failed(UpdateFailure),
}

/// What both attempts of one update plan from and push to.
struct Target<'a> {
    ctx: &'a UpdateContext<'a>,
    mirror: &'a RemoteMirror,
    remote: &'a Remote,
    /// The hosted repository's branches and tags.
    local: &'a [(String, String)],
    default_branch: Option<&'a str>,
    filter: &'a RefFilter,
}

/// Plans against `remote_state` and pushes; `with_leases` pushes each ref only if the remote
/// still holds what `remote_state` says (the recorded-state path).
async fn attempt(
    target: &Target<'_>,
    mut remote_state: BTreeMap<String, String>,
    with_leases: bool,
) -> Result<(), Attempt> {
    let Target {
        ctx,
        mirror,
        remote,
        local,
        default_branch,
        filter,
    } = *target;
    let remote_list: Vec<(String, String)> = remote_state
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let input = PlanInput {
        local,
        remote: &remote_list,
        default_branch,
        keep_divergent_refs: mirror.keep_divergent_refs,
        filter,
    };
    let mut answers = BTreeMap::new();
    for q in ancestry_questions(&input) {
        let a = ops::is_ancestor(ctx.git, &ctx.repo, &q.ancestor, &q.descendant)
            .await
            .map_err(|e| Attempt::Failed(git_failure(e)))?;
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
            Err(e) => return Err(Attempt::Failed(git_failure(e))),
        }
    }
    for u in &planned.updates {
        remote_state.insert(u.name.clone(), u.new.clone());
    }
    for d in &planned.deletes {
        remote_state.remove(&d.name);
    }
    let saved = ctx
        .store
        .save_remote_refs(
            mirror.id,
            &mirror.url,
            &remote_state,
            &source_digest(local),
            ctx.clock.now_ms(),
        )
        .await;
    if let Err(e) = saved {
        tracing::warn!(mirror = mirror.id, error = %e, "could not record the remote state");
        let _ = ctx.store.forget_remote_refs(mirror.id).await;
    }
    match planned.divergent_message() {
        Some(msg) => Err(Attempt::Failed(UpdateFailure::Final(msg))),
        None => Ok(()),
    }
}
