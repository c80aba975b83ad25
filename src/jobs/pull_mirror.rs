//! Runs the kinds that bring refs in: `import_project` (`service::imports::ImportProject`, one
//! run of a project's import) and `pull_mirror_sync` (`service::pull_mirrors::PullMirrorSync`,
//! one sync of a pull mirror), and the recurring sweep that enqueues due pull mirrors
//! ([`EnqueueDuePullMirrors`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{JobError, Outcome};
use crate::app::App;
use crate::queue::{JobKind, Queue};
use crate::service::imports::{self, ImportProject, ImportRunError};
use crate::service::pull_mirrors::{self, PullMirrorSync, PullRunError};

/// Runs one import.
pub(crate) async fn run_import(app: Arc<App>, job: ImportProject) -> Result<Outcome, JobError> {
    imports::run_import(&app, job.project_id)
        .await
        .map_err(|e| match e {
            ImportRunError::Store(e) => JobError::Store(e),
            e => JobError::Other(e.to_string()),
        })?;
    Ok(Outcome::Done)
}

/// Runs one pull-mirror sync.
pub(crate) async fn run_sync(app: Arc<App>, job: PullMirrorSync) -> Result<Outcome, JobError> {
    let next = pull_mirrors::sync_pull_mirror(&app, job.mirror_id)
        .await
        .map_err(|e| match e {
            PullRunError::Store(e) => JobError::Store(e),
            e => JobError::Other(e.to_string()),
        })?;
    Ok(match next {
        Some(at) => Outcome::RetryAt(at),
        None => Outcome::Done,
    })
}

/// The sweep that enqueues every due pull mirror's sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EnqueueDuePullMirrors {}

impl JobKind for EnqueueDuePullMirrors {
    const NAME: &'static str = "enqueue_due_pull_mirrors";
    const QUEUE: Queue = Queue::Maintenance;

    fn dedup_key(&self) -> String {
        Self::NAME.to_owned()
    }
}

/// Runs the sweep.
pub(crate) async fn enqueue_due(
    app: Arc<App>,
    _job: EnqueueDuePullMirrors,
) -> Result<Outcome, JobError> {
    let n = pull_mirrors::enqueue_due(&app)
        .await
        .map_err(|e| JobError::Other(e.to_string()))?;
    if n > 0 {
        tracing::debug!(mirrors = n, "queued due pull mirrors");
    }
    Ok(Outcome::Done)
}
