//! A mirror's update status and the remote state its last update left: marking an update
//! started, persisting the [`Transition`] the domain decided, sweeping updates abandoned in
//! `started`, and the recorded remote refs (shared by every node, so any node plans from them).
//!
//! Invariant: status values are written from [`UpdateStatus::as_str`], never as SQL literals
//! chosen here.

use std::collections::BTreeMap;

use super::mirrors::{mirror_job_key, mirror_job_key_sql};
use super::{Store, StoreError};
use crate::model::entities::Millis;
use crate::model::status::{Transition, UpdateStatus};

/// A project id and, for each of its mirrors, the mirror id and its recorded source digest.
pub(super) type ProjectDigests = (i64, Vec<(i64, Option<String>)>);

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

    /// Persists how an attempt ended.
    pub async fn record_transition(
        &self,
        id: i64,
        t: &Transition,
        now: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update remote_mirrors set update_status = $1, last_error = $2, retry_count = $3, \
             last_update_at = case when $4 = 1 then last_update_at else $5 end, \
             last_successful_update_at = case when $6 = 1 then $5 else last_successful_update_at end \
             where id = $7",
        )
        .bind(t.status.as_str())
        .bind(t.error.as_deref())
        .bind(t.retry_count as i64)
        // GitLab leaves last_update_at alone while an update waits for its retry.
        .bind((t.status == UpdateStatus::ToRetry) as i64)
        .bind(now)
        .bind(t.succeeded() as i64)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mirrors left `started` by a worker that died and with no pending update to resume them:
    /// recorded as failed so the status never stays `started`.
    pub async fn fail_abandoned(&self, now: Millis) -> Result<u64, StoreError> {
        let sql = format!(
            "update remote_mirrors set update_status = $1, last_update_at = $2, \
             last_error = 'The remote mirror update was interrupted.' \
             where update_status = $3 and not exists \
               (select 1 from jobs where jobs.dedup_key = {key})",
            key = mirror_job_key_sql("remote_mirrors.id")
        );
        let done = sqlx::query(&sql)
            .bind(UpdateStatus::Failed.as_str())
            .bind(now)
            .bind(UpdateStatus::Started.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Whether an update of this mirror is pending (waiting or running).
    pub async fn mirror_update_pending(&self, id: i64) -> Result<bool, StoreError> {
        self.job_pending(&mirror_job_key(id)).await
    }

    /// The remote refs (name → id) the last successful update to `url` left, and when.
    pub async fn remote_refs(
        &self,
        mirror_id: i64,
        url: &str,
    ) -> Result<Option<(Millis, BTreeMap<String, String>)>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "select taken_at, refs from mirror_remote_refs where mirror_id = $1 and url = $2",
        )
        .bind(mirror_id)
        .bind(url)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(at, text)| {
            let refs = text
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(oid, name)| (name.to_owned(), oid.to_owned()))
                .collect();
            (at, refs)
        }))
    }

    /// Records the remote refs an update left.
    pub async fn save_remote_refs(
        &self,
        mirror_id: i64,
        url: &str,
        refs: &BTreeMap<String, String>,
        source_digest: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut text = String::with_capacity(refs.len() * 64);
        for (name, oid) in refs {
            text.push_str(oid);
            text.push(' ');
            text.push_str(name);
            text.push('\n');
        }
        sqlx::query(
            "insert into mirror_remote_refs (mirror_id, url, taken_at, refs, source_digest) \
             values ($1, $2, $3, $4, $5) on conflict (mirror_id) do update set url = excluded.url, \
             taken_at = excluded.taken_at, refs = excluded.refs, \
             source_digest = excluded.source_digest",
        )
        .bind(mirror_id)
        .bind(url)
        .bind(now)
        .bind(text)
        .bind(source_digest)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every enabled mirror whose last update succeeded, grouped by project, with the digest of
    /// the repository state it pushed from (`None` when none was recorded).
    pub async fn mirror_source_digests(&self) -> Result<Vec<ProjectDigests>, StoreError> {
        let rows: Vec<(i64, i64, Option<String>)> = sqlx::query_as(
            "select m.project_id, m.id, r.source_digest from remote_mirrors m \
             left join mirror_remote_refs r on r.mirror_id = m.id \
             where m.enabled = 1 and m.update_status = $1 order by m.project_id, m.id",
        )
        .bind(UpdateStatus::Finished.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<ProjectDigests> = Vec::new();
        for (project, mirror, digest) in rows {
            match out.last_mut() {
                Some((p, ms)) if *p == project => ms.push((mirror, digest)),
                _ => out.push((project, vec![(mirror, digest)])),
            }
        }
        Ok(out)
    }

    /// Forgets the recorded remote refs (an update failed part-way: the remote state is unknown).
    pub async fn forget_remote_refs(&self, mirror_id: i64) -> Result<(), StoreError> {
        sqlx::query("delete from mirror_remote_refs where mirror_id = $1")
            .bind(mirror_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
