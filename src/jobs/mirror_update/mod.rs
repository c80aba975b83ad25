//! The `mirror_update` job kind: one update of one push mirror, the use case
//! [`mirror_sync::update_push_mirror`]; a to-retry mirror asks the runner to run it again at
//! GitLab's retry time. Also the runner's start-up sweeps of mirror updates, which are
//! `mirror_sync`'s too.

use std::sync::Arc;

use super::{JobError, Outcome};
use crate::app::App;
use crate::config::EngineConfig;
use crate::model::entities::Millis;
use crate::service::mirror_sync::{self, PushMirrorSync};

/// The kind's state, shared by its runs (one per node).
pub(crate) struct MirrorUpdates {
    /// The use case's per-node state (retry policy, recent remote states).
    sync: PushMirrorSync,
}

impl MirrorUpdates {
    pub(crate) fn new(cfg: &EngineConfig) -> MirrorUpdates {
        MirrorUpdates {
            sync: PushMirrorSync::new(cfg),
        }
    }
}

/// Runs one update of the mirror whose id is `payload`.
pub(crate) async fn run(
    app: &Arc<App>,
    ctx: &MirrorUpdates,
    payload: &str,
) -> Result<Outcome, JobError> {
    let id: i64 = payload
        .parse()
        .map_err(|_| JobError::Other(format!("bad mirror_update payload {payload:?}")))?;
    let next = mirror_sync::update_push_mirror(app, &ctx.sync, id)
        .await
        .map_err(|e| match e {
            mirror_sync::SyncError::Store(e) => JobError::Store(e),
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

/// Queues an update of every mirror whose repository moved on since its last successful update;
/// returns how many ([`mirror_sync::requeue_stale`]).
pub(crate) async fn requeue_stale(app: &Arc<App>, now: Millis) -> Result<u64, JobError> {
    Ok(mirror_sync::requeue_stale(app, now).await?)
}
