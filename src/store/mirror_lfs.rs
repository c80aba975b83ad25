//! What push mirrors know of their remotes' Git LFS objects: the oids each mirror's remote
//! confirmed having (`mirror_lfs_objects`, written as the remote confirms them, so a failed
//! update keeps what it achieved), and when each mirror last asked its remote about every
//! object (`remote_mirrors.lfs_full_check_at`; null means the next update asks about all).

use std::collections::HashSet;

use sqlx::Row;

use super::{Store, StoreError};
use crate::model::entities::Millis;

/// Oids per statement: far below both backends' limit on bound parameters (SQLite's 32,766),
/// and few enough round trips for 100,000 objects.
const OIDS_PER_STATEMENT: usize = 500;

/// What a mirror update needs to know before its LFS step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorLfsState {
    /// The project's `lfs_enabled`: off, a mirror sends no LFS request.
    pub lfs_enabled: bool,
    /// When the remote was last asked about every object; `None`: the next update asks.
    pub full_check_at: Option<Millis>,
}

impl Store {
    /// The LFS state of mirror `id`, `None` when it is gone.
    pub async fn mirror_lfs_state(&self, id: i64) -> Result<Option<MirrorLfsState>, StoreError> {
        let row = sqlx::query(
            "select p.lfs_enabled, m.lfs_full_check_at from remote_mirrors m \
             join projects p on p.id = m.project_id where m.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => None,
            Some(r) => Some(MirrorLfsState {
                lfs_enabled: r.try_get::<i64, _>("lfs_enabled")? != 0,
                full_check_at: r.try_get("lfs_full_check_at")?,
            }),
        })
    }

    /// Those of `oids` that mirror `id`'s remote confirmed having.
    pub async fn confirmed_lfs_oids(
        &self,
        id: i64,
        oids: &[&str],
    ) -> Result<HashSet<String>, StoreError> {
        let mut confirmed = HashSet::new();
        for chunk in oids.chunks(OIDS_PER_STATEMENT) {
            let list = (2..chunk.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "select oid from mirror_lfs_objects where mirror_id = $1 and oid in ({list})"
            );
            let mut q = sqlx::query(&sql).bind(id);
            for oid in chunk {
                q = q.bind(*oid);
            }
            for row in q.fetch_all(&self.pool).await? {
                confirmed.insert(row.try_get::<String, _>("oid")?);
            }
        }
        Ok(confirmed)
    }

    /// Records that mirror `id`'s remote has `oids` (confirmed at `now`); a mirror deleted
    /// meanwhile fails the foreign key.
    pub async fn confirm_lfs_oids(
        &self,
        id: i64,
        oids: &[&str],
        now: Millis,
    ) -> Result<(), StoreError> {
        for chunk in oids.chunks(OIDS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|i| format!("($1, ${}, $2)", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "insert into mirror_lfs_objects (mirror_id, oid, confirmed_at) \
                 values {values} on conflict (mirror_id, oid) do nothing"
            );
            let mut q = sqlx::query(&sql).bind(id).bind(now);
            for oid in chunk {
                q = q.bind(*oid);
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Sets when mirror `id` last asked its remote about every object (`None`: the next update
    /// asks).
    pub async fn set_lfs_full_check(&self, id: i64, at: Option<Millis>) -> Result<(), StoreError> {
        sqlx::query("update remote_mirrors set lfs_full_check_at = $2 where id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes the next update of every enabled mirror that sends LFS objects and whose last full
    /// check is older than `before` ask its remote about every object; their ids, to queue.
    pub async fn expire_lfs_full_checks(&self, before: Millis) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "update remote_mirrors set lfs_full_check_at = null \
             where enabled = 1 and lfs_sync <> 'off' and lfs_full_check_at < $1 \
               and project_id in (select id from projects where lfs_enabled = 1) \
             returning id",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("id")?))
            .collect()
    }
}
