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

impl Storage {
    /// Checks the storage can be written: creates, writes and removes a probe file in it (the
    /// readiness check's `storage_check`).
    pub fn check_writable(&self) -> std::io::Result<()> {
        let probe = tempfile::NamedTempFile::new_in(&self.root)?;
        std::io::Write::write_all(&mut probe.as_file(), b"ok")?;
        probe.as_file().sync_all()?;
        probe.close()
    }

    /// Removes the lock files a killed git left in any repository (`HEAD.lock`, `config.lock`,
    /// `packed-refs.lock`, `refs/**/*.lock`): while one exists, every push touching that ref is
    /// refused. Call only while no git runs in this storage (at start-up, before serving: the
    /// previous instance's processes died with it). Returns how many were removed.
    pub fn remove_stale_locks(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Ok(0);
        };
        for entry in entries {
            let repo = entry?.path();
            if repo.extension().is_none_or(|e| e != "git") {
                continue;
            }
            for name in [
                "HEAD.lock",
                "config.lock",
                "packed-refs.lock",
                "shallow.lock",
            ] {
                if std::fs::remove_file(repo.join(name)).is_ok() {
                    removed += 1;
                }
            }
            removed += remove_locks_below(&repo.join("refs"))?;
        }
        Ok(removed)
    }
}

fn remove_locks_below(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            removed += remove_locks_below(&path)?;
        } else if path.extension().is_some_and(|e| e == "lock")
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn removes_only_lock_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::new(dir.path().to_owned());
        let repo = s.repository_path(1);
        std::fs::create_dir_all(repo.join("refs/heads/feature")).unwrap();
        for f in [
            "HEAD",
            "HEAD.lock",
            "refs/heads/main",
            "refs/heads/feature/x.lock",
        ] {
            std::fs::write(repo.join(f), "x").unwrap();
        }
        assert_eq!(s.remove_stale_locks().unwrap(), 2);
        assert!(repo.join("HEAD").exists() && repo.join("refs/heads/main").exists());
        assert!(!repo.join("HEAD.lock").exists());
        assert!(!repo.join("refs/heads/feature/x.lock").exists());
    }

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
        assert_eq!(
            s.project_of(&std::fs::canonicalize(&elsewhere).unwrap()),
            None
        );
    }
}
