//! Asking for push mirror updates: the `mirror_update` job kind's declaration ([`MirrorUpdate`]:
//! its payload, queue, dedup key and storage) and the requests that enqueue it: a sync of one
//! mirror ([`request_update`]) and an update of every enabled mirror of a project after a push
//! ([`request_project_updates`], mirrors with `sync_on_commit` only), and the periodic updates of
//! mirrors with an interval ([`request_periodic_updates`]). The update itself runs in
//! `jobs::mirror_update`.
//!
//! Each request cuts a retry countdown short (a person or a push asked for it) and enqueues the
//! job in the same transaction; pending requests of one mirror coalesce by its key.

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::model::entities::Millis;
use crate::queue::{enqueue_in, JobKind, Queue};
use crate::store::{mirror_job_key, StoreError, Tx};

/// One update of one push mirror, on the node that serves its project's storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorUpdate {
    pub mirror_id: i64,
    /// The storage of the mirror's project (`None` in rows written before storages existed:
    /// any node may run those).
    #[serde(default)]
    pub storage: Option<String>,
}

impl JobKind for MirrorUpdate {
    const NAME: &'static str = "mirror_update";
    const QUEUE: Queue = Queue::MirrorUpdates;

    fn dedup_key(&self) -> String {
        mirror_job_key(self.mirror_id)
    }

    fn storage(&self) -> Option<String> {
        self.storage.clone()
    }

    /// JSON, or the decimal mirror id that rows written before JSON payloads hold.
    fn decode(payload: &str) -> Result<Self, String> {
        if let Ok(mirror_id) = payload.trim().parse() {
            return Ok(MirrorUpdate {
                mirror_id,
                storage: None,
            });
        }
        serde_json::from_str(payload).map_err(|e| format!("bad {} payload: {e}", Self::NAME))
    }
}

/// Asks for an update of mirror `id` now (a sync), when it is enabled; true when one was asked
/// for. Wakes this node's runner.
pub async fn request_update(app: &App, id: i64) -> Result<bool, StoreError> {
    let now = app.clock.now_ms();
    let mut tx = app.store.transaction().await?;
    let Some(storage) = tx.reset_mirror_retries(id).await? else {
        return Ok(false);
    };
    let job = MirrorUpdate {
        mirror_id: id,
        storage: Some(storage),
    };
    enqueue_in(&mut tx, &job, now, now).await?;
    tx.commit().await?;
    app.jobs_wakeup.notify_one();
    Ok(true)
}

/// Asks, in `tx`, for an update of every enabled mirror of project `project_id` (after a push);
/// returns how many. The caller wakes the runner once `tx` committed.
pub async fn request_project_updates(
    tx: &mut Tx,
    project_id: i64,
    now: Millis,
) -> Result<u64, StoreError> {
    let mirrors = tx.reset_project_mirror_retries(project_id).await?;
    for (mirror_id, storage) in &mirrors {
        let job = MirrorUpdate {
            mirror_id: *mirror_id,
            storage: Some(storage.clone()),
        };
        enqueue_in(tx, &job, now, now).await?;
    }
    Ok(mirrors.len() as u64)
}

/// Asks for the periodic update of every enabled mirror whose interval has passed since its
/// last update started (Gitea's `interval`) and that has none pending; returns how many. Run
/// by a recurring sweep, so a periodic update is as durable as the job table: no timer per
/// mirror, and a node that dies loses nothing. A retry countdown in progress is left alone:
/// the update comes due with it.
pub async fn request_periodic_updates(app: &App, now: Millis) -> Result<u64, StoreError> {
    let due = app.store.due_periodic_mirrors(now).await?;
    for (mirror_id, storage) in &due {
        let job = MirrorUpdate {
            mirror_id: *mirror_id,
            storage: Some(storage.clone()),
        };
        crate::queue::enqueue(&app.store, &job, now, now).await?;
    }
    if !due.is_empty() {
        app.jobs_wakeup.notify_one();
    }
    Ok(due.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::job;

    #[test]
    fn an_update_is_keyed_by_its_mirror_and_reads_the_old_decimal_payload() {
        let new = MirrorUpdate {
            mirror_id: 42,
            storage: Some("b".into()),
        };
        let row = job(&new, 0);
        assert_eq!(row.kind, "mirror_update");
        assert_eq!(row.dedup_key, "mirror:42");
        assert_eq!(row.storage.as_deref(), Some("b"));
        assert_eq!(MirrorUpdate::decode(&row.payload), Ok(new));
        // A row queued by an older release: the mirror id in decimal, no storage.
        let old = MirrorUpdate::decode("42").unwrap();
        assert_eq!((old.mirror_id, old.storage), (42, None));
        assert!(MirrorUpdate::decode("mirror 42").is_err());
    }
}
