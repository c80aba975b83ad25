//! What a failed git transport means, in words a person can act on. git's own text for the
//! common failures misleads: a wrong password reads "could not read Username … terminal prompts
//! disabled", because git would have asked someone. [`explain`] recognises those texts and
//! names the cause; the caller keeps git's (scrubbed) output beneath it for detail.

/// A known failure: its explanation, first line of a mirror's `last_error`.
struct Known {
    /// Any of these (lower-cased) in git's output identifies the failure.
    needles: &'static [&'static str],
    explanation: &'static str,
}

/// Checked in order; the first match wins, so specific texts come before general ones.
const KNOWN: &[Known] = &[
    Known {
        needles: &["returned error: 403", "http 403", "403 forbidden"],
        explanation: "The remote refused access (HTTP 403): the credentials were accepted but may not push to this repository.",
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
    },
    Known {
        needles: &["permission denied (publickey", "permission denied, please try again"],
        explanation: "SSH authentication failed: the remote did not accept the mirror's key.",
    },
    Known {
        needles: &["host key verification failed", "remote host identification has changed"],
        explanation: "SSH host key verification failed: the remote's host key is not one of the mirror's pinned host keys.",
    },
    Known {
        needles: &[
            "returned error: 404",
            "repository not found",
            "does not appear to be a git repository",
            "not found",
        ],
        explanation: "The remote repository was not found: check the mirror's URL (or whether the credentials may see it).",
    },
    Known {
        needles: &["could not resolve host", "name or service not known", "temporary failure in name resolution"],
        explanation: "The remote's host name could not be resolved.",
    },
    Known {
        needles: &["connection refused", "failed to connect", "couldn't connect", "no route to host", "network is unreachable"],
        explanation: "Could not connect to the remote.",
    },
    Known {
        needles: &["timed out", "operation too slow", "timeout"],
        explanation: "The remote did not answer in time.",
    },
    Known {
        needles: &["ssl certificate problem", "server certificate verification failed", "certificate verify failed"],
        explanation: "The remote's TLS certificate could not be verified.",
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
