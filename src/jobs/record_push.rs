//! The `record_push` job kind: a push intent. Written (`service::pushes::write_intent`) before
//! receive-pack starts and deleted in
//! the transaction that records the push, it runs only when that never happened (the server
//! died between git accepting the push and its recording): it then records the repository as it
//! is and asks for every enabled mirror to be updated.
//!
//! Idempotent: recording re-reads the repository, and mirror updates coalesce.

use std::sync::Arc;

use super::{JobError, Outcome};
use crate::app::App;
use crate::service::pushes::record_push;

/// Records the state of the project whose id is `payload`.
pub(super) async fn run(app: &Arc<App>, payload: &str) -> Result<Outcome, JobError> {
    let project_id: i64 = payload
        .parse()
        .map_err(|_| JobError::Other(format!("bad record_push payload {payload:?}")))?;
    // The runner deletes this job when it returns Done; no intent key to delete here.
    record_push(app, project_id, None, None)
        .await
        .map_err(|e| JobError::Other(e.to_string()))?;
    Ok(Outcome::Done)
}
