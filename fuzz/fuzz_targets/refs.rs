//! Ref matching: protected-branch wildcards (`BranchPattern`), `mirror_branch_regex`
//! (`validate_branch_regex`) and the mirror's ref filter (`RefFilter`).
//!
//! Input: a `mirror_branch_regex`, a newline, a protected-branch pattern, then branch names one
//! a line. Properties: a pattern matches exactly what the anchored regex GitLab builds from it
//! matches (segments quoted, `*` as `.*`), so a pattern without `*` matches only its own name,
//! and every pattern matches its own text; a regex is accepted only within 255 characters, with
//! a one-line reason otherwise; tags are always covered and other namespaces never; each filter
//! covers a branch exactly when its patterns or regex say so.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushmirror::model::refmatch::{
    validate_branch_regex, BranchPattern, RefFilter, MAX_BRANCH_REGEX_LEN,
};
use regex::Regex;

/// The regex GitLab's `RefMatcher` builds for a wildcard pattern.
fn gitlab_regex(pattern: &str) -> Option<Regex> {
    let body: Vec<String> = pattern.split('*').map(regex::escape).collect();
    // A huge pattern can exceed the regex size limit; there is nothing to compare against then.
    Regex::new(&format!(r"(?s)\A{}\z", body.join(".*"))).ok()
}

fn check_filter(filter: &RefFilter, covers_branch: impl Fn(&str) -> bool, names: &[&str]) {
    for name in names {
        assert_eq!(
            filter.covers(&format!("refs/tags/{name}")),
            !name.is_empty()
        );
        assert_eq!(
            filter.covers(&format!("refs/heads/{name}")),
            covers_branch(name),
            "{name:?}"
        );
        assert!(!filter.covers(&format!("refs/remotes/{name}")));
        assert!(!filter.covers(name) || name.starts_with("refs/"));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = input.split('\n');
    let regex_text = lines.next().unwrap_or_default();
    let pattern_text = lines.next().unwrap_or_default();
    let names: Vec<&str> = lines.collect();

    let pattern = BranchPattern::new(pattern_text);
    assert_eq!(pattern.as_str(), pattern_text);
    assert!(pattern.matches(pattern_text));
    let oracle = gitlab_regex(pattern_text);
    for name in &names {
        let matched = pattern.matches(name);
        if !pattern_text.contains('*') {
            assert_eq!(
                matched,
                name == &pattern_text,
                "{pattern_text:?} on {name:?}"
            );
        }
        if let Some(oracle) = &oracle {
            assert_eq!(
                matched,
                oracle.is_match(name),
                "{pattern_text:?} on {name:?}"
            );
        }
    }

    let patterns: Vec<&str> = names.iter().copied().chain([pattern_text]).collect();
    let protected = RefFilter::protected(patterns.iter().copied());
    check_filter(
        &protected,
        |b| patterns.iter().any(|p| BranchPattern::new(*p).matches(b)),
        &names,
    );
    check_filter(
        &RefFilter::protected(Vec::<String>::new()),
        |b| !b.is_empty(),
        &names,
    );
    check_filter(&RefFilter::All, |b| !b.is_empty(), &names);

    match validate_branch_regex(regex_text) {
        Ok(regex) => {
            assert!(regex_text.chars().count() <= MAX_BRANCH_REGEX_LEN);
            assert_eq!(regex.as_str(), regex_text);
            check_filter(
                &RefFilter::Regex(regex.clone()),
                |b| regex.is_match(b),
                &names,
            );
            // GitLab's reading: the local branches the regex matches, as literal patterns.
            let local: Vec<&str> = names.iter().copied().filter(|b| !b.contains('*')).collect();
            let gitlab = RefFilter::gitlab_branch_regex(&regex, local.iter().copied());
            let chosen: Vec<&str> = local
                .iter()
                .copied()
                .filter(|b| regex.is_match(b))
                .collect();
            check_filter(
                &gitlab,
                |b| match chosen.is_empty() {
                    true => !b.is_empty(),
                    false => chosen.contains(&b),
                },
                &names,
            );
        }
        Err(reason) => {
            assert!(!reason.contains('\n'), "{reason:?}");
            let too_long = regex_text.chars().count() > MAX_BRANCH_REGEX_LEN;
            assert_eq!(reason.starts_with("is too long"), too_long, "{reason:?}");
            if !too_long {
                assert!(reason.starts_with("not valid RE2 syntax: "), "{reason:?}");
                assert!(Regex::new(regex_text).is_err());
            }
        }
    }
});
