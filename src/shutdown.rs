//! The one shutdown mechanism: a [`CancellationToken`] every long-running part watches, and a
//! [`TaskTracker`] that knows every task the server started, so stopping means "cancel, then
//! wait for the tracked tasks" and nothing is left running detached.
//!
//! Invariant: this is the only module that calls `tokio::spawn`; everything else spawns through
//! [`Shutdown::spawn`], so every task is tracked and awaited at shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cancellation plus tracking for one server. Cheap to clone; clones share both.
///
/// Stopping has two stages: background jobs stop first ([`Shutdown::cancel_jobs`]), so no new
/// work starts while requests drain; everything else stops at [`Shutdown::cancel`].
#[derive(Debug, Clone)]
pub struct Shutdown {
    token: CancellationToken,
    /// A child of `token`: cancelled with it, or alone first.
    jobs: CancellationToken,
    tracker: TaskTracker,
}

impl Default for Shutdown {
    fn default() -> Self {
        let token = CancellationToken::new();
        Shutdown {
            jobs: token.child_token(),
            token,
            tracker: TaskTracker::new(),
        }
    }
}

impl Shutdown {
    /// A fresh, not yet cancelled, mechanism.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks background jobs to stop (and nothing else yet).
    pub fn cancel_jobs(&self) {
        self.jobs.cancel();
    }

    /// Whether background jobs were asked to stop.
    pub fn jobs_stopping(&self) -> bool {
        self.jobs.is_cancelled()
    }

    /// Resolves once background jobs were asked to stop.
    pub async fn jobs_cancelled(&self) {
        self.jobs.cancelled().await
    }

    /// Starts `task` as a tracked task: [`Shutdown::wait`] waits for it.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Asks every part to stop.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once stopping was asked for.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Waits up to `limit` for every tracked task to end; false when some were still running.
    pub async fn wait(&self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_tracked_tasks_after_cancel() {
        let s = Shutdown::new();
        let watcher = s.clone();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        s.spawn(async move {
            watcher.cancelled().await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        assert!(!s.is_cancelled());
        s.cancel_jobs();
        assert!(s.jobs_stopping() && !s.is_cancelled());
        s.cancel();
        assert!(s.wait(Duration::from_secs(5)).await);
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn gives_up_waiting_after_the_limit() {
        let s = Shutdown::new();
        s.spawn(std::future::pending::<()>());
        assert!(!s.wait(Duration::from_millis(20)).await);
    }
}
