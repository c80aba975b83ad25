//! The deliveries an event makes: one `hook_delivery` job per hook that hears of it, with the
//! payload built now and the event's UUID and idempotency key fixed now, so every retry of a
//! delivery sends the same event. The callers enqueue the jobs in the transaction that records
//! the event itself (`record_push`, a mirror's status transition): an event is announced
//! exactly when it is recorded.
//!
//! Also the sample events of the test endpoint, built from the repository as GitLab does.

use serde_json::Value;

use crate::app::App;
use crate::git::repository::{self, CommitInfo, RefKind};
use crate::model::entities::{Project, RemoteMirror, User};
use crate::model::hooks::{ProjectHook, Trigger, MAX_PAYLOAD_COMMITS, PUSH_EVENT_HOOKS_LIMIT};
use crate::model::pull::PullMirror;
use crate::model::pull_health::PullHealth;
use crate::model::status::HealthEvent;
use crate::service::error::{Refusal, ServiceError};
use crate::store::{NewJob, StoreError};

use super::deliver::Delivery;
use super::event_id::uuid;
use super::payload::{self, PushData};

/// The delivery job of `data` to `hook`: a new event with its own UUID and idempotency key.
fn job(hook: &ProjectHook, trigger: Trigger, data: &Value, now: i64) -> NewJob {
    let delivery = Delivery {
        hook_id: hook.id,
        trigger: trigger.hook_name().to_owned(),
        event_uuid: uuid(),
        idempotency_key: uuid(),
        created_at: now,
        data: data.clone(),
    };
    crate::queue::job(&delivery, now)
}

/// One ref a push changed, as git reported it.
#[derive(Debug, Clone)]
pub struct PushedRef {
    pub before: String,
    pub after: String,
    /// The full name, `refs/heads/…` or `refs/tags/…`.
    pub name: String,
}

fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

/// The deliveries of a push into `project` by `pusher` that changed `changed` (refs that took
/// effect): one event per ref, as GitLab, to each executable hook subscribed to it (branches
/// through its filter). A push of more than [`PUSH_EVENT_HOOKS_LIMIT`] branches (or tags)
/// fires no push (or tag push) hooks, as in GitLab. `default_branch` is the project's before
/// the push. Commits are read from the repository; a ref git cannot describe goes without them.
pub async fn push_deliveries(
    app: &App,
    project: &Project,
    pusher: Option<i64>,
    changed: &[PushedRef],
    default_branch: Option<&str>,
) -> Result<Vec<NewJob>, StoreError> {
    let now = app.clock.now_ms();
    let hooks: Vec<ProjectHook> = app
        .store
        .event_hooks(project.id)
        .await?
        .into_iter()
        .filter(|h| h.health.executable(now))
        .collect();
    if !hooks
        .iter()
        .any(|h| h.subscribes(Trigger::Push) || h.subscribes(Trigger::TagPush))
    {
        return Ok(Vec::new());
    }
    let branches = changed
        .iter()
        .filter(|r| r.name.starts_with("refs/heads/"))
        .count();
    let tags = changed
        .iter()
        .filter(|r| r.name.starts_with("refs/tags/"))
        .count();
    let user = match pusher {
        Some(id) => app.store.user_by_id(id).await?,
        None => None,
    };
    // Recording runs where the push ran, so the repository is this node's.
    let repo = match app.storages.open(&project.repo()) {
        Ok(repo) => repo,
        Err(e) => {
            tracing::error!(project = project.id, error = %e, "cannot describe a push for webhooks");
            return Ok(Vec::new());
        }
    };
    let repo = &repo;
    let mut jobs = Vec::new();
    for r in changed {
        let (trigger, count) = if r.name.starts_with("refs/heads/") {
            (Trigger::Push, branches)
        } else if r.name.starts_with("refs/tags/") {
            (Trigger::TagPush, tags)
        } else {
            continue;
        };
        if count > PUSH_EVENT_HOOKS_LIMIT {
            continue;
        }
        let hearing: Vec<&ProjectHook> =
            hooks.iter().filter(|h| h.hears(trigger, &r.name)).collect();
        if hearing.is_empty() {
            continue;
        }
        let data = describe(
            app,
            project,
            repo,
            trigger,
            r,
            user.as_ref(),
            default_branch,
        )
        .await;
        jobs.extend(hearing.into_iter().map(|h| job(h, trigger, &data, now)));
    }
    Ok(jobs)
}

/// The payload of one pushed ref, read from the repository after the push.
async fn describe(
    app: &App,
    project: &Project,
    repo: &crate::storage::LocalRepo,
    trigger: Trigger,
    r: &PushedRef,
    user: Option<&User>,
    default_branch: Option<&str>,
) -> Value {
    let deleted = is_zero(&r.after);
    let (commits, total, checkout, message) = if deleted {
        (Vec::new(), 0, None, None)
    } else if trigger == Trigger::TagPush {
        let peeled = repository::resolve_commit(&app.git, repo, &r.after)
            .await
            .ok()
            .flatten();
        let message = repository::tag_message(&app.git, repo, &r.name)
            .await
            .ok()
            .flatten();
        (Vec::new(), 0, peeled, message)
    } else {
        // GitLab: a new default branch brings its history; another new branch what the
        // default branch lacks; an update what lies between the two ids.
        let branch = r.name.trim_start_matches("refs/heads/");
        let exclude = if !is_zero(&r.before) {
            Some(r.before.clone())
        } else {
            default_branch
                .filter(|d| *d != branch)
                .map(|d| format!("refs/heads/{d}"))
        };
        match repository::commits_since(
            &app.git,
            repo,
            &r.after,
            exclude.as_deref(),
            MAX_PAYLOAD_COMMITS,
        )
        .await
        {
            Ok((commits, total)) => (commits, total, Some(r.after.clone()), None),
            Err(e) => {
                tracing::warn!(project = project.id, error = %e, "cannot read a push's commits for its webhooks");
                (Vec::new(), 0, Some(r.after.clone()), None)
            }
        }
    };
    payload::push(
        project,
        &app.external_url,
        &PushData {
            trigger,
            before: &r.before,
            after: &r.after,
            name: &r.name,
            checkout_sha: checkout.as_deref(),
            message: message.as_deref(),
            commits: &commits,
            total_commits: total,
            user,
        },
    )
}

/// A mirror's health change, with the mirror as its update left it.
pub struct MirrorEvent<'a> {
    pub mirror: &'a RemoteMirror,
    pub event: HealthEvent,
}

fn mirror_event_name(event: HealthEvent) -> &'static str {
    match event {
        HealthEvent::StartedFailing => "remote_mirror_failed",
        HealthEvent::Recovered => "remote_mirror_recovered",
    }
}

/// The deliveries of a mirror's health change to every executable hook of its project with
/// `remote_mirror_events`.
pub async fn mirror_event_deliveries(
    app: &App,
    e: MirrorEvent<'_>,
) -> Result<Vec<NewJob>, StoreError> {
    let now = app.clock.now_ms();
    let hooks: Vec<ProjectHook> = app
        .store
        .event_hooks(e.mirror.project_id)
        .await?
        .into_iter()
        .filter(|h| h.subscribes(Trigger::RemoteMirror) && h.health.executable(now))
        .collect();
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    let Some(project) = app.store.project_by_id(e.mirror.project_id).await? else {
        return Ok(Vec::new());
    };
    let data = payload::remote_mirror(
        &project,
        &app.external_url,
        e.mirror,
        mirror_event_name(e.event),
    );
    Ok(hooks
        .iter()
        .map(|h| job(h, Trigger::RemoteMirror, &data, now))
        .collect())
}

/// A pull mirror's health change, with the mirror as its sync left it.
pub struct PullMirrorEvent<'a> {
    pub mirror: &'a PullMirror,
    pub health: PullHealth,
}

/// The `event_name`s of a pull mirror's health change, in the order they happened (a first
/// failure that pauses the mirror at once is both).
fn pull_event_names(h: PullHealth) -> Vec<&'static str> {
    let mut names = Vec::new();
    match h.event {
        Some(HealthEvent::StartedFailing) => names.push("pull_mirror_failed"),
        Some(HealthEvent::Recovered) => names.push("pull_mirror_recovered"),
        None => {}
    }
    if h.paused {
        names.push("pull_mirror_paused");
    }
    names
}

/// The deliveries of a pull mirror's health change to every executable hook of its project
/// with `remote_mirror_events` (the one subscription to mirror health, either direction).
pub async fn pull_mirror_event_deliveries(
    app: &App,
    e: PullMirrorEvent<'_>,
) -> Result<Vec<NewJob>, StoreError> {
    let names = pull_event_names(e.health);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let now = app.clock.now_ms();
    let hooks: Vec<ProjectHook> = app
        .store
        .event_hooks(e.mirror.project_id)
        .await?
        .into_iter()
        .filter(|h| h.subscribes(Trigger::RemoteMirror) && h.health.executable(now))
        .collect();
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    let Some(project) = app.store.project_by_id(e.mirror.project_id).await? else {
        return Ok(Vec::new());
    };
    let mut jobs = Vec::new();
    for name in names {
        let data = payload::pull_mirror(&project, &app.external_url, e.mirror, name);
        jobs.extend(
            hooks
                .iter()
                .map(|h| job(h, Trigger::RemoteMirror, &data, now)),
        );
    }
    Ok(jobs)
}

/// The sample event of the test endpoint: the default branch's last three commits as a push
/// (GitLab's `build_sample`), the first tag as a tag push, the first mirror as its last health
/// change. GitLab's 422 messages when there is nothing to show.
pub(super) async fn sample(
    app: &App,
    project: &Project,
    trigger: Trigger,
    user: &User,
) -> Result<Value, ServiceError> {
    let repo = &crate::service::projects::repository(app, project)?;
    let internal = |e: crate::git::GitError| ServiceError::Internal(e.to_string());
    match trigger {
        Trigger::Push => {
            let branch = project
                .default_branch
                .clone()
                .filter(|_| !project.empty_repo);
            let Some(branch) = branch else {
                return Err(ServiceError::Refused(Refusal::TestNeedsCommit));
            };
            let name = format!("refs/heads/{branch}");
            let commits: Vec<CommitInfo> = repository::recent_commits(&app.git, repo, &name, 3)
                .await
                .map_err(internal)?;
            let (Some(newest), Some(oldest)) = (commits.first(), commits.last()) else {
                return Err(ServiceError::Refused(Refusal::TestNeedsCommit));
            };
            Ok(payload::push(
                project,
                &app.external_url,
                &PushData {
                    trigger,
                    before: &oldest.id,
                    after: &newest.id,
                    name: &name,
                    checkout_sha: Some(&newest.id),
                    message: None,
                    commits: &commits,
                    total_commits: commits.len() as u64,
                    user: Some(user),
                },
            ))
        }
        Trigger::TagPush => {
            let tags = repository::list_refs(&app.git, repo, RefKind::Tags)
                .await
                .map_err(internal)?;
            let Some(tag) = tags.first() else {
                return Err(ServiceError::Refused(Refusal::TestNeedsTag));
            };
            let name = format!("refs/tags/{}", tag.name);
            let zero = "0".repeat(tag.target.len());
            Ok(payload::push(
                project,
                &app.external_url,
                &PushData {
                    trigger,
                    before: &zero,
                    after: &tag.target,
                    name: &name,
                    checkout_sha: Some(&tag.commit.id),
                    message: tag.tag_message.as_deref(),
                    commits: &[],
                    total_commits: 0,
                    user: Some(user),
                },
            ))
        }
        Trigger::RemoteMirror => {
            let page = crate::store::PageRequest {
                page: 1,
                per_page: 1,
            };
            let first = app
                .store
                .mirrors(project.id, page)
                .await?
                .items
                .into_iter()
                .next();
            let mirror = match first {
                Some(m) => app.store.mirror_by_id(m.id).await?,
                None => None,
            };
            let Some(mirror) = mirror else {
                return Err(ServiceError::Refused(Refusal::TestNeedsMirror));
            };
            let event = if mirror.last_error.is_some() {
                HealthEvent::StartedFailing
            } else {
                HealthEvent::Recovered
            };
            Ok(payload::remote_mirror(
                project,
                &app.external_url,
                &mirror,
                mirror_event_name(event),
            ))
        }
    }
}
