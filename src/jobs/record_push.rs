//! The `record_push` job kind: a push intent. Written (`service::pushes::write_intent`) before
//! receive-pack starts and deleted in
//! the transaction that records the push, it runs only when that never happened (the server
//! died between git accepting the push and its recording): it then records the repository as it
//! is (or, when the intent holds the push's command list, the refs that took effect, announced
//! to webhooks as the push's own recording would have) and asks for every enabled mirror to be
//! updated.
//!
//! Idempotent: recording re-reads the repository, and mirror updates coalesce.

use std::sync::Arc;

use super::{JobError, Outcome};
use crate::app::App;
use crate::service::pushes::{record_push_by, IntentDetails};

/// Records the push the intent `payload` describes: with its command list when the intent
/// has one (so its webhook events go out too), else the repository's state as it is.
pub(super) async fn run(app: &Arc<App>, payload: &str) -> Result<Outcome, JobError> {
    let (project_id, details) = IntentDetails::parse(payload)
        .ok_or_else(|| JobError::Other(format!("bad record_push payload {payload:?}")))?;
    // The runner deletes this job when it returns Done; no intent key to delete here.
    let updates = details.updates.as_deref();
    record_push_by(app, project_id, updates, None, details.pusher)
        .await
        .map_err(|e| JobError::Other(e.to_string()))?;
    Ok(Outcome::Done)
}
