//! Table-driven tests for every branch of the planning rules, each row also checked for asking
//! exactly the questions it uses.

use std::cell::RefCell;
use std::collections::BTreeSet;

use regex::Regex;

use super::*;

/// One row: both sides, the settings, what git would answer, and the expected plan.
struct Case {
    name: &'static str,
    local: &'static [(&'static str, &'static str)],
    remote: &'static [(&'static str, &'static str)],
    default: Option<&'static str>,
    keep: bool,
    filter: RefFilter,
    /// `(ancestor, descendant)` pairs git says yes to; every other known pair is a no.
    ancestors: &'static [(&'static str, &'static str)],
    /// Object ids missing locally: questions about them are answered `None`.
    unknown: &'static [&'static str],
    updates: &'static [(&'static str, Option<&'static str>, &'static str)],
    deletes: &'static [(&'static str, &'static str)],
    divergent: &'static [&'static str],
}

impl Default for Case {
    fn default() -> Self {
        Self {
            name: "",
            local: &[],
            remote: &[],
            default: Some("main"),
            keep: false,
            filter: RefFilter::All,
            ancestors: &[],
            unknown: &[],
            updates: &[],
            deletes: &[],
            divergent: &[],
        }
    }
}

fn owned(refs: &[(&str, &str)]) -> Vec<(String, String)> {
    refs.iter()
        .map(|(n, o)| (n.to_string(), o.to_string()))
        .collect()
}

/// Plans the row, checks the result, and checks that exactly the listed questions were used.
fn check(case: Case) {
    let (local, remote) = (owned(case.local), owned(case.remote));
    let input = PlanInput {
        local: &local,
        remote: &remote,
        default_branch: case.default,
        keep_divergent_refs: case.keep,
        filter: &case.filter,
    };
    let used = RefCell::new(BTreeSet::new());
    let answers = |a: &str, d: &str| {
        used.borrow_mut().insert(AncestryQuestion {
            ancestor: a.into(),
            descendant: d.into(),
        });
        if case.unknown.contains(&a) {
            None
        } else {
            Some(case.ancestors.contains(&(a, d)))
        }
    };
    let got = plan(&input, &answers);
    let want = RefUpdatePlan {
        updates: case
            .updates
            .iter()
            .map(|(n, o, new)| RefUpdate {
                name: n.to_string(),
                old_remote: o.map(str::to_owned),
                new: new.to_string(),
            })
            .collect(),
        deletes: case
            .deletes
            .iter()
            .map(|(n, o)| RefDelete {
                name: n.to_string(),
                old_remote: o.to_string(),
            })
            .collect(),
        divergent: case.divergent.iter().map(|n| n.to_string()).collect(),
        force: !case.keep,
        default_branch_first: case.default.is_some_and(|d| {
            case.updates
                .first()
                .is_some_and(|u| u.0 == format!("refs/heads/{d}"))
        }),
    };
    assert_eq!(got, want, "{}", case.name);
    let asked: BTreeSet<_> = ancestry_questions(&input).into_iter().collect();
    assert_eq!(asked, used.take(), "{}: questions asked vs used", case.name);
}

#[test]
fn creates_updates_and_skips() {
    check(Case {
        name: "missing remotely is created, equal is skipped, different is forced",
        local: &[
            ("refs/heads/main", "m"),
            ("refs/heads/new", "n"),
            ("refs/heads/moved", "b"),
            ("refs/tags/v1", "t"),
        ],
        remote: &[("refs/heads/main", "m"), ("refs/heads/moved", "a")],
        updates: &[
            ("refs/heads/moved", Some("a"), "b"),
            ("refs/heads/new", None, "n"),
            ("refs/tags/v1", None, "t"),
        ],
        ..Case::default()
    });
    check(Case {
        name: "nothing to do",
        local: &[("refs/heads/main", "m"), ("refs/tags/v1", "t")],
        remote: &[("refs/heads/main", "m"), ("refs/tags/v1", "t")],
        ..Case::default()
    });
    check(Case {
        name: "other namespaces are ignored on both sides",
        local: &[
            ("refs/heads/main", "m"),
            ("refs/merge-requests/1/head", "x"),
            ("HEAD", "m"),
        ],
        remote: &[
            ("refs/heads/main", "m"),
            ("refs/pull/1/head", "y"),
            ("refs/remotes/o/main", "z"),
        ],
        ancestors: &[("y", "m"), ("z", "m")],
        ..Case::default()
    });
}

#[test]
fn keep_divergent_refs_fast_forwards_or_reports() {
    check(Case {
        name: "ancestor is fast-forwarded without force",
        local: &[("refs/heads/main", "b")],
        remote: &[("refs/heads/main", "a")],
        keep: true,
        ancestors: &[("a", "b")],
        updates: &[("refs/heads/main", Some("a"), "b")],
        ..Case::default()
    });
    check(Case {
        name: "non-ancestor and unknown remote commits diverge, tags included",
        local: &[
            ("refs/heads/main", "b"),
            ("refs/heads/x", "d"),
            ("refs/tags/v1", "t2"),
            ("refs/heads/ok", "f"),
        ],
        remote: &[
            ("refs/heads/main", "a"),
            ("refs/heads/x", "gone"),
            ("refs/tags/v1", "t1"),
            ("refs/heads/ok", "e"),
        ],
        keep: true,
        ancestors: &[("e", "f"), ("gone", "d")],
        unknown: &["gone"],
        updates: &[("refs/heads/ok", Some("e"), "f")],
        divergent: &["refs/heads/main", "refs/heads/x", "refs/tags/v1"],
        ..Case::default()
    });
    check(Case {
        name: "filtered-out refs are neither pushed nor reported as divergent",
        local: &[
            ("refs/heads/main", "b"),
            ("refs/heads/wip", "d"),
            ("refs/heads/wip2", "n"),
        ],
        remote: &[("refs/heads/main", "a"), ("refs/heads/wip", "c")],
        keep: true,
        filter: RefFilter::protected(["main"]),
        divergent: &["refs/heads/main"],
        ..Case::default()
    });
}

#[test]
fn remote_only_refs_are_deleted_only_when_merged() {
    check(Case {
        name: "merged branch and tag deleted, unmerged and unknown kept",
        local: &[("refs/heads/main", "m")],
        remote: &[
            ("refs/heads/main", "m"),
            ("refs/heads/merged", "a"),
            ("refs/heads/unmerged", "b"),
            ("refs/heads/unknown", "c"),
            ("refs/tags/old", "t"),
            ("refs/heads/at-main", "m"),
        ],
        ancestors: &[("a", "m"), ("t", "m"), ("c", "m")],
        unknown: &["c"],
        deletes: &[
            ("refs/heads/at-main", "m"),
            ("refs/heads/merged", "a"),
            ("refs/tags/old", "t"),
        ],
        ..Case::default()
    });
    check(Case {
        name: "no default branch: nothing is deleted",
        local: &[("refs/heads/dev", "m")],
        remote: &[("refs/heads/merged", "a")],
        default: None,
        ancestors: &[("a", "m")],
        updates: &[("refs/heads/dev", None, "m")],
        ..Case::default()
    });
    check(Case {
        name: "HEAD names a branch that does not exist: nothing is deleted",
        local: &[("refs/heads/dev", "m")],
        remote: &[("refs/heads/merged", "a")],
        ancestors: &[("a", "m")],
        updates: &[("refs/heads/dev", None, "m")],
        ..Case::default()
    });
    check(Case {
        name: "keep_divergent_refs: nothing is deleted",
        local: &[("refs/heads/main", "m")],
        remote: &[("refs/heads/main", "m"), ("refs/heads/merged", "a")],
        keep: true,
        ancestors: &[("a", "m")],
        ..Case::default()
    });
    check(Case {
        name: "deletions are checked against the new default branch commit",
        local: &[("refs/heads/main", "m2")],
        remote: &[("refs/heads/main", "m1"), ("refs/heads/merged", "a")],
        ancestors: &[("a", "m2")],
        updates: &[("refs/heads/main", Some("m1"), "m2")],
        deletes: &[("refs/heads/merged", "a")],
        ..Case::default()
    });
}

#[test]
fn filters_narrow_branches_but_never_tags() {
    check(Case {
        name: "protected patterns with * spanning /",
        local: &[
            ("refs/heads/main", "m"),
            ("refs/heads/release-1", "r1"),
            ("refs/heads/release-a/b", "r2"),
            ("refs/heads/feature", "f"),
            ("refs/tags/v1", "t"),
        ],
        remote: &[
            ("refs/heads/release-old", "o"),
            ("refs/heads/feature-old", "g"),
            ("refs/tags/v0", "t0"),
        ],
        filter: RefFilter::protected(["main", "release-*"]),
        ancestors: &[("o", "m"), ("g", "m"), ("t0", "m")],
        updates: &[
            ("refs/heads/main", None, "m"),
            ("refs/heads/release-1", None, "r1"),
            ("refs/heads/release-a/b", None, "r2"),
            ("refs/tags/v1", None, "t"),
        ],
        deletes: &[("refs/heads/release-old", "o"), ("refs/tags/v0", "t0")],
        ..Case::default()
    });
    check(Case {
        name: "regex filter on the short name; the default branch only if it matches",
        local: &[
            ("refs/heads/main", "m"),
            ("refs/heads/feat/x", "x"),
            ("refs/heads/myfeat", "y"),
            ("refs/tags/v1", "t"),
        ],
        remote: &[("refs/heads/feat/old", "o")],
        filter: RefFilter::Regex(Regex::new("^feat/").unwrap()),
        ancestors: &[("o", "m")],
        updates: &[
            ("refs/heads/feat/x", None, "x"),
            ("refs/tags/v1", None, "t"),
        ],
        deletes: &[("refs/heads/feat/old", "o")],
        ..Case::default()
    });
}

#[test]
fn default_branch_comes_first() {
    check(Case {
        name: "default branch first, the rest by name",
        local: &[
            ("refs/heads/a", "1"),
            ("refs/heads/z", "2"),
            ("refs/heads/main", "3"),
            ("refs/tags/b", "4"),
        ],
        updates: &[
            ("refs/heads/main", None, "3"),
            ("refs/heads/a", None, "1"),
            ("refs/heads/z", None, "2"),
            ("refs/tags/b", None, "4"),
        ],
        ..Case::default()
    });
    check(Case {
        name: "a tag named like the default branch is not the default branch",
        local: &[("refs/heads/a", "1"), ("refs/tags/main", "2")],
        updates: &[("refs/heads/a", None, "1"), ("refs/tags/main", None, "2")],
        ..Case::default()
    });
}

#[test]
fn divergent_refs_are_capped_at_100_in_name_order() {
    let names: Vec<String> = (0..150).map(|i| format!("refs/heads/b{i:03}")).collect();
    let local: Vec<(String, String)> = names.iter().map(|n| (n.clone(), "new".into())).collect();
    let remote: Vec<(String, String)> = names.iter().map(|n| (n.clone(), "old".into())).collect();
    let input = PlanInput {
        local: &local,
        remote: &remote,
        default_branch: None,
        keep_divergent_refs: true,
        filter: &RefFilter::All,
    };
    let got = plan(&input, &|_: &str, _: &str| Some(false));
    assert_eq!(got.divergent, names[..MAX_DIVERGENT_REFS].to_vec());
    assert!(got.is_empty());
    let message = got.divergent_message().unwrap();
    assert!(message.starts_with(
        "Some refs have diverged and have not been updated on the remote:\n\nrefs/heads/b000\nrefs/heads/b001\n"
    ));
    assert!(message.ends_with("refs/heads/b099"));
    assert_eq!(RefUpdatePlan::default().divergent_message(), None);
}

#[test]
fn refspecs_put_the_default_branch_first_then_deletions_in_batches() {
    let updates = (0..12).map(|i| RefUpdate {
        name: format!("refs/heads/u{i:02}"),
        old_remote: None,
        new: format!("o{i}"),
    });
    let plan = RefUpdatePlan {
        updates: std::iter::once(RefUpdate {
            name: "refs/heads/main".into(),
            old_remote: Some("old".into()),
            new: "m".into(),
        })
        .chain(updates)
        .collect(),
        deletes: vec![RefDelete {
            name: "refs/heads/gone".into(),
            old_remote: "g".into(),
        }],
        divergent: vec![],
        force: true,
        default_branch_first: true,
    };
    let batches = plan.refspecs(10);
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 4]
    );
    assert_eq!(
        batches[0][..3],
        ["m:refs/heads/main", ":refs/heads/gone", "o0:refs/heads/u00"]
    );
    assert_eq!(batches[1].last().unwrap(), "o11:refs/heads/u11");
    assert_eq!(plan.refspecs(0).len(), 14);
    let no_default = RefUpdatePlan {
        default_branch_first: false,
        ..plan
    };
    assert_eq!(
        no_default.refspecs(2)[0],
        [":refs/heads/gone", "m:refs/heads/main"]
    );
    assert!(RefUpdatePlan::default().refspecs(10).is_empty());
}

/// `n` local branches `refs/heads/bNNNNN`, all at `oid`.
fn many(n: usize, oid: &str) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("refs/heads/b{i:05}"), oid.to_owned()))
        .collect()
}

#[test]
fn a_plan_of_every_difference_goes_as_patterns_behind_the_default_branch() {
    let mut local = many(PATTERN_PUSH_MIN, "a");
    local.push(("refs/heads/main".into(), "a".into()));
    let remote = vec![
        ("refs/heads/b00000".to_owned(), "a".to_owned()),
        ("refs/heads/gone".to_owned(), "c".to_owned()),
    ];
    let filter = RefFilter::All;
    let input = PlanInput {
        local: &local,
        remote: &remote,
        default_branch: Some("main"),
        keep_divergent_refs: false,
        filter: &filter,
    };
    let planned = plan(&input, &|_: &str, _: &str| Some(true));
    assert_eq!(planned.updates.len(), PATTERN_PUSH_MIN);
    let (explicit, patterns) = planned.as_patterns(&input).expect("patterns");
    assert_eq!(explicit, ["a:refs/heads/main", ":refs/heads/gone"]);
    assert_eq!(
        patterns,
        ["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]
    );
}

#[test]
fn a_plan_that_leaves_a_difference_out_or_is_small_keeps_explicit_refspecs() {
    let mut local = many(PATTERN_PUSH_MIN + 1, "a");
    local.push(("refs/heads/other".to_owned(), "a".to_owned()));
    let remote = Vec::new();
    let all = RefFilter::All;
    // `other` is left out by the filter, but a pattern would push it.
    let regex = RefFilter::gitlab_branch_regex(
        &Regex::new("^b0").unwrap(),
        local
            .iter()
            .filter_map(|(n, _)| n.strip_prefix("refs/heads/")),
    );
    let small = local[..10].to_vec();
    for (local, filter, why) in [
        (&local, &regex, "a filtered-out branch differs"),
        (&small, &all, "too few updates"),
    ] {
        let input = PlanInput {
            local,
            remote: &remote,
            default_branch: None,
            keep_divergent_refs: false,
            filter,
        };
        let planned = plan(&input, &|_: &str, _: &str| Some(true));
        assert!(!planned.updates.is_empty(), "{why}");
        assert_eq!(planned.as_patterns(&input), None, "{why}");
    }
}
