//! Reading and changing a hosted repository's branches, tags and commits for the API: one
//! `for-each-ref` lists every branch or tag with its commit, `log -1` reads one commit, and
//! `update-ref` / `tag` change refs atomically (a ref that moved meanwhile is not overwritten).
//! Names and revisions chosen by users always follow `--end-of-options`.

use crate::storage::LocalRepo;
use std::collections::HashSet;

use super::{GitError, GitRunner, Subcommand};

/// Field and record separators of the formats below (ASCII unit and record separators, which
/// cannot appear in ref names and which git would not put in names or dates).
const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// A commit as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitInfo {
    pub id: String,
    pub parent_ids: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    /// ISO 8601 with offset, as git prints `iso-strict`.
    pub authored_date: String,
    pub committer_name: String,
    pub committer_email: String,
    pub committed_date: String,
    /// The first line of the message.
    pub title: String,
    /// The whole message.
    pub message: String,
}

/// A branch or tag with the commit it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefInfo {
    /// The short name (`main`, `v1.0`).
    pub name: String,
    /// What the ref points at: the commit, or the tag object of an annotated tag.
    pub target: String,
    /// An annotated tag's message (`None` for branches and lightweight tags).
    pub tag_message: Option<String>,
    pub commit: CommitInfo,
}

/// Which refs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Branches,
    Tags,
}

impl RefKind {
    fn prefix(self) -> &'static str {
        match self {
            RefKind::Branches => "refs/heads/",
            RefKind::Tags => "refs/tags/",
        }
    }
}

/// The commit fields, with `*` for an annotated tag's peeled commit.
fn commit_atoms(star: &str) -> String {
    [
        "objectname",
        "parent",
        "authorname",
        "authoremail",
        "authordate:iso-strict",
        "committername",
        "committeremail",
        "committerdate:iso-strict",
        "contents",
    ]
    .map(|a| format!("%({star}{a})"))
    .join("%1f")
}

fn trim_email(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// Parses the nine fields of [`commit_atoms`].
fn commit_from(fields: &[&str]) -> CommitInfo {
    let get = |i: usize| fields.get(i).copied().unwrap_or("");
    let message = get(8).to_owned();
    CommitInfo {
        id: get(0).to_owned(),
        parent_ids: get(1).split_whitespace().map(str::to_owned).collect(),
        author_name: get(2).to_owned(),
        author_email: trim_email(get(3)),
        authored_date: get(4).to_owned(),
        committer_name: get(5).to_owned(),
        committer_email: trim_email(get(6)),
        committed_date: get(7).to_owned(),
        title: message.lines().next().unwrap_or("").to_owned(),
        message,
    }
}

/// Every branch or every tag of `repo`, sorted by name.
pub async fn list_refs(
    runner: &GitRunner,
    repo: &LocalRepo,
    kind: RefKind,
) -> Result<Vec<RefInfo>, GitError> {
    let format = format!(
        "%(refname)%1f%(objecttype)%1f%(objectname)%1f%(contents)%1f{}%1f{}%1e",
        commit_atoms(""),
        commit_atoms("*")
    );
    let out = runner
        .command(Some(repo), Subcommand::ForEachRef)
        .args([format!("--format={format}"), "--sort=refname".into()])
        .args(["--end-of-options", kind.prefix()])
        .run()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split(RECORD)
        .filter_map(|record| {
            let record = record.trim_start_matches('\n');
            let fields: Vec<&str> = record.split(FIELD).collect();
            if fields.len() < 22 {
                return None;
            }
            let name = fields[0].strip_prefix(kind.prefix())?.to_owned();
            let annotated = fields[1] == "tag";
            let (commit, tag_message) = if annotated {
                (commit_from(&fields[13..22]), Some(fields[3].to_owned()))
            } else {
                (commit_from(&fields[4..13]), None)
            };
            // Only commits are shown (a tag of a tree or blob has no commit to show).
            (!commit.id.is_empty() && (annotated || fields[1] == "commit")).then(|| RefInfo {
                name,
                target: fields[2].to_owned(),
                tag_message,
                commit,
            })
        })
        .collect())
}

/// The branches whose tip is reachable from `into` (a full ref name).
pub async fn merged_branches(
    runner: &GitRunner,
    repo: &LocalRepo,
    into: &str,
) -> Result<HashSet<String>, GitError> {
    let out = runner
        .command(Some(repo), Subcommand::ForEachRef)
        .args([
            "--format=%(refname:lstrip=2)".to_owned(),
            format!("--merged={into}"),
            "--end-of-options".into(),
            "refs/heads/".into(),
        ])
        .run()
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// The commit `rev` names (an id, a branch or a tag), if it names one.
pub async fn commit(
    runner: &GitRunner,
    repo: &LocalRepo,
    rev: &str,
) -> Result<Option<CommitInfo>, GitError> {
    let Some(id) = resolve_commit(runner, repo, rev).await? else {
        return Ok(None);
    };
    let format = "%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B";
    let out = runner
        .command(Some(repo), Subcommand::Log)
        .args(["-1", "--no-walk", &format!("--format={format}")])
        .args(["--end-of-options", id.as_str()])
        .run()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let fields: Vec<&str> = text.split(FIELD).collect();
    Ok((fields.len() >= 9).then(|| commit_from(&fields)))
}

/// The commit id `rev` resolves to, or `None` when it names no commit.
pub async fn resolve_commit(
    runner: &GitRunner,
    repo: &LocalRepo,
    rev: &str,
) -> Result<Option<String>, GitError> {
    if rev.is_empty() || rev.starts_with('-') || rev.contains(['\0', '\n']) {
        return Ok(None);
    }
    match runner
        .command(Some(repo), Subcommand::RevParse)
        .args(["--verify", "--quiet", "--end-of-options"])
        .args([format!("{rev}^{{commit}}")])
        .run()
        .await
    {
        Ok(out) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())),
        Err(GitError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The newest `limit` commits reachable from `tip` but not from `exclude` (a commit id or a
/// full ref name), newest first, and how many there are in all: what a push brought, for its
/// webhook payload. `tip` and `exclude` are ids and ref names the server chose, never user text.
pub async fn commits_since(
    runner: &GitRunner,
    repo: &LocalRepo,
    tip: &str,
    exclude: Option<&str>,
    limit: usize,
) -> Result<(Vec<CommitInfo>, u64), GitError> {
    let range: Vec<String> = std::iter::once(tip.to_owned())
        .chain(exclude.map(|e| format!("^{e}")))
        .collect();
    let format = "%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B%x1e";
    let out = runner
        .command(Some(repo), Subcommand::Log)
        .args([format!("--max-count={limit}"), format!("--format={format}")])
        .args(&range)
        .args(["--"])
        .run()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let commits: Vec<CommitInfo> = text
        .split(RECORD)
        .map(|r| r.trim_start_matches('\n'))
        .filter(|r| !r.is_empty())
        .map(|r| commit_from(&r.split(FIELD).collect::<Vec<_>>()))
        .filter(|c| !c.id.is_empty())
        .collect();
    let counted = runner
        .command(Some(repo), Subcommand::RevList)
        .args(["--count"])
        .args(&range)
        .args(["--"])
        .run()
        .await?;
    let total = String::from_utf8_lossy(&counted.stdout)
        .trim()
        .parse()
        .unwrap_or(commits.len() as u64);
    Ok((commits, total))
}

/// The message of the annotated tag `full_name` (`None` for a lightweight tag or none).
pub async fn tag_message(
    runner: &GitRunner,
    repo: &LocalRepo,
    full_name: &str,
) -> Result<Option<String>, GitError> {
    let out = runner
        .command(Some(repo), Subcommand::ForEachRef)
        .args([
            "--format=%(objecttype)%1f%(contents)",
            "--end-of-options",
            full_name,
        ])
        .run()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split_once(FIELD)
        .filter(|(kind, _)| *kind == "tag")
        .map(|(_, message)| message.trim_end_matches('\n').to_owned()))
}

/// The newest `limit` commits of `rev` (a full ref name), newest first.
pub async fn recent_commits(
    runner: &GitRunner,
    repo: &LocalRepo,
    rev: &str,
    limit: usize,
) -> Result<Vec<CommitInfo>, GitError> {
    Ok(commits_since(runner, repo, rev, None, limit).await?.0)
}

/// Sets `full_name` to `new`, only if it now holds `old` (`None`: only if it does not exist);
/// `new` `None` deletes it. False when the ref was not in the expected state.
pub async fn update_ref(
    runner: &GitRunner,
    repo: &LocalRepo,
    full_name: &str,
    new: Option<&str>,
    old: Option<&str>,
) -> Result<bool, GitError> {
    let zero = "0".repeat(40);
    let mut cmd = runner.command(Some(repo), Subcommand::UpdateRef);
    cmd = match new {
        Some(new) => cmd.args(["--end-of-options", full_name, new, old.unwrap_or(&zero)]),
        None => cmd.args(["-d", "--end-of-options", full_name, old.unwrap_or(&zero)]),
    };
    match cmd.run().await {
        Ok(_) => Ok(true),
        Err(GitError::Failed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates the annotated tag `name` on `target` with `message`, tagged by `tagger` (name, e-mail);
/// returns the tag object's id. False-y (`None`) when the tag exists.
pub async fn create_annotated_tag(
    runner: &GitRunner,
    repo: &LocalRepo,
    name: &str,
    target: &str,
    message: &str,
    tagger: (&str, &str),
) -> Result<Option<String>, GitError> {
    let made = runner
        .command(Some(repo), Subcommand::Tag)
        .env("GIT_COMMITTER_NAME", tagger.0)
        .env("GIT_COMMITTER_EMAIL", tagger.1)
        .args(["-a", "-F", "-", "--end-of-options", name, target])
        .run_with_input(Some(message.as_bytes().to_vec()))
        .await;
    match made {
        Ok(_) => {}
        Err(GitError::Failed { .. }) => return Ok(None),
        Err(e) => return Err(e),
    }
    resolve_object(runner, repo, &format!("refs/tags/{name}")).await
}

/// The object id `full_name` points at.
async fn resolve_object(
    runner: &GitRunner,
    repo: &LocalRepo,
    full_name: &str,
) -> Result<Option<String>, GitError> {
    match runner
        .command(Some(repo), Subcommand::RevParse)
        .args(["--verify", "--quiet", "--end-of-options", full_name])
        .run()
        .await
    {
        Ok(out) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())),
        Err(GitError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How many commits `HEAD` reaches (GitLab's `commit_count`, of the default branch); 0 for a
/// repository without commits.
pub async fn commit_count(runner: &GitRunner, repo: &LocalRepo) -> Result<u64, GitError> {
    let out = runner
        .command(Some(repo), Subcommand::RevList)
        .args(["--count", "HEAD", "--"])
        .run()
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0))
}
