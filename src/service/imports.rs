//! Importing a repository by URL (GitLab's `import_url` on `POST /projects`): the project is
//! created at once with its import `scheduled` and an `import_project` job ([`ImportProject`])
//! in the same transaction; the job fetches every branch and tag of the upstream
//! (`pull_sync::import_refs`), brings their LFS objects, and ends the import `finished` or
//! `failed` with a scrubbed error. An import can be canceled while it runs (the run notices
//! within a second and kills its git processes), retried once it ended, and survives restarts:
//! its job is durable, so a server killed mid-import runs it again (never left `started`).
//!
//! With `mirror`, the project also gets a pull mirror of the same upstream, which syncs on its
//! schedule once the import has ended.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::model::access::AccessLevel;
use crate::model::access::Caller;
use crate::model::entities::{Project, User};
use crate::model::pull::{ImportStatus, ProjectImport, PullMirror, PullSettings};
use crate::model::refmatch::RefFilter;
use crate::queue::{enqueue_in, JobKind, Queue};

use super::error::ServiceError;
use super::lfs::fetch::{fetch_all, UpstreamLfs};
use super::projects::{create_project, ProjectRequest};
use super::pull_sync::{import_refs, PullError, SyncSpec};
use super::refusal::Refusal;
use super::upstreams::{upstream_from, UpstreamRequest};

/// How often a running import looks whether it was canceled.
const CANCEL_POLL: Duration = Duration::from_secs(1);

/// What `POST /projects` asks besides the project: where to import from, and whether the
/// project then stays a pull mirror of it (with these settings).
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    pub upstream: UpstreamRequest,
    /// Pull-mirror settings when the project mirrors the upstream afterwards.
    pub mirror: Option<PullSettings>,
}

/// One run of a project's import, on the node that serves its storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportProject {
    pub project_id: i64,
    pub storage: String,
}

impl JobKind for ImportProject {
    const NAME: &'static str = "import_project";
    const QUEUE: Queue = Queue::PullMirrors;

    fn dedup_key(&self) -> String {
        format!("import:{}", self.project_id)
    }

    fn storage(&self) -> Option<String> {
        Some(self.storage.clone())
    }
}

fn correlation_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Creates a project by `creator` that imports from `import.upstream`: the URL is checked
/// first (GitLab's `import_url` field errors; nothing is written), then the project, then its
/// import row and job (and pull mirror) in one transaction. Should that fail, the project goes
/// too.
pub async fn create_imported_project(
    app: &App,
    creator: &User,
    req: ProjectRequest,
    import: ImportRequest,
) -> Result<(Project, Option<AccessLevel>, ProjectImport), ServiceError> {
    let upstream = upstream_from(app, &import.upstream, "import_url").await?;
    if let Some(s) = &import.mirror {
        super::pull_mirrors::check_settings(app, s)?;
    }
    let (project, level) = create_project(app, creator, req).await?;
    let now = app.clock.now_ms();
    let record = ProjectImport {
        project_id: project.id,
        upstream: upstream.clone(),
        status: ImportStatus::Scheduled,
        error: None,
        correlation_id: correlation_id(),
        created_at: now,
        started_at: None,
        finished_at: None,
        refs_imported: 0,
        lfs_objects: 0,
    };
    let written = async {
        let mut tx = app.store.transaction().await?;
        tx.insert_import(&record).await?;
        if let Some(s) = &import.mirror {
            let first_sync = now + s.interval_secs.max(1) * 1000;
            let id = tx
                .save_pull_mirror(project.id, &upstream, s, true, first_sync)
                .await?;
            let sync = super::pull_mirrors::PullMirrorSync {
                mirror_id: id,
                storage: project.storage.as_str().to_owned(),
            };
            enqueue_in(&mut tx, &sync, first_sync, now).await?;
        }
        let job = ImportProject {
            project_id: project.id,
            storage: project.storage.as_str().to_owned(),
        };
        enqueue_in(&mut tx, &job, now, now).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = written {
        let _ = app.store.delete_project(project.id).await;
        super::projects::remove_repository(app, &project.repo()).await;
        return Err(e.into());
    }
    app.jobs_wakeup.notify_one();
    Ok((project, level, record))
}

/// The import of `project`, if it was imported.
pub async fn import_of(
    app: &App,
    project: &Project,
) -> Result<Option<ProjectImport>, ServiceError> {
    Ok(app.store.project_import(project.id).await?)
}

/// `project`'s pull mirror as its project entity shows it (`mirror` and the mirror settings),
/// to anyone who sees the project; no credential is in it.
pub async fn mirror_state(
    app: &App,
    project: &Project,
) -> Result<Option<PullMirror>, ServiceError> {
    Ok(app.store.pull_mirror(project.id).await?)
}

/// Cancels `project`'s running import (Maintainers and up); the project stays, with what was
/// fetched. An import that is not running is refused with its status.
pub async fn cancel_import(
    app: &App,
    project: &Project,
    caller: Caller,
) -> Result<ProjectImport, ServiceError> {
    if !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    let Some(import) = app.store.project_import(project.id).await? else {
        return Err(ServiceError::RecordNotFound);
    };
    if !app
        .store
        .cancel_import(project.id, app.clock.now_ms())
        .await?
    {
        return Err(ServiceError::Refused(Refusal::ImportState(
            import.status.as_str(),
        )));
    }
    tracing::info!(project = project.id, correlation_id = %import.correlation_id, "import canceled");
    app.store
        .project_import(project.id)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Runs an ended (failed or canceled) import of `project` again (Maintainers and up).
pub async fn retry_import(
    app: &App,
    project: &Project,
    caller: Caller,
) -> Result<ProjectImport, ServiceError> {
    if !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    super::projects::writable(project)?;
    let Some(import) = app.store.project_import(project.id).await? else {
        return Err(ServiceError::RecordNotFound);
    };
    let now = app.clock.now_ms();
    let mut tx = app.store.transaction().await?;
    if !tx.reschedule_import(project.id, &correlation_id()).await? {
        return Err(ServiceError::Refused(Refusal::ImportState(
            import.status.as_str(),
        )));
    }
    let job = ImportProject {
        project_id: project.id,
        storage: project.storage.as_str().to_owned(),
    };
    enqueue_in(&mut tx, &job, now, now).await?;
    tx.commit().await?;
    app.jobs_wakeup.notify_one();
    app.store
        .project_import(project.id)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Why an import run could not run at all (one that ran and failed is a status, not this).
#[derive(Debug, thiserror::Error)]
pub enum ImportRunError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    NotServed(#[from] crate::storage::NotServed),
}

/// Runs project `project_id`'s import, unless it was canceled or ended: `started`, the fetch,
/// the LFS objects, then `finished` or `failed`. A cancel (or a retry) meanwhile wins: the run
/// stops within [`CANCEL_POLL`] and writes nothing; a retry's own run follows.
pub async fn run_import(app: &App, project_id: i64) -> Result<(), ImportRunError> {
    let Some(import) = app.store.project_import(project_id).await? else {
        return Ok(());
    };
    if !import.status.is_running() {
        return Ok(());
    }
    let Some(project) = app.store.project_by_id(project_id).await? else {
        return Ok(());
    };
    let repo = app.storages.open(&project.repo())?;
    let now = app.clock.now_ms();
    // A slot of the upstream's host, shared with mirror updates and syncs.
    let _host = app
        .host_limits
        .for_url(&import.upstream.url)
        .acquire_owned()
        .await
        .expect("host semaphores are never closed");
    if !app.store.mark_import_started(project_id, now).await? {
        return Ok(());
    }
    let correlation_id = import.correlation_id.as_str();
    tracing::info!(project = project_id, correlation_id, url = %import.upstream.safe_url(), "import started");
    let spec = SyncSpec {
        project: &project,
        repo: &repo,
        upstream: &import.upstream,
        owner_id: project_id,
        filter: RefFilter::All,
        overwrite_diverged: true,
    };
    let canceled = || async {
        loop {
            tokio::time::sleep(CANCEL_POLL).await;
            let current = app.store.import_run_current(project_id, correlation_id);
            if !current.await.unwrap_or(true) {
                return;
            }
        }
    };
    let result = match import_refs(app, &spec, canceled()).await {
        // Then the LFS objects every branch and tag reaches (on a retry, those still missing).
        Ok(mut report) => {
            let upstream = UpstreamLfs {
                upstream: &import.upstream,
                owner_id: project_id,
            };
            tokio::select! {
                fetched = fetch_all(app, &project, &repo, upstream) => fetched
                    .map(|f| {
                        report.lfs_objects = f.objects;
                        report
                    })
                    .map_err(PullError::from),
                () = canceled() => Err(PullError::Canceled),
            }
        }
        Err(e) => Err(e),
    };
    let now = app.clock.now_ms();
    let mut tx = app.store.transaction().await?;
    match &result {
        Ok(report) => {
            tx.finish_import(
                project_id,
                correlation_id,
                ImportStatus::Finished,
                None,
                report.created as i64,
                report.lfs_objects as i64,
                now,
            )
            .await?;
            tracing::info!(
                project = project_id,
                correlation_id,
                refs = report.created,
                "import finished"
            );
        }
        Err(PullError::Canceled) => {}
        Err(e) => {
            if let PullError::Local(cause) = e {
                tracing::warn!(project = project_id, correlation_id, error = %cause, "import failed here");
            }
            let message = e.public_message();
            tx.finish_import(
                project_id,
                correlation_id,
                ImportStatus::Failed,
                Some(&message),
                0,
                0,
                now,
            )
            .await?;
            tracing::info!(project = project_id, correlation_id, error = %message, "import failed");
        }
    }
    tx.commit().await?;
    Ok(())
}
