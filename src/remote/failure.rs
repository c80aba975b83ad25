//! How reaching a remote failed, typed by what can fix it, with a message a person can read and
//! that never carries a secret: every failure leaving a [`GitRemote`](super::GitRemote) is
//! scrubbed of the remote's credentials and bounded in length before anyone sees it.

use secrecy::{ExposeSecret, SecretString};

use crate::git::GitError;
use crate::model::git_failure::with_explanation;
use crate::model::url::scrub;

/// Longest message kept; git's output past this is noise for a person.
const MAX_MESSAGE_LEN: usize = 4000;

/// Why work against a remote failed. The message is for a person (a mirror's `last_error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteFailure {
    /// A retry may fix it (the network, authentication, a remote that refused, a local hiccup).
    Retryable(String),
    /// Only a person can fix it (an invalid setting, diverged refs).
    Final(String),
    /// ssh refused the remote's host key (none pinned, or another one): final, and the message
    /// names what the remote offers, what is pinned, and how to re-pin.
    HostKeyRefused(String),
}

impl RemoteFailure {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RemoteFailure::Retryable(_))
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            RemoteFailure::Retryable(m)
            | RemoteFailure::Final(m)
            | RemoteFailure::HostKeyRefused(m) => m,
        }
    }

    /// A failed git process in words: its stderr, plus the refs `push --porcelain` reported as
    /// refused (on stdout, `!\t<src>:<dst>\t<why>`), explained where git's text is cryptic.
    /// Retryable: whatever git met may pass.
    pub fn from_git(e: GitError) -> RemoteFailure {
        RemoteFailure::Retryable(match e {
            GitError::Failed { stderr, stdout, .. } => {
                let rejected: Vec<String> = stdout
                    .lines()
                    .filter(|l| l.starts_with('!'))
                    .map(|l| l.replace('\t', " "))
                    .collect();
                let text = [stderr.trim().to_owned(), rejected.join("\n")]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n");
                if text.is_empty() {
                    "git failed without a message".to_owned()
                } else {
                    with_explanation(&text)
                }
            }
            other => other.to_string(),
        })
    }

    /// The same failure with every secret in `secrets` masked and the message bounded.
    pub(crate) fn scrubbed(self, secrets: &[SecretString]) -> RemoteFailure {
        let secrets: Vec<&str> = secrets.iter().map(|s| s.expose_secret()).collect();
        let clean = |m: String| {
            let mut s = scrub(&m, &secrets);
            if s.len() > MAX_MESSAGE_LEN {
                let mut cut = MAX_MESSAGE_LEN;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
            }
            s
        };
        match self {
            RemoteFailure::Retryable(m) => RemoteFailure::Retryable(clean(m)),
            RemoteFailure::Final(m) => RemoteFailure::Final(clean(m)),
            RemoteFailure::HostKeyRefused(m) => RemoteFailure::HostKeyRefused(clean(m)),
        }
    }
}

impl std::fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_masks_every_secret_and_bounds_the_message() {
        let secret = SecretString::from("hunter2-token");
        let f = RemoteFailure::HostKeyRefused(format!(
            "auth hunter2-token failed {}",
            "x".repeat(5000)
        ));
        let clean = f.scrubbed(&[secret]);
        assert!(matches!(clean, RemoteFailure::HostKeyRefused(_)));
        assert!(
            !clean.message().contains("hunter2-token"),
            "{}",
            clean.message()
        );
        assert!(clean.message().len() <= MAX_MESSAGE_LEN);
        assert!(!clean.is_retryable());
    }

    #[test]
    fn a_failed_git_names_its_stderr_and_refused_refs() {
        let f = RemoteFailure::from_git(GitError::Failed {
            subcommand: "push",
            stderr: "error: failed to push some refs\n".into(),
            stdout: "To x\n!\trefs/heads/a:refs/heads/a\t[rejected] (stale info)\nDone\n".into(),
            code: Some(1),
        });
        assert!(f.is_retryable());
        assert!(f.message().contains("failed to push some refs"), "{f}");
        assert!(
            f.message()
                .contains("! refs/heads/a:refs/heads/a [rejected] (stale info)"),
            "{f}"
        );
    }
}
