//! Table-driven tests for branch patterns, reference filters and `mirror_branch_regex`
//! validation, plus a proptest against Gitaly's own regex construction.

use super::*;
use proptest::prelude::*;

/// Checks `filter.covers(full_ref)` for each row, naming the failing row.
fn check(filter: &RefFilter, rows: &[(&str, bool)]) {
    for (full_ref, want) in rows {
        assert_eq!(
            filter.covers(full_ref),
            *want,
            "{filter:?} covers {full_ref}"
        );
    }
}

#[test]
fn patterns_match_literally_or_with_wildcards_spanning_slashes() {
    let filter = RefFilter::protected([
        "main",
        "release-*",
        "*-stable",
        "a*b*c",
        "lit.eral+",
        "x*b*a*y",
    ]);
    check(
        &filter,
        &[
            ("refs/heads/main", true),
            ("refs/heads/main2", false),
            ("refs/heads/xmain", false),
            ("refs/heads/release-1.0", true),
            ("refs/heads/release-a/b", true),
            ("refs/heads/release-", true),
            ("refs/heads/release", false),
            ("refs/heads/x/release-1", false),
            ("refs/heads/2-stable", true),
            ("refs/heads/a/b/2-stable", true),
            ("refs/heads/abc", true),
            ("refs/heads/a-b-c", true),
            ("refs/heads/ab", false),
            ("refs/heads/acb", false),
            ("refs/heads/abcb", false),
            ("refs/heads/xa-b-y", false),
            ("refs/heads/xb-a-y", true),
            ("refs/heads/lit.eral+", true),
            ("refs/heads/litXeral+", false),
            ("refs/heads/literall", false),
        ],
    );
}

#[test]
fn tags_are_always_covered_and_other_namespaces_never() {
    let filters = [
        RefFilter::All,
        RefFilter::protected(["main"]),
        RefFilter::Patterns(Vec::new()),
        RefFilter::Regex(Regex::new("^nothing$").unwrap()),
    ];
    for filter in &filters {
        check(
            filter,
            &[
                ("refs/tags/v1.0", true),
                ("refs/tags/nested/tag", true),
                ("refs/tags/", false),
                ("refs/merge-requests/1/head", false),
                ("refs/remotes/origin/main", false),
                ("HEAD", false),
                ("main", false),
            ],
        );
    }
}

#[test]
fn empty_protected_list_covers_every_branch_like_gitaly() {
    let empty: [&str; 0] = [];
    assert!(matches!(RefFilter::protected(empty), RefFilter::All));
    check(
        &RefFilter::All,
        &[("refs/heads/any/thing", true), ("refs/heads/", false)],
    );
    // Built directly, an empty list is honest: no branch.
    check(
        &RefFilter::Patterns(Vec::new()),
        &[("refs/heads/main", false)],
    );
}

#[test]
fn regex_filter_is_unanchored_on_the_short_branch_name() {
    let filter = RefFilter::Regex(validate_branch_regex("^feat/|fix").unwrap());
    check(
        &filter,
        &[
            ("refs/heads/feat/x", true),
            ("refs/heads/my-feat/x", false),
            ("refs/heads/hotfix-1", true),
            ("refs/heads/main", false),
            ("refs/tags/v1", true),
        ],
    );
}

#[test]
fn gitlab_branch_regex_expands_to_local_names() {
    let re = Regex::new("^feat").unwrap();
    let filter = RefFilter::gitlab_branch_regex(&re, ["feat-a", "main"]);
    // Only local names that matched; a remote-only `feat-b` is not covered, as in GitLab.
    check(
        &filter,
        &[
            ("refs/heads/feat-a", true),
            ("refs/heads/feat-b", false),
            ("refs/heads/main", false),
        ],
    );
    // No local match: the empty list means every branch, as in GitLab.
    let filter = RefFilter::gitlab_branch_regex(&re, ["main"]);
    check(
        &filter,
        &[("refs/heads/main", true), ("refs/heads/feat-b", true)],
    );
}

#[test]
fn branch_regex_validation() {
    let rows: &[(&str, Result<(), &str>)] = &[
        ("^release/.*$", Ok(())),
        ("", Ok(())),
        ("(?P<x>a)", Ok(())),
        ("(?=a)", Err("not valid RE2 syntax: look-around, including look-ahead and look-behind, is not supported")),
        ("(a)\\1", Err("not valid RE2 syntax: backreferences are not supported")),
        ("(", Err("not valid RE2 syntax: unclosed group")),
    ];
    for (pattern, want) in rows {
        let got = validate_branch_regex(pattern).map(|_| ());
        assert_eq!(got, want.map_err(str::to_owned), "{pattern:?}");
    }
    assert!(validate_branch_regex(&"a".repeat(255)).is_ok());
    assert_eq!(
        validate_branch_regex(&"é".repeat(256)).unwrap_err(),
        "is too long (maximum is 255 characters)"
    );
}

/// Gitaly's construction for one pattern: quote the segments, join with `.*`, anchor.
fn gitaly_regex(pattern: &str) -> Regex {
    let body: Vec<String> = pattern.split('*').map(regex::escape).collect();
    Regex::new(&format!("^(?:{})$", body.join(".*"))).unwrap()
}

proptest! {
    #[test]
    fn pattern_matching_agrees_with_gitalys_regex(
        pattern in "[ab/.*]{0,8}",
        branch in "[ab/.]{0,10}",
        dense_pattern in "[ab*]{0,8}",
        dense_branch in "[ab]{0,8}",
    ) {
        let ours = BranchPattern::new(pattern.clone()).matches(&branch);
        prop_assert_eq!(ours, gitaly_regex(&pattern).is_match(&branch));
        let ours = BranchPattern::new(dense_pattern.clone()).matches(&dense_branch);
        prop_assert_eq!(ours, gitaly_regex(&dense_pattern).is_match(&dense_branch));
    }
}
