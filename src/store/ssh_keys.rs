//! SSH keys (`ssh_keys`): users' own keys and deploy keys in one table, so a fingerprint is
//! unique across both (GitLab's rule), and deploy keys' links to projects
//! (`deploy_keys_projects`, with `can_push` per project). The SSH server finds a key by the
//! SHA-256 fingerprint of the key its client proved it holds; a deploy key disabled in its last
//! project is deleted in the same transaction, as GitLab does.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{conflict, flag, Store, StoreError};
use crate::model::entities::Millis;
use crate::model::ssh_keys::{DeployKeyLink, KeyKind, SshKey, UsageType};

const COLUMNS: &str = "k.id, k.kind, k.user_id, k.title, k.key, k.fingerprint_md5, \
    k.fingerprint_sha256, k.usage_type, k.created_at, k.expires_at, k.last_used_at";

/// A key to add.
#[derive(Debug, Clone)]
pub struct NewSshKey<'a> {
    pub kind: KeyKind,
    pub user_id: Option<i64>,
    pub title: &'a str,
    /// The normalised OpenSSH line.
    pub key: &'a str,
    pub fingerprint_md5: &'a str,
    pub fingerprint_sha256: &'a str,
    pub usage_type: UsageType,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

/// Whether a write was refused because the key exists already (under any kind or owner).
pub fn is_key_taken(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(name) if name.contains("fingerprint"))
}

fn key_from_row(r: &AnyRow) -> Result<SshKey, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let usage: String = r.try_get("usage_type")?;
    Ok(SshKey {
        id: r.try_get("id")?,
        kind: KeyKind::parse(&kind).unwrap_or(KeyKind::User),
        user_id: r.try_get("user_id")?,
        title: r.try_get("title")?,
        key: r.try_get("key")?,
        fingerprint_md5: r.try_get("fingerprint_md5")?,
        fingerprint_sha256: r.try_get("fingerprint_sha256")?,
        usage_type: UsageType::parse(&usage).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

fn link_from_row(r: &AnyRow) -> Result<DeployKeyLink, sqlx::Error> {
    Ok(DeployKeyLink {
        key: key_from_row(r)?,
        project_id: r.try_get("project_id")?,
        can_push: r.try_get::<i64, _>("can_push")? != 0,
    })
}

impl Store {
    /// Adds a key; [`is_key_taken`] tells a duplicate apart.
    pub async fn create_ssh_key(&self, new: &NewSshKey<'_>) -> Result<SshKey, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "insert into ssh_keys (kind, user_id, title, key, fingerprint_md5, \
             fingerprint_sha256, usage_type, created_at, expires_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id",
        )
        .bind(new.kind.as_str())
        .bind(new.user_id)
        .bind(new.title)
        .bind(new.key)
        .bind(new.fingerprint_md5)
        .bind(new.fingerprint_sha256)
        .bind(new.usage_type.as_str())
        .bind(new.created_at)
        .bind(new.expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(conflict)?;
        self.ssh_key(id)
            .await?
            .ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// A key by id, of either kind.
    pub async fn ssh_key(&self, id: i64) -> Result<Option<SshKey>, StoreError> {
        let row = sqlx::query(&format!("select {COLUMNS} from ssh_keys k where k.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    /// A key by its `SHA256:…` or MD5 (`aa:bb:…`, optionally `MD5:`-prefixed) fingerprint.
    pub async fn ssh_key_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<SshKey>, StoreError> {
        let (column, value) = match fingerprint.strip_prefix("MD5:") {
            Some(md5) => ("fingerprint_md5", md5),
            None if fingerprint.starts_with("SHA256:") => ("fingerprint_sha256", fingerprint),
            None => ("fingerprint_md5", fingerprint),
        };
        let row = sqlx::query(&format!(
            "select {COLUMNS} from ssh_keys k where k.{column} = $1 order by k.id limit 1"
        ))
        .bind(value)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    /// A user's own keys, oldest first.
    pub async fn user_ssh_keys(&self, user_id: i64) -> Result<Vec<SshKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from ssh_keys k where k.user_id = $1 and k.kind = 'user' \
             order by k.id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes a user's own key; whether it existed.
    pub async fn delete_user_ssh_key(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("delete from ssh_keys where id = $1 and user_id = $2 and kind = 'user'")
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Notes that a key let someone in at `now`.
    pub async fn record_ssh_key_use(&self, id: i64, now: Millis) -> Result<(), StoreError> {
        sqlx::query("update ssh_keys set last_used_at = $1 where id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The deploy keys enabled in a project, in the order they were enabled.
    pub async fn project_deploy_keys(
        &self,
        project_id: i64,
    ) -> Result<Vec<DeployKeyLink>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS}, l.project_id, l.can_push from deploy_keys_projects l \
             join ssh_keys k on k.id = l.deploy_key_id where l.project_id = $1 order by l.id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(link_from_row).collect::<Result<_, _>>()?)
    }

    /// Deploy key `key_id` as enabled in `project_id`, if it is.
    pub async fn project_deploy_key(
        &self,
        project_id: i64,
        key_id: i64,
    ) -> Result<Option<DeployKeyLink>, StoreError> {
        let row = sqlx::query(&format!(
            "select {COLUMNS}, l.project_id, l.can_push from deploy_keys_projects l \
             join ssh_keys k on k.id = l.deploy_key_id \
             where l.project_id = $1 and l.deploy_key_id = $2"
        ))
        .bind(project_id)
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(link_from_row).transpose()?)
    }

    /// Every project a deploy key is enabled in (project id, `can_push`), by project id.
    pub async fn deploy_key_projects(&self, key_id: i64) -> Result<Vec<(i64, bool)>, StoreError> {
        let rows = sqlx::query(
            "select project_id, can_push from deploy_keys_projects where deploy_key_id = $1 \
             order by project_id",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("project_id")?,
                    r.try_get::<i64, _>("can_push")? != 0,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every deploy key, by id (the admin listing).
    pub async fn deploy_keys(&self) -> Result<Vec<SshKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from ssh_keys k where k.kind = 'deploy' order by k.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    /// The deploy keys enabled in any of `projects` (every deploy key for `None`) but not in
    /// `except`, by id: those a person may enable in `except` from the projects they maintain.
    pub async fn deploy_keys_to_enable(
        &self,
        projects: Option<&[i64]>,
        except: i64,
    ) -> Result<Vec<SshKey>, StoreError> {
        let within = match projects {
            Some([]) => return Ok(Vec::new()),
            // The ids are numbers, bound one placeholder each after `except`'s.
            Some(ids) => {
                let marks: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
                format!(
                    "and exists (select 1 from deploy_keys_projects l \
                     where l.deploy_key_id = k.id and l.project_id in ({}))",
                    marks.join(", ")
                )
            }
            None => String::new(),
        };
        let sql = format!(
            "select {COLUMNS} from ssh_keys k where k.kind = 'deploy' {within} and not exists \
             (select 1 from deploy_keys_projects m where m.deploy_key_id = k.id \
             and m.project_id = $1) order by k.id"
        );
        let mut query = sqlx::query(&sql).bind(except);
        for id in projects.unwrap_or_default() {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    /// Enables deploy key `key_id` in `project_id` (an existing link keeps its `can_push`);
    /// whether the link is new.
    pub async fn enable_deploy_key(
        &self,
        project_id: i64,
        key_id: i64,
        can_push: bool,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "insert into deploy_keys_projects (deploy_key_id, project_id, can_push, created_at) \
             values ($1, $2, $3, $4) on conflict (deploy_key_id, project_id) do nothing",
        )
        .bind(key_id)
        .bind(project_id)
        .bind(flag(can_push))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds a new deploy key and enables it in `project_id`, in one transaction.
    pub async fn create_deploy_key(
        &self,
        new: &NewSshKey<'_>,
        project_id: i64,
        can_push: bool,
    ) -> Result<DeployKeyLink, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "insert into ssh_keys (kind, user_id, title, key, fingerprint_md5, \
             fingerprint_sha256, usage_type, created_at, expires_at) \
             values ('deploy', $1, $2, $3, $4, $5, $6, $7, $8) returning id",
        )
        .bind(new.user_id)
        .bind(new.title)
        .bind(new.key)
        .bind(new.fingerprint_md5)
        .bind(new.fingerprint_sha256)
        .bind(new.usage_type.as_str())
        .bind(new.created_at)
        .bind(new.expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict)?;
        sqlx::query(
            "insert into deploy_keys_projects (deploy_key_id, project_id, can_push, created_at) \
             values ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(project_id)
        .bind(flag(can_push))
        .bind(new.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.project_deploy_key(project_id, id)
            .await?
            .ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Changes a deploy key's title (every project sees it) and its `can_push` in `project_id`.
    pub async fn update_deploy_key(
        &self,
        project_id: i64,
        key_id: i64,
        title: Option<&str>,
        can_push: Option<bool>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(title) = title {
            sqlx::query("update ssh_keys set title = $1 where id = $2 and kind = 'deploy'")
                .bind(title)
                .bind(key_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(can_push) = can_push {
            sqlx::query(
                "update deploy_keys_projects set can_push = $1 \
                 where deploy_key_id = $2 and project_id = $3",
            )
            .bind(flag(can_push))
            .bind(key_id)
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Disables deploy key `key_id` in `project_id`, deleting the key when no project uses it
    /// any more; whether it was enabled there.
    pub async fn disable_deploy_key(
        &self,
        project_id: i64,
        key_id: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "delete from deploy_keys_projects where deploy_key_id = $1 and project_id = $2",
        )
        .bind(key_id)
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "delete from ssh_keys where id = $1 and kind = 'deploy' and not exists \
             (select 1 from deploy_keys_projects where deploy_key_id = $1)",
        )
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
