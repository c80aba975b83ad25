//! Protected-branch rules of projects.

use sqlx::Row;

use super::{conflict, flag, PageRequest, Paged, Store, StoreError};
use crate::model::entities::{Millis, ProtectedBranch};

const SELECT: &str = "select id, project_id, name, push_access_level, merge_access_level, \
    allow_force_push from protected_branches";

fn from_row(r: &sqlx::any::AnyRow) -> Result<ProtectedBranch, sqlx::Error> {
    Ok(ProtectedBranch {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        name: r.try_get("name")?,
        push_access_level: r.try_get("push_access_level")?,
        merge_access_level: r.try_get("merge_access_level")?,
        allow_force_push: r.try_get::<i64, _>("allow_force_push")? != 0,
    })
}

impl Store {
    /// The protected-branch rules of a project whose name contains `search`, by id.
    pub async fn protected_branches(
        &self,
        project_id: i64,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<ProtectedBranch>, StoreError> {
        let pattern = format!(
            "%{}%",
            search
                .unwrap_or("")
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let total: i64 = sqlx::query_scalar(
            "select count(*) from protected_branches where project_id = $1 and name like $2 escape '\\'",
        )
        .bind(project_id)
        .bind(&pattern)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(&format!(
            "{SELECT} where project_id = $1 and name like $2 escape '\\' order by id limit $3 offset $4"
        ))
        .bind(project_id)
        .bind(&pattern)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        Ok(Paged { items, total })
    }

    /// Every protected-branch pattern of a project (what the engine filters with).
    pub async fn protected_branch_names(&self, project_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select name from protected_branches where project_id = $1 order by id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every protected-branch rule of a project (what pushes are judged by).
    pub async fn protected_branch_rules(
        &self,
        project_id: i64,
    ) -> Result<Vec<ProtectedBranch>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT} where project_id = $1 order by id"))
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// One rule by its exact stored name.
    pub async fn protected_branch(
        &self,
        project_id: i64,
        name: &str,
    ) -> Result<Option<ProtectedBranch>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} where project_id = $1 and name = $2"))
            .bind(project_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Creates a rule; [`StoreError::Conflict`] when the name exists.
    pub async fn create_protected_branch(
        &self,
        project_id: i64,
        name: &str,
        push_access_level: i64,
        merge_access_level: i64,
        allow_force_push: bool,
        now: Millis,
    ) -> Result<ProtectedBranch, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "insert into protected_branches (project_id, name, push_access_level, \
             merge_access_level, allow_force_push, created_at) values ($1, $2, $3, $4, $5, $6) \
             returning id",
        )
        .bind(project_id)
        .bind(name)
        .bind(push_access_level)
        .bind(merge_access_level)
        .bind(flag(allow_force_push))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(conflict)?;
        Ok(ProtectedBranch {
            id,
            project_id,
            name: name.to_owned(),
            push_access_level,
            merge_access_level,
            allow_force_push,
        })
    }

    /// Deletes a rule by exact name; true when it existed.
    pub async fn delete_protected_branch(
        &self,
        project_id: i64,
        name: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("delete from protected_branches where project_id = $1 and name = $2")
                .bind(project_id)
                .bind(name)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
