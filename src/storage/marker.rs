//! The marker file at the root of every storage (`.pushmirror-storage`): which storage the
//! directory is and which data directory its server uses. Written when a node opens the
//! storage, so a directory configured under two names (or another installation's) is refused,
//! and so `pushmirror hook post-receive`, run by git inside a repository, learns from the
//! repository's storage where its database is instead of guessing from the path.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The marker's file name below a storage's root.
pub const MARKER_FILE: &str = ".pushmirror-storage";

/// What a storage's marker says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The storage's name.
    pub storage: String,
    /// The data directory of the installation that serves it (absolute).
    pub data_dir: PathBuf,
}

/// Reads the marker of the storage rooted at `root`; `None` when it has none or it is unreadable.
pub fn read(root: &Path) -> Option<Marker> {
    let text = std::fs::read_to_string(root.join(MARKER_FILE)).ok()?;
    toml::from_str(&text).ok()
}

/// Writes `marker` at `root` (atomically: a temporary file renamed into place).
pub(super) fn write(root: &Path, marker: &Marker) -> std::io::Result<()> {
    let text = toml::to_string(marker).map_err(std::io::Error::other)?;
    let mut tmp = tempfile::NamedTempFile::new_in(root)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(root.join(MARKER_FILE))
        .map(drop)
        .map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let m = Marker {
            storage: "b".into(),
            data_dir: PathBuf::from("/srv/pushmirror"),
        };
        write(dir.path(), &m).unwrap();
        assert_eq!(read(dir.path()), Some(m));
        std::fs::write(dir.path().join(MARKER_FILE), "not = [toml").unwrap();
        assert_eq!(read(dir.path()), None);
    }
}
