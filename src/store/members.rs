//! Project memberships.

use sqlx::Row;

use super::users::user_from_row;
use super::{conflict, PageRequest, Paged, Store, StoreError};
use crate::model::access::AccessLevel;
use crate::model::entities::{Member, Millis};

const MEMBER_SELECT: &str =
    "select u.id, u.username, u.name, u.email, u.is_admin, u.state, u.created_at, \
    m.access_level, m.created_at as member_since from members m join users u on u.id = m.user_id";

fn member_from_row(r: &sqlx::any::AnyRow) -> Result<Member, sqlx::Error> {
    let level: i64 = r.try_get("access_level")?;
    Ok(Member {
        user: user_from_row(r, "")?,
        access_level: AccessLevel::from_i64(level).unwrap_or(AccessLevel::Guest),
        created_at: r.try_get("member_since")?,
    })
}

impl Store {
    /// The members of a project, by user id.
    pub async fn members(
        &self,
        project_id: i64,
        page: PageRequest,
    ) -> Result<Paged<Member>, StoreError> {
        let total: i64 = sqlx::query_scalar("select count(*) from members where project_id = $1")
            .bind(project_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "{MEMBER_SELECT} where m.project_id = $1 order by u.id limit $2 offset $3"
        ))
        .bind(project_id)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(member_from_row).collect::<Result<_, _>>()?;
        Ok(Paged { items, total })
    }

    /// One member of a project.
    pub async fn member(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> Result<Option<Member>, StoreError> {
        let row = sqlx::query(&format!(
            "{MEMBER_SELECT} where m.project_id = $1 and m.user_id = $2"
        ))
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(member_from_row).transpose()?)
    }

    /// Adds a member; [`StoreError::Conflict`] when already one.
    pub async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        level: AccessLevel,
        now: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into members (project_id, user_id, access_level, created_at) values ($1, $2, $3, $4)",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(level.as_i64())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(conflict)?;
        Ok(())
    }

    /// Changes a member's access level; true when they were one.
    pub async fn update_member(
        &self,
        project_id: i64,
        user_id: i64,
        level: AccessLevel,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update members set access_level = $1 where project_id = $2 and user_id = $3",
        )
        .bind(level.as_i64())
        .bind(project_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a member; true when they were one.
    pub async fn remove_member(&self, project_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from members where project_id = $1 and user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
