//! Persistence: one [`Store`] over a SQLite file (the default, no setup) or PostgreSQL (several
//! nodes), through sqlx's `Any` driver so one query text serves both. Each backend has its own
//! numbered migrations under `migrations/<backend>/`, applied at start and never edited once landed.
//!
//! Invariant: every multi-row change runs in one transaction, so a failed request writes nothing.
//! Invariant: the store never sees a plain-text credential or token; it keeps sealed bytes and hashes.

mod dashboard;
mod hooks;
mod jobs;
mod lfs;
mod lfs_links;
mod lfs_locks;
mod members;
mod mirror_lfs;
mod mirror_status;
mod mirrors;
mod namespaces;
mod projects;
mod protected;
mod pull;
mod schedules;
mod sessions;
mod ssh_keys;
mod users;

pub use dashboard::DashboardMirror;
pub use hooks::{LogStatus, NewHookLog};
pub use jobs::{ClaimedJob, JobWakeups, NewJob, QueueDepth, QueueStats, NOTIFY_CHANNEL};
pub use lfs::LinkedObject;
pub use lfs_locks::{LockFilter, LockTaken, NewLfsLock};
pub use members::MemberSource;
pub use mirror_lfs::MirrorLfsState;
pub use mirror_status::{RemoteRefChanges, RemoteStateHeader};
pub use mirrors::mirror_job_key;
pub use namespaces::{GroupChanges, GroupFilter, GroupForViewer, GroupOrder, GroupScope, NewGroup};
pub use projects::{NewProject, ProjectFilter, ProjectOrder, TRANSFER_TAKEN};
pub use protected::{AccessAction, NewAccess, NewProtection, ProtectionChanges};
pub use pull::PullOutcome;
pub use schedules::{ClaimedSchedule, NewSchedule};
pub use sessions::Credentials;
pub use ssh_keys::{is_key_taken, NewSshKey};
pub use users::{AccountUpdate, NewAccount, UserFilter};

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Executor};

/// Migrations for the embedded SQLite store.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
/// Migrations for PostgreSQL.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Connections in the pool. SQLite serialises writers anyway; PostgreSQL gets enough for the
/// HTTP handlers and the engine's workers to proceed without queueing on a 2-core machine.
const MAX_CONNECTIONS: u32 = 16;
/// How long a SQLite writer waits for another writer (a concurrent `token create`, say).
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; carries the constraint's name when known.
    #[error("conflict on {0}")]
    Conflict(String),
    /// A new user's name differs only in case from an existing one's.
    #[error("the username '{requested}' is taken: usernames are unique regardless of case, and '{existing}' exists")]
    UsernameTaken { requested: String, existing: String },
    /// The database holds migrations this binary does not know: it was written by a newer pushmirror.
    #[error("the database at {0} was written by a newer pushmirror (it has migration {1} that this binary does not know); upgrade pushmirror or point it at another database")]
    TooNew(String, i64),
    #[error("cannot open the database at {0}: {1}")]
    Open(String, String),
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The pushmirror store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// The database's URL (it may hold a password), for the connections outside the pool:
    /// PostgreSQL's NOTIFY listener ([`Store::job_wakeups`]).
    url: secrecy::SecretString,
}

/// Which database a [`Store`] talks to, for the few queries whose best form differs (JSON
/// aggregation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Sqlite = 0,
    Postgres = 1,
}

/// Which page of a list to return (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub per_page: i64,
}

impl PageRequest {
    /// Rows to skip before this page (saturating: a huge page is past every row).
    pub fn offset(&self) -> i64 {
        (self.page.max(1) - 1).saturating_mul(self.per_page)
    }
}

/// Who looks at a list or a record: what decides which rows they see and their level in each.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// `None` for an anonymous caller.
    pub user_id: Option<i64>,
    pub is_admin: bool,
    /// Today (`YYYY-MM-DD`, UTC): memberships expired before it grant nothing.
    pub today: &'a str,
}

/// [`like_pattern`] of an optional search; `""` when there is nothing to search for (queries
/// test `$n = ''` to skip the condition).
fn search_pattern(search: Option<&str>) -> String {
    search
        .filter(|s| !s.is_empty())
        .map(like_pattern)
        .unwrap_or_default()
}

/// One page of a list plus the total number of rows.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, true).await
    }

    /// Opens the database without migrating it: it must already be at this binary's version
    /// (the server migrates it when it starts). For the short-lived processes OpenSSH runs per
    /// connection, which must never race a starting server over a migration.
    pub async fn open_migrated(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, false).await
    }

    async fn open_with(url: &str, migrate: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let redacted = redact_url(url);
        let opts = AnyConnectOptions::from_str(url)
            .map_err(|e| StoreError::Open(redacted.clone(), e.to_string()))?;
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 8 } else { MAX_CONNECTIONS })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if is_sqlite {
                        conn.execute(
                            format!(
                                "pragma busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                                 pragma foreign_keys = on; pragma synchronous = normal;"
                            )
                            .as_str(),
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Open(redacted.clone(), e.to_string()))?;
        if is_sqlite {
            // WAL lets `token create` and readers proceed while the server writes.
            pool.execute("pragma journal_mode = wal").await?;
        }
        let migrator = if is_sqlite {
            &SQLITE_MIGRATIONS
        } else {
            &POSTGRES_MIGRATIONS
        };
        if migrate {
            migrator.run(&pool).await.map_err(|e| match e {
                MigrateError::VersionMissing(v) => StoreError::TooNew(redacted.clone(), v),
                other => StoreError::Migrate(other.to_string()),
            })?;
        } else {
            let latest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
            let applied: Option<i64> =
                sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(None);
            match applied {
                Some(v) if v > latest => return Err(StoreError::TooNew(redacted, v)),
                Some(v) if v == latest => {}
                _ => {
                    return Err(StoreError::Migrate(format!(
                        "the database at {redacted} is not at this pushmirror's version yet \
                         (start `pushmirror serve` once to migrate it)"
                    )))
                }
            }
        }
        let dialect = if is_sqlite {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        };
        Ok(Store {
            pool,
            dialect,
            url: secrecy::SecretString::from(url.to_owned()),
        })
    }

    /// The underlying pool, for tests and the bench that look behind the API.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Asks the database for a trivial answer (the readiness check's `db_check`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Whether this store is PostgreSQL (whose NOTIFY wakes other nodes).
    pub fn is_postgres(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    /// Starts a transaction: what it writes lands together at [`Tx::commit`] or not at all.
    pub async fn transaction(&self) -> Result<Tx, StoreError> {
        Ok(Tx {
            tx: self.begin().await?,
            dialect: self.dialect,
        })
    }

    /// Begins a transaction that may write. On SQLite it takes the write lock at once (`begin
    /// immediate`): a transaction that read first and then writes cannot wait for the lock in
    /// WAL mode (SQLite answers "database is locked" at once rather than risk a stale read), so
    /// every transaction waits its turn up front, under the busy timeout.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("begin immediate").await,
            Dialect::Postgres => self.pool.begin().await,
        }
    }
}

/// A transaction on the store, for use cases that write several rows or tables at once.
/// Dropping it without [`Tx::commit`] rolls everything back.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
}

impl Tx {
    /// Makes every write of the transaction durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

/// Hides a password in a database URL before it reaches a message or a log.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("*****"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A case-insensitive `like` pattern matching `s` anywhere, with a backslash as the escape
/// character (use it with `like $n escape` and a backslash, against a `lower(...)` column).
fn like_pattern(s: &str) -> String {
    format!(
        "%{}%",
        s.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
fn conflict(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let name = db
                .constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned());
            return StoreError::Conflict(name);
        }
    }
    StoreError::Db(e)
}

fn flag(b: bool) -> i64 {
    b as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_database_passwords() {
        assert_eq!(
            super::redact_url("postgres://u:secret@127.0.0.1/db"),
            "postgres://u:*****@127.0.0.1/db"
        );
        assert_eq!(super::redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }
}
