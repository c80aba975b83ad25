//! Memberships of projects (`members`) and groups (`group_members`), and the one lookup every
//! permission check uses: a user's effective level, the highest of a project's own membership
//! and those of every group above it, counting only memberships not expired on the given day.

use sqlx::Row;

use super::users::user_from_row;
use super::{conflict, PageRequest, Paged, Store, StoreError};
use crate::model::access::AccessLevel;
use crate::model::entities::{Member, Millis};

/// Whose members: a project's or a group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberSource {
    Project(i64),
    Group(i64),
}

impl MemberSource {
    fn table(self) -> &'static str {
        match self {
            MemberSource::Project(_) => "members",
            MemberSource::Group(_) => "group_members",
        }
    }

    fn key(self) -> &'static str {
        match self {
            MemberSource::Project(_) => "project_id",
            MemberSource::Group(_) => "group_id",
        }
    }

    fn id(self) -> i64 {
        match self {
            MemberSource::Project(id) | MemberSource::Group(id) => id,
        }
    }
}

/// `alias`'s membership is active on the day in parameter `today` (`YYYY-MM-DD`).
pub(super) fn active(alias: &str, today: &str) -> String {
    format!("({alias}.expires_at is null or {alias}.expires_at >= {today})")
}

/// The highest active group membership of the user in parameter `user` in the namespace whose id
/// is the SQL expression `namespace` or any group above it (`null` when none).
pub(super) fn group_level(namespace: &str, user: &str, today: &str) -> String {
    format!(
        "(select max(gm.access_level) from group_members gm join namespace_ancestors a \
         on a.ancestor_id = gm.group_id where a.namespace_id = {namespace} \
         and gm.user_id = {user} and {})",
        active("gm", today)
    )
}

/// Two columns, `direct_level` and `inherited_level`, for the project aliased `p`: the user's
/// own active membership and their highest active one in the groups above (read both with
/// [`level_from_row`]).
pub(super) fn level_columns(user: &str, today: &str) -> String {
    format!(
        "(select m.access_level from members m where m.project_id = p.id \
         and m.user_id = {user} and {}) as direct_level, {} as inherited_level",
        active("m", today),
        group_level("p.namespace_id", user, today)
    )
}

/// The effective level from [`level_columns`]: the higher of the two.
pub(super) fn level_from_row(r: &sqlx::any::AnyRow) -> Result<Option<AccessLevel>, sqlx::Error> {
    let direct: Option<i64> = r.try_get("direct_level")?;
    let inherited: Option<i64> = r.try_get("inherited_level")?;
    Ok(direct.max(inherited).and_then(AccessLevel::from_i64))
}

/// Projects (aliased `p`) the user in parameter `user` has an active membership of, directly or
/// through a group above.
pub(super) fn member_of_project(user: &str, today: &str) -> String {
    format!(
        "(p.id in (select m.project_id from members m where m.user_id = {user} and {}) \
         or p.namespace_id in (select a.namespace_id from namespace_ancestors a \
         join group_members gm on gm.group_id = a.ancestor_id where gm.user_id = {user} and {}))",
        active("m", today),
        active("gm", today)
    )
}

const MEMBER_COLUMNS: &str =
    "u.id, u.username, u.name, u.email, u.is_admin, u.state, u.created_at, \
    m.access_level, m.created_at as member_since, m.expires_at as member_expires_at";

fn member_from_row(r: &sqlx::any::AnyRow) -> Result<Member, sqlx::Error> {
    let level: i64 = r.try_get("access_level")?;
    Ok(Member {
        user: user_from_row(r, "")?,
        access_level: AccessLevel::from_i64(level).unwrap_or(AccessLevel::Guest),
        created_at: r.try_get("member_since")?,
        expires_at: r.try_get("member_expires_at")?,
    })
}

impl Store {
    /// The active members of a project or group, by user id.
    pub async fn members(
        &self,
        source: MemberSource,
        today: &str,
        page: PageRequest,
    ) -> Result<Paged<Member>, StoreError> {
        let (table, key) = (source.table(), source.key());
        let total: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {table} m where m.{key} = $1 and {}",
            active("m", "$2")
        ))
        .bind(source.id())
        .bind(today)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(&format!(
            "select {MEMBER_COLUMNS} from {table} m join users u on u.id = m.user_id \
             where m.{key} = $1 and {} order by u.id limit $3 offset $4",
            active("m", "$2")
        ))
        .bind(source.id())
        .bind(today)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(member_from_row).collect::<Result<_, _>>()?;
        Ok(Paged { items, total })
    }

    /// One active member of a project or group.
    pub async fn member(
        &self,
        source: MemberSource,
        user_id: i64,
        today: &str,
    ) -> Result<Option<Member>, StoreError> {
        let row = sqlx::query(&format!(
            "select {MEMBER_COLUMNS} from {} m join users u on u.id = m.user_id \
             where m.{} = $1 and m.user_id = $2 and {}",
            source.table(),
            source.key(),
            active("m", "$3")
        ))
        .bind(source.id())
        .bind(user_id)
        .bind(today)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(member_from_row).transpose()?)
    }

    /// Every active membership that counts in a project or group, the source's own first, then
    /// each group above, nearest first (`namespace`: a project's namespace; a group is its own).
    pub async fn memberships_with_ancestors(
        &self,
        source: MemberSource,
        namespace: i64,
        today: &str,
    ) -> Result<Vec<Member>, StoreError> {
        let inherited = |namespace_param: &str, today_param: &str| {
            format!(
                "select {MEMBER_COLUMNS}, a.depth + 1 as ord from group_members m \
                 join users u on u.id = m.user_id join namespace_ancestors a \
                 on a.ancestor_id = m.group_id where a.namespace_id = {namespace_param} and {}",
                active("m", today_param)
            )
        };
        let rows = match source {
            MemberSource::Project(project) => {
                sqlx::query(&format!(
                    "select {MEMBER_COLUMNS}, 0 as ord from members m \
                     join users u on u.id = m.user_id where m.project_id = $1 and {} \
                     union all {} order by ord, id",
                    active("m", "$3"),
                    inherited("$2", "$3")
                ))
                .bind(project)
                .bind(namespace)
                .bind(today)
                .fetch_all(&self.pool)
                .await?
            }
            MemberSource::Group(_) => {
                sqlx::query(&format!("{} order by ord, id", inherited("$1", "$2")))
                    .bind(namespace)
                    .bind(today)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.iter().map(member_from_row).collect::<Result<_, _>>()?)
    }

    /// Makes a user a project member for ever (tests and tools set up members this way).
    pub async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        level: AccessLevel,
        now: Millis,
    ) -> Result<(), StoreError> {
        let source = MemberSource::Project(project_id);
        self.add_membership(source, user_id, level, None, "", now)
            .await
    }

    /// Adds a member (replacing an expired membership of the same user); [`StoreError::Conflict`]
    /// when already an active one.
    pub async fn add_membership(
        &self,
        source: MemberSource,
        user_id: i64,
        level: AccessLevel,
        expires_at: Option<&str>,
        today: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let (table, key) = (source.table(), source.key());
        let mut tx = self.begin().await?;
        sqlx::query(&format!(
            "delete from {table} where {key} = $1 and user_id = $2 and expires_at < $3"
        ))
        .bind(source.id())
        .bind(user_id)
        .bind(today)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "insert into {table} ({key}, user_id, access_level, created_at, expires_at) \
             values ($1, $2, $3, $4, $5)"
        ))
        .bind(source.id())
        .bind(user_id)
        .bind(level.as_i64())
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a member's access level and expiry; true when they were one.
    pub async fn update_member(
        &self,
        source: MemberSource,
        user_id: i64,
        level: AccessLevel,
        expires_at: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "update {} set access_level = $1, expires_at = $2 where {} = $3 and user_id = $4",
            source.table(),
            source.key()
        ))
        .bind(level.as_i64())
        .bind(expires_at)
        .bind(source.id())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a member; true when they were one.
    pub async fn remove_member(
        &self,
        source: MemberSource,
        user_id: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "delete from {} where {} = $1 and user_id = $2",
            source.table(),
            source.key()
        ))
        .bind(source.id())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many active Owners a group has of its own (inherited ones do not count, as in GitLab).
    pub async fn group_owner_count(&self, group_id: i64, today: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "select count(*) from group_members m where m.group_id = $1 \
             and m.access_level = $2 and {}",
            active("m", "$3")
        ))
        .bind(group_id)
        .bind(AccessLevel::Owner.as_i64())
        .bind(today)
        .fetch_one(&self.pool)
        .await?)
    }
}
