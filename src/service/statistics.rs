//! A project's statistics as GitLab's `GET /projects/:id?statistics=true` shows them to its
//! Reporters and above: the commits of the default branch, the repository's bytes on disk and
//! the bytes of the LFS objects it links. Everything else GitLab counts (wikis, artifacts,
//! packages, snippets, uploads, registries) does not exist here and is 0.

use crate::app::App;
use crate::model::access::{Caller, Visibility};
use crate::model::entities::Project;

use super::error::ServiceError;

/// What GitLab's `statistics` reports that exists here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectStatistics {
    pub commit_count: u64,
    /// The bare repository's files, in bytes.
    pub repository_size: u64,
    /// The linked LFS objects, in bytes (each counted once per project).
    pub lfs_objects_size: u64,
}

/// `project`'s statistics, or `None` for a caller below Reporter (GitLab's `read_statistics`).
pub async fn project_statistics(
    app: &App,
    project: &Project,
    caller: Caller,
) -> Result<Option<ProjectStatistics>, ServiceError> {
    if !caller.can_read_code(Visibility::Private) {
        return Ok(None);
    }
    let lfs_objects_size = app.store.lfs_project_size(project.id).await?;
    let (mut commit_count, mut repository_size) = (0, 0);
    if let Ok(repo) = app.storages.open(&project.repo()) {
        if !project.empty_repo {
            commit_count = crate::git::repository::commit_count(&app.git, &repo)
                .await
                .unwrap_or(0);
        }
        let dir = repo.path().to_owned();
        repository_size = tokio::task::spawn_blocking(move || dir_size(&dir))
            .await
            .unwrap_or(0);
    }
    Ok(Some(ProjectStatistics {
        commit_count,
        repository_size,
        lfs_objects_size,
    }))
}

/// The bytes of the files below `dir` (symbolic links not followed).
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
