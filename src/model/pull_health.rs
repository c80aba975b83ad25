//! A pull mirror's health as people hear of it: whether it is failing ([`failing`]: its last
//! sync failed, or left refs behind because they diverged), and what a sync's end changed
//! ([`after_sync`]: the [`HealthEvent`] push mirrors announce, plus being paused). Webhooks and
//! the failure e-mail follow these decisions; a mirror that keeps failing, or keeps the same
//! diverged refs, is news once per streak, never at every sync.
//!
//! A failed sync and a diverged ref are one kind of news on purpose: either way a ref here stops
//! following the upstream, which is what a pull mirror's owner must not learn by accident.

use super::pull::PullMirror;
use super::status::{HealthEvent, UpdateStatus};

/// Whether `m` is failing as its last ended sync left it: that sync failed (`to_retry`,
/// `failed`), or it succeeded but skipped diverged refs. A new mirror is not failing. A sync
/// that died in `started` tells nothing; the one before it counts (by its times).
pub fn failing(m: &PullMirror) -> bool {
    let failed = match m.update_status {
        UpdateStatus::ToRetry | UpdateStatus::Failed => true,
        UpdateStatus::Finished | UpdateStatus::None => false,
        UpdateStatus::Started => {
            m.last_update_at.is_some() && m.last_update_at != m.last_successful_update_at
        }
    };
    failed || !m.diverged_refs.is_empty()
}

/// What one sync's end changed in a pull mirror's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PullHealth {
    /// It started failing, or recovered.
    pub event: Option<HealthEvent>,
    /// This sync paused it (too many consecutive failures).
    pub paused: bool,
}

impl PullHealth {
    /// Whether the failure e-mail goes out: once per streak, with the sync that began it.
    pub fn emails(&self) -> bool {
        self.event == Some(HealthEvent::StartedFailing)
    }

    /// Whether there is anything to announce.
    pub fn is_news(&self) -> bool {
        self.event.is_some() || self.paused
    }
}

/// The health change from `before` (the mirror as the sync found it) to `after` (as the sync's
/// outcome leaves it).
pub fn after_sync(before: &PullMirror, after: &PullMirror) -> PullHealth {
    let event = match (failing(before), failing(after)) {
        (false, true) => Some(HealthEvent::StartedFailing),
        (true, false) => Some(HealthEvent::Recovered),
        _ => None,
    };
    PullHealth {
        event,
        paused: after.paused && !before.paused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pull::{PullSettings, Upstream};

    fn mirror(status: UpdateStatus, diverged: &[&str]) -> PullMirror {
        PullMirror {
            id: 1,
            project_id: 2,
            upstream: Upstream::default(),
            settings: PullSettings {
                enabled: true,
                only_protected_branches: false,
                overwrite_diverged: false,
                mirror_branch_regex: None,
                trigger_builds: false,
                interval_secs: 1800,
            },
            update_status: status,
            last_update_at: None,
            last_update_started_at: None,
            last_successful_update_at: None,
            last_error: None,
            failures: 0,
            paused: false,
            diverged_refs: diverged.iter().map(|s| s.to_string()).collect(),
            next_sync_at: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn failing_is_a_failed_sync_or_diverged_refs() {
        use UpdateStatus::*;
        let rows: [(UpdateStatus, &[&str], bool); 7] = [
            (None, &[], false),
            (Finished, &[], false),
            (ToRetry, &[], true),
            (Failed, &[], true),
            (Finished, &["refs/heads/main"], true),
            (None, &["refs/heads/main"], true),
            (Started, &[], false),
        ];
        for (status, diverged, want) in rows {
            assert_eq!(
                failing(&mirror(status, diverged)),
                want,
                "{status:?} {diverged:?}"
            );
        }
        // A sync that died in `started`: the one before it counts.
        let mut m = mirror(UpdateStatus::Started, &[]);
        m.last_update_at = Some(10);
        m.last_successful_update_at = Some(5);
        assert!(failing(&m));
        m.last_successful_update_at = Some(10);
        assert!(!failing(&m));
    }

    #[test]
    fn a_streak_is_news_at_its_start_its_pause_and_its_end() {
        use UpdateStatus::*;
        let healthy = mirror(Finished, &[]);
        let failed = mirror(ToRetry, &[]);
        let diverged = mirror(Finished, &["refs/heads/main"]);
        let mut paused = mirror(Failed, &[]);
        paused.paused = true;

        let h = after_sync(&healthy, &failed);
        assert_eq!(h.event, Some(HealthEvent::StartedFailing));
        assert!(h.emails() && h.is_news() && !h.paused);
        // The streak goes on: nothing, whether it keeps failing or keeps the diverged refs.
        assert!(!after_sync(&failed, &failed).is_news());
        assert!(!after_sync(&diverged, &diverged).is_news());
        assert!(!after_sync(&failed, &diverged).is_news());
        // Diverged refs begin a streak as a failure does.
        assert!(after_sync(&healthy, &diverged).emails());
        // Paused: news, but no second e-mail.
        let h = after_sync(&failed, &paused);
        assert_eq!((h.event, h.paused, h.emails()), (Option::None, true, false));
        // A first failure that pauses at once is both.
        let h = after_sync(&healthy, &paused);
        assert!(h.paused && h.emails());
        // Back to a clean sync.
        let h = after_sync(&paused, &healthy);
        assert_eq!(h.event, Some(HealthEvent::Recovered));
        assert!(!h.emails());
        // A new mirror's first success is no news.
        assert!(!after_sync(&mirror(None, &[]), &healthy).is_news());
    }
}
