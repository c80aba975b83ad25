//! The runner of one node: claims due jobs of the queues that have a free slot (each queue has
//! its own slot pool, so a queue whose slots are all busy never holds back another's jobs, and
//! its own are not claimed meanwhile), runs each as a tracked task while [`lease::keep`] renews
//! its lease, and records the outcome: done, retry at a time the kind chose, or a failure
//! retried with exponential backoff and jitter. Between claims it runs the recurring schedules
//! that came due ([`super::schedule`]).
//!
//! It claims only jobs whose storage is null or one this node serves ([`super::served_storages`]).
//!
//! Invariant: a run that cannot renew its lease is dropped (killing its processes) before the
//! lease can expire, so two nodes never run one job at once.
//! Invariant: the runner spawns only through [`crate::shutdown::Shutdown`].
//! Invariant: the runner names no kind; it dispatches by stored name through the registry.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{OnceCell, Semaphore};
use tokio::time::Instant;

use super::lease::{self, LeaseLost};
use super::registry::Registry;
use super::{backoff_ms, kinds, served_storages, Outcome};
use crate::app::App;
use crate::model::entities::Millis;
use crate::store::{ClaimedJob, StoreError};

/// Longest the runner sleeps without looking at the queue: other nodes' expired leases and
/// retries that come due are noticed within this time even without a wake-up.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// One queue's slots on this node.
struct Pool {
    /// The stored names of the queue's kinds, for its claims.
    kinds: Vec<&'static str>,
    /// Runs of this queue at once.
    slots: Arc<Semaphore>,
}

/// A claimed job and when its lease was last known good (just before the claim).
struct Claimed {
    job: ClaimedJob,
    at: Instant,
}

/// The runner of one server.
pub struct Runner {
    pub(super) app: Arc<App>,
    /// This process's lease owner name: unique per start, so a restarted server never mistakes
    /// a dead instance's lease for its own.
    pub(super) node: String,
    /// The storages whose jobs this runner claims (besides jobs of no storage).
    storages: Vec<String>,
    pub(super) registry: Registry,
    pools: Vec<Pool>,
    /// Every registered kind's stored name (for [`Runner::run_pending`]).
    all_kinds: Vec<&'static str>,
    /// The schedules' rows were written (once per runner, at its first use).
    pub(super) schedules_ready: OnceCell<()>,
}

impl Runner {
    /// A runner for `app`, claiming the jobs of the storages this node serves.
    pub fn new(app: Arc<App>) -> Arc<Runner> {
        let storages = served_storages(&app);
        Runner::serving(app, storages)
    }

    /// A runner that claims only jobs of no storage or of one of `storages` (two runners with
    /// different lists on one database behave as two nodes serving different storages).
    pub fn serving(app: Arc<App>, storages: Vec<String>) -> Arc<Runner> {
        let node = format!(
            "{}-{:016x}",
            std::process::id(),
            rand::thread_rng().gen::<u64>()
        );
        let registry = kinds::registry(&app);
        let pools = registry
            .queues()
            .into_iter()
            .map(|(queue, kinds)| Pool {
                kinds,
                slots: Arc::new(Semaphore::new(queue.limit(&app.tuning))),
            })
            .collect();
        Arc::new(Runner {
            all_kinds: registry.names(),
            registry,
            pools,
            storages,
            node,
            app,
            schedules_ready: OnceCell::new(),
        })
    }

    pub(super) fn lease(&self) -> Duration {
        Duration::from_secs(self.app.tuning.lease_secs.max(1))
    }

    pub(super) fn lease_ms(&self) -> i64 {
        self.lease().as_millis() as i64
    }

    pub(super) fn now(&self) -> Millis {
        self.app.clock.now_ms()
    }

    /// Starts the runner (and, on PostgreSQL, its NOTIFY listener) as tracked tasks that stop
    /// when the server's shutdown is asked for.
    pub fn start(self: &Arc<Self>) {
        let me = self.clone();
        self.app.shutdown.spawn(async move { me.run().await });
        if self.app.store.is_postgres() {
            let app = self.app.clone();
            self.app.shutdown.spawn(super::listen(app));
        }
    }

    /// Runs every due job, one at a time, until none is due; returns how many runs there were.
    /// For tests that want the queue drained deterministically, with the runner not started.
    pub async fn run_pending(self: &Arc<Self>) -> usize {
        let mut runs = 0;
        while let Ok(Some(job)) = self.claim(&self.all_kinds).await {
            self.run_claimed(job).await;
            runs += 1;
        }
        runs
    }

    async fn claim(&self, kinds: &[&str]) -> Result<Option<Claimed>, StoreError> {
        let at = Instant::now();
        let now = self.now();
        let job = self
            .app
            .store
            .claim_job(
                kinds,
                &self.storages,
                &self.node,
                now,
                now + self.lease_ms(),
            )
            .await?;
        Ok(job.map(|job| Claimed { job, at }))
    }

    async fn run(self: Arc<Self>) {
        self.registry.start(&self.app, &self.storages).await;
        let shutdown = self.app.shutdown.clone();
        // When the next schedule comes due, as last read: schedules are claimed only from then
        // on, so a loop with nothing due writes nothing for them. Due at once at start.
        let mut schedules_due = Some(Millis::MIN);
        while !shutdown.jobs_stopping() {
            if schedules_due.is_some_and(|at| at <= self.now()) {
                self.start_due_schedules().await;
                schedules_due = match self.next_schedule_due_at().await {
                    Ok(at) => at,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the schedules failed");
                        Some(self.now() + MAX_IDLE.as_millis() as i64)
                    }
                };
            }
            let open = self.fill_slots().await;
            // A queue with every slot busy starts nothing before a run ends, and each end wakes
            // us; the other queues' next due job and the next schedule bound the sleep.
            let mut next = schedules_due;
            if !open.is_empty() {
                if let Ok(Some(at)) = self.app.store.next_job_due_at(&open, &self.storages).await {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
            let idle = match next {
                Some(at) => Duration::from_millis(
                    (at - self.now()).clamp(0, MAX_IDLE.as_millis() as i64) as u64,
                ),
                None => MAX_IDLE,
            };
            tokio::select! {
                _ = self.app.jobs_wakeup.notified() => {}
                _ = tokio::time::sleep(idle) => {}
                _ = shutdown.jobs_cancelled() => {}
            }
        }
        // Running jobs see the same cancellation and end; their leases are released here so a
        // restart resumes them at once. A run still finishing records through its own lease.
        if let Err(e) = self.app.store.release_job_leases(&self.node).await {
            tracing::warn!(error = %e, "releasing leases at shutdown failed");
        }
        if let Err(e) = self.app.store.release_schedule_leases(&self.node).await {
            tracing::warn!(error = %e, "releasing schedule leases at shutdown failed");
        }
    }

    /// Starts due jobs until no queue with a free slot has one: each claim asks for the most
    /// overdue job among the kinds of every queue that still has a free slot (one statement
    /// per run started, and one that finds nothing), so a full queue's jobs are never taken
    /// and never stand in another queue's way. Returns the kinds of the queues left with a free
    /// slot.
    async fn fill_slots(self: &Arc<Self>) -> Vec<&'static str> {
        loop {
            let open: Vec<&'static str> = self
                .pools
                .iter()
                .filter(|p| p.slots.available_permits() > 0)
                .flat_map(|p| p.kinds.iter().copied())
                .collect();
            if open.is_empty() {
                return open;
            }
            let claimed = match self.claim(&open).await {
                Ok(Some(claimed)) => claimed,
                Ok(None) => return open,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed");
                    return open;
                }
            };
            let pool = self
                .pools
                .iter()
                .find(|p| p.kinds.contains(&claimed.job.kind.as_str()))
                .expect("a claimed job is of a kind of an open queue");
            // Only this loop takes slots, and it saw this queue with a free one.
            let permit = pool
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("slot pools are never closed");
            let me = self.clone();
            self.app.shutdown.spawn(async move {
                me.run_claimed(claimed).await;
                drop(permit);
                me.app.jobs_wakeup.notify_one();
            });
        }
    }

    async fn run_claimed(&self, claimed: Claimed) {
        let Claimed { job, at } = claimed;
        let work = self.registry.run(self.app.clone(), &job.kind, &job.payload);
        let renew = || {
            self.app
                .store
                .renew_job_lease(job.id, &self.node, self.now() + self.lease_ms())
        };
        let result = tokio::select! {
            r = work => Some(r),
            lost = lease::keep(self.lease(), at, renew) => {
                match lost {
                    LeaseLost::Taken => tracing::warn!(job = job.id, kind = %job.kind, "lost the lease on a running job; abandoning it"),
                    LeaseLost::Unrenewed => tracing::warn!(job = job.id, kind = %job.kind, "could not renew the lease on a running job in time; abandoning it"),
                }
                None
            }
            _ = self.app.shutdown.jobs_cancelled() => None,
        };
        let Some(result) = result else { return };
        let now = self.now();
        let recorded = match result {
            Ok(Outcome::Done) => self.app.store.complete_job(&job, &self.node, now).await,
            Ok(Outcome::RetryAt(at)) => {
                self.app
                    .store
                    .retry_job(&job, &self.node, at, None, false, now)
                    .await
            }
            Err(e) => {
                let at = now + backoff_ms(job.attempts, rand::thread_rng().gen());
                tracing::warn!(job = job.id, kind = %job.kind, error = %e, retry_in_ms = at - now, "job failed");
                self.app
                    .store
                    .retry_job(&job, &self.node, at, Some(&e.to_string()), true, now)
                    .await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(job = job.id, error = %e, "recording a job's outcome failed");
        }
    }
}
