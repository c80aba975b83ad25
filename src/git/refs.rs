//! Reads a repository's refs straight from the files ref backend (loose files under
//! `refs/` plus `packed-refs`), without starting git. Every mirror update needs its project's
//! branches and tags, and every push's bookkeeping the refs the push named; on a busy server a
//! `git for-each-ref` each time was a process spawn as costly as a sizeable part of the push
//! itself (BENCHMARKS.md, fan-out).
//!
//! Anything this reader does not fully understand (the reftable backend, a symbolic ref under
//! `refs/heads` or `refs/tags`, a name git would not accept, a damaged file) makes it answer
//! `None`, and the caller asks git. It never guesses.
//!
//! Consistency: loose refs are read before `packed-refs`. `git pack-refs` writes the new
//! `packed-refs` before it deletes the loose files it packed, so a ref being packed while we read
//! is seen either loose or packed, never missed. A ref that moves while we read is seen at its old
//! or new value; the push that moved it queues another update, which reads again.

use crate::storage::LocalRepo;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// The namespaces a mirror covers.
const PREFIXES: [&str; 2] = ["refs/heads/", "refs/tags/"];

/// Every branch and tag of the bare repository at `repo`, as `(full name, oid)` sorted by name,
/// or `None` when only git can tell.
pub fn read_branches_and_tags(repo: &LocalRepo) -> Option<Vec<(String, String)>> {
    let repo = repo.path();
    if repo.join("reftable").exists() {
        return None;
    }
    let mut refs = BTreeMap::new();
    for prefix in PREFIXES {
        read_loose(repo, prefix.trim_end_matches('/'), &mut refs)?;
    }
    for (name, oid) in read_packed(repo, |name| PREFIXES.iter().any(|p| name.starts_with(p)))? {
        refs.entry(name).or_insert(oid);
    }
    Some(refs.into_iter().collect())
}

/// The refs among `names` (full names under `refs/`) that exist, and the oid each points at, or
/// `None` when only git can tell. Reads one loose file per name and, for the names without one,
/// `packed-refs`.
pub fn read_named(repo: &LocalRepo, names: &[&str]) -> Option<HashMap<String, String>> {
    let repo = repo.path();
    if repo.join("reftable").exists() {
        return None;
    }
    let mut found = HashMap::new();
    let mut unpacked: HashSet<&str> = HashSet::new();
    for &name in names {
        if !name.starts_with("refs/") || !valid_ref_name(name) {
            return None;
        }
        match std::fs::read(repo.join(name)) {
            Ok(bytes) => {
                found.insert(name.to_owned(), loose_oid(&bytes)?);
            }
            // No loose file (or a directory of deeper refs): packed or absent.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
                ) =>
            {
                unpacked.insert(name);
            }
            Err(_) => return None,
        }
    }
    if !unpacked.is_empty() {
        found.extend(read_packed(repo, |name| unpacked.contains(name))?);
    }
    Some(found)
}

/// The entries of `repo`'s `packed-refs` whose names `keep` accepts (none without the file).
fn read_packed(repo: &Path, keep: impl Fn(&str) -> bool) -> Option<Vec<(String, String)>> {
    match std::fs::read(repo.join("packed-refs")) {
        Ok(bytes) => parse_packed(&bytes, keep),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Vec::new()),
        Err(_) => None,
    }
}

/// Adds the loose refs under `repo/<dir>` (recursively) to `refs`.
fn read_loose(repo: &Path, dir: &str, refs: &mut BTreeMap<String, String>) -> Option<()> {
    let entries = match std::fs::read_dir(repo.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(()),
        Err(_) => return None,
    };
    for entry in entries {
        let entry = entry.ok()?;
        let file_name = entry.file_name();
        let name = file_name.to_str()?;
        // A ref being written (`main.lock`) is not a ref yet; git skips these too.
        if name.ends_with(".lock") {
            continue;
        }
        let full = format!("{dir}/{name}");
        let kind = entry.file_type().ok()?;
        if kind.is_dir() {
            read_loose(repo, &full, refs)?;
        } else if kind.is_file() {
            if !valid_ref_name(&full) {
                return None;
            }
            match std::fs::read(entry.path()) {
                Ok(bytes) => {
                    refs.insert(full, loose_oid(&bytes)?);
                }
                // Deleted (or packed and deleted) since the directory was listed: `packed-refs`,
                // read next, has it if it still exists.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => return None,
            }
        } else {
            return None;
        }
    }
    Some(())
}

/// The oid a loose ref file holds; `None` for a symbolic ref or anything damaged.
fn loose_oid(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let oid = text.strip_suffix('\n').unwrap_or(text).trim_end();
    valid_oid(oid).then(|| oid.to_owned())
}

/// The entries of a `packed-refs` file whose names `keep` accepts (peeled `^` lines skipped).
fn parse_packed(bytes: &[u8], keep: impl Fn(&str) -> bool) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with('^') || line.is_empty() {
            continue;
        }
        let (oid, name) = line.split_once(' ')?;
        if !valid_oid(oid) || !valid_ref_name(name) {
            return None;
        }
        if keep(name) {
            out.push((name.to_owned(), oid.to_owned()));
        }
    }
    Some(out)
}

/// A full SHA-1 or SHA-256 object id in lower-case hex.
fn valid_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Git's ref name rules (`git check-ref-format`), strictly: a name this refuses is left to git.
fn valid_ref_name(name: &str) -> bool {
    !name.contains("..")
        && !name.contains("@{")
        && !name.ends_with('.')
        && name.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && !c.ends_with(".lock")
                && c.bytes().all(|b| {
                    b > 0x20
                        && b != 0x7f
                        && !matches!(b, b'~' | b'^' | b':' | b'?' | b'*' | b'[' | b'\\')
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names_follow_gits_rules() {
        for ok in [
            "refs/heads/main",
            "refs/heads/feat/x-1",
            "refs/tags/v1.0",
            "refs/heads/ü",
        ] {
            assert!(valid_ref_name(ok), "{ok}");
        }
        for bad in [
            "refs/heads/a..b",
            "refs/heads/.hidden",
            "refs/heads/x.lock",
            "refs/heads/a b",
            "refs/heads/a:b",
            "refs/heads/a@{1}",
            "refs/heads/end.",
            "refs/heads//x",
            "refs/heads/a\\b",
        ] {
            assert!(!valid_ref_name(bad), "{bad}");
        }
    }

    #[test]
    fn packed_refs_skip_peeled_lines_and_other_namespaces() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let text = format!(
            "# pack-refs with: peeled fully-peeled sorted \n{a} refs/heads/main\n{b} refs/tags/v1\n^{a}\n{a} refs/pull/1/head\n"
        );
        let branches_and_tags = |n: &str| PREFIXES.iter().any(|p| n.starts_with(p));
        assert_eq!(
            parse_packed(text.as_bytes(), branches_and_tags).unwrap(),
            vec![
                ("refs/heads/main".to_owned(), a.clone()),
                ("refs/tags/v1".to_owned(), b),
            ]
        );
        assert!(parse_packed(format!("{a}\n").as_bytes(), branches_and_tags).is_none());
        assert!(parse_packed(b"xyz refs/heads/main\n", branches_and_tags).is_none());
    }

    #[test]
    fn loose_files_hold_an_oid_or_are_left_to_git() {
        let a = "a".repeat(40);
        assert_eq!(loose_oid(format!("{a}\n").as_bytes()), Some(a.clone()));
        assert_eq!(loose_oid(a.as_bytes()), Some(a));
        assert_eq!(loose_oid(b"ref: refs/heads/main\n"), None);
        assert_eq!(loose_oid(b"\n"), None);
    }
}
