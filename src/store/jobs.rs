//! The generic job queue's table (`jobs`): enqueue with a dedup key, claim a due job with a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), renew, complete, retry, release.
//! The job runner (`jobs/`) drives these; nothing here knows what a job does, nor any kind:
//! a row is a kind's name, a dedup key, a JSON payload and the storage it touches (`queue`).
//!
//! Invariant: every transition is one conditional statement guarded by `lease_owner`, safe under
//! concurrent nodes on PostgreSQL and on SQLite (writers are serialised).
//! Invariant: a job's row is deleted only when the run that covered its latest `seq` succeeded;
//! a request made while a run was under way leaves the row due for exactly one follow-up.
//! Invariant: a claim takes only jobs whose storage is null or one the claimer serves.

use sqlx::{AnyConnection, Row};

use super::{Dialect, Store, StoreError, Tx};
use crate::model::entities::Millis;

/// The channel PostgreSQL's NOTIFY uses to wake other nodes' runners when a job is enqueued.
pub const NOTIFY_CHANNEL: &str = "pushmirror_jobs";

/// A job to enqueue (`queue::job` builds one from a typed kind).
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The kind's stored name (`JobKind::NAME`).
    pub kind: &'static str,
    /// Pending jobs with the same key coalesce.
    pub dedup_key: String,
    /// The kind's input, as JSON.
    pub payload: String,
    /// The repository storage the job touches; `None`: any node may run it.
    pub storage: Option<String>,
    /// Earliest time to run it.
    pub run_at: Millis,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub dedup_key: String,
    pub payload: String,
    /// The `seq` this run covers.
    pub claimed_seq: i64,
    /// Consecutive failed runs so far (for the backoff).
    pub attempts: i64,
}

/// The upsert every enqueue runs: a pending key's `seq` rises and its run time moves earlier.
const UPSERT: &str = " on conflict (dedup_key) do update set seq = jobs.seq + 1, \
    run_at = case when excluded.run_at < jobs.run_at then excluded.run_at else jobs.run_at end";

/// Enqueues `job` on `conn` (a pool connection or a transaction).
pub(super) async fn enqueue(
    conn: &mut AnyConnection,
    dialect: Dialect,
    job: &NewJob,
    now: Millis,
) -> Result<(), StoreError> {
    let sql = format!(
        "insert into jobs (kind, dedup_key, payload, storage, run_at, created_at) \
         values ($1, $2, $3, $4, $5, $6){UPSERT}"
    );
    sqlx::query(&sql)
        .bind(job.kind)
        .bind(job.dedup_key.as_str())
        .bind(job.payload.as_str())
        .bind(job.storage.as_deref())
        .bind(job.run_at)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    // A job due later (a push intent) is found by the runner's polling when it comes due;
    // waking every node for it would cost each of them a claim that finds nothing.
    if job.run_at <= now {
        notify(conn, dialect).await?;
    }
    Ok(())
}

/// Wakes other nodes' runners (PostgreSQL delivers it when the transaction commits).
async fn notify(conn: &mut AnyConnection, dialect: Dialect) -> Result<(), StoreError> {
    if dialect == Dialect::Postgres {
        sqlx::query(&format!("select pg_notify('{NOTIFY_CHANNEL}', '')"))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The kinds a runner knows, as an SQL list of literals (kind names are code, never input).
fn kind_list(kinds: &[&str]) -> String {
    kinds
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `storage is null or storage in (<placeholders from $first>)`: the jobs a node serving
/// `n` storages may claim. Storage names are bound, never spliced (they come from configuration).
fn storage_filter(first: usize, n: usize) -> String {
    if n == 0 {
        return "storage is null".to_owned();
    }
    let list = (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("(storage is null or storage in ({list}))")
}

/// The queue at a glance for one kind, for metrics and the admin pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs of the kind asked for and not yet done (due, running or waiting to retry).
    pub wanted: i64,
    /// Of those, the ones due now (running ones included).
    pub due: i64,
    /// When the oldest of them was first asked for.
    pub oldest_at: Option<Millis>,
    /// Jobs of every kind.
    pub jobs: i64,
}

/// How many jobs of one kind are queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    /// The kind's stored name.
    pub kind: String,
    /// Jobs of this kind (due, running or waiting).
    pub jobs: i64,
    /// Of those, the ones due now (running ones included).
    pub due: i64,
}

impl Store {
    /// The queue's depth and age now for jobs of `kind`, and its size over every kind.
    pub async fn queue_stats(&self, kind: &str, now: Millis) -> Result<QueueStats, StoreError> {
        let row = sqlx::query(
            "select count(*) as jobs, \
             coalesce(sum(case when kind = $1 then 1 else 0 end), 0) as wanted, \
             coalesce(sum(case when kind = $1 and run_at <= $2 then 1 else 0 end), 0) as due, \
             min(case when kind = $1 then created_at end) as oldest \
             from jobs",
        )
        .bind(kind)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            jobs: row.try_get("jobs")?,
            wanted: row.try_get("wanted")?,
            due: row.try_get("due")?,
            oldest_at: row.try_get("oldest")?,
        })
    }

    /// The queue's depth per kind now: `(kind, jobs, of them due)`, by kind name (the admin
    /// page's breakdown of [`Store::queue_stats`]'s total).
    pub async fn queue_depths(&self, now: Millis) -> Result<Vec<QueueDepth>, StoreError> {
        let rows = sqlx::query(
            "select kind, count(*) as jobs, \
             coalesce(sum(case when run_at <= $1 then 1 else 0 end), 0) as due \
             from jobs group by kind order by kind",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QueueDepth {
                    kind: r.try_get("kind")?,
                    jobs: r.try_get("jobs")?,
                    due: r.try_get("due")?,
                })
            })
            .collect()
    }

    /// Enqueues one job.
    pub async fn enqueue_job(&self, job: &NewJob, now: Millis) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        enqueue(&mut conn, self.dialect, job, now).await
    }

    /// Claims the most overdue due job of one of `kinds` whose storage is null or one of
    /// `storages`, for `owner` until `lease_until`.
    pub async fn claim_job(
        &self,
        kinds: &[&str],
        storages: &[String],
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => " for update skip locked",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "update jobs set lease_owner = $1, lease_until = $2, claimed_seq = seq \
             where id = (select id from jobs where kind in ({kinds}) and run_at <= $3 \
                           and (lease_until is null or lease_until < $3) and {served} \
                         order by run_at, id limit 1{lock}) \
               and (lease_until is null or lease_until < $3) \
             returning id, kind, dedup_key, payload, claimed_seq, attempts",
            kinds = kind_list(kinds),
            served = storage_filter(4, storages.len()),
        );
        let mut q = sqlx::query(&sql).bind(owner).bind(lease_until).bind(now);
        for s in storages {
            q = q.bind(s.as_str());
        }
        let Some(r) = q.fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        Ok(Some(ClaimedJob {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            dedup_key: r.try_get("dedup_key")?,
            payload: r.try_get("payload")?,
            claimed_seq: r.try_get("claimed_seq")?,
            attempts: r.try_get("attempts")?,
        }))
    }

    /// When the next job of `kinds` that a node serving `storages` may run becomes claimable,
    /// if any is pending.
    pub async fn next_job_due_at(
        &self,
        kinds: &[&str],
        storages: &[String],
    ) -> Result<Option<Millis>, StoreError> {
        let sql = format!(
            "select min(case when lease_until is not null and lease_until > run_at \
                        then lease_until else run_at end) from jobs where kind in ({}) and {}",
            kind_list(kinds),
            storage_filter(1, storages.len()),
        );
        let mut q = sqlx::query_scalar(&sql);
        for s in storages {
            q = q.bind(s.as_str());
        }
        Ok(q.fetch_one(&self.pool).await?)
    }

    /// Extends a lease; false when `owner` no longer holds it.
    pub async fn renew_job_lease(
        &self,
        id: i64,
        owner: &str,
        lease_until: Millis,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("update jobs set lease_until = $1 where id = $2 and lease_owner = $3")
                .bind(lease_until)
                .bind(id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a successful run: the row goes, unless it was requested again meanwhile, in which
    /// case it is due again at once. Returns true when a follow-up is due.
    pub async fn complete_job(
        &self,
        job: &ClaimedJob,
        owner: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let gone = sqlx::query("delete from jobs where id = $1 and lease_owner = $2 and seq = $3")
            .bind(job.id)
            .bind(owner)
            .bind(job.claimed_seq)
            .execute(&self.pool)
            .await?;
        if gone.rows_affected() > 0 {
            return Ok(false);
        }
        let again = sqlx::query(
            "update jobs set lease_owner = null, lease_until = null, run_at = $1, attempts = 0, \
             last_error = null where id = $2 and lease_owner = $3",
        )
        .bind(now)
        .bind(job.id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(again.rows_affected() > 0)
    }

    /// Releases a job to run again at `at` (at once if it was requested again meanwhile).
    /// `failed` counts the run as a failure for the runner's backoff.
    pub async fn retry_job(
        &self,
        job: &ClaimedJob,
        owner: &str,
        at: Millis,
        error: Option<&str>,
        failed: bool,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update jobs set lease_owner = null, lease_until = null, \
             run_at = case when seq > $1 then $2 else $3 end, last_error = $4, \
             attempts = case when $5 = 1 then attempts + 1 else 0 end \
             where id = $6 and lease_owner = $7",
        )
        .bind(job.claimed_seq)
        .bind(now)
        .bind(at)
        .bind(error)
        .bind(failed as i64)
        .bind(job.id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Releases every lease `owner` holds (at shutdown), so the work resumes at once.
    pub async fn release_job_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "update jobs set lease_owner = null, lease_until = null where lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Makes every unclaimed job of `kind` whose storage is null or one of `storages` due now;
    /// returns how many.
    pub async fn make_jobs_due(
        &self,
        kind: &str,
        storages: &[String],
        now: Millis,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "update jobs set run_at = $1 where kind = $2 and run_at > $1 and \
             (lease_until is null or lease_until < $1) and {}",
            storage_filter(3, storages.len())
        );
        let mut q = sqlx::query(&sql).bind(now).bind(kind);
        for s in storages {
            q = q.bind(s.as_str());
        }
        Ok(q.execute(&self.pool).await?.rows_affected())
    }

    /// Whether a job with this key is pending (waiting or running).
    pub async fn job_pending(&self, dedup_key: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("select count(*) from jobs where dedup_key = $1")
            .bind(dedup_key)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}

impl Tx {
    /// Enqueues one job as part of this transaction.
    pub async fn enqueue_job(&mut self, job: &NewJob, now: Millis) -> Result<(), StoreError> {
        enqueue(&mut self.tx, self.dialect, job, now).await
    }

    /// Deletes one job by key as part of this transaction (a push intent that was recorded).
    pub async fn delete_job(&mut self, dedup_key: &str) -> Result<(), StoreError> {
        sqlx::query("delete from jobs where dedup_key = $1")
            .bind(dedup_key)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

/// Wake-ups whenever any node enqueues a job (PostgreSQL's LISTEN on [`NOTIFY_CHANNEL`]), on a
/// connection of its own: a hint to look at the queue, never a carrier of work.
pub struct JobWakeups(sqlx::postgres::PgListener);

impl JobWakeups {
    /// Waits for the next wake-up; an error means the connection is lost (open a new one).
    pub async fn next(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}

impl Store {
    /// Listens for job wake-ups (PostgreSQL only; SQLite has no other writers to hear).
    pub async fn job_wakeups(&self) -> Result<JobWakeups, StoreError> {
        use secrecy::ExposeSecret;
        let mut listener = sqlx::postgres::PgListener::connect(self.url.expose_secret()).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok(JobWakeups(listener))
    }
}

#[cfg(test)]
mod tests {
    use super::storage_filter;

    #[test]
    fn the_storage_filter_binds_every_served_name_and_always_admits_null() {
        assert_eq!(storage_filter(4, 0), "storage is null");
        assert_eq!(
            storage_filter(4, 2),
            "(storage is null or storage in ($4, $5))"
        );
    }
}
