//! Forgejo's push-mirror `branch_filter` (a comma-separated list of branch names) in terms of
//! the one branch selection mirrors have, `mirror_branch_regex`: the list becomes an anchored
//! alternation of the escaped names (`main, release/1.0` → `^(?:main|release/1\.0)$`), and a
//! regex of exactly that form reads back as the list. Any other regex (set through the GitLab
//! API or the web form) has no list form. Tags are pushed whatever the filter, as in Forgejo.

/// What the regex of a list starts and ends with.
const PREFIX: &str = "^(?:";
const SUFFIX: &str = ")$";

/// The branch names of a `branch_filter`, trimmed, blanks dropped, in order.
fn names(filter: &str) -> Vec<&str> {
    filter
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect()
}

/// The `mirror_branch_regex` of a `branch_filter`; `None` (every branch) for an empty list.
pub fn branch_filter_regex(filter: &str) -> Option<String> {
    let names = names(filter);
    if names.is_empty() {
        return None;
    }
    let escaped: Vec<String> = names.iter().map(|n| regex::escape(n)).collect();
    Some(format!("{PREFIX}{}{SUFFIX}", escaped.join("|")))
}

/// The `branch_filter` a `mirror_branch_regex` stands for: empty for none, the list for a regex
/// [`branch_filter_regex`] made, `None` for any other regex.
pub fn branch_filter_of(regex: Option<&str>) -> Option<String> {
    let Some(regex) = regex else {
        return Some(String::new());
    };
    let inner = regex.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let mut names = Vec::new();
    let mut name = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.push(chars.next()?),
            '|' => names.push(std::mem::take(&mut name)),
            c => name.push(c),
        }
    }
    names.push(name);
    // Written back, the list must give this very regex: an unescaped metacharacter does not.
    let filter = names.join(",");
    (branch_filter_regex(&filter).as_deref() == Some(regex)).then_some(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_becomes_an_anchored_alternation_and_reads_back() {
        let re = branch_filter_regex(" main, release/1.0 ,,feat+x").unwrap();
        assert_eq!(re, r"^(?:main|release/1\.0|feat\+x)$");
        assert_eq!(
            branch_filter_of(Some(&re)).as_deref(),
            Some("main,release/1.0,feat+x")
        );
        let matcher = regex::Regex::new(&re).unwrap();
        assert!(matcher.is_match("release/1.0") && !matcher.is_match("release/1x0"));
        assert!(!matcher.is_match("mainline"));
    }

    #[test]
    fn no_list_is_every_branch_and_other_regexes_have_no_list() {
        assert_eq!(branch_filter_regex(" , "), None);
        assert_eq!(branch_filter_of(None).as_deref(), Some(""));
        assert_eq!(branch_filter_of(Some("^rel")), None);
        assert_eq!(branch_filter_of(Some("^(?:a.b)$")), None);
        assert_eq!(branch_filter_of(Some("^(?:a|)$")), None);
    }
}
