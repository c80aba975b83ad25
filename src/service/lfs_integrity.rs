//! GitLab's LFS integrity check on push: a push whose new commits reference LFS pointers whose
//! objects the project lacks is refused before git accepts anything, with GitLab's message
//! ([`LFS_OBJECTS_MISSING`]), unless the project has LFS disabled.
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
//! brings a new object (not a deletion); a push without pointers costs one git walk, no query.

use std::collections::BTreeSet;
use std::future::Future;

use crate::app::App;
use crate::git::hooks::{HookRequest, PreReceiveChannel};
use crate::git::lfs::{pointers, Exclude};
use crate::git::service::Exit;
use crate::git::GitError;
use crate::model::entities::Project;
use crate::model::lfs::Oid;
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
    #[error("talking to the pre-receive hook: {0}")]
    Hook(#[from] std::io::Error),
}

/// Whether a push of `updates` to `project` needs the check: LFS is on and some update brings
/// a new object.
pub fn needed(project: &Project, updates: &[RefUpdate]) -> bool {
    project.lfs_enabled && updates.iter().any(|u| !u.is_delete())
}

/// One push's check, between receive-pack's start and its exit.
#[derive(Debug)]
pub struct LfsCheck {
    project_id: i64,
    repo: LocalRepo,
    /// The ids the push moves refs to (deletions left out).
    tips: Vec<String>,
    channel: PreReceiveChannel,
}

impl LfsCheck {
    /// Prepares the check of a push of `updates` to project `project_id` (whose repository is
    /// `repo`), which [`needed`] it.
    pub fn prepare(
        app: &App,
        project_id: i64,
        repo: &LocalRepo,
        updates: &[RefUpdate],
    ) -> std::io::Result<LfsCheck> {
        let tips: BTreeSet<String> = updates
            .iter()
            .filter(|u| !u.is_delete())
            .map(|u| u.new.clone())
            .collect();
        Ok(LfsCheck {
            project_id,
            repo: repo.clone(),
            tips: tips.into_iter().collect(),
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
        let project = self.project_id;
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
                    project = self.project_id,
                    "the pre-receive hook's request names no quarantine of the repository"
                );
                self.channel.answer(Some(CHECK_FAILED)).await?;
                return Ok(());
            }
        };
        let missing = missing_objects(app, self.project_id, &self.repo, &self.tips, &env).await;
        let refusal = match &missing {
            Ok(missing) if missing.is_empty() => None,
            Ok(_) => Some(LFS_OBJECTS_MISSING),
            Err(_) => Some(CHECK_FAILED),
        };
        self.channel.answer(refusal).await?;
        missing.map(drop)
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
