//! How repeated failed sign-ins are slowed down: each login name and each client address keeps
//! a count of consecutive failures; past a free allowance, the next attempt must wait a delay
//! that doubles with every further failure (1 s, 2 s, 4 s … at most [`MAX_DELAY_MS`]), and an
//! attempt made sooner is refused without the password being checked. A success clears the
//! login's count; a failure streak is forgotten after [`FORGET_AFTER_MS`] of quiet.

use crate::model::entities::Millis;

/// Failures a login name gets before attempts are slowed down.
pub const FREE_FAILURES_PER_LOGIN: u32 = 3;
/// Failures a client address gets (several people may share one) before it is slowed down.
pub const FREE_FAILURES_PER_CLIENT: u32 = 10;
/// The longest wait between attempts.
pub const MAX_DELAY_MS: Millis = 60_000;
/// A streak with no failure for this long starts over.
pub const FORGET_AFTER_MS: Millis = 15 * 60_000;

/// One login name's or client's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub count: u32,
    pub last_at: Millis,
}

impl Failures {
    /// The count that still counts at `now`.
    fn current(&self, now: Millis) -> u32 {
        if now - self.last_at >= FORGET_AFTER_MS {
            0
        } else {
            self.count
        }
    }

    /// How long (ms) an attempt at `now` must still wait, 0 when it may go ahead.
    pub fn wait_ms(&self, now: Millis, free: u32) -> Millis {
        let count = self.current(now);
        if count < free {
            return 0;
        }
        let doublings = (count - free).min(16);
        let delay = (1000i64 << doublings).min(MAX_DELAY_MS);
        (self.last_at + delay - now).max(0)
    }

    /// The streak after one more failure at `now`.
    pub fn failed(&self, now: Millis) -> Failures {
        Failures {
            count: self.current(now).saturating_add(1),
            last_at: now,
        }
    }
}

/// The message for an attempt refused because it came too soon: whole seconds, rounded up.
pub fn too_soon_message(wait_ms: Millis) -> String {
    let secs = (wait_ms + 999) / 1000;
    format!(
        "Too many failed sign-in attempts. Try again in {secs} second{}.",
        if secs == 1 { "" } else { "s" }
    )
}

/// GitLab's one message for a wrong login or password, which never says which was wrong.
pub const INVALID_LOGIN: &str = "Invalid login or password.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_allowance_wait_a_doubling_delay() {
        let mut f = Failures::default();
        for i in 0..3 {
            assert_eq!(f.wait_ms(1_000 + i, 3), 0);
            f = f.failed(1_000 + i);
        }
        // The fourth attempt right after the third failure waits one second from it.
        assert_eq!(f.wait_ms(1_002, 3), 1_000);
        assert_eq!(f.wait_ms(2_002, 3), 0);
        f = f.failed(2_002);
        assert_eq!(f.wait_ms(2_002, 3), 2_000);
        for _ in 0..20 {
            f = f.failed(f.last_at);
        }
        assert_eq!(f.wait_ms(f.last_at, 3), MAX_DELAY_MS);
    }

    #[test]
    fn a_quiet_quarter_hour_forgets_the_streak() {
        let mut f = Failures::default();
        for _ in 0..10 {
            f = f.failed(0);
        }
        assert!(f.wait_ms(1, 3) > 0);
        assert_eq!(f.wait_ms(FORGET_AFTER_MS, 3), 0);
        assert_eq!(f.failed(FORGET_AFTER_MS).count, 1);
    }

    #[test]
    fn the_refusal_says_how_long_in_whole_seconds() {
        assert_eq!(
            too_soon_message(1),
            "Too many failed sign-in attempts. Try again in 1 second."
        );
        assert_eq!(
            too_soon_message(59_001),
            "Too many failed sign-in attempts. Try again in 60 seconds."
        );
    }
}
