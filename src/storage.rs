//! Where hosted repositories live: the one owner of "project → repository path". Today one
//! directory holds every bare repository as `<project id>.git`; named storages will plug in here.

use std::path::{Path, PathBuf};

/// The repository storage of this server.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The directory holding `<id>.git` bare repositories.
    root: PathBuf,
}

impl Storage {
    /// The storage rooted at `root` (created by the caller).
    pub fn new(root: PathBuf) -> Storage {
        Storage { root }
    }

    /// The directory holding every repository.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bare repository of a project.
    pub fn repository_path(&self, project_id: i64) -> PathBuf {
        self.root.join(format!("{project_id}.git"))
    }

    /// The project whose repository `repo` is, when `repo` (already canonical) lies directly in
    /// this storage as `<id>.git`.
    pub fn project_of(&self, repo: &Path) -> Option<i64> {
        let root = std::fs::canonicalize(&self.root).ok()?;
        if repo.parent() != Some(root.as_path()) {
            return None;
        }
        repo.file_name()?
            .to_str()?
            .strip_suffix(".git")?
            .parse::<i64>()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_projects_to_paths_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::new(dir.path().to_owned());
        let repo = s.repository_path(42);
        assert!(repo.ends_with("42.git"));
        std::fs::create_dir_all(&repo).unwrap();
        let canonical = std::fs::canonicalize(&repo).unwrap();
        assert_eq!(s.project_of(&canonical), Some(42));
        let other = tempfile::tempdir().unwrap();
        let elsewhere = other.path().join("42.git");
        std::fs::create_dir_all(&elsewhere).unwrap();
        assert_eq!(s.project_of(&std::fs::canonicalize(&elsewhere).unwrap()), None);
    }
}
