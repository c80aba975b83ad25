//! Finding the LFS pointers a set of commits brings: every blob small enough to be a pointer
//! file ([`MAX_POINTER_SIZE`]) reachable from some commits and not from others, read and kept
//! when it parses as one. Two processes however large the history: `rev-list` lists the
//! candidate blobs (git filters by type and size without reading them), `cat-file --batch`
//! reads them.
//!
//! [`changed_paths`] lists the paths a push's new commits change, for GitLab's rule that a push
//! may not change a path another user locked (`service::lfs_integrity`).
//!
//! Both the pre-receive check (pointers a push brings, inside receive-pack's quarantine: the
//! caller passes git's quarantine variables in `env`), a mirror's LFS step (pointers in the
//! refs being pushed that the remote's refs do not already reach) and a pull sync's or import's
//! fetch (pointers in the upstream's new commits that no branch or tag here reaches) use it.

use std::collections::BTreeSet;
use std::ffi::OsString;

use crate::model::lfs::{Pointer, MAX_POINTER_SIZE};
use crate::storage::LocalRepo;

use super::{GitError, GitRunner, Subcommand};

/// Which commits' objects are already accounted for.
#[derive(Debug, Clone)]
pub enum Exclude<'a> {
    /// Everything reachable from any ref of the repository (`--not --all`): in a pre-receive
    /// hook, the refs as they were before the push.
    AllRefs,
    /// Everything reachable from a branch or tag (`--not --branches --tags`): a pull sync's
    /// refs before it moves them, its staging refs left out. Git reads the refs itself, so a
    /// repository of 100,000 refs costs no list of them on stdin.
    BranchesAndTags,
    /// Everything reachable from these commits (a remote's recorded heads; unknown ones are
    /// skipped).
    Commits(&'a [String]),
}

/// The pointers (deduplicated, sorted) in blobs reachable from `include` and not from
/// `exclude`. `env` is added to both processes' environment (receive-pack's quarantine).
pub async fn pointers(
    runner: &GitRunner,
    repo: &LocalRepo,
    include: &[String],
    exclude: Exclude<'_>,
    env: &[(String, OsString)],
) -> Result<Vec<Pointer>, GitError> {
    if include.is_empty() {
        return Ok(Vec::new());
    }
    let mut revs = String::new();
    for oid in include {
        revs.push_str(oid);
        revs.push('\n');
    }
    let mut args = vec![
        "--objects".to_owned(),
        "--filter=object:type=blob".to_owned(),
        format!("--filter=blob:limit={MAX_POINTER_SIZE}"),
        // Read before the `--not` below in argv, so the tips on stdin stay positive.
        "--stdin".to_owned(),
    ];
    match exclude {
        Exclude::AllRefs => args.extend(["--not".to_owned(), "--all".to_owned()]),
        Exclude::BranchesAndTags => args.extend([
            "--not".to_owned(),
            "--branches".to_owned(),
            "--tags".to_owned(),
        ]),
        Exclude::Commits(commits) => {
            let known = known_objects(runner, repo, commits, env).await?;
            if !known.is_empty() {
                revs.push_str("--not\n");
                for oid in known {
                    revs.push_str(&oid);
                    revs.push('\n');
                }
            }
        }
    }
    let mut list = runner.command(Some(repo), Subcommand::RevList).args(args);
    for (key, value) in env {
        list = list.env(key, value);
    }
    let listed = list.run_with_input(Some(revs.into_bytes())).await?;
    // Commits are listed too (the type filter applies to the objects below them), alone on
    // their line; a blob comes with the path it was found at. Only blobs are read, and a push
    // that brings none (most pushes) costs no second process.
    let blobs: Vec<u8> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| line.split_once(' ').map(|(oid, _path)| oid))
        .flat_map(|oid| [oid.as_bytes(), b"\n"])
        .flatten()
        .copied()
        .collect();
    if blobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut read = runner
        .command(Some(repo), Subcommand::CatFile)
        .args(["--batch"]);
    for (key, value) in env {
        read = read.env(key, value);
    }
    let batch = read.run_with_input(Some(blobs)).await?;
    Ok(parse_batch(&batch.stdout).into_iter().collect())
}

/// The paths (deduplicated, sorted, as raw bytes: a path may be any bytes but NUL) that the
/// commits reachable from `tips` and from no ref of the repository change: added, modified,
/// deleted, either side of a rename (renames are not detected, so a rename is a deletion and
/// an addition), and a merge's changes against each of its parents, as GitLab's diff check
/// counts them (`find_changed_paths` with all parents). One process: `git log` lists every
/// commit's changed paths, NUL-terminated. `env` is added to its environment (receive-pack's
/// quarantine, so the pushed commits are visible and, `--all` being the refs as they were
/// before the push, the existing history is left out).
pub async fn changed_paths(
    runner: &GitRunner,
    repo: &LocalRepo,
    tips: &[String],
    env: &[(String, OsString)],
) -> Result<Vec<Vec<u8>>, GitError> {
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    let revs: Vec<u8> = tips
        .iter()
        .flat_map(|oid| [oid.as_bytes(), b"\n"])
        .flatten()
        .copied()
        .collect();
    let mut log = runner.command(Some(repo), Subcommand::Log).args([
        // No commit header, only the paths; `-z` keeps any byte of a path as it is.
        "--format=",
        "--name-only",
        "-z",
        "--no-renames",
        "--diff-merges=separate",
        "--root",
        "--no-show-signature",
        // Read before the `--not` below in argv, so the tips on stdin stay positive.
        "--stdin",
        "--not",
        "--all",
    ]);
    for (key, value) in env {
        log = log.env(key, value);
    }
    let out = log.run_with_input(Some(revs)).await?;
    let paths: BTreeSet<&[u8]> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .collect();
    Ok(paths.into_iter().map(<[u8]>::to_vec).collect())
}

/// Those of `oids` the repository has. A remote's recorded head that this repository never had
/// cannot be walked (rev-list stops at it); it excludes nothing, so it is left out.
async fn known_objects(
    runner: &GitRunner,
    repo: &LocalRepo,
    oids: &[String],
    env: &[(String, OsString)],
) -> Result<Vec<String>, GitError> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let mut check = runner
        .command(Some(repo), Subcommand::CatFile)
        .args(["--batch-check=%(objectname)"]);
    for (key, value) in env {
        check = check.env(key, value);
    }
    let input = oids
        .iter()
        .flat_map(|o| [o.as_bytes(), b"\n"])
        .flatten()
        .copied()
        .collect();
    let out = check.run_with_input(Some(input)).await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.ends_with(" missing"))
        .map(str::to_owned)
        .collect())
}

/// Reads `cat-file --batch` output (`<oid> <type> <size>\n<content>\n` per object, or
/// `<oid> missing\n`) and keeps the blobs that are pointers.
fn parse_batch(mut out: &[u8]) -> BTreeSet<Pointer> {
    let mut found = BTreeSet::new();
    while let Some(end) = out.iter().position(|&b| b == b'\n') {
        let header = String::from_utf8_lossy(&out[..end]).into_owned();
        out = &out[end + 1..];
        let mut fields = header.split(' ');
        let (_oid, kind, size) = (fields.next(), fields.next(), fields.next());
        let Some(size) = size.and_then(|s| s.parse::<usize>().ok()) else {
            continue; // `<oid> missing`
        };
        if out.len() < size {
            break;
        }
        let (content, rest) = out.split_at(size);
        if kind == Some("blob") {
            if let Some(pointer) = Pointer::parse(content) {
                found.insert(pointer);
            }
        }
        out = rest.strip_prefix(b"\n").unwrap_or(rest);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    /// Runs git in `dir` for the test's fixture and returns its trimmed stdout.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn pointer(byte: char, size: u64) -> Pointer {
        let oid = crate::model::lfs::Oid::parse(&byte.to_string().repeat(64)).unwrap();
        Pointer { oid, size }
    }

    #[tokio::test]
    async fn finds_the_pointers_new_commits_bring() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("w");
        std::fs::create_dir(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        std::fs::write(work.join("a.bin"), pointer('a', 10).encode()).unwrap();
        std::fs::write(work.join("big.txt"), "x".repeat(4096)).unwrap();
        std::fs::write(work.join("plain.txt"), "hello\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "one"]);
        let first = git(&work, &["rev-parse", "HEAD"]);
        std::fs::write(work.join("b.bin"), pointer('b', 20).encode()).unwrap();
        std::fs::write(work.join("a-copy.bin"), pointer('a', 10).encode()).unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "two"]);
        let second = git(&work, &["rev-parse", "HEAD"]);

        let runner = GitRunner::new(&dir.path().join("home"), Duration::from_secs(30)).unwrap();
        let repo = LocalRepo::for_tests(&work.join(".git"));
        let all = pointers(
            &runner,
            &repo,
            std::slice::from_ref(&second),
            Exclude::Commits(&[]),
            &[],
        )
        .await
        .unwrap();
        assert_eq!(all, vec![pointer('a', 10), pointer('b', 20)]);
        let unknown = "f".repeat(40);
        let new = pointers(
            &runner,
            &repo,
            std::slice::from_ref(&second),
            Exclude::Commits(&[first.clone(), unknown]),
            &[],
        )
        .await
        .unwrap();
        assert_eq!(new, vec![pointer('b', 20)]);
        let none = pointers(
            &runner,
            &repo,
            std::slice::from_ref(&second),
            Exclude::AllRefs,
            &[],
        )
        .await
        .unwrap();
        assert!(none.is_empty());
        // A pull sync: `main` back at the first commit, the second only under a staging ref,
        // which `--branches --tags` leaves out (and `--all` would not).
        git(
            &work,
            &["update-ref", "refs/pushmirror/pull/heads/main", &second],
        );
        git(&work, &["reset", "-q", "--hard", &first]);
        let staged = pointers(
            &runner,
            &repo,
            std::slice::from_ref(&second),
            Exclude::BranchesAndTags,
            &[],
        )
        .await
        .unwrap();
        assert_eq!(staged, vec![pointer('b', 20)]);
        let hidden = pointers(&runner, &repo, &[second], Exclude::AllRefs, &[])
            .await
            .unwrap();
        assert!(hidden.is_empty());
    }

    #[tokio::test]
    async fn lists_the_paths_new_commits_change() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("w");
        std::fs::create_dir(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        for name in ["old.bin", "moved.bin", "gone.bin", "kept.bin"] {
            std::fs::write(work.join(name), name).unwrap();
        }
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "base"]);
        // The branch `side` changes `side.bin`; `main` goes on without it.
        git(&work, &["checkout", "-qb", "side"]);
        std::fs::write(work.join("side.bin"), "s").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "side"]);
        git(&work, &["checkout", "-q", "main"]);
        // Only `main` exists as a ref from here on: what follows is the push.
        git(&work, &["update-ref", "refs/pushed", "side"]);
        git(&work, &["branch", "-qD", "side"]);
        std::fs::write(work.join("old.bin"), "changed").unwrap();
        std::fs::write(work.join("odd\nname \u{e9}"), "x").unwrap();
        std::fs::create_dir(work.join("dir")).unwrap();
        git(&work, &["mv", "moved.bin", "dir/renamed.bin"]);
        git(&work, &["rm", "-q", "gone.bin"]);
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "change"]);
        git(&work, &["merge", "-q", "--no-edit", "refs/pushed"]);
        let tip = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["update-ref", "-d", "refs/pushed"]);
        git(&work, &["reset", "-q", "--hard", "HEAD~2"]);

        let runner = GitRunner::new(&dir.path().join("home"), Duration::from_secs(30)).unwrap();
        let repo = LocalRepo::for_tests(&work.join(".git"));
        let paths = changed_paths(&runner, &repo, std::slice::from_ref(&tip), &[])
            .await
            .unwrap();
        let expected: Vec<Vec<u8>> = [
            "dir/renamed.bin",
            "gone.bin",
            "moved.bin",
            "odd\nname \u{e9}",
            "old.bin",
            // The merge changes it against its first parent (and the rest against `side`).
            "side.bin",
        ]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
        assert_eq!(paths, expected);
        // Nothing a ref already reaches: from `main` itself, nothing is new.
        let main = git(&work, &["rev-parse", "main"]);
        let none = changed_paths(&runner, &repo, &[main], &[]).await.unwrap();
        assert!(none.is_empty(), "{none:?}");
        assert!(changed_paths(&runner, &repo, &[], &[])
            .await
            .unwrap()
            .is_empty());
    }

    #[test]
    fn batch_output_keeps_pointer_blobs_only() {
        let oid = "a".repeat(64);
        let pointer =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 7\n");
        let out = format!(
            "c1 commit 5\ntree \nb1 blob {}\n{pointer}\nb2 blob 6\nhello\n\nx missing\nb3 blob 0\n\n",
            pointer.len()
        );
        let found: Vec<_> = parse_batch(out.as_bytes()).into_iter().collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].oid.as_str(), oid);
        assert_eq!(found[0].size, 7);
    }
}
