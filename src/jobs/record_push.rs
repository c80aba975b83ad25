//! Runs the `record_push` job kind (`service::pushes::PushIntent`): a push intent. Written
//! (`service::pushes::write_intent`) before receive-pack starts and deleted in the transaction
//! that records the push, it runs only when that never happened (the server died between git
//! accepting the push and its recording): it then records the repository as it is (or, when the
//! intent holds the push's command list, the refs that took effect, announced to webhooks as the
//! push's own recording would have) and asks for every enabled mirror to be updated.
//!
//! At start-up the intents a dead instance left on this node's storages are made due at once.
//!
//! Idempotent: recording re-reads the repository, and mirror updates coalesce.

use std::sync::Arc;

use super::{JobError, Outcome};
use crate::app::App;
use crate::queue::JobKind;
use crate::service::pushes::{record_push_by, PushIntent};

/// Records the push `intent` describes: with its command list when the intent has one (so its
/// webhook events go out too), else the repository's state as it is.
pub(super) async fn run(app: Arc<App>, intent: PushIntent) -> Result<Outcome, JobError> {
    // The runner deletes this job when it returns Done; no intent key to delete here.
    let details = intent.details;
    record_push_by(
        &app,
        intent.project_id,
        details.updates.as_deref(),
        None,
        details.pusher,
    )
    .await
    .map_err(|e| JobError::Other(e.to_string()))?;
    Ok(Outcome::Done)
}

/// Start-up: the intents a previous instance left on `storages` are recorded now.
pub(super) async fn at_start(app: Arc<App>, storages: Vec<String>) {
    let now = app.clock.now_ms();
    match app
        .store
        .make_jobs_due(PushIntent::NAME, &storages, now)
        .await
    {
        Ok(n) if n > 0 => tracing::info!(intents = n, "recording pushes a previous run left"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "reading push intents failed"),
    }
}
