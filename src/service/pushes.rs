//! Recording a push: what happens after refs change in a hosted repository, whoever changed
//! them. The entry points (a smart-HTTP push once git has exited, the repository API, the
//! `pushmirror hook post-receive` command) reach it through [`super::push_session`]; the
//! `record_push` job calls it when a push's recording was lost. Each hands [`record_push_by`]
//! the `<old> <new> <ref>` updates (none when they are unknown); it records the
//! repository's new state and asks for every enabled mirror of the project to be updated, in
//! one transaction that also deletes the push's intent and enqueues the push's webhook events
//! (one per changed branch or tag, `service::hooks`).
//!
//! A change first writes an intent ([`write_intent_with`]) before any ref may move,
//! so once a client has seen its push accepted, the need to update the mirrors is durable even
//! if the server dies before the push is recorded.
//!
//! Who may push what is decided before git runs, by [`judge_push`] (and, for fast-forward-only
//! refs, by git's pre-receive hook); recording never judges, it only records what happened.

use crate::storage::LocalRepo;
use std::collections::HashMap;

use crate::app::App;
pub use crate::git::protocol::RefUpdate;
use crate::git::{refs, GitError, GitRunner, Subcommand};
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::model::pull;
use crate::model::push_rules::{Change, PushRules, Verdict};
use crate::queue::{enqueue, JobKind, Queue};
use crate::service::hooks::{push_deliveries, PushedRef};
use crate::store::StoreError;

/// Most updates of one push whose refs are read by name afterwards; a push with more lists every
/// ref instead (one argv entry per name would grow past what is sensible to pass).
const NAMED_REFS_MAX: usize = 64;

/// What a push may do, judged from its command list before git runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PushJudgement {
    /// Refs refused outright, each with GitLab's reason; any makes the whole push refused.
    pub refused: Vec<(String, &'static str)>,
    /// Refs that may change only by fast-forward (git's pre-receive hook decides).
    pub fast_forward_only: Vec<String>,
}

/// Judges `updates` by `caller` against the project's protected-branch rules
/// (`model::push_rules`). The caller already may push to the project.
pub async fn judge_push(
    app: &App,
    project: &Project,
    caller: Caller,
    updates: &[RefUpdate],
) -> Result<PushJudgement, StoreError> {
    let mut judgement = PushJudgement::default();
    if updates.is_empty() {
        return Ok(judgement);
    }
    if let Some(refused) = refused_by_pulls(app, project.id, updates).await? {
        judgement.refused = refused;
        return Ok(judgement);
    }
    let rules = PushRules::new(app.store.protected_branch_rules(project.id).await?);
    if rules.is_empty() {
        return Ok(judgement);
    }
    for u in updates {
        let change = if u.is_delete() {
            Change::Delete
        } else if u.is_create() {
            Change::Create
        } else {
            Change::Update
        };
        match rules.judge(caller, u.branch(), change) {
            Verdict::Allowed => {}
            Verdict::FastForwardOnly => judgement.fast_forward_only.push(u.name.clone()),
            Verdict::Refused(why) => judgement.refused.push((u.name.clone(), why)),
        }
    }
    Ok(judgement)
}

/// The refs of `updates` that an import or a pull mirror owns, with why; `None` when the
/// project neither imports nor pull-mirrors (or none of the refs is theirs).
pub(crate) async fn refused_by_pulls(
    app: &App,
    project_id: i64,
    updates: &[RefUpdate],
) -> Result<Option<Vec<(String, &'static str)>>, StoreError> {
    let (importing, mirror) = app.store.pull_guard(project_id).await?;
    if importing {
        let refused = updates
            .iter()
            .map(|u| (u.name.clone(), pull::IMPORT_REFUSAL))
            .collect();
        return Ok(Some(refused));
    }
    let Some(settings) = mirror.filter(|s| s.enabled) else {
        return Ok(None);
    };
    let patterns = if settings.only_protected_branches {
        app.store.protected_branch_names(project_id).await?
    } else {
        Vec::new()
    };
    let filter = pull::filter(&settings, patterns);
    let refused: Vec<(String, &'static str)> = updates
        .iter()
        .filter(|u| pull::mirrors_ref(&filter, &u.name))
        .map(|u| (u.name.clone(), pull::PULL_MIRROR_REFUSAL))
        .collect();
    Ok((!refused.is_empty()).then_some(refused))
}

/// Errors of recording a push.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    NotServed(#[from] crate::storage::NotServed),
}

/// What [`record_push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRecord {
    /// No branch or tag ended up changed (every update was refused, or none was given).
    Unchanged,
    /// The project's state was recorded and this many enabled mirrors were asked to update.
    Recorded {
        default_branch: Option<String>,
        mirrors_requested: u64,
    },
    /// The project no longer exists (deleted while the push ran).
    NoProject,
}

/// What an intent knows of its push: who pushed and, for a push of at most
/// [`NAMED_REFS_MAX`] refs, its command list, so that a push recorded from its intent is
/// announced to webhooks like any other.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntentDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pusher: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<Vec<RefUpdate>>,
}

impl IntentDetails {
    /// Reads the line format of intents written before JSON payloads: the project id on the
    /// first line, then `user <id>` and the `<old> <new> <ref>` lines.
    fn parse_lines(payload: &str) -> Option<(i64, IntentDetails)> {
        let mut lines = payload.lines();
        let project_id = lines.next()?.trim().parse().ok()?;
        let mut details = IntentDetails::default();
        let mut updates = Vec::new();
        for line in lines {
            match line.strip_prefix("user ") {
                Some(id) => details.pusher = id.trim().parse().ok(),
                None => updates.extend(RefUpdate::parse(line)),
            }
        }
        details.updates = (!updates.is_empty()).then_some(updates);
        Some((project_id, details))
    }
}

/// The `record_push` job kind: the intent of one push into a project, due once the push could
/// no longer be running unless deleted first (`jobs::record_push` records it then). Each push
/// has its own key (`push:<project>:<nonce>`), so one push's recording never deletes another's
/// intent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PushIntent {
    pub project_id: i64,
    /// The project's storage: only a node serving it records the push.
    #[serde(default)]
    pub storage: Option<String>,
    /// Random, in hex: tells this push's intent from others into the same project.
    #[serde(default)]
    pub nonce: String,
    #[serde(flatten)]
    pub details: IntentDetails,
}

impl JobKind for PushIntent {
    const NAME: &'static str = "record_push";
    const QUEUE: Queue = Queue::MirrorUpdates;

    fn dedup_key(&self) -> String {
        format!("push:{}:{}", self.project_id, self.nonce)
    }

    fn storage(&self) -> Option<String> {
        self.storage.clone()
    }

    /// JSON, or the line format of intents written before JSON payloads (without a nonce:
    /// their key is stored already).
    fn decode(payload: &str) -> Result<Self, String> {
        if let Ok(intent) = serde_json::from_str(payload) {
            return Ok(intent);
        }
        let (project_id, details) = IntentDetails::parse_lines(payload)
            .ok_or_else(|| format!("bad {} payload {payload:?}", Self::NAME))?;
        Ok(PushIntent {
            project_id,
            storage: None,
            nonce: String::new(),
            details,
        })
    }
}

/// Writes the durable intent of a push into `project_id` before receive-pack starts; returns its
/// key, which [`record_push`] deletes once the push is recorded. Should the server die first,
/// the `record_push` job records the repository's state at the next start.
pub async fn write_intent(app: &App, project_id: i64) -> Result<String, StoreError> {
    write_intent_with(app, project_id, &IntentDetails::default()).await
}

/// [`write_intent`] for a push whose pusher and command list are known (a push over smart
/// HTTP): a recording from the intent then announces it to webhooks too.
pub async fn write_intent_with(
    app: &App,
    project_id: i64,
    details: &IntentDetails,
) -> Result<String, StoreError> {
    let now = app.clock.now_ms();
    // Due only after the longest a push may take, so a slow push is recorded by its own
    // request; a restart makes every intent left behind due at once.
    let due = now + app.git.timeout().as_millis() as i64 + app.tuning.lease_secs as i64 * 1000;
    let mut details = details.clone();
    if details
        .updates
        .as_ref()
        .is_some_and(|u| u.len() > NAMED_REFS_MAX)
    {
        details.updates = None;
    }
    let intent = PushIntent {
        project_id,
        storage: app.store.project_storage(project_id).await?,
        nonce: format!("{:016x}", rand::random::<u64>()),
        details,
    };
    enqueue(&app.store, &intent, due, now).await?;
    Ok(intent.dedup_key())
}

/// Deletes the intent `key` of a push that changed nothing (its refs were refused before git
/// could move them).
pub async fn drop_intent(app: &App, key: &str) -> Result<(), StoreError> {
    let mut tx = app.store.transaction().await?;
    tx.delete_job(key).await?;
    tx.commit().await
}

/// Records a push into project `project_id`'s repository: when any of `updates` to a branch or
/// tag actually took effect (or, with `updates` unknown, in any case), sets the project's
/// default branch on its first push (the repository's HEAD when that branch exists, else the
/// first branch pushed, and points HEAD at it), refreshes `empty_repo`, requests an update of
/// every enabled mirror and deletes the intent `intent` — all in one transaction — then wakes
/// the job runner.
///
/// Cost: reading the refs the push named from the ref files (a `for-each-ref` of them when only
/// git can tell; of every ref when it named more than [`NAMED_REFS_MAX`]), a `for-each-ref` when every named ref was deleted (is the repository empty
/// now?), and on a first push a listing of every ref and at most two `symbolic-ref` calls.
/// Idempotent: running it twice for the same push requests one more mirror update, which the
/// engine coalesces.
pub async fn record_push(
    app: &App,
    project_id: i64,
    updates: Option<&[RefUpdate]>,
    intent: Option<&str>,
) -> Result<PushRecord, RecordError> {
    record_push_by(app, project_id, updates, intent, None).await
}

/// [`record_push`] for a push by the user `pusher` (when known): the push events of the refs
/// that changed go to the project's webhooks, enqueued in the same transaction.
pub async fn record_push_by(
    app: &App,
    project_id: i64,
    updates: Option<&[RefUpdate]>,
    intent: Option<&str>,
    pusher: Option<i64>,
) -> Result<PushRecord, RecordError> {
    let record = examine(app, project_id, updates).await?;
    // Webhook payloads need git (the pushed commits), so they are built before the
    // transaction; their jobs are enqueued in it.
    let announcements = match &record {
        Examined::Changed {
            project: Some(project),
            changed,
            ..
        } if !changed.is_empty() => {
            let pushed: Vec<PushedRef> = changed
                .iter()
                .map(|u| PushedRef {
                    before: u.old.clone(),
                    after: u.new.clone(),
                    name: u.name.clone(),
                })
                .collect();
            let default_branch = project.default_branch.as_deref();
            push_deliveries(app, project, pusher, &pushed, default_branch).await?
        }
        _ => Vec::new(),
    };
    let now = app.clock.now_ms();
    let mut tx = app.store.transaction().await?;
    let mut requested = 0;
    if let Examined::Changed {
        default_branch,
        default_head,
        empty,
        ..
    } = &record
    {
        tx.set_repository_state(
            project_id,
            default_branch.as_deref(),
            default_head.as_deref(),
            *empty,
            now,
        )
        .await?;
        requested = super::mirror_jobs::request_project_updates(&mut tx, project_id, now).await?;
        for job in &announcements {
            tx.enqueue_job(job, now).await?;
        }
    }
    if let Some(key) = intent {
        tx.delete_job(key).await?;
    }
    tx.commit().await?;
    if requested > 0 || !announcements.is_empty() {
        app.jobs_wakeup.notify_one();
    }
    Ok(match record {
        Examined::Unchanged => PushRecord::Unchanged,
        Examined::NoProject => PushRecord::NoProject,
        Examined::Changed { default_branch, .. } => PushRecord::Recorded {
            default_branch,
            mirrors_requested: requested,
        },
    })
}

/// What a push changed, before anything is written.
enum Examined {
    Unchanged,
    NoProject,
    Changed {
        default_branch: Option<String>,
        /// The commit the default branch points at after the push.
        default_head: Option<String>,
        empty: bool,
        /// The project as it was before the push (`None` when the updates were unknown and
        /// so are not announced).
        project: Option<Box<Project>>,
        /// The branch and tag updates that took effect (none when unknown).
        changed: Vec<RefUpdate>,
    },
}

async fn examine(
    app: &App,
    project_id: i64,
    updates: Option<&[RefUpdate]>,
) -> Result<Examined, RecordError> {
    let git = &app.git;
    let Some(project) = app.store.project_by_id(project_id).await? else {
        return Ok(Examined::NoProject);
    };
    let repo = app.storages.open(&project.repo())?;
    let repo = &repo;
    let Some(updates) = updates else {
        // What changed is unknown (a lost recording): record the repository as it is.
        let all = current_refs(git, repo).await?;
        let default_branch = match project.default_branch {
            Some(b) => Some(b),
            None => choose_default_branch(git, repo, &all, &[]).await?,
        };
        let default_head = default_branch
            .as_ref()
            .and_then(|b| all.get(&format!("refs/heads/{b}")).cloned());
        let empty = all.is_empty();
        return Ok(Examined::Changed {
            default_branch,
            default_head,
            empty,
            project: None,
            changed: Vec::new(),
        });
    };
    // A push names the refs it changed; reading just those spares listing every ref of a
    // large repository (90 ms for 100,000) on every push.
    let named =
        updates.len() <= NAMED_REFS_MAX && updates.iter().all(|u| u.name.starts_with("refs/"));
    let refs = if named {
        let names: Vec<String> = updates.iter().map(|u| u.name.clone()).collect();
        named_refs(git, repo, &names).await?
    } else {
        current_refs(git, repo).await?
    };
    // git may have refused some updates (a stale old value, a failed lock): judge by the result.
    let took_effect = |u: &RefUpdate| match refs.get(&u.name) {
        Some(id) => !u.is_delete() && *id == u.new,
        None => u.is_delete(),
    };
    let changed: Vec<&RefUpdate> = updates
        .iter()
        .filter(|u| u.is_mirrored() && took_effect(u))
        .collect();
    if changed.is_empty() {
        return Ok(Examined::Unchanged);
    }
    let default_branch = match &project.default_branch {
        Some(b) => Some(b.clone()),
        // The first push: rare, and HEAD's branch may be one this push did not name.
        None => {
            let all = current_refs(git, repo).await?;
            choose_default_branch(git, repo, &all, &changed).await?
        }
    };
    let default_head = match &default_branch {
        Some(b) => branch_head(git, repo, &refs, named, b).await?,
        None => None,
    };
    let empty = if refs.is_empty() && named {
        !any_ref(git, repo).await?
    } else {
        refs.is_empty()
    };
    let changed = changed.into_iter().cloned().collect();
    Ok(Examined::Changed {
        default_branch,
        default_head,
        empty,
        project: Some(Box::new(project)),
        changed,
    })
}

/// The commit branch `branch` points at, if it exists: recorded with the push, so the pages
/// that show how far a mirror is behind read the database instead of this node's disk. `known`
/// are the refs already read for this push; the branch is read only when it is not among them.
async fn branch_head(
    git: &GitRunner,
    repo: &LocalRepo,
    known: &HashMap<String, String>,
    named: bool,
    branch: &str,
) -> Result<Option<String>, GitError> {
    let name = format!("refs/heads/{branch}");
    if known.contains_key(&name) || !named {
        // Every ref was listed (`!named`), or this one was read with the push's own.
        return Ok(known.get(&name).cloned());
    }
    Ok(named_refs(git, repo, std::slice::from_ref(&name))
        .await?
        .remove(&name))
}

/// Every ref of the repository and the id it points at.
async fn current_refs(
    git: &GitRunner,
    repo: &LocalRepo,
) -> Result<HashMap<String, String>, GitError> {
    let out = git
        .command(Some(repo), Subcommand::ForEachRef)
        .args(["--format=%(objectname) %(refname)"])
        .run()
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, name)| (name.to_owned(), id.to_owned()))
        .collect())
}

/// The refs named by `updates` that exist, and the id each points at. `for-each-ref` patterns
/// also match below a name (`refs/heads/a` matches `refs/heads/a/b`), so only exact names are kept.
/// Read from the ref files when [`refs::read_named`] can, from `git for-each-ref` otherwise.
async fn named_refs(
    git: &GitRunner,
    repo: &LocalRepo,
    names: &[String],
) -> Result<HashMap<String, String>, GitError> {
    let dir = repo.to_owned();
    let wanted = names.to_vec();
    let read = tokio::task::spawn_blocking(move || {
        let names = wanted;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        refs::read_named(&dir, &names)
    });
    if let Ok(Some(found)) = read.await {
        return Ok(found);
    }
    let out = git
        .command(Some(repo), Subcommand::ForEachRef)
        .args(["--format=%(objectname) %(refname)", "--end-of-options"])
        .args(names)
        .run()
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, name)| names.iter().any(|n| n == name))
        .map(|(id, name)| (name.to_owned(), id.to_owned()))
        .collect())
}

/// Whether the repository has any ref at all.
async fn any_ref(git: &GitRunner, repo: &LocalRepo) -> Result<bool, GitError> {
    let out = git
        .command(Some(repo), Subcommand::ForEachRef)
        .args(["--count=1", "--format=%(refname)"])
        .run()
        .await?;
    Ok(!out.stdout.is_empty())
}

/// The default branch for a project that has none yet: HEAD's branch if it exists, else the first
/// branch this push created; HEAD is pointed at the choice so clones check it out.
async fn choose_default_branch(
    git: &GitRunner,
    repo: &LocalRepo,
    refs: &HashMap<String, String>,
    changed: &[&RefUpdate],
) -> Result<Option<String>, GitError> {
    let head = git
        .command(Some(repo), Subcommand::SymbolicRef)
        .args(["-q", "HEAD"])
        .run()
        .await
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(branch) = head
        .as_deref()
        .filter(|h| refs.contains_key(*h))
        .and_then(|h| h.strip_prefix("refs/heads/"))
    {
        return Ok(Some(branch.to_owned()));
    }
    let Some(first) = changed
        .iter()
        .find(|u| !u.is_delete() && u.branch().is_some())
    else {
        return Ok(None);
    };
    git.command(Some(repo), Subcommand::SymbolicRef)
        .args(["HEAD", first.name.as_str()])
        .run()
        .await?;
    Ok(first.branch().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intent_is_json_with_its_key_and_storage_and_reads_the_old_line_format() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let intent = PushIntent {
            project_id: 7,
            storage: Some("b".into()),
            nonce: "00000000000000ff".into(),
            details: IntentDetails {
                pusher: Some(3),
                updates: Some(vec![
                    RefUpdate::parse(&format!("{z} {a} refs/heads/main")).unwrap()
                ]),
            },
        };
        let row = crate::queue::job(&intent, 5);
        assert_eq!(row.kind, "record_push");
        assert_eq!(row.dedup_key, "push:7:00000000000000ff");
        assert_eq!(row.storage.as_deref(), Some("b"));
        assert!(row.payload.starts_with('{'), "{}", row.payload);
        assert_eq!(PushIntent::decode(&row.payload), Ok(intent.clone()));

        // Intents queued by an older release: the line format, with or without details.
        let old = PushIntent::decode(&format!("7\nuser 3\n{z} {a} refs/heads/main")).unwrap();
        assert_eq!((old.project_id, old.storage.as_deref()), (7, None));
        assert_eq!(old.details, intent.details);
        let bare = PushIntent::decode("7").unwrap();
        assert_eq!(
            (bare.project_id, bare.details),
            (7, IntentDetails::default())
        );
        assert!(PushIntent::decode("not an intent").is_err());
    }
}
