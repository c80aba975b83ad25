//! `api`: the read endpoints GitLab clients poll, under concurrent load from an in-process load
//! generator (32 keep-alive connections for a fixed time), on SQLite and on PostgreSQL. The ratio
//! is against `GET /api/v4/version` on the same server in the same run: the cheapest
//! authenticated endpoint (token lookup plus a constant body), so the ratio shows what the
//! endpoint's own work costs on top of the HTTP stack and authentication.

use std::time::{Duration, Instant};

use crate::report::Row;
use crate::setup::{ms, percentile, BenchServer, POSTGRES_ADMIN_URL};
use crate::Sizes;

/// Concurrent connections of the load generator.
const CONNECTIONS: usize = 32;
/// Most requests one connection sends in a run, whatever the duration (a bound on the loop).
const MAX_REQUESTS_PER_CONN: usize = 1_000_000;
/// Mirrors of the listed project: more than one page of 20.
const MIRRORS: usize = 25;
/// The targets.
const TARGET_RPS: f64 = 5_000.0;
const TARGET_P99_MS: f64 = 10.0;

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    rows.extend(backend("sqlite", None, sizes).await);
    match PostgresDb::create().await {
        Ok(db) => {
            rows.extend(backend("postgres", Some(&db.url), sizes).await);
            db.drop_now().await;
        }
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("PostgreSQL is required under CI=true but {POSTGRES_ADMIN_URL} failed: {e}");
            }
            eprintln!("bench: api: skipping PostgreSQL: {POSTGRES_ADMIN_URL} is unreachable: {e}");
            rows.push(Row::note(
                "api",
                "postgres skipped: 127.0.0.1:5432 unreachable",
            ));
        }
    }
    rows
}

async fn backend(name: &'static str, url: Option<&str>, sizes: Sizes) -> Vec<Row> {
    let server = BenchServer::start(url, |e| e.api_only = true).await;
    let mut conn = server.conn().await;
    let project = server.project(&mut conn, "api").await;
    for i in 0..MIRRORS {
        // Disabled mirrors on a port nothing listens on: listed, never contacted.
        server
            .mirror(
                &mut conn,
                project,
                &format!("http://127.0.0.1:9/m{i}.git"),
                false,
            )
            .await;
    }
    let duration = Duration::from_secs_f64(sizes.api_secs);
    let version = load(&server, "/api/v4/version", duration).await;
    let mut rows = Vec::new();
    for (label, path) in [
        (
            "list mirrors (page of 20)",
            format!("/api/v4/projects/{project}/remote_mirrors?per_page=20"),
        ),
        ("get project", format!("/api/v4/projects/{project}")),
    ] {
        let r = load(&server, &path, duration).await;
        let p99 = ms(percentile(&r.latencies, 99.0));
        rows.push(
            Row::new(
                "api",
                format!("{name}: {label}"),
                format!(
                    "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                    r.rps,
                    ms(percentile(&r.latencies, 50.0)),
                    p99
                ),
            )
            .baseline(
                format!("/version {:.0} req/s", version.rps),
                r.rps / version.rps,
            )
            .target(
                format!("≥ {TARGET_RPS:.0} req/s, p99 ≤ {TARGET_P99_MS} ms"),
                r.rps >= TARGET_RPS && p99 <= TARGET_P99_MS,
            ),
        );
    }
    rows.push(Row::new(
        "api",
        format!("{name}: GET /version (the baseline)"),
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            version.rps,
            ms(percentile(&version.latencies, 50.0)),
            ms(percentile(&version.latencies, 99.0))
        ),
    ));
    server.stop().await;
    rows
}

struct Load {
    rps: f64,
    latencies: Vec<Duration>,
}

/// `CONNECTIONS` connections send `GET path` back to back for `duration`; every reply must be 200.
async fn load(server: &BenchServer, path: &str, duration: Duration) -> Load {
    let start = Instant::now();
    let until = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut conn = server.conn().await;
        let path = path.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while lat.len() < MAX_REQUESTS_PER_CONN {
                let t = Instant::now();
                if t >= until {
                    break;
                }
                let r = conn.request("GET", &path, None).await.expect("request");
                assert_eq!(
                    r.status,
                    200,
                    "{path}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("load task"));
    }
    let elapsed = start.elapsed();
    Load {
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        latencies,
    }
}

/// A uniquely named PostgreSQL database for one run, dropped afterwards (the `dashboard`
/// scenario uses it too).
pub(crate) struct PostgresDb {
    name: String,
    pub(crate) url: String,
}

impl PostgresDb {
    pub(crate) async fn create() -> Result<PostgresDb, String> {
        use sqlx::Connection as _;
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::PgConnection::connect(POSTGRES_ADMIN_URL),
        )
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        let name = format!(
            "pushmirror_bench_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(PostgresDb {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        })
    }

    pub(crate) async fn drop_now(self) {
        use sqlx::Connection as _;
        if let Ok(mut conn) = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await {
            if let Err(e) = sqlx::query(&format!(
                "drop database if exists {} with (force)",
                self.name
            ))
            .execute(&mut conn)
            .await
            {
                eprintln!("bench: could not drop {}: {e}", self.name);
            }
        }
    }
}
