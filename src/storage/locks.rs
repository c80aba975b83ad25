//! Lock files a killed git leaves behind (`HEAD.lock`, `config.lock`, `packed-refs.lock`,
//! `refs/**/*.lock`): while one exists, every push touching that ref is refused, so a storage's
//! are removed when its node starts, before any git of that node runs there.

use std::path::Path;

/// Removes the stale lock files of every `*.git` repository directly below `root`; returns how
/// many were removed. Call only while no git runs in this storage (at start-up, before serving:
/// the previous instance's processes died with it).
pub(super) fn remove_stale_locks(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(root) else {
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
    use super::*;

    #[test]
    fn removes_only_lock_files() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("1.git");
        std::fs::create_dir_all(repo.join("refs/heads/feature")).unwrap();
        for f in [
            "HEAD",
            "HEAD.lock",
            "refs/heads/main",
            "refs/heads/feature/x.lock",
        ] {
            std::fs::write(repo.join(f), "x").unwrap();
        }
        assert_eq!(remove_stale_locks(dir.path()).unwrap(), 2);
        assert!(repo.join("HEAD").exists() && repo.join("refs/heads/main").exists());
        assert!(!repo.join("HEAD.lock").exists());
        assert!(!repo.join("refs/heads/feature/x.lock").exists());
    }
}
