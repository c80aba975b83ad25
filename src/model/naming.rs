//! The names people give things: a project's `name` and `path` (and the path GitLab derives from
//! a name), a group's `name` and `path` (with the names GitLab reserves for its own routes), and
//! branch names as git accepts them. Pure rules with GitLab's error wording.

/// GitLab's message for a `path` that breaks [`valid_path`].
pub const PATH_MESSAGE: &str = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'";
/// GitLab's message for a `name` that breaks [`valid_name`].
pub const NAME_MESSAGE: &str = "can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. It must start with a letter, digit, emoji, or '_'.";

/// GitLab's message for a group `path` that breaks [`valid_group_path`].
pub const GROUP_PATH_MESSAGE: &str = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or '.atom'.";
/// GitLab's message for a group `name` that breaks [`valid_group_name`].
pub const GROUP_NAME_MESSAGE: &str = "can contain only letters, digits, emoji, '_', '.', dash, space, parenthesis. It must start with letter, digit, emoji or '_'.";

/// Top-level paths GitLab keeps for its own routes (`Gitlab::PathRegex::TOP_LEVEL_ROUTES`): a
/// top-level group so named would hide them (`api` hides ours too).
const TOP_LEVEL_ROUTES: &[&str] = &[
    "-",
    ".well-known",
    "404.html",
    "422.html",
    "500.html",
    "502.html",
    "503.html",
    "admin",
    "api",
    "apple-touch-icon-precomposed.png",
    "apple-touch-icon.png",
    "assets",
    "dashboard",
    "deploy.html",
    "explore",
    "favicon.ico",
    "favicon.png",
    "files",
    "groups",
    "health_check",
    "help",
    "import",
    "jwt",
    "login",
    "oauth",
    "profile",
    "projects",
    "public",
    "robots.txt",
    "s",
    "search",
    "sitemap",
    "sitemap.xml",
    "sitemap.xml.gz",
    "slash-command-logo.png",
    "snippets",
    "unsubscribes",
    "uploads",
    "users",
    "v2",
];

/// Whether `path` is a group path GitLab accepts (`Gitlab::PathRegex.namespace_format_regex`):
/// letters, digits, `_`, `-`, `.`; not starting with `-`, not ending in `.`, `.git` or `.atom`.
pub fn valid_group_path(path: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let Some(first) = path.chars().next() else {
        return false;
    };
    let last = path.chars().last().unwrap_or(first);
    (first.is_ascii_alphanumeric() || matches!(first, '_' | '.'))
        && path.chars().all(ok_char)
        && (last.is_ascii_alphanumeric() || matches!(last, '_' | '-'))
        && !path.ends_with(".git")
        && !path.ends_with(".atom")
        && path.len() <= 255
}

/// Whether a group path is one GitLab reserves (`<path> is a reserved name`): its own top-level
/// routes for a top-level group, `-` (the separator of GitLab's routes) below.
pub fn reserved_group_path(path: &str, top_level: bool) -> bool {
    let lower = path.to_ascii_lowercase();
    lower == "-" || (top_level && TOP_LEVEL_ROUTES.contains(&lower.as_str()))
}

/// Whether `name` is a group name GitLab accepts (`Gitlab::Regex.group_name_regex`).
pub fn valid_group_name(name: &str) -> bool {
    let emoji = |c: char| ('\u{00A9}'..='\u{1f9ff}').contains(&c);
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphanumeric() || c == '_' || emoji(c))
        && chars.all(|c| {
            c.is_alphanumeric() || emoji(c) || matches!(c, '_' | '.' | '-' | ' ' | '(' | ')')
        })
        && name.len() <= 255
}

/// The `path` GitLab derives from a `name`: lower case, runs of other characters become `-`.
pub fn path_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Whether `path` is a project path GitLab accepts.
pub fn valid_path(path: &str) -> bool {
    let mut chars = path.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !path.ends_with(".git")
        && !path.ends_with(".atom")
        && !path.contains("..")
        && path.len() <= 255
}

/// Whether `name` is a project name GitLab accepts.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '+' | '-' | ' '))
        && name.len() <= 255
}

/// Whether `name` is a branch name git accepts (the rules of `git check-ref-format --branch`).
pub fn valid_branch_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.ends_with('.')
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && name != "@"
        && !name
            .split('/')
            .any(|part| part.starts_with('.') || part.ends_with(".lock"))
        && !name.chars().any(|c| {
            c.is_ascii_control()
                || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\' | '\u{7f}')
        })
}

/// Whether `name` may name a protected branch (or a wildcard of them): not blank, no control
/// characters, at most 255 bytes. Returns the trimmed name.
pub fn protected_branch_name(name: &str) -> Option<&str> {
    let name = name.trim();
    (!name.is_empty() && !name.chars().any(char::is_control) && name.len() <= 255).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_and_validates_paths() {
        assert_eq!(path_from_name("My Project!"), "my-project");
        assert_eq!(path_from_name("  --a  b--  "), "a-b");
        assert!(valid_path("my-project.v2"));
        for bad in ["-x", "x.git", "x.atom", "", "a/b", "a b", "a..b"] {
            assert!(!valid_path(bad), "{bad}");
        }
        assert!(!valid_path(&"a".repeat(256)));
        assert!(valid_name("My project 2"));
        assert!(!valid_name("-bad"));
        assert!(!valid_name(""));
    }

    #[test]
    fn group_paths_and_names() {
        for ok in ["org", "_x", ".hidden", "a-b_c.d", "team-"] {
            assert!(valid_group_path(ok), "{ok}");
        }
        for bad in ["", "-x", "x.", "x.git", "x.atom", "a/b", "a b", "ü"] {
            assert!(!valid_group_path(bad), "{bad}");
        }
        assert!(reserved_group_path("API", true) && reserved_group_path("groups", true));
        assert!(
            !reserved_group_path("api", false),
            "only top-level routes are reserved"
        );
        assert!(!reserved_group_path("acme", true));
        assert!(valid_group_name("My Team (core)") && valid_group_name("Équipe 🚀"));
        assert!(!valid_group_name("(x)") && !valid_group_name("") && !valid_group_name("a/b"));
    }

    #[test]
    fn branch_names_follow_git() {
        for ok in ["main", "release/1.0", "feat-x_y"] {
            assert!(valid_branch_name(ok), "{ok}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "a~1", "x.lock", "a/.b", "a//b", "@", "a@{1}", "x/",
        ] {
            assert!(!valid_branch_name(bad), "{bad}");
        }
    }

    #[test]
    fn protected_branch_names_are_trimmed_and_bounded() {
        assert_eq!(protected_branch_name("  release-*  "), Some("release-*"));
        assert_eq!(protected_branch_name("   "), None);
        assert_eq!(protected_branch_name("a\u{0}b"), None);
        assert_eq!(protected_branch_name(&"b".repeat(256)), None);
    }
}
