//! Notification e-mail: a mirror that ends `failed` tells the project's Maintainers and Owners
//! (direct or inherited members, active, with an address) once per failure streak, as GitLab's
//! `RemoteMirrorNotificationWorker` does. Sent by the `mirror_failure_email` job after the
//! transition to `failed` committed; without SMTP settings nothing is queued or sent.
//!
//! A pull mirror's streak (`model::pull_health`) tells the same people once too, with the sync
//! that began it (a failure, or diverged refs, named): the `pull_mirror_failure_email` job
//! ([`PullMirrorFailureEmail`]), enqueued only by that sync, so no flag is needed to send it
//! once; it sends nothing if the mirror recovered meanwhile.

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::model::access::AccessLevel;
use crate::model::entities::Project;
use crate::model::notifications::{
    mirror_failed, pull_mirror_failed, MirrorFailure, PullMirrorFailure,
};
use crate::model::pull_health::failing;
use crate::queue::{JobKind, Queue};

use super::error::ServiceError;
use super::members::{all_members, Target};

/// The `mirror_failure_email` job kind: mirror `mirror_id`'s failure e-mail, queued with its
/// transition to `failed` (any node sends it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorFailureEmail {
    pub mirror_id: i64,
}

impl JobKind for MirrorFailureEmail {
    const NAME: &'static str = "mirror_failure_email";
    const QUEUE: Queue = Queue::Mail;

    fn dedup_key(&self) -> String {
        format!("mirror-failure-email:{}", self.mirror_id)
    }

    /// JSON, or the decimal mirror id that rows written before JSON payloads hold.
    fn decode(payload: &str) -> Result<Self, String> {
        if let Ok(mirror_id) = payload.trim().parse() {
            return Ok(MirrorFailureEmail { mirror_id });
        }
        serde_json::from_str(payload).map_err(|e| format!("bad {} payload: {e}", Self::NAME))
    }
}

/// What became of a failure e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Sent to this many people.
    To(usize),
    /// Nothing to send: no SMTP settings, the streak was told already, the mirror recovered
    /// (or is gone), or nobody with an address may hear of it.
    Nothing,
}

/// Sends mirror `id`'s failure e-mail if it is due (at least once: a crash after sending and
/// before recording it sends it again).
pub async fn send_mirror_failure(app: &App, id: i64) -> Result<Sent, ServiceError> {
    let Some(mailer) = &app.mailer else {
        return Ok(Sent::Nothing);
    };
    if !app.store.failure_email_due(id).await? {
        return Ok(Sent::Nothing);
    }
    let Some(mirror) = app.store.mirror_by_id(id).await? else {
        return Ok(Sent::Nothing);
    };
    let Some(project) = app.store.project_by_id(mirror.project_id).await? else {
        return Ok(Sent::Nothing);
    };
    let recipients = maintainer_addresses(app, &project).await?;
    if recipients.is_empty() {
        app.store.mark_failure_emailed(id).await?;
        return Ok(Sent::Nothing);
    }
    let (project_name, project_url) = names(app, &project);
    let last_update_at = mirror
        .last_update_at
        .and_then(crate::model::time::iso8601_millis)
        .unwrap_or_default();
    let message = mirror_failed(&MirrorFailure {
        project_name: &project_name,
        project_url: &project_url,
        mirror_url: &mirror.safe_url(),
        last_update_at: &last_update_at,
        last_error: mirror.last_error.as_deref().unwrap_or_default(),
    });
    mailer
        .send(&recipients, &message.subject, &message.body)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    app.store.mark_failure_emailed(id).await?;
    Ok(Sent::To(recipients.len()))
}

/// The addresses of `project`'s Maintainers and Owners (direct or inherited, active).
async fn maintainer_addresses(app: &App, project: &Project) -> Result<Vec<String>, ServiceError> {
    Ok(all_members(app, Target::Project(project))
        .await?
        .into_iter()
        .filter(|m| m.access_level >= AccessLevel::Maintainer && !m.user.is_blocked())
        .filter_map(|m| m.user.email)
        .collect())
}

/// The project's human name (`Org / App`) and web URL, as the e-mails show them.
fn names(app: &App, project: &Project) -> (String, String) {
    (
        format!("{} / {}", project.namespace.full_name, project.name),
        format!("{}/{}", app.external_url, project.full_path()),
    )
}

/// The `pull_mirror_failure_email` job kind: pull mirror `pull_mirror_id`'s failure e-mail,
/// queued by the sync that began its failure streak (any node sends it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullMirrorFailureEmail {
    pub pull_mirror_id: i64,
}

impl JobKind for PullMirrorFailureEmail {
    const NAME: &'static str = "pull_mirror_failure_email";
    const QUEUE: Queue = Queue::Mail;

    fn dedup_key(&self) -> String {
        format!("pull-mirror-failure-email:{}", self.pull_mirror_id)
    }
}

/// Sends pull mirror `id`'s failure e-mail unless it recovered (or is gone) meanwhile (at least
/// once: a crash after sending and before the job ends sends it again).
pub async fn send_pull_mirror_failure(app: &App, id: i64) -> Result<Sent, ServiceError> {
    let Some(mailer) = &app.mailer else {
        return Ok(Sent::Nothing);
    };
    let Some(mirror) = app.store.pull_mirror_by_id(id).await? else {
        return Ok(Sent::Nothing);
    };
    if !failing(&mirror) {
        return Ok(Sent::Nothing);
    }
    let Some(project) = app.store.project_by_id(mirror.project_id).await? else {
        return Ok(Sent::Nothing);
    };
    let recipients = maintainer_addresses(app, &project).await?;
    if recipients.is_empty() {
        return Ok(Sent::Nothing);
    }
    let (project_name, project_url) = names(app, &project);
    let last_update_at = mirror
        .last_update_at
        .and_then(crate::model::time::iso8601_millis)
        .unwrap_or_default();
    let message = pull_mirror_failed(&PullMirrorFailure {
        project_name: &project_name,
        project_url: &project_url,
        upstream_url: &mirror.upstream.safe_url(),
        last_update_at: &last_update_at,
        last_error: mirror.last_error.as_deref().unwrap_or_default(),
        diverged_refs: &mirror.diverged_refs,
    });
    mailer
        .send(&recipients, &message.subject, &message.body)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(Sent::To(recipients.len()))
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn a_failure_email_is_keyed_by_its_mirror_and_reads_the_old_decimal_payload() {
        let row = crate::queue::job(&MirrorFailureEmail { mirror_id: 9 }, 0);
        assert_eq!(row.dedup_key, "mirror-failure-email:9");
        assert_eq!(row.storage, None);
        assert_eq!(
            MirrorFailureEmail::decode(&row.payload),
            Ok(MirrorFailureEmail { mirror_id: 9 })
        );
        assert_eq!(
            MirrorFailureEmail::decode("9"),
            Ok(MirrorFailureEmail { mirror_id: 9 })
        );
    }
}
