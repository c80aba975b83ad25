//! Namespaces and groups: a namespace by id or full path, the group tree (`namespace_ancestors`:
//! every group with each of its ancestors and itself), creating, changing and deleting groups
//! (a rename rewrites every descendant's full path and name in the same transaction), and the
//! group and namespace lists GitLab filters.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::members::{active, group_level};
use super::{conflict, search_pattern, Dialect, PageRequest, Paged, Store, StoreError, Viewer};
use crate::model::access::{AccessLevel, ProjectCreationLevel, SubgroupCreationLevel, Visibility};
use crate::model::entities::{Group, Millis, Namespace, NamespaceKind};
use crate::model::storage::{RepoRef, StorageName};

/// The columns of a [`Namespace`] (the namespace aliased `n`), read by [`namespace_from_row`].
pub(super) const NAMESPACE_COLUMNS: &str = "n.id as ns_id, n.path as ns_path, \
    n.name as ns_name, coalesce(n.full_name, n.name) as ns_full_name, n.kind as ns_kind, \
    n.owner_id as ns_owner_id, n.parent_id as ns_parent_id, n.visibility as ns_visibility";

/// [`NAMESPACE_COLUMNS`] plus what only groups have, read by [`group_from_row`].
const GROUP_COLUMNS: &str = "n.id as ns_id, n.path as ns_path, \
    n.name as ns_name, coalesce(n.full_name, n.name) as ns_full_name, n.kind as ns_kind, \
    n.owner_id as ns_owner_id, n.parent_id as ns_parent_id, n.visibility as ns_visibility, \
    n.description as g_description, n.project_creation_level as g_project_creation_level, \
    n.subgroup_creation_level as g_subgroup_creation_level, n.created_at as g_created_at";

pub(super) fn namespace_from_row(r: &AnyRow) -> Result<Namespace, sqlx::Error> {
    let kind: String = r.try_get("ns_kind")?;
    let visibility: String = r.try_get("ns_visibility")?;
    Ok(Namespace {
        id: r.try_get("ns_id")?,
        full_path: r.try_get("ns_path")?,
        name: r.try_get("ns_name")?,
        full_name: r.try_get("ns_full_name")?,
        kind: NamespaceKind::parse(&kind),
        owner_id: r.try_get("ns_owner_id")?,
        parent_id: r.try_get("ns_parent_id")?,
        visibility: Visibility::parse(&visibility).unwrap_or_default(),
    })
}

fn group_from_row(r: &AnyRow) -> Result<Group, sqlx::Error> {
    let project_level: String = r.try_get("g_project_creation_level")?;
    let subgroup_level: String = r.try_get("g_subgroup_creation_level")?;
    Ok(Group {
        namespace: namespace_from_row(r)?,
        description: r.try_get("g_description")?,
        project_creation_level: ProjectCreationLevel::parse(&project_level).unwrap_or_default(),
        subgroup_creation_level: SubgroupCreationLevel::parse(&subgroup_level).unwrap_or_default(),
        created_at: r.try_get("g_created_at")?,
    })
}

/// `1` when the user in parameter `user` has an active membership of a group below the one
/// whose id is `group`, or of a project in it or below it (GitLab shows such members the
/// group), else `0`.
fn member_below(group: &str, user: &str, today: &str) -> String {
    format!(
        "cast(case when exists (select 1 from namespace_ancestors a join group_members gm \
         on gm.group_id = a.namespace_id where a.ancestor_id = {group} and a.depth > 0 \
         and gm.user_id = {user} and {}) or exists (select 1 from namespace_ancestors a \
         join projects p on p.namespace_id = a.namespace_id join members m on m.project_id = p.id \
         where a.ancestor_id = {group} and m.user_id = {user} and {}) then 1 else 0 end as bigint)",
        active("gm", today),
        active("m", today)
    )
}

/// A group as a viewer finds it: the group, their effective level, and whether they are a
/// member of something below it.
pub type GroupForViewer = (Group, Option<AccessLevel>, bool);

fn group_for_viewer(r: &AnyRow) -> Result<GroupForViewer, sqlx::Error> {
    let level: Option<i64> = r.try_get("caller_level")?;
    let below: i64 = r.try_get("member_below")?;
    Ok((
        group_from_row(r)?,
        level.and_then(AccessLevel::from_i64),
        below != 0,
    ))
}

/// What creating a group needs (its full path and name already derived from the parent's).
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub parent_id: Option<i64>,
    pub full_path: String,
    pub name: String,
    pub full_name: String,
    pub description: Option<String>,
    pub visibility: Visibility,
    pub project_creation_level: ProjectCreationLevel,
    pub subgroup_creation_level: SubgroupCreationLevel,
    /// Becomes the group's Owner.
    pub creator_id: i64,
}

/// Which groups a list covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupScope {
    #[default]
    All,
    /// The direct subgroups of a group.
    Children(i64),
    /// Every group below a group.
    Descendants(i64),
}

/// The order of a group list (GitLab's `order_by`), always broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupOrder {
    #[default]
    Name,
    Path,
    Id,
}

impl GroupOrder {
    /// Parses GitLab's `order_by` values (`similarity` orders by name, as GitLab does without a
    /// search).
    pub fn parse(s: &str) -> Option<GroupOrder> {
        Some(match s {
            "name" | "similarity" => GroupOrder::Name,
            "path" => GroupOrder::Path,
            "id" => GroupOrder::Id,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            GroupOrder::Name => "lower(n.name)",
            GroupOrder::Path => "lower(n.path)",
            GroupOrder::Id => "n.id",
        }
    }
}

/// GitLab's group list filters.
#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    pub scope: GroupScope,
    /// Name or own path contains this, case-insensitively.
    pub search: Option<String>,
    /// Every group the viewer may see, not only those they are a member of.
    pub all_available: bool,
    /// Only groups the viewer is an Owner of (directly).
    pub owned: bool,
    pub min_access_level: Option<AccessLevel>,
    pub top_level_only: bool,
    pub visibility: Option<Visibility>,
    pub order: GroupOrder,
    pub ascending: bool,
}

/// The changes to a group's row; its new full path and name already derived.
#[derive(Debug, Clone)]
pub struct GroupChanges {
    pub full_path: String,
    pub name: String,
    pub full_name: String,
    pub description: Option<String>,
    pub visibility: Visibility,
    pub project_creation_level: ProjectCreationLevel,
    pub subgroup_creation_level: SubgroupCreationLevel,
}

/// Locks a namespace's row until `tx` ends (PostgreSQL), so that of two writes placing a project
/// and a subgroup at the same full path under it, the second sees the first (SQLite serialises
/// every writer already).
pub(super) async fn lock_namespace(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
    id: i64,
) -> Result<(), StoreError> {
    if dialect == Dialect::Postgres {
        sqlx::query("select id from namespaces where id = $1 for update")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The conflict a group path taken by a project reports (as the path's own unique index would).
const PATH_TAKEN: &str = "namespaces_path_lower_key";

impl Store {
    /// A namespace (a user's or a group) by id or by full path (case-insensitive).
    pub async fn namespace(&self, id_or_path: &str) -> Result<Option<Namespace>, StoreError> {
        let query = format!("select {NAMESPACE_COLUMNS} from namespaces n where ");
        let row = match id_or_path.parse::<i64>() {
            Ok(id) => {
                sqlx::query(&format!("{query}n.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
            Err(_) => {
                sqlx::query(&format!("{query}lower(n.path) = lower($1)"))
                    .bind(id_or_path)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        Ok(row.as_ref().map(namespace_from_row).transpose()?)
    }

    /// A namespace by full path only (case-insensitive).
    pub async fn namespace_by_path(&self, path: &str) -> Result<Option<Namespace>, StoreError> {
        let row = sqlx::query(&format!(
            "select {NAMESPACE_COLUMNS} from namespaces n where lower(n.path) = lower($1)"
        ))
        .bind(path)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(namespace_from_row).transpose()?)
    }

    /// The user's effective level in a namespace (for a group: their own or an ancestor's
    /// membership; nothing for a user namespace).
    pub async fn namespace_level(
        &self,
        namespace_id: i64,
        user_id: i64,
        today: &str,
    ) -> Result<Option<AccessLevel>, StoreError> {
        let level: Option<i64> =
            sqlx::query_scalar(&format!("select {}", group_level("$1", "$2", "$3")))
                .bind(namespace_id)
                .bind(user_id)
                .bind(today)
                .fetch_one(&self.pool)
                .await?;
        Ok(level.and_then(AccessLevel::from_i64))
    }

    /// A group by id or full path with the viewer's standing in it (see [`GroupForViewer`]).
    pub async fn group_for(
        &self,
        id_or_path: &str,
        viewer: Viewer<'_>,
    ) -> Result<Option<GroupForViewer>, StoreError> {
        let select = format!(
            "select {GROUP_COLUMNS}, {} as caller_level, {} as member_below \
             from namespaces n where n.kind = 'group' and ",
            group_level("n.id", "$2", "$3"),
            member_below("n.id", "$2", "$3")
        );
        let user = viewer.user_id.unwrap_or(-1);
        let row = match id_or_path.parse::<i64>() {
            Ok(id) => {
                sqlx::query(&format!("{select}n.id = $1"))
                    .bind(id)
                    .bind(user)
                    .bind(viewer.today)
                    .fetch_optional(&self.pool)
                    .await?
            }
            Err(_) => {
                sqlx::query(&format!("{select}lower(n.path) = lower($1)"))
                    .bind(id_or_path)
                    .bind(user)
                    .bind(viewer.today)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        Ok(row.as_ref().map(group_for_viewer).transpose()?)
    }

    /// A group by id.
    pub async fn group_by_id(&self, id: i64) -> Result<Option<Group>, StoreError> {
        let row = sqlx::query(&format!(
            "select {GROUP_COLUMNS} from namespaces n where n.kind = 'group' and n.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(group_from_row).transpose()?)
    }

    /// How many ancestors a group has, itself included: what a subgroup of it would have.
    pub async fn group_depth(&self, id: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("select count(*) from namespace_ancestors where namespace_id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The visibilities found below a group: of its subgroups (at any depth), and of the
    /// projects in it or below it.
    pub async fn visibilities_below(
        &self,
        id: i64,
    ) -> Result<(Vec<Visibility>, Vec<Visibility>), StoreError> {
        let parse = |v: Vec<String>| v.iter().filter_map(|s| Visibility::parse(s)).collect();
        let groups: Vec<String> = sqlx::query_scalar(
            "select distinct n.visibility from namespaces n join namespace_ancestors a \
             on a.namespace_id = n.id where a.ancestor_id = $1 and a.depth > 0",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let projects: Vec<String> = sqlx::query_scalar(
            "select distinct p.visibility from projects p join namespace_ancestors a \
             on a.namespace_id = p.namespace_id where a.ancestor_id = $1",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok((parse(groups), parse(projects)))
    }

    /// Creates a group, its place in the tree and its creator's Owner membership, in one
    /// transaction. A full path taken by a namespace or a project, or a name taken among the
    /// siblings, is [`StoreError::Conflict`].
    pub async fn create_group(&self, g: &NewGroup, now: Millis) -> Result<Group, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(parent) = g.parent_id {
            lock_namespace(&mut tx, self.dialect, parent).await?;
        }
        let taken: Option<i64> = sqlx::query_scalar(
            "select p.id from projects p join namespaces n on n.id = p.namespace_id \
             where lower(n.path || '/' || p.path) = lower($1)",
        )
        .bind(&g.full_path)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(PATH_TAKEN.into()));
        }
        let id: i64 = sqlx::query_scalar(
            "insert into namespaces (path, name, kind, owner_id, parent_id, full_name, \
             description, visibility, project_creation_level, subgroup_creation_level, \
             created_at) values ($1, $2, 'group', null, $3, $4, $5, $6, $7, $8, $9) returning id",
        )
        .bind(&g.full_path)
        .bind(&g.name)
        .bind(g.parent_id)
        .bind(&g.full_name)
        .bind(g.description.as_deref())
        .bind(g.visibility.as_str())
        .bind(g.project_creation_level.as_str())
        .bind(g.subgroup_creation_level.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict)?;
        sqlx::query(
            "insert into namespace_ancestors (namespace_id, ancestor_id, depth) \
             select $1, ancestor_id, depth + 1 from namespace_ancestors where namespace_id = $2 \
             union all select $1, $1, 0",
        )
        .bind(id)
        .bind(g.parent_id.unwrap_or(-1))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into group_members (group_id, user_id, access_level, created_at) \
             values ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(g.creator_id)
        .bind(AccessLevel::Owner.as_i64())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.group_by_id(id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Changes a group; a new full path or full name is carried down to every descendant in the
    /// same transaction. Conflicts as [`Store::create_group`].
    pub async fn update_group(&self, old: &Group, c: &GroupChanges) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let moved = c.full_path != old.namespace.full_path;
        if let (true, Some(parent)) = (moved, old.namespace.parent_id) {
            lock_namespace(&mut tx, self.dialect, parent).await?;
        }
        if moved {
            let taken: Option<i64> = sqlx::query_scalar(
                "select p.id from projects p join namespaces n on n.id = p.namespace_id \
                 where lower(n.path || '/' || p.path) = lower($1)",
            )
            .bind(&c.full_path)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(PATH_TAKEN.into()));
            }
        }
        sqlx::query(
            "update namespaces set path = $1, name = $2, full_name = $3, description = $4, \
             visibility = $5, project_creation_level = $6, subgroup_creation_level = $7 \
             where id = $8",
        )
        .bind(&c.full_path)
        .bind(&c.name)
        .bind(&c.full_name)
        .bind(c.description.as_deref())
        .bind(c.visibility.as_str())
        .bind(c.project_creation_level.as_str())
        .bind(c.subgroup_creation_level.as_str())
        .bind(old.id())
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        let below = "id in (select namespace_id from namespace_ancestors \
                     where ancestor_id = $3 and depth > 0)";
        if moved {
            // Lengths count characters in both databases, as `substr` does.
            sqlx::query(&format!(
                "update namespaces set path = $1 || substr(path, cast($2 as integer)) where {below}"
            ))
            .bind(&c.full_path)
            .bind(old.namespace.full_path.chars().count() as i64 + 1)
            .bind(old.id())
            .execute(&mut *tx)
            .await
            .map_err(conflict)?;
        }
        if c.full_name != old.namespace.full_name {
            sqlx::query(&format!(
                "update namespaces set full_name = $1 || substr(full_name, cast($2 as integer)) where {below}"
            ))
            .bind(&c.full_name)
            .bind(old.namespace.full_name.chars().count() as i64 + 1)
            .bind(old.id())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a group with everything below it (subgroups, their projects with their mirrors,
    /// members and rules) in one transaction; returns the repositories of the projects deleted,
    /// which the caller removes.
    pub async fn delete_group(&self, id: i64) -> Result<Vec<RepoRef>, StoreError> {
        let mut tx = self.begin().await?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "select p.id, p.storage from projects p join namespace_ancestors a \
             on a.namespace_id = p.namespace_id where a.ancestor_id = $1 order by p.id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let projects = rows
            .into_iter()
            .map(|(id, storage)| {
                StorageName::parse(&storage)
                    .map(|s| RepoRef::new(s, id))
                    .map_err(|e| StoreError::Db(sqlx::Error::Decode(e.into())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Subgroups, projects, memberships and tree rows go by their foreign keys' cascades.
        sqlx::query("delete from namespaces where id = $1 and kind = 'group'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(projects)
    }

    /// The groups a viewer may see that pass `filter`, in its order, with the viewer's
    /// effective level in each.
    pub async fn groups_for(
        &self,
        viewer: Viewer<'_>,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Paged<(Group, Option<AccessLevel>)>, StoreError> {
        let level = group_level("n.id", "$1", "$2");
        let mut conditions = vec!["n.kind = 'group'".to_owned()];
        let visible = match (viewer.user_id, viewer.is_admin, filter.all_available) {
            (_, true, true) => "$1 = $1".to_owned(),
            (None, _, _) => "($1 < 0 and n.visibility = 'public')".to_owned(),
            (Some(_), _, true) => format!(
                "(n.visibility in ('public', 'internal') or {level} is not null or {} = 1)",
                member_below("n.id", "$1", "$2")
            ),
            (Some(_), _, false) => format!("{level} is not null"),
        };
        conditions.push(visible);
        conditions.push(match filter.scope {
            GroupScope::All => "$5 < 0".to_owned(),
            GroupScope::Children(_) => "n.parent_id = $5".to_owned(),
            GroupScope::Descendants(_) => "n.id in (select namespace_id from namespace_ancestors \
                 where ancestor_id = $5 and depth > 0)"
                .to_owned(),
        });
        if filter.owned {
            conditions.push(format!(
                "exists (select 1 from group_members gm where gm.group_id = n.id \
                 and gm.user_id = $1 and gm.access_level = {} and {})",
                AccessLevel::Owner.as_i64(),
                active("gm", "$2")
            ));
        }
        if filter.top_level_only {
            conditions.push("n.parent_id is null".into());
        }
        conditions.push(format!("($6 < 0 or {level} >= $6)"));
        // The own path is what follows the parent's full path and its slash.
        conditions.push(
            "($3 = '' or lower(n.name) like $3 escape '\\' or lower(case when pn.id is null \
             then n.path else substr(n.path, length(pn.path) + 2) end) like $3 escape '\\')"
                .into(),
        );
        conditions.push("($4 = '' or n.visibility = $4)".into());
        let condition = conditions.join(" and ");
        let from = "from namespaces n left join namespaces pn on pn.id = n.parent_id";
        let scope_id = match filter.scope {
            GroupScope::All => -1,
            GroupScope::Children(id) | GroupScope::Descendants(id) => id,
        };
        let search = search_pattern(filter.search.as_deref());
        let visibility = filter.visibility.map(Visibility::as_str).unwrap_or("");
        let min_level = filter.min_access_level.map_or(-1, AccessLevel::as_i64);
        let user = viewer.user_id.unwrap_or(-1);
        let total: i64 = sqlx::query_scalar(&format!("select count(*) {from} where {condition}"))
            .bind(user)
            .bind(viewer.today)
            .bind(&search)
            .bind(visibility)
            .bind(scope_id)
            .bind(min_level)
            .fetch_one(&self.pool)
            .await?;
        let dir = if filter.ascending { "asc" } else { "desc" };
        let rows = sqlx::query(&format!(
            "select {GROUP_COLUMNS}, {level} as caller_level {from} where {condition} \
             order by {} {dir}, n.id asc limit $7 offset $8",
            filter.order.column()
        ))
        .bind(user)
        .bind(viewer.today)
        .bind(&search)
        .bind(visibility)
        .bind(scope_id)
        .bind(min_level)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| -> Result<_, sqlx::Error> {
                let level: Option<i64> = r.try_get("caller_level")?;
                Ok((group_from_row(r)?, level.and_then(AccessLevel::from_i64)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Paged { items, total })
    }

    /// GitLab's `/namespaces`: every namespace for an admin; otherwise the viewer's own and the
    /// groups they are an active member of directly (Owner of, with `owned_only`). `search`
    /// matches the name or own path; by id.
    pub async fn namespaces_for(
        &self,
        viewer: Viewer<'_>,
        owned_only: bool,
        top_level_only: bool,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Namespace>, StoreError> {
        let mut conditions = Vec::new();
        if viewer.is_admin {
            conditions.push("$1 = $1 and $2 = $2".to_owned());
        } else {
            conditions.push(format!(
                "(n.owner_id = $1 or n.id in (select gm.group_id from group_members gm \
                 where gm.user_id = $1 and gm.access_level >= $4 and {}))",
                active("gm", "$2")
            ));
        }
        if top_level_only {
            conditions.push("n.parent_id is null".into());
        }
        conditions.push(
            "($3 = '' or lower(n.name) like $3 escape '\\' or lower(case when pn.id is null \
             then n.path else substr(n.path, length(pn.path) + 2) end) like $3 escape '\\')"
                .into(),
        );
        if viewer.is_admin {
            conditions.push("$4 = $4".into());
        }
        let condition = conditions.join(" and ");
        let from = "from namespaces n left join namespaces pn on pn.id = n.parent_id";
        let min_level = if owned_only {
            AccessLevel::Owner
        } else {
            AccessLevel::Guest
        }
        .as_i64();
        let search = search_pattern(search);
        let user = viewer.user_id.unwrap_or(-1);
        let total: i64 = sqlx::query_scalar(&format!("select count(*) {from} where {condition}"))
            .bind(user)
            .bind(viewer.today)
            .bind(&search)
            .bind(min_level)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "select {NAMESPACE_COLUMNS} {from} where {condition} order by n.id \
             limit $5 offset $6"
        ))
        .bind(user)
        .bind(viewer.today)
        .bind(&search)
        .bind(min_level)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(namespace_from_row)
            .collect::<Result<_, _>>()?;
        Ok(Paged { items, total })
    }

    /// How many users are active members of a group or of a group below it (GitLab's
    /// `members_count_with_descendants`).
    pub async fn members_count_with_descendants(
        &self,
        group_id: i64,
        today: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "select count(distinct gm.user_id) from group_members gm join namespace_ancestors a \
             on a.namespace_id = gm.group_id where a.ancestor_id = $1 and {}",
            active("gm", "$2")
        ))
        .bind(group_id)
        .bind(today)
        .fetch_one(&self.pool)
        .await?)
    }
}
