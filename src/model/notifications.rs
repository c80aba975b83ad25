//! The e-mails pushmirror sends, composed as GitLab words them: today "Remote mirror update
//! failed" (GitLab's `remote_mirror_update_failed_email`), once per failure streak, to a
//! project's Maintainers and Owners. Pure: every value arrives already masked (the URL) and
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
}
