//! Remote mirrors: their settings and sealed credentials, the enabled-mirror limit (kept by the
//! writes themselves, so it holds under any concurrency), and asking for updates (which enqueues
//! `mirror_update` jobs, see `jobs.rs`). Status columns are written by `mirror_status.rs`.

use std::sync::LazyLock;

use sqlx::Row;

use super::{flag, Dialect, PageRequest, Paged, Store, StoreError, Tx};
use crate::model::entities::{
    AuthMethod, LfsSync, Millis, MirrorSettings, MirrorSummary, RemoteMirror,
};
use crate::model::status::UpdateStatus;

/// The columns a mirror's [`MirrorSettings`] are saved in, in the order [`bind_settings`] binds
/// them: the one list the insert, the update and [`MIRROR_COLUMNS`] are built from.
const SETTING_COLUMNS: [&str; 15] = [
    "url",
    "has_user",
    "user_is_git",
    "has_password",
    "credentials",
    "enabled",
    "only_protected_branches",
    "keep_divergent_refs",
    "mirror_branch_regex",
    "auth_method",
    "lfs_sync",
    "ssh_public_key",
    "ssh_known_hosts",
    "sync_interval_secs",
    "sync_on_commit",
];

/// Every column a [`RemoteMirror`] is read from (`mirror_from_row`).
pub(super) static MIRROR_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "id, project_id, {}, remote_name, update_status, last_update_at, last_update_started_at, \
         last_successful_update_at, last_error, retry_count, created_at, updated_at",
        SETTING_COLUMNS.join(", ")
    )
});

/// `$<first>, $<first+1>, …` for the setting columns.
fn setting_placeholders(first: usize) -> String {
    (first..first + SETTING_COLUMNS.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `url = $<first>, has_user = $<first+1>, …` for the setting columns.
fn setting_assignments(first: usize) -> String {
    SETTING_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a [`SummaryRow`], in its order.
const SUMMARY_COLUMNS: [&str; 19] = [
    "id",
    "url",
    "has_user",
    "user_is_git",
    "has_password",
    "enabled",
    "only_protected_branches",
    "keep_divergent_refs",
    "mirror_branch_regex",
    "auth_method",
    "lfs_sync",
    "ssh_known_hosts",
    "sync_interval_secs",
    "sync_on_commit",
    "update_status",
    "last_update_at",
    "last_update_started_at",
    "last_successful_update_at",
    "last_error",
];

/// Two columns describing one page of a project's mirrors, for `dialect`: `mirror_total` and
/// `mirror_page`, the page as a JSON array of [`SummaryRow`]s. `project` is the SQL expression for
/// the project's id; `limit` and `offset` name the page's parameters. PostgreSQL turns whole rows
/// into objects (`json_agg` of the row, cheaper for it than `json_build_object`'s sixteen
/// variadic pairs); SQLite names each pair.
pub(super) fn page_columns(dialect: Dialect, project: &str, limit: &str, offset: &str) -> String {
    let columns = SUMMARY_COLUMNS.join(", ");
    let aggregate = match dialect {
        Dialect::Sqlite => {
            let members: Vec<String> = SUMMARY_COLUMNS
                .iter()
                .map(|c| format!("'{c}', {c}"))
                .collect();
            format!(
                "json_group_array(json_object({}) order by id)",
                members.join(", ")
            )
        }
        Dialect::Postgres => "coalesce(json_agg(page_rows order by id), '[]')::text".to_owned(),
    };
    format!(
        "(select count(*) from remote_mirrors where project_id = {project}) as mirror_total, \
         (select {aggregate} from (select {columns} from remote_mirrors \
          where project_id = {project} order by id limit {limit} offset {offset}) as page_rows) \
         as mirror_page"
    )
}

/// Reads the two [`page_columns`] of `row`.
pub(super) fn page_from_row(row: &sqlx::any::AnyRow) -> Result<Paged<MirrorSummary>, StoreError> {
    let total: i64 = row.try_get("mirror_total")?;
    let json: String = row.try_get("mirror_page")?;
    let rows: Vec<SummaryRow> = serde_json::from_str(&json)
        .map_err(|e| sqlx::Error::Decode(format!("mirror page: {e}").into()))?;
    Ok(Paged {
        items: rows.into_iter().map(SummaryRow::into_summary).collect(),
        total,
    })
}

/// One element of the JSON array a mirror page is aggregated into (flags are 0/1 columns).
#[derive(serde::Deserialize)]
struct SummaryRow {
    id: i64,
    url: String,
    has_user: i64,
    user_is_git: i64,
    has_password: i64,
    enabled: i64,
    only_protected_branches: i64,
    keep_divergent_refs: i64,
    mirror_branch_regex: Option<String>,
    auth_method: String,
    lfs_sync: String,
    ssh_known_hosts: Option<String>,
    sync_interval_secs: i64,
    sync_on_commit: i64,
    update_status: String,
    last_update_at: Option<Millis>,
    last_update_started_at: Option<Millis>,
    last_successful_update_at: Option<Millis>,
    last_error: Option<String>,
}

impl SummaryRow {
    fn into_summary(self) -> MirrorSummary {
        MirrorSummary {
            id: self.id,
            url: self.url,
            has_user: self.has_user != 0,
            user_is_git: self.user_is_git != 0,
            has_password: self.has_password != 0,
            enabled: self.enabled != 0,
            only_protected_branches: self.only_protected_branches != 0,
            keep_divergent_refs: self.keep_divergent_refs != 0,
            mirror_branch_regex: self.mirror_branch_regex,
            auth_method: AuthMethod::parse(&self.auth_method).unwrap_or(AuthMethod::Password),
            lfs_sync: LfsSync::parse(&self.lfs_sync).unwrap_or_default(),
            ssh_known_hosts: self.ssh_known_hosts,
            sync_interval_secs: self.sync_interval_secs,
            sync_on_commit: self.sync_on_commit != 0,
            update_status: UpdateStatus::parse(&self.update_status),
            last_update_at: self.last_update_at,
            last_update_started_at: self.last_update_started_at,
            last_successful_update_at: self.last_successful_update_at,
            last_error: self.last_error,
        }
    }
}

/// Binds a mirror's settings in [`SETTING_COLUMNS`] order.
fn bind_settings<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    m: &'q MirrorSettings,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(m.url.as_str())
        .bind(flag(m.has_user))
        .bind(flag(m.user_is_git))
        .bind(flag(m.has_password))
        .bind(m.credentials.clone())
        .bind(flag(m.enabled))
        .bind(flag(m.only_protected_branches))
        .bind(flag(m.keep_divergent_refs))
        .bind(m.mirror_branch_regex.as_deref())
        .bind(m.auth_method.as_str())
        .bind(m.lfs_sync.as_str())
        .bind(m.ssh_public_key.as_deref())
        .bind(m.ssh_known_hosts.as_deref())
        .bind(m.sync_interval_secs)
        .bind(flag(m.sync_on_commit))
}

pub(crate) fn mirror_from_row(r: &sqlx::any::AnyRow) -> Result<RemoteMirror, sqlx::Error> {
    let b = |name: &str| -> Result<bool, sqlx::Error> { Ok(r.try_get::<i64, _>(name)? != 0) };
    let auth: String = r.try_get("auth_method")?;
    let status: String = r.try_get("update_status")?;
    let lfs_sync: String = r.try_get("lfs_sync")?;
    Ok(RemoteMirror {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        url: r.try_get("url")?,
        has_user: b("has_user")?,
        user_is_git: b("user_is_git")?,
        has_password: b("has_password")?,
        credentials: r.try_get("credentials")?,
        enabled: b("enabled")?,
        only_protected_branches: b("only_protected_branches")?,
        keep_divergent_refs: b("keep_divergent_refs")?,
        mirror_branch_regex: r.try_get("mirror_branch_regex")?,
        auth_method: AuthMethod::parse(&auth).unwrap_or(AuthMethod::Password),
        lfs_sync: LfsSync::parse(&lfs_sync).unwrap_or_default(),
        ssh_public_key: r.try_get("ssh_public_key")?,
        ssh_known_hosts: r.try_get("ssh_known_hosts")?,
        sync_interval_secs: r.try_get("sync_interval_secs")?,
        sync_on_commit: b("sync_on_commit")?,
        remote_name: r
            .try_get::<Option<String>, _>("remote_name")?
            .unwrap_or_default(),
        update_status: UpdateStatus::parse(&status),
        last_update_at: r.try_get("last_update_at")?,
        last_update_started_at: r.try_get("last_update_started_at")?,
        last_successful_update_at: r.try_get("last_successful_update_at")?,
        last_error: r.try_get("last_error")?,
        retry_count: r.try_get("retry_count")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// One page of a project's mirrors, by id, as the API lists them.
    ///
    /// The hot read of every client that polls mirror status, so it is one round trip returning
    /// one row: the total and the page aggregated into a JSON array by the database. Row by row
    /// through the `Any` driver cost a thread hand-off per row on SQLite and a dozen allocations
    /// per column on both backends (see BENCHMARKS.md, api).
    pub async fn mirrors(
        &self,
        project_id: i64,
        page: PageRequest,
    ) -> Result<Paged<MirrorSummary>, StoreError> {
        static QUERIES: LazyLock<[String; 2]> = LazyLock::new(|| {
            [Dialect::Sqlite, Dialect::Postgres]
                .map(|d| format!("select {}", page_columns(d, "$1", "$2", "$3")))
        });
        let row = sqlx::query(&QUERIES[self.dialect as usize])
            .bind(project_id)
            .bind(page.per_page)
            .bind(page.offset())
            .fetch_one(&self.pool)
            .await?;
        page_from_row(&row)
    }

    /// One mirror of a project (a mirror of another project is not found).
    pub async fn mirror(
        &self,
        project_id: i64,
        id: i64,
    ) -> Result<Option<RemoteMirror>, StoreError> {
        let row = sqlx::query(&format!(
            "select {} from remote_mirrors where project_id = $1 and id = $2",
            *MIRROR_COLUMNS
        ))
        .bind(project_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(mirror_from_row).transpose()?)
    }

    /// One mirror of a project by its `remote_name` (the Gitea-compatible API's key).
    pub async fn mirror_by_remote_name(
        &self,
        project_id: i64,
        remote_name: &str,
    ) -> Result<Option<RemoteMirror>, StoreError> {
        let row = sqlx::query(&format!(
            "select {} from remote_mirrors where project_id = $1 and remote_name = $2",
            *MIRROR_COLUMNS
        ))
        .bind(project_id)
        .bind(remote_name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(mirror_from_row).transpose()?)
    }

    /// One page of a project's mirrors, by id, whole (the Gitea-compatible API's list, which
    /// shows what summaries leave out: the remote name, creation time and public key).
    pub async fn mirror_rows(
        &self,
        project_id: i64,
        page: PageRequest,
    ) -> Result<Paged<RemoteMirror>, StoreError> {
        let total: i64 =
            sqlx::query_scalar("select count(*) from remote_mirrors where project_id = $1")
                .bind(project_id)
                .fetch_one(&self.pool)
                .await?;
        let rows = sqlx::query(&format!(
            "select {} from remote_mirrors where project_id = $1 order by id limit $2 offset $3",
            *MIRROR_COLUMNS
        ))
        .bind(project_id)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(mirror_from_row).collect::<Result<_, _>>()?;
        Ok(Paged { items, total })
    }

    /// The enabled mirrors with a periodic update due at `now` (the last update started, or
    /// the mirror was made, an interval ago) and none pending, with their project's storage.
    pub async fn due_periodic_mirrors(
        &self,
        now: Millis,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "select m.id, p.storage from remote_mirrors m join projects p on p.id = m.project_id \
             where m.sync_interval_secs > 0 and m.enabled = 1 \
               and coalesce(m.last_update_started_at, m.created_at) \
                   + m.sync_interval_secs * 1000 <= $1 \
               and not exists (select 1 from jobs j where j.dedup_key = {}) \
             order by m.id",
            mirror_job_key_sql("m.id")
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A mirror by id alone (the engine's view).
    pub async fn mirror_by_id(&self, id: i64) -> Result<Option<RemoteMirror>, StoreError> {
        let row = sqlx::query(&format!(
            "select {} from remote_mirrors where id = $1",
            *MIRROR_COLUMNS
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(mirror_from_row).transpose()?)
    }

    /// Creates a mirror with status `none`. When it is enabled and the project already has
    /// `max_enabled` enabled mirrors, nothing is written and `None` comes back.
    ///
    /// The count and the insert are one statement; on PostgreSQL the project's row is locked
    /// first, so concurrent requests for one project are serialised (SQLite serialises writers).
    pub async fn create_mirror(
        &self,
        project_id: i64,
        m: &MirrorSettings,
        remote_name: &str,
        max_enabled: i64,
        now: Millis,
    ) -> Result<Option<RemoteMirror>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let n = SETTING_COLUMNS.len();
            format!(
                "insert into remote_mirrors (project_id, {}, created_at, updated_at, remote_name) \
                 select $1, {}, ${t}, ${t}, ${name} \
                 where ${e} = 0 or (select count(*) from remote_mirrors \
                                    where project_id = $1 and enabled = 1) < ${max} returning id",
                SETTING_COLUMNS.join(", "),
                setting_placeholders(2),
                t = n + 2,
                e = n + 3,
                max = n + 4,
                name = n + 5,
            )
        });
        let mut tx = self.transaction().await?;
        tx.lock_project(project_id).await?;
        let q = sqlx::query(&SQL).bind(project_id);
        let row = bind_settings(q, m)
            .bind(now)
            .bind(flag(m.enabled))
            .bind(max_enabled)
            .bind(remote_name)
            .fetch_optional(&mut *tx.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        tx.commit().await?;
        self.mirror_by_id(id)
            .await?
            .map(Some)
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Writes a mirror's settings. With `reset_status` (the URL or its credentials changed) the
    /// status starts over: `none`, no timestamps, no error, no retry count, and the recorded
    /// remote state is forgotten so the next update talks to the remote with the new
    /// credentials. A pending update stays pending: it now goes to the new URL. When the change
    /// enables the mirror and the project already has `max_enabled` other enabled mirrors,
    /// nothing is written and `None` comes back (atomically, as in [`Store::create_mirror`]).
    pub async fn update_mirror(
        &self,
        id: i64,
        project_id: i64,
        m: &MirrorSettings,
        reset_status: bool,
        max_enabled: i64,
        now: Millis,
    ) -> Result<Option<RemoteMirror>, StoreError> {
        static SQL: LazyLock<[String; 2]> = LazyLock::new(|| {
            let n = SETTING_COLUMNS.len();
            [false, true].map(|reset| {
                let reset = if reset {
                    format!(
                        ", update_status = '{}', last_update_at = null, \
                         last_update_started_at = null, last_successful_update_at = null, \
                         last_error = null, retry_count = 0, error_notification_sent = 0",
                        UpdateStatus::None.as_str()
                    )
                } else {
                    String::new()
                };
                format!(
                    "update remote_mirrors set {}, updated_at = ${t} {reset} where id = ${id} \
                     and (${e} = 0 or enabled = 1 or (select count(*) from remote_mirrors other \
                          where other.project_id = ${p} and other.enabled = 1 \
                          and other.id <> ${id}) < ${max})",
                    setting_assignments(1),
                    t = n + 1,
                    id = n + 2,
                    e = n + 3,
                    p = n + 4,
                    max = n + 5,
                )
            })
        });
        let mut tx = self.transaction().await?;
        tx.lock_project(project_id).await?;
        let done = bind_settings(sqlx::query(&SQL[usize::from(reset_status)]), m)
            .bind(now)
            .bind(id)
            .bind(flag(m.enabled))
            .bind(project_id)
            .bind(max_enabled)
            .execute(&mut *tx.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if reset_status {
            // The new remote has nothing the old one confirmed.
            for table in ["mirror_remote_states", "mirror_lfs_objects"] {
                sqlx::query(&format!("delete from {table} where mirror_id = $1"))
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.mirror_by_id(id)
            .await?
            .map(Some)
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Deletes a mirror and its credentials; true when it existed.
    pub async fn delete_mirror(&self, project_id: i64, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from remote_mirrors where project_id = $1 and id = $2")
            .bind(project_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Per project with mirrors: `(project id, mirrors, failing ones)` (the admin page's
    /// projects table; one grouped scan of `remote_mirrors`).
    pub async fn mirror_counts(&self) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "select project_id, count(*) as mirrors, \
             coalesce(sum(case when update_status = 'failed' then 1 else 0 end), 0) as failing \
             from remote_mirrors group by project_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("project_id")?,
                    r.try_get("mirrors")?,
                    r.try_get("failing")?,
                ))
            })
            .collect()
    }
}

/// The dedup key of a mirror's update job (`mirror:<id>`): one pending update per mirror. The
/// `mirror_update` kind (`service::mirrors::MirrorUpdate`) keys its jobs with it, and the
/// store's mirror queries join pending updates by it ([`mirror_job_key_sql`]).
pub fn mirror_job_key(mirror_id: i64) -> String {
    format!("mirror:{mirror_id}")
}

/// [`mirror_job_key`] as an SQL expression over a mirror's id column `id`.
pub(super) fn mirror_job_key_sql(id: &str) -> String {
    format!("'mirror:' || {id}")
}

impl Tx {
    /// Prepares an update of every enabled mirror of a project that pushes update (after a
    /// push; `sync_on_commit`), cutting retry countdowns short; returns those mirrors' ids with their project's storage, for the
    /// caller to enqueue their update jobs in this transaction.
    pub async fn reset_project_mirror_retries(
        &mut self,
        project_id: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        sqlx::query(
            "update remote_mirrors set retry_count = 0 \
             where project_id = $1 and enabled = 1 and sync_on_commit = 1",
        )
        .bind(project_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(sqlx::query_as(
            "select m.id, p.storage from remote_mirrors m join projects p on p.id = m.project_id \
             where m.project_id = $1 and m.enabled = 1 and m.sync_on_commit = 1 order by m.id",
        )
        .bind(project_id)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// Prepares an update of this mirror asked for now (a sync): when it is enabled, cuts a
    /// retry countdown in progress short (a person asked for it) and returns the storage of
    /// its project, which the update job carries; `None` for a disabled or missing mirror.
    /// The caller enqueues the job in the same transaction.
    pub async fn reset_mirror_retries(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        let done =
            sqlx::query("update remote_mirrors set retry_count = 0 where id = $1 and enabled = 1")
                .bind(id)
                .execute(&mut *self.tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(sqlx::query_scalar(
            "select p.storage from remote_mirrors m join projects p on p.id = m.project_id \
             where m.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// Locks a project's row until the transaction ends (PostgreSQL), serialising writes that
    /// must see each other (the enabled-mirror limit). SQLite serialises every writer already.
    pub async fn lock_project(&mut self, project_id: i64) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("select id from projects where id = $1 for update")
                .bind(project_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        }
        Ok(())
    }
}
