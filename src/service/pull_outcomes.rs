//! How a pull mirror's sync ends, as one use case ([`record`]): the outcome written
//! (`Tx::finish_pull`, only while the sync that began at `started_at` is still the mirror's),
//! and in the same transaction what people hear of it: the health change
//! (`model::pull_health`: started failing, recovered, paused) as webhook deliveries to the
//! project's hooks with `remote_mirror_events`, and the failure e-mail with the sync that
//! begins a streak. Also the sync's metrics (`pushmirror_pull_syncs_total`, its duration).
//!
//! Invariant: a sync whose outcome is not recorded (the mirror was reset, deleted, or another
//! run took it over) announces nothing.

use std::time::Duration;

use crate::app::App;
use crate::model::entities::Millis;
use crate::model::pull::PullMirror;
use crate::model::pull_health::{after_sync, PullHealth};
use crate::model::status::HealthEvent;
use crate::store::{NewJob, PullOutcome, StoreError};

use super::hooks::{pull_mirror_event_deliveries, PullMirrorEvent};
use super::notifications::PullMirrorFailureEmail;

/// `before` as the outcome `o` of the sync begun at `started_at` leaves it at `now` (what
/// `finish_pull` writes), for the payloads.
fn after_outcome(
    before: &PullMirror,
    o: &PullOutcome,
    started_at: Millis,
    now: Millis,
) -> PullMirror {
    let mut m = before.clone();
    m.update_status = o.status;
    m.last_error = o.last_error.clone();
    m.last_update_at = Some(now);
    m.last_update_started_at = Some(started_at);
    if o.succeeded {
        m.last_successful_update_at = Some(now);
    }
    m.failures = o.failures;
    m.paused = o.paused;
    m.diverged_refs = o.diverged_refs.clone();
    m.next_sync_at = o.next_sync_at;
    m
}

/// The jobs that announce `health`: webhook deliveries, and the e-mail when a streak begins
/// (and SMTP is configured).
async fn announcements(
    app: &App,
    after: &PullMirror,
    health: PullHealth,
) -> Result<Vec<NewJob>, StoreError> {
    if !health.is_news() {
        return Ok(Vec::new());
    }
    let mut jobs = pull_mirror_event_deliveries(
        app,
        PullMirrorEvent {
            mirror: after,
            health,
        },
    )
    .await?;
    if health.emails() && app.mailer.is_some() {
        let email = PullMirrorFailureEmail {
            pull_mirror_id: after.id,
        };
        jobs.push(crate::queue::job(&email, 0));
    }
    Ok(jobs)
}

/// The `result` label of `pushmirror_pull_syncs_total` for `o`.
fn result_label(o: &PullOutcome) -> &'static str {
    match (o.succeeded, o.diverged_refs.is_empty()) {
        (true, true) => "finished",
        (true, false) => "diverged",
        (false, _) => o.status.as_str(),
    }
}

/// Records the outcome `o` at `now` of the sync of `before` (the mirror as the sync found it)
/// begun at `started_at` and `took` long, with its announcements, in one transaction; false
/// when the sync is no longer the mirror's (nothing recorded, nothing announced).
pub async fn record(
    app: &App,
    before: &PullMirror,
    o: &PullOutcome,
    started_at: Millis,
    now: Millis,
    took: Duration,
) -> Result<bool, StoreError> {
    let after = after_outcome(before, o, started_at, now);
    let health = after_sync(before, &after);
    let jobs = announcements(app, &after, health).await?;
    let mut tx = app.store.transaction().await?;
    if !tx.finish_pull(before.id, o, started_at, now).await? {
        drop(tx);
        tracing::info!(
            pull_mirror = before.id,
            "the pull mirror changed during its sync; the sync's outcome is discarded"
        );
        return Ok(false);
    }
    for job in &jobs {
        tx.enqueue_job(job, now).await?;
    }
    tx.commit().await?;
    if !jobs.is_empty() {
        app.jobs_wakeup.notify_one();
    }
    app.metrics
        .pull_sync_ended(result_label(o), took.as_secs_f64());
    // `last_error` is scrubbed already; the URL is shown masked.
    let id = before.id;
    let error = o.last_error.as_deref().unwrap_or_default();
    match health.event {
        Some(HealthEvent::StartedFailing) => {
            tracing::warn!(pull_mirror = id, url = %after.upstream.safe_url(), error, "pull mirror started failing")
        }
        Some(HealthEvent::Recovered) => tracing::info!(pull_mirror = id, "pull mirror recovered"),
        None => {}
    }
    if health.paused {
        tracing::warn!(
            pull_mirror = id,
            failures = o.failures,
            "pull mirror paused after consecutive failures"
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::status::UpdateStatus;

    #[test]
    fn results_are_a_bounded_set() {
        let o = |status, succeeded, diverged: &[&str]| PullOutcome {
            status,
            last_error: None,
            succeeded,
            failures: 0,
            paused: status == UpdateStatus::Failed,
            diverged_refs: diverged.iter().map(|s| s.to_string()).collect(),
            next_sync_at: 0,
        };
        assert_eq!(
            result_label(&o(UpdateStatus::Finished, true, &[])),
            "finished"
        );
        assert_eq!(
            result_label(&o(UpdateStatus::Finished, true, &["refs/heads/a"])),
            "diverged"
        );
        // A failure keeps the diverged refs of the last success; it is still a failure.
        assert_eq!(
            result_label(&o(UpdateStatus::ToRetry, false, &["refs/heads/a"])),
            "to_retry"
        );
        assert_eq!(result_label(&o(UpdateStatus::Failed, false, &[])), "failed");
    }
}
