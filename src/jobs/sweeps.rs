//! The housekeeping kinds, run by recurring schedules (`kinds::registry`): recording mirrors
//! abandoned in `started` as failed (their node died and no pending update will resume them),
//! pruning webhook logs past GitLab's 7-day retention, starting the periodic LFS full check
//! of mirrors due for one, and queueing the periodic updates of mirrors with an interval. All read and write the database only, so any node runs them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{mirror_update, JobError, Outcome};
use crate::app::App;
use crate::queue::{JobKind, Queue};

/// Records every mirror abandoned in `started` as failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SweepAbandonedMirrors {}

impl JobKind for SweepAbandonedMirrors {
    const NAME: &'static str = "sweep_abandoned_mirrors";
    const QUEUE: Queue = Queue::Maintenance;

    fn dedup_key(&self) -> String {
        "sweep:abandoned-mirrors".into()
    }
}

/// Deletes webhook logs older than their retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PruneHookLogs {}

impl JobKind for PruneHookLogs {
    const NAME: &'static str = "prune_hook_logs";
    const QUEUE: Queue = Queue::Maintenance;

    fn dedup_key(&self) -> String {
        "sweep:hook-logs".into()
    }
}

/// Queues an LFS full check of every mirror due for one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LfsFullCheck {}

impl JobKind for LfsFullCheck {
    const NAME: &'static str = "lfs_full_check";
    const QUEUE: Queue = Queue::Maintenance;

    fn dedup_key(&self) -> String {
        "sweep:lfs-full-check".into()
    }
}

/// Queues the periodic update of every mirror with an interval that is due for one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PeriodicMirrorUpdates {}

impl JobKind for PeriodicMirrorUpdates {
    const NAME: &'static str = "periodic_mirror_updates";
    const QUEUE: Queue = Queue::Maintenance;

    fn dedup_key(&self) -> String {
        "sweep:periodic-mirror-updates".into()
    }
}

pub(super) async fn periodic_mirror_updates(
    app: Arc<App>,
    _: PeriodicMirrorUpdates,
) -> Result<Outcome, JobError> {
    let now = app.clock.now_ms();
    crate::service::mirror_jobs::request_periodic_updates(&app, now).await?;
    Ok(Outcome::Done)
}

pub(super) async fn lfs_full_check(app: Arc<App>, _: LfsFullCheck) -> Result<Outcome, JobError> {
    let now = app.clock.now_ms();
    crate::service::mirror_sync::start_lfs_full_checks(&app, now).await?;
    Ok(Outcome::Done)
}

pub(super) async fn sweep_abandoned_mirrors(
    app: Arc<App>,
    _: SweepAbandonedMirrors,
) -> Result<Outcome, JobError> {
    let now = app.clock.now_ms();
    mirror_update::fail_abandoned(&app, now).await?;
    Ok(Outcome::Done)
}

pub(super) async fn prune_hook_logs(app: Arc<App>, _: PruneHookLogs) -> Result<Outcome, JobError> {
    let expired = app.clock.now_ms() - crate::model::hooks::LOG_RETENTION_MS;
    app.store.prune_hook_logs(expired).await?;
    Ok(Outcome::Done)
}
