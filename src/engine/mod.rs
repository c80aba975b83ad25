//! The push-mirror engine: a scheduler that claims wanted updates from the durable queue (see
//! `store::queue`), runs each as a tracked task under a global and a per-remote-host concurrency
//! limit, keeps the claim's lease alive while it runs, and records GitLab's status transitions and
//! retries. Pushes, `sync` calls and retries only raise the queue; the engine is the one place that
//! acts on it, so at most one update of a mirror is ever in flight.
//!
//! Invariant: the engine never holds a decrypted credential beyond one update.
//! Invariant: every git process it starts has a deadline (the runner's) and dies with its task.

mod host_limits;
mod remote;
mod snapshot;
mod update;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::http::{now_ms, AppState};
use crate::model::status::{AfterFailure, RetryPolicy};
use crate::store::{AttemptOutcome, ClaimedUpdate};
use host_limits::HostLimits;
use update::{UpdateContext, UpdateFailure};

/// Longest the scheduler sleeps without looking at the queue: other nodes' expired leases and
/// retries that come due are noticed within this time even without a wake-up.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// How often mirrors abandoned in `started` (disabled while a dead worker held them) are swept.
const ABANDONED_SWEEP: Duration = Duration::from_secs(30);

/// A handle to stop the engine.
pub struct EngineHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl EngineHandle {
    /// Stops claiming, cancels running updates (killing their git processes) and releases their
    /// leases so a restart resumes them at once.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Engine {
    state: AppState,
    node: String,
    global: Arc<Semaphore>,
    per_host: HostLimits,
    retry: RetryPolicy,
}

/// Starts the engine for this server.
pub fn spawn(state: AppState) -> EngineHandle {
    let cfg = state.engine.clone();
    let node = format!(
        "{}-{:016x}",
        std::process::id(),
        rand::thread_rng().gen::<u64>()
    );
    let engine = Arc::new(Engine {
        node,
        global: Arc::new(Semaphore::new(cfg.max_concurrent_updates)),
        per_host: HostLimits::new(cfg.max_updates_per_host),
        retry: RetryPolicy {
            protected_delay_ms: cfg.retry_delay_protected_secs as i64 * 1000,
            default_delay_ms: cfg.retry_delay_secs as i64 * 1000,
        },
        state,
    });
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(engine.scheduler(stop_rx));
    EngineHandle { stop, task }
}

impl Engine {
    fn lease_ms(&self) -> i64 {
        self.state.engine.lease_secs as i64 * 1000
    }

    async fn scheduler(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut running: JoinSet<()> = JoinSet::new();
        let mut last_sweep = tokio::time::Instant::now() - ABANDONED_SWEEP;
        loop {
            if *stop.borrow() {
                break;
            }
            while let Some(done) = running.try_join_next() {
                if let Err(e) = done {
                    if e.is_panic() {
                        tracing::error!("a mirror update panicked: {e}");
                    }
                }
            }
            if last_sweep.elapsed() >= ABANDONED_SWEEP {
                last_sweep = tokio::time::Instant::now();
                if let Err(e) = self.state.store.fail_abandoned(now_ms()).await {
                    tracing::warn!(error = %e, "sweeping abandoned updates failed");
                }
            }
            // Fill every free slot with a due update.
            let mut slots_full = true;
            while let Ok(permit) = self.global.clone().try_acquire_owned() {
                slots_full = false;
                let now = now_ms();
                match self
                    .state
                    .store
                    .claim_update(&self.node, now, now + self.lease_ms())
                    .await
                {
                    Ok(Some(claim)) => {
                        let me = self.clone();
                        running.spawn(async move {
                            me.run_claimed(claim).await;
                            drop(permit);
                            me.state.engine_wakeup.notify_one();
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming an update failed");
                        break;
                    }
                }
            }
            // With every slot busy, nothing can start before an update ends, and each end wakes
            // us: asking the queue now would find due work and spin on it.
            let idle = if slots_full {
                MAX_IDLE
            } else {
                match self.state.store.next_due_at().await {
                    Ok(Some(at)) => Duration::from_millis(
                        (at - now_ms()).clamp(0, MAX_IDLE.as_millis() as i64) as u64,
                    ),
                    _ => MAX_IDLE,
                }
            };
            tokio::select! {
                _ = self.state.engine_wakeup.notified() => {}
                _ = tokio::time::sleep(idle) => {}
                _ = stop.changed() => {}
            }
        }
        // Cancel what runs (kill_on_drop ends the git processes) and hand the work back.
        running.shutdown().await;
        if let Err(e) = self.state.store.release_leases(&self.node).await {
            tracing::warn!(error = %e, "releasing leases at shutdown failed");
        }
    }

    async fn run_claimed(&self, claim: ClaimedUpdate) {
        let ClaimedUpdate {
            mirror,
            claimed_seq,
        } = claim;
        let id = mirror.id;
        let outcome = if !mirror.enabled {
            AttemptOutcome::Skipped
        } else {
            let host = self.per_host.for_url(&mirror.url);
            // Keep the lease alive while waiting for the host and while pushing.
            let work = async {
                let _host_permit = host
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                match self
                    .state
                    .store
                    .mark_started(id, &self.node, now_ms())
                    .await
                {
                    Ok(true) => {}
                    _ => return None,
                }
                let ctx = UpdateContext {
                    store: &self.state.store,
                    cipher: &self.state.cipher,
                    git: &self.state.git,
                    repo: self.state.repository_path(mirror.project_id),
                    data_dir: self.state.data_dir.clone(),
                    policy: self.state.network_policy,
                };
                Some(update::run(&ctx, &mirror).await)
            };
            tokio::select! {
                result = work => match result {
                    None => return, // lost the lease before starting: the new holder records.
                    Some(Ok(())) => AttemptOutcome::Finished,
                    Some(Err(f)) => self.after_failure(&mirror, f),
                },
                _ = self.keep_lease(id) => {
                    tracing::warn!(mirror = id, "lost the lease on a running update; abandoning it");
                    return;
                }
            }
        };
        match &outcome {
            AttemptOutcome::Finished => tracing::info!(mirror = id, "mirror updated"),
            AttemptOutcome::Retry { error, .. } | AttemptOutcome::Failed { error } => {
                tracing::info!(mirror = id, error = %error, "mirror update failed")
            }
            AttemptOutcome::Skipped => {}
        }
        if let Err(e) = self
            .state
            .store
            .finish_attempt(id, &self.node, claimed_seq, &outcome, now_ms())
            .await
        {
            tracing::error!(mirror = id, error = %e, "recording an update's outcome failed");
        }
    }

    /// Renews the lease every third of its length; returns only when the lease was lost.
    async fn keep_lease(&self, id: i64) {
        let every = Duration::from_millis((self.lease_ms() / 3).max(200) as u64);
        loop {
            tokio::time::sleep(every).await;
            match self
                .state
                .store
                .renew_lease(id, &self.node, now_ms() + self.lease_ms())
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(mirror = id, error = %e, "renewing a lease failed"),
            }
        }
    }

    fn after_failure(
        &self,
        mirror: &crate::model::entities::RemoteMirror,
        f: UpdateFailure,
    ) -> AttemptOutcome {
        let (error, retryable) = match f {
            UpdateFailure::Retryable(e) => (e, true),
            UpdateFailure::Final(e) => (e, false),
        };
        let retries = mirror.retry_count.max(0) as u32;
        match self
            .retry
            .after_failure(retries, mirror.only_protected_branches, retryable, now_ms())
        {
            AfterFailure::Retry {
                at_ms,
                retries_so_far,
            } => AttemptOutcome::Retry {
                error,
                retry_at: at_ms,
                retry_count: retries_so_far as i64,
            },
            AfterFailure::GiveUp => AttemptOutcome::Failed { error },
        }
    }
}
