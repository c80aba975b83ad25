//! The engine's durable queue, kept in the `remote_mirrors` rows themselves: an update is wanted
//! while `wanted_seq > done_seq`; a worker claims it with a lease (`lease_owner`, `lease_until`),
//! renews the lease while it runs, and on completion records `done_seq = claimed_seq`. Pushes that
//! land meanwhile raise `wanted_seq` again, so they coalesce into exactly one follow-up update.
//! A worker that dies leaves an expiring lease; any node then takes the update over.
//!
//! Invariant: every transition is one conditional UPDATE, safe under concurrent nodes on
//! PostgreSQL (the WHERE clause is re-checked after a competing commit) and on SQLite (writers
//! are serialised).

use std::sync::LazyLock;

use sqlx::Row;

use super::mirrors::{mirror_from_row, MIRROR_COLUMNS};
use super::{Store, StoreError};
use crate::model::entities::{Millis, RemoteMirror};

/// A claimed update: the mirror as it was when claimed, and the sequence number it covers.
#[derive(Debug, Clone)]
pub struct ClaimedUpdate {
    pub mirror: RemoteMirror,
    pub claimed_seq: i64,
}

/// How an attempt ended, as the queue records it.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// Status `finished`, error cleared.
    Finished,
    /// Status `to_retry`; try again at `retry_at` (the update stays wanted).
    Retry {
        error: String,
        retry_at: Millis,
        retry_count: i64,
    },
    /// Status `failed`; the claimed update counts as done (a new push or sync tries again).
    Failed { error: String },
    /// The mirror was disabled or could not be attempted at all: release without touching status.
    Skipped,
}

impl Store {
    /// Claims the most overdue wanted update, if any, for `owner` until `lease_until`.
    pub async fn claim_update(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ClaimedUpdate>, StoreError> {
        // The claimed row comes back whole: one statement, one round trip.
        static CLAIM: LazyLock<String> = LazyLock::new(|| {
            format!(
                "update remote_mirrors set lease_owner = $1, lease_until = $2, claimed_seq = wanted_seq \
                 where id = (select id from remote_mirrors \
                             where wanted_seq > done_seq and enabled = 1 and next_attempt_at <= $3 \
                               and (lease_until is null or lease_until < $3) \
                             order by next_attempt_at, id limit 1) \
                   and wanted_seq > done_seq and (lease_until is null or lease_until < $3) \
                 returning {MIRROR_COLUMNS}, claimed_seq"
            )
        });
        let row = sqlx::query(&CLAIM)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let claimed_seq: i64 = row.try_get("claimed_seq")?;
        let mirror = mirror_from_row(&row)?;
        Ok(Some(ClaimedUpdate {
            mirror,
            claimed_seq,
        }))
    }

    /// When the next wanted update becomes due (for the scheduler's sleep), if any is wanted.
    pub async fn next_due_at(&self) -> Result<Option<Millis>, StoreError> {
        Ok(sqlx::query_scalar(
            "select min(case when lease_until is not null and lease_until > next_attempt_at \
                        then lease_until else next_attempt_at end) \
             from remote_mirrors where wanted_seq > done_seq and enabled = 1",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Extends a lease; false when `owner` no longer holds it (another node took it over).
    pub async fn renew_lease(
        &self,
        id: i64,
        owner: &str,
        lease_until: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update remote_mirrors set lease_until = $1 where id = $2 and lease_owner = $3",
        )
        .bind(lease_until)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks the claimed update as running: status `started`, `last_update_started_at = now`.
    pub async fn mark_started(
        &self,
        id: i64,
        owner: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update remote_mirrors set update_status = 'started', last_update_started_at = $1 \
             where id = $2 and lease_owner = $3",
        )
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records how an attempt ended and releases the lease. Only the lease holder may do so.
    pub async fn finish_attempt(
        &self,
        id: i64,
        owner: &str,
        claimed_seq: i64,
        outcome: &AttemptOutcome,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let q = match outcome {
            AttemptOutcome::Finished => sqlx::query(
                "update remote_mirrors set update_status = 'finished', last_update_at = $1, \
                 last_successful_update_at = $1, last_error = null, retry_count = 0, \
                 done_seq = $2, lease_owner = null, lease_until = null \
                 where id = $3 and lease_owner = $4",
            )
            .bind(now)
            .bind(claimed_seq),
            AttemptOutcome::Retry {
                error,
                retry_at,
                retry_count,
            } => sqlx::query(
                "update remote_mirrors set update_status = 'to_retry', last_error = $1, \
                 next_attempt_at = case when wanted_seq > $2 then $5 else $3 end, retry_count = $4, \
                 lease_owner = null, lease_until = null \
                 where id = $6 and lease_owner = $7",
            )
            .bind(error.as_str())
            .bind(claimed_seq)
            .bind(*retry_at)
            .bind(*retry_count)
            .bind(now),
            AttemptOutcome::Failed { error } => sqlx::query(
                "update remote_mirrors set update_status = 'failed', last_error = $1, \
                 last_update_at = $2, done_seq = $3, lease_owner = null, lease_until = null \
                 where id = $4 and lease_owner = $5",
            )
            .bind(error.as_str())
            .bind(now)
            .bind(claimed_seq),
            AttemptOutcome::Skipped => sqlx::query(
                "update remote_mirrors set done_seq = $1, lease_owner = null, lease_until = null \
                 where id = $2 and lease_owner = $3",
            )
            .bind(claimed_seq),
        };
        // Every statement ends with `id = $n-1 and lease_owner = $n`.
        let done = q.bind(id).bind(owner).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Releases every lease `owner` holds (at shutdown), so the work resumes at once elsewhere.
    pub async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "update remote_mirrors set lease_owner = null, lease_until = null where lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Mirrors left `started` by a worker whose lease has expired and that have no pending
    /// update to resume them: recorded as failed so the status never stays `started`.
    pub async fn fail_abandoned(&self, now: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "update remote_mirrors set update_status = 'failed', last_update_at = $1, \
             last_error = 'The remote mirror update was interrupted.', lease_owner = null, \
             lease_until = null \
             where update_status = 'started' and (lease_until is null or lease_until < $1) \
               and not (wanted_seq > done_seq and enabled = 1)",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
