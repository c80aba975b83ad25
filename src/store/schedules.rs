//! The recurring schedules' table (`job_schedules`): one row per schedule (a job kind with its
//! payload, an interval and a jitter, the next due time), claimed with a lease like a job, so
//! exactly one node runs a due schedule, and moved to its next due time when that run ends.
//! The runner (`jobs/schedule.rs`) drives these; nothing here knows what a schedule does.
//!
//! Invariant: a schedule's `next_at` moves only under the lease of the run that made it due,
//! so a node that dies mid-run leaves it due for another node once its lease expires.

use sqlx::Row;

use super::{Dialect, Store, StoreError};
use crate::model::entities::Millis;

/// A schedule as the code declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    /// Unique name of the schedule (one per recurring duty).
    pub name: String,
    /// The job kind it runs (`JobKind::NAME`).
    pub kind: &'static str,
    /// That kind's JSON payload.
    pub payload: String,
    /// Time between the end of one run and the next due time.
    pub every_ms: i64,
    /// Up to this much more, at random, so that nodes and schedules do not fall into step.
    pub jitter_ms: i64,
    /// Due no later than this (a sweep that must run at each start says now).
    pub due_by: Millis,
}

/// A claimed schedule, to run once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSchedule {
    pub name: String,
    pub kind: String,
    pub payload: String,
    pub every_ms: i64,
    pub jitter_ms: i64,
}

impl Store {
    /// Creates or updates the schedule `s` (kind, payload, interval, jitter); its due time
    /// becomes the earlier of the stored one and `s.due_by`.
    pub async fn ensure_schedule(&self, s: &NewSchedule) -> Result<(), StoreError> {
        sqlx::query(
            "insert into job_schedules (name, kind, payload, every_ms, jitter_ms, next_at) \
             values ($1, $2, $3, $4, $5, $6) on conflict (name) do update set \
             kind = excluded.kind, payload = excluded.payload, every_ms = excluded.every_ms, \
             jitter_ms = excluded.jitter_ms, next_at = case \
               when excluded.next_at < job_schedules.next_at then excluded.next_at \
               else job_schedules.next_at end",
        )
        .bind(s.name.as_str())
        .bind(s.kind)
        .bind(s.payload.as_str())
        .bind(s.every_ms)
        .bind(s.jitter_ms)
        .bind(s.due_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims the most overdue due schedule among `names` for `owner` until `lease_until`.
    pub async fn claim_schedule(
        &self,
        names: &[String],
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ClaimedSchedule>, StoreError> {
        if names.is_empty() {
            return Ok(None);
        }
        let lock = match self.dialect {
            Dialect::Postgres => " for update skip locked",
            Dialect::Sqlite => "",
        };
        let list = (4..4 + names.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "update job_schedules set lease_owner = $1, lease_until = $2 \
             where name = (select name from job_schedules where next_at <= $3 \
                             and (lease_until is null or lease_until < $3) and name in ({list}) \
                           order by next_at, name limit 1{lock}) \
               and (lease_until is null or lease_until < $3) \
             returning name, kind, payload, every_ms, jitter_ms"
        );
        let mut q = sqlx::query(&sql).bind(owner).bind(lease_until).bind(now);
        for n in names {
            q = q.bind(n.as_str());
        }
        let Some(r) = q.fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        Ok(Some(ClaimedSchedule {
            name: r.try_get("name")?,
            kind: r.try_get("kind")?,
            payload: r.try_get("payload")?,
            every_ms: r.try_get("every_ms")?,
            jitter_ms: r.try_get("jitter_ms")?,
        }))
    }

    /// Extends a schedule's lease; false when `owner` no longer holds it.
    pub async fn renew_schedule_lease(
        &self,
        name: &str,
        owner: &str,
        lease_until: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update job_schedules set lease_until = $1 where name = $2 and lease_owner = $3",
        )
        .bind(lease_until)
        .bind(name)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends `owner`'s run of schedule `name`: due next at `next_at`, lease released. False when
    /// the lease was lost meanwhile (another node's run moves it instead).
    pub async fn finish_schedule(
        &self,
        name: &str,
        owner: &str,
        next_at: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update job_schedules set next_at = $1, lease_owner = null, lease_until = null \
             where name = $2 and lease_owner = $3",
        )
        .bind(next_at)
        .bind(name)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Releases every schedule lease `owner` holds (at shutdown): a run cut short is due again
    /// at once instead of after its lease.
    pub async fn release_schedule_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "update job_schedules set lease_owner = null, lease_until = null \
             where lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// When the next of `names` becomes claimable, if any exists.
    pub async fn next_schedule_due_at(
        &self,
        names: &[String],
    ) -> Result<Option<Millis>, StoreError> {
        if names.is_empty() {
            return Ok(None);
        }
        let list = (1..=names.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "select min(case when lease_until is not null and lease_until > next_at \
                        then lease_until else next_at end) from job_schedules where name in ({list})"
        );
        let mut q = sqlx::query_scalar(&sql);
        for n in names {
            q = q.bind(n.as_str());
        }
        Ok(q.fetch_one(&self.pool).await?)
    }

    /// A schedule's next due time, if it exists.
    pub async fn schedule_next_at(&self, name: &str) -> Result<Option<Millis>, StoreError> {
        Ok(
            sqlx::query_scalar("select next_at from job_schedules where name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
