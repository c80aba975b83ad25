//! The JSON bodies of webhook deliveries, built field by field from domain values, so nothing
//! reaches a receiver unnamed: GitLab's push and tag push payloads (its `Gitlab::DataBuilder::
//! Push`), the remote-mirror and pull-mirror payloads GitLab lacks, and the redaction GitLab applies to what it
//! logs (user e-mails).

use serde_json::{json, Value};

use crate::git::repository::CommitInfo;
use crate::model::access::Visibility;
use crate::model::entities::{Millis, Project, RemoteMirror, User};
use crate::model::hooks::Trigger;
use crate::model::pull::PullMirror;

/// What GitLab's logs show in place of an e-mail address.
pub(super) const REDACTED: &str = "[REDACTED]";

/// ISO 8601 in UTC with milliseconds, as the API shows times.
fn time(ms: Option<Millis>) -> Value {
    ms.and_then(crate::model::time::iso8601_millis)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// GitLab's numeric `visibility_level`.
fn visibility_level(v: Visibility) -> i64 {
    match v {
        Visibility::Private => 0,
        Visibility::Internal => 10,
        Visibility::Public => 20,
    }
}

/// GitLab's hook project fields. pushmirror hosts over HTTP only, so the SSH URLs are null and
/// the deprecated `url` is the HTTP one.
pub(super) fn project(p: &Project, external_url: &str) -> Value {
    let web_url = format!("{external_url}/{}", p.full_path());
    let http_url = format!("{web_url}.git");
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "web_url": web_url,
        "avatar_url": null,
        "git_ssh_url": null,
        "git_http_url": http_url,
        "namespace": p.namespace.name,
        "visibility_level": visibility_level(p.visibility),
        "path_with_namespace": p.full_path(),
        "default_branch": p.default_branch,
        "ci_config_path": null,
        "homepage": web_url,
        "url": http_url,
        "ssh_url": null,
        "http_url": http_url,
    })
}

/// GitLab's deprecated `repository` object of push payloads.
fn repository(p: &Project, external_url: &str) -> Value {
    let web_url = format!("{external_url}/{}", p.full_path());
    let http_url = format!("{web_url}.git");
    json!({
        "name": p.name,
        "url": http_url,
        "description": p.description,
        "homepage": web_url,
        "git_http_url": http_url,
        "git_ssh_url": null,
        "visibility_level": visibility_level(p.visibility),
    })
}

/// One commit of a push payload. Which files changed is not computed (`added`, `modified`,
/// `removed` are empty): it would cost a diff per commit on every push.
fn commit(c: &CommitInfo, web_url: &str) -> Value {
    json!({
        "id": c.id,
        "message": c.message,
        "title": c.title,
        "timestamp": c.committed_date,
        "url": format!("{web_url}/-/commit/{}", c.id),
        "author": {"name": c.author_name, "email": c.author_email},
        "added": [],
        "modified": [],
        "removed": [],
    })
}

/// What a push payload describes: one ref's change and what it brought.
pub(super) struct PushData<'a> {
    pub trigger: Trigger,
    pub before: &'a str,
    pub after: &'a str,
    pub name: &'a str,
    /// The commit the ref now points at (a tag's peeled commit), `None` when deleted.
    pub checkout_sha: Option<&'a str>,
    /// An annotated tag's message.
    pub message: Option<&'a str>,
    /// The newest commits first, at most 20.
    pub commits: &'a [CommitInfo],
    pub total_commits: u64,
    /// Who pushed, when known (a push recorded from the `post-receive` hook command is not).
    pub user: Option<&'a User>,
}

/// GitLab's push (`object_kind: push`) or tag push (`tag_push`) payload.
pub(super) fn push(p: &Project, external_url: &str, d: &PushData<'_>) -> Value {
    let kind = match d.trigger {
        Trigger::TagPush => "tag_push",
        _ => "push",
    };
    let web_url = format!("{external_url}/{}", p.full_path());
    let commits: Vec<Value> = d.commits.iter().map(|c| commit(c, &web_url)).collect();
    json!({
        "object_kind": kind,
        "event_name": kind,
        "before": d.before,
        "after": d.after,
        "ref": d.name,
        "ref_protected": false,
        "checkout_sha": d.checkout_sha,
        "message": d.message,
        "user_id": d.user.map(|u| u.id),
        "user_name": d.user.map(|u| u.name.as_str()),
        "user_username": d.user.map(|u| u.username.as_str()),
        "user_email": null,
        "user_avatar": null,
        "project_id": p.id,
        "project": project(p, external_url),
        "commits": commits,
        "total_commits_count": d.total_commits,
        "push_options": {},
        "repository": repository(p, external_url),
    })
}

/// The remote-mirror payload: `event_name` is `remote_mirror_failed` or
/// `remote_mirror_recovered`; the mirror as it is after the update (URL masked as the API
/// shows it, `last_error` already scrubbed by the update).
pub(super) fn remote_mirror(
    p: &Project,
    external_url: &str,
    m: &RemoteMirror,
    event: &str,
) -> Value {
    json!({
        "object_kind": "remote_mirror",
        "event_name": event,
        "project": project(p, external_url),
        "remote_mirror": {
            "id": m.id,
            "url": m.safe_url(),
            "enabled": m.enabled,
            "update_status": m.update_status.as_str(),
            "last_error": m.last_error,
            "last_update_at": time(m.last_update_at),
            "last_update_started_at": time(m.last_update_started_at),
            "last_successful_update_at": time(m.last_successful_update_at),
        },
    })
}

/// The pull-mirror payload (pushmirror's own: GitLab has no pull-mirror event): `event_name`
/// is `pull_mirror_failed`, `pull_mirror_recovered` or `pull_mirror_paused`; the mirror as the
/// sync left it, in the shape of `GET /projects/:id/mirror/pull` (the upstream's URL masked,
/// `last_error` scrubbed) with the extension fields `paused` and `diverged_refs`.
pub(super) fn pull_mirror(p: &Project, external_url: &str, m: &PullMirror, event: &str) -> Value {
    json!({
        "object_kind": "pull_mirror",
        "event_name": event,
        "project": project(p, external_url),
        "pull_mirror": {
            "id": m.id,
            "url": m.upstream.safe_url(),
            "enabled": m.settings.enabled,
            "update_status": m.update_status.as_str(),
            "last_error": m.last_error,
            "last_update_at": time(m.last_update_at),
            "last_update_started_at": time(m.last_update_started_at),
            "last_successful_update_at": time(m.last_successful_update_at),
            "paused": m.paused,
            "diverged_refs": m.diverged_refs,
        },
    })
}

/// The payload as GitLab logs it: every e-mail address (the pusher's, the commit authors')
/// replaced by `[REDACTED]`. A resend sends this logged form, as GitLab's does.
pub(super) fn redacted(data: &Value) -> Value {
    let mut out = data.clone();
    if let Some(email) = out.get_mut("user_email").filter(|e| !e.is_null()) {
        *email = Value::String(REDACTED.into());
    }
    if let Some(commits) = out.get_mut("commits").and_then(Value::as_array_mut) {
        for c in commits {
            if let Some(email) = c.pointer_mut("/author/email") {
                *email = Value::String(REDACTED.into());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_emails_and_keeps_everything_else() {
        let data = json!({
            "user_email": "a@example.com",
            "commits": [{"id": "1", "author": {"name": "A", "email": "a@example.com"}}],
            "object_kind": "push",
        });
        let r = redacted(&data);
        assert_eq!(r["user_email"], REDACTED);
        assert_eq!(r["commits"][0]["author"]["email"], REDACTED);
        assert_eq!(r["commits"][0]["author"]["name"], "A");
        assert_eq!(r["object_kind"], "push");
        assert_eq!(
            redacted(&json!({"user_email": null}))["user_email"],
            Value::Null
        );
    }
}
