//! The one list of job kinds this binary runs: each registered with the function that runs it,
//! with the recurring schedules and start-up passes that go with it. Adding a kind is a type
//! implementing `queue::JobKind` and one `register` line here.

use std::sync::Arc;
use std::time::Duration;

use super::pull_mirror::{self, EnqueueDuePullMirrors};
use super::registry::Registry;
use super::sweeps::{LfsFullCheck, PeriodicMirrorUpdates, PruneHookLogs, SweepAbandonedMirrors};
use super::{hook_delivery, mirror_failure_email, mirror_update, record_push, sweeps};
use crate::app::App;
use crate::service::hooks::Delivery;
use crate::service::imports::ImportProject;
use crate::service::mirror_jobs::MirrorUpdate;
use crate::service::notifications::{MirrorFailureEmail, PullMirrorFailureEmail};
use crate::service::pull_mirrors::PullMirrorSync;
use crate::service::pushes::PushIntent;

/// How often the sweeps run: a mirror left `started` by a dead node shows `failed` within this
/// (plus the jitter), and webhook logs are pruned at the same pace.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How often mirrors with an interval are looked at: a periodic update starts at most this
/// (plus the jitter) after it is due, a fifth of the shortest interval
/// (`MIN_SYNC_INTERVAL_SECS`, ten minutes); one indexed query per run.
const PERIODIC_UPDATES_EVERY: Duration = Duration::from_secs(120);
/// Up to this much later, at random, so that several nodes' sweeps spread out.
const SWEEP_JITTER: Duration = Duration::from_secs(5);

/// How often due pull mirrors left without a job are looked for (each sync's job runs again
/// when its mirror is due; this only catches the rest).
const PULL_SWEEP_EVERY: Duration = Duration::from_secs(120);
const PULL_SWEEP_JITTER: Duration = Duration::from_secs(5);

/// The registry of every kind, with `app`'s configuration for the kinds' shared state.
pub(super) fn registry(app: &App) -> Registry {
    let mut r = Registry::default();
    let mirrors = Arc::new(mirror_update::MirrorUpdates::new(&app.tuning));
    r.register::<MirrorUpdate, _, _>(move |app, job| {
        let mirrors = mirrors.clone();
        async move { mirror_update::run(&app, &mirrors, job).await }
    });
    r.register::<PushIntent, _, _>(record_push::run);
    r.register::<Delivery, _, _>(hook_delivery::run);
    r.register::<MirrorFailureEmail, _, _>(mirror_failure_email::run);
    r.register::<PullMirrorFailureEmail, _, _>(mirror_failure_email::run_pull);
    r.register::<SweepAbandonedMirrors, _, _>(sweeps::sweep_abandoned_mirrors);
    r.register::<PruneHookLogs, _, _>(sweeps::prune_hook_logs);
    r.register::<LfsFullCheck, _, _>(sweeps::lfs_full_check);
    r.register::<PeriodicMirrorUpdates, _, _>(sweeps::periodic_mirror_updates);
    r.register::<ImportProject, _, _>(pull_mirror::run_import);
    r.register::<PullMirrorSync, _, _>(pull_mirror::run_sync);
    r.register::<EnqueueDuePullMirrors, _, _>(pull_mirror::enqueue_due);

    r.every(SweepAbandonedMirrors {}, SWEEP_EVERY, SWEEP_JITTER, true);
    r.every(PruneHookLogs {}, SWEEP_EVERY, SWEEP_JITTER, true);
    // Not at each start: what came due while no node ran is found by the first sweep.
    r.every(
        PeriodicMirrorUpdates {},
        PERIODIC_UPDATES_EVERY,
        SWEEP_JITTER,
        false,
    );
    // Not at each start either: a pull mirror's own job runs it when due.
    r.every(
        EnqueueDuePullMirrors {},
        PULL_SWEEP_EVERY,
        PULL_SWEEP_JITTER,
        false,
    );
    // A mirror is checked within 1/24 of the interval after it is due (an hour of a day), so
    // checks spread over the day as the mirrors' own last checks do.
    let lfs_every = Duration::from_secs((app.tuning.lfs_full_check_interval_secs / 24).max(60));
    r.every(LfsFullCheck {}, lfs_every, lfs_every / 10, false);

    r.at_start(record_push::at_start);
    r.at_start(mirror_update::at_start);
    r
}

#[cfg(test)]
mod tests {
    use crate::queue::{JobKind, Queue};

    use super::*;

    /// Each kind's stored name and queue, as rows in existing databases name them.
    #[test]
    fn stored_names_and_queues_stay_as_databases_know_them() {
        assert_eq!(MirrorUpdate::NAME, "mirror_update");
        assert_eq!(PushIntent::NAME, "record_push");
        assert_eq!(Delivery::NAME, "hook_delivery");
        assert_eq!(MirrorFailureEmail::NAME, "mirror_failure_email");
        assert_eq!(MirrorUpdate::QUEUE, Queue::MirrorUpdates);
        assert_eq!(Delivery::QUEUE, Queue::HookDeliveries);
        assert_eq!(MirrorFailureEmail::QUEUE, Queue::Mail);
        assert_eq!(SweepAbandonedMirrors::QUEUE, Queue::Maintenance);
    }
}
