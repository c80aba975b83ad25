//! GitLab's LFS checks on push, both refused before git accepts anything and only when the
//! project has LFS enabled, in GitLab's order (its per-ref diff check runs before its bulk LFS
//! check):
//! 1. file locks: a push whose new commits change a path (added, modified, deleted, either side
//!    of a rename, a merge's changes against any parent) that another user locked is refused with
//!    `The path '…' is locked in Git LFS by …` (`service::lfs_locks::locked_by_others`). Only
//!    branch and tag updates count, as in GitLab. The paths are listed (one `git log`,
//!    `git::lfs::changed_paths`) only when someone other than the pusher holds a lock of the
//!    project at all: a project without such locks pays one indexed query and no process.
//! 2. integrity: a push whose new commits reference LFS pointers whose objects the project
//!    lacks is refused with GitLab's message ([`LFS_OBJECTS_MISSING`]).
//!
//! It runs in receive-pack's pre-receive hook (`git::hooks`), which asks the server over the
//! push's [`PreReceiveChannel`]; the server answers with its own store and git runner, so the
//! hook holds no credential and opens no database. Which pointers count: those in blobs
//! reachable from the pushed tips and from no ref the repository had before the push
//! (`git::lfs::pointers` with `Exclude::AllRefs`, inside the quarantine), so a pointer already in
//! history is never looked up again. An object is present only when linked to this project
//! (`store::lfs_links`).
//!
//! Invariant: the check is asked for only when the project has LFS enabled and some update
//! brings a new object (not a deletion); a push without pointers and without other users'
//! locks costs one git walk and one query.

use std::collections::BTreeSet;
use std::future::Future;

use crate::app::App;
use crate::git::hooks::{HookRequest, PreReceiveChannel};
use crate::git::lfs::{changed_paths, pointers, Exclude};
use crate::git::service::Exit;
use crate::git::GitError;
use crate::model::entities::Project;
use crate::model::lfs::Oid;
use crate::model::lfs_locks::locked_path_refusal;
use crate::service::error::ServiceError;
use crate::service::lfs_locks::{held_by_others, locked_by_others};
use crate::service::pushes::RefUpdate;
use crate::storage::LocalRepo;
use crate::store::StoreError;

/// GitLab's refusal (`Gitlab::Checks::LfsIntegrity`), which git shows as
/// `remote: GitLab: LFS objects are missing. …`.
pub const LFS_OBJECTS_MISSING: &str =
    "LFS objects are missing. Ensure LFS is properly set up or try a manual \"git lfs push --all\".";

/// The refusal when the check itself failed (git or the database): GitLab's words when its
/// internal API cannot answer the hook. Refusing is the safe side; the client may retry.
const CHECK_FAILED: &str = "Internal API unreachable";

/// Why the check could not decide.
#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error("listing the pushed LFS pointers: {0}")]
    Git(#[from] GitError),
    #[error("reading the project's LFS objects: {0}")]
    Store(#[from] StoreError),
    #[error("reading the project's LFS locks: {0}")]
    Locks(#[from] ServiceError),
    #[error("talking to the pre-receive hook: {0}")]
    Hook(#[from] std::io::Error),
}

/// Whether a push of `updates` to `project` needs the check: LFS is on and some update brings
/// a new object.
pub fn needed(project: &Project, updates: &[RefUpdate]) -> bool {
    project.lfs_enabled && updates.iter().any(|u| !u.is_delete())
}

/// The user id that stands for a push by no user: ids start at 1, so every lock is another's.
const NO_USER: i64 = 0;

/// One push's check, between receive-pack's start and its exit.
#[derive(Debug)]
pub struct LfsCheck {
    project: Project,
    /// Who pushes ([`NO_USER`] for nobody): their own locks never refuse their push.
    pusher: i64,
    repo: LocalRepo,
    /// The ids the push moves refs to (deletions left out).
    tips: Vec<String>,
    /// Those of `tips` that branches and tags move to: only they meet the locks, as in GitLab
    /// (whose diff check leaves other refs, such as notes, alone).
    branch_tips: Vec<String>,
    channel: PreReceiveChannel,
}

impl LfsCheck {
    /// Prepares the check of a push of `updates` by `pusher` to `project` (whose repository is
    /// `repo`), which [`needed`] it.
    pub fn prepare(
        app: &App,
        project: &Project,
        pusher: Option<i64>,
        repo: &LocalRepo,
        updates: &[RefUpdate],
    ) -> std::io::Result<LfsCheck> {
        let tips = |branches_and_tags: bool| -> Vec<String> {
            let set: BTreeSet<String> = updates
                .iter()
                .filter(|u| !u.is_delete() && (!branches_and_tags || u.is_mirrored()))
                .map(|u| u.new.clone())
                .collect();
            set.into_iter().collect()
        };
        Ok(LfsCheck {
            project: project.clone(),
            pusher: pusher.unwrap_or(NO_USER),
            repo: repo.clone(),
            tips: tips(false),
            branch_tips: tips(true),
            channel: app.git.pre_receive_channel()?,
        })
    }

    /// The channel receive-pack's hook asks through.
    pub fn channel(&self) -> &PreReceiveChannel {
        &self.channel
    }

    /// Answers the hook until git exits (`exit`), and returns how it ended. A hook that never
    /// asks (git refused the push before its hooks, or the fast-forward check did) is no error.
    pub async fn answer_until(mut self, app: &App, exit: impl Future<Output = Exit>) -> Exit {
        tokio::pin!(exit);
        let project = self.project.id;
        tokio::select! {
            ended = &mut exit => return ended,
            answered = self.answer(app) => {
                if let Err(e) = answered {
                    tracing::error!(project, error = %e, "the LFS check on push failed");
                }
            }
        }
        // The channel stays open until git is gone, so the hook always finds its answer.
        exit.await
    }

    async fn answer(&mut self, app: &App) -> Result<(), CheckError> {
        let env = match self.channel.request(&self.repo).await? {
            HookRequest::Quarantine(env) => env,
            HookRequest::Malformed => {
                tracing::warn!(
                    project = self.project.id,
                    "the pre-receive hook's request names no quarantine of the repository"
                );
                self.channel.answer(Some(CHECK_FAILED)).await?;
                return Ok(());
            }
        };
        let verdict = self.verdict(app, &env).await;
        let refusal = match &verdict {
            Ok(refusal) => refusal.as_deref(),
            Err(_) => Some(CHECK_FAILED),
        };
        self.channel.answer(refusal).await?;
        verdict.map(drop)
    }

    /// Why the push is refused, if it is: the locks first, then the missing objects.
    async fn verdict(
        &self,
        app: &App,
        env: &[(String, std::ffi::OsString)],
    ) -> Result<Option<String>, CheckError> {
        if let Some(refusal) = self.lock_refusal(app, env).await? {
            return Ok(Some(refusal));
        }
        let missing = missing_objects(app, self.project.id, &self.repo, &self.tips, env).await?;
        Ok((!missing.is_empty()).then(|| LFS_OBJECTS_MISSING.to_owned()))
    }

    /// GitLab's refusal when the push's new commits change a path another user locked. Asks
    /// git for the changed paths only when another user holds some lock of the project.
    async fn lock_refusal(
        &self,
        app: &App,
        env: &[(String, std::ffi::OsString)],
    ) -> Result<Option<String>, CheckError> {
        if self.branch_tips.is_empty() || !held_by_others(app, self.project.id, self.pusher).await?
        {
            return Ok(None);
        }
        let paths = changed_paths(&app.git, &self.repo, &self.branch_tips, env).await?;
        // A lock's path is text; a path that is not UTF-8 cannot be one.
        let paths: Vec<String> = paths
            .into_iter()
            .filter_map(|p| String::from_utf8(p).ok())
            .collect();
        let lock = locked_by_others(app, &self.project, self.pusher, &paths).await?;
        Ok(lock.as_ref().map(locked_path_refusal))
    }
}

/// The oids of the pointers that `tips` bring to project `project_id`'s repository (and no
/// ref of it reaches yet) whose objects the project does not link. `env` is git's quarantine.
async fn missing_objects(
    app: &App,
    project_id: i64,
    repo: &LocalRepo,
    tips: &[String],
    env: &[(String, std::ffi::OsString)],
) -> Result<Vec<Oid>, CheckError> {
    let brought = pointers(&app.git, repo, tips, Exclude::AllRefs, env).await?;
    if brought.is_empty() {
        return Ok(Vec::new());
    }
    let oids: BTreeSet<Oid> = brought.into_iter().map(|p| p.oid).collect();
    let oids: Vec<Oid> = oids.into_iter().collect();
    let linked = app.store.lfs_oids_linked(project_id, &oids).await?;
    Ok(oids.into_iter().filter(|o| !linked.contains(o)).collect())
}
