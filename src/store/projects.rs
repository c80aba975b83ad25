//! Projects (with their namespace) and the membership lookups that permission checks need.

use std::sync::LazyLock;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{conflict, flag, mirrors, Dialect, PageRequest, Paged, Store, StoreError, Tx};
use crate::model::access::{AccessLevel, Visibility};
use crate::model::entities::{Millis, MirrorSummary, Namespace, Project};

const PROJECT_COLUMNS: &str = "p.id, p.name, p.path, p.description, p.default_branch, \
    p.visibility, p.creator_id, p.empty_repo, p.archived, p.created_at, p.last_activity_at, \
    n.id as ns_id, n.path as ns_path, n.name as ns_name, n.kind as ns_kind, n.owner_id as ns_owner_id";

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

/// The caller's access level as a column, the caller's id being parameter `$2` (`null` for an
/// anonymous caller, which matches no member).
const CALLER_LEVEL: &str = "(select m.access_level from members m \
    where m.project_id = p.id and m.user_id = $2) as caller_level";
/// [`CALLER_LEVEL`] with the caller's id as parameter `$3`.
const CALLER_LEVEL_3: &str = "(select m.access_level from members m \
    where m.project_id = p.id and m.user_id = $3) as caller_level";

fn project_and_level(r: &AnyRow) -> Result<(Project, Option<AccessLevel>), sqlx::Error> {
    let level: Option<i64> = r.try_get("caller_level")?;
    Ok((project_from_row(r)?, level.and_then(AccessLevel::from_i64)))
}

fn project_from_row(r: &AnyRow) -> Result<Project, sqlx::Error> {
    let visibility: String = r.try_get("visibility")?;
    Ok(Project {
        id: r.try_get("id")?,
        namespace: Namespace {
            id: r.try_get("ns_id")?,
            path: r.try_get("ns_path")?,
            name: r.try_get("ns_name")?,
            kind: r.try_get("ns_kind")?,
            owner_id: r.try_get("ns_owner_id")?,
        },
        name: r.try_get("name")?,
        path: r.try_get("path")?,
        description: r.try_get("description")?,
        default_branch: r.try_get("default_branch")?,
        visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Private),
        creator_id: r.try_get("creator_id")?,
        empty_repo: r.try_get::<i64, _>("empty_repo")? != 0,
        archived: r.try_get::<i64, _>("archived")? != 0,
        created_at: r.try_get("created_at")?,
        last_activity_at: r.try_get("last_activity_at")?,
    })
}

impl Store {
    /// Creates a project and makes its creator Owner, in one transaction.
    pub async fn create_project(&self, p: &NewProject, now: Millis) -> Result<Project, StoreError> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "insert into projects (namespace_id, name, path, description, default_branch, \
             visibility, creator_id, empty_repo, created_at, last_activity_at) \
             values ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) returning id",
        )
        .bind(p.namespace_id)
        .bind(&p.name)
        .bind(&p.path)
        .bind(p.description.as_deref())
        .bind(p.default_branch.as_deref())
        .bind(p.visibility.as_str())
        .bind(p.creator_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict)?;
        sqlx::query(
            "insert into members (project_id, user_id, access_level, created_at) values ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(p.creator_id)
        .bind(AccessLevel::Owner.as_i64())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.project_by_id(id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// A project by id.
    pub async fn project_by_id(&self, id: i64) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(&format!(
            "select {PROJECT_COLUMNS} from projects p join namespaces n on n.id = p.namespace_id \
             where p.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(project_from_row).transpose()?)
    }

    /// A project by id together with `user_id`'s access level in it, in one round trip: every
    /// project-scoped API request starts with this pair.
    pub async fn project_by_id_for(
        &self,
        id: i64,
        user_id: Option<i64>,
    ) -> Result<Option<(Project, Option<AccessLevel>)>, StoreError> {
        let row = sqlx::query(&format!(
            "select {PROJECT_COLUMNS}, {CALLER_LEVEL} from projects p \
             join namespaces n on n.id = p.namespace_id where p.id = $1"
        ))
        .bind(id)
        .bind(user_id)
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
        page: PageRequest,
    ) -> Result<Option<(Project, Option<AccessLevel>, Paged<MirrorSummary>)>, StoreError> {
        static QUERIES: LazyLock<[String; 2]> = LazyLock::new(|| {
            [Dialect::Sqlite, Dialect::Postgres].map(|d| {
                format!(
                    "select {PROJECT_COLUMNS}, {CALLER_LEVEL}, {} from projects p \
                     join namespaces n on n.id = p.namespace_id where p.id = $1",
                    mirrors::page_columns(d, "p.id", "$3", "$4")
                )
            })
        });
        let row = sqlx::query(&QUERIES[self.dialect as usize])
            .bind(id)
            .bind(user_id)
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

    /// [`Store::project_by_path`] together with `user_id`'s access level, in one round trip.
    pub async fn project_by_path_for(
        &self,
        full_path: &str,
        user_id: Option<i64>,
    ) -> Result<Option<(Project, Option<AccessLevel>)>, StoreError> {
        let Some((ns, path)) = full_path.split_once('/') else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "select {PROJECT_COLUMNS}, {CALLER_LEVEL_3} from projects p \
             join namespaces n on n.id = p.namespace_id \
             where lower(n.path) = lower($1) and lower(p.path) = lower($2)"
        ))
        .bind(ns)
        .bind(path)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(project_and_level).transpose()?)
    }

    /// A project by `namespace/path` (case-insensitive, as GitLab).
    pub async fn project_by_path(&self, full_path: &str) -> Result<Option<Project>, StoreError> {
        let Some((ns, path)) = full_path.split_once('/') else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "select {PROJECT_COLUMNS} from projects p join namespaces n on n.id = p.namespace_id \
             where lower(n.path) = lower($1) and lower(p.path) = lower($2)"
        ))
        .bind(ns)
        .bind(path)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(project_from_row).transpose()?)
    }

    /// The projects `user_id` may see (every project for an admin when `all`: public, internal
    /// and those they are a member of otherwise) that pass `filter`, in its order.
    pub async fn projects_for(
        &self,
        user_id: i64,
        all: bool,
        filter: &ProjectFilter,
        page: PageRequest,
    ) -> Result<Paged<Project>, StoreError> {
        let visible = if all {
            "1 = 1"
        } else {
            "(p.visibility in ('public', 'internal') \
              or p.id in (select project_id from members where user_id = $1))"
        };
        let mut conditions = vec![visible.to_owned()];
        if filter.membership {
            conditions.push("p.id in (select project_id from members where user_id = $1)".into());
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
        let condition = conditions.join(" and ");
        let search = match filter.search.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => super::like_pattern(s),
            None => String::new(),
        };
        let visibility = filter.visibility.map(Visibility::as_str).unwrap_or("");
        let archived: i64 = filter.archived.map_or(-1, i64::from);
        let total: i64 = sqlx::query_scalar(&format!(
            "select count(*) from projects p join namespaces n on n.id = p.namespace_id \
             where {condition}"
        ))
        .bind(user_id)
        .bind(&search)
        .bind(visibility)
        .bind(archived)
        .fetch_one(&self.pool)
        .await?;
        let dir = if filter.ascending { "asc" } else { "desc" };
        let rows = sqlx::query(&format!(
            "select {PROJECT_COLUMNS} from projects p join namespaces n on n.id = p.namespace_id \
             where {condition} order by {} {dir}, p.id {dir} limit $5 offset $6",
            filter.order.column()
        ))
        .bind(user_id)
        .bind(&search)
        .bind(visibility)
        .bind(archived)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(project_from_row)
            .collect::<Result<_, _>>()?;
        Ok(Paged { items, total })
    }

    /// Changes a project's settings (name, path, description, default branch, visibility,
    /// archived); a name or path already taken in the namespace is [`StoreError::Conflict`].
    pub async fn update_project(&self, p: &Project, now: Millis) -> Result<(), StoreError> {
        sqlx::query(
            "update projects set name = $1, path = $2, description = $3, default_branch = $4, \
             visibility = $5, archived = $6, last_activity_at = $7 where id = $8",
        )
        .bind(&p.name)
        .bind(&p.path)
        .bind(p.description.as_deref())
        .bind(p.default_branch.as_deref())
        .bind(p.visibility.as_str())
        .bind(flag(p.archived))
        .bind(now)
        .bind(p.id)
        .execute(&self.pool)
        .await
        .map_err(conflict)?;
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

    /// The caller's access level in a project, if a member.
    pub async fn access_level(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> Result<Option<AccessLevel>, StoreError> {
        let level: Option<i64> = sqlx::query_scalar(
            "select access_level from members where project_id = $1 and user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(level.and_then(AccessLevel::from_i64))
    }
}

impl Tx {
    /// Records the repository's state after a push: its default branch and whether it is empty.
    pub async fn set_repository_state(
        &mut self,
        project_id: i64,
        default_branch: Option<&str>,
        empty: bool,
        now: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update projects set default_branch = $1, empty_repo = $2, last_activity_at = $3 \
             where id = $4",
        )
        .bind(default_branch)
        .bind(flag(empty))
        .bind(now)
        .bind(project_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
