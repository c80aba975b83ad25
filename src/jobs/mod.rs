//! The generic durable job runner. Work that must survive a crash (a mirror update, recording a
//! push whose recording may have been lost) is a row in the `jobs` table (see `store::jobs`);
//! the runner claims due rows with a lease, runs each as a tracked task under a global
//! concurrency limit, renews the lease while it runs, and records the outcome: done, retry at a
//! time the kind chose, or a failure retried with exponential backoff and jitter.
//!
//! # Kinds
//! Every kind is listed once, in [`Kind::ALL`], and dispatched in [`run_kind`]:
//! - `mirror_update` (dedup key `mirror:<id>`): one update of one push mirror.
//! - `record_push` (dedup key `push:<project>:<nonce>`): a push intent, written before
//!   receive-pack starts and deleted when the push was recorded; it runs only when that never
//!   happened (the server died), and then records the repository's state.
//! - `hook_delivery` (dedup key `hook:<hook>:<idempotency key>`): one webhook event to one
//!   hook, enqueued with the event.
//! - `mirror_failure_email` (dedup key `mirror-failure-email:<id>`): the "Remote mirror update
//!   failed" e-mail of a mirror's failure streak, enqueued with the transition to `failed`.
//!
//! # Idempotency contract
//! A job can run more than once for one request: a node may die after the job's effect and
//! before its completion was recorded, and its lease then expires and another run starts. Every
//! kind must therefore be idempotent: running it again must converge to the same state (a
//! mirror update re-plans from the refs; recording a push re-reads the repository).
//! Requests for a key that is pending coalesce: they raise the row's `seq`, so a run that
//! started before them is followed by exactly one more run.
//!
//! Invariant: a run that cannot renew its lease is dropped (killing its processes) before the
//! lease can expire, so two nodes never run one job at once.
//! Invariant: the runner spawns only through [`crate::shutdown::Shutdown`].

mod hook_delivery;
mod mirror_failure_email;
pub(crate) mod mirror_update;
mod record_push;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;

use crate::app::App;
use crate::model::entities::Millis;
use crate::store::{ClaimedJob, StoreError};

/// Longest the runner sleeps without looking at the queue: other nodes' expired leases and
/// retries that come due are noticed within this time even without a wake-up.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// How often mirrors abandoned in `started` are swept (and webhook logs older than 7 days).
const ABANDONED_SWEEP: Duration = Duration::from_secs(30);
/// First backoff after a failed run; doubles with each consecutive failure.
const BACKOFF_BASE_MS: i64 = 1_000;
/// Longest backoff: a broken dependency is retried at least this often.
const BACKOFF_CAP_MS: i64 = 600_000;

/// The registered job kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MirrorUpdate,
    RecordPush,
    HookDelivery,
    MirrorFailureEmail,
}

impl Kind {
    /// Every kind this binary runs: the one registry.
    pub const ALL: [Kind; 4] = [
        Kind::MirrorUpdate,
        Kind::RecordPush,
        Kind::HookDelivery,
        Kind::MirrorFailureEmail,
    ];

    /// The stored names of [`Kind::ALL`], in its order, for the runner's queries.
    const NAMES: [&'static str; 4] = [
        Kind::ALL[0].as_str(),
        Kind::ALL[1].as_str(),
        Kind::ALL[2].as_str(),
        Kind::ALL[3].as_str(),
    ];

    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::MirrorUpdate => crate::store::MIRROR_UPDATE_KIND,
            Kind::RecordPush => crate::store::RECORD_PUSH_KIND,
            Kind::HookDelivery => crate::store::HOOK_DELIVERY_KIND,
            Kind::MirrorFailureEmail => crate::store::MIRROR_FAILURE_EMAIL_KIND,
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a run ended, when it did what it could.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the row goes unless it was requested again meanwhile.
    Done,
    /// Run again at this time (the kind's own schedule, such as GitLab's mirror retries).
    RetryAt(Millis),
}

/// A run that could not do its work (the database, a corrupt payload): retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

/// The backoff before retrying a job that failed `attempts` times in a row: exponential from
/// [`BACKOFF_BASE_MS`] up to [`BACKOFF_CAP_MS`], scaled by `jitter` in [0, 1) into its upper
/// half, so failing jobs of many nodes do not retry in lockstep.
pub fn backoff_ms(attempts: i64, jitter: f64) -> i64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1i64 << attempts.clamp(0, 30));
    let full = exp.min(BACKOFF_CAP_MS);
    full / 2 + ((full / 2) as f64 * jitter.clamp(0.0, 1.0)) as i64
}

/// The runner of one server.
pub struct Runner {
    app: Arc<App>,
    /// This process's lease owner name: unique per start, so a restarted server never mistakes
    /// a dead instance's lease for its own.
    node: String,
    /// Runs at once across every kind.
    slots: Arc<Semaphore>,
    /// The mirror-update kind's own state (per-host limits, retry policy).
    mirrors: mirror_update::MirrorUpdates,
}

impl Runner {
    /// A runner for `app`.
    pub fn new(app: Arc<App>) -> Arc<Runner> {
        let node = format!(
            "{}-{:016x}",
            std::process::id(),
            rand::thread_rng().gen::<u64>()
        );
        Arc::new(Runner {
            slots: Arc::new(Semaphore::new(app.engine.max_concurrent_updates.max(1))),
            mirrors: mirror_update::MirrorUpdates::new(&app.engine),
            node,
            app,
        })
    }

    fn lease_ms(&self) -> i64 {
        self.app.engine.lease_secs.max(1) as i64 * 1000
    }

    fn now(&self) -> Millis {
        self.app.clock.now_ms()
    }

    /// Starts the runner (and, on PostgreSQL, its NOTIFY listener) as tracked tasks that stop
    /// when the server's shutdown is asked for.
    pub fn start(self: &Arc<Self>) {
        let me = self.clone();
        self.app.shutdown.spawn(async move { me.run().await });
        if self.app.store.is_postgres() {
            let app = self.app.clone();
            self.app.shutdown.spawn(listen(app));
        }
    }

    /// Runs every due job, one at a time, until none is due; returns how many runs there were.
    /// For tests that want the queue drained deterministically, with the runner not started.
    pub async fn run_pending(self: &Arc<Self>) -> usize {
        let mut runs = 0;
        while let Ok(Some(job)) = self.claim().await {
            self.run_claimed(job).await;
            runs += 1;
        }
        runs
    }

    async fn claim(&self) -> Result<Option<ClaimedJob>, StoreError> {
        let now = self.now();
        self.app
            .store
            .claim_job(&Kind::NAMES, &self.node, now, now + self.lease_ms())
            .await
    }

    async fn run(self: Arc<Self>) {
        self.reconcile_at_start().await;
        let shutdown = self.app.shutdown.clone();
        let mut last_sweep = tokio::time::Instant::now() - ABANDONED_SWEEP;
        while !shutdown.jobs_stopping() {
            if last_sweep.elapsed() >= ABANDONED_SWEEP {
                last_sweep = tokio::time::Instant::now();
                if let Err(e) = mirror_update::fail_abandoned(&self.app, self.now()).await {
                    tracing::warn!(error = %e, "sweeping abandoned updates failed");
                }
                let expired = self.now() - crate::model::hooks::LOG_RETENTION_MS;
                if let Err(e) = self.app.store.prune_hook_logs(expired).await {
                    tracing::warn!(error = %e, "pruning old webhook logs failed");
                }
            }
            // Fill every free slot with a due job.
            let mut slots_full = true;
            while let Ok(permit) = self.slots.clone().try_acquire_owned() {
                slots_full = false;
                match self.claim().await {
                    Ok(Some(job)) => {
                        let me = self.clone();
                        self.app.shutdown.spawn(async move {
                            me.run_claimed(job).await;
                            drop(permit);
                            me.app.jobs_wakeup.notify_one();
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming a job failed");
                        break;
                    }
                }
            }
            // With every slot busy nothing can start before a run ends, and each end wakes us.
            let idle = if slots_full {
                MAX_IDLE
            } else {
                match self.app.store.next_job_due_at(&Kind::NAMES).await {
                    Ok(Some(at)) => Duration::from_millis(
                        (at - self.now()).clamp(0, MAX_IDLE.as_millis() as i64) as u64,
                    ),
                    _ => MAX_IDLE,
                }
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
    }

    /// Start-up: push intents a dead instance left are recorded now, and every mirror whose
    /// repository moved on since its last successful update is queued.
    async fn reconcile_at_start(&self) {
        let now = self.now();
        match self
            .app
            .store
            .make_jobs_due(Kind::RecordPush.as_str(), now)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(intents = n, "recording pushes a previous run left"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading push intents failed"),
        }
        match mirror_update::requeue_stale(&self.app, now).await {
            Ok(n) if n > 0 => {
                tracing::info!(mirrors = n, "queued mirrors whose repository moved on")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconciling mirrors at start-up failed"),
        }
    }

    async fn run_claimed(&self, job: ClaimedJob) {
        let work = run_kind(&self.app, &self.mirrors, &job);
        let result = tokio::select! {
            r = work => Some(r),
            _ = self.keep_lease(job.id) => {
                tracing::warn!(job = job.id, kind = %job.kind, "lost the lease on a running job; abandoning it");
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

    /// Renews the lease every third of its length; returns when the lease is lost, or when
    /// renewals have failed for two thirds of it (the database is unreachable), so the run is
    /// dropped before another node could take the job over.
    async fn keep_lease(&self, id: i64) {
        let lease = self.lease_ms();
        let every = Duration::from_millis((lease / 3).max(100) as u64);
        let mut renewed_at = tokio::time::Instant::now();
        let give_up_after = Duration::from_millis((lease * 2 / 3) as u64);
        loop {
            tokio::time::sleep(every).await;
            match self
                .app
                .store
                .renew_job_lease(id, &self.node, self.now() + lease)
                .await
            {
                Ok(true) => renewed_at = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "renewing a lease failed");
                    if renewed_at.elapsed() >= give_up_after {
                        return;
                    }
                }
            }
        }
    }
}

/// Runs one claimed job by its kind.
async fn run_kind(
    app: &Arc<App>,
    mirrors: &mirror_update::MirrorUpdates,
    job: &ClaimedJob,
) -> Result<Outcome, JobError> {
    match Kind::parse(&job.kind) {
        Some(Kind::MirrorUpdate) => mirror_update::run(app, mirrors, &job.payload).await,
        Some(Kind::RecordPush) => record_push::run(app, &job.payload).await,
        Some(Kind::HookDelivery) => hook_delivery::run(app, &job.payload).await,
        Some(Kind::MirrorFailureEmail) => mirror_failure_email::run(app, &job.payload).await,
        None => Err(JobError::Other(format!("unknown job kind {}", job.kind))),
    }
}

/// On PostgreSQL: wakes this node's runner whenever any node enqueues (LISTEN/NOTIFY), so work
/// queued elsewhere starts at once; polling remains the fallback while the listener reconnects.
async fn listen(app: Arc<App>) {
    while !app.shutdown.jobs_stopping() {
        let connected = sqlx::postgres::PgListener::connect(&app.database_url).await;
        let mut listener = match connected {
            Ok(mut l) => match l.listen(crate::store::NOTIFY_CHANNEL).await {
                Ok(()) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; polling only");
                    sleep_or_stop(&app).await;
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect the NOTIFY listener; polling only");
                sleep_or_stop(&app).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(_) => app.jobs_wakeup.notify_one(),
                    Err(e) => {
                        tracing::debug!(error = %e, "NOTIFY listener lost its connection");
                        break;
                    }
                },
                _ = app.shutdown.jobs_cancelled() => return,
            }
        }
    }
}

async fn sleep_or_stop(app: &App) {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        _ = app.shutdown.jobs_cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        assert_eq!(backoff_ms(0, 0.0), 500);
        assert_eq!(backoff_ms(0, 0.999_999), 999);
        assert_eq!(backoff_ms(3, 0.0), 4_000);
        assert_eq!(backoff_ms(40, 0.0), BACKOFF_CAP_MS / 2);
        assert!(backoff_ms(40, 1.0) <= BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(-5, 0.0), 500);
    }

    #[test]
    fn every_kind_round_trips() {
        for (k, name) in Kind::ALL.into_iter().zip(Kind::NAMES) {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(k.as_str(), name);
        }
        assert_eq!(Kind::parse("nope"), None);
    }
}
