//! The e-mails pushmirror sends, composed as GitLab words them: "Remote mirror update failed"
//! (GitLab's `remote_mirror_update_failed_email`) and its pull-mirror counterpart "Pull mirror
//! update failed" (pushmirror's own, naming the diverged refs), each once per failure streak, to
//! a project's Maintainers and Owners. Pure: every value arrives already masked (the URL) and
//! scrubbed (the error); nothing here can reveal a credential it was not given.

/// What the failure e-mail says about the mirror and its project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorFailure<'a> {
    /// The project's human name with its namespace (`Org / Team / App`).
    pub project_name: &'a str,
    /// The project's web URL.
    pub project_url: &'a str,
    /// The mirror URL with credentials masked.
    pub mirror_url: &'a str,
    /// When the failed update ended, as GitLab prints times (ISO 8601, UTC).
    pub last_update_at: &'a str,
    /// The scrubbed `last_error`.
    pub last_error: &'a str,
}

/// A composed message: subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
}

/// GitLab's "Remote mirror update failed" e-mail, with a link to the mirror settings.
pub fn mirror_failed(f: &MirrorFailure<'_>) -> Message {
    // A subject is one header line: no line breaks from a project name can reach it.
    let name: String = f
        .project_name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Message {
        subject: format!("{name} | Remote mirror update failed"),
        body: format!(
            "A remote mirror update has failed.\n\n\
             Source Project: {name} ( {url} )\n\
             Remote mirror: {mirror}\n\
             Last update at: {at}\n\
             Last error:\n{error}\n\n\
             Mirror settings: {url}/-/settings/repository#js-mirror-settings\n\n\
             Logs may contain sensitive data. Please consider before forwarding this email.\n",
            url = f.project_url,
            mirror = f.mirror_url,
            at = f.last_update_at,
            error = f.last_error,
        ),
    }
}

/// What the pull-mirror failure e-mail says about the mirror and its project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullMirrorFailure<'a> {
    /// The project's human name with its namespace (`Org / Team / App`).
    pub project_name: &'a str,
    /// The project's web URL.
    pub project_url: &'a str,
    /// The upstream's URL with credentials masked.
    pub upstream_url: &'a str,
    /// When the sync ended, ISO 8601 in UTC.
    pub last_update_at: &'a str,
    /// The scrubbed `last_error`.
    pub last_error: &'a str,
    /// The refs the mirror left as they were because they diverged, full names.
    pub diverged_refs: &'a [String],
}

/// Diverged refs named one a line in the e-mail at most; the rest are counted.
const DIVERGED_LISTED: usize = 50;

/// A subject is one header line: no line breaks from a project name can reach it.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The "Pull mirror update failed" e-mail: the upstream (masked), the error and each diverged
/// ref by name, with a link to the mirror settings.
pub fn pull_mirror_failed(f: &PullMirrorFailure<'_>) -> Message {
    let name = one_line(f.project_name);
    let mut diverged = String::new();
    if !f.diverged_refs.is_empty() {
        diverged.push_str(
            "\nDiverged refs (both the upstream and this project moved; they are not updated):\n",
        );
        for r in f.diverged_refs.iter().take(DIVERGED_LISTED) {
            diverged.push_str(&format!("  {}\n", one_line(r)));
        }
        if f.diverged_refs.len() > DIVERGED_LISTED {
            diverged.push_str(&format!(
                "  … and {} more\n",
                f.diverged_refs.len() - DIVERGED_LISTED
            ));
        }
    }
    Message {
        subject: format!("{name} | Pull mirror update failed"),
        body: format!(
            "A pull mirror update has failed.\n\n\
             Project: {name} ( {url} )\n\
             Pull mirror from: {upstream}\n\
             Last update at: {at}\n\
             Last error:\n{error}\n\
             {diverged}\n\
             Mirror settings: {url}/-/settings/repository#js-mirror-settings\n\n\
             Logs may contain sensitive data. Please consider before forwarding this email.\n",
            url = f.project_url,
            upstream = f.upstream_url,
            at = f.last_update_at,
            error = f.last_error,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_email_names_project_mirror_time_error_and_settings() {
        let m = mirror_failed(&MirrorFailure {
            project_name: "Org / App\r\nBcc: x@y.z",
            project_url: "http://pm.example/org/app",
            mirror_url: "https://*****:*****@git.example.com/app.git",
            last_update_at: "2026-12-02T10:00:00.000Z",
            last_error: "Authentication failed (HTTP 401)",
        });
        assert_eq!(
            m.subject,
            "Org / App  Bcc: x@y.z | Remote mirror update failed"
        );
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'));
        assert!(m.body.starts_with("A remote mirror update has failed."));
        assert!(m
            .body
            .contains("Remote mirror: https://*****:*****@git.example.com/app.git"));
        assert!(m.body.contains("Last update at: 2026-12-02T10:00:00.000Z"));
        assert!(m.body.contains("Authentication failed (HTTP 401)"));
        assert!(m
            .body
            .contains("http://pm.example/org/app/-/settings/repository#js-mirror-settings"));
    }

    #[test]
    fn the_pull_failure_email_names_the_upstream_error_and_each_diverged_ref() {
        let many: Vec<String> = (0..52).map(|i| format!("refs/heads/b{i}")).collect();
        let m = pull_mirror_failed(&PullMirrorFailure {
            project_name: "Org / App\nBcc: x@y.z",
            project_url: "http://pm.example/org/app",
            upstream_url: "https://*****:*****@git.example.com/up.git",
            last_update_at: "2026-12-02T10:00:00.000Z",
            last_error: "52 diverged refs not updated",
            diverged_refs: &many,
        });
        assert_eq!(
            m.subject,
            "Org / App Bcc: x@y.z | Pull mirror update failed"
        );
        assert!(m.body.starts_with("A pull mirror update has failed."));
        assert!(m
            .body
            .contains("Pull mirror from: https://*****:*****@git.example.com/up.git"));
        assert!(m
            .body
            .contains("Last error:\n52 diverged refs not updated\n"));
        assert!(m.body.contains("\n  refs/heads/b0\n"), "{}", m.body);
        assert!(m.body.contains("\n  refs/heads/b49\n"));
        assert!(!m.body.contains("refs/heads/b50\n"));
        assert!(m.body.contains("… and 2 more"));
        assert!(m.body.contains("#js-mirror-settings"));

        let none = pull_mirror_failed(&PullMirrorFailure {
            diverged_refs: &[],
            last_error: "Authentication failed (HTTP 401)",
            ..PullMirrorFailure {
                project_name: "App",
                project_url: "http://pm.example/app",
                upstream_url: "http://127.0.0.1/up.git",
                last_update_at: "",
                last_error: "",
                diverged_refs: &[],
            }
        });
        assert!(!none.body.contains("Diverged"), "{}", none.body);
    }
}
