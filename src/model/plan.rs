//! The ref-update plan of one mirror sync: which refs to create, move and delete on the remote,
//! and which have diverged, following Gitaly's `UpdateRemoteMirror` rules exactly. This module
//! owns the decision only. It does no I/O and never runs git: the ancestry checks the rules need
//! are asked as [`AncestryQuestion`]s and answered by the caller (with git), so the decision stays
//! pure and testable without a repository.
//!
//! Every sync is two pure steps: [`ancestry_questions`] lists what git must answer, then [`plan`]
//! turns the answers into a [`RefUpdatePlan`]. Both read the two sides whole, in one pass by name
//! over lists that arrive sorted. An update lists its local refs anyway, so finding the refs that
//! changed since the last sync would cost that same pass; an incremental planner was measured and
//! removed (BENCHMARKS.md, "Issue 8: remote state per ref").
//!
//! **Invariant:** both steps pair and classify refs with the same private code, so the questions
//! asked are exactly those the plan uses (property-tested).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::refmatch::RefFilter;

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
    questions(&Sides::new(input))
}

/// The full plan for `input`. `answers(ancestor, descendant)` answers the questions listed by
/// [`ancestry_questions`]; `None` (an object unknown locally) counts as "not an ancestor", as in
/// Gitaly, so a diverged ref is reported and an unmerged remote-only ref is kept.
pub fn plan(input: &PlanInput<'_>, answers: &impl Fn(&str, &str) -> Option<bool>) -> RefUpdatePlan {
    assemble(&Sides::new(input), answers)
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

/// Whether a ref is in a namespace mirrors cover; other namespaces are not mirrored.
fn mirrored(name: &str) -> bool {
    name.starts_with("refs/heads/") || name.starts_with("refs/tags/")
}

/// One side's branches and tags, sorted by name with each name once.
enum Side<'a> {
    /// The caller's list, already strictly sorted by name (as both sides are in an update):
    /// read in place, so planning allocates nothing per ref.
    Sorted(&'a [(String, String)]),
    /// A sorted copy of an unsorted list, keeping the last entry of a repeated name.
    Copied(Vec<(&'a str, &'a str)>),
}

impl<'a> Side<'a> {
    fn new(refs: &'a [(String, String)]) -> Side<'a> {
        if refs.windows(2).all(|w| w[0].0 < w[1].0) {
            return Side::Sorted(refs);
        }
        let mut sorted: Vec<(&str, &str)> = refs
            .iter()
            .filter(|(name, _)| mirrored(name))
            .map(|(name, oid)| (name.as_str(), oid.as_str()))
            .collect();
        // Stable, so the entries of one name keep their order and the last can win.
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut unique: Vec<(&str, &str)> = Vec::with_capacity(sorted.len());
        for entry in sorted {
            match unique.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => unique.push(entry),
            }
        }
        Side::Copied(unique)
    }

    /// The branches and tags in name order.
    fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let (sorted, copied) = match self {
            Side::Sorted(refs) => (Some(refs.iter()), None),
            Side::Copied(refs) => (None, Some(refs.iter())),
        };
        sorted
            .into_iter()
            .flatten()
            .map(|(name, oid)| (name.as_str(), oid.as_str()))
            .chain(copied.into_iter().flatten().copied())
            .filter(|(name, _)| mirrored(name))
    }

    /// The object id of branch or tag `name`.
    fn get(&self, name: &str) -> Option<&'a str> {
        match self {
            Side::Sorted(refs) => refs
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
                .ok()
                .map(|at| refs[at].1.as_str()),
            Side::Copied(refs) => refs
                .binary_search_by(|(n, _)| (*n).cmp(name))
                .ok()
                .map(|at| refs[at].1),
        }
        .filter(|_| mirrored(name))
    }
}

/// Both sides of one plan and the rules to judge their refs by.
struct Sides<'a> {
    rules: Rules<'a>,
    local: Side<'a>,
    remote: Side<'a>,
}

impl<'a> Sides<'a> {
    /// Reads `input` and works out the default branch.
    fn new(input: &PlanInput<'a>) -> Sides<'a> {
        let local = Side::new(input.local);
        let remote = Side::new(input.remote);
        let default = input.default_branch.and_then(|name| {
            let full = format!("refs/heads/{name}");
            let oid = local.get(&full)?;
            Some((full, oid))
        });
        let (default_ref, default_oid) = default.unzip();
        let rules = Rules {
            filter: input.filter,
            keep_divergent_refs: input.keep_divergent_refs,
            default_ref,
            default_oid,
        };
        Sides {
            rules,
            local,
            remote,
        }
    }

    /// Calls `f` with every branch and tag of either side, paired by name, in name order.
    fn for_each_pair(&self, mut f: impl FnMut(RefPair<'a>)) {
        let (mut l, mut r) = (self.local.iter().peekable(), self.remote.iter().peekable());
        loop {
            let side = match (l.peek(), r.peek()) {
                (None, None) => return,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((ln, _)), Some((rn, _))) => ln.cmp(rn),
            };
            let pair = match side {
                Ordering::Less => l.next().map(|(name, oid)| RefPair {
                    name,
                    local: Some(oid),
                    remote: None,
                }),
                Ordering::Greater => r.next().map(|(name, oid)| RefPair {
                    name,
                    local: None,
                    remote: Some(oid),
                }),
                Ordering::Equal => {
                    l.next()
                        .zip(r.next())
                        .map(|((name, ours), (_, theirs))| RefPair {
                            name,
                            local: Some(ours),
                            remote: Some(theirs),
                        })
                }
            };
            pair.into_iter().for_each(&mut f);
        }
    }
}

/// The deduplicated, sorted questions the verdicts for both sides wait on.
fn questions(sides: &Sides<'_>) -> Vec<AncestryQuestion> {
    let mut asked: BTreeSet<(&str, &str)> = BTreeSet::new();
    sides.for_each_pair(|pair| asked.extend(sides.rules.classify(&pair).question()));
    asked
        .into_iter()
        .map(|(ancestor, descendant)| AncestryQuestion {
            ancestor: ancestor.to_owned(),
            descendant: descendant.to_owned(),
        })
        .collect()
}

/// Turns the verdicts for both sides into a plan, asking `answers`.
fn assemble(sides: &Sides<'_>, answers: &impl Fn(&str, &str) -> Option<bool>) -> RefUpdatePlan {
    let rules = &sides.rules;
    let is_ancestor =
        |ancestor: &str, descendant: &str| answers(ancestor, descendant) == Some(true);
    let mut plan = RefUpdatePlan {
        force: !rules.keep_divergent_refs,
        ..RefUpdatePlan::default()
    };
    sides.for_each_pair(|pair| {
        let name = pair.name;
        match rules.classify(&pair) {
            Verdict::Nothing => {}
            Verdict::Update { old, new } => plan.updates.push(RefUpdate {
                name: name.to_owned(),
                old_remote: old.map(str::to_owned),
                new: new.to_owned(),
            }),
            Verdict::FastForwardOrDiverged { old, new } if is_ancestor(old, new) => {
                plan.updates.push(RefUpdate {
                    name: name.to_owned(),
                    old_remote: Some(old.to_owned()),
                    new: new.to_owned(),
                });
            }
            Verdict::FastForwardOrDiverged { .. } => plan.divergent.push(name.to_owned()),
            Verdict::DeleteIfMerged { old, default_oid } if !is_ancestor(old, default_oid) => {}
            Verdict::Delete { old } | Verdict::DeleteIfMerged { old, .. } => {
                plan.deletes.push(RefDelete {
                    name: name.to_owned(),
                    old_remote: old.to_owned(),
                });
            }
        }
    });
    // The pairs came in name order, so these sorts only check it; name order keeps the cap on
    // the same refs as Gitaly, which walks local refs in name order.
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
