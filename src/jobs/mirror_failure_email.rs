//! Runs the `mirror_failure_email` job kind (`service::notifications::MirrorFailureEmail`):
//! sends a failed mirror's "Remote mirror update failed" e-mail. Queued in the transaction that
//! records the transition to `failed` (only when SMTP is configured); a send that fails is
//! retried with the runner's backoff. Idempotent: the mirror's `error_notification_sent` flag
//! makes a second run a no-op.
//!
//! Also `pull_mirror_failure_email` (`service::notifications::PullMirrorFailureEmail`,
//! [`run_pull`]): a pull mirror's "Pull mirror update failed", queued by the sync that began
//! its streak.

use std::sync::Arc;

use super::{JobError, Outcome};
use crate::app::App;
use crate::service::notifications::{
    send_mirror_failure, send_pull_mirror_failure, MirrorFailureEmail, PullMirrorFailureEmail, Sent,
};

pub(super) async fn run(app: Arc<App>, job: MirrorFailureEmail) -> Result<Outcome, JobError> {
    let id = job.mirror_id;
    match send_mirror_failure(&app, id).await {
        Ok(Sent::To(n)) => {
            tracing::info!(mirror = id, recipients = n, "mirror failure e-mail sent")
        }
        Ok(Sent::Nothing) => {}
        Err(e) => return Err(JobError::Other(e.to_string())),
    }
    Ok(Outcome::Done)
}

/// Runs one `pull_mirror_failure_email` job.
pub(super) async fn run_pull(
    app: Arc<App>,
    job: PullMirrorFailureEmail,
) -> Result<Outcome, JobError> {
    let id = job.pull_mirror_id;
    match send_pull_mirror_failure(&app, id).await {
        Ok(Sent::To(n)) => {
            tracing::info!(
                pull_mirror = id,
                recipients = n,
                "pull mirror failure e-mail sent"
            )
        }
        Ok(Sent::Nothing) => {}
        Err(e) => return Err(JobError::Other(e.to_string())),
    }
    Ok(Outcome::Done)
}
