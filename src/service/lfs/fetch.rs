//! Fetching a project's LFS objects from its upstream, for a pull-mirror sync and an import.
//! A sync ([`fetch_for_tips`]) runs once the upstream's commits are in the repository (under
//! staging refs) and before any ref moves: every LFS pointer in commits reachable from the new
//! tips and from none of the repository's branches and tags. An import ([`fetch_all`]) takes
//! every pointer its branches and tags reach. Either way, the objects the project does not link
//! yet are asked about in batches of [`BATCH`] (`operation: download`) and downloaded,
//! [`TRANSFERS`] at a time at most, each further transfer needing a free slot of its host as the
//! push side's do. Each object streams into a staged file and is kept exactly as an upload
//! through the hosting endpoint is ([`super::transfer`]: size and SHA-256 checked against the
//! pointer, installed, linked under the object's row lock), never held in memory whole.
//!
//! Every sync does this for the commits it brings, not only the first (gitea#33536), so no ref
//! moves to commits whose objects the project lacks: any object not fetched fails the whole
//! call, naming the oids and why (`LFS: 2 of 10 objects not fetched: <oid> (404 Object does not
//! exist)`), and the caller moves no ref. The words come from `remote`, scrubbed of the
//! upstream's credentials. A project with LFS off fetches nothing.
//!
//! The upstream's LFS endpoint is found as a push mirror's is (`remote::LfsEndpoint`): an
//! HTTP(S) upstream's `<url>/info/lfs` with its credentials as Basic authentication, an ssh
//! upstream's `git-lfs-authenticate <path> download` (the upstream prepared for git again, only
//! when there are objects to ask about).

use std::collections::BTreeSet;
use std::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::app::App;
use crate::credentials::MirrorCredentials;
use crate::git::lfs::{pointers, Exclude};
use crate::git::ops;
use crate::model::entities::Project;
use crate::model::lfs::Pointer;
use crate::model::pull::Upstream;
use crate::remote::{host_of, LfsEndpoint, LfsOperation, LfsRemote, ObjectAnswer, RemoteFailure};
use crate::service::upstreams::remote_for;
use crate::storage::LocalRepo;

use super::transfer::{keep, NotKept};

/// Objects per batch request: the batch API's customary maximum (git-lfs asks about 100 at a
/// time, GitLab answers at most 100).
const BATCH: usize = 100;

/// Downloads in flight at once for one sync, at most: as many as a push mirror's uploads,
/// git-lfs's own default (`lfs.concurrenttransfers` 8).
const TRANSFERS: usize = 8;

/// Oids looked up in the project's links per query: far below SQLite's and PostgreSQL's limits
/// on bound parameters.
const LINK_QUERY: usize = 500;

/// The most failed objects a failure names; the rest are counted.
const NAMED_FAILURES: usize = 5;

/// Where a project's objects come from.
#[derive(Clone, Copy)]
pub struct UpstreamLfs<'a> {
    /// The upstream (its URL, sealed credentials, ssh key and pinned host keys).
    pub upstream: &'a Upstream,
    /// The pull mirror's id (the project's, for an import), for a host-key re-pin hint.
    pub owner_id: i64,
}

/// What a fetch did, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LfsFetched {
    /// Distinct pointers in the commits looked at.
    pub pointers: usize,
    /// Objects downloaded and linked.
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Why the objects could not all be fetched.
#[derive(Debug, thiserror::Error)]
pub enum LfsFetchError {
    /// The upstream did not give every object (the message names them and why, scrubbed), or
    /// could not be reached.
    #[error("{}", .0.message())]
    Upstream(RemoteFailure),
    /// This server failed (listing the pointers, the database); for the log, not for people.
    #[error("LFS: {0}")]
    Local(String),
}

/// Fetches the LFS objects that the commits reachable from `new_tips` (in `repo`, the
/// project's repository, under staging refs) and from no branch or tag need and `project`
/// does not link, from `upstream`, before the caller moves any ref to them (a pull mirror's
/// sync). Nothing to do when the project's LFS is off.
pub async fn fetch_for_tips(
    app: &App,
    project: &Project,
    repo: &LocalRepo,
    upstream: UpstreamLfs<'_>,
    new_tips: &[String],
) -> Result<LfsFetched, LfsFetchError> {
    if !project.lfs_enabled || new_tips.is_empty() {
        return Ok(LfsFetched::default());
    }
    fetch(
        app,
        project,
        repo,
        upstream,
        new_tips,
        Exclude::BranchesAndTags,
    )
    .await
}

/// Fetches every LFS object the repository's branches and tags reach that `project` does not
/// link, from `upstream` (an import, or a retry of one: what a failed run linked is not
/// fetched again). Nothing to do when the project's LFS is off.
pub async fn fetch_all(
    app: &App,
    project: &Project,
    repo: &LocalRepo,
    upstream: UpstreamLfs<'_>,
) -> Result<LfsFetched, LfsFetchError> {
    if !project.lfs_enabled {
        return Ok(LfsFetched::default());
    }
    let tips: Vec<String> = branch_and_tag_tips(app, repo).await?;
    fetch(app, project, repo, upstream, &tips, Exclude::Commits(&[])).await
}

/// What the repository's branches and tags point at.
async fn branch_and_tag_tips(app: &App, repo: &LocalRepo) -> Result<Vec<String>, LfsFetchError> {
    Ok(ops::local_refs(&app.git, repo)
        .await
        .map_err(|e| LfsFetchError::Local(format!("cannot list the branches and tags: {e}")))?
        .into_iter()
        .map(|(_, oid)| oid)
        .collect())
}

/// Fetches the objects of the pointers reachable from `tips` and not from what `known` says
/// that the project does not link.
async fn fetch(
    app: &App,
    project: &Project,
    repo: &LocalRepo,
    upstream: UpstreamLfs<'_>,
    tips: &[String],
    known: Exclude<'_>,
) -> Result<LfsFetched, LfsFetchError> {
    let found = pointers(&app.git, repo, tips, known, &[])
        .await
        .map_err(|e| LfsFetchError::Local(format!("cannot list the objects to fetch: {e}")))?;
    let mut done = LfsFetched {
        pointers: found.len(),
        ..LfsFetched::default()
    };
    let wanted = not_linked(app, project, found).await?;
    if wanted.is_empty() {
        return Ok(done);
    }
    let mut tally = Tally::default();
    let wanted = within_limits(app, project, wanted, &mut tally).await?;
    let remote = match connect(app, project, upstream).await? {
        Some(remote) => remote,
        None => {
            for p in &wanted {
                tally.fail(p, "a git:// upstream has no LFS endpoint");
            }
            return Err(tally.into_error());
        }
    };
    let fetch = Fetch {
        app,
        project,
        remote: &remote,
    };
    for chunk in wanted.chunks(BATCH) {
        fetch.batch(chunk, &mut tally, &mut done).await;
    }
    tracing::info!(
        project = project.id,
        pointers = done.pointers,
        objects = done.objects,
        bytes = done.bytes,
        failed = tally.failed.len(),
        "LFS objects fetched from the upstream"
    );
    if tally.failed.is_empty() {
        Ok(done)
    } else {
        Err(tally.into_error())
    }
}

/// The upstream's LFS endpoint, ready for downloads; `None` when it has none (`git://`).
async fn connect(
    app: &App,
    project: &Project,
    UpstreamLfs { upstream, owner_id }: UpstreamLfs<'_>,
) -> Result<Option<LfsRemote>, LfsFetchError> {
    let credentials = MirrorCredentials::open(&app.cipher, upstream.credentials.as_deref())
        .map_err(|e| {
            LfsFetchError::Upstream(RemoteFailure::Final(format!(
                "The stored credentials cannot be read: {e}"
            )))
        })?;
    let Some(endpoint) = LfsEndpoint::for_url(
        &upstream.url,
        &credentials,
        app.network_policy,
        app.git.timeout(),
    ) else {
        return Ok(None);
    };
    drop(credentials);
    // Only an ssh upstream is asked over ssh, for which it is prepared for git again.
    let git_remote = if endpoint.needs_git_remote() {
        Some(
            remote_for(app, upstream, project.id, owner_id)
                .await
                .map_err(LfsFetchError::Upstream)?,
        )
    } else {
        None
    };
    Ok(Some(
        endpoint
            .connect(git_remote.as_ref(), &app.git, LfsOperation::Download)
            .await,
    ))
}

/// Those of `found` the project does not link.
async fn not_linked(
    app: &App,
    project: &Project,
    found: Vec<Pointer>,
) -> Result<Vec<Pointer>, LfsFetchError> {
    let mut linked = BTreeSet::new();
    for chunk in found.chunks(LINK_QUERY) {
        let oids: Vec<&str> = chunk.iter().map(|p| p.oid.as_str()).collect();
        let rows = app
            .store
            .lfs_linked(project.id, &oids)
            .await
            .map_err(|e| LfsFetchError::Local(e.to_string()))?;
        linked.extend(rows.into_iter().map(|l| l.oid));
    }
    Ok(found
        .into_iter()
        .filter(|p| !linked.contains(p.oid.as_str()))
        .collect())
}

/// `wanted` less the objects above the largest object this server takes (counted as failed);
/// all of them failed when together they would take the project past its size limit.
async fn within_limits(
    app: &App,
    project: &Project,
    wanted: Vec<Pointer>,
    tally: &mut Tally,
) -> Result<Vec<Pointer>, LfsFetchError> {
    let max_object = app.lfs.max_object_size;
    let (fits, too_large): (Vec<Pointer>, Vec<Pointer>) =
        wanted.into_iter().partition(|p| p.size <= max_object);
    for p in &too_large {
        tally.fail(
            p,
            &format!(
                "{} bytes, above the limit of {max_object} bytes per object",
                p.size
            ),
        );
    }
    let max_project = app.lfs.max_project_size;
    if max_project > 0 && !fits.is_empty() {
        let adding: u64 = fits.iter().map(|p| p.size).fold(0, u64::saturating_add);
        let current = app
            .store
            .lfs_project_size(project.id)
            .await
            .map_err(|e| LfsFetchError::Local(e.to_string()))?;
        if current.saturating_add(adding) > max_project {
            let why = format!("the project may hold at most {max_project} bytes of LFS objects");
            for p in &fits {
                tally.fail(p, &why);
            }
            return Err(std::mem::take(tally).into_error());
        }
    }
    Ok(fits)
}

/// How the objects of one fetch fared.
#[derive(Default)]
struct Tally {
    asked: usize,
    /// The first [`NAMED_FAILURES`] failures' words.
    named: Vec<String>,
    /// Every failed oid.
    failed: Vec<String>,
}

impl Tally {
    fn fail(&mut self, p: &Pointer, why: &str) {
        self.asked += 1;
        if self.named.len() < NAMED_FAILURES {
            self.named.push(format!("{} ({why})", p.oid));
        }
        self.failed.push(p.oid.as_str().to_owned());
    }

    fn fetched(&mut self) {
        self.asked += 1;
    }

    /// A retry may do better: an upstream often gets a commit's objects just after the commit
    /// (`git push`, then `git lfs push`), and hrefs, networks and limits change.
    fn into_error(self) -> LfsFetchError {
        LfsFetchError::Upstream(RemoteFailure::Retryable(failure_message(
            self.failed.len(),
            self.asked,
            &self.named,
        )))
    }
}

/// `LFS: 2 of 10 objects not fetched: <oid> (why); <oid> (why)`, with `and N more` past the
/// named ones.
fn failure_message(failed: usize, asked: usize, named: &[String]) -> String {
    let mut text = format!(
        "LFS: {failed} of {asked} object{} not fetched: {}",
        if asked == 1 { "" } else { "s" },
        named.join("; ")
    );
    if failed > named.len() {
        text.push_str(&format!("; and {} more", failed - named.len()));
    }
    text
}

/// How one object's download ended: its href's origin and bytes kept, or that origin and why
/// it failed.
type Transfer = Result<(String, u64), (String, String)>;

/// One fetch's shared parts.
struct Fetch<'a> {
    app: &'a App,
    project: &'a Project,
    remote: &'a LfsRemote,
}

impl Fetch<'_> {
    /// One batch: asks the upstream for download actions, downloads what it answers.
    async fn batch(&self, chunk: &[Pointer], tally: &mut Tally, done: &mut LfsFetched) {
        let metrics = &self.app.metrics;
        let endpoint_host = host_of(&self.remote.origin());
        let answers = match self.remote.batch(LfsOperation::Download, chunk).await {
            Ok(a) => a,
            Err(e) => {
                for p in chunk {
                    tally.fail(p, &e.to_string());
                }
                metrics.lfs_fetched(&endpoint_host, 0, 0, chunk.len() as u64);
                return;
            }
        };
        let mut in_flight = FuturesUnordered::new();
        for (p, answer) in chunk.iter().zip(answers) {
            if let ObjectAnswer::Refused(why) = &answer {
                tally.fail(p, why);
                metrics.lfs_fetched(&endpoint_host, 0, 0, 1);
                continue;
            }
            // The first download runs on the caller's own slot of the upstream's host (as a
            // push mirror's update holds one); each further one needs a free slot of its host,
            // or waits for one of ours to end.
            let origin = self.remote.origin_of(&answer);
            let permit = loop {
                if in_flight.is_empty() {
                    break None;
                }
                if in_flight.len() < TRANSFERS {
                    if let Ok(permit) = self.app.host_limits.for_url(&origin).try_acquire_owned() {
                        break Some(permit);
                    }
                }
                if let Some(ended) = in_flight.next().await {
                    self.settle(ended, tally, done);
                }
            };
            in_flight.push(async move {
                let result = self.transfer(p, answer).await;
                drop(permit);
                (p, result)
            });
        }
        while let Some(ended) = in_flight.next().await {
            self.settle(ended, tally, done);
        }
    }

    fn settle(&self, (p, result): (&Pointer, Transfer), tally: &mut Tally, done: &mut LfsFetched) {
        match result {
            Ok((origin, bytes)) => {
                self.app.metrics.lfs_fetched(&host_of(&origin), bytes, 1, 0);
                tally.fetched();
                done.objects += 1;
                done.bytes += bytes;
            }
            Err((origin, why)) => {
                self.app.metrics.lfs_fetched(&host_of(&origin), 0, 0, 1);
                tally.fail(p, &why);
            }
        }
    }

    /// Downloads one object and keeps it; its href's origin and bytes, or that origin and the
    /// failure.
    async fn transfer(&self, p: &Pointer, mut answer: ObjectAnswer) -> Transfer {
        let mut host = self.remote.origin_of(&answer);
        if matches!(&answer, ObjectAnswer::Transfer { action, .. } if action.expired(Instant::now()))
        {
            // The href expires before the download could finish: ask again for this object.
            answer = match self
                .remote
                .batch(LfsOperation::Download, std::slice::from_ref(p))
                .await
            {
                Ok(mut a) if !a.is_empty() => a.remove(0),
                Ok(_) => ObjectAnswer::Refused("not in the remote's batch answer".into()),
                Err(e) => return Err((host, e.to_string())),
            };
            host = self.remote.origin_of(&answer);
        }
        let action = match answer {
            ObjectAnswer::Transfer { action, .. } => action,
            ObjectAnswer::Refused(why) => return Err((host, why)),
            ObjectAnswer::Present => {
                return Err((host, "the remote's answer has no download action".into()))
            }
        };
        let body = match self.remote.download(&action, p.size).await {
            Ok(body) => body,
            Err(e) => return Err((host, e.to_string())),
        };
        match keep(self.app, self.project, &p.oid, p.size, body).await {
            Ok(bytes) => Ok((host, bytes)),
            Err(NotKept::CutOff(e)) => Err((host, format!("the download was cut off: {e}"))),
            Err(NotKept::Size { received, complete }) => Err((
                host,
                format!(
                    "the download is {received}{} bytes, the pointer says {}",
                    if complete { "" } else { " or more" },
                    p.size
                ),
            )),
            Err(NotKept::Hash(sha256)) => Err((
                host,
                format!("the download's SHA-256 is {sha256}, not the oid"),
            )),
            Err(NotKept::Failed(e)) => {
                tracing::error!(project = self.project.id, oid = %p.oid, error = %e, "cannot keep a fetched LFS object");
                Err((host, "this server could not store it".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    fn pointer() -> Pointer {
        Pointer::parse(
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12\n")
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_failure_names_the_first_oids_and_counts_the_rest() {
        let mut tally = Tally::default();
        for _ in 0..3 {
            tally.fetched();
        }
        tally.fail(&pointer(), "404 Object does not exist");
        assert_eq!(
            tally.into_error().to_string(),
            format!("LFS: 1 of 4 objects not fetched: {OID} (404 Object does not exist)")
        );
        let mut tally = Tally::default();
        for _ in 0..NAMED_FAILURES + 2 {
            tally.fail(&pointer(), "gone");
        }
        let text = tally.into_error().to_string();
        assert!(
            text.starts_with("LFS: 7 of 7 objects not fetched: "),
            "{text}"
        );
        assert_eq!(text.matches(OID).count(), NAMED_FAILURES, "{text}");
        assert!(text.ends_with("; and 2 more"), "{text}");
        assert_eq!(
            failure_message(1, 1, &[format!("{OID} (gone)")]),
            format!("LFS: 1 of 1 object not fetched: {OID} (gone)")
        );
    }
}
