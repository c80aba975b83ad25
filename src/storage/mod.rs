//! Where hosted repositories live: the named storages this node serves, each a local directory
//! holding bare repositories as `<project id>.git`, and the one place a repository's path is
//! made. A project records its storage's name ([`RepoRef`]); [`Storages::open`] hands out a
//! [`LocalRepo`] only for a storage this node serves, so "this node has the repository" is a
//! value, not a habit. Each storage's root carries a [marker] naming it.
//!
//! Invariant: nothing outside this module joins a repository path; `LocalRepo` has no public
//! constructor.

mod locks;
pub mod marker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::model::storage::{RepoRef, StorageName};

/// A storage could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create or open storage '{name}' at {path}: {source}")]
    Io {
        name: String,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "storage '{name}' is configured at {path}, which is storage '{marked}' of the installation \
         in {data_dir}; give each storage its own directory"
    )]
    Claimed {
        name: String,
        path: String,
        marked: String,
        data_dir: String,
    },
    #[error("storage '{0}' is configured twice")]
    Duplicate(String),
    #[error("storages '{0}' and '{1}' are the same directory")]
    SameDirectory(String, String),
}

/// This node does not serve the repository's storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage '{0}' is not served by this node")]
pub struct NotServed(pub StorageName);

/// A repository on this node's disk: the only way to get one is [`Storages::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRepo {
    path: PathBuf,
}

impl LocalRepo {
    /// A repository at `path` outside any storage, for the crate's own unit tests of git.
    #[cfg(test)]
    pub(crate) fn for_tests(path: &Path) -> LocalRepo {
        LocalRepo {
            path: path.to_owned(),
        }
    }

    /// The bare repository's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reading a local repository's path is fine everywhere; only this module makes one.
impl std::ops::Deref for LocalRepo {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for LocalRepo {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// The storages this node serves, by name.
#[derive(Debug, Clone)]
pub struct Storages {
    /// Each storage's root, canonical.
    local: BTreeMap<StorageName, PathBuf>,
}

impl Storages {
    /// Opens the storages `dirs` of the installation whose data directory is `data_dir`: creates
    /// each root, and checks or writes its marker. Refuses a directory configured twice, or
    /// marked as another storage or another installation's.
    pub fn open_all(
        dirs: &[(StorageName, PathBuf)],
        data_dir: &Path,
    ) -> Result<Storages, StorageError> {
        let mut local: BTreeMap<StorageName, PathBuf> = BTreeMap::new();
        for (name, dir) in dirs {
            let io = |source| StorageError::Io {
                name: name.to_string(),
                path: dir.display().to_string(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            let root = std::fs::canonicalize(dir).map_err(io)?;
            if local.contains_key(name) {
                return Err(StorageError::Duplicate(name.to_string()));
            }
            if let Some((other, _)) = local.iter().find(|(_, r)| **r == root) {
                return Err(StorageError::SameDirectory(
                    other.to_string(),
                    name.to_string(),
                ));
            }
            let wanted = marker::Marker {
                storage: name.to_string(),
                data_dir: std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned()),
            };
            match marker::read(&root) {
                Some(m) if m == wanted => {}
                Some(m) if m.storage != wanted.storage || !same_dir(&m.data_dir, data_dir) => {
                    return Err(StorageError::Claimed {
                        name: name.to_string(),
                        path: root.display().to_string(),
                        marked: m.storage,
                        data_dir: m.data_dir.display().to_string(),
                    })
                }
                _ => marker::write(&root, &wanted).map_err(io)?,
            }
            local.insert(name.clone(), root);
        }
        Ok(Storages { local })
    }

    /// The names of the storages this node serves, sorted.
    pub fn names(&self) -> Vec<String> {
        self.local.keys().map(|n| n.to_string()).collect()
    }

    /// Whether this node serves `name`.
    pub fn serves(&self, name: &str) -> bool {
        self.local.keys().any(|n| n.as_str() == name)
    }

    /// The repository `repo` on this node's disk.
    pub fn open(&self, repo: &RepoRef) -> Result<LocalRepo, NotServed> {
        let root = self
            .local
            .get(&repo.storage)
            .ok_or_else(|| NotServed(repo.storage.clone()))?;
        Ok(LocalRepo {
            path: root.join(repo.relative_path()),
        })
    }

    /// Where a storage keeps its git LFS objects (`<root>/lfs-objects`, GitLab's directory name;
    /// no repository is named so, as repositories are `<id>.git`). Only `lfs_store` lays out
    /// what is below it.
    pub fn lfs_root(&self, name: &StorageName) -> Result<PathBuf, NotServed> {
        let root = self
            .local
            .get(name)
            .ok_or_else(|| NotServed(name.clone()))?;
        Ok(root.join("lfs-objects"))
    }

    /// The repository that `path` (a bare repository's directory) is, when it lies directly in
    /// one of these storages.
    pub fn identify(&self, path: &Path) -> Option<RepoRef> {
        let path = std::fs::canonicalize(path).ok()?;
        let parent = path.parent()?;
        let (name, _) = self
            .local
            .iter()
            .find(|(_, root)| root.as_path() == parent)?;
        let project_id = RepoRef::project_of_relative(path.file_name()?.to_str()?)?;
        Some(RepoRef::new(name.clone(), project_id))
    }

    /// Checks every storage can be written: creates, writes and removes a probe file in each
    /// (the readiness check's `storage_check`).
    pub fn check_writable(&self) -> std::io::Result<()> {
        for root in self.local.values() {
            let probe = tempfile::NamedTempFile::new_in(root)?;
            std::io::Write::write_all(&mut probe.as_file(), b"ok")?;
            probe.as_file().sync_all()?;
            probe.close()?;
        }
        Ok(())
    }

    /// Removes the lock files a killed git left in any repository of these storages; returns
    /// how many were removed. Call only while no git of this node runs (at start-up, before
    /// serving): each storage is served by one node, so no other node's git runs there.
    pub fn remove_stale_locks(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        for root in self.local.values() {
            removed += locks::remove_stale_locks(root)?;
        }
        Ok(removed)
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StorageName {
        StorageName::parse(s).unwrap()
    }

    #[test]
    fn opens_only_served_storages_and_identifies_their_repositories() {
        let data = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let s = Storages::open_all(
            &[
                (name("default"), data.path().join("repositories")),
                (name("b"), b.path().join("repos")),
            ],
            data.path(),
        )
        .unwrap();
        assert_eq!(s.names(), ["b", "default"]);
        let repo = s.open(&RepoRef::new(name("b"), 42)).unwrap();
        assert!(repo.path().ends_with("repos/42.git"));
        std::fs::create_dir_all(repo.path()).unwrap();
        assert_eq!(s.identify(repo.path()), Some(RepoRef::new(name("b"), 42)));
        assert_eq!(
            s.open(&RepoRef::new(name("c"), 1)),
            Err(NotServed(name("c")))
        );
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(elsewhere.path().join("42.git")).unwrap();
        assert_eq!(s.identify(&elsewhere.path().join("42.git")), None);
        // Opening again with the same configuration is fine.
        Storages::open_all(&[(name("b"), b.path().join("repos"))], data.path()).unwrap();
    }

    #[test]
    fn refuses_a_directory_under_two_names_or_another_installations() {
        let data = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = Storages::open_all(
            &[
                (name("a"), dir.path().into()),
                (name("b"), dir.path().into()),
            ],
            data.path(),
        )
        .unwrap_err();
        assert!(matches!(err, StorageError::SameDirectory(..)), "{err}");
        Storages::open_all(&[(name("a"), dir.path().into())], data.path()).unwrap();
        let err = Storages::open_all(&[(name("b"), dir.path().into())], data.path()).unwrap_err();
        assert!(matches!(err, StorageError::Claimed { .. }), "{err}");
        let other = tempfile::tempdir().unwrap();
        let err = Storages::open_all(&[(name("a"), dir.path().into())], other.path()).unwrap_err();
        assert!(err.to_string().contains("another") || matches!(err, StorageError::Claimed { .. }));
    }
}
