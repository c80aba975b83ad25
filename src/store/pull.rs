//! Imports (`project_imports`) and pull mirrors (`pull_mirrors`): their rows, and the
//! conditional writes that keep their states honest. An import's outcome is written only while
//! it is `started` (a cancel wins over a run that ends after it); a pull mirror's only while it
//! is `started` by the run that writes it. The upstream's columns are the same in both tables
//! ([`UPSTREAM_COLUMNS`]).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{flag, Store, StoreError, Tx};
use crate::model::entities::{AuthMethod, Millis};
use crate::model::pull::{ImportStatus, ProjectImport, PullMirror, PullSettings, Upstream};
use crate::model::status::UpdateStatus;

/// An upstream's columns, in the order [`bind_upstream`] binds them.
const UPSTREAM_COLUMNS: &str = "url, has_user, user_is_git, has_password, credentials, \
    auth_method, ssh_public_key, ssh_known_hosts";

const IMPORT_COLUMNS: &str = "project_id, url, has_user, user_is_git, has_password, \
    credentials, auth_method, ssh_public_key, ssh_known_hosts, status, error, correlation_id, \
    created_at, started_at, finished_at, refs_imported, lfs_objects";

const PULL_COLUMNS: &str = "m.id, m.project_id, m.url, m.has_user, m.user_is_git, \
    m.has_password, m.credentials, m.auth_method, m.ssh_public_key, m.ssh_known_hosts, \
    m.enabled, m.only_protected_branches, m.overwrite_diverged, m.mirror_branch_regex, \
    m.trigger_builds, m.interval_secs, m.update_status, m.last_update_at, \
    m.last_update_started_at, m.last_successful_update_at, m.last_error, m.failures, m.paused, \
    m.diverged_refs, m.next_sync_at, m.created_at, m.updated_at";

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_upstream<'q>(q: Query<'q>, u: &'q Upstream) -> Query<'q> {
    q.bind(u.url.as_str())
        .bind(flag(u.has_user))
        .bind(flag(u.user_is_git))
        .bind(flag(u.has_password))
        .bind(u.credentials.as_deref())
        .bind(u.auth_method.as_str())
        .bind(u.ssh_public_key.as_deref())
        .bind(u.ssh_known_hosts.as_deref())
}

fn upstream_from_row(r: &AnyRow) -> Result<Upstream, sqlx::Error> {
    let auth: String = r.try_get("auth_method")?;
    Ok(Upstream {
        url: r.try_get("url")?,
        has_user: r.try_get::<i64, _>("has_user")? != 0,
        user_is_git: r.try_get::<i64, _>("user_is_git")? != 0,
        has_password: r.try_get::<i64, _>("has_password")? != 0,
        credentials: r.try_get("credentials")?,
        auth_method: AuthMethod::parse(&auth).unwrap_or_default(),
        ssh_public_key: r.try_get("ssh_public_key")?,
        ssh_known_hosts: r.try_get("ssh_known_hosts")?,
    })
}

fn import_from_row(r: &AnyRow) -> Result<ProjectImport, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(ProjectImport {
        project_id: r.try_get("project_id")?,
        upstream: upstream_from_row(r)?,
        status: ImportStatus::parse(&status),
        error: r.try_get("error")?,
        correlation_id: r.try_get("correlation_id")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        refs_imported: r.try_get("refs_imported")?,
        lfs_objects: r.try_get("lfs_objects")?,
    })
}

fn pull_from_row(r: &AnyRow) -> Result<PullMirror, sqlx::Error> {
    let status: String = r.try_get("update_status")?;
    let diverged: Option<String> = r.try_get("diverged_refs")?;
    Ok(PullMirror {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        upstream: upstream_from_row(r)?,
        settings: PullSettings {
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            only_protected_branches: r.try_get::<i64, _>("only_protected_branches")? != 0,
            overwrite_diverged: r.try_get::<i64, _>("overwrite_diverged")? != 0,
            mirror_branch_regex: r.try_get("mirror_branch_regex")?,
            trigger_builds: r.try_get::<i64, _>("trigger_builds")? != 0,
            interval_secs: r.try_get("interval_secs")?,
        },
        update_status: UpdateStatus::parse(&status),
        last_update_at: r.try_get("last_update_at")?,
        last_update_started_at: r.try_get("last_update_started_at")?,
        last_successful_update_at: r.try_get("last_successful_update_at")?,
        last_error: r.try_get("last_error")?,
        failures: r.try_get("failures")?,
        paused: r.try_get::<i64, _>("paused")? != 0,
        diverged_refs: diverged
            .map(|d| d.lines().map(str::to_owned).collect())
            .unwrap_or_default(),
        next_sync_at: r.try_get("next_sync_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// How a pull mirror's sync ended, as its row keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    pub status: UpdateStatus,
    pub last_error: Option<String>,
    /// Whether it succeeded (`last_successful_update_at` moves).
    pub succeeded: bool,
    pub failures: i64,
    pub paused: bool,
    pub diverged_refs: Vec<String>,
    pub next_sync_at: Millis,
}

impl Store {
    /// The import of project `project_id`, if it was imported.
    pub async fn project_import(
        &self,
        project_id: i64,
    ) -> Result<Option<ProjectImport>, StoreError> {
        let row = sqlx::query(&format!(
            "select {IMPORT_COLUMNS} from project_imports where project_id = $1"
        ))
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(import_from_row).transpose()?)
    }

    /// What a push to project `project_id` must respect of imports and pull mirrors, in one
    /// read (every push asks): whether its import runs, and its pull mirror's settings.
    pub async fn pull_guard(
        &self,
        project_id: i64,
    ) -> Result<(bool, Option<PullSettings>), StoreError> {
        let row = sqlx::query(
            "select i.status, m.id as mirror_id, m.enabled, m.only_protected_branches, \
             m.overwrite_diverged, m.mirror_branch_regex, m.trigger_builds, m.interval_secs \
             from projects p left join project_imports i on i.project_id = p.id \
             left join pull_mirrors m on m.project_id = p.id where p.id = $1",
        )
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok((false, None));
        };
        let status: Option<String> = r.try_get("status")?;
        let importing = status.is_some_and(|s| ImportStatus::parse(&s).is_running());
        let mirror_id: Option<i64> = r.try_get("mirror_id")?;
        let settings = match mirror_id {
            None => None,
            Some(_) => Some(PullSettings {
                enabled: r.try_get::<i64, _>("enabled")? != 0,
                only_protected_branches: r.try_get::<i64, _>("only_protected_branches")? != 0,
                overwrite_diverged: r.try_get::<i64, _>("overwrite_diverged")? != 0,
                mirror_branch_regex: r.try_get("mirror_branch_regex")?,
                trigger_builds: r.try_get::<i64, _>("trigger_builds")? != 0,
                interval_secs: r.try_get("interval_secs")?,
            }),
        };
        Ok((importing, settings))
    }

    /// Marks an import `started` at `now`, unless it was canceled (or finished) meanwhile.
    pub async fn mark_import_started(
        &self,
        project_id: i64,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update project_imports set status = 'started', started_at = $2, error = null \
             where project_id = $1 and status in ('scheduled', 'started')",
        )
        .bind(project_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether the import is still wanted (not canceled, not ended another way).
    pub async fn import_running(&self, project_id: i64) -> Result<bool, StoreError> {
        let status: Option<String> =
            sqlx::query_scalar("select status from project_imports where project_id = $1")
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(status.is_some_and(|s| ImportStatus::parse(&s).is_running()))
    }

    /// Whether the import run `correlation_id` names is still wanted: running, and not replaced
    /// by a retry (which gives the import a new correlation id).
    pub async fn import_run_current(
        &self,
        project_id: i64,
        correlation_id: &str,
    ) -> Result<bool, StoreError> {
        let status: Option<String> = sqlx::query_scalar(
            "select status from project_imports where project_id = $1 and correlation_id = $2",
        )
        .bind(project_id)
        .bind(correlation_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(status.is_some_and(|s| ImportStatus::parse(&s).is_running()))
    }

    /// Cancels a running import at `now`; false when it was not running.
    pub async fn cancel_import(&self, project_id: i64, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update project_imports set status = 'canceled', finished_at = $2, \
             error = 'Import canceled' \
             where project_id = $1 and status in ('scheduled', 'started')",
        )
        .bind(project_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a pull mirror to `started` at `now`, not due again before `not_before` (the sweep
    /// leaves a running sync alone; its end sets the real next time, and a run that dies is run
    /// again by its job); false when it is gone or disabled.
    pub async fn mark_pull_started(
        &self,
        id: i64,
        now: Millis,
        not_before: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update pull_mirrors set update_status = 'started', last_update_started_at = $2, \
             next_sync_at = $3 where id = $1 and enabled = 1",
        )
        .bind(id)
        .bind(now)
        .bind(not_before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A project's pull mirror, if it has one.
    pub async fn pull_mirror(&self, project_id: i64) -> Result<Option<PullMirror>, StoreError> {
        let row = sqlx::query(&format!(
            "select {PULL_COLUMNS} from pull_mirrors m where m.project_id = $1"
        ))
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(pull_from_row).transpose()?)
    }

    /// A pull mirror by id.
    pub async fn pull_mirror_by_id(&self, id: i64) -> Result<Option<PullMirror>, StoreError> {
        let row = sqlx::query(&format!(
            "select {PULL_COLUMNS} from pull_mirrors m where m.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(pull_from_row).transpose()?)
    }

    /// Every pull mirror with its project's full path, for the dashboard: newest first, at most
    /// `limit`.
    pub async fn pull_mirrors_overview(
        &self,
        limit: i64,
    ) -> Result<Vec<(PullMirror, String)>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {PULL_COLUMNS}, \
             n.path || '/' || p.path as full_path \
             from pull_mirrors m join projects p on p.id = m.project_id \
             join namespaces n on n.id = p.namespace_id order by m.id desc limit $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((pull_from_row(r)?, r.try_get("full_path")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The enabled, unpaused pull mirrors due at `now` (with their project's storage), oldest
    /// due first, at most `limit`.
    pub async fn due_pull_mirrors(
        &self,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "select m.id, p.storage from pull_mirrors m join projects p on p.id = m.project_id \
             where m.enabled = 1 and m.paused = 0 and m.next_sync_at <= $1 \
             order by m.next_sync_at limit $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes a project's pull mirror (and its sealed credentials); false when it had none.
    pub async fn delete_pull_mirror(&self, project_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from pull_mirrors where project_id = $1")
            .bind(project_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Tx {
    /// Writes a new import row.
    pub async fn insert_import(&mut self, i: &ProjectImport) -> Result<(), StoreError> {
        let sql = format!(
            "insert into project_imports (project_id, {UPSTREAM_COLUMNS}, status, correlation_id, \
             created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let q = sqlx::query(&sql).bind(i.project_id);
        bind_upstream(q, &i.upstream)
            .bind(i.status.as_str())
            .bind(i.correlation_id.as_str())
            .bind(i.created_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Schedules an ended import again (a retry), with `upstream` when given; false when it is
    /// running or absent.
    pub async fn reschedule_import(
        &mut self,
        project_id: i64,
        correlation_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update project_imports set status = 'scheduled', error = null, started_at = null, \
             finished_at = null, correlation_id = $2 \
             where project_id = $1 and status in ('failed', 'canceled')",
        )
        .bind(project_id)
        .bind(correlation_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends the started import run `correlation_id` with `status` (finished or failed), unless
    /// it was canceled or retried meanwhile; false then.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_import(
        &mut self,
        project_id: i64,
        correlation_id: &str,
        status: ImportStatus,
        error: Option<&str>,
        refs: i64,
        lfs_objects: i64,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update project_imports set status = $2, error = $3, finished_at = $4, \
             refs_imported = $5, lfs_objects = $6 \
             where project_id = $1 and status = 'started' and correlation_id = $7",
        )
        .bind(project_id)
        .bind(status.as_str())
        .bind(error)
        .bind(now)
        .bind(refs)
        .bind(lfs_objects)
        .bind(correlation_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates or replaces project `project_id`'s pull mirror. With `fresh` (a new mirror, or
    /// its URL or credentials changed) its status starts over; a re-enabled or resumed mirror
    /// is due at `now`.
    pub async fn save_pull_mirror(
        &mut self,
        project_id: i64,
        upstream: &Upstream,
        s: &PullSettings,
        fresh: bool,
        now: Millis,
    ) -> Result<i64, StoreError> {
        let existing: Option<i64> =
            sqlx::query_scalar("select id from pull_mirrors where project_id = $1")
                .bind(project_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        let id = match existing {
            None => {
                let sql = format!(
                    "insert into pull_mirrors (project_id, {UPSTREAM_COLUMNS}, created_at, \
                     updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) returning id"
                );
                let q = sqlx::query_scalar(&sql).bind(project_id);
                let q = q
                    .bind(upstream.url.as_str())
                    .bind(flag(upstream.has_user))
                    .bind(flag(upstream.user_is_git))
                    .bind(flag(upstream.has_password))
                    .bind(upstream.credentials.as_deref())
                    .bind(upstream.auth_method.as_str())
                    .bind(upstream.ssh_public_key.as_deref())
                    .bind(upstream.ssh_known_hosts.as_deref())
                    .bind(now);
                q.fetch_one(&mut *self.tx).await?
            }
            Some(id) => {
                let q = sqlx::query(
                    "update pull_mirrors set url = $2, has_user = $3, user_is_git = $4, \
                     has_password = $5, credentials = $6, auth_method = $7, \
                     ssh_public_key = $8, ssh_known_hosts = $9, updated_at = $10 where id = $1",
                )
                .bind(id);
                bind_upstream(q, upstream)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await?;
                id
            }
        };
        sqlx::query(
            "update pull_mirrors set enabled = $2, only_protected_branches = $3, \
             overwrite_diverged = $4, mirror_branch_regex = $5, trigger_builds = $6, \
             interval_secs = $7 where id = $1",
        )
        .bind(id)
        .bind(flag(s.enabled))
        .bind(flag(s.only_protected_branches))
        .bind(flag(s.overwrite_diverged))
        .bind(s.mirror_branch_regex.as_deref())
        .bind(flag(s.trigger_builds))
        .bind(s.interval_secs)
        .execute(&mut *self.tx)
        .await?;
        if fresh {
            sqlx::query(
                "update pull_mirrors set update_status = 'none', last_update_at = null, \
                 last_update_started_at = null, last_successful_update_at = null, \
                 last_error = null, failures = 0, paused = 0, diverged_refs = null, \
                 next_sync_at = $2 where id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(id)
    }

    /// Resumes a pull mirror (a person asked for a sync, or enabled it): unpaused, its failure
    /// streak forgotten, due at `now`. Returns its project's storage; `None` when it is absent
    /// or disabled.
    pub async fn resume_pull_mirror(
        &mut self,
        id: i64,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let done = sqlx::query(
            "update pull_mirrors set paused = 0, failures = 0, next_sync_at = $2 \
             where id = $1 and enabled = 1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(sqlx::query_scalar(
            "select p.storage from pull_mirrors m join projects p on p.id = m.project_id \
             where m.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// Records how the sync of pull mirror `id` begun at `started_at` ended at `now`; false
    /// when that sync is no longer the mirror's (deleted, reset meanwhile, or another run
    /// started it again).
    pub async fn finish_pull(
        &mut self,
        id: i64,
        o: &PullOutcome,
        started_at: Millis,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let diverged = (!o.diverged_refs.is_empty()).then(|| o.diverged_refs.join("\n"));
        let done = sqlx::query(
            "update pull_mirrors set update_status = $2, last_error = $3, last_update_at = $4, \
             last_successful_update_at = case when $5 = 1 then $4 else last_successful_update_at end, \
             failures = $6, paused = $7, diverged_refs = $8, next_sync_at = $9 \
             where id = $1 and update_status = 'started' and last_update_started_at = $10",
        )
        .bind(id)
        .bind(o.status.as_str())
        .bind(o.last_error.as_deref())
        .bind(now)
        .bind(flag(o.succeeded))
        .bind(o.failures)
        .bind(flag(o.paused))
        .bind(diverged)
        .bind(o.next_sync_at)
        .bind(started_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
