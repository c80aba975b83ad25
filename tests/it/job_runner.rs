//! The generic job runner against a real database: storage-affine claims (a runner never claims
//! a job of a storage it does not serve), lease renewal with a deadline (a run whose renewal
//! stalls on the database is dropped, its git child killed, before its lease ends), queues with
//! their own slots (each makes progress while another is saturated) and recurring schedules on
//! a manual clock (due at start, then once per interval, on one node only).

use crate::common;
use crate::remotes;

use std::sync::Arc;
use std::time::Duration;

use common::{poll_until, processes_with_home, Receiver, TestServer, Work};
use pushmirror::clock::ManualClock;
use pushmirror::jobs::Runner;
use remotes::GitHttpRemote;
use serde_json::json;
use sqlx::Connection as _;

/// Bound for things that happen within seconds on an idle machine.
const CONVERGE: Duration = Duration::from_secs(60);

/// A manual clock's start: any fixed instant well after the epoch.
const T0: i64 = 1_800_000_000_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

// ---------------------------------------------------------------------------------------------
// Storage affinity
// ---------------------------------------------------------------------------------------------

/// Two runners on one database, one serving `default` and one serving `b`: each claims only
/// the push intents of projects on its own storage.
async fn storage_affinity(server: TestServer, clock: Arc<ManualClock>) {
    let token = server.token("root", true).await;
    let api = server.api(&token);
    let on_default = api.create_project("here").await.id;
    let on_b = api
        .create_project_with(serde_json::json!({"name": "there", "repository_storage": "b"}))
        .await
        .id;
    let app = server.state.0.clone();
    let key_default = pushmirror::service::pushes::write_intent(&app, on_default)
        .await
        .unwrap();
    let key_b = pushmirror::service::pushes::write_intent(&app, on_b)
        .await
        .unwrap();
    let stored: Option<String> =
        sqlx::query_scalar("select storage from jobs where dedup_key = $1")
            .bind(&key_b)
            .fetch_one(server.state.store.pool())
            .await
            .unwrap();
    assert_eq!(
        stored.as_deref(),
        Some("b"),
        "the intent carries its project's storage"
    );
    // Both intents come due (the longest a push may take has passed).
    clock.advance(2 * 3_600_000);

    let serves_default = Runner::serving(app.clone(), vec!["default".into()]);
    let serves_b = Runner::serving(app.clone(), vec!["b".into()]);
    assert_eq!(
        serves_default.run_pending().await,
        1,
        "only its own storage's intent"
    );
    assert!(!server.state.store.job_pending(&key_default).await.unwrap());
    assert!(
        server.state.store.job_pending(&key_b).await.unwrap(),
        "the other storage's intent is left for a node that serves it"
    );
    assert_eq!(serves_default.run_pending().await, 0, "and stays left");
    assert_eq!(serves_b.run_pending().await, 1);
    assert!(!server.state.store.job_pending(&key_b).await.unwrap());
}

/// The server serves `default` and `b` (so either runner may record what it claims); the two
/// runners are the nodes that serve one each.
fn with_storage_b(builder: crate::common::Builder) -> (crate::common::Builder, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b");
    let builder = builder.tweak(move |c| {
        c.store.storages = vec![(
            pushmirror::model::storage::StorageName::parse("b").unwrap(),
            b,
        )];
    });
    (builder, dir)
}

#[tokio::test]
async fn a_runner_never_claims_jobs_of_a_storage_it_does_not_serve() {
    let clock = Arc::new(ManualClock::new(T0));
    let (builder, _b) = with_storage_b(TestServer::builder().clock(clock.clone()));
    let server = builder.start().await;
    storage_affinity(server, clock).await;
}

#[tokio::test]
async fn a_runner_never_claims_jobs_of_a_storage_it_does_not_serve_on_postgres() {
    let clock = Arc::new(ManualClock::new(T0));
    let (builder, _b) = with_storage_b(TestServer::builder().clock(clock.clone()));
    let Some(server) = builder.postgres().start().await else {
        return;
    };
    storage_affinity(server, clock).await;
}

// ---------------------------------------------------------------------------------------------
// Lease renewal with a deadline
// ---------------------------------------------------------------------------------------------

/// The lease of these tests, in seconds: renewed every 1.3 s, given up after 3 s without a
/// renewal, leaving a second for the kill.
const SHORT_LEASE_SECS: u64 = 4;

/// A server whose only mirror update hangs in a remote that never answers, with its git child
/// running (and, with `hook`, a hook on the project that hears pushes).
struct Hanging {
    server: TestServer,
    /// Kept alive: dropping it would end the hang.
    _remote: GitHttpRemote,
    /// The server's git children's `HOME`.
    home: std::path::PathBuf,
    /// The update's job.
    job: i64,
    token: String,
    project_path: String,
}

async fn hanging_update(server: TestServer, hook: Option<&Receiver>) -> Hanging {
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("mirror");
    remote.set_hang(true);
    let token = server.token("root", true).await;
    let api = server.api(&token);
    let project = api.create_project("origin").await;
    if let Some(receiver) = hook {
        push_hook(&server, &token, project.id, receiver).await;
    }
    api.create_mirror(project.id, &remote.url("mirror"), true)
        .await;
    let work = Arc::new(Work::new());
    work.commit("one");
    let url = server.push_url(&token, &project.path_with_namespace);
    common::blocking(move || work.push(&url, &["main"])).await;
    let home = server.data_dir().join("git-home");
    assert!(
        poll_until(CONVERGE, || async {
            !remote.request_log().is_empty() && !processes_with_home(&home).is_empty()
        })
        .await,
        "the update's git child never started"
    );
    let job: i64 = sqlx::query_scalar("select id from jobs where kind = 'mirror_update'")
        .fetch_one(server.state.store.pool())
        .await
        .unwrap();
    Hanging {
        server,
        _remote: remote,
        home,
        job,
        token,
        project_path: project.path_with_namespace,
    }
}

/// The job's lease end, as the database has it.
async fn lease_until(server: &TestServer, job: i64) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>("select lease_until from jobs where id = $1")
        .bind(job)
        .fetch_one(server.state.store.pool())
        .await
        .unwrap()
        .expect("the job is leased")
}

/// With the database stalled for the run's renewals, waits for the git child to go; asserts
/// it went before the lease it held ended, and that the run was abandoned (nothing recorded).
async fn killed_before_the_lease_ends(server: &TestServer, home: &std::path::Path, job: i64) {
    let mut until = lease_until(server, job).await;
    let stalled_at = now_ms();
    let gone_at = loop {
        if processes_with_home(home).is_empty() {
            break now_ms();
        }
        // Reads still work while writes stall; the lease cannot move meanwhile.
        until = lease_until(server, job).await;
        assert!(
            now_ms() - stalled_at < 30_000,
            "the run was never dropped while its lease could not be renewed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        gone_at < until,
        "the git child outlived the lease: gone at {gone_at}, lease until {until} \
         (stalled at {stalled_at})"
    );
    let owner: Option<String> = sqlx::query_scalar("select lease_owner from jobs where id = $1")
        .bind(job)
        .fetch_one(server.state.store.pool())
        .await
        .unwrap();
    assert!(owner.is_some(), "the abandoned run recorded no outcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_lease_renewal_stops_the_run_before_its_lease_ends() {
    let server = TestServer::builder()
        .engine(true)
        .local_network(true)
        .tweak(|c| c.tuning.lease_secs = SHORT_LEASE_SECS)
        .start()
        .await;
    // (The remote stays bound: dropping it would end the hang.)
    let Hanging {
        server,
        home,
        job,
        _remote: _hanging,
        ..
    } = hanging_update(server, None).await;
    // Another connection takes SQLite's write lock and keeps it: every renewal now waits for
    // it (up to the store's 10 s busy timeout, far longer than the lease allows).
    let mut stall = sqlx::SqliteConnection::connect(&server.state.database_url)
        .await
        .unwrap();
    sqlx::query("begin immediate")
        .execute(&mut stall)
        .await
        .unwrap();
    killed_before_the_lease_ends(&server, &home, job).await;
    sqlx::query("rollback").execute(&mut stall).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_lease_renewal_stops_the_run_before_its_lease_ends_on_postgres() {
    let Some(server) = TestServer::builder()
        .engine(true)
        .local_network(true)
        .tweak(|c| c.tuning.lease_secs = SHORT_LEASE_SECS)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    // (The remote stays bound: dropping it would end the hang.)
    let Hanging {
        server,
        home,
        job,
        _remote: _hanging,
        ..
    } = hanging_update(server, None).await;
    // Another connection locks the job's row: every renewal (an update of that row) waits.
    let mut stall = sqlx::PgConnection::connect(&server.state.database_url)
        .await
        .unwrap();
    sqlx::query("begin").execute(&mut stall).await.unwrap();
    sqlx::query("select id from jobs where id = $1 for update")
        .bind(job)
        .fetch_one(&mut stall)
        .await
        .unwrap();
    killed_before_the_lease_ends(&server, &home, job).await;
    sqlx::query("rollback").execute(&mut stall).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Queues with their own slots
// ---------------------------------------------------------------------------------------------

/// Creates a hook on `project` that hears pushes, delivering to `receiver`.
async fn push_hook(server: &TestServer, token: &str, project: i64, receiver: &Receiver) {
    let r = server
        .post_json(
            &format!("/projects/{project}/hooks"),
            token,
            json!({ "url": receiver.url("/hook"), "push_events": true }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_delivered_while_every_mirror_update_slot_is_busy() {
    let server = TestServer::builder()
        .engine(true)
        .local_network(true)
        .tweak(|c| c.tuning.max_concurrent_updates = 1)
        .start()
        .await;
    let receiver = Receiver::start().await;
    // The one mirror-update slot hangs in a remote that never answers.
    let h = hanging_update(server, Some(&receiver)).await;

    // Both pushes' events are delivered meanwhile: the first push's, queued behind the update,
    // and a second push's.
    let work = Arc::new(Work::new());
    work.commit("two");
    let url = h.server.push_url(&h.token, &h.project_path);
    common::blocking(move || work.push(&url, &["main:other"])).await;
    receiver.wait_for(2, CONVERGE).await;
    assert!(
        !processes_with_home(&h.home).is_empty(),
        "the hanging update still holds the mirror queue's only slot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_update_while_every_webhook_slot_is_busy() {
    let server = TestServer::builder()
        .engine(true)
        .local_network(true)
        .tweak(|c| {
            c.tuning.max_concurrent_hook_deliveries = 1;
            c.tuning.webhook_timeout_secs = 120;
        })
        .start()
        .await;
    let receiver = Receiver::start().await;
    receiver.hang(true);
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("mirror");
    let token = server.token("root", true).await;
    let api = server.api(&token);
    let project = api.create_project("origin").await;
    push_hook(&server, &token, project.id, &receiver).await;
    api.create_mirror(project.id, &remote.url("mirror"), true)
        .await;
    let url = server.push_url(&token, &project.path_with_namespace);

    // The first push's delivery hangs in the receiver, holding the only webhook slot.
    let work = Arc::new(Work::new());
    work.commit("one");
    let (w, u) = (work.clone(), url.clone());
    common::blocking(move || w.push(&u, &["main"])).await;
    receiver.wait_for(1, CONVERGE).await;

    let second = work.commit("two");
    common::blocking(move || work.push(&url, &["main"])).await;
    assert!(
        poll_until(CONVERGE, || async {
            remote.refs("mirror").get("refs/heads/main") == Some(&second)
        })
        .await,
        "the mirror never received the second push while the webhook slot was busy"
    );
    assert_eq!(
        receiver.requests().len(),
        1,
        "the second push's delivery waited for the busy webhook slot"
    );
}

// ---------------------------------------------------------------------------------------------
// Recurring schedules
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_recurring_schedule_fires_when_due_and_once_per_interval() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::builder().clock(clock.clone()).start().await;
    recurring_schedules(server, clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_schedule_fires_when_due_and_once_per_interval_on_postgres() {
    let clock = Arc::new(ManualClock::new(T0));
    let Some(server) = TestServer::builder()
        .clock(clock.clone())
        .postgres()
        .start()
        .await
    else {
        return;
    };
    recurring_schedules(server, clock).await;
}

/// Two nodes' runners on one database and a manual clock: the sweeps are due at each node's
/// start, then once per interval (plus jitter) on one node, and a dead node's lease on a
/// schedule holds it back until it expires.
async fn recurring_schedules(server: TestServer, clock: Arc<ManualClock>) {
    let token = server.token("root", true).await;
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    // A mirror left `started` by a node that died, with no update pending: the sweep's work.
    let mirror = api
        .create_mirror(project, "https://203.0.113.10/m.git", true)
        .await
        .id;
    assert!(server
        .state
        .store
        .mark_started(mirror, T0 - 1)
        .await
        .unwrap());
    sqlx::query("delete from jobs")
        .execute(server.state.store.pool())
        .await
        .unwrap();

    let app = server.state.0.clone();
    let node = Runner::new(app.clone());
    let other_node = Runner::new(app.clone());
    // The sweeps are due at each node's start (what a dead instance left is swept at once).
    assert_eq!(node.run_due_schedules().await, 2);
    assert_eq!(node.run_due_schedules().await, 0, "once per interval");
    assert_eq!(api.mirror(project, mirror).await.update_status, "failed");
    assert_eq!(
        other_node.run_due_schedules().await,
        2,
        "the other node's start"
    );
    assert_eq!(other_node.run_due_schedules().await, 0);
    assert_eq!(node.run_due_schedules().await, 0);

    let next = server
        .state
        .store
        .schedule_next_at("sweep:abandoned-mirrors")
        .await
        .unwrap()
        .expect("the sweep's schedule");
    assert!(
        (T0 + 30_000..=T0 + 35_000).contains(&next),
        "next due after the interval plus at most the jitter: {}",
        next - T0
    );
    clock.advance(29_999);
    assert_eq!(node.run_due_schedules().await, 0, "not before it is due");
    clock.advance(5_001);
    // Both nodes look at once: each due schedule runs on one of them.
    let (a, b) = tokio::join!(other_node.run_due_schedules(), node.run_due_schedules());
    assert_eq!(a + b, 2, "one node runs a due schedule");
    assert_eq!(node.run_due_schedules().await, 0);
    assert_eq!(other_node.run_due_schedules().await, 0);

    // A node that died while running a schedule holds its lease: nobody runs that schedule
    // until the lease expires, and then another node does.
    clock.advance(35_000);
    let now = T0 + 70_000;
    let lease = 30_000;
    let names = ["sweep:abandoned-mirrors".to_owned()];
    let taken = server
        .state
        .store
        .claim_schedule(&names, "a-node-that-dies", now, now + lease)
        .await
        .unwrap();
    assert!(taken.is_some());
    assert_eq!(node.run_due_schedules().await, 1, "only the other schedule");
    clock.advance(lease);
    assert_eq!(
        node.run_due_schedules().await,
        0,
        "the lease has not expired yet"
    );
    clock.advance(1);
    assert_eq!(
        node.run_due_schedules().await,
        1,
        "taken over after the lease"
    );
}

// ---------------------------------------------------------------------------------------------
// Upgrades
// ---------------------------------------------------------------------------------------------

/// Rows an older release queued (text payloads, no storage) still run after an upgrade.
#[tokio::test]
async fn jobs_queued_by_an_older_release_still_run() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::builder().clock(clock.clone()).start().await;
    let token = server.token("root", true).await;
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    let mirror = api
        .create_mirror(project, "https://203.0.113.10/m.git", false)
        .await
        .id;
    sqlx::query("delete from jobs")
        .execute(server.state.store.pool())
        .await
        .unwrap();
    for (kind, key, payload) in [
        (
            "record_push",
            format!("push:{project}:00000000000000ab"),
            format!("{project}\nuser 1"),
        ),
        (
            "mirror_update",
            format!("mirror:{mirror}"),
            mirror.to_string(),
        ),
        (
            "mirror_failure_email",
            format!("mirror-failure-email:{mirror}"),
            mirror.to_string(),
        ),
    ] {
        sqlx::query(
            "insert into jobs (kind, dedup_key, payload, run_at, created_at) \
             values ($1, $2, $3, $4, $4)",
        )
        .bind(kind)
        .bind(key)
        .bind(payload)
        .bind(T0 - 1)
        .execute(server.state.store.pool())
        .await
        .unwrap();
    }
    assert_eq!(server.run_pending().await, 3);
    let left: Vec<(String, Option<String>)> = sqlx::query_as("select kind, last_error from jobs")
        .fetch_all(server.state.store.pool())
        .await
        .unwrap();
    assert!(left.is_empty(), "every old row ran to its end: {left:?}");
}
