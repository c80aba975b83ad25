//! Looking behind a server's back, the way an operator could: the files in its data directory,
//! the refs of a bare repository (read with the real git) and the processes it runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively, with its bytes.
pub fn read_all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Branches and tags of the bare repository at `repo`, name → object id, read with the real git.
pub fn refs_of(repo: &Path) -> BTreeMap<String, String> {
    let out = std::process::Command::new("git")
        .args([
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads",
            "refs/tags",
        ])
        .env("GIT_DIR", repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("spawn git for-each-ref");
    assert!(out.status.success(), "for-each-ref in {}", repo.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

/// Live processes whose environment holds exactly `HOME=<home>`, as `(pid, command line)`: a
/// server's git children all get its `<data-dir>/git-home`. Zombies have an empty environment
/// and so are not counted: they run nothing.
pub fn processes_with_home(home: &Path) -> Vec<(u32, String)> {
    let needle = format!("HOME={}", home.display()).into_bytes();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_slice())
        {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, cmdline));
        }
    }
    found
}
