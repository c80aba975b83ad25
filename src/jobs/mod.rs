//! The generic durable job runner and the one registry of job kinds. Work that must survive a
//! crash (a mirror update, recording a push whose recording may have been lost, a webhook
//! delivery, an e-mail) is a row in the `jobs` table (`store::jobs`), written through a typed
//! kind (`queue::JobKind`); the runner ([`Runner`]) claims due rows per queue with a lease, runs
//! each as a tracked task under its queue's concurrency limit, renews the lease while it runs
//! ([`lease`]), and records the outcome. Recurring work is a row in `job_schedules`
//! ([`schedule`]).
//!
//! # Kinds
//! Every kind is registered once, in [`kinds::registry`], with the function that runs it; its
//! name, queue, dedup key, storage and payload are declared with its type (beside the use case
//! that enqueues it, in `service`, or here for the sweeps).
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
mod kinds;
mod lease;
mod mirror_failure_email;
pub(crate) mod mirror_update;
mod pull_mirror;
mod record_push;
mod registry;
mod runner;
mod schedule;
mod sweeps;

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::model::entities::Millis;
use crate::store::StoreError;

pub use runner::Runner;

/// First backoff after a failed run; doubles with each consecutive failure.
const BACKOFF_BASE_MS: i64 = 1_000;
/// Longest backoff: a broken dependency is retried at least this often.
const BACKOFF_CAP_MS: i64 = 600_000;

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

/// The repository storages this node serves: its runner claims only their jobs (and jobs of
/// no storage), and its start-up passes reconcile only their projects.
pub fn served_storages(app: &App) -> Vec<String> {
    app.storages.names()
}

/// On PostgreSQL: wakes this node's runner whenever any node enqueues (LISTEN/NOTIFY), so work
/// queued elsewhere starts at once; polling remains the fallback while the listener reconnects.
async fn listen(app: Arc<App>) {
    while !app.shutdown.jobs_stopping() {
        let mut listener = match app.store.job_wakeups().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for job wake-ups; polling only");
                sleep_or_stop(&app).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                n = listener.next() => match n {
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
}
