//! The remote state a mirror's last successful update left behind, kept per mirror in
//! `<data-dir>/mirror-state/<id>.refs`. With it, the next update plans against what the remote
//! holds without listing it, and pushes with `--force-with-lease` so a remote that changed behind
//! our back is detected (then the engine lists the remote and plans in full).
//!
//! The file names the URL it belongs to, so a mirror whose URL changed starts over. It is
//! rewritten atomically (write to a temp file, rename), and removed whenever an update fails
//! part-way, since the remote state is then unknown.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where snapshots live.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("mirror-state")
}

fn path(data_dir: &Path, mirror_id: i64) -> PathBuf {
    dir(data_dir).join(format!("{mirror_id}.refs"))
}

/// How long a record is trusted. The lease detects a remote that moved on a ref we push, but not
/// one that moved (or gained a ref) where we push nothing; a full listing at least this often
/// brings those back in line, as GitLab's every-time listing would.
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// The remote refs recorded for this mirror and URL within [`MAX_AGE`], if any.
pub fn load(data_dir: &Path, mirror_id: i64, url: &str) -> Option<BTreeMap<String, String>> {
    let file = path(data_dir, mirror_id);
    let age = std::fs::metadata(&file)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .ok()?;
    if age > MAX_AGE {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let mut lines = text.lines();
    if lines.next()? != format!("url {url}") {
        return None;
    }
    let mut refs = BTreeMap::new();
    for line in lines {
        let (oid, name) = line.split_once(' ')?;
        refs.insert(name.to_owned(), oid.to_owned());
    }
    Some(refs)
}

/// Records the remote refs for this mirror and URL.
pub fn save(
    data_dir: &Path,
    mirror_id: i64,
    url: &str,
    refs: &BTreeMap<String, String>,
) -> std::io::Result<()> {
    let dir = dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        writeln!(w, "url {url}")?;
        for (name, oid) in refs {
            writeln!(w, "{oid} {name}")?;
        }
        w.flush()?;
    }
    tmp.persist(path(data_dir, mirror_id))
        .map_err(|e| e.error)?;
    Ok(())
}

/// Forgets the recorded state.
pub fn forget(data_dir: &Path, mirror_id: i64) {
    let _ = std::fs::remove_file(path(data_dir, mirror_id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_bound_to_the_url() {
        let d = tempfile::tempdir().unwrap();
        let refs = BTreeMap::from([
            ("refs/heads/main".to_owned(), "a".repeat(40)),
            ("refs/tags/v1".to_owned(), "b".repeat(40)),
        ]);
        save(d.path(), 7, "http://h/x.git", &refs).unwrap();
        assert_eq!(load(d.path(), 7, "http://h/x.git"), Some(refs));
        assert_eq!(load(d.path(), 7, "http://h/other.git"), None);
        forget(d.path(), 7);
        assert_eq!(load(d.path(), 7, "http://h/x.git"), None);
    }
}
