//! Which refs a push mirror covers. This module owns GitLab's protected-branch wildcard
//! ([`BranchPattern`]), the reference matcher Gitaly builds for `UpdateRemoteMirror`
//! ([`RefFilter`]: tags always match, branches are narrowed by protected-branch patterns or by
//! `mirror_branch_regex`), and the validation of `mirror_branch_regex`. It answers questions about
//! names only; it never looks at a repository.

use regex::Regex;

/// Longest `mirror_branch_regex` GitLab accepts, in characters: the model validation's maximum,
/// which also bounds the cost of compiling an untrusted pattern.
pub const MAX_BRANCH_REGEX_LEN: usize = 255;

/// A protected-branch name or wildcard pattern, such as `main` or `release-*`.
///
/// It matches a branch name (without `refs/heads/`) when it is equal to it or, when it contains
/// `*`, when the whole name matches with every `*` standing for any run of characters, `/`
/// included: `release-*` matches `release-1.0` and `release-a/b`. This is GitLab's `RefMatcher`
/// and the per-pattern part of Gitaly's reference matcher, which quote the segments between `*`s
/// and join them with `.*` inside an anchored regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchPattern {
    /// The pattern as GitLab stores it, kept so it can be shown back unchanged.
    pattern: String,
    /// The pattern split on `*`, computed once so matching never builds anything: one segment
    /// means a literal name, and each further segment follows a wildcard.
    segments: Vec<String>,
}

impl BranchPattern {
    /// Parses a protected-branch name or wildcard pattern. Every string is a valid pattern.
    pub fn new(pattern: impl Into<String>) -> Self {
        let pattern = pattern.into();
        let segments = pattern.split('*').map(str::to_owned).collect();
        Self { pattern, segments }
    }

    /// The pattern as given to [`BranchPattern::new`].
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `branch` (a name without `refs/heads/`) is covered by this pattern.
    pub fn matches(&self, branch: &str) -> bool {
        let Some((first, rest)) = self.segments.split_first() else {
            return false; // unreachable: `split` always yields at least one segment
        };
        let Some((last, middle)) = rest.split_last() else {
            return branch == first;
        };
        // Anchor both ends first so the prefix and suffix cannot overlap, then place the middle
        // segments leftmost-first: with `*` as the only operator, the leftmost placement of each
        // segment leaves the most room for the next, so it finds a match whenever one exists.
        let Some(mut remaining) = branch
            .strip_prefix(first.as_str())
            .and_then(|rest| rest.strip_suffix(last.as_str()))
        else {
            return false;
        };
        for segment in middle {
            match remaining.find(segment.as_str()) {
                Some(at) => remaining = &remaining[at + segment.len()..],
                None => return false,
            }
        }
        true
    }
}

/// The reference matcher of a mirror: which `refs/heads/*` and `refs/tags/*` refs it pushes and
/// deletes. Tags are always covered, whatever the variant, exactly as in Gitaly.
#[derive(Debug, Clone)]
pub enum RefFilter {
    /// Every branch (neither `only_protected_branches` nor `mirror_branch_regex` is set).
    All,
    /// Only branches matching one of the patterns (`only_protected_branches`: the project's
    /// protected-branch names and wildcards). An empty list built directly covers no branch;
    /// use [`RefFilter::protected`] to get Gitaly's treatment of an empty list.
    Patterns(Vec<BranchPattern>),
    /// Only branches whose name (without `refs/heads/`) the regex finds a match in, unanchored,
    /// like Rails' `match?` on `mirror_branch_regex`. Unlike Gitaly's matcher, this also judges
    /// remote-only branches by the regex; see [`RefFilter::gitlab_branch_regex`] for the exact
    /// GitLab behaviour.
    Regex(Regex),
}

impl RefFilter {
    /// The filter for `only_protected_branches`, given the project's protected-branch patterns.
    ///
    /// Decision, copied from Gitaly on purpose: an **empty** list yields [`RefFilter::All`].
    /// Gitaly builds `^refs/heads/(.+)$` when it receives no pattern, so a project that enables
    /// `only_protected_branches` without protecting any branch has every branch mirrored.
    pub fn protected<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let patterns: Vec<BranchPattern> = patterns.into_iter().map(BranchPattern::new).collect();
        if patterns.is_empty() {
            Self::All
        } else {
            Self::Patterns(patterns)
        }
    }

    /// The filter GitLab really applies for `mirror_branch_regex`: Rails evaluates the regex
    /// against the *local* branch names and sends Gitaly the names that match, as literal
    /// patterns. Two consequences follow, and this constructor reproduces both: a remote-only
    /// branch is never covered (so it is never deleted), and when no local branch matches, the
    /// list is empty and every branch is covered (the [`RefFilter::protected`] quirk).
    pub fn gitlab_branch_regex<'b>(
        regex: &Regex,
        local_branches: impl IntoIterator<Item = &'b str>,
    ) -> Self {
        // Branch names cannot contain `*` (git check-ref-format), so each name is a literal.
        Self::protected(local_branches.into_iter().filter(|b| regex.is_match(b)))
    }

    /// Whether the mirror covers `full_ref`, a full ref name such as `refs/heads/main` or
    /// `refs/tags/v1.0`. Tags always are; branches depend on the filter; anything else is not.
    pub fn covers(&self, full_ref: &str) -> bool {
        if let Some(tag) = full_ref.strip_prefix("refs/tags/") {
            return !tag.is_empty();
        }
        let Some(branch) = full_ref.strip_prefix("refs/heads/") else {
            return false;
        };
        match self {
            Self::All => !branch.is_empty(),
            Self::Patterns(patterns) => patterns.iter().any(|p| p.matches(branch)),
            Self::Regex(regex) => regex.is_match(branch),
        }
    }
}

/// Validates a `mirror_branch_regex` and compiles it. The error is the GitLab field error for
/// `mirror_branch_regex`.
///
/// Rust's `regex` implements the RE2 family of syntax: look-around and backreferences are
/// refused as RE2 refuses them. Known differences that do not affect validity: the reason text
/// differs from RE2's, and Perl classes such as `\d` are Unicode-aware here but ASCII in RE2.
pub fn validate_branch_regex(s: &str) -> Result<Regex, String> {
    if s.chars().count() > MAX_BRANCH_REGEX_LEN {
        return Err(format!(
            "is too long (maximum is {MAX_BRANCH_REGEX_LEN} characters)"
        ));
    }
    Regex::new(s).map_err(|e| format!("not valid RE2 syntax: {}", short_reason(&e)))
}

/// The one-line reason out of `regex`'s multi-line error, which otherwise draws the pattern with a
/// caret under the fault: a field error is shown on one line.
fn short_reason(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|line| line.trim().strip_prefix("error: "))
            .unwrap_or("invalid pattern")
            .to_owned(),
        regex::Error::CompiledTooBig(_) => "pattern too large".to_owned(),
        _ => "invalid pattern".to_owned(),
    }
}

#[cfg(test)]
mod tests;
