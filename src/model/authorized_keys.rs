//! The line OpenSSH's `AuthorizedKeysCommand` mode prints for a known key, as gitlab-shell's
//! `gitlab-shell-authorized-keys-check` does: `command="<program> <args…>",restrict <type>
//! <base64>`. sshd then runs that command (through the login user's shell, `sh -c`) for every
//! session the key opens, with the client's own command in `SSH_ORIGINAL_COMMAND`, and
//! `restrict` denies port, agent and X11 forwarding, ptys and `~/.ssh/rc`.
//!
//! Invariant: a line is only made when every word survives both readers unchanged — sshd's
//! `command="…"` option (which ends at an unescaped `"` and treats `\` as an escape) and the
//! shell (which expands `$`, backticks, globs, spaces…). A word of only [`BARE`] characters goes
//! as it is; any other word is single-quoted, unless it holds a `'`, `"`, `\` or a control
//! character, in which case no line is made at all: broken configuration is worse than none.
//! Also: a database URL carrying a password never goes into the line (it would show in every
//! session's argv, in `ps`).

/// Characters a word may hold unquoted: neither sshd nor a POSIX shell gives them a meaning.
const BARE: &str = "/._:@%+=,-";

/// The options after the forced command: everything a git session does not need is denied.
pub const OPTIONS: &str = "restrict";

/// Why no line can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineProblem {
    /// A word (a path, a URL) that cannot be written safely; the word is named for the operator.
    UnsafeWord(String),
    /// The stored key is not `<type> <base64>…`.
    MalformedKey,
}

/// `word` as it must appear in the forced command, if it can.
pub fn shell_word(word: &str) -> Result<String, LineProblem> {
    let bare = |c: char| c.is_ascii_alphanumeric() || BARE.contains(c);
    if !word.is_empty() && word.chars().all(bare) {
        return Ok(word.to_owned());
    }
    let unquotable = |c: char| matches!(c, '\'' | '"' | '\\') || c.is_control();
    if word.is_empty() || word.chars().any(unquotable) {
        return Err(LineProblem::UnsafeWord(word.to_owned()));
    }
    Ok(format!("'{word}'"))
}

/// The line for `key_line` (a stored OpenSSH line, `<type> <base64> [comment]`; the comment is
/// dropped) whose sessions run `words` (the program first).
pub fn key_line(words: &[String], key_line: &str) -> Result<String, LineProblem> {
    let mut fields = key_line.split_whitespace();
    let (Some(kind), Some(base64)) = (fields.next(), fields.next()) else {
        return Err(LineProblem::MalformedKey);
    };
    let ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '.' | '@'))
    };
    if !ok(kind) || !ok(base64) {
        return Err(LineProblem::MalformedKey);
    }
    let command = words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    Ok(format!("command=\"{command}\",{OPTIONS} {kind} {base64}"))
}

/// Whether a database URL carries a password (`user:pass@`, or a `password=` parameter).
pub fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let userinfo_password = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let query_password = rest.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|p| p.to_ascii_lowercase().starts_with("password="))
    });
    userinfo_password || query_password
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn makes_gitlab_shells_line_without_the_comment() {
        let line = key_line(
            &words(&[
                "/usr/bin/pushmirror",
                "ssh",
                "serve",
                "--data-dir",
                "/var/lib/pushmirror",
                "key-7",
            ]),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx me@laptop",
        )
        .unwrap();
        assert_eq!(
            line,
            "command=\"/usr/bin/pushmirror ssh serve --data-dir /var/lib/pushmirror key-7\",\
             restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx"
        );
    }

    #[test]
    fn quotes_what_the_shell_would_read_and_refuses_what_cannot_be_quoted() {
        assert_eq!(
            shell_word("/srv/push mirror").unwrap(),
            "'/srv/push mirror'"
        );
        assert_eq!(
            shell_word("/srv/$HOME/`x`;y").unwrap(),
            "'/srv/$HOME/`x`;y'"
        );
        assert_eq!(
            shell_word("postgres://pm@127.0.0.1/pm?sslmode=disable&x=1").unwrap(),
            "'postgres://pm@127.0.0.1/pm?sslmode=disable&x=1'"
        );
        for bad in [
            "",
            "/srv/it's",
            "/srv/\"x\"",
            "/srv/a\\b",
            "/srv/a\nb",
            "/srv/\u{7f}",
        ] {
            assert_eq!(
                shell_word(bad),
                Err(LineProblem::UnsafeWord(bad.to_owned())),
                "{bad:?}"
            );
        }
        let refused = key_line(
            &words(&["/usr/bin/pushmirror", "--data-dir", "/srv/\"x"]),
            "ssh-ed25519 AAAA",
        );
        assert_eq!(refused, Err(LineProblem::UnsafeWord("/srv/\"x".into())));
    }

    #[test]
    fn refuses_a_key_that_is_not_type_and_base64() {
        let w = words(&["/p"]);
        assert_eq!(key_line(&w, "ssh-ed25519"), Err(LineProblem::MalformedKey));
        assert_eq!(
            key_line(&w, "ssh-ed25519 AAAA\",x"),
            Err(LineProblem::MalformedKey)
        );
    }

    #[test]
    fn tells_a_url_with_a_password() {
        assert!(url_has_password("postgres://pm:secret@db/pm"));
        assert!(url_has_password("postgres://db/pm?user=pm&password=s"));
        assert!(!url_has_password("postgres://pm@127.0.0.1:5432/pm"));
        assert!(!url_has_password(
            "sqlite:///var/lib/pm/pushmirror.db?mode=rwc"
        ));
        assert!(!url_has_password("postgres://127.0.0.1/pm"));
    }
}
