//! Recurring schedules (`store::schedules`): each registered schedule is a row; a node claims a
//! due one with a lease, runs its kind's work once under that lease, and moves the row to its
//! next due time (the interval plus a random part of its jitter). Claims are the same
//! conditional statements as jobs', so one node runs a due schedule, whichever notices it.
//!
//! A schedule runs its kind's work inline instead of enqueueing a job, so sweeps neither fill
//! the job queue nor show in its depth; a failed run waits for the next due time.

use std::sync::Arc;

use rand::Rng;
use tokio::time::Instant;

use super::lease::{self, LeaseLost};
use super::runner::Runner;
use crate::model::entities::Millis;
use crate::store::{ClaimedSchedule, StoreError};

impl Runner {
    /// Writes the registered schedules' rows (once per runner): new ones are created, and those
    /// due at every start become due now.
    async fn ensure_schedules(&self) {
        self.schedules_ready
            .get_or_init(|| async {
                let now = self.now();
                for s in self.registry.schedules() {
                    if let Err(e) = self.app.store.ensure_schedule(&s.row(now)).await {
                        tracing::warn!(schedule = s.name(), error = %e, "writing a schedule failed");
                    }
                }
            })
            .await;
    }

    fn schedule_names(&self) -> Vec<String> {
        self.registry
            .schedules()
            .iter()
            .map(|s| s.name().to_owned())
            .collect()
    }

    async fn claim_schedule(&self) -> Option<(ClaimedSchedule, Instant)> {
        let at = Instant::now();
        let now = self.now();
        let names = self.schedule_names();
        match self
            .app
            .store
            .claim_schedule(&names, &self.node, now, now + self.lease_ms())
            .await
        {
            Ok(s) => s.map(|s| (s, at)),
            Err(e) => {
                tracing::warn!(error = %e, "claiming a schedule failed");
                None
            }
        }
    }

    /// Starts every due schedule as a tracked task (the runner's loop).
    pub(super) async fn start_due_schedules(self: &Arc<Self>) {
        self.ensure_schedules().await;
        while let Some((s, at)) = self.claim_schedule().await {
            let me = self.clone();
            self.app
                .shutdown
                .spawn(async move { me.run_schedule(s, at).await });
        }
    }

    /// Runs every due schedule once, one at a time; returns how many ran. For tests that move a
    /// manual clock, with the runner not started.
    pub async fn run_due_schedules(self: &Arc<Self>) -> usize {
        self.ensure_schedules().await;
        let mut runs = 0;
        while let Some((s, at)) = self.claim_schedule().await {
            self.run_schedule(s, at).await;
            runs += 1;
        }
        runs
    }

    /// When the next schedule comes due (or its lease ends), if any is registered.
    pub(super) async fn next_schedule_due_at(&self) -> Result<Option<Millis>, StoreError> {
        self.app
            .store
            .next_schedule_due_at(&self.schedule_names())
            .await
    }

    async fn run_schedule(&self, s: ClaimedSchedule, claimed_at: Instant) {
        let work = self.registry.run(self.app.clone(), &s.kind, &s.payload);
        let renew = || {
            self.app
                .store
                .renew_schedule_lease(&s.name, &self.node, self.now() + self.lease_ms())
        };
        let ran = tokio::select! {
            r = work => Some(r),
            lost = lease::keep(self.lease(), claimed_at, renew) => {
                if lost == LeaseLost::Unrenewed {
                    tracing::warn!(schedule = %s.name, "could not renew a schedule's lease in time; abandoning its run");
                }
                None
            }
            _ = self.app.shutdown.jobs_cancelled() => None,
        };
        let Some(result) = ran else { return };
        if let Err(e) = result {
            tracing::warn!(schedule = %s.name, error = %e, "a scheduled run failed");
        }
        let jitter = if s.jitter_ms > 0 {
            rand::thread_rng().gen_range(0..=s.jitter_ms)
        } else {
            0
        };
        let next_at = self.now() + s.every_ms.max(1) + jitter;
        if let Err(e) = self
            .app
            .store
            .finish_schedule(&s.name, &self.node, next_at)
            .await
        {
            tracing::warn!(schedule = %s.name, error = %e, "recording a scheduled run failed");
        }
    }
}
