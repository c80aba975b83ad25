//! Git LFS file locks (`lfs_locks`): take one, list a project's newest first from a cursor,
//! find one by id, release one. The unique (project, path) pair decides who gets a contended
//! path, on every node; whether a project serves locks at all is its `lfs_enabled`; deleting a project or a user deletes their locks (foreign keys).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Store, StoreError};
use crate::model::entities::Millis;
use crate::model::lfs_locks::{LfsLock, LockPage};

const SELECT: &str = "select l.id, l.project_id, l.path, l.user_id, u.name as owner_name, \
    l.ref_name, l.created_at from lfs_locks l join users u on u.id = l.user_id";

/// How many times taking a lock retries when the lock that refused it is released before it
/// can be read back: each retry needs another client to lock and unlock the same path within
/// a few milliseconds, so three rounds only fail under a deliberate storm.
const TAKE_ATTEMPTS: usize = 3;

/// A lock to take.
#[derive(Debug, Clone)]
pub struct NewLfsLock<'a> {
    pub project_id: i64,
    pub path: &'a str,
    pub user_id: i64,
    pub ref_name: Option<&'a str>,
    pub created_at: Millis,
}

/// What taking a lock did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockTaken {
    /// The lock is new.
    Created(LfsLock),
    /// The path was locked already: this is the lock that holds it.
    Exists(LfsLock),
}

/// Which of a project's locks to list.
#[derive(Debug, Clone, Default)]
pub struct LockFilter<'a> {
    /// Only the lock of exactly this path.
    pub path: Option<&'a str>,
    /// Only the lock with this id.
    pub id: Option<i64>,
}

fn lock_from_row(r: &AnyRow) -> Result<LfsLock, sqlx::Error> {
    Ok(LfsLock {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        path: r.try_get("path")?,
        user_id: r.try_get("user_id")?,
        owner_name: r.try_get("owner_name")?,
        ref_name: r.try_get("ref_name")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Takes the lock of `new.path` for `new.user_id`, or returns the lock that holds it.
    pub async fn take_lfs_lock(&self, new: &NewLfsLock<'_>) -> Result<LockTaken, StoreError> {
        for _ in 0..TAKE_ATTEMPTS {
            let id: Option<i64> = sqlx::query_scalar(
                "insert into lfs_locks (project_id, path, user_id, ref_name, created_at) \
                 values ($1, $2, $3, $4, $5) on conflict (project_id, path) do nothing \
                 returning id",
            )
            .bind(new.project_id)
            .bind(new.path)
            .bind(new.user_id)
            .bind(new.ref_name)
            .bind(new.created_at)
            .fetch_optional(&self.pool)
            .await?;
            let found = match id {
                Some(id) => self
                    .lfs_lock(new.project_id, id)
                    .await?
                    .map(LockTaken::Created),
                None => self
                    .lfs_lock_of_path(new.project_id, new.path)
                    .await?
                    .map(LockTaken::Exists),
            };
            if let Some(taken) = found {
                return Ok(taken);
            }
            // Released between the two statements: try again.
        }
        Err(StoreError::Conflict("lfs_locks_path_key".into()))
    }

    /// The lock `id` of a project.
    pub async fn lfs_lock(&self, project_id: i64, id: i64) -> Result<Option<LfsLock>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} where l.project_id = $1 and l.id = $2"))
            .bind(project_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(lock_from_row).transpose()?)
    }

    async fn lfs_lock_of_path(
        &self,
        project_id: i64,
        path: &str,
    ) -> Result<Option<LfsLock>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} where l.project_id = $1 and l.path = $2"))
            .bind(project_id)
            .bind(path)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(lock_from_row).transpose()?)
    }

    /// Up to `page.limit + 1` locks of a project matching `filter`, newest first from
    /// `page.cursor` on (the extra one tells [`LockPage::split`] where the next page starts).
    pub async fn lfs_locks(
        &self,
        project_id: i64,
        filter: &LockFilter<'_>,
        page: LockPage,
    ) -> Result<Vec<LfsLock>, StoreError> {
        // `$n is null` needs a typed null on PostgreSQL; 0 and '' mean "no condition" instead
        // (no lock has id 0 or an empty path).
        let rows = sqlx::query(&format!(
            "{SELECT} where l.project_id = $1 and ($2 = '' or l.path = $2) \
             and ($3 = 0 or l.id = $3) and ($4 = 0 or l.id <= $4) \
             order by l.id desc limit $5"
        ))
        .bind(project_id)
        .bind(filter.path.unwrap_or(""))
        .bind(filter.id.unwrap_or(0))
        .bind(page.cursor.unwrap_or(0))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(lock_from_row).collect::<Result<_, _>>()?)
    }

    /// Whether someone other than `user_id` holds any lock of a project: one indexed lookup
    /// that stops at the first such lock (a push asks it before listing what it changes).
    pub async fn lfs_locks_held_by_others(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "select id from lfs_locks where project_id = $1 and user_id <> $2 limit 1",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Every lock of a project that someone other than `user_id` holds, oldest first.
    pub async fn lfs_locks_of_others(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> Result<Vec<LfsLock>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT} where l.project_id = $1 and l.user_id <> $2 order by l.id"
        ))
        .bind(project_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(lock_from_row).collect::<Result<_, _>>()?)
    }

    /// Releases the lock `id` of a project; whether it was still there.
    pub async fn release_lfs_lock(&self, project_id: i64, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from lfs_locks where project_id = $1 and id = $2")
            .bind(project_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
