//! Users, their personal namespaces and their access tokens (kept only as SHA-256 hashes).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{conflict, flag, Store, StoreError};
use crate::model::accounts::UserState;
use crate::model::entities::{Millis, User};
use crate::model::tokens::{format_scopes, parse_scopes, AccessToken, Scope};

pub(super) const USER_COLUMNS: &str =
    "u.id, u.username, u.name, u.email, u.is_admin, u.state, u.created_at";
const TOKEN_COLUMNS: &str = "t.id as token_id, t.user_id as token_user_id, t.name as token_name, \
    t.scopes, t.created_at as token_created_at, t.expires_at, t.revoked, t.last_used_at";

fn token_from_row(r: &AnyRow) -> Result<AccessToken, sqlx::Error> {
    let scopes: String = r.try_get("scopes")?;
    Ok(AccessToken {
        id: r.try_get("token_id")?,
        user_id: r.try_get("token_user_id")?,
        name: r.try_get("token_name")?,
        scopes: parse_scopes(&scopes),
        created_at: r.try_get("token_created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked: r.try_get::<i64, _>("revoked")? != 0,
        last_used_at: r.try_get("last_used_at")?,
    })
}

pub(super) fn user_from_row(row: &AnyRow, prefix: &str) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get(format!("{prefix}id").as_str())?,
        username: row.try_get(format!("{prefix}username").as_str())?,
        name: row.try_get(format!("{prefix}name").as_str())?,
        email: row.try_get(format!("{prefix}email").as_str())?,
        is_admin: row.try_get::<i64, _>(format!("{prefix}is_admin").as_str())? != 0,
        state: UserState::parse(&row.try_get::<String, _>(format!("{prefix}state").as_str())?),
        created_at: row.try_get(format!("{prefix}created_at").as_str())?,
    })
}

impl Store {
    /// Returns the user named exactly `username`, creating it (with its namespace) when missing.
    /// An existing user is promoted to admin when `admin` is set; it is never demoted here. A
    /// name that differs only in case from an existing user's (or namespace's) is refused.
    pub async fn ensure_user(
        &self,
        username: &str,
        admin: bool,
        now: Millis,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin().await?;
        let existing = sqlx::query(&format!(
            "select {USER_COLUMNS} from users u where lower(u.username) = lower($1)"
        ))
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let taken: Option<String> = sqlx::query_scalar(
            "select path from namespaces where lower(path) = lower($1) and path <> $1",
        )
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let existing_name = existing
            .as_ref()
            .map(|row| row.try_get::<String, _>("username"))
            .transpose()?;
        if let Some(other) = existing_name.filter(|n| n != username).or(taken) {
            return Err(StoreError::UsernameTaken {
                requested: username.to_owned(),
                existing: other,
            });
        }
        let id: i64 = match existing {
            Some(row) => {
                let user = user_from_row(&row, "")?;
                if admin && !user.is_admin {
                    sqlx::query("update users set is_admin = 1 where id = $1")
                        .bind(user.id)
                        .execute(&mut *tx)
                        .await?;
                }
                user.id
            }
            None => {
                let id: i64 = sqlx::query_scalar(
                    "insert into users (username, name, is_admin, created_at) \
                     values ($1, $2, $3, $4) returning id",
                )
                .bind(username)
                .bind(username)
                .bind(flag(admin))
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(conflict)?;
                sqlx::query(
                    "insert into namespaces (path, name, kind, owner_id) values ($1, $2, 'user', $3)",
                )
                .bind(username)
                .bind(username)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(conflict)?;
                id
            }
        };
        tx.commit().await?;
        self.user_by_id(id)
            .await?
            .ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Stores a token hash for `user_id` with full API access and no expiry (the CLI's token).
    pub async fn insert_token(
        &self,
        user_id: i64,
        token_hash: &str,
        name: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.create_token(user_id, token_hash, name, &[Scope::Api], None, now)
            .await
            .map(drop)
    }

    /// Stores a token hash for `user_id`.
    pub async fn create_token(
        &self,
        user_id: i64,
        token_hash: &str,
        name: &str,
        scopes: &[Scope],
        expires_at: Option<&str>,
        now: Millis,
    ) -> Result<AccessToken, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "insert into personal_access_tokens (user_id, token_hash, name, scopes, expires_at, \
             created_at) values ($1, $2, $3, $4, $5, $6) returning id",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(name)
        .bind(format_scopes(scopes))
        .bind(expires_at)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(conflict)?;
        self.token_by_id(id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// The user owning the token with this hash, and the token's record.
    pub async fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(User, AccessToken)>, StoreError> {
        let row = sqlx::query(&format!(
            "select {USER_COLUMNS}, {TOKEN_COLUMNS} from personal_access_tokens t \
             join users u on u.id = t.user_id where t.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<_, sqlx::Error> {
                Ok((user_from_row(&r, "")?, token_from_row(&r)?))
            })
            .transpose()?)
    }

    /// A token's record by id.
    pub async fn token_by_id(&self, id: i64) -> Result<Option<AccessToken>, StoreError> {
        let row = sqlx::query(&format!(
            "select {TOKEN_COLUMNS} from personal_access_tokens t where t.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_from_row).transpose()?)
    }

    /// Every token of `user_id` (of everyone with `None`), by id.
    pub async fn tokens(&self, user_id: Option<i64>) -> Result<Vec<AccessToken>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {TOKEN_COLUMNS} from personal_access_tokens t \
             where $1 < 0 or t.user_id = $1 order by t.id"
        ))
        .bind(user_id.unwrap_or(-1))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }

    /// Revokes a token; true when it was active.
    pub async fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update personal_access_tokens set revoked = 1 where id = $1 and revoked = 0",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces token `id` by a new one (same user, name and scopes; `new_hash`, expiring on
    /// `expires_at`) in one transaction: the old one is revoked. `None` when `id` was not active.
    pub async fn rotate_token(
        &self,
        id: i64,
        new_hash: &str,
        expires_at: Option<&str>,
        now: Millis,
    ) -> Result<Option<AccessToken>, StoreError> {
        let mut tx = self.transaction().await?;
        let done = sqlx::query(
            "update personal_access_tokens set revoked = 1 where id = $1 and revoked = 0",
        )
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let new_id: i64 = sqlx::query_scalar(
            "insert into personal_access_tokens (user_id, token_hash, name, scopes, expires_at, \
             created_at) select user_id, $1, name, scopes, $2, $3 from personal_access_tokens \
             where id = $4 returning id",
        )
        .bind(new_hash)
        .bind(expires_at)
        .bind(now)
        .bind(id)
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(conflict)?;
        tx.commit().await?;
        self.token_by_id(new_id).await
    }

    /// Records that token `id` was used at `now`, unless it was within the last `every` ms
    /// (a write per request would cost more than the information is worth, as in GitLab).
    pub async fn touch_token(&self, id: i64, now: Millis, every: Millis) -> Result<(), StoreError> {
        sqlx::query(
            "update personal_access_tokens set last_used_at = $1 \
             where id = $2 and (last_used_at is null or last_used_at < $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now - every)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "select {USER_COLUMNS} from users u where u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| user_from_row(&r, "")).transpose()?)
    }

    /// Users matching `filter`, by id.
    pub async fn users(&self, filter: &UserFilter) -> Result<Vec<User>, StoreError> {
        let mut sql = format!("select {USER_COLUMNS} from users u where 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(name) = &filter.username {
            binds.push(name.clone());
            sql.push_str(&format!(" and lower(u.username) = lower(${})", binds.len()));
        }
        if let Some(search) = &filter.search {
            // GitLab matches the username, the name and (exactly) the e-mail address.
            let pattern = super::like_pattern(search);
            binds.push(pattern);
            let n = binds.len();
            binds.push(search.to_lowercase());
            let m = binds.len();
            sql.push_str(&format!(
                " and (lower(u.username) like ${n} escape '\\' or lower(u.name) like ${n} escape '\\' \
                 or lower(u.email) = ${m})"
            ));
        }
        if let Some(state) = filter.state {
            binds.push(state.as_str().to_owned());
            sql.push_str(&format!(" and u.state = ${}", binds.len()));
        }
        if filter.admins {
            sql.push_str(" and u.is_admin = 1");
        }
        sql.push_str(" order by u.id");
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| user_from_row(r, ""))
            .collect::<Result<_, _>>()?)
    }

    /// Creates a user with its personal namespace, in one transaction. A username or e-mail
    /// address taken regardless of case (a username also by a group's path) is
    /// [`StoreError::Conflict`] naming `username` or `email`.
    pub async fn create_user(&self, a: &NewAccount, now: Millis) -> Result<User, StoreError> {
        let mut tx = self.begin().await?;
        let taken: Option<String> =
            sqlx::query_scalar("select path from namespaces where lower(path) = lower($1)")
                .bind(&a.username)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict("username".into()));
        }
        let id: i64 = sqlx::query_scalar(
            "insert into users (username, name, email, is_admin, password_hash, created_at) \
             values ($1, $2, $3, $4, $5, $6) returning id",
        )
        .bind(&a.username)
        .bind(&a.name)
        .bind(&a.email)
        .bind(flag(a.admin))
        .bind(&a.password_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(account_conflict)?;
        sqlx::query(
            "insert into namespaces (path, name, kind, owner_id) values ($1, $2, 'user', $3)",
        )
        .bind(&a.username)
        .bind(&a.name)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| match conflict(e) {
            StoreError::Conflict(_) => StoreError::Conflict("username".into()),
            other => other,
        })?;
        tx.commit().await?;
        self.user_by_id(id)
            .await?
            .ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Changes user `id` as `c` says (absent fields stay), renaming the personal namespace with
    /// the username, in one transaction. `Ok(None)` when there is no such user; conflicts as
    /// [`Store::create_user`].
    pub async fn update_user(
        &self,
        id: i64,
        c: &AccountUpdate,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("select id from users where id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        if let Some(username) = &c.username {
            let taken: Option<i64> = sqlx::query_scalar(
                "select id from namespaces where lower(path) = lower($1) \
                 and not (kind = 'user' and owner_id = $2)",
            )
            .bind(username)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict("username".into()));
            }
            sqlx::query("update users set username = $1 where id = $2")
                .bind(username)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(account_conflict)?;
            sqlx::query("update namespaces set path = $1 where kind = 'user' and owner_id = $2")
                .bind(username)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(account_conflict)?;
        }
        if let Some(name) = &c.name {
            sqlx::query("update users set name = $1 where id = $2")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("update namespaces set name = $1 where kind = 'user' and owner_id = $2")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(email) = &c.email {
            sqlx::query("update users set email = $1 where id = $2")
                .bind(email)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(account_conflict)?;
        }
        if let Some(hash) = &c.password_hash {
            sqlx::query("update users set password_hash = $1 where id = $2")
                .bind(hash)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(admin) = c.admin {
            sqlx::query("update users set is_admin = $1 where id = $2")
                .bind(flag(admin))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(state) = c.state {
            sqlx::query("update users set state = $1 where id = $2")
                .bind(state.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.user_by_id(id).await
    }

    /// Whether any other active administrator than `id` exists (the last one is never
    /// demoted or blocked).
    pub async fn other_active_admin(&self, id: i64) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from users where is_admin = 1 and state = 'active' and id <> $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}

/// Which users a listing wants (GitLab's `GET /users` filters).
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub username: Option<String>,
    pub search: Option<String>,
    pub state: Option<UserState>,
    pub admins: bool,
}

/// A user to create; the password is already hashed (or there is none).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub name: String,
    pub email: String,
    pub admin: bool,
    pub password_hash: Option<String>,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    pub username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub admin: Option<bool>,
    pub state: Option<UserState>,
}

/// A unique violation on users as the field it is about (`email` or `username`).
fn account_conflict(e: sqlx::Error) -> StoreError {
    match conflict(e) {
        StoreError::Conflict(name) if name.contains("email") => {
            StoreError::Conflict("email".into())
        }
        StoreError::Conflict(_) => StoreError::Conflict("username".into()),
        other => other,
    }
}
