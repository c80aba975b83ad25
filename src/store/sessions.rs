//! Web sessions (`web_sessions`): created at sign-in, found by the hash of the cookie's value
//! together with their user, ended at sign-out; expired rows are never found and are swept.

use sqlx::Row;

use super::users::{user_from_row, USER_COLUMNS};
use super::{Store, StoreError};
use crate::model::entities::{Millis, User};

/// A user as signing in needs them: the account and its password hash, if it has one.
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

impl Store {
    /// The user whose username or e-mail address is `login`, regardless of case.
    pub async fn credentials_by_login(
        &self,
        login: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(&format!(
            "select {USER_COLUMNS}, u.password_hash from users u \
             where lower(u.username) = lower($1) or lower(u.email) = lower($1) \
             order by case when lower(u.username) = lower($1) then 0 else 1 end limit 1"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Credentials {
                user: user_from_row(&r, "")?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
    }

    /// Starts a session for `user_id`, found later by `token_hash`, until `expires_at`.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("delete from web_sessions where expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into web_sessions (token_hash, user_id, created_at, expires_at) \
             values ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user of the unexpired session `token_hash`, if any.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "select {USER_COLUMNS} from web_sessions s join users u on u.id = s.user_id \
             where s.token_hash = $1 and s.expires_at > $2"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| user_from_row(&r, "")).transpose()?)
    }

    /// Ends session `token_hash` (nothing happens when there is none).
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("delete from web_sessions where token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of user `user_id` (a new password, a block).
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query("delete from web_sessions where user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
