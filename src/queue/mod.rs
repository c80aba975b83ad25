//! Typed job kinds and the queues they run on: the vocabulary that services enqueue work with.
//! A kind is a serde payload that declares its stored name, its queue, its dedup key and the
//! repository storage it touches ([`JobKind`]); [`enqueue`] and [`enqueue_in`] turn it into a
//! row of the generic `jobs` table (`store::jobs`), on the pool or inside a transaction.
//!
//! What a kind *does* lives with the runner (`jobs/`, which registers every kind once); this
//! module sits below `service` so a use case can ask for work without importing the runner.
//!
//! Invariant: nothing here runs a job or reads the clock; it only describes and writes rows.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::Tuning;
use crate::model::entities::Millis;
use crate::store::{NewJob, Store, StoreError, Tx};

/// A queue: the kinds on one queue share one pool of run slots on each node, and claims are
/// made per queue, so a queue whose slots are all busy never holds back another's jobs.
/// Adding a queue is one variant here and its limit in [`Queue::limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Queue {
    /// Push mirror updates and the recording of pushes whose recording was lost.
    MirrorUpdates,
    /// Webhook deliveries (each bounded by `--webhook-timeout-secs`).
    HookDeliveries,
    /// Notification e-mail.
    Mail,
    /// Git LFS object transfers (no kind yet).
    LfsTransfers,
    /// Imports and pull-mirror syncs.
    PullMirrors,
    /// Housekeeping sweeps, run by recurring schedules.
    Maintenance,
}

/// Runs at once of a queue without a flag of its own yet: its first kind brings the flag.
const UNCONFIGURED_QUEUE_LIMIT: usize = 2;
/// Sweeps at once: each is one short scan of the database, and two of them would only repeat it.
const MAINTENANCE_LIMIT: usize = 1;

impl Queue {
    /// Every queue.
    pub const ALL: [Queue; 6] = [
        Queue::MirrorUpdates,
        Queue::HookDeliveries,
        Queue::Mail,
        Queue::LfsTransfers,
        Queue::PullMirrors,
        Queue::Maintenance,
    ];

    /// The queue's name in logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Queue::MirrorUpdates => "mirror_updates",
            Queue::HookDeliveries => "hook_deliveries",
            Queue::Mail => "mail",
            Queue::LfsTransfers => "lfs_transfers",
            Queue::PullMirrors => "pull_mirrors",
            Queue::Maintenance => "maintenance",
        }
    }

    /// How many of this queue's jobs one node runs at once.
    pub fn limit(self, engine: &Tuning) -> usize {
        match self {
            Queue::MirrorUpdates => engine.max_concurrent_updates,
            Queue::HookDeliveries => engine.max_concurrent_hook_deliveries,
            Queue::Mail => engine.max_concurrent_emails,
            Queue::PullMirrors => engine.max_concurrent_pulls,
            Queue::LfsTransfers => UNCONFIGURED_QUEUE_LIMIT,
            Queue::Maintenance => MAINTENANCE_LIMIT,
        }
        .max(1)
    }
}

/// A job kind: its payload (this type, stored as JSON) and what the runner needs to know about
/// it before running it.
pub trait JobKind: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stored name (`jobs.kind`); never renamed, since rows in existing databases use it.
    const NAME: &'static str;
    /// The queue whose slots its runs take.
    const QUEUE: Queue;

    /// Pending jobs with the same key coalesce into one (one more run after the running one).
    fn dedup_key(&self) -> String;

    /// The repository storage this job touches: only a node serving it claims the job.
    /// `None`: any node may run it.
    fn storage(&self) -> Option<String> {
        None
    }

    /// Reads a stored payload. Kinds whose rows predate JSON payloads also read their old form.
    fn decode(payload: &str) -> Result<Self, String> {
        serde_json::from_str(payload).map_err(|e| format!("bad {} payload: {e}", Self::NAME))
    }
}

/// The row that asks for `kind` to run at `run_at`.
pub fn job<K: JobKind>(kind: &K, run_at: Millis) -> NewJob {
    NewJob {
        kind: K::NAME,
        dedup_key: kind.dedup_key(),
        payload: serde_json::to_string(kind).expect("job payloads serialise"),
        storage: kind.storage(),
        run_at,
    }
}

/// Asks for `kind` to run at `run_at` (coalescing with a pending job of its key).
pub async fn enqueue<K: JobKind>(
    store: &Store,
    kind: &K,
    run_at: Millis,
    now: Millis,
) -> Result<(), StoreError> {
    store.enqueue_job(&job(kind, run_at), now).await
}

/// [`enqueue`] as part of the transaction `tx`: the job exists exactly when the rest commits.
pub async fn enqueue_in<K: JobKind>(
    tx: &mut Tx,
    kind: &K,
    run_at: Millis,
    now: Millis,
) -> Result<(), StoreError> {
    tx.enqueue_job(&job(kind, run_at), now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Probe {
        n: i64,
    }

    impl JobKind for Probe {
        const NAME: &'static str = "probe";
        const QUEUE: Queue = Queue::Mail;
        fn dedup_key(&self) -> String {
            format!("probe:{}", self.n)
        }
        fn storage(&self) -> Option<String> {
            Some("b".into())
        }
    }

    #[test]
    fn a_kind_becomes_a_row_with_a_json_payload_and_its_storage() {
        let row = job(&Probe { n: 7 }, 42);
        assert_eq!(row.kind, "probe");
        assert_eq!(row.dedup_key, "probe:7");
        assert_eq!(row.payload, r#"{"n":7}"#);
        assert_eq!(row.storage.as_deref(), Some("b"));
        assert_eq!(row.run_at, 42);
        assert_eq!(Probe::decode(&row.payload), Ok(Probe { n: 7 }));
        assert!(Probe::decode("7")
            .unwrap_err()
            .contains("bad probe payload"));
    }

    #[test]
    fn every_queue_has_its_own_name_and_a_limit_of_at_least_one() {
        let engine = Tuning {
            max_concurrent_hook_deliveries: 0,
            ..Tuning::default()
        };
        let mut names: Vec<_> = Queue::ALL.iter().map(|q| q.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Queue::ALL.len());
        assert!(Queue::ALL.iter().all(|q| q.limit(&engine) >= 1));
        assert_eq!(Queue::HookDeliveries.limit(&engine), 1);
    }
}
