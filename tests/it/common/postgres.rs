//! Fresh PostgreSQL databases for tests, on the server at [`POSTGRES_ADMIN_URL`]: one per test,
//! dropped with its handle. A missing PostgreSQL skips the test with a printed reason, except
//! under `CI=true`, where it fails it.

use std::time::Duration;

/// The PostgreSQL server integration tests use when it is there.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A uniquely named PostgreSQL database, dropped (best effort) with its handle.
pub struct PostgresDb {
    name: String,
    /// Its URL, for `--database-url`.
    pub url: String,
}

impl PostgresDb {
    /// A fresh database, or `None` (with the reason printed) when PostgreSQL is unreachable and
    /// `CI` is not `true`; under `CI=true` a missing PostgreSQL fails the test instead.
    pub async fn create_or_skip() -> Option<PostgresDb> {
        match Self::create().await {
            Ok(db) => Some(db),
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "PostgreSQL is required under CI=true but {POSTGRES_ADMIN_URL} failed: {e}"
                    );
                }
                eprintln!("skipping PostgreSQL test: {POSTGRES_ADMIN_URL} is unreachable: {e}");
                None
            }
        }
    }

    async fn create() -> Result<PostgresDb, sqlx::Error> {
        use sqlx::Connection;
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::PgConnection::connect(POSTGRES_ADMIN_URL),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
        let name = format!(
            "pushmirror_test_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        Ok(PostgresDb {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        })
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block; a thread with its own runtime can.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await.ok()?;
                sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}
