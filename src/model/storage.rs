//! Naming a hosted repository without saying where it is on disk: a [`StorageName`] (which
//! named storage holds it) and a [`RepoRef`] (storage + the repository's path relative to that
//! storage's root). Only `crate::storage::Storages` turns a reference into a local path, and only
//! on a node that serves the storage.

use std::fmt;

/// The name of a repository storage (`default`, `ssd-1`): 1 to 64 characters of lowercase ASCII
/// letters, digits, `-` and `_`, starting with a letter or digit (GitLab's storage names are
/// keys of a configuration hash; this keeps them safe in paths, URLs and SQL literals).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageName(String);

/// Longest storage name.
const MAX_STORAGE_NAME: usize = 64;

impl StorageName {
    /// The storage every installation has, and where projects go unless placed elsewhere.
    pub const DEFAULT: &'static str = "default";

    /// Checks `s` as a storage name.
    pub fn parse(s: &str) -> Result<StorageName, String> {
        let first_ok = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
        if s.len() > MAX_STORAGE_NAME || !first_ok || !rest_ok {
            return Err(format!(
                "'{s}' is not a storage name (1 to {MAX_STORAGE_NAME} of a-z, 0-9, '-', '_', \
                 starting with a letter or digit)"
            ));
        }
        Ok(StorageName(s.to_owned()))
    }

    /// The `default` storage.
    pub fn default_storage() -> StorageName {
        StorageName(Self::DEFAULT.to_owned())
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StorageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A hosted repository: the storage that holds it and the project it belongs to. Its path
/// relative to the storage's root is `<project id>.git`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoRef {
    pub storage: StorageName,
    pub project_id: i64,
}

impl RepoRef {
    /// Project `project_id`'s repository on `storage`.
    pub fn new(storage: StorageName, project_id: i64) -> RepoRef {
        RepoRef {
            storage,
            project_id,
        }
    }

    /// The repository's path relative to its storage's root.
    pub fn relative_path(&self) -> String {
        format!("{}.git", self.project_id)
    }

    /// The project whose repository has `relative` as its path below a storage's root.
    pub fn project_of_relative(relative: &str) -> Option<i64> {
        let id = relative.strip_suffix(".git")?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !id.starts_with('0'))
            .then(|| id.parse().ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_names_are_checked() {
        for good in ["default", "b", "ssd-1", "nfs_2", "0a"] {
            assert_eq!(StorageName::parse(good).unwrap().as_str(), good);
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "B",
            "-a",
            "_a",
            "a b",
            "a/b",
            "../x",
            "a.b",
            long.as_str(),
            "é",
        ] {
            assert!(StorageName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(StorageName::default_storage().as_str(), "default");
    }

    #[test]
    fn relative_paths_round_trip() {
        let r = RepoRef::new(StorageName::parse("b").unwrap(), 42);
        assert_eq!(r.relative_path(), "42.git");
        assert_eq!(RepoRef::project_of_relative("42.git"), Some(42));
        for bad in ["42", ".git", "042.git", "4a.git", "-1.git", "42.git.git"] {
            assert_eq!(RepoRef::project_of_relative(bad), None, "{bad}");
        }
    }
}
