//! The remote mirror's `update_status` state machine and its retry policy, as GitLab defines them
//! (`none → started → finished | to_retry | failed`). Pure: the caller hands in the clock.

/// GitLab's `update_status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdateStatus {
    #[default]
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

/// How one update attempt ended, as the update reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// Every planned ref reached the remote.
    Succeeded,
    /// It failed; `retryable` is false when only a person can fix it (diverged refs).
    Failed { error: String, retryable: bool },
}

/// A change in a mirror's health that people are told about (webhooks, e-mail, the dashboard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEvent {
    /// The first failure after a success (or after creation).
    StartedFailing,
    /// The first success after a failure.
    Recovered,
}

/// Everything an attempt's end changes on the mirror, decided here and persisted as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// `finished`, `to_retry` or `failed`.
    pub status: UpdateStatus,
    /// `last_error` afterwards (`None` clears it).
    pub error: Option<String>,
    /// `retry_count` afterwards.
    pub retry_count: u32,
    /// When to try again (`to_retry` only).
    pub retry_at: Option<i64>,
    /// Whether this attempt changed the mirror's health.
    pub event: Option<HealthEvent>,
}

impl Transition {
    /// Whether the attempt succeeded (`last_successful_update_at` moves).
    pub fn succeeded(&self) -> bool {
        self.status == UpdateStatus::Finished
    }
}

/// The `last_error` of an update whose worker died with no update pending to resume it.
pub const INTERRUPTED: &str = "The remote mirror update was interrupted.";

impl Transition {
    /// The transition of a mirror whose update was abandoned in `started` (its worker died and
    /// nothing resumes it): `failed` with [`INTERRUPTED`], its retry count kept; a health change
    /// when it had not been failing.
    pub fn interrupted(was_failing: bool, retries: u32) -> Transition {
        Transition {
            status: UpdateStatus::Failed,
            error: Some(INTERRUPTED.to_owned()),
            retry_count: retries,
            retry_at: None,
            event: (!was_failing).then_some(HealthEvent::StartedFailing),
        }
    }
}

impl RetryPolicy {
    /// The transition after an attempt of a mirror that had been retried `retries` times and
    /// whose previous attempt failed when `was_failing` (it has a `last_error`).
    pub fn transition(
        &self,
        was_failing: bool,
        retries: u32,
        only_protected_branches: bool,
        result: AttemptResult,
        now_ms: i64,
    ) -> Transition {
        match result {
            AttemptResult::Succeeded => Transition {
                status: UpdateStatus::Finished,
                error: None,
                retry_count: 0,
                retry_at: None,
                event: was_failing.then_some(HealthEvent::Recovered),
            },
            AttemptResult::Failed { error, retryable } => {
                let event = (!was_failing).then_some(HealthEvent::StartedFailing);
                match self.after_failure(retries, only_protected_branches, retryable, now_ms) {
                    AfterFailure::Retry {
                        at_ms,
                        retries_so_far,
                    } => Transition {
                        status: UpdateStatus::ToRetry,
                        error: Some(error),
                        retry_count: retries_so_far,
                        retry_at: Some(at_ms),
                        event,
                    },
                    AfterFailure::GiveUp => Transition {
                        status: UpdateStatus::Failed,
                        error: Some(error),
                        retry_count: retries,
                        retry_at: None,
                        event,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_tell_when_health_changes() {
        let p = RetryPolicy::default();
        let fail = |retryable| AttemptResult::Failed {
            error: "boom".into(),
            retryable,
        };
        let t = p.transition(false, 0, false, fail(true), 1_000);
        assert_eq!(t.status, UpdateStatus::ToRetry);
        assert_eq!(t.event, Some(HealthEvent::StartedFailing));
        assert_eq!((t.retry_count, t.retry_at), (1, Some(301_000)));
        let t = p.transition(true, 1, true, fail(true), 1_000);
        assert_eq!((t.event, t.retry_at), (None, Some(61_000)));
        let t = p.transition(true, 3, false, fail(true), 0);
        assert_eq!(
            (t.status, t.event, t.retry_count),
            (UpdateStatus::Failed, None, 3)
        );
        let t = p.transition(false, 0, false, fail(false), 0);
        assert_eq!(
            (t.status, t.event),
            (UpdateStatus::Failed, Some(HealthEvent::StartedFailing))
        );
        let t = p.transition(true, 2, false, AttemptResult::Succeeded, 0);
        assert!(t.succeeded());
        assert_eq!(
            (t.event, t.error, t.retry_count),
            (Some(HealthEvent::Recovered), None, 0)
        );
        let t = p.transition(false, 0, false, AttemptResult::Succeeded, 0);
        assert_eq!(t.event, None);
    }

    #[test]
    fn an_interrupted_update_fails_and_is_news_only_for_a_healthy_mirror() {
        let t = Transition::interrupted(false, 2);
        assert_eq!(
            (t.status, t.retry_count, t.event),
            (UpdateStatus::Failed, 2, Some(HealthEvent::StartedFailing))
        );
        assert_eq!(t.error.as_deref(), Some(INTERRUPTED));
        assert_eq!(Transition::interrupted(true, 0).event, None);
    }

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
