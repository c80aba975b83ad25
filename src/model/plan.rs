//! The ref-update plan of one mirror sync: which refs to create, move and delete on the remote,
//! and which have diverged, following Gitaly's `UpdateRemoteMirror` rules exactly. This module
//! owns the decision only. It does no I/O and never runs git: the ancestry checks the rules need
//! are asked as [`AncestryQuestion`]s and answered by the caller, so the git work can be batched.
//!
//! Every sync is two pure steps: [`ancestry_questions`] lists what git must answer, then [`plan`]
//! turns the answers into a [`RefUpdatePlan`]. [`changed_ancestry_questions`] and [`plan_changed`]
//! do the same for only the refs changed since the last successful sync, at a cost independent
//! of the repository's size.
//!
//! **Invariant:** both entry points classify each ref with the same private rule, so the full
//! and incremental plans cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

use super::refmatch::RefFilter;

/// Refspecs per `git push`. Gitaly's `pushBatchSize`: a mirror of a huge repository pushes in
/// bounded steps, so one failing batch leaves the earlier batches pushed and the command lines
/// short.
pub const PUSH_BATCH_SIZE: usize = 10;

/// Most divergent refs a plan reports. Gitaly's `maxDivergentRefs`: the list becomes the
/// mirror's `last_error`, which must stay readable when thousands of refs have diverged.
pub const MAX_DIVERGENT_REFS: usize = 100;

/// Start of the error recorded when refs have diverged, followed by one full ref name per line.
pub const DIVERGENT_REFS_MESSAGE: &str =
    "Some refs have diverged and have not been updated on the remote:\n\n";

/// A question only git can answer: is commit `ancestor` an ancestor of (or equal to) commit
/// `descendant`, as `git merge-base --is-ancestor` decides? Both are object ids in hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AncestryQuestion {
    /// The remote's object id: the one that may already be contained.
    pub ancestor: String,
    /// The local object id that may contain it.
    pub descendant: String,
}

/// Everything a full plan reads: both sides' refs and the mirror's settings.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// Local refs as `(full name, object id)`. Only `refs/heads/*` and `refs/tags/*` are read;
    /// when a name repeats, the last entry wins.
    pub local: &'a [(String, String)],
    /// The remote's refs as listed by `ls-remote`, in the same shape and with the same rules.
    pub remote: &'a [(String, String)],
    /// The local default branch as a short name (`main`), or `None` when `HEAD` names no branch.
    /// Deletions only happen when this branch exists in `local`.
    pub default_branch: Option<&'a str>,
    /// The mirror's `keep_divergent_refs`: no force, no deletions, diverged refs reported.
    pub keep_divergent_refs: bool,
    /// Which refs the mirror pushes and deletes.
    pub filter: &'a RefFilter,
}

/// The local default branch, known to exist, with the commit it points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultBranch<'a> {
    /// Short branch name, such as `main`.
    pub name: &'a str,
    /// The object id `refs/heads/<name>` points at now.
    pub oid: &'a str,
}

/// What an incremental plan reads: only the local refs changed since the last successful sync
/// and the remote state that sync left behind.
#[derive(Debug, Clone, Copy)]
pub struct ChangedRefsInput<'a> {
    /// Local refs changed since the last successful sync: full name to the new object id, or to
    /// `None` when the ref was deleted locally. Names outside `refs/heads/` and `refs/tags/` are
    /// ignored.
    pub changed: &'a BTreeMap<String, Option<String>>,
    /// The remote's refs as the last successful sync left them, trusted to be the remote's
    /// current state. The caller pushes with `--force-with-lease=<ref>:<old_remote>` so a remote
    /// that drifted is detected, and then falls back to a full [`plan`].
    pub last_remote: &'a BTreeMap<String, String>,
    /// The local default branch if it exists now; it must agree with `changed` when the default
    /// branch is among the changed refs.
    pub default_branch: Option<DefaultBranch<'a>>,
    /// The mirror's `keep_divergent_refs`, as in [`PlanInput`].
    pub keep_divergent_refs: bool,
    /// Which refs the mirror pushes and deletes.
    pub filter: &'a RefFilter,
}

/// A ref to create or move on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// Full ref name, the same on both sides.
    pub name: String,
    /// What the remote had (`None`: the ref is created), the expected value for a lease.
    pub old_remote: Option<String>,
    /// The local object id to push.
    pub new: String,
}

/// A ref to delete on the remote because it is gone locally and was merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefDelete {
    /// Full ref name.
    pub name: String,
    /// What the remote had, the expected value for a lease.
    pub old_remote: String,
}

/// Fewest updates for which [`RefUpdatePlan::as_patterns`] replaces explicit refspecs: below
/// this the quadratic matching costs a few milliseconds at most, and explicit refspecs keep
/// every ref pinned to its planned commit.
pub const PATTERN_PUSH_MIN: usize = 1000;

/// What one sync must do to the remote, in a deterministic order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefUpdatePlan {
    /// Creates and moves, sorted by name, except that the default branch comes first.
    pub updates: Vec<RefUpdate>,
    /// Deletions, sorted by name.
    pub deletes: Vec<RefDelete>,
    /// Covered refs left alone because the remote diverged (only with `keep_divergent_refs`),
    /// sorted by full name and capped at [`MAX_DIVERGENT_REFS`].
    pub divergent: Vec<String>,
    /// Whether to push with `--force` (`!keep_divergent_refs`), as Gitaly does.
    pub force: bool,
    /// Whether `updates[0]` is the local default branch, which must be pushed first because
    /// features of the remote depend on it and an empty mirror gets its `HEAD` from it.
    pub default_branch_first: bool,
}

impl RefUpdatePlan {
    /// Whether there is nothing to push. Divergent refs are not pushes: check
    /// [`RefUpdatePlan::divergent_message`] separately, since they still fail the update.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.deletes.is_empty()
    }

    /// The refspecs to push, in batches of at most `batch_size` (a zero size counts as one).
    ///
    /// Updates are `<new oid>:<ref>`, pinned to the planned commit so the push does exactly what
    /// was planned even if a local ref moves meanwhile; deletions are `:<ref>`. Force is not in
    /// the refspecs: pass `--force` when [`RefUpdatePlan::force`] is set, as Gitaly does.
    ///
    /// Order: the default branch update first, then deletions, then the other updates. Gitaly's
    /// order is otherwise random; deleting first lets `refs/heads/a/b` replace a merged
    /// `refs/heads/a` (a directory/file conflict) even when the two fall in different batches,
    /// and every deleted ref is already reachable from the default branch pushed before it.
    pub fn refspecs(&self, batch_size: usize) -> Vec<Vec<String>> {
        let (first, rest) = if self.default_branch_first {
            self.updates.split_at(1)
        } else {
            self.updates.split_at(0)
        };
        let update = |u: &RefUpdate| format!("{}:{}", u.new, u.name);
        let all: Vec<String> = first
            .iter()
            .map(update)
            .chain(self.deletes.iter().map(|d| format!(":{}", d.name)))
            .chain(rest.iter().map(update))
            .collect();
        all.chunks(batch_size.max(1))
            .map(<[String]>::to_vec)
            .collect()
    }

    /// The same push as [`RefUpdatePlan::refspecs`], expressed with the pattern refspecs
    /// `refs/heads/*:refs/heads/*` and `refs/tags/*:refs/tags/*` for the bulk of it, when that is
    /// both equivalent and worth it. Returns the explicit refspecs to push first (the default
    /// branch, then the deletions) and the two patterns to push after them.
    ///
    /// Why: git matches every explicit refspec against every local ref (`count_refspec_match`,
    /// six `snprintf`s per pair), so pushing n refs of a repository holding n refs costs n²
    /// whatever the batch size (hours for 100,000 refs); a pattern is matched once per ref.
    ///
    /// Equivalent only when the plan updates every branch and tag whose value differs between
    /// `input.local` and `input.remote` (no filter or divergence left one out), since a pattern
    /// pushes every difference; `None` otherwise, or below [`PATTERN_PUSH_MIN`] updates. Unlike
    /// explicit refspecs a pattern pushes the local value at push time, not the planned one: a
    /// ref that moves during the push is pushed newer, and the recorded remote state is then
    /// stale for that ref, which the next update's lease detects (it falls back to `ls-remote`).
    pub fn as_patterns(&self, input: &PlanInput<'_>) -> Option<(Vec<String>, Vec<String>)> {
        if self.updates.len() < PATTERN_PUSH_MIN {
            return None;
        }
        let remote: std::collections::HashMap<&str, &str> = input
            .remote
            .iter()
            .map(|(n, o)| (n.as_str(), o.as_str()))
            .collect();
        let differing = input
            .local
            .iter()
            .filter(|(n, _)| n.starts_with("refs/heads/") || n.starts_with("refs/tags/"))
            .filter(|(n, o)| remote.get(n.as_str()) != Some(&o.as_str()))
            .count();
        if differing != self.updates.len() {
            return None;
        }
        let first = if self.default_branch_first {
            &self.updates[..1]
        } else {
            &[]
        };
        let explicit = first
            .iter()
            .map(|u| format!("{}:{}", u.new, u.name))
            .chain(self.deletes.iter().map(|d| format!(":{}", d.name)))
            .collect();
        let patterns = ["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]
            .map(str::to_owned)
            .to_vec();
        Some((explicit, patterns))
    }

    /// The remote's refs once this plan is pushed to a remote that held `remote`. Both lists
    /// are `(full name, oid)` sorted by name with each name once. Linear in `remote`'s length,
    /// whose entries are moved, not copied.
    pub fn applied_to(&self, remote: Vec<(String, String)>) -> Vec<(String, String)> {
        let changes: BTreeMap<&str, Option<&str>> = self
            .updates
            .iter()
            .map(|u| (u.name.as_str(), Some(u.new.as_str())))
            .chain(self.deletes.iter().map(|d| (d.name.as_str(), None)))
            .collect();
        let mut out = Vec::with_capacity(remote.len() + self.updates.len());
        let mut pending = changes.into_iter().peekable();
        let owned = |(name, oid): (&str, &str)| (name.to_owned(), oid.to_owned());
        for (name, oid) in remote {
            while let Some((changed, new)) = pending.next_if(|(n, _)| *n < name.as_str()) {
                out.extend(new.map(|new| owned((changed, new))));
            }
            match pending.next_if(|(n, _)| *n == name.as_str()) {
                Some((_, new)) => out.extend(new.map(|new| (name, new.to_owned()))),
                None => out.push((name, oid)),
            }
        }
        out.extend(pending.filter_map(|(name, new)| Some(owned((name, new?)))));
        out
    }

    /// The error GitLab records when refs have diverged, or `None` when none has.
    pub fn divergent_message(&self) -> Option<String> {
        if self.divergent.is_empty() {
            None
        } else {
            Some(format!(
                "{DIVERGENT_REFS_MESSAGE}{}",
                self.divergent.join("\n")
            ))
        }
    }
}

/// The ancestry questions [`plan`] will ask for `input`, deduplicated and sorted. None is asked
/// for a ref the filter excludes or whose two sides are equal.
pub fn ancestry_questions(input: &PlanInput<'_>) -> Vec<AncestryQuestion> {
    let (rules, pairs) = full_pairs(input);
    questions(&rules, &pairs)
}

/// The full plan for `input`. `answers(ancestor, descendant)` answers the questions listed by
/// [`ancestry_questions`]; `None` (an object unknown locally) counts as "not an ancestor", as in
/// Gitaly, so a diverged ref is reported and an unmerged remote-only ref is kept.
pub fn plan(input: &PlanInput<'_>, answers: &impl Fn(&str, &str) -> Option<bool>) -> RefUpdatePlan {
    let (rules, pairs) = full_pairs(input);
    assemble(&rules, &pairs, answers)
}

/// The ancestry questions [`plan_changed`] will ask for `input`, deduplicated and sorted.
pub fn changed_ancestry_questions(input: &ChangedRefsInput<'_>) -> Vec<AncestryQuestion> {
    let (rules, pairs) = changed_pairs(input);
    questions(&rules, &pairs)
}

/// The plan for only the changed refs: for those refs, exactly what [`plan`] would decide if the
/// remote were in the state `last_remote` records. Costs O(changed · log(remote refs)).
///
/// Refs absent from `changed` are not revisited, so a remote-only ref kept earlier as unmerged
/// is not deleted when the default branch later absorbs it, and an unchanged diverged ref is not
/// reported again: a full [`plan`] now and then catches both up.
pub fn plan_changed(
    input: &ChangedRefsInput<'_>,
    answers: &impl Fn(&str, &str) -> Option<bool>,
) -> RefUpdatePlan {
    let (rules, pairs) = changed_pairs(input);
    assemble(&rules, &pairs, answers)
}

/// The settings every ref is judged by.
struct Rules<'a> {
    /// Which refs may be pushed or deleted.
    filter: &'a RefFilter,
    /// The mirror's `keep_divergent_refs`.
    keep_divergent_refs: bool,
    /// Full name of the local default branch, when it exists.
    default_ref: Option<String>,
    /// Object id of the local default branch, when it exists; deletions need it.
    default_oid: Option<&'a str>,
}

/// One ref name with what each side has.
struct RefPair<'a> {
    /// Full ref name.
    name: &'a str,
    /// Local object id, `None` when absent locally.
    local: Option<&'a str>,
    /// Remote object id, `None` when absent remotely.
    remote: Option<&'a str>,
}

/// The decision for one ref, possibly waiting on one ancestry answer.
enum Verdict<'a> {
    /// Leave the remote ref alone.
    Nothing,
    /// Create or move the remote ref.
    Update { old: Option<&'a str>, new: &'a str },
    /// With `keep_divergent_refs`: move if `old` is an ancestor of `new`, else report divergence.
    FastForwardOrDiverged { old: &'a str, new: &'a str },
    /// Delete the remote-only ref if `old` is an ancestor of the default branch, else keep it.
    DeleteIfMerged { old: &'a str, default_oid: &'a str },
    /// Delete the remote-only ref, which points at the default branch's own commit (a commit is
    /// its own ancestor, so git need not be asked).
    Delete { old: &'a str },
}

impl<'a> Rules<'a> {
    /// Gitaly's rule for one ref (§3.2 steps 6 to 8), before any ancestry answer.
    fn classify(&self, pair: &RefPair<'a>) -> Verdict<'a> {
        if !self.filter.covers(pair.name) {
            return Verdict::Nothing;
        }
        match (pair.local, pair.remote) {
            (Some(new), None) => Verdict::Update { old: None, new },
            (Some(new), Some(old)) if new == old => Verdict::Nothing,
            (Some(new), Some(old)) if self.keep_divergent_refs => {
                Verdict::FastForwardOrDiverged { old, new }
            }
            (Some(new), Some(old)) => Verdict::Update {
                old: Some(old),
                new,
            },
            (None, Some(old)) => match self.default_oid {
                Some(_) if self.keep_divergent_refs => Verdict::Nothing,
                Some(default_oid) if default_oid == old => Verdict::Delete { old },
                Some(default_oid) => Verdict::DeleteIfMerged { old, default_oid },
                None => Verdict::Nothing,
            },
            (None, None) => Verdict::Nothing,
        }
    }
}

impl<'a> Verdict<'a> {
    /// The ancestry question this verdict waits on, if any: `(ancestor, descendant)`.
    fn question(&self) -> Option<(&'a str, &'a str)> {
        match *self {
            Verdict::FastForwardOrDiverged { old, new } => Some((old, new)),
            Verdict::DeleteIfMerged { old, default_oid } => Some((old, default_oid)),
            _ => None,
        }
    }
}

/// Pairs every local and remote branch and tag by name, and works out the default branch.
fn full_pairs<'a>(input: &PlanInput<'a>) -> (Rules<'a>, Vec<RefPair<'a>>) {
    let local = mirrored_refs(input.local);
    let remote = mirrored_refs(input.remote);
    let default = input.default_branch.and_then(|name| {
        let full = format!("refs/heads/{name}");
        local.get(full.as_str()).map(|&oid| (full, oid))
    });
    let mut pairs: Vec<RefPair<'a>> = local
        .iter()
        .map(|(&name, &oid)| RefPair {
            name,
            local: Some(oid),
            remote: remote.get(name).copied(),
        })
        .collect();
    pairs.extend(
        remote
            .iter()
            .filter(|(name, _)| !local.contains_key(*name))
            .map(|(&name, &oid)| RefPair {
                name,
                local: None,
                remote: Some(oid),
            }),
    );
    let (default_ref, default_oid) = default.unzip();
    let rules = Rules {
        filter: input.filter,
        keep_divergent_refs: input.keep_divergent_refs,
        default_ref,
        default_oid,
    };
    (rules, pairs)
}

/// Pairs each changed ref with the remote state last left, by one lookup per changed ref.
fn changed_pairs<'a>(input: &ChangedRefsInput<'a>) -> (Rules<'a>, Vec<RefPair<'a>>) {
    let pairs = input
        .changed
        .iter()
        .map(|(name, local)| RefPair {
            name,
            local: local.as_deref(),
            remote: input.last_remote.get(name).map(String::as_str),
        })
        .collect();
    let rules = Rules {
        filter: input.filter,
        keep_divergent_refs: input.keep_divergent_refs,
        default_ref: input
            .default_branch
            .map(|d| format!("refs/heads/{}", d.name)),
        default_oid: input.default_branch.map(|d| d.oid),
    };
    (rules, pairs)
}

/// The branches and tags of one side by name; other namespaces are not mirrored.
fn mirrored_refs(refs: &[(String, String)]) -> BTreeMap<&str, &str> {
    refs.iter()
        .filter(|(name, _)| name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
        .map(|(name, oid)| (name.as_str(), oid.as_str()))
        .collect()
}

/// The deduplicated, sorted questions the verdicts for `pairs` wait on.
fn questions<'a>(rules: &Rules<'a>, pairs: &[RefPair<'a>]) -> Vec<AncestryQuestion> {
    let asked: BTreeSet<(&str, &str)> = pairs
        .iter()
        .filter_map(|pair| rules.classify(pair).question())
        .collect();
    asked
        .into_iter()
        .map(|(ancestor, descendant)| AncestryQuestion {
            ancestor: ancestor.to_owned(),
            descendant: descendant.to_owned(),
        })
        .collect()
}

/// Turns the verdicts for `pairs` (each side sorted by name) into a plan, asking `answers`.
fn assemble(
    rules: &Rules<'_>,
    pairs: &[RefPair<'_>],
    answers: &impl Fn(&str, &str) -> Option<bool>,
) -> RefUpdatePlan {
    let is_ancestor =
        |ancestor: &str, descendant: &str| answers(ancestor, descendant) == Some(true);
    let mut plan = RefUpdatePlan {
        force: !rules.keep_divergent_refs,
        ..RefUpdatePlan::default()
    };
    for pair in pairs {
        let name = pair.name.to_owned();
        match rules.classify(pair) {
            Verdict::Nothing => {}
            Verdict::Update { old, new } => plan.updates.push(RefUpdate {
                name,
                old_remote: old.map(str::to_owned),
                new: new.to_owned(),
            }),
            Verdict::FastForwardOrDiverged { old, new } if is_ancestor(old, new) => {
                plan.updates.push(RefUpdate {
                    name,
                    old_remote: Some(old.to_owned()),
                    new: new.to_owned(),
                });
            }
            Verdict::FastForwardOrDiverged { .. } => plan.divergent.push(name),
            Verdict::DeleteIfMerged { old, default_oid } if !is_ancestor(old, default_oid) => {}
            Verdict::Delete { old } | Verdict::DeleteIfMerged { old, .. } => {
                plan.deletes.push(RefDelete {
                    name,
                    old_remote: old.to_owned(),
                });
            }
        }
    }
    // Sorting here, not trusting the callers' order, keeps the cap on the same refs as Gitaly,
    // which walks local refs in name order.
    plan.updates.sort_by(|a, b| a.name.cmp(&b.name));
    plan.deletes.sort_by(|a, b| a.name.cmp(&b.name));
    plan.divergent.sort();
    plan.divergent.truncate(MAX_DIVERGENT_REFS);
    if let Some(default_ref) = &rules.default_ref {
        if let Some(at) = plan.updates.iter().position(|u| &u.name == default_ref) {
            let update = plan.updates.remove(at);
            plan.updates.insert(0, update);
            plan.default_branch_first = true;
        }
    }
    plan
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
