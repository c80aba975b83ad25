//! Keeping mirrors in sync, as use cases the job kinds call: one update of one push mirror
//! ([`update_push_mirror`]): load it, wait for a slot of its remote host (`App::host_limits`),
//! mark it `started`, run GitLab's sync algorithm ([`push`]) against a [`GitRemote`] of
//! `remote`, let the domain decide the status [`Transition`] and persist it, with the webhook
//! deliveries of a health change (`remote_mirror_events`) and the failure e-mail enqueued in the
//! same transaction. Also the periodic LFS full check ([`start_lfs_full_checks`]) and the
//! start-up sweeps: updates abandoned in `started`
//! ([`fail_abandoned`]) and mirrors whose repository moved on since their last update
//! ([`requeue_stale`]).
//!
//! Idempotent: an update re-plans from the hosted repository and the remote each time.
//! Invariant: a decrypted credential lives no longer than one update.
//!
//! [`GitRemote`]: crate::remote::GitRemote

mod lfs;
mod push;
mod remote_state;

use sha2::{Digest, Sha256};

use crate::app::App;
use crate::config::Tuning;
use crate::model::entities::Millis;
use crate::model::entities::RemoteMirror;
use crate::model::status::{AttemptResult, HealthEvent, RetryPolicy, Transition, UpdateStatus};
use crate::model::storage::{RepoRef, StorageName};
use crate::remote::host_of;
use crate::service::hooks::{mirror_event_deliveries, MirrorEvent};
use crate::service::mirror_jobs::request_update;
use crate::service::notifications::MirrorFailureEmail;
use crate::storage::NotServed;
use crate::store::{NewJob, StoreError};
use push::UpdateContext;
use remote_state::{RemoteStateCache, MAX_CACHED_REFS};

/// What push-mirror updates on this node share: the retry policy and the remote states recent
/// updates left.
pub struct PushMirrorSync {
    retry: RetryPolicy,
    /// Recent remote states, so an update need not read every ref of an unchanged state.
    remote_states: RemoteStateCache,
}

impl PushMirrorSync {
    /// The shared state, with the retry delays of `cfg`.
    pub fn new(cfg: &Tuning) -> PushMirrorSync {
        PushMirrorSync {
            retry: RetryPolicy {
                protected_delay_ms: cfg.retry_delay_protected_secs as i64 * 1000,
                default_delay_ms: cfg.retry_delay_secs as i64 * 1000,
            },
            remote_states: RemoteStateCache::new(MAX_CACHED_REFS),
        }
    }
}

/// Why an update could not run at all (an update that ran and failed is a status, not this).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The project's storage is not this node's.
    #[error(transparent)]
    NotServed(#[from] NotServed),
}

/// Runs one update of the push mirror `id`, unless it is gone, disabled, its project archived
/// or another update of it is running; when it should be tried again (it is `to_retry`), when.
pub async fn update_push_mirror(
    app: &App,
    ctx: &PushMirrorSync,
    id: i64,
) -> Result<Option<Millis>, SyncError> {
    let Some(mirror) = app.store.mirror_by_id(id).await? else {
        return Ok(None);
    };
    if !mirror.enabled {
        return Ok(None);
    }
    // An archived project is read-only and its mirrors are not pushed (an update queued before
    // the project was archived ends here; unarchiving and the next push or sync queue one again).
    let project = match app.store.project_by_id(mirror.project_id).await? {
        Some(project) if !project.archived => project,
        _ => return Ok(None),
    };
    // Claimed only by a node that serves the project's storage; should it have moved since,
    // the run fails and is retried (by a node that serves it).
    let repo = app.storages.open(&project.repo())?;
    let _host = app
        .host_limits
        .for_url(&mirror.url)
        .acquire_owned()
        .await
        .expect("host semaphores are never closed");
    let started_at = app.clock.now_ms();
    if !app.store.mark_started(id, started_at).await? {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let _in_flight = app.metrics.update_started(&host_of(&mirror.url));
    let uctx = UpdateContext {
        store: &app.store,
        cipher: &app.cipher,
        git: &app.git,
        clock: app.clock.as_ref(),
        repo,
        policy: app.network_policy,
        remote_states: &ctx.remote_states,
        lfs_objects: &app.lfs_objects,
        metrics: &app.metrics,
        host_limits: &app.host_limits,
        storage: project.storage.clone(),
    };
    let mut refs_pushed = 0;
    let result = match push::run(&uctx, &mirror).await {
        Ok(n) => {
            refs_pushed = n;
            AttemptResult::Succeeded
        }
        Err(failure) => AttemptResult::Failed {
            retryable: failure.is_retryable(),
            error: failure.message().to_owned(),
        },
    };
    let now = app.clock.now_ms();
    let t = ctx.retry.transition(
        mirror.last_error.is_some(),
        mirror.retry_count.max(0) as u32,
        mirror.only_protected_branches,
        result,
        now,
    );
    let after = after_transition(&mirror, &t, started_at, now);
    if !record_outcome(app, &after, &t, started_at, now).await? {
        // The mirror's URL or credentials changed (or it was deleted) while this attempt ran:
        // its status was reset, and what the old settings achieved is not its news.
        tracing::info!(
            mirror = id,
            "the mirror changed during its update; the update's outcome is discarded"
        );
        return Ok(None);
    }
    let secs = started.elapsed().as_secs_f64();
    app.metrics.update_ended(
        t.status.as_str(),
        secs,
        t.error.as_deref().map(crate::model::git_failure::kind),
    );
    let duration_ms = (secs * 1000.0) as u64;
    let result = t.status.as_str();
    // `last_error` is scrubbed of credentials already; nothing else here can hold a secret.
    match (&t.event, &t.error) {
        (Some(HealthEvent::StartedFailing), Some(e)) => {
            tracing::warn!(mirror = id, result, duration_ms, error = %e, "mirror started failing")
        }
        (Some(HealthEvent::Recovered), _) => {
            tracing::info!(
                mirror = id,
                result,
                duration_ms,
                refs_pushed,
                "mirror recovered"
            )
        }
        (None, Some(e)) => {
            tracing::info!(mirror = id, result, duration_ms, error = %e, "mirror update failed")
        }
        (_, None) => tracing::info!(
            mirror = id,
            result,
            duration_ms,
            refs_pushed,
            "mirror updated"
        ),
    }
    Ok(t.retry_at)
}

/// The mirror as the transition `t` leaves it (what `record_transition` writes), for the
/// webhook payload of a health change.
fn after_transition(
    m: &RemoteMirror,
    t: &Transition,
    started_at: Millis,
    now: Millis,
) -> RemoteMirror {
    let mut after = m.clone();
    after.update_status = t.status;
    after.last_error = t.error.clone();
    after.retry_count = i64::from(t.retry_count);
    after.last_update_started_at = Some(started_at);
    if t.status != UpdateStatus::ToRetry {
        after.last_update_at = Some(now);
    }
    if t.succeeded() {
        after.last_successful_update_at = Some(now);
    }
    after
}

/// The jobs that announce `t`: webhook deliveries of a health change, and the failure e-mail.
async fn announcements(
    app: &App,
    after: &RemoteMirror,
    t: &Transition,
) -> Result<Vec<NewJob>, StoreError> {
    let mut jobs = match t.event {
        None => Vec::new(),
        Some(event) => {
            let e = MirrorEvent {
                mirror: after,
                event,
            };
            mirror_event_deliveries(app, e).await?
        }
    };
    // GitLab e-mails on `failed` (never on `to_retry`); the job sends once per streak.
    if t.status == UpdateStatus::Failed && app.mailer.is_some() {
        let email = MirrorFailureEmail {
            mirror_id: after.id,
        };
        jobs.push(crate::queue::job(&email, 0));
    }
    Ok(jobs)
}

/// Tries recording an update's outcome, with the webhook deliveries of a health change in the
/// same transaction, a few times over a few seconds (the run still holds its lease
/// meanwhile): a database blip must not leave the mirror `started` until the lease expires and
/// the update is redone. False when the attempt begun at `started_at` is no longer the
/// mirror's (its settings were reset meanwhile): nothing is recorded or announced.
async fn record_outcome(
    app: &App,
    after: &RemoteMirror,
    t: &Transition,
    started_at: Millis,
    now: Millis,
) -> Result<bool, StoreError> {
    let id = after.id;
    let mut delay = std::time::Duration::from_millis(200);
    for attempt in 1.. {
        let recorded = match announcements(app, after, t).await {
            Ok(jobs) => {
                app.store
                    .record_transition(id, t, started_at, now, &jobs)
                    .await
            }
            Err(e) => Err(e),
        };
        match recorded {
            Ok(applied) => return Ok(applied),
            Err(e) if attempt < RECORD_ATTEMPTS => {
                tracing::warn!(mirror = id, error = %e, attempt, "recording an update's outcome failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// How many times an outcome is recorded before the run gives up (about 6 s in all).
const RECORD_ATTEMPTS: u32 = 5;

/// The digest of a repository's branches and tags (sorted `<oid> <name>` lines), recorded with
/// each successful update so start-up can tell whether the repository moved on since.
pub(crate) fn source_digest(refs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = refs.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (name, oid) in sorted {
        h.update(oid.as_bytes());
        h.update(b" ");
        h.update(name.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Records every mirror abandoned in `started` (its worker died, nothing resumes it) as failed,
/// announcing the health change to webhooks when it had been healthy; returns how many.
pub async fn fail_abandoned(app: &App, now: Millis) -> Result<u64, StoreError> {
    let mut failed = 0;
    for mirror in app.store.abandoned_mirrors().await? {
        let t = Transition::interrupted(
            mirror.last_error.is_some(),
            mirror.retry_count.max(0) as u32,
        );
        let started_at = mirror.last_update_started_at.unwrap_or(now);
        let after = after_transition(&mirror, &t, started_at, now);
        let jobs = announcements(app, &after, &t).await?;
        if app
            .store
            .record_abandoned(mirror.id, &t, now, &jobs)
            .await?
        {
            tracing::warn!(
                mirror = mirror.id,
                "an abandoned mirror update was recorded as failed"
            );
            failed += 1;
        }
    }
    Ok(failed)
}

/// Starts the periodic LFS full check: every mirror that sends LFS objects and last asked its
/// remote about all of them more than `--lfs-full-check-interval` ago gets an update that asks
/// again (and re-uploads what the remote lost); returns how many were queued.
pub async fn start_lfs_full_checks(app: &App, now: Millis) -> Result<u64, StoreError> {
    let interval_ms = app.tuning.lfs_full_check_interval_secs as i64 * 1000;
    let mut queued = 0;
    for id in app.store.expire_lfs_full_checks(now - interval_ms).await? {
        if request_update(app, id).await? {
            queued += 1;
        }
    }
    if queued > 0 {
        app.jobs_wakeup.notify_one();
    }
    Ok(queued)
}

/// Queues an update of every enabled mirror whose last successful update pushed from another
/// state of its repository than the one it has now; returns how many were queued.
pub async fn requeue_stale(app: &App, storages: &[String]) -> Result<u64, StoreError> {
    let mut queued = 0;
    for storage in storages {
        queued += requeue_stale_on(app, storage).await?;
    }
    if queued > 0 {
        app.jobs_wakeup.notify_one();
    }
    Ok(queued)
}

/// [`requeue_stale`] for the projects of one storage this node serves.
async fn requeue_stale_on(app: &App, storage: &str) -> Result<u64, StoreError> {
    let Ok(name) = StorageName::parse(storage) else {
        return Ok(0);
    };
    let mut queued = 0;
    for (project_id, mirrors) in app.store.mirror_source_digests(storage).await? {
        let Ok(repo) = app.storages.open(&RepoRef::new(name.clone(), project_id)) else {
            continue;
        };
        let local = match crate::git::ops::local_refs(&app.git, &repo).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(project = project_id, error = %e, "cannot read a repository's refs");
                continue;
            }
        };
        let digest = source_digest(&local);
        for (mirror_id, recorded) in mirrors {
            if recorded.as_deref() != Some(digest.as_str())
                && request_update(app, mirror_id).await?
            {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_order_and_sees_every_change() {
        let a = ("refs/heads/main".to_owned(), "a".repeat(40));
        let b = ("refs/tags/v1".to_owned(), "b".repeat(40));
        let d1 = source_digest(&[a.clone(), b.clone()]);
        assert_eq!(d1, source_digest(&[b.clone(), a.clone()]));
        let moved = ("refs/heads/main".to_owned(), "c".repeat(40));
        assert_ne!(d1, source_digest(&[moved, b.clone()]));
        assert_ne!(d1, source_digest(&[a]));
    }
}
