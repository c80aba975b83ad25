//! Git LFS objects in the database: one row per oid (`lfs_objects`, with its size) however many
//! projects use it, and a project's link to each object it may see (`lfs_object_projects`).
//! The bytes are the object store's (`lfs_store`); these queries only say who links what.
//!
//! Linking and removal take the object's row lock first, so an upload that links an oid and a
//! removal that drops its last link run one after the other, never interleaved (see
//! `service::lfs::gc`).

use sqlx::Row;

use super::{Dialect, Store, StoreError, Tx};
use crate::model::entities::Millis;

/// An object a project links, with its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedObject {
    pub oid: String,
    pub size: u64,
}

impl Store {
    /// Which of `oids` the project links, with their sizes.
    pub async fn lfs_linked(
        &self,
        project_id: i64,
        oids: &[&str],
    ) -> Result<Vec<LinkedObject>, StoreError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..oids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "select o.oid, o.size from lfs_object_projects l join lfs_objects o on o.oid = l.oid \
             where l.project_id = $1 and l.oid in ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(project_id);
        for oid in oids {
            query = query.bind(*oid);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(LinkedObject {
                    oid: r.try_get("oid")?,
                    size: r.try_get::<i64, _>("size")?.max(0) as u64,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The total size of the objects a project links (GitLab's `lfs_objects_size`).
    pub async fn lfs_project_size(&self, project_id: i64) -> Result<u64, StoreError> {
        let size: Option<i64> = sqlx::query_scalar(
            "select cast(sum(o.size) as bigint) from lfs_object_projects l \
             join lfs_objects o on o.oid = l.oid where l.project_id = $1",
        )
        .bind(project_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(size.unwrap_or(0).max(0) as u64)
    }

    /// Every oid a project links.
    pub async fn lfs_project_oids(&self, project_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("select oid from lfs_object_projects where project_id = $1")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Objects no project links (left by a deletion whose removal pass did not run).
    pub async fn lfs_unlinked_oids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select o.oid from lfs_objects o where not exists \
             (select 1 from lfs_object_projects l where l.oid = o.oid)",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Begins linking the object `oid` of `size` bytes: records the object when it is new and
    /// holds its row lock until [`Tx::commit`], so no removal of the object runs meanwhile. The
    /// caller checks the bytes are in the object store, then [`Tx::lfs_link`]s and commits.
    pub async fn lfs_begin_link(
        &self,
        oid: &str,
        size: u64,
        now: Millis,
    ) -> Result<Tx, StoreError> {
        let mut tx = self.transaction().await?;
        // An upsert that updates locks the row on PostgreSQL (and waits for a removal holding
        // it); SQLite's `begin immediate` already serialised the transaction.
        sqlx::query(
            "insert into lfs_objects (oid, size, created_at) values ($1, $2, $3) \
             on conflict (oid) do update set size = excluded.size",
        )
        .bind(oid)
        .bind(size as i64)
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        Ok(tx)
    }

    /// Begins removing the bytes of `oid` from a storage (`Some(name)`: an object directory per
    /// storage) or from the one store every storage shares (`None`) when no project there links
    /// it any more: takes the object's row lock, checks, and deletes the row when no project at
    /// all links it. `None` (nothing written) when it is still linked or gone. The caller
    /// removes the bytes, then commits; a link that waited for the lock finds the bytes gone and
    /// installs them again before it commits.
    pub async fn lfs_begin_removal(
        &self,
        oid: &str,
        storage: Option<&str>,
    ) -> Result<Option<Tx>, StoreError> {
        let mut tx = self.transaction().await?;
        let lock = match tx.dialect {
            Dialect::Postgres => "select oid from lfs_objects where oid = $1 for update",
            // `begin immediate` already holds the database's write lock.
            Dialect::Sqlite => "select oid from lfs_objects where oid = $1",
        };
        let row: Option<String> = sqlx::query_scalar(lock)
            .bind(oid)
            .fetch_optional(&mut *tx.tx)
            .await?;
        if row.is_none() {
            return Ok(None);
        }
        // Statements of their own, after the lock: on PostgreSQL they see every link committed
        // before the lock was granted.
        let all: i64 =
            sqlx::query_scalar("select count(*) from lfs_object_projects where oid = $1")
                .bind(oid)
                .fetch_one(&mut *tx.tx)
                .await?;
        let here = match storage {
            None => all,
            Some(storage) => {
                sqlx::query_scalar(
                    "select count(*) from lfs_object_projects l \
                 join projects p on p.id = l.project_id where l.oid = $1 and p.storage = $2",
                )
                .bind(oid)
                .bind(storage)
                .fetch_one(&mut *tx.tx)
                .await?
            }
        };
        if here > 0 {
            return Ok(None);
        }
        if all == 0 {
            sqlx::query("delete from lfs_objects where oid = $1")
                .bind(oid)
                .execute(&mut *tx.tx)
                .await?;
        }
        Ok(Some(tx))
    }
}

impl Tx {
    /// Links the project to `oid` (begun with [`Store::lfs_begin_link`]); linking twice is one
    /// link.
    pub async fn lfs_link(
        &mut self,
        project_id: i64,
        oid: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into lfs_object_projects (project_id, oid, created_at) values ($1, $2, $3) \
             on conflict (project_id, oid) do nothing",
        )
        .bind(project_id)
        .bind(oid)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
