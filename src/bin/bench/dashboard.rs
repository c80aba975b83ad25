//! `dashboard`: the mirror dashboard (`GET /`) with 1,000 mirrors over 100 projects (10 each,
//! 8 enabled), on SQLite and on PostgreSQL, against the 50 ms. Each project has a
//! commit on `main`; the mirrors' statuses are a realistic mix (most up to date with their
//! remote state recorded, some failed with an error, some retrying, some never updated, some
//! with an update pending after a newer push). The server time is the router's: each request
//! goes through `pushmirror::http::app` in this process (session cookie, the dashboard's one
//! statement, a ref-file read per project, rendering), without a socket in between. One poll
//! of the live stream (`service::dashboard::mirror_health`, what every open stream runs every
//! 400 ms) is timed on its own.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use pushmirror::model::status::{Transition, UpdateStatus};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tower::ServiceExt as _;

use crate::api::PostgresDb;
use crate::report::Row;
use crate::setup::{ms, percentile, ref_update, BenchServer, Git, POSTGRES_ADMIN_URL};
use crate::Sizes;

/// Mirrors per project (GitLab allows 10 enabled; 8 are).
const MIRRORS_PER_PROJECT: usize = 10;
const ENABLED_PER_PROJECT: usize = 8;
/// The target for rendering the dashboard of 1,000 mirrors.
const TARGET_MS: f64 = 50.0;
/// The bench viewer's password.
const PASSWORD: &str = "bench-dashboard-password";

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
            eprintln!("bench: dashboard: skipping PostgreSQL: {e}");
            rows.push(Row::note(
                "dashboard",
                "postgres skipped: 127.0.0.1:5432 unreachable",
            ));
        }
    }
    rows
}

/// The status mirror `i` of a project is given (before any pending update).
fn transition(i: usize, j: usize) -> Option<Transition> {
    let t = |status, error: Option<&str>| Transition {
        status,
        error: error.map(str::to_owned),
        retry_count: 0,
        retry_at: None,
        event: None,
    };
    match (i * MIRRORS_PER_PROJECT + j) % 20 {
        0 => Some(t(
            UpdateStatus::Failed,
            Some("fatal: unable to access 'http://127.0.0.1:9/x.git/': Failed to connect"),
        )),
        1 => Some(t(
            UpdateStatus::ToRetry,
            Some("fatal: the remote end hung up unexpectedly"),
        )),
        2 => None,
        3 => Some(t(UpdateStatus::Started, None)),
        _ => Some(t(UpdateStatus::Finished, None)),
    }
}

async fn backend(name: &'static str, url: Option<&str>, sizes: Sizes) -> Vec<Row> {
    let projects = if sizes.tiny { 10 } else { 100 };
    let requests = if sizes.tiny { 20 } else { 200 };
    let server = BenchServer::start(url, |e| e.api_only = true).await;
    let state = server.state.clone();
    let mut conn = server.conn().await;
    let r = conn
        .request(
            "POST",
            "/api/v4/users",
            Some(&json!({"username": "watcher", "name": "Watcher",
                         "email": "watcher@example.com", "password": PASSWORD})),
        )
        .await
        .expect("create the viewer");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let watcher = r.json()["id"].as_i64().expect("user id");
    let git = Git::new();
    let now = state.now_ms();
    let mut stale = Vec::new();
    for i in 0..projects {
        let project = server.project(&mut conn, &format!("dash-{i}")).await;
        let r = conn
            .request(
                "POST",
                &format!("/api/v4/projects/{project}/members"),
                Some(&json!({"user_id": watcher, "access_level": 30})),
            )
            .await
            .expect("add member");
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let repo = crate::setup::hosted_repo(&state, project);
        let head = git.commit_tree(&repo, None, "first");
        git.run(&repo, true, &["update-ref", "refs/heads/main", &head]);
        server
            .record(project, &[ref_update("refs/heads/main", None, &head)])
            .await;
        for j in 0..MIRRORS_PER_PROJECT {
            let url = format!("http://127.0.0.1:9/dash-{i}/m{j}.git");
            let mirror = server
                .mirror(&mut conn, project, &url, j < ENABLED_PER_PROJECT)
                .await;
            let Some(t) = transition(i, j) else { continue };
            if t.status == UpdateStatus::Started {
                state
                    .store
                    .mark_started(mirror, now)
                    .await
                    .expect("mark started");
                continue;
            }
            state
                .store
                .mark_started(mirror, now)
                .await
                .expect("mark started");
            let recorded = state
                .store
                .record_transition(mirror, &t, now, now, &[])
                .await
                .expect("record a status");
            assert!(recorded, "the attempt just marked started is the mirror's");
            if t.status == UpdateStatus::Finished {
                let changes = BTreeMap::from([("refs/heads/main".to_owned(), Some(head.clone()))]);
                state
                    .store
                    .save_remote_state(mirror, &url, None, &changes, "bench", now)
                    .await
                    .expect("record a remote state");
            }
        }
        // One project in ten moved on since: its enabled mirrors have an update pending.
        if i % 10 == 0 {
            stale.push((project, repo, head));
        }
    }
    for (project, repo, old) in stale {
        let new = git.commit_tree(&repo, Some(&old), "second");
        git.run(&repo, true, &["update-ref", "refs/heads/main", &new]);
        server
            .record(project, &[ref_update("refs/heads/main", Some(&old), &new)])
            .await;
    }
    let session = pushmirror::service::sessions::sign_in(
        &state,
        "watcher",
        SecretString::from(PASSWORD.to_owned()),
        None,
    )
    .await
    .expect("sign in");
    let cookie = format!("_pushmirror_session={}", session.token.expose_secret());
    let app = pushmirror::http::app(state.clone());
    let mut page = Vec::with_capacity(requests);
    let mut bytes = 0;
    for n in 0..requests + 5 {
        let request = Request::get("/")
            .header("cookie", &cookie)
            .header("accept", "text/html")
            .body(Body::empty())
            .expect("request");
        let started = Instant::now();
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 200, "GET /");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let took = started.elapsed();
        bytes = body.len();
        let rows = body
            .windows(b"data-mirror-id=".len())
            .filter(|w| *w == b"data-mirror-id=")
            .count();
        assert_eq!(
            rows,
            projects * MIRRORS_PER_PROJECT,
            "every mirror is shown"
        );
        // The first few warm the caches and the pool.
        if n >= 5 {
            page.push(took);
        }
    }
    let mut poll = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let list = pushmirror::service::dashboard::mirror_health(&state, &session.user, None)
            .await
            .expect("poll");
        poll.push(started.elapsed());
        assert_eq!(list.len(), projects * MIRRORS_PER_PROJECT);
    }
    server.stop().await;
    let mirrors = projects * MIRRORS_PER_PROJECT;
    let p95 = ms(percentile(&page, 95.0));
    vec![
        Row::new(
            "dashboard",
            format!("{name}: GET / with {mirrors} mirrors ({} KB)", bytes / 1024),
            format!(
                "median {:.1} ms, p95 {:.1} ms",
                ms(percentile(&page, 50.0)),
                p95
            ),
        )
        .target(format!("≤ {TARGET_MS:.0} ms"), p95 <= TARGET_MS),
        Row::new(
            "dashboard",
            format!("{name}: one live-stream poll ({mirrors} mirrors)"),
            format!(
                "median {:.1} ms, p95 {:.1} ms",
                ms(percentile(&poll, 50.0)),
                ms(percentile(&poll, 95.0))
            ),
        ),
    ]
}
