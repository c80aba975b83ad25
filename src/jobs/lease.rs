//! Keeping a lease while a run goes on: renewed every third of its length, each renewal bounded
//! by a deadline, and given up early enough that the run is dropped (and its git processes
//! killed, by their group guards) before the lease could expire and another node claim the work.
//!
//! Invariant: a lease is renewed only from a successful statement; a renewal that errs, hangs
//! or finds the lease taken never counts, so "still ours" is always a fact the database stated.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::StoreError;

/// When to renew a lease of a given length, and when to give it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseTiming {
    /// Between a successful renewal (or the claim) and the next attempt: a third of the lease,
    /// so two attempts fit before the run must be given up.
    pub every: Duration,
    /// Longest one renewal statement may take: a sixth of the lease. A connection pool that
    /// waits 30 s for a connection must not hold a renewal past the lease's end.
    pub attempt: Duration,
    /// After a failed attempt, the wait before the next one.
    pub after_failure: Duration,
    /// Time since the last successful renewal after which the run is given up: three quarters
    /// of the lease, leaving a quarter for dropping the run and killing its processes.
    pub give_up: Duration,
}

impl LeaseTiming {
    /// The timing of a lease of `lease`.
    pub(crate) fn of(lease: Duration) -> LeaseTiming {
        LeaseTiming {
            every: lease / 3,
            attempt: lease / 6,
            after_failure: lease / 12,
            give_up: lease * 3 / 4,
        }
    }
}

/// Why a lease was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaseLost {
    /// Another owner holds it (it expired and was claimed, or the row went).
    Taken,
    /// No renewal succeeded in time (the database is unreachable or stalled).
    Unrenewed,
}

/// Renews a lease until it is lost: `renew()` extends it by its full length and says whether
/// this owner still held it. `claimed_at` is when the lease was last known good (taken just
/// before the claiming statement). Returns when the run must stop; never returns otherwise.
pub(crate) async fn keep<F, Fut>(lease: Duration, claimed_at: Instant, renew: F) -> LeaseLost
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    let t = LeaseTiming::of(lease);
    let mut good_at = claimed_at;
    let mut next = good_at + t.every;
    loop {
        let give_up_at = good_at + t.give_up;
        tokio::time::sleep_until(next.min(give_up_at)).await;
        let started = Instant::now();
        if started >= give_up_at {
            return LeaseLost::Unrenewed;
        }
        let budget = t.attempt.min(give_up_at - started);
        match tokio::time::timeout(budget, renew()).await {
            Ok(Ok(true)) => {
                good_at = started;
                next = good_at + t.every;
            }
            Ok(Ok(false)) => return LeaseLost::Taken,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "renewing a lease failed");
                next = Instant::now() + t.after_failure;
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = budget.as_millis() as u64,
                    "renewing a lease took too long"
                );
                next = Instant::now() + t.after_failure;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn attempts_are_bounded_well_under_a_third_and_the_run_stops_before_the_lease_ends() {
        for secs in [2, 30, 300] {
            let lease = Duration::from_secs(secs);
            let t = LeaseTiming::of(lease);
            assert!(t.attempt < lease / 3);
            // The latest attempt starts before give_up and ends by give_up (its budget is cut).
            assert!(t.give_up < lease);
            assert!(
                t.every + t.attempt <= t.give_up,
                "a failed attempt leaves room for another"
            );
        }
    }

    // Real time, with leases short enough for a unit test; bounds leave room for a busy machine.

    #[tokio::test]
    async fn a_stalled_renewal_gives_up_before_the_lease_ends() {
        let lease = Duration::from_millis(800);
        let start = Instant::now();
        let lost = keep(lease, start, || {
            std::future::pending::<Result<bool, StoreError>>()
        })
        .await;
        assert_eq!(lost, LeaseLost::Unrenewed);
        let took = start.elapsed();
        assert!(took >= LeaseTiming::of(lease).give_up, "{took:?}");
        assert!(took < lease, "gave up after {took:?}, past the lease");
    }

    #[tokio::test]
    async fn successful_renewals_keep_the_lease_and_a_taken_one_ends_it() {
        let calls = AtomicUsize::new(0);
        let start = Instant::now();
        let lost = keep(Duration::from_millis(300), start, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(n < 5) }
        })
        .await;
        assert_eq!(lost, LeaseLost::Taken);
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        assert!(
            start.elapsed() >= Duration::from_millis(600),
            "renewed every 100 ms"
        );
    }

    #[tokio::test]
    async fn failing_renewals_are_retried_and_one_success_restarts_the_clock() {
        let calls = AtomicUsize::new(0);
        let start = Instant::now();
        let lost = keep(Duration::from_millis(1200), start, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err(StoreError::Db(sqlx::Error::PoolTimedOut)),
                    1 => Ok(true),
                    _ => std::future::pending().await,
                }
            }
        })
        .await;
        assert_eq!(lost, LeaseLost::Unrenewed);
        // Claimed at 0; failed at 400 ms; renewed at 500 ms; given up 900 ms later.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1400), "{took:?}");
        assert!(took < Duration::from_millis(2000), "{took:?}");
    }
}
