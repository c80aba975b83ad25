//! Property tests of the planner over random repository pairs: a forced plan converges, a
//! second plan after applying the first is empty, questions asked are exactly those used, the
//! order and repetition of the input do not matter (the last entry of a name wins),
//! `applied_to` is the plan applied, and batching keeps order.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use regex::Regex;

use super::*;

const NAMES: &[&str] = &[
    "refs/heads/main",
    "refs/heads/dev",
    "refs/heads/feat/a",
    "refs/heads/release-1",
    "refs/heads/release-a/b",
    "refs/tags/v1",
    "refs/tags/v2",
    "refs/merge-requests/1/head",
];

/// A random repository pair and mirror settings, with an oracle that is a fixed function of its
/// arguments, so replanning sees the same answers.
#[derive(Debug, Clone)]
struct World {
    local: BTreeMap<String, String>,
    remote: BTreeMap<String, String>,
    default: Option<&'static str>,
    keep: bool,
    filter: usize,
    seed: u64,
}

fn filter(index: usize) -> RefFilter {
    match index {
        0 => RefFilter::All,
        1 => RefFilter::protected(["main", "release-*"]),
        2 => RefFilter::Regex(Regex::new("^feat|^dev$").unwrap()),
        _ => RefFilter::Patterns(Vec::new()),
    }
}

fn side() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(
        proptest::sample::select(NAMES).prop_map(str::to_owned),
        proptest::sample::select(&["a", "b", "c", "d"][..]).prop_map(str::to_owned),
        0..NAMES.len(),
    )
}

fn world() -> impl Strategy<Value = World> {
    (
        side(),
        side(),
        proptest::option::weighted(0.8, proptest::sample::select(&["main", "dev"][..])),
        any::<bool>(),
        0..4usize,
        any::<u64>(),
    )
        .prop_map(|(local, remote, default, keep, filter, seed)| World {
            local,
            remote,
            default,
            keep,
            filter,
            seed,
        })
}

impl World {
    fn oracle(&self) -> impl Fn(&str, &str) -> Option<bool> + '_ {
        move |a: &str, d: &str| {
            let h = a
                .bytes()
                .chain([0])
                .chain(d.bytes())
                .fold(self.seed, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
            [Some(true), Some(false), None][(h % 3) as usize]
        }
    }

    fn plan_with(
        &self,
        remote: &BTreeMap<String, String>,
        answers: &impl Fn(&str, &str) -> Option<bool>,
    ) -> RefUpdatePlan {
        let local: Vec<_> = self.local.clone().into_iter().collect();
        let remote: Vec<_> = remote.clone().into_iter().collect();
        let filter = filter(self.filter);
        let input = PlanInput {
            local: &local,
            remote: &remote,
            default_branch: self.default,
            keep_divergent_refs: self.keep,
            filter: &filter,
        };
        plan(&input, answers)
    }

    fn questions(&self) -> BTreeSet<AncestryQuestion> {
        let local: Vec<_> = self.local.clone().into_iter().collect();
        let remote: Vec<_> = self.remote.clone().into_iter().collect();
        let filter = filter(self.filter);
        let input = PlanInput {
            local: &local,
            remote: &remote,
            default_branch: self.default,
            keep_divergent_refs: self.keep,
            filter: &filter,
        };
        ancestry_questions(&input).into_iter().collect()
    }
}

fn apply(plan: &RefUpdatePlan, remote: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut remote = remote.clone();
    for update in &plan.updates {
        remote.insert(update.name.clone(), update.new.clone());
    }
    for delete in &plan.deletes {
        remote.remove(&delete.name);
    }
    remote
}

proptest! {
    #[test]
    fn forced_plan_converges_on_covered_refs(mut world in world()) {
        world.keep = false;
        world.default = Some("main");
        world.local.entry("refs/heads/main".into()).or_insert_with(|| "a".into());
        let plan = world.plan_with(&world.remote, &|_: &str, _: &str| Some(true));
        let after = apply(&plan, &world.remote);
        let filter = filter(world.filter);
        let covered = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter().filter(|(n, _)| filter.covers(n)).map(|(n, o)| (n.clone(), o.clone())).collect()
        };
        let uncovered = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter().filter(|(n, _)| !filter.covers(n)).map(|(n, o)| (n.clone(), o.clone())).collect()
        };
        prop_assert_eq!(covered(&after), covered(&world.local));
        prop_assert_eq!(uncovered(&after), uncovered(&world.remote));
        prop_assert!(plan.divergent.is_empty());
    }

    #[test]
    fn replanning_after_applying_is_empty(world in world()) {
        let oracle = world.oracle();
        let first = world.plan_with(&world.remote, &oracle);
        let second = world.plan_with(&apply(&first, &world.remote), &oracle);
        prop_assert!(second.is_empty(), "{:?}", second);
        prop_assert_eq!(second.divergent, first.divergent);
    }

    #[test]
    fn questions_asked_are_exactly_those_used(world in world()) {
        let oracle = world.oracle();
        let used = RefCell::new(BTreeSet::new());
        world.plan_with(&world.remote, &|a: &str, d: &str| {
            used.borrow_mut().insert(AncestryQuestion { ancestor: a.into(), descendant: d.into() });
            oracle(a, d)
        });
        prop_assert_eq!(world.questions(), used.into_inner());
    }

    #[test]
    fn input_order_and_repeated_names_do_not_matter(world in world(), stale in "[a-d]") {
        let oracle = world.oracle();
        let want = world.plan_with(&world.remote, &oracle);
        // Each side reversed, with a stale entry before the real one of every name.
        let shuffle = |side: &BTreeMap<String, String>| -> Vec<(String, String)> {
            side.iter()
                .rev()
                .flat_map(|(n, o)| [(n.clone(), stale.clone()), (n.clone(), o.clone())])
                .collect()
        };
        let (local, remote) = (shuffle(&world.local), shuffle(&world.remote));
        let filter = filter(world.filter);
        let input = PlanInput {
            local: &local,
            remote: &remote,
            default_branch: world.default,
            keep_divergent_refs: world.keep,
            filter: &filter,
        };
        prop_assert_eq!(plan(&input, &oracle), want);
        let asked: BTreeSet<_> = ancestry_questions(&input).into_iter().collect();
        prop_assert_eq!(asked, world.questions());
    }

    #[test]
    fn applied_to_is_every_change_applied_in_name_order(world in world()) {
        let plan = world.plan_with(&world.remote, &world.oracle());
        let remote: Vec<_> = world.remote.clone().into_iter().collect();
        let want: Vec<_> = apply(&plan, &world.remote).into_iter().collect();
        prop_assert_eq!(plan.applied_to(remote), want);
    }

    #[test]
    fn batches_preserve_order_and_bound_size(world in world(), size in 1..5usize) {
        let plan = world.plan_with(&world.remote, &world.oracle());
        let batches = plan.refspecs(size);
        prop_assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= size));
        let flat: Vec<String> = batches.concat();
        prop_assert_eq!(flat.len(), plan.updates.len() + plan.deletes.len());
        prop_assert_eq!(&flat, &plan.refspecs(usize::MAX).concat());
        if plan.default_branch_first {
            let main = format!("refs/heads/{}", world.default.unwrap());
            let suffix = format!(":{main}");
            prop_assert!(flat[0].ends_with(&suffix));
        }
    }
}
