//! A push mirror's Git LFS step, run before its git push: every LFS object reachable from the
//! refs about to be pushed and not from the remote's refs (`git::lfs::pointers`), less those the
//! remote already confirmed (`store::mirror_lfs`), is asked about in batches of [`BATCH`] and
//! uploaded where the remote asks, [`TRANSFERS`] at a time at most; what the remote confirms is
//! recorded as it happens. A *full* pass (the mirror's first, after a `best_effort` failure, or
//! when the periodic full check made it due) asks about every object of the mirrored refs,
//! confirmed or not, and re-uploads what the remote lost.
//!
//! What a failure does to the push is the mirror's `lfs_sync`, decided by the caller
//! (`push.rs`); the failure's words are this file's: `LFS: 3 of 120 objects not uploaded: …`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::git::lfs::{pointers, Exclude};
use crate::git::GitRunner;
use crate::lfs_store::LfsObjects;
use crate::model::lfs::Pointer;
use crate::model::storage::StorageName;
use crate::remote::{host_of, HostLimits, LfsOperation, LfsRemote, ObjectAnswer};
use crate::storage::LocalRepo;
use crate::store::Store;

/// Objects per batch request: the batch API's customary maximum (git-lfs sends 100, GitLab
/// answers at most 100).
const BATCH: usize = 100;

/// Uploads in flight at once for one mirror update, at most: enough to hide per-request latency
/// on many small objects, and no more than git-lfs's own default (`lfs.concurrenttransfers` 8).
/// Beyond the first, each also needs a free slot of its host (`HostLimits`).
pub(super) const TRANSFERS: usize = 8;

/// Finds the remote's LFS endpoint (an ssh remote's `git-lfs-authenticate`), once.
pub(super) type Connect<'a> = futures_util::future::BoxFuture<'a, LfsRemote>;

/// The LFS side of one mirror update.
pub(super) struct LfsStep<'a> {
    /// The remote's LFS endpoint, resolved on first use: asking an ssh remote costs a
    /// connection, spent only when the update has objects to ask about.
    remote: tokio::sync::OnceCell<LfsRemote>,
    /// How to resolve it; taken by the first use.
    connect: Mutex<Option<Connect<'a>>>,
    pub objects: &'a LfsObjects,
    pub metrics: &'a crate::metrics::Metrics,
    pub host_limits: &'a HostLimits,
    pub storage: StorageName,
    /// Whether this update asks about every object (cleared once a full pass succeeded).
    pub full: AtomicBool,
    /// A failure the refs were pushed past (`best_effort`), reported when the update ends.
    pub pushed_past: Mutex<Option<String>>,
}

impl<'a> LfsStep<'a> {
    pub(super) fn new(
        connect: Connect<'a>,
        objects: &'a LfsObjects,
        metrics: &'a crate::metrics::Metrics,
        host_limits: &'a HostLimits,
        storage: StorageName,
        full: bool,
    ) -> LfsStep<'a> {
        LfsStep {
            remote: tokio::sync::OnceCell::new(),
            connect: Mutex::new(Some(connect)),
            objects,
            metrics,
            host_limits,
            storage,
            full: full.into(),
            pushed_past: Mutex::default(),
        }
    }

    /// The remote's LFS endpoint, resolved by the first caller.
    async fn remote(&self) -> &LfsRemote {
        self.remote
            .get_or_init(|| async {
                let connect = self.connect.lock().expect("not poisoned").take();
                connect.expect("connect is taken only by get_or_init").await
            })
            .await
    }
}

/// How one object's transfer ended: the origin it went to and its bytes, or that origin and
/// why it failed.
type Transfer = Result<(String, u64), (String, String)>;

/// What the step needs from the update.
pub(super) struct StepInput<'a> {
    pub store: &'a Store,
    pub git: &'a GitRunner,
    pub repo: &'a LocalRepo,
    pub mirror_id: i64,
    /// The commits about to be pushed (and, in a full pass, every mirrored ref's commit).
    pub tips: Vec<String>,
    /// The commits the remote's refs point at.
    pub remote_heads: Vec<String>,
    pub now: crate::model::entities::Millis,
}

/// How the objects of one step fared.
#[derive(Default)]
struct Tally {
    asked: usize,
    failed: usize,
    /// The first failure's words.
    first: Option<String>,
}

impl Tally {
    fn fail(&mut self, oid: &str, why: &str) {
        self.failed += 1;
        if self.first.is_none() {
            self.first = Some(format!("{}: {why}", &oid[..12]));
        }
    }
}

impl LfsStep<'_> {
    /// Uploads what the remote lacks; the failure's message when any object could not be.
    pub(super) async fn run(&self, input: StepInput<'_>) -> Result<(), String> {
        let full = self.full.load(Ordering::Relaxed);
        let exclude = if full {
            Exclude::Commits(&[])
        } else {
            Exclude::Commits(&input.remote_heads)
        };
        let found = pointers(input.git, input.repo, &input.tips, exclude, &[])
            .await
            .map_err(|e| format!("LFS: cannot list the objects to upload: {e}"))?;
        let wanted: Vec<Pointer> = if full {
            found
        } else {
            let oids: Vec<&str> = found.iter().map(|p| p.oid.as_str()).collect();
            let confirmed = input
                .store
                .confirmed_lfs_oids(input.mirror_id, &oids)
                .await
                .map_err(|e| format!("LFS: {e}"))?;
            found
                .into_iter()
                .filter(|p| !confirmed.contains(p.oid.as_str()))
                .collect()
        };
        let mut tally = Tally::default();
        for chunk in wanted.chunks(BATCH) {
            tally.asked += chunk.len();
            let confirmed = self.batch(chunk, &mut tally).await;
            let oids: Vec<&str> = confirmed.iter().map(|p| p.oid.as_str()).collect();
            if let Err(e) = input
                .store
                .confirm_lfs_oids(input.mirror_id, &oids, input.now)
                .await
            {
                // Only the next update's work grows: it asks about these again.
                tracing::warn!(mirror = input.mirror_id, error = %e, "cannot record confirmed LFS objects");
            }
        }
        if tally.failed > 0 {
            return Err(format!(
                "LFS: {} of {} objects not uploaded: {}",
                tally.failed,
                tally.asked,
                tally.first.unwrap_or_default()
            ));
        }
        if full {
            self.full.store(false, Ordering::Relaxed);
            if let Err(e) = input
                .store
                .set_lfs_full_check(input.mirror_id, Some(input.now))
                .await
            {
                tracing::warn!(mirror = input.mirror_id, error = %e, "cannot record the LFS full check");
            }
        }
        Ok(())
    }

    /// One batch: asks the remote, uploads what it asks for; the objects it confirmed.
    async fn batch<'p>(&self, chunk: &'p [Pointer], tally: &mut Tally) -> Vec<&'p Pointer> {
        let answers = match self.remote().await.batch(LfsOperation::Upload, chunk).await {
            Ok(a) => a,
            Err(e) => {
                for p in chunk {
                    tally.fail(p.oid.as_str(), &e.to_string());
                }
                self.metrics.lfs_uploaded(
                    &host_of(&self.remote().await.origin()),
                    0,
                    0,
                    chunk.len() as u64,
                );
                return Vec::new();
            }
        };
        let mut confirmed = Vec::new();
        let mut in_flight = FuturesUnordered::new();
        for (p, answer) in chunk.iter().zip(answers) {
            match answer {
                ObjectAnswer::Present => confirmed.push(p),
                ObjectAnswer::Refused(why) => {
                    tally.fail(p.oid.as_str(), &why);
                    self.metrics
                        .lfs_uploaded(&host_of(&self.remote().await.origin()), 0, 0, 1);
                }
                answer @ ObjectAnswer::Transfer { .. } => {
                    // The first upload runs on the update's own host slot; each further one
                    // needs a free slot of its host, or waits for one of ours to end.
                    let origin = self.remote().await.origin_of(&answer);
                    let permit = loop {
                        if in_flight.is_empty() {
                            break None;
                        }
                        if in_flight.len() < TRANSFERS {
                            if let Ok(permit) =
                                self.host_limits.for_url(&origin).try_acquire_owned()
                            {
                                break Some(permit);
                            }
                        }
                        if let Some(done) = in_flight.next().await {
                            self.settle(done, &mut confirmed, tally);
                        }
                    };
                    in_flight.push(async move {
                        let result = self.transfer(p, answer).await;
                        drop(permit);
                        (p, result)
                    });
                }
            }
        }
        while let Some(done) = in_flight.next().await {
            self.settle(done, &mut confirmed, tally);
        }
        confirmed
    }

    fn settle<'p>(
        &self,
        (p, result): (&'p Pointer, Transfer),
        confirmed: &mut Vec<&'p Pointer>,
        tally: &mut Tally,
    ) {
        match result {
            Ok((origin, bytes)) => {
                self.metrics.lfs_uploaded(&host_of(&origin), bytes, 1, 0);
                confirmed.push(p);
            }
            Err((origin, why)) => {
                self.metrics.lfs_uploaded(&host_of(&origin), 0, 0, 1);
                tally.fail(p.oid.as_str(), &why);
            }
        }
    }

    /// Uploads (and verifies) one object; its href's origin and bytes, or that origin and the
    /// failure.
    async fn transfer(&self, p: &Pointer, mut answer: ObjectAnswer) -> Transfer {
        let mut host = self.remote().await.origin_of(&answer);
        if matches!(&answer, ObjectAnswer::Transfer { action, .. } if action.expired(Instant::now()))
        {
            // The href expires before the upload could finish: ask again for this object.
            answer = match self
                .remote()
                .await
                .batch(LfsOperation::Upload, std::slice::from_ref(p))
                .await
            {
                Ok(mut a) if !a.is_empty() => a.remove(0),
                Ok(_) => ObjectAnswer::Refused("not in the remote's batch answer".into()),
                Err(e) => return Err((host, e.to_string())),
            };
            host = self.remote().await.origin_of(&answer);
        }
        let (upload, verify) = match answer {
            ObjectAnswer::Present => return Ok((host, 0)),
            ObjectAnswer::Refused(why) => return Err((host, why)),
            ObjectAnswer::Transfer { action, verify } => (action, verify),
        };
        let fail = |why: String| (host.clone(), why);
        let object = match self.objects.open(&self.storage, &p.oid).await {
            Ok(Some(o)) => o,
            Ok(None) => return Err(fail("missing on this server".into())),
            Err(e) => return Err(fail(e.to_string())),
        };
        if object.size != p.size {
            return Err(fail(format!(
                "is {} bytes on this server, the pointer says {}",
                object.size, p.size
            )));
        }
        self.remote()
            .await
            .upload(&upload, object.size, object.body)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if let Some(verify) = verify {
            self.remote()
                .await
                .verify(&verify, p)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        Ok((host, p.size))
    }
}
