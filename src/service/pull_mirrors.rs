//! A project's pull mirror (GitLab's `/projects/:id/mirror/pull`): configure it ([`configure`]:
//! the upstream checked and sealed as a push mirror's, credentials write-only and rotatable
//! without recreating the mirror), ask for a sync now ([`request_sync`]: never rate-limited; a
//! request while a sync runs coalesces into one follow-up; a paused mirror resumes), and run
//! one sync ([`sync_pull_mirror`], the `pull_mirror_sync` job kind [`PullMirrorSync`]): the
//! staging fetch and per-ref decision of `pull_sync`, the LFS objects of the new commits, then
//! the status, the diverged refs by name, the failure streak that pauses it, and the health
//! events (webhooks, e-mail) in the same transaction as push mirrors do.
//!
//! Scheduling: every enabled, unpaused mirror is due again `interval_secs` after its last sync
//! (plus jitter, backing off after failures); its job runs again then, and a slow recurring
//! sweep enqueues any due mirror left without a job ([`enqueue_due`]).

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::model::access::Caller;
use crate::model::entities::{Millis, Project};
use crate::model::pull::{self, after_failure, diverged_error, PullMirror, PullSettings};
use crate::model::refmatch::{validate_branch_regex, RefFilter};
use crate::model::status::UpdateStatus;
use crate::queue::{enqueue, enqueue_in, JobKind, Queue};
use crate::store::PullOutcome;

use super::error::ServiceError;
use super::lfs::fetch::{fetch_for_tips, UpstreamLfs};
use super::pull_sync::{sync_refs, PullError, SyncSpec};
use super::refusal::Refusal;
use super::upstreams::{keep_stored, same_url, upstream_from, UpstreamRequest};

/// Up to this much later than due, at random, so mirrors created together spread out.
const JITTER_MS: i64 = 10_000;
/// How long a sync waits while the project's import still runs.
const IMPORT_WAIT_MS: i64 = 5_000;
/// Due mirrors enqueued per sweep at most (the queue's own limit paces them).
const DUE_PER_SWEEP: i64 = 500;

/// One sync of one pull mirror, on the node that serves its project's storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullMirrorSync {
    pub mirror_id: i64,
    pub storage: String,
}

impl JobKind for PullMirrorSync {
    const NAME: &'static str = "pull_mirror_sync";
    const QUEUE: Queue = Queue::PullMirrors;

    fn dedup_key(&self) -> String {
        format!("pull-mirror:{}", self.mirror_id)
    }

    fn storage(&self) -> Option<String> {
        Some(self.storage.clone())
    }
}

/// What `PUT /projects/:id/mirror/pull` asks; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// The upstream (URL and credentials apart); required for a project without a pull mirror.
    /// Blank credentials keep the stored ones while the URL stays the same.
    pub upstream: Option<UpstreamRequest>,
    pub enabled: Option<bool>,
    pub only_protected_branches: Option<bool>,
    pub overwrite_diverged: Option<bool>,
    /// `Some(None)` clears it.
    pub mirror_branch_regex: Option<Option<String>>,
    pub trigger_builds: Option<bool>,
    pub interval_secs: Option<i64>,
}

/// Pull-mirror settings are for Maintainers and up, as push mirrors'.
fn admit(caller: Caller) -> Result<(), ServiceError> {
    if caller.can_admin_project() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

/// GitLab's rules on the settings, and the interval's floor.
pub fn check_settings(app: &App, s: &PullSettings) -> Result<(), ServiceError> {
    let mut errors = crate::model::errors::FieldErrors::default();
    if let Some(re) = &s.mirror_branch_regex {
        if let Err(m) = validate_branch_regex(re) {
            errors.add("mirror_branch_regex", m);
        }
        if s.only_protected_branches {
            errors.add(
                "mirror_branch_regex",
                "cannot be set when only_mirror_protected_branches is true",
            );
        }
    }
    let min = app.tuning.pull_mirror_min_interval_secs as i64;
    if s.interval_secs < min {
        errors.add(
            "interval",
            format!("must be greater than or equal to {min}"),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.into())
    }
}

/// The default settings of a new pull mirror (enabled, GitLab's 30 minutes).
pub fn default_settings() -> PullSettings {
    PullSettings {
        enabled: true,
        only_protected_branches: false,
        overwrite_diverged: false,
        mirror_branch_regex: None,
        trigger_builds: false,
        interval_secs: pull::DEFAULT_INTERVAL_SECS,
    }
}

/// `project`'s pull mirror, for anyone who administers it.
pub async fn pull_mirror_of(
    app: &App,
    project: &Project,
    caller: Caller,
) -> Result<Option<PullMirror>, ServiceError> {
    admit(caller)?;
    Ok(app.store.pull_mirror(project.id).await?)
}

/// Creates or changes `project`'s pull mirror as `req` asks. A new upstream (or new
/// credentials) starts its status over and syncs at once; enabling a disabled or paused mirror
/// syncs at once too.
pub async fn configure(
    app: &App,
    project: &Project,
    caller: Caller,
    req: PullRequest,
) -> Result<PullMirror, ServiceError> {
    admit(caller)?;
    let existing = app.store.pull_mirror(project.id).await?;
    let base = existing
        .as_ref()
        .map(|m| m.settings.clone())
        .unwrap_or_else(default_settings);
    let settings = PullSettings {
        enabled: req.enabled.unwrap_or(base.enabled),
        only_protected_branches: req
            .only_protected_branches
            .unwrap_or(base.only_protected_branches),
        overwrite_diverged: req.overwrite_diverged.unwrap_or(base.overwrite_diverged),
        mirror_branch_regex: match req.mirror_branch_regex {
            Some(v) => v.filter(|r| !r.is_empty()),
            None => base.mirror_branch_regex,
        },
        trigger_builds: req.trigger_builds.unwrap_or(base.trigger_builds),
        interval_secs: req.interval_secs.unwrap_or(base.interval_secs),
    };
    check_settings(app, &settings)?;
    let (upstream, fresh) = match (req.upstream, &existing) {
        (Some(mut u), Some(m)) => {
            let same = same_url(&m.upstream, &u.target);
            u.target = keep_stored(app, &m.upstream, u.target);
            let made = upstream_from(app, &u, "url").await?;
            let changed = !same
                || made.has_user != m.upstream.has_user
                || made.has_password != m.upstream.has_password
                || u.target.credentials.is_some()
                || u.host_keys.is_some()
                || u.auth_method.is_some_and(|a| a != m.upstream.auth_method);
            let made = if !changed
                || (made.ssh_public_key.is_some() && same && u.auth_method.is_none())
            {
                // An unchanged upstream keeps its key pair and sealed secrets as they are.
                crate::model::pull::Upstream {
                    ssh_known_hosts: made.ssh_known_hosts.or(m.upstream.ssh_known_hosts.clone()),
                    ..m.upstream.clone()
                }
            } else {
                made
            };
            (made, changed)
        }
        (Some(u), None) => (upstream_from(app, &u, "url").await?, true),
        (None, Some(m)) => (m.upstream.clone(), false),
        (None, None) => {
            return Err(ServiceError::field("url", "can't be blank"));
        }
    };
    let now = app.clock.now_ms();
    let resumed = existing
        .as_ref()
        .is_some_and(|m| settings.enabled && (!m.settings.enabled || m.paused));
    let mut tx = app.store.transaction().await?;
    let id = tx
        .save_pull_mirror(project.id, &upstream, &settings, fresh, now)
        .await?;
    if (fresh || resumed) && settings.enabled {
        if let Some(storage) = tx.resume_pull_mirror(id, now).await? {
            enqueue_in(
                &mut tx,
                &PullMirrorSync {
                    mirror_id: id,
                    storage,
                },
                now,
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    app.jobs_wakeup.notify_one();
    app.store
        .pull_mirror(project.id)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Asks for a sync of `project`'s pull mirror now (GitLab's `POST /projects/:id/mirror/pull`):
/// a paused mirror resumes; a request while a sync runs coalesces into one follow-up. Anyone
/// who may push asks (an upstream's webhook carries such a token).
pub async fn request_sync(
    app: &App,
    project: &Project,
    caller: Caller,
) -> Result<(), ServiceError> {
    if !caller.can_push() {
        return Err(ServiceError::Forbidden);
    }
    super::projects::writable(project)?;
    let Some(mirror) = app.store.pull_mirror(project.id).await? else {
        return Err(ServiceError::Refused(Refusal::PullMirrorNotConfigured));
    };
    let now = app.clock.now_ms();
    let mut tx = app.store.transaction().await?;
    let Some(storage) = tx.resume_pull_mirror(mirror.id, now).await? else {
        return Err(ServiceError::Refused(Refusal::PullMirrorNotConfigured));
    };
    enqueue_in(
        &mut tx,
        &PullMirrorSync {
            mirror_id: mirror.id,
            storage,
        },
        now,
        now,
    )
    .await?;
    tx.commit().await?;
    app.jobs_wakeup.notify_one();
    Ok(())
}

/// Turns `project`'s pull mirroring off (GitLab's `enabled=false`); every ref becomes
/// writable again.
pub async fn delete(app: &App, project: &Project, caller: Caller) -> Result<bool, ServiceError> {
    admit(caller)?;
    Ok(app.store.delete_pull_mirror(project.id).await?)
}

/// The ref filter of `m` (`model::pull::filter`), with its project's protected branches.
async fn filter_for(app: &App, m: &PullMirror) -> Result<RefFilter, ServiceError> {
    let patterns = if m.settings.only_protected_branches {
        app.store.protected_branch_names(m.project_id).await?
    } else {
        Vec::new()
    };
    Ok(pull::filter(&m.settings, patterns))
}

/// Enqueues a sync of every due pull mirror (the recurring sweep); returns how many.
pub async fn enqueue_due(app: &App) -> Result<usize, ServiceError> {
    let now = app.clock.now_ms();
    let due = app.store.due_pull_mirrors(now, DUE_PER_SWEEP).await?;
    for (mirror_id, storage) in &due {
        let job = PullMirrorSync {
            mirror_id: *mirror_id,
            storage: storage.clone(),
        };
        enqueue(&app.store, &job, now, now).await?;
    }
    if !due.is_empty() {
        app.jobs_wakeup.notify_one();
    }
    Ok(due.len())
}

/// Why a sync could not run at all (one that ran and failed is a status, not this).
#[derive(Debug, thiserror::Error)]
pub enum PullRunError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    NotServed(#[from] crate::storage::NotServed),
    #[error("{0}")]
    Other(String),
}

impl From<ServiceError> for PullRunError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => PullRunError::Store(e),
            e => PullRunError::Other(e.to_string()),
        }
    }
}

/// Runs one sync of pull mirror `id`, unless it is gone, disabled, paused or its project
/// archived; when its project's import still runs, asks to run again shortly (the returned
/// time).
pub async fn sync_pull_mirror(app: &App, id: i64) -> Result<Option<Millis>, PullRunError> {
    let Some(mirror) = app.store.pull_mirror_by_id(id).await? else {
        return Ok(None);
    };
    if !mirror.settings.enabled || mirror.paused {
        return Ok(None);
    }
    let project = match app.store.project_by_id(mirror.project_id).await? {
        Some(p) if !p.archived => p,
        _ => return Ok(None),
    };
    if app.store.import_running(project.id).await? {
        return Ok(Some(app.clock.now_ms() + IMPORT_WAIT_MS));
    }
    let repo = app.storages.open(&project.repo())?;
    let filter = filter_for(app, &mirror).await?;
    // A slot of the upstream's host, shared with push-mirror updates and imports.
    let _host = app
        .host_limits
        .for_url(&mirror.upstream.url)
        .acquire_owned()
        .await
        .expect("host semaphores are never closed");
    let started_at = app.clock.now_ms();
    let started = std::time::Instant::now();
    let not_before = started_at + mirror.settings.interval_secs.max(1) * 1000;
    if !app
        .store
        .mark_pull_started(id, started_at, not_before)
        .await?
    {
        return Ok(None);
    }
    let spec = SyncSpec {
        project: &project,
        repo: &repo,
        upstream: &mirror.upstream,
        owner_id: mirror.id,
        filter,
        overwrite_diverged: mirror.settings.overwrite_diverged,
    };
    // The LFS objects of the new commits, before any ref moves to them (every sync, not only
    // the first).
    let (lfs_project, lfs_repo) = (&project, &repo);
    let upstream = UpstreamLfs {
        upstream: &mirror.upstream,
        owner_id: mirror.id,
    };
    let result = sync_refs(app, &spec, std::future::pending(), |tips| async move {
        let fetched = fetch_for_tips(app, lfs_project, lfs_repo, upstream, &tips).await?;
        Ok(fetched.objects)
    })
    .await;
    let now = app.clock.now_ms();
    let outcome = match &result {
        Ok(report) => PullOutcome {
            status: UpdateStatus::Finished,
            last_error: diverged_error(&report.diverged),
            succeeded: true,
            failures: 0,
            paused: false,
            diverged_refs: report.diverged.clone(),
            next_sync_at: next_due(&mirror, now),
        },
        Err(e) => {
            if let PullError::Local(cause) = e {
                tracing::warn!(pull_mirror = id, error = %cause, "a pull mirror's sync failed here");
            }
            let after = after_failure(
                mirror.failures,
                app.tuning.pull_mirror_max_failures as i64,
                app.tuning.retry_delay_secs as i64 * 1000,
                mirror.settings.interval_secs,
                now,
            );
            PullOutcome {
                status: after.status,
                last_error: Some(e.public_message()),
                succeeded: false,
                failures: after.failures,
                paused: after.paused,
                diverged_refs: mirror.diverged_refs.clone(),
                next_sync_at: after.next_sync_at,
            }
        }
    };
    match &result {
        Ok(r) => tracing::info!(
            pull_mirror = id,
            project = project.id,
            moved = r.moved(),
            diverged = r.diverged.len(),
            "pull mirror synced"
        ),
        Err(e) => {
            tracing::info!(pull_mirror = id, project = project.id, error = %e, "pull mirror sync failed")
        }
    }
    let recorded =
        super::pull_outcomes::record(app, &mirror, &outcome, started_at, now, started.elapsed())
            .await?;
    // The job itself is the schedule: it runs again when the mirror is due (the sweep only
    // catches a mirror left without a job).
    Ok((recorded && !outcome.paused).then_some(outcome.next_sync_at))
}

/// When `m` is due next after a success at `now`: its interval plus up to [`JITTER_MS`].
fn next_due(m: &PullMirror, now: Millis) -> Millis {
    use rand::Rng;
    let jitter = rand::thread_rng().gen_range(0..JITTER_MS);
    now + m.settings.interval_secs.max(1) * 1000 + jitter
}
