//! Bounded waiting: tests wait for a condition, never for a length of time. Both helpers check
//! at once, then every [`POLL_INTERVAL`], and give up after their limit.

use std::future::Future;
use std::time::{Duration, Instant};

/// Interval between checks: short enough not to slow tests, long enough not to spin.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Waits for `cond` to hold, for at most `limit`; returns whether it did.
pub async fn poll_until<F, Fut>(limit: Duration, cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_for(limit, cond, |held| *held).await.is_ok()
}

/// Waits for what `probe` returns to satisfy `done`, for at most `limit`: `Ok` with that value,
/// or `Err` with the last value seen, for the failure message.
pub async fn poll_for<T, F, Fut>(
    limit: Duration,
    mut probe: F,
    done: impl Fn(&T) -> bool,
) -> Result<T, T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let value = probe().await;
        if done(&value) {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(value);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`poll_until`] for code outside a runtime (plain `#[test]`s, `spawn_blocking`).
pub fn poll_until_blocking(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
