//! Projects (with their namespace, at any depth), read with the viewer's effective level (see
//! `members`), created, changed, moved to another namespace and deleted.

use std::sync::LazyLock;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::members::{level_columns, level_from_row, member_of_project};
use super::namespaces::{lock_namespace, namespace_from_row, NAMESPACE_COLUMNS};
use super::{
    conflict, flag, mirrors, search_pattern, Dialect, PageRequest, Paged, Store, StoreError, Tx,
    Viewer,
};
use crate::model::access::{AccessLevel, Visibility};
use crate::model::entities::{Millis, MirrorSummary, Project};
use crate::model::storage::StorageName;

/// A project's columns (aliased `p`) and its namespace's (aliased `n`).
static PROJECT_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "p.id, p.name, p.path, p.description, p.default_branch, p.visibility, p.creator_id, \
         p.empty_repo, p.archived, p.lfs_enabled, p.storage, p.created_at, p.last_activity_at, {NAMESPACE_COLUMNS}"
    )
});

/// The conflict a project path taken by a group reports (as the path's own unique index would).
const PATH_TAKEN: &str = "projects_path_key";
/// The conflict a transfer reports when the target holds a project of the same name or path.
pub const TRANSFER_TAKEN: &str = "transfer_name_or_path_taken";

/// What creating a project needs.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub namespace_id: i64,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub default_branch: Option<String>,
    pub visibility: Visibility,
    pub creator_id: i64,
    /// The creator's own membership, if they get one (the Owner of a personal project; in a
    /// group, see `service::projects`).
    pub creator_level: Option<AccessLevel>,
    /// The storage to hold the repository.
    pub storage: StorageName,
    /// GitLab's `lfs_enabled`.
    pub lfs_enabled: bool,
}

/// The order of a project list (GitLab's `order_by`), always broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProjectOrder {
    Id,
    Name,
    Path,
    #[default]
    CreatedAt,
    /// `updated_at` and `last_activity_at`: the last push.
    LastActivityAt,
}

impl ProjectOrder {
    /// Parses GitLab's `order_by` values.
    pub fn parse(s: &str) -> Option<ProjectOrder> {
        Some(match s {
            "id" => ProjectOrder::Id,
            "name" => ProjectOrder::Name,
            "path" => ProjectOrder::Path,
            "created_at" => ProjectOrder::CreatedAt,
            "updated_at" | "last_activity_at" => ProjectOrder::LastActivityAt,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            ProjectOrder::Id => "p.id",
            ProjectOrder::Name => "lower(p.name)",
            ProjectOrder::Path => "lower(p.path)",
            ProjectOrder::CreatedAt => "p.created_at",
            ProjectOrder::LastActivityAt => "p.last_activity_at",
        }
    }
}

/// GitLab's project list filters.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Only the projects of this group (with `include_subgroups`, of the groups below too).
    pub group: Option<(i64, bool)>,
    /// Name or path contains this, case-insensitively.
    pub search: Option<String>,
    /// Only projects in the caller's own namespace.
    pub owned: bool,
    /// Only projects the caller is a member of.
    pub membership: bool,
    pub visibility: Option<Visibility>,
    pub archived: Option<bool>,
    pub order: ProjectOrder,
    /// Ascending instead of GitLab's default descending.
    pub ascending: bool,
}

fn project_and_level(r: &AnyRow) -> Result<(Project, Option<AccessLevel>), sqlx::Error> {
    Ok((project_from_row(r)?, level_from_row(r)?))
}

fn project_from_row(r: &AnyRow) -> Result<Project, sqlx::Error> {
    let visibility: String = r.try_get("visibility")?;
    Ok(Project {
        id: r.try_get("id")?,
        namespace: namespace_from_row(r)?,
        name: r.try_get("name")?,
        path: r.try_get("path")?,
        description: r.try_get("description")?,
        default_branch: r.try_get("default_branch")?,
        visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Private),
        creator_id: r.try_get("creator_id")?,
        empty_repo: r.try_get::<i64, _>("empty_repo")? != 0,
        archived: r.try_get::<i64, _>("archived")? != 0,
        lfs_enabled: r.try_get::<i64, _>("lfs_enabled")? != 0,
        storage: StorageName::parse(&r.try_get::<String, _>("storage")?)
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        created_at: r.try_get("created_at")?,
        last_activity_at: r.try_get("last_activity_at")?,
    })
}

/// Refuses, inside `tx`, a project full path that a namespace (a subgroup) already has.
async fn path_free_of_groups(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    full_path: &str,
) -> Result<(), StoreError> {
    let taken: Option<i64> =
        sqlx::query_scalar("select id from namespaces where lower(path) = lower($1)")
            .bind(full_path)
            .fetch_optional(&mut **tx)
            .await?;
    match taken {
        Some(_) => Err(StoreError::Conflict(PATH_TAKEN.into())),
        None => Ok(()),
    }
}

impl Store {
    /// Creates a project and, when it has one, its creator's membership, in one transaction. A
    /// name or path taken in the namespace, or a full path a group has, is
    /// [`StoreError::Conflict`].
    pub async fn create_project(&self, p: &NewProject, now: Millis) -> Result<Project, StoreError> {
        let mut tx = self.begin().await?;
        lock_namespace(&mut tx, self.dialect, p.namespace_id).await?;
        let namespace_path: String =
            sqlx::query_scalar("select path from namespaces where id = $1")
                .bind(p.namespace_id)
                .fetch_one(&mut *tx)
                .await?;
        path_free_of_groups(&mut tx, &format!("{namespace_path}/{}", p.path)).await?;
        let id: i64 = sqlx::query_scalar(
            "insert into projects (namespace_id, name, path, description, default_branch, \
             visibility, creator_id, empty_repo, created_at, last_activity_at, storage, \
             lfs_enabled) values ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9, $10) returning id",
        )
        .bind(p.namespace_id)
        .bind(&p.name)
        .bind(&p.path)
        .bind(p.description.as_deref())
        .bind(p.default_branch.as_deref())
        .bind(p.visibility.as_str())
        .bind(p.creator_id)
        .bind(now)
        .bind(p.storage.as_str())
        .bind(flag(p.lfs_enabled))
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict)?;
        if let Some(level) = p.creator_level {
            sqlx::query(
                "insert into members (project_id, user_id, access_level, created_at) \
                 values ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(p.creator_id)
            .bind(level.as_i64())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.project_by_id(id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// A project by id.
    pub async fn project_by_id(&self, id: i64) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(&format!(
            "select {} from projects p join namespaces n on n.id = p.namespace_id \
             where p.id = $1",
            *PROJECT_COLUMNS
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(project_from_row).transpose()?)
    }

    /// A project by id together with `user_id`'s effective access level in it on `today`, in
    /// one round trip: every project-scoped API request starts with this pair.
    pub async fn project_by_id_for(
        &self,
        id: i64,
        user_id: Option<i64>,
        today: &str,
    ) -> Result<Option<(Project, Option<AccessLevel>)>, StoreError> {
        static QUERY: LazyLock<String> = LazyLock::new(|| {
            format!(
                "select {}, {} from projects p join namespaces n on n.id = p.namespace_id \
                 where p.id = $1",
                *PROJECT_COLUMNS,
                level_columns("$2", "$3")
            )
        });
        let row = sqlx::query(&QUERY)
            .bind(id)
            .bind(user_id)
            .bind(today)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(project_and_level).transpose()?)
    }

    /// [`Store::project_by_id_for`] and, in the same round trip, one page of the project's
    /// mirrors (read whether or not the caller may see them: the caller decides). Listing mirrors
    /// is what clients poll; one round trip instead of two is most of PostgreSQL's cost.
    pub async fn project_with_mirrors_for(
        &self,
        id: i64,
        user_id: Option<i64>,
        today: &str,
        page: PageRequest,
    ) -> Result<Option<(Project, Option<AccessLevel>, Paged<MirrorSummary>)>, StoreError> {
        static QUERIES: LazyLock<[String; 2]> = LazyLock::new(|| {
            [Dialect::Sqlite, Dialect::Postgres].map(|d| {
                format!(
                    "select {}, {}, {} from projects p \
                     join namespaces n on n.id = p.namespace_id where p.id = $1",
                    *PROJECT_COLUMNS,
                    level_columns("$2", "$3"),
                    mirrors::page_columns(d, "p.id", "$4", "$5")
                )
            })
        });
        let row = sqlx::query(&QUERIES[self.dialect as usize])
            .bind(id)
            .bind(user_id)
            .bind(today)
            .bind(page.per_page)
            .bind(page.offset())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (project, level) = project_and_level(&row)?;
        Ok(Some((project, level, mirrors::page_from_row(&row)?)))
    }

    /// [`Store::project_by_path`] together with `user_id`'s effective level, in one round trip.
    pub async fn project_by_path_for(
        &self,
        full_path: &str,
        user_id: Option<i64>,
        today: &str,
    ) -> Result<Option<(Project, Option<AccessLevel>)>, StoreError> {
        static QUERY: LazyLock<String> = LazyLock::new(|| {
            format!(
                "select {}, {} from projects p join namespaces n on n.id = p.namespace_id \
                 where lower(n.path) = lower($4) and lower(p.path) = lower($1)",
                *PROJECT_COLUMNS,
                level_columns("$2", "$3")
            )
        });
        let Some((ns, path)) = full_path.rsplit_once('/') else {
            return Ok(None);
        };
        let row = sqlx::query(&QUERY)
            .bind(path)
            .bind(user_id)
            .bind(today)
            .bind(ns)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(project_and_level).transpose()?)
    }

    /// A project by its full path (`org/team/project`, case-insensitive, as GitLab).
    pub async fn project_by_path(&self, full_path: &str) -> Result<Option<Project>, StoreError> {
        let Some((ns, path)) = full_path.rsplit_once('/') else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "select {} from projects p join namespaces n on n.id = p.namespace_id \
             where lower(n.path) = lower($1) and lower(p.path) = lower($2)",
            *PROJECT_COLUMNS
        ))
        .bind(ns)
        .bind(path)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(project_from_row).transpose()?)
    }

    /// The projects `viewer` may see (every project for an admin when `all`; otherwise public
    /// ones, internal ones when signed in, and those they are a member of, directly or through a
    /// group) that pass `filter`, in its order, with the viewer's effective level in each.
    pub async fn projects_for(
        &self,
        viewer: Viewer<'_>,
        all: bool,
        filter: &ProjectFilter,
        page: PageRequest,
    ) -> Result<Paged<(Project, Option<AccessLevel>)>, StoreError> {
        let member = member_of_project("$1", "$5");
        let visible = if all && viewer.is_admin {
            "$1 = $1".to_owned()
        } else {
            format!(
                "(p.visibility = 'public' or ($1 > 0 and p.visibility = 'internal') or {member})"
            )
        };
        let mut conditions = vec![visible];
        if filter.membership {
            conditions.push(member.clone());
        }
        if filter.owned {
            conditions.push("n.owner_id = $1".into());
        }
        conditions.push(
            "($2 = '' or lower(p.name) like $2 escape '\\' or lower(p.path) like $2 escape '\\')"
                .into(),
        );
        conditions.push("($3 = '' or p.visibility = $3)".into());
        conditions.push("($4 < 0 or p.archived = $4)".into());
        conditions.push(match filter.group {
            None => "$6 < 0".into(),
            Some((_, false)) => "p.namespace_id = $6".into(),
            Some((_, true)) => "p.namespace_id in (select namespace_id \
                                from namespace_ancestors where ancestor_id = $6)"
                .into(),
        });
        let condition = conditions.join(" and ");
        let search = search_pattern(filter.search.as_deref());
        let visibility = filter.visibility.map(Visibility::as_str).unwrap_or("");
        let archived: i64 = filter.archived.map_or(-1, i64::from);
        let group = filter.group.map_or(-1, |(id, _)| id);
        let user = viewer.user_id.unwrap_or(-1);
        let from = "from projects p join namespaces n on n.id = p.namespace_id";
        let total: i64 = sqlx::query_scalar(&format!(
            "select count(*) {from} where {condition} and $5 = $5"
        ))
        .bind(user)
        .bind(&search)
        .bind(visibility)
        .bind(archived)
        .bind(viewer.today)
        .bind(group)
        .fetch_one(&self.pool)
        .await?;
        let dir = if filter.ascending { "asc" } else { "desc" };
        let rows = sqlx::query(&format!(
            "select {}, {} {from} where {condition} order by {} {dir}, p.id {dir} \
             limit $7 offset $8",
            *PROJECT_COLUMNS,
            level_columns("$1", "$5"),
            filter.order.column()
        ))
        .bind(user)
        .bind(&search)
        .bind(visibility)
        .bind(archived)
        .bind(viewer.today)
        .bind(group)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(project_and_level)
            .collect::<Result<_, _>>()?;
        Ok(Paged { items, total })
    }

    /// Changes a project's settings (name, path, description, default branch, visibility,
    /// archived); a name or path already taken in the namespace (or by a group) is
    /// [`StoreError::Conflict`].
    pub async fn update_project(&self, p: &Project, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let old_path: String = sqlx::query_scalar("select path from projects where id = $1")
            .bind(p.id)
            .fetch_one(&mut *tx)
            .await?;
        if !old_path.eq_ignore_ascii_case(&p.path) {
            lock_namespace(&mut tx, self.dialect, p.namespace.id).await?;
            path_free_of_groups(&mut tx, &p.full_path()).await?;
        }
        sqlx::query(
            "update projects set name = $1, path = $2, description = $3, default_branch = $4, \
             visibility = $5, archived = $6, last_activity_at = $7, lfs_enabled = $9 \
             where id = $8",
        )
        .bind(&p.name)
        .bind(&p.path)
        .bind(p.description.as_deref())
        .bind(p.default_branch.as_deref())
        .bind(p.visibility.as_str())
        .bind(flag(p.archived))
        .bind(now)
        .bind(p.id)
        .bind(flag(p.lfs_enabled))
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves a project into another namespace with the visibility it takes there; when
    /// `owner` is given (a personal namespace's user), makes them an Owner of the project too.
    /// A project of the same name or path there (or a group at its new full path) is
    /// [`StoreError::Conflict`] with [`TRANSFER_TAKEN`]; nothing is written then.
    pub async fn transfer_project(
        &self,
        project: &Project,
        namespace_id: i64,
        visibility: Visibility,
        owner: Option<i64>,
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        lock_namespace(&mut tx, self.dialect, namespace_id).await?;
        let taken: Option<i64> = sqlx::query_scalar(
            "select id from projects where namespace_id = $1 \
             and (lower(path) = lower($2) or name = $3)",
        )
        .bind(namespace_id)
        .bind(&project.path)
        .bind(&project.name)
        .fetch_optional(&mut *tx)
        .await?;
        let namespace_path: String =
            sqlx::query_scalar("select path from namespaces where id = $1")
                .bind(namespace_id)
                .fetch_one(&mut *tx)
                .await?;
        let group_there =
            path_free_of_groups(&mut tx, &format!("{namespace_path}/{}", project.path)).await;
        if taken.is_some() || group_there.is_err() {
            return Err(StoreError::Conflict(TRANSFER_TAKEN.into()));
        }
        sqlx::query("update projects set namespace_id = $1, visibility = $2 where id = $3")
            .bind(namespace_id)
            .bind(visibility.as_str())
            .bind(project.id)
            .execute(&mut *tx)
            .await
            .map_err(|e| match conflict(e) {
                StoreError::Conflict(_) => StoreError::Conflict(TRANSFER_TAKEN.into()),
                other => other,
            })?;
        if let Some(user) = owner {
            sqlx::query("delete from members where project_id = $1 and user_id = $2")
                .bind(project.id)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "insert into members (project_id, user_id, access_level, created_at) \
                 values ($1, $2, $3, $4)",
            )
            .bind(project.id)
            .bind(user)
            .bind(AccessLevel::Owner.as_i64())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a project and everything that hangs off it; true when it existed.
    pub async fn delete_project(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from projects where id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The user's effective access level in a project on `today`, if any: their own membership
    /// or one of a group above, whichever is higher.
    pub async fn access_level(
        &self,
        project_id: i64,
        user_id: i64,
        today: &str,
    ) -> Result<Option<AccessLevel>, StoreError> {
        static QUERY: LazyLock<String> = LazyLock::new(|| {
            format!(
                "select {} from projects p where p.id = $1",
                level_columns("$2", "$3")
            )
        });
        let row = sqlx::query(&QUERY)
            .bind(project_id)
            .bind(user_id)
            .bind(today)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(level_from_row).transpose()?.flatten())
    }
}

impl Store {
    /// Records the commit a project's (new) default branch points at.
    pub async fn set_default_branch_head(
        &self,
        project_id: i64,
        head: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("update projects set default_branch_head = $1 where id = $2")
            .bind(head)
            .bind(project_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The projects on `storages` whose default branch's head was never recorded (they predate
    /// the column): `(id, storage, default branch)`.
    pub async fn projects_without_recorded_head(
        &self,
        storages: &[String],
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let mut out = Vec::new();
        for storage in storages {
            let rows: Vec<(i64, String, String)> = sqlx::query_as(
                "select id, storage, default_branch from projects where storage = $1 \
                 and default_branch is not null and default_branch_head is null \
                 and empty_repo = 0 order by id",
            )
            .bind(storage.as_str())
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows);
        }
        Ok(out)
    }
}

impl Tx {
    /// Records the repository's state after a push: its default branch, the commit that branch
    /// points at, and whether the repository is empty.
    pub async fn set_repository_state(
        &mut self,
        project_id: i64,
        default_branch: Option<&str>,
        default_branch_head: Option<&str>,
        empty: bool,
        now: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update projects set default_branch = $1, default_branch_head = $2, empty_repo = $3, \
             last_activity_at = $4 where id = $5",
        )
        .bind(default_branch)
        .bind(default_branch_head)
        .bind(flag(empty))
        .bind(now)
        .bind(project_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// The storage project `id`'s repository lives on (`None`: no such project). Jobs that touch
    /// the repository carry it, so only a node serving that storage claims them.
    pub async fn project_storage(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("select storage from projects where id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
