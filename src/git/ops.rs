//! Typed git operations the engine and the hosting need: listing refs, ancestry, and `ls-remote`,
//! `push` and `fetch` against a [`Remote`]. Each builds its command through [`GitRunner::command`], so all of
//! them get the safe environment and the deadline.

use crate::storage::LocalRepo;

use secrecy::SecretString;

use super::{refs, GitError, GitRunner, Subcommand};

/// How to reach a remote: the credential-free URL that goes in argv, plus configuration and
/// environment (credentials, DNS pin, ssh settings) that only the child process sees.
#[derive(Default)]
pub struct Remote {
    /// The URL git is given, never carrying credentials.
    pub url: String,
    /// Configuration passed through `GIT_CONFIG_*` variables (e.g. `http.extraHeader`).
    pub config: Vec<(String, SecretString)>,
    /// Extra environment (e.g. `GIT_SSH_COMMAND`, `SSH_AUTH_SOCK`).
    pub env: Vec<(String, SecretString)>,
}

/// Parses `<oid> <refname>` lines (for-each-ref and ls-remote output, tab or space separated).
fn parse_ref_lines(out: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|line| {
            let (oid, name) = line.split_once(['\t', ' '])?;
            let name = name.trim();
            (!name.ends_with("^{}")
                && (name.starts_with("refs/heads/") || name.starts_with("refs/tags/")))
            .then(|| (name.to_owned(), oid.trim().to_owned()))
        })
        .collect()
}

/// Every branch and tag of a local repository, as `(full name, oid)` sorted by name: read from
/// the ref files when [`refs::read_branches_and_tags`] can, from `git for-each-ref` otherwise.
pub async fn local_refs(
    runner: &GitRunner,
    repo: &LocalRepo,
) -> Result<Vec<(String, String)>, GitError> {
    let dir = repo.to_owned();
    if let Ok(Some(found)) =
        tokio::task::spawn_blocking(move || refs::read_branches_and_tags(&dir)).await
    {
        return Ok(found);
    }
    local_refs_from_git(runner, repo).await
}

/// [`local_refs`] as git lists them.
async fn local_refs_from_git(
    runner: &GitRunner,
    repo: &LocalRepo,
) -> Result<Vec<(String, String)>, GitError> {
    let out = runner
        .command(Some(repo), Subcommand::ForEachRef)
        .args([
            "--format=%(objectname) %(refname)",
            "refs/heads/",
            "refs/tags/",
        ])
        .run()
        .await?;
    Ok(parse_ref_lines(&out.stdout))
}

/// The namespace of pushmirror's own working refs (a pull mirror's or an import's staging
/// refs): hidden from every git client by the forced configuration, never pushed to a mirror.
pub const PRIVATE_REFS: &str = "refs/pushmirror/";

/// Every ref under `prefix` (a full ref prefix ending in `/`), as `(full name, oid)`, in name
/// order.
pub async fn refs_under(
    runner: &GitRunner,
    repo: &LocalRepo,
    prefix: &str,
) -> Result<Vec<(String, String)>, GitError> {
    let out = runner
        .command(Some(repo), Subcommand::ForEachRef)
        .args([
            "--format=%(objectname) %(refname)",
            "--end-of-options",
            prefix,
        ])
        .run()
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (oid, name) = line.split_once(' ')?;
            name.starts_with(prefix)
                .then(|| (name.to_owned(), oid.to_owned()))
        })
        .collect())
}

/// Moves refs as one transaction: each `(name, old, new)` only if the ref now holds `old`
/// (`None`: only if it does not exist); a `new` of `None` deletes it. False when any ref was
/// not in the expected state (nothing moved then).
pub async fn update_refs(
    runner: &GitRunner,
    repo: &LocalRepo,
    updates: &[(String, Option<String>, Option<String>)],
) -> Result<bool, GitError> {
    let mut input = Vec::new();
    for (name, old, new) in updates {
        let line = match (old, new) {
            (None, Some(new)) => format!("create {name}\0{new}\0"),
            (Some(old), Some(new)) => format!("update {name}\0{new}\0{old}\0"),
            (Some(old), None) => format!("delete {name}\0{old}\0"),
            (None, None) => continue,
        };
        input.extend_from_slice(line.as_bytes());
    }
    if input.is_empty() {
        return Ok(true);
    }
    let cmd = runner
        .command(Some(repo), Subcommand::UpdateRef)
        .args(["--stdin", "-z"]);
    match cmd.run_with_input(Some(input)).await {
        Ok(_) => Ok(true),
        Err(GitError::Failed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The branch `HEAD` names (short name), whether or not it exists yet.
///
/// Read from the `HEAD` file when it holds a plain symbolic ref (the files backend, which our
/// repositories use): every mirror update asks, and a process per update was a measurable part
/// of an update's cost. Anything else (a detached HEAD, reftable's placeholder) asks git.
pub async fn head_branch(runner: &GitRunner, repo: &LocalRepo) -> Result<Option<String>, GitError> {
    if let Ok(text) = tokio::fs::read_to_string(repo.path().join("HEAD")).await {
        if let Some(branch) = text
            .strip_suffix('\n')
            .and_then(|t| t.strip_prefix("ref: refs/heads/"))
            .filter(|b| !b.is_empty() && *b != ".invalid" && !b.contains(['\n', '\0']))
        {
            return Ok(Some(branch.to_owned()));
        }
    }
    match runner
        .command(Some(repo), Subcommand::SymbolicRef)
        .args(["--quiet", "HEAD"])
        .run()
        .await
    {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout)
            .trim()
            .strip_prefix("refs/heads/")
            .map(str::to_owned)),
        Err(GitError::Failed { code: Some(1), .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Points `HEAD` at `branch`.
pub async fn set_head(runner: &GitRunner, repo: &LocalRepo, branch: &str) -> Result<(), GitError> {
    runner
        .command(Some(repo), Subcommand::SymbolicRef)
        .args(["HEAD".to_owned(), format!("refs/heads/{branch}")])
        .run()
        .await?;
    Ok(())
}

/// Whether `ancestor` is an ancestor of (or equal to) `descendant`; `None` when git cannot tell
/// (an object unknown locally).
pub async fn is_ancestor(
    runner: &GitRunner,
    repo: &LocalRepo,
    ancestor: &str,
    descendant: &str,
) -> Result<Option<bool>, GitError> {
    match runner
        .command(Some(repo), Subcommand::MergeBase)
        .args(["--is-ancestor", "--end-of-options", ancestor, descendant])
        .run()
        .await
    {
        Ok(_) => Ok(Some(true)),
        Err(GitError::Failed { code: Some(1), .. }) => Ok(Some(false)),
        Err(GitError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The remote's branches and tags (peeled entries and symbolic refs left out).
pub async fn ls_remote(
    runner: &GitRunner,
    repo: &LocalRepo,
    remote: &Remote,
) -> Result<Vec<(String, String)>, GitError> {
    let mut cmd = runner
        .command(Some(repo), Subcommand::LsRemote)
        .config_env(&remote.config)
        .args([
            "--refs",
            "--end-of-options",
            remote.url.as_str(),
            "refs/heads/*",
            "refs/tags/*",
        ]);
    for (k, v) in &remote.env {
        cmd = cmd.env_secret(k, v);
    }
    let out = cmd.run().await?;
    Ok(parse_ref_lines(&out.stdout))
}

/// Pushes `refspecs` to the remote. `leases` (ref name → expected old oid, empty for "must not
/// exist") turn each into a `--force-with-lease` push; otherwise `force` decides `--force`.
pub async fn push(
    runner: &GitRunner,
    repo: &LocalRepo,
    remote: &Remote,
    refspecs: &[String],
    force: bool,
    leases: &[(String, String)],
) -> Result<super::GitOutput, GitError> {
    let mut args: Vec<String> = vec!["--porcelain".into(), "--no-verify".into()];
    if !leases.is_empty() {
        args.extend(
            leases
                .iter()
                .map(|(r, old)| format!("--force-with-lease={r}:{old}")),
        );
    } else if force {
        args.push("--force".into());
    }
    args.push("--end-of-options".into());
    args.push(remote.url.clone());
    args.extend(refspecs.iter().cloned());
    let mut cmd = runner
        .command(Some(repo), Subcommand::Push)
        .config_env(&remote.config)
        .args(args);
    for (k, v) in &remote.env {
        cmd = cmd.env_secret(k, v);
    }
    cmd.run().await
}

/// Fetches `refspecs` (e.g. `+refs/heads/*:refs/heads/*`) from the remote into `repo`. Only
/// what the refspecs name is fetched (no tags followed, no submodules, no `FETCH_HEAD`, no
/// automatic gc); with `prune`, refs under a refspec's destination that the remote no longer
/// has are deleted. The transports are the forced configuration's: never `ext::`, `file://` or
/// a local path, and never a prompt.
pub async fn fetch(
    runner: &GitRunner,
    repo: &LocalRepo,
    remote: &Remote,
    refspecs: &[String],
    prune: bool,
) -> Result<super::GitOutput, GitError> {
    let mut args: Vec<String> = [
        "--quiet",
        "--no-tags",
        "--no-recurse-submodules",
        "--no-write-fetch-head",
        "--no-auto-gc",
    ]
    .map(str::to_owned)
    .to_vec();
    if prune {
        args.push("--prune".into());
    }
    args.push("--end-of-options".into());
    args.push(remote.url.clone());
    args.extend(refspecs.iter().cloned());
    let mut cmd = runner
        .command(Some(repo), Subcommand::Fetch)
        .config_env(&remote.config)
        .args(args);
    for (k, v) in &remote.env {
        cmd = cmd.env_secret(k, v);
    }
    cmd.run().await
}

/// Moves every loose ref into `packed-refs` (`git pack-refs --all`): after an import or a sync
/// that wrote thousands of loose ref files, every later listing, fetch negotiation and sync
/// reads one file instead.
pub async fn pack_refs(runner: &GitRunner, repo: &LocalRepo) -> Result<(), GitError> {
    runner
        .command(Some(repo), Subcommand::PackRefs)
        .args(["--all"])
        .run()
        .await
        .map(drop)
}

/// [`fetch`] of refspecs read from stdin (`--stdin`), for lists too long for a command line:
/// e.g. the 100,000 branches of a first sync. Never prunes.
pub async fn fetch_listed(
    runner: &GitRunner,
    repo: &LocalRepo,
    remote: &Remote,
    refspecs: &[String],
) -> Result<super::GitOutput, GitError> {
    let args: Vec<String> = [
        "--quiet",
        "--no-tags",
        "--no-recurse-submodules",
        "--no-write-fetch-head",
        "--no-auto-gc",
        "--stdin",
        "--end-of-options",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain(std::iter::once(remote.url.clone()))
    .collect();
    let mut cmd = runner
        .command(Some(repo), Subcommand::Fetch)
        .config_env(&remote.config)
        .args(args);
    for (k, v) in &remote.env {
        cmd = cmd.env_secret(k, v);
    }
    let mut input = refspecs.join("\n");
    input.push('\n');
    cmd.run_with_input(Some(input.into_bytes())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn head_branch_reads_the_file_and_asks_git_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let runner =
            GitRunner::new(&dir.path().join("home"), std::time::Duration::from_secs(30)).unwrap();
        let repo = LocalRepo::for_tests(&dir.path().join("r.git"));
        super::super::init_bare(&runner, &repo, "trunk")
            .await
            .unwrap();
        assert_eq!(
            head_branch(&runner, &repo).await.unwrap().as_deref(),
            Some("trunk")
        );
        set_head(&runner, &repo, "feat/x").await.unwrap();
        assert_eq!(
            head_branch(&runner, &repo).await.unwrap().as_deref(),
            Some("feat/x")
        );
        // A detached HEAD is not a branch: the file does not say one, and git says none.
        std::fs::write(repo.join("HEAD"), format!("{}\n", "1".repeat(40))).unwrap();
        assert_eq!(head_branch(&runner, &repo).await.unwrap(), None);
    }

    /// Runs the real git CLI for a test fixture; its stdout.
    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[tokio::test]
    async fn ref_files_are_read_as_git_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let runner =
            GitRunner::new(&dir.path().join("home"), std::time::Duration::from_secs(30)).unwrap();
        let work = dir.path().join("w");
        std::fs::create_dir(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["commit", "-q", "--allow-empty", "-m", "one"]);
        for b in [
            "a",
            "feat/deep/x",
            "packed-then-moved",
            "packed-then-deleted",
        ] {
            git(&work, &["branch", b]);
        }
        git(&work, &["tag", "light"]);
        git(&work, &["tag", "-a", "-m", "annotated", "v1.0"]);
        git(&work, &["pack-refs", "--all"]);
        git(&work, &["commit", "-q", "--allow-empty", "-m", "two"]);
        git(&work, &["branch", "-f", "packed-then-moved"]);
        git(&work, &["branch", "-D", "packed-then-deleted"]);
        git(&work, &["branch", "loose-only"]);
        git(&work, &["update-ref", "refs/notes/other", "HEAD"]);
        let repo = LocalRepo::for_tests(&work.join(".git"));
        // An update in progress leaves a lock file, which is not a ref.
        std::fs::write(repo.join("refs/heads/a.lock"), "junk").unwrap();

        let by_git = local_refs_from_git(&runner, &repo).await.unwrap();
        assert_eq!(by_git.len(), 7, "{by_git:?}");
        let read = refs::read_branches_and_tags(&repo).expect("readable without git");
        assert_eq!(read, by_git);
        assert_eq!(local_refs(&runner, &repo).await.unwrap(), by_git);

        // The refs a push names: loose, packed, moved after packing, deleted, never there, a
        // directory of deeper refs, outside branches and tags.
        let names = [
            "refs/heads/main",
            "refs/heads/a",
            "refs/heads/packed-then-moved",
            "refs/heads/packed-then-deleted",
            "refs/heads/never",
            "refs/heads/feat",
            "refs/tags/v1.0",
            "refs/notes/other",
        ];
        let named = refs::read_named(&repo, &names).expect("readable without git");
        let all = git(
            &work,
            &["for-each-ref", "--format=%(objectname) %(refname)"],
        );
        let expected: std::collections::HashMap<String, String> = all
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, name)| names.contains(name))
            .map(|(oid, name)| (name.to_owned(), oid.to_owned()))
            .collect();
        assert_eq!(expected.len(), 5, "{expected:?}");
        assert_eq!(named, expected);
        assert_eq!(refs::read_named(&repo, &["refs/heads/a..b"]), None);

        // A symbolic ref is left to git, which resolves it.
        git(
            &work,
            &["symbolic-ref", "refs/heads/alias", "refs/heads/main"],
        );
        assert_eq!(refs::read_branches_and_tags(&repo), None);
        assert_eq!(refs::read_named(&repo, &["refs/heads/alias"]), None);
        let resolved = local_refs(&runner, &repo).await.unwrap();
        assert_eq!(resolved, local_refs_from_git(&runner, &repo).await.unwrap());
        assert!(resolved.iter().any(|(n, _)| n == "refs/heads/alias"));
    }

    #[tokio::test]
    async fn fetch_refuses_local_and_command_transports() {
        let dir = tempfile::tempdir().unwrap();
        let runner =
            GitRunner::new(&dir.path().join("home"), std::time::Duration::from_secs(30)).unwrap();
        let source = LocalRepo::for_tests(&dir.path().join("source.git"));
        super::super::init_bare(&runner, &source, "main")
            .await
            .unwrap();
        let repo = LocalRepo::for_tests(&dir.path().join("r.git"));
        super::super::init_bare(&runner, &repo, "main")
            .await
            .unwrap();
        let marker = dir.path().join("pwned");
        for url in [
            format!("file://{}", source.display()),
            source.display().to_string(),
            format!("ext::sh -c touch% {}", marker.display()),
        ] {
            let remote = Remote {
                url: url.clone(),
                ..Remote::default()
            };
            let refspecs = ["+refs/heads/*:refs/heads/*".to_owned()];
            let err = fetch(&runner, &repo, &remote, &refspecs, true)
                .await
                .unwrap_err();
            assert!(matches!(err, GitError::Failed { .. }), "{url}: {err}");
        }
        assert!(!marker.exists());
    }

    #[test]
    fn ref_lines_keep_branches_and_tags_only() {
        let out = b"a1\trefs/heads/main\nb2\trefs/tags/v1\nb3\trefs/tags/v1^{}\nc3\tHEAD\nd4 refs/pull/1/head\ne5 refs/heads/x y\n";
        assert_eq!(
            parse_ref_lines(out),
            vec![
                ("refs/heads/main".to_owned(), "a1".to_owned()),
                ("refs/tags/v1".to_owned(), "b2".to_owned()),
                ("refs/heads/x y".to_owned(), "e5".to_owned()),
            ]
        );
    }
}
