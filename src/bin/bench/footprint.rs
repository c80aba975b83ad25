//! `footprint`: what pushmirror costs at rest. Resident memory (`VmRSS`) of the real
//! `pushmirror serve` process, idle and with many mirrors registered (100,000; tiny: 1,000,
//! inserted in one transaction), against an idle `git daemon`; database bytes per mirror; and the
//! scheduler's cost per update (`claim_update` + `finish_attempt` + `next_due_at`) with 1,000 vs
//! 100,000 idle mirrors (tiny: 100 vs 1,000), which must not grow with the number of mirrors.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use pushmirror::clock::{Clock, SystemClock};
use pushmirror::queue::JobKind;
use pushmirror::service::mirror_jobs::{request_update, MirrorUpdate};
use pushmirror::store::Store;

const KIND: &str = MirrorUpdate::NAME;
use secrecy::ExposeSecret;

use crate::client::Conn;
use crate::report::Row;
use crate::setup::{ms, percentile, BenchServer};
use crate::Sizes;

/// Set in the environment of a child of this executable that must run as `pushmirror` (used
/// when the real binary was not built next to the bench).
pub const SERVE_AS_PUSHMIRROR: &str = "BENCH_SERVE_AS_PUSHMIRROR";
/// How long the server may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long the server idles before its memory is read, so start-up transients settle.
const SETTLE: Duration = Duration::from_secs(1);
/// Rows per multi-row INSERT when registering mirrors.
const INSERT_BATCH: usize = 500;
/// Scheduler rounds timed per size.
const ROUNDS: usize = 200;
/// The targets.
const TARGET_IDLE_MB: f64 = 30.0;
/// "Does not grow": the cost at the large size may be at most this multiple of the small one.
const TARGET_GROWTH: f64 = 1.5;

/// Runs `pushmirror`'s own command line (this process was started as a stand-in binary).
pub fn serve_as_pushmirror() -> ExitCode {
    pushmirror::cli::main()
}

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let mut rows = memory_and_size(sizes).await;
    let (small, large) = if sizes.tiny {
        (100, 1_000)
    } else {
        (1_000, 100_000)
    };
    let s = scheduler_cost(small).await;
    let l = scheduler_cost(large).await;
    rows.push(
        Row::new(
            "footprint",
            format!("scheduler cost per update, {large} idle mirrors (p50)"),
            format!("{:.3} ms", ms(l)),
        )
        .baseline(
            format!("{small} idle mirrors {:.3} ms", ms(s)),
            ms(l) / ms(s),
        )
        .target(
            format!("≤ {TARGET_GROWTH}× (does not grow)"),
            ms(l) <= TARGET_GROWTH * ms(s),
        ),
    );
    rows
}

/// The binary to run: `pushmirror` next to this executable, else this executable standing in.
pub(crate) fn server_binary() -> (PathBuf, bool) {
    let me = std::env::current_exe().expect("current exe");
    let real = me.with_file_name("pushmirror");
    if real.is_file() {
        (real, true)
    } else {
        (me, false)
    }
}

async fn memory_and_size(sizes: Sizes) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (bin, real) = server_binary();
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--data-dir"])
        .arg(&data)
        .arg("--listen")
        .arg(addr.to_string())
        .env("PUSHMIRROR_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if !real {
        cmd.env(SERVE_AS_PUSHMIRROR, "1");
    }
    let child = KillOnDrop(cmd.spawn().expect("spawn pushmirror serve"));
    wait_listening(addr);
    std::thread::sleep(SETTLE);
    let pid = child.0.id();
    let idle = rss_kb(pid);
    let git_daemon = git_daemon_rss_kb();

    let db_path = data.join("pushmirror.db");
    let store = Store::open(&format!("sqlite://{}?mode=rw", db_path.display()))
        .await
        .expect("open the server's database");
    let now = SystemClock.now_ms();
    let user = store.ensure_user("root", true, now).await.expect("user");
    let (token, hash) = pushmirror::secret::mint_token();
    store
        .insert_token(user.id, &hash, "bench", now)
        .await
        .expect("token");
    let mut conn = Conn::connect(addr, token.expose_secret())
        .await
        .expect("connect");
    let r = conn
        .request(
            "POST",
            "/api/v4/projects",
            Some(&serde_json::json!({"name": "fp"})),
        )
        .await
        .expect("create project");
    assert_eq!(r.status, 201);
    let project = r.json()["id"].as_i64().expect("project id");
    let before = db_bytes(&store, &db_path).await;
    let n = sizes.footprint_mirrors;
    let t = Instant::now();
    insert_idle_mirrors(&store, project, n).await;
    let insert_time = t.elapsed();
    let after = db_bytes(&store, &db_path).await;
    // Let the scheduler look at the table a few times and page through the mirrors once.
    std::thread::sleep(Duration::from_secs(2));
    for page in [1, n.div_ceil(100)] {
        let r = conn
            .request(
                "GET",
                &format!("/api/v4/projects/{project}/remote_mirrors?per_page=100&page={page}"),
                None,
            )
            .await
            .expect("list mirrors");
        assert_eq!(r.status, 200);
    }
    let loaded = rss_kb(pid);
    drop(child);
    let which = if real {
        "pushmirror serve"
    } else {
        "pushmirror serve (bench stand-in: build the pushmirror binary for the real one)"
    };
    let mb = |kb: u64| kb as f64 / 1024.0;
    vec![
        Row::new(
            "footprint",
            format!("RSS idle, {which}"),
            format!("{:.1} MB", mb(idle)),
        )
        .baseline(
            format!("idle git daemon {:.1} MB", mb(git_daemon)),
            idle as f64 / git_daemon as f64,
        )
        .target(format!("≤ {TARGET_IDLE_MB} MB"), mb(idle) <= TARGET_IDLE_MB),
        Row::new(
            "footprint",
            format!("RSS with {n} mirrors registered"),
            format!("{:.1} MB", mb(loaded)),
        )
        .baseline(
            format!("idle {:.1} MB", mb(idle)),
            loaded as f64 / idle as f64,
        ),
        Row::new(
            "footprint",
            "database bytes per mirror (SQLite)",
            format!("{:.0} B", (after.saturating_sub(before)) as f64 / n as f64),
        ),
        Row::new(
            "footprint",
            format!("insert {n} mirrors in one transaction"),
            format!("{:.2} s", insert_time.as_secs_f64()),
        ),
    ]
}

/// Kills (SIGTERM, then SIGKILL after a bound) and reaps the child on drop.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + START_LIMIT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(
            Instant::now() < deadline,
            "pushmirror did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `VmRSS` of a process, in KiB.
pub(crate) fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// Resident memory of an idle `git daemon` on 127.0.0.1 (the program itself, not the `git`
/// wrapper, which would only be a parent process).
fn git_daemon_rss_kb() -> u64 {
    let exec = crate::setup::run_checked(Command::new("git").arg("--exec-path"));
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(Path::new(&exec).join("git-daemon"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir.path())
        .args([
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            "--export-all",
        ])
        .arg(format!("--base-path={}", dir.path().display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn git daemon");
    let child = KillOnDrop(child);
    wait_listening(SocketAddr::from(([127, 0, 0, 1], port)));
    std::thread::sleep(Duration::from_millis(300));
    let kb = rss_kb(child.0.id());
    drop(child);
    kb
}

/// The database file's size after folding the WAL into it.
async fn db_bytes(store: &Store, path: &Path) -> u64 {
    sqlx::query("pragma wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .expect("checkpoint");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Registers `n` enabled mirrors of `project` that have nothing to do (as after a finished
/// update), in one transaction. Every value is ours, so the statement text is built directly.
async fn insert_idle_mirrors(store: &Store, project: i64, n: usize) {
    let now = SystemClock.now_ms();
    let mut tx = store.pool().begin().await.expect("begin");
    let mut i = 0;
    while i < n {
        let end = (i + INSERT_BATCH).min(n);
        let values: Vec<String> = (i..end)
            .map(|k| {
                format!(
                    "({project}, 'https://git{}.example.com/group/mirror-{k}.git', 1, 'finished', \
                     {now}, {now}, {now}, {now})",
                    k % 100
                )
            })
            .collect();
        sqlx::query(&format!(
            "insert into remote_mirrors (project_id, url, enabled, update_status, created_at, \
             updated_at, last_update_at, last_successful_update_at) \
             values {}",
            values.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .expect("insert mirrors");
        i = end;
    }
    tx.commit().await.expect("commit");
}

/// Median time of one scheduler round (claim the one wanted update among `n` idle mirrors,
/// record it finished, ask when the next is due) on SQLite.
async fn scheduler_cost(n: usize) -> Duration {
    let server = BenchServer::start(None, |e| e.api_only = true).await;
    let mut conn = server.conn().await;
    let project = server.project(&mut conn, "sched").await;
    let store = &server.state.store;
    insert_idle_mirrors(store, project, n).await;
    let ids: Vec<i64> = sqlx::query_scalar("select id from remote_mirrors order by id")
        .fetch_all(store.pool())
        .await
        .expect("ids");
    let served = pushmirror::jobs::served_storages(&server.state);
    let mut samples = Vec::new();
    for r in 0..ROUNDS {
        let id = ids[(r * 7919) % ids.len()];
        request_update(&server.state, id).await.expect("request");
        let t0 = Instant::now();
        let now = SystemClock.now_ms();
        let claim = store
            .claim_job(&[KIND], &served, "bench", now, now + 30_000)
            .await
            .expect("claim")
            .expect("a wanted update");
        assert_eq!(
            MirrorUpdate::decode(&claim.payload).map(|j| j.mirror_id),
            Ok(id)
        );
        store
            .complete_job(&claim, "bench", SystemClock.now_ms())
            .await
            .expect("finish");
        let next = store
            .next_job_due_at(&[KIND], &served)
            .await
            .expect("next due");
        samples.push(t0.elapsed());
        assert_eq!(next, None);
    }
    server.stop().await;
    percentile(&samples, 50.0)
}
