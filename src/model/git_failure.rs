//! What a failed git transport means, in words a person can act on. git's own text for the
//! common failures misleads: a wrong password reads "could not read Username … terminal prompts
//! disabled", because git would have asked someone. [`explain`] recognises those texts and
//! names the cause; the caller keeps git's (scrubbed) output beneath it for detail.

/// A known failure: its explanation, first line of a mirror's `last_error`.
struct Known {
    /// Any of these (lower-cased) in git's output identifies the failure.
    needles: &'static [&'static str],
    explanation: &'static str,
    /// A one-word name for metrics (`pushmirror_mirror_update_failures_total{kind}`).
    kind: &'static str,
}

/// Checked in order; the first match wins, so specific texts come before general ones.
const KNOWN: &[Known] = &[
    Known {
        needles: &["returned error: 403", "http 403", "403 forbidden"],
        explanation: "The remote refused access (HTTP 403): the credentials were accepted but may not push to this repository.",
        kind: "forbidden",
    },
    Known {
        needles: &[
            "could not read username",
            "could not read password",
            "authentication failed",
            "returned error: 401",
            "http basic: access denied",
            "invalid username or password",
        ],
        explanation: "Authentication failed (HTTP 401): the remote did not accept the mirror's user name and password or token.",
        kind: "auth",
    },
    Known {
        needles: &["permission denied (publickey", "permission denied, please try again"],
        explanation: "SSH authentication failed: the remote did not accept the mirror's key.",
        kind: "ssh_auth",
    },
    Known {
        needles: &["host key verification failed", "remote host identification has changed"],
        explanation: "SSH host key verification failed: the remote's host key is not one of the mirror's pinned host keys.",
        kind: "host_key",
    },
    Known {
        needles: &[
            "returned error: 404",
            "repository not found",
            "does not appear to be a git repository",
            "not found",
        ],
        explanation: "The remote repository was not found: check the mirror's URL (or whether the credentials may see it).",
        kind: "not_found",
    },
    Known {
        needles: &["could not resolve host", "name or service not known", "temporary failure in name resolution"],
        explanation: "The remote's host name could not be resolved.",
        kind: "dns",
    },
    Known {
        needles: &["connection refused", "failed to connect", "couldn't connect", "no route to host", "network is unreachable"],
        explanation: "Could not connect to the remote.",
        kind: "connect",
    },
    Known {
        needles: &["timed out", "operation too slow", "timeout", "did not finish within"],
        explanation: "The remote did not answer in time.",
        kind: "timeout",
    },
    Known {
        needles: &["ssl certificate problem", "server certificate verification failed", "certificate verify failed"],
        explanation: "The remote's TLS certificate could not be verified.",
        kind: "tls",
    },
];

/// The explanation for git's output `text`, when it is a failure we recognise.
pub fn explain(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    KNOWN
        .iter()
        .find(|k| k.needles.iter().any(|n| lower.contains(n)))
        .map(|k| k.explanation)
}

/// A one-word kind of the failure described by `text` (a `last_error`, or git's output) for
/// metrics: one of the known kinds, `rejected` when the remote refused refs, `host_key` for a
/// refused host key, otherwise `other`.
pub fn kind(text: &str) -> &'static str {
    let lower = text.to_ascii_lowercase();
    if let Some(k) = KNOWN
        .iter()
        .find(|k| k.needles.iter().any(|n| lower.contains(n)))
    {
        return k.kind;
    }
    if lower.contains("host key") {
        "host_key"
    } else if lower.contains("[rejected]")
        || lower.contains("[remote rejected]")
        || lower.contains("divergent")
    {
        "rejected"
    } else {
        "other"
    }
}

/// `text` with its explanation (if any) as the first paragraph.
pub fn with_explanation(text: &str) -> String {
    match explain(text) {
        Some(why) if !text.is_empty() => format!("{why}\n\n{text}"),
        Some(why) => why.to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_have_one_word_kinds() {
        for (text, want) in [
            (
                "fatal: could not read Username for 'https://x': terminal prompts disabled",
                "auth",
            ),
            (
                &with_explanation(
                    "fatal: unable to access 'https://x/': Could not resolve host: x",
                ),
                "dns",
            ),
            (
                "git push did not finish within 60 s and was killed",
                "timeout",
            ),
            (
                "! refs/heads/main:refs/heads/main [rejected] (fetch first)",
                "rejected",
            ),
            (
                "The remote's SSH host key is not one of the pinned host keys",
                "host_key",
            ),
            ("something odd", "other"),
        ] {
            assert_eq!(kind(text), want, "{text}");
        }
    }

    #[test]
    fn a_wrong_password_is_called_an_authentication_failure() {
        let git =
            "fatal: could not read Username for 'https://example.com': terminal prompts disabled";
        let text = with_explanation(git);
        assert!(
            text.starts_with("Authentication failed (HTTP 401)"),
            "{text}"
        );
        assert!(text.ends_with(git), "git's own words stay beneath: {text}");
        let git = "remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://example.com/x.git/'";
        assert!(explain(git).unwrap().starts_with("Authentication failed"));
    }

    #[test]
    fn forbidden_is_not_mistaken_for_bad_credentials() {
        let git = "remote: You are not allowed to push code to this project.\nfatal: unable to access 'https://h/x.git/': The requested URL returned error: 403";
        assert!(explain(git).unwrap().contains("HTTP 403"));
    }

    #[test]
    fn ssh_and_network_failures_are_named() {
        assert!(explain("git@h: Permission denied (publickey).")
            .unwrap()
            .starts_with("SSH authentication"));
        assert!(explain("Host key verification failed.")
            .unwrap()
            .contains("host key"));
        assert!(
            explain("fatal: unable to access 'https://h/': Could not resolve host: h")
                .unwrap()
                .contains("resolved")
        );
        assert!(
            explain("Failed to connect to 127.0.0.1 port 9: Connection refused")
                .unwrap()
                .starts_with("Could not connect")
        );
        assert!(explain("fatal: repository 'https://h/x.git/' not found")
            .unwrap()
            .contains("not found"));
    }

    #[test]
    fn unknown_text_is_left_alone() {
        assert_eq!(explain("error: failed to push some refs"), None);
        assert_eq!(with_explanation("something odd"), "something odd");
    }
}
