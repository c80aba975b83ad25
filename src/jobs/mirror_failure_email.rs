//! The `mirror_failure_email` job kind: sends a failed mirror's "Remote mirror update failed"
//! e-mail (`service::notifications`). Queued in the transaction that records the transition to
//! `failed` (only when SMTP is configured); a send that fails is retried with the runner's
//! backoff. Idempotent: the mirror's `error_notification_sent` flag makes a second run a no-op.

use std::sync::Arc;

use super::{JobError, Outcome};
use crate::app::App;
use crate::service::notifications::{send_mirror_failure, Sent};

pub(super) async fn run(app: &Arc<App>, payload: &str) -> Result<Outcome, JobError> {
    let id: i64 = payload
        .parse()
        .map_err(|_| JobError::Other(format!("bad mirror_failure_email payload {payload:?}")))?;
    match send_mirror_failure(app, id).await {
        Ok(Sent::To(n)) => {
            tracing::info!(mirror = id, recipients = n, "mirror failure e-mail sent")
        }
        Ok(Sent::Nothing) => {}
        Err(e) => return Err(JobError::Other(e.to_string())),
    }
    Ok(Outcome::Done)
}
