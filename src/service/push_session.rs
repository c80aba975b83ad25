//! A change of a hosted repository's refs as one use case, whoever makes it: a git client's push
//! (over smart HTTP today, SSH next), a branch or tag the repository API creates or deletes, the
//! `pushmirror hook post-receive` command, a pull mirror's fetch. Each states its change as one
//! [`RefChange`] (who, which `<old> <new> <ref>` updates, and through which [`Origin`]) and goes
//! through the same steps, so every entry point records the same way:
//!
//! 1. [`PushSession::begin`] judges a git client's command list (the protected-branch rules of
//!    [`judge_push`], then the archived rule) and refuses it whole, writing nothing; an accepted
//!    change writes its durable intent ([`write_intent_with`]) before anything can move a ref.
//!    A change its entry point judged itself (the API) starts at [`PushSession::begin_judged`].
//! 2. The entry point moves the refs: receive-pack from [`PushSession::receive_pack`], whose
//!    pre-receive hook also refuses pushes that change paths other users locked in LFS or bring
//!    LFS pointers the project lacks ([`lfs_integrity`]), finished by [`PushSession::finish_when`]; or `update-ref`.
//! 3. [`PushSession::finish`] (or [`PushSession::finish_after`], given how receive-pack ended)
//!    records what took effect with [`record_push_by`], which deletes the intent in the same
//!    transaction; [`PushSession::abandon`] deletes the intent of a change that moved nothing.
//!
//! A change already made when pushmirror hears of it (the post-receive hook, a fetch) has no
//! intent to write and is only recorded ([`record`]).
//!
//! Invariant: no ref moves before its intent is durable, and a refused change writes nothing.

use std::future::Future;

use crate::app::App;
use crate::git::protocol::pktline::{self, CommandList};
use crate::git::service::Exit;
use crate::git::GitCommand;
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::service::lfs_integrity::{self, LfsCheck};
use crate::service::pushes::{
    drop_intent, judge_push, record_push_by, write_intent_with, IntentDetails, PushRecord,
    RecordError, RefUpdate,
};
use crate::service::refusal::ARCHIVED_REFUSAL;
use crate::storage::LocalRepo;
use crate::store::StoreError;

/// Where a change of refs came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A git client's push over smart HTTP.
    HttpPush,
    /// A git client's push over SSH.
    SshPush,
    /// The repository API (creating or deleting a branch or tag).
    Api,
    /// The `pushmirror hook post-receive` command, for a push that reached the repository
    /// another way.
    Hook,
    /// A pull mirror's fetch.
    PullMirror,
}

impl Origin {
    /// The name logs give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::HttpPush => "http push",
            Origin::SshPush => "ssh push",
            Origin::Api => "api",
            Origin::Hook => "post-receive hook",
            Origin::PullMirror => "pull mirror",
        }
    }
}

/// One change of a repository's refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    /// Where it came from.
    pub origin: Origin,
    /// The user who made it, when one did: its webhook events name them.
    pub pusher: Option<i64>,
    /// The updates asked for (or, for a change already made, made), in order.
    pub updates: Vec<RefUpdate>,
}

/// What [`PushSession::begin`] decided.
#[derive(Debug)]
pub enum Begun {
    /// The whole change is refused; nothing was written. Each refused ref comes with GitLab's
    /// reason, in command-list order (never empty).
    Refused(Vec<(String, &'static str)>),
    /// The change may go ahead: its intent is durable.
    Accepted(PushSession),
}

/// An accepted change of refs between its intent and its recording.
#[derive(Debug)]
#[must_use = "a session must be finished or abandoned, or its intent waits for the job runner"]
pub struct PushSession {
    project_id: i64,
    change: RefChange,
    /// The intent's key; `None` when a git client's command list names no update (git's
    /// authentication probe, an empty push), which has nothing to record.
    intent: Option<String>,
    /// Refs that may move only by fast-forward (git's pre-receive hook decides).
    fast_forward_only: Vec<String>,
    /// The project, when the push needs the LFS checks ([`lfs_integrity`]).
    lfs_check: Option<Box<Project>>,
    /// The check answering receive-pack's hook, once [`PushSession::receive_pack`] started it.
    lfs: Option<Box<LfsCheck>>,
}

impl PushSession {
    /// Judges a git client's `change` to `project` by `caller` (who may push to it): refused
    /// whole when any ref is protected from the caller or the project is archived, else its
    /// intent is written.
    pub async fn begin(
        app: &App,
        project: &Project,
        caller: Caller,
        change: RefChange,
    ) -> Result<Begun, StoreError> {
        let mut judgement = judge_push(app, project, caller, &change.updates).await?;
        if project.archived {
            judgement.refused = change
                .updates
                .iter()
                .map(|u| (u.name.clone(), ARCHIVED_REFUSAL))
                .collect();
        }
        if !judgement.refused.is_empty() {
            return Ok(Begun::Refused(judgement.refused));
        }
        let lfs_check =
            lfs_integrity::needed(project, &change.updates).then(|| Box::new(project.clone()));
        let mut session =
            Self::open(app, project.id, change, judgement.fast_forward_only, false).await?;
        session.lfs_check = lfs_check;
        Ok(Begun::Accepted(session))
    }

    /// Starts `change` to project `project_id`, which its entry point judged itself (the
    /// repository API applies GitLab's API rules): its intent is written, even when the updates
    /// are not known yet (an annotated tag's id exists only once it is made; see
    /// [`PushSession::made`]).
    pub async fn begin_judged(
        app: &App,
        project_id: i64,
        change: RefChange,
    ) -> Result<PushSession, StoreError> {
        Self::open(app, project_id, change, Vec::new(), true).await
    }

    async fn open(
        app: &App,
        project_id: i64,
        change: RefChange,
        fast_forward_only: Vec<String>,
        judged_by_caller: bool,
    ) -> Result<PushSession, StoreError> {
        // A git client that names no update moves no ref; an entry point that judged its change
        // itself may learn its updates only once made.
        let intent = if change.updates.is_empty() && !judged_by_caller {
            None
        } else {
            let details = IntentDetails {
                pusher: change.pusher,
                updates: (!change.updates.is_empty()).then(|| change.updates.clone()),
            };
            Some(write_intent_with(app, project_id, &details).await?)
        };
        Ok(PushSession {
            project_id,
            change,
            intent,
            fast_forward_only,
            lfs_check: None,
            lfs: None,
        })
    }

    /// States the updates the entry point made, when it could not know them at the start.
    pub fn made(&mut self, updates: Vec<RefUpdate>) {
        self.change.updates = updates;
    }

    /// The refs that may move only by fast-forward, for git's pre-receive hook.
    pub fn fast_forward_only(&self) -> &[String] {
        &self.fast_forward_only
    }

    /// The `git receive-pack` that makes this push in `repo`, with the server's pre-receive hook
    /// when the push needs it (fast-forward-only refs, the LFS check). Finish the session with
    /// [`PushSession::finish_when`], which answers the hook while git runs.
    pub fn receive_pack(&mut self, app: &App, repo: &LocalRepo) -> std::io::Result<GitCommand> {
        if let Some(project) = &self.lfs_check {
            self.lfs = Some(Box::new(LfsCheck::prepare(
                app,
                project,
                self.change.pusher,
                repo,
                &self.change.updates,
            )?));
        }
        let channel = self.lfs.as_deref().map(LfsCheck::channel);
        Ok(app.git.receive_pack(repo, &self.fast_forward_only, channel))
    }

    /// Records the change once its refs moved (or some did: the recording judges by the refs),
    /// and deletes its intent. On failure the intent stays and the `record_push` job records the
    /// change later.
    pub async fn finish(self, app: &App) -> Result<PushRecord, RecordError> {
        let Some(intent) = self.intent else {
            return Ok(PushRecord::Unchanged);
        };
        record_push_by(
            app,
            self.project_id,
            Some(&self.change.updates),
            Some(&intent),
            self.change.pusher,
        )
        .await
    }

    /// [`PushSession::finish`] once receive-pack ended as `exit`, whether or not it succeeded (git
    /// may have applied some updates); a failure is logged. A receive-pack cut short by the
    /// server's shutdown is not recorded: its intent stays for the next start.
    pub async fn finish_after(self, app: &App, exit: Exit) {
        if exit.cut_by_shutdown() {
            return;
        }
        let (project, origin) = (self.project_id, self.change.origin);
        if let Err(e) = self.finish(app).await {
            // The intent stays: the `record_push` job records the push later.
            tracing::error!(project, origin = origin.as_str(), error = %e, "recording a push failed");
        }
    }

    /// [`PushSession::finish_after`] once receive-pack, started by [`PushSession::receive_pack`],
    /// ended (`exit`); until then the LFS check answers its hook.
    pub async fn finish_when(mut self, app: &App, exit: impl Future<Output = Exit>) {
        let exit = match self.lfs.take() {
            Some(check) => check.answer_until(app, exit).await,
            None => exit.await,
        };
        self.finish_after(app, exit).await;
    }

    /// Deletes the intent of a change that moved no ref (the API found a ref not where it
    /// expected it).
    pub async fn abandon(self, app: &App) -> Result<(), StoreError> {
        match &self.intent {
            Some(key) => drop_intent(app, key).await,
            None => Ok(()),
        }
    }
}

/// The report that refuses a git client's whole push (`refused`: what [`PushSession::begin`]
/// gave, never empty), as GitLab's pre-receive check answers it: every reason on the progress
/// band as `GitLab: <reason>`, every ref declined. Every git face (smart HTTP, SSH) sends this.
pub fn refusal_report(list: &CommandList, refused: &[(String, &'static str)]) -> Vec<u8> {
    let mut reasons: Vec<&str> = refused.iter().map(|(_, why)| *why).collect();
    reasons.dedup();
    let message = reasons
        .iter()
        .map(|why| format!("GitLab: {why}"))
        .collect::<Vec<_>>()
        .join("\n");
    pktline::refusal_report(list, |_| "pre-receive hook declined".to_owned(), &message)
}

/// Records `change` to project `project_id`, already made when pushmirror hears of it (the
/// post-receive hook, a pull mirror's fetch): no intent precedes it.
pub async fn record(
    app: &App,
    project_id: i64,
    change: &RefChange,
) -> Result<PushRecord, RecordError> {
    record_push_by(app, project_id, Some(&change.updates), None, change.pusher).await
}
