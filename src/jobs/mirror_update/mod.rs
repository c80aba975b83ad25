//! Runs the `mirror_update` job kind (`service::mirror_jobs::MirrorUpdate`): one update of one
//! push mirror, the use case [`mirror_sync::update_push_mirror`]; a to-retry mirror asks the
//! runner to run it again at GitLab's retry time. Also the kind's housekeeping, which is
//! `mirror_sync`'s too: the sweep of mirrors abandoned in `started` ([`fail_abandoned`], run by
//! a recurring schedule) and the start-up pass that queues every mirror whose repository moved
//! on since its last success ([`at_start`]).

use std::sync::Arc;

use super::{JobError, Outcome};
use crate::app::App;
use crate::config::Tuning;
use crate::model::entities::Millis;
use crate::service::mirror_jobs::MirrorUpdate;
use crate::service::mirror_sync::{self, PushMirrorSync, SyncError};

/// The kind's state, shared by its runs (one per node).
pub(crate) struct MirrorUpdates {
    /// The use case's per-node state (retry policy, recent remote states).
    sync: PushMirrorSync,
}

impl MirrorUpdates {
    pub(crate) fn new(cfg: &Tuning) -> MirrorUpdates {
        MirrorUpdates {
            sync: PushMirrorSync::new(cfg),
        }
    }
}

/// Runs one update of the mirror `job` names.
pub(crate) async fn run(
    app: &Arc<App>,
    ctx: &MirrorUpdates,
    job: MirrorUpdate,
) -> Result<Outcome, JobError> {
    let next = mirror_sync::update_push_mirror(app, &ctx.sync, job.mirror_id)
        .await
        .map_err(|e| match e {
            SyncError::Store(e) => JobError::Store(e),
            e => JobError::Other(e.to_string()),
        })?;
    Ok(match next {
        Some(at) => Outcome::RetryAt(at),
        None => Outcome::Done,
    })
}

/// Records every mirror abandoned in `started` as failed; returns how many
/// ([`mirror_sync::fail_abandoned`]).
pub(crate) async fn fail_abandoned(app: &Arc<App>, now: Millis) -> Result<u64, JobError> {
    Ok(mirror_sync::fail_abandoned(app, now).await?)
}

/// Start-up: queues an update of every mirror on `storages` whose repository moved on since
/// its last successful update ([`mirror_sync::requeue_stale`]).
pub(super) async fn at_start(app: Arc<App>, storages: Vec<String>) {
    match mirror_sync::requeue_stale(&app, &storages).await {
        Ok(n) if n > 0 => tracing::info!(mirrors = n, "queued mirrors whose repository moved on"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "reconciling mirrors at start-up failed"),
    }
}
