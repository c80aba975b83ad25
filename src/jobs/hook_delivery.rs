//! Runs the `hook_delivery` job kind (`service::hooks::Delivery`): one event to one webhook.
//! Enqueued by the transaction that recorded the event, so it survives any crash after that;
//! retried with the runner's backoff while the receiver fails, and held back while GitLab's
//! auto-disabling keeps the hook disabled. Dropped when the hook is gone or disabled for good,
//! and when the event is older than the 7 days its log is kept.
//!
//! At least once: a run that delivered and died before its completion was recorded delivers
//! again; receivers tell by the `Idempotency-Key`, the same on every run of one event.

use std::sync::Arc;

use super::{JobError, Outcome};
use crate::app::App;
use crate::service::hooks::{run_delivery, Delivery, DeliveryRun};

/// Delivers `delivery`.
pub(super) async fn run(app: Arc<App>, delivery: Delivery) -> Result<Outcome, JobError> {
    match run_delivery(&app, delivery)
        .await
        .map_err(|e| JobError::Other(e.to_string()))?
    {
        DeliveryRun::Done => Ok(Outcome::Done),
        DeliveryRun::WaitUntil(at) => Ok(Outcome::RetryAt(at)),
        DeliveryRun::Failed(why) => Err(JobError::Other(why)),
    }
}
