//! A mirror's update status and the remote state its last update left: marking an update
//! started, persisting the [`Transition`] the domain decided (with the webhook deliveries it
//! announces), finding updates abandoned in `started`, and the recorded remote state (shared by every node, so any node plans from it):
//! a header per mirror whose `generation` changes with every write, and one row per remote ref,
//! so an update writes only the refs its push changed.
//!
//! Invariant: status values are written from [`UpdateStatus::as_str`], never as SQL literals
//! chosen here.

use std::collections::BTreeMap;

use rand::Rng;

use super::mirrors::{mirror_from_row, mirror_job_key, mirror_job_key_sql, MIRROR_COLUMNS};
use super::{Dialect, NewJob, Store, StoreError};
use crate::model::entities::{Millis, RemoteMirror};
use crate::model::status::{Transition, UpdateStatus};

/// A project id and, for each of its mirrors, the mirror id and its recorded source digest.
pub(super) type ProjectDigests = (i64, Vec<(i64, Option<String>)>);

/// What a write changes in a recorded remote state: full ref name → the oid it now has, or
/// `None` when the remote no longer has it.
pub type RemoteRefChanges = BTreeMap<String, Option<String>>;

/// The header of a recorded remote state (`mirror_remote_states`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteStateHeader {
    /// Changes with every write of the state (a random value, never repeated in practice), so
    /// a copy of the refs taken at one generation is current exactly while this is unchanged.
    pub generation: i64,
    /// When the update that wrote the state ended its push.
    pub taken_at: Millis,
}

/// Which mirror rows a transition may be written to.
#[derive(Clone, Copy)]
enum Guard {
    /// The row of the attempt that began at this time and is still `started`.
    Attempt(Millis),
    /// A row still abandoned: `started` with no update pending.
    Abandoned,
}

impl Store {
    /// Marks an update as running: status `started`, `last_update_started_at = now`. False when
    /// the mirror is gone.
    pub async fn mark_started(&self, id: i64, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update remote_mirrors set update_status = $1, last_update_started_at = $2 where id = $3",
        )
        .bind(UpdateStatus::Started.as_str())
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Persists how the attempt [`Store::mark_started`] began at `started_at` ended, and
    /// enqueues `announcements` (the webhook deliveries of a health change) in the same
    /// transaction: a change is announced exactly when it is recorded, whatever crashes around
    /// it. Only while that attempt is still the mirror's (`started` at `started_at`): a URL or
    /// credential change meanwhile reset the status, and an outcome reached with the old
    /// settings must not overwrite it. False, with nothing written, when it no longer is.
    pub async fn record_transition(
        &self,
        id: i64,
        t: &Transition,
        started_at: Millis,
        now: Millis,
        announcements: &[NewJob],
    ) -> Result<bool, StoreError> {
        self.write_transition(id, t, now, announcements, Guard::Attempt(started_at))
            .await
    }

    /// [`Store::record_transition`] for a mirror [`Store::abandoned_mirrors`] found, only if it is
    /// still abandoned (`started`, no update pending); false when it is not, with nothing written.
    pub async fn record_abandoned(
        &self,
        id: i64,
        t: &Transition,
        now: Millis,
        announcements: &[NewJob],
    ) -> Result<bool, StoreError> {
        self.write_transition(id, t, now, announcements, Guard::Abandoned)
            .await
    }

    async fn write_transition(
        &self,
        id: i64,
        t: &Transition,
        now: Millis,
        announcements: &[NewJob],
        guard: Guard,
    ) -> Result<bool, StoreError> {
        let abandoned = match guard {
            Guard::Abandoned => format!(
                " and update_status = '{}' and not exists \
                 (select 1 from jobs where jobs.dedup_key = {})",
                UpdateStatus::Started.as_str(),
                mirror_job_key_sql("remote_mirrors.id")
            ),
            Guard::Attempt(_) => format!(
                " and update_status = '{}' and last_update_started_at = $8",
                UpdateStatus::Started.as_str()
            ),
        };
        let sql = format!(
            "update remote_mirrors set update_status = $1, last_error = $2, retry_count = $3, \
             last_update_at = case when $4 = 1 then last_update_at else $5 end, \
             last_successful_update_at = case when $6 = 1 then $5 else last_successful_update_at end, \
             error_notification_sent = case when $6 = 1 then 0 else error_notification_sent end \
             where id = $7{abandoned}"
        );
        let mut tx = self.transaction().await?;
        let done = sqlx::query(&sql)
            .bind(t.status.as_str())
            .bind(t.error.as_deref())
            .bind(t.retry_count as i64)
            // GitLab leaves last_update_at alone while an update waits for its retry.
            .bind((t.status == UpdateStatus::ToRetry) as i64)
            .bind(now)
            .bind(t.succeeded() as i64)
            .bind(id);
        let done = match guard {
            Guard::Attempt(started_at) => done.bind(started_at),
            Guard::Abandoned => done,
        }
        .execute(&mut *tx.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for job in announcements {
            tx.enqueue_job(job, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whether mirror `id` failed (`failed`, with an error) and its failure e-mail has not gone
    /// out in this streak.
    pub async fn failure_email_due(&self, id: i64) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from remote_mirrors where id = $1 and update_status = $2 \
             and last_error is not null and error_notification_sent = 0",
        )
        .bind(id)
        .bind(UpdateStatus::Failed.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Records that mirror `id`'s failure e-mail went out (until the next success or URL change).
    pub async fn mark_failure_emailed(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("update remote_mirrors set error_notification_sent = 1 where id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Mirrors left `started` by a worker that died and with no pending update to resume them,
    /// to be recorded as failed ([`Store::record_abandoned`]) so the status never stays
    /// `started`.
    pub async fn abandoned_mirrors(&self) -> Result<Vec<RemoteMirror>, StoreError> {
        let sql = format!(
            "select {} from remote_mirrors where update_status = $1 and not exists \
               (select 1 from jobs where jobs.dedup_key = {key})",
            *MIRROR_COLUMNS,
            key = mirror_job_key_sql("remote_mirrors.id")
        );
        let rows = sqlx::query(&sql)
            .bind(UpdateStatus::Started.as_str())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(mirror_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Whether an update of this mirror is pending (waiting or running).
    pub async fn mirror_update_pending(&self, id: i64) -> Result<bool, StoreError> {
        self.job_pending(&mirror_job_key(id)).await
    }

    /// The header of the remote state the last successful update to `url` recorded: one row,
    /// read by every update to learn whether its cached copy of the refs is still current.
    pub async fn remote_state_header(
        &self,
        mirror_id: i64,
        url: &str,
    ) -> Result<Option<RemoteStateHeader>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "select generation, taken_at from mirror_remote_states where mirror_id = $1 and url = $2",
        )
        .bind(mirror_id)
        .bind(url)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(generation, taken_at)| RemoteStateHeader {
            generation,
            taken_at,
        }))
    }

    /// The remote state the last successful update to `url` recorded: its header and every ref
    /// as `(full name, oid)` sorted by name, from one statement (so from one snapshot).
    ///
    /// The refs come back as one aggregated text value rather than one row each: sqlx hands
    /// every row over separately (on SQLite through a channel, with a wake-up per row), which
    /// for 100,000 refs costs several times more than one 6 MB value.
    pub async fn remote_state(
        &self,
        mirror_id: i64,
        url: &str,
    ) -> Result<Option<(RemoteStateHeader, Vec<(String, String)>)>, StoreError> {
        let lines = match self.dialect {
            Dialect::Sqlite => "group_concat(r.oid || ' ' || r.name, char(10))",
            Dialect::Postgres => "string_agg(r.oid || ' ' || r.name, chr(10))",
        };
        let sql = format!(
            "select h.generation, h.taken_at, \
               (select {lines} from mirror_remote_state_refs r where r.mirror_id = h.mirror_id) \
             from mirror_remote_states h where h.mirror_id = $1 and h.url = $2"
        );
        let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(&sql)
            .bind(mirror_id)
            .bind(url)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(generation, taken_at, text)| {
            let mut refs: Vec<(String, String)> = text
                .as_deref()
                .unwrap_or("")
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(oid, name)| (name.to_owned(), oid.to_owned()))
                .collect();
            // Neither aggregate promises an order; names are unique (the primary key).
            refs.sort_unstable();
            let header = RemoteStateHeader {
                generation,
                taken_at,
            };
            (header, refs)
        }))
    }

    /// Records the remote state an update left: the refs of generation `base` with `changes`
    /// applied (`base` `None`: no state is recorded, so `changes` holds every ref), and a new
    /// header, in one transaction. Returns the new generation, or `None` with nothing written
    /// when the recorded state is no longer generation `base` (it was forgotten, or another run
    /// wrote it, meanwhile).
    pub async fn save_remote_state(
        &self,
        mirror_id: i64,
        url: &str,
        base: Option<i64>,
        changes: &RemoteRefChanges,
        source_digest: &str,
        now: Millis,
    ) -> Result<Option<i64>, StoreError> {
        let generation = rand::thread_rng().gen_range(1..i64::MAX);
        let mut tx = self.transaction().await?;
        let header = match base {
            Some(base) => sqlx::query(
                "update mirror_remote_states set url = $1, taken_at = $2, source_digest = $3, \
                 generation = $4 where mirror_id = $5 and generation = $6",
            )
            .bind(url)
            .bind(now)
            .bind(source_digest)
            .bind(generation)
            .bind(mirror_id)
            .bind(base),
            None => sqlx::query(
                "insert into mirror_remote_states (url, taken_at, source_digest, generation, \
                 mirror_id) values ($1, $2, $3, $4, $5) on conflict (mirror_id) do nothing",
            )
            .bind(url)
            .bind(now)
            .bind(source_digest)
            .bind(generation)
            .bind(mirror_id),
        };
        if header.execute(&mut *tx.tx).await?.rows_affected() == 0 {
            return Ok(None);
        }
        // Each kind of change is one statement whatever its size: the set travels as one JSON
        // value that the database unpacks (a first mirror writes 100,000 rows).
        let upserts: BTreeMap<&str, &str> = changes
            .iter()
            .filter_map(|(name, oid)| Some((name.as_str(), oid.as_deref()?)))
            .collect();
        if !upserts.is_empty() {
            let sql = match self.dialect {
                // `where true` tells SQLite's parser that `on conflict` is the upsert clause.
                Dialect::Sqlite => {
                    "insert into mirror_remote_state_refs (mirror_id, name, oid) \
                     select $1, key, value from json_each($2) where true \
                     on conflict (mirror_id, name) do update set oid = excluded.oid"
                }
                Dialect::Postgres => {
                    "insert into mirror_remote_state_refs (mirror_id, name, oid) \
                     select $1, key, value from json_each_text(cast($2 as json)) \
                     on conflict (mirror_id, name) do update set oid = excluded.oid"
                }
            };
            sqlx::query(sql)
                .bind(mirror_id)
                .bind(json_text(&upserts))
                .execute(&mut *tx.tx)
                .await?;
        }
        let deletes: Vec<&str> = changes
            .iter()
            .filter(|(_, oid)| oid.is_none())
            .map(|(name, _)| name.as_str())
            .collect();
        if !deletes.is_empty() {
            let names = match self.dialect {
                Dialect::Sqlite => "select value from json_each($2)",
                Dialect::Postgres => "select json_array_elements_text(cast($2 as json))",
            };
            let sql = format!(
                "delete from mirror_remote_state_refs where mirror_id = $1 and name in ({names})"
            );
            sqlx::query(&sql)
                .bind(mirror_id)
                .bind(json_text(&deletes))
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(generation))
    }

    /// Every enabled mirror whose last update succeeded, of the projects on `storages`, grouped
    /// by project, with the digest of the repository state it pushed from (`None` when none was
    /// recorded).
    pub async fn mirror_source_digests(
        &self,
        storages: &[String],
    ) -> Result<Vec<ProjectDigests>, StoreError> {
        if storages.is_empty() {
            return Ok(Vec::new());
        }
        let served = (2..2 + storages.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "select m.project_id, m.id, r.source_digest from remote_mirrors m \
             join projects p on p.id = m.project_id \
             left join mirror_remote_states r on r.mirror_id = m.id \
             where m.enabled = 1 and m.update_status = $1 and p.storage in ({served}) \
             order by m.project_id, m.id"
        );
        let mut q = sqlx::query_as(&sql).bind(UpdateStatus::Finished.as_str());
        for s in storages {
            q = q.bind(s.as_str());
        }
        let rows: Vec<(i64, i64, Option<String>)> = q.fetch_all(&self.pool).await?;
        let mut out: Vec<ProjectDigests> = Vec::new();
        for (project, mirror, digest) in rows {
            match out.last_mut() {
                Some((p, ms)) if *p == project => ms.push((mirror, digest)),
                _ => out.push((project, vec![(mirror, digest)])),
            }
        }
        Ok(out)
    }

    /// Forgets the recorded remote state, header and refs (an update failed part-way: the
    /// remote state is unknown).
    pub async fn forget_remote_state(&self, mirror_id: i64) -> Result<(), StoreError> {
        sqlx::query("delete from mirror_remote_states where mirror_id = $1")
            .bind(mirror_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A JSON text for one statement's bound set of names or name → oid pairs.
fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("strings always serialise")
}
