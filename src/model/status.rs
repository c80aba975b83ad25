//! The remote mirror's `update_status` state machine and its retry policy, as GitLab defines them
//! (`none → started → finished | to_retry | failed`). Pure: the caller hands in the clock.

/// GitLab's `update_status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStatus {
    None,
    Started,
    Finished,
    ToRetry,
    Failed,
}

impl UpdateStatus {
    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::None => "none",
            UpdateStatus::Started => "started",
            UpdateStatus::Finished => "finished",
            UpdateStatus::ToRetry => "to_retry",
            UpdateStatus::Failed => "failed",
        }
    }

    /// Parses the stored spelling; unknown values read as `none` so an old row never breaks the API.
    pub fn parse(s: &str) -> UpdateStatus {
        match s {
            "started" => UpdateStatus::Started,
            "finished" => UpdateStatus::Finished,
            "to_retry" => UpdateStatus::ToRetry,
            "failed" => UpdateStatus::Failed,
            _ => UpdateStatus::None,
        }
    }
}

/// How many times a failed update is retried before the mirror is marked `failed` (GitLab's
/// `MAX_TRIES`: attempt 0 plus retries 1, 2, 3).
pub const MAX_RETRIES: u32 = 3;

/// The retry delays, configurable so tests can use seconds while production keeps GitLab's
/// 1 minute (protected branches only) and 5 minutes (all branches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before retrying a mirror that pushes only protected branches, in milliseconds.
    pub protected_delay_ms: i64,
    /// Delay before retrying any other mirror, in milliseconds.
    pub default_delay_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            protected_delay_ms: 60_000,
            default_delay_ms: 300_000,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Status `to_retry`; try again at the given time (ms since the epoch).
    Retry { at_ms: i64, retries_so_far: u32 },
    /// Status `failed`; only a new push or a sync tries again.
    GiveUp,
}

impl RetryPolicy {
    /// Decides the outcome of a failed attempt that had already been retried `retries` times.
    /// `retryable` is false for failures a retry cannot fix (diverged refs need a person).
    pub fn after_failure(
        &self,
        retries: u32,
        only_protected_branches: bool,
        retryable: bool,
        now_ms: i64,
    ) -> AfterFailure {
        if !retryable || retries >= MAX_RETRIES {
            return AfterFailure::GiveUp;
        }
        let delay = if only_protected_branches {
            self.protected_delay_ms
        } else {
            self.default_delay_ms
        };
        AfterFailure::Retry {
            at_ms: now_ms + delay,
            retries_so_far: retries + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_spellings_round_trip() {
        for s in [
            UpdateStatus::None,
            UpdateStatus::Started,
            UpdateStatus::Finished,
            UpdateStatus::ToRetry,
            UpdateStatus::Failed,
        ] {
            assert_eq!(UpdateStatus::parse(s.as_str()), s);
        }
        assert_eq!(UpdateStatus::parse("scheduled"), UpdateStatus::None);
    }

    #[test]
    fn retries_three_times_then_gives_up() {
        let p = RetryPolicy::default();
        let rows = [
            (
                0,
                false,
                true,
                AfterFailure::Retry {
                    at_ms: 300_000,
                    retries_so_far: 1,
                },
            ),
            (
                2,
                true,
                true,
                AfterFailure::Retry {
                    at_ms: 60_000,
                    retries_so_far: 3,
                },
            ),
            (3, false, true, AfterFailure::GiveUp),
            (0, false, false, AfterFailure::GiveUp),
        ];
        for (retries, protected, retryable, want) in rows {
            assert_eq!(p.after_failure(retries, protected, retryable, 0), want);
        }
    }
}
