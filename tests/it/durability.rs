//! Durability from the outside: an acknowledged push reaches every mirror whatever happens to the
//! server afterwards (`kill -9`, SIGTERM with a stalled client), no git process outlives a killed
//! server, the 10-enabled-mirrors limit holds under concurrent requests, and pushes made while an
//! update is stuck travel to the remote in one follow-up.
//!
//! **Invariant:** these tests touch only stable interfaces: the `pushmirror` binary with its flags
//! and environment variables, the HTTP API, the real git CLI, and the git servers of
//! `tests/remotes`, plus the helpers of `common` that need no server internals (the binary as a
//! child process, the typed API over HTTP, fresh PostgreSQL databases, reading refs and
//! processes); they never build a server in-process.

use crate::common;
use crate::remotes;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::binary::{create_admin_token, ServerProcess};
use common::{blocking, poll_for, poll_until, processes_with_home, refs_of, Api, Body};
use common::{PostgresDb, Work};
use rand::{Rng as _, SeedableRng as _};
use remotes::{GitDaemonRemote, GitHttpRemote};
use serde_json::{json, Value};

/// Bound for mirrors to converge after a restart: an update takes well under a second, but a
/// mirror whose worker was killed waits for its lease (2 s here) and the machine is small and shared.
const CONVERGE: Duration = Duration::from_secs(60);

/// Kill/restart rounds of the `kill -9` tests: enough random kill moments to land in every phase
/// (before the update is queued, while it runs, after it finished), few enough for ~1 minute.
const KILL_ROUNDS: usize = 20;

/// A documentation address (TEST-NET-3): accepted as a mirror URL without `--allow-local-network`
/// and never contacted, because the limit tests run the server with `--api-only`.
const UNCONTACTED_REMOTE: &str = "203.0.113.10";

/// GitLab's answer to an eleventh enabled mirror.
fn limit_refused() -> Value {
    json!({"message": {"enabled": ["cannot be true: a project can have at most 10 enabled push mirrors"]}})
}

/// Serve flags of the engine tests: loopback remotes, retries a second apart, and a short lease so
/// a restarted server takes over a killed worker's update quickly.
const ENGINE_FLAGS: &[&str] = &[
    "--allow-local-network",
    "--lease-secs",
    "2",
    "--retry-delay-secs",
    "1",
    "--retry-delay-protected-secs",
    "1",
];

// ---------------------------------------------------------------------------------------------
// Databases
// ---------------------------------------------------------------------------------------------

/// Where a server keeps its records: SQLite in its data directory (the default), or a fresh
/// PostgreSQL database dropped with this value.
struct Backend {
    postgres: Option<PostgresDb>,
}

impl Backend {
    fn sqlite() -> Backend {
        Backend { postgres: None }
    }

    /// A fresh PostgreSQL database, or `None` (with the reason printed) when PostgreSQL is
    /// unreachable and `CI` is not `true`; under `CI=true` a missing PostgreSQL fails the test.
    async fn postgres() -> Option<Backend> {
        Some(Backend {
            postgres: Some(PostgresDb::create_or_skip().await?),
        })
    }

    /// `--database-url`, or `None` for the default SQLite database.
    fn url(&self) -> Option<&str> {
        self.postgres.as_ref().map(|db| db.url.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Pushes and convergence
// ---------------------------------------------------------------------------------------------

/// Commits on `work` and pushes it to `url`, returning the commit once the push was acknowledged.
async fn push_acknowledged(work: &Arc<Work>, url: &str, msg: &str) -> String {
    let (w, url, msg) = (work.clone(), url.to_owned(), msg.to_owned());
    blocking(move || {
        let commit = w.commit(&msg);
        w.try_push(&url, &["main"])
            .unwrap_or_else(|e| panic!("push of {msg} failed: {e}"));
        commit
    })
    .await
}

/// Only the branches and tags of a remote's refs: what a mirror carries.
fn heads_and_tags(refs: BTreeMap<String, String>) -> BTreeMap<String, String> {
    refs.into_iter()
        .filter(|(name, _)| name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
        .collect()
}

/// The hosted repository of project `id`.
fn hosted_repo(data: &Path, id: i64) -> PathBuf {
    data.join("repositories").join(format!("{id}.git"))
}

/// Waits until every mirror of `project` is `finished` and each remote (read by `remote_refs`)
/// holds exactly the hosted repository's branches and tags; panics with the evidence otherwise.
async fn wait_converged(
    server: &ServerProcess,
    token: &str,
    project: i64,
    remote_refs: &dyn Fn() -> Vec<BTreeMap<String, String>>,
    what: &str,
) {
    let api = server.api(token);
    let repo = hosted_repo(server.data(), project);
    let observed = poll_for(
        CONVERGE,
        || async { (api.mirrors(project).await, refs_of(&repo), remote_refs()) },
        |(mirrors, hosted, remotes)| {
            mirrors.iter().all(|m| m.update_status == "finished")
                && remotes.iter().all(|r| r == hosted)
        },
    )
    .await;
    if let Err((mirrors, hosted, remotes)) = observed {
        let statuses: Vec<String> = mirrors
            .iter()
            .map(|m| format!("{} {} {:?}", m.id, m.update_status, m.last_error))
            .collect();
        panic!(
            "{what}: mirrors did not converge within {CONVERGE:?}\nstatuses: {statuses:#?}\n\
             hosted: {hosted:#?}\nremotes: {remotes:#?}\nserver log:\n{}",
            server.log_tail()
        );
    }
}

/// The seed of a randomized test: `DURABILITY_SEED` when set (to replay a failure), else random;
/// printed so a failing run can be replayed.
fn seed() -> u64 {
    let seed = std::env::var("DURABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("DURABILITY_SEED={seed}");
    seed
}

// ---------------------------------------------------------------------------------------------
// 1. kill -9 never loses an acknowledged push
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_never_loses_an_acknowledged_push_on_sqlite() {
    kill_9_never_loses_an_acknowledged_push(Backend::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_never_loses_an_acknowledged_push_on_postgresql() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    kill_9_never_loses_an_acknowledged_push(backend).await;
}

/// Rounds of: an acknowledged push, then `kill -9` at a random moment (0–300 ms after the push
/// returned, or while a second push is in flight), then a restart on the same data directory.
/// After every round whose pushes were all acknowledged, both mirrors must converge to the hosted
/// repository: checking each round (not only the last) matters, because a later push would
/// otherwise carry a lost one along and hide the loss.
async fn kill_9_never_loses_an_acknowledged_push(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = create_admin_token(&data, backend.url());
    let http = GitHttpRemote::start(None).await;
    http.create_repo("mirror");
    let daemon = GitDaemonRemote::start();
    daemon.create_repo("mirror");
    let mut server = ServerProcess::start(&data, backend.url(), ENGINE_FLAGS, &[]);
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    api.create_mirror(project, &http.url("mirror"), true).await;
    api.create_mirror(project, &daemon.url("mirror"), true)
        .await;
    let remote_refs = || {
        vec![
            heads_and_tags(http.refs("mirror")),
            heads_and_tags(daemon.refs("mirror")),
        ]
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let work = Arc::new(Work::new());
    let mut acknowledged = String::new();
    for round in 0..KILL_ROUNDS {
        let url = server.push_url(&token, "origin");
        acknowledged = push_acknowledged(&work, &url, &format!("round {round}")).await;
        // The last round never has a second push, so it ends on an acknowledged one.
        let second_push = round + 1 < KILL_ROUNDS && rng.gen_bool(0.3);
        let in_flight = if second_push {
            let w = work.clone();
            let commit = blocking({
                let w = w.clone();
                move || w.commit(&format!("round {round}, in flight"))
            })
            .await;
            let push = tokio::task::spawn_blocking(move || w.try_push(&url, &["main"]));
            // The random kill moment (not a synchronization): somewhere in the second push.
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..=150))).await;
            Some((commit, push))
        } else {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..=300))).await;
            None
        };
        server.kill_9();
        let second_acknowledged = match in_flight {
            None => None,
            Some((commit, push)) => {
                let pushed = push.await.expect("push task");
                if pushed.is_ok() {
                    acknowledged = commit.clone();
                }
                Some((commit, pushed.is_ok()))
            }
        };
        server.start_again();
        let hosted_main = refs_of(&hosted_repo(&data, project))
            .get("refs/heads/main")
            .cloned()
            .unwrap_or_default();
        match &second_acknowledged {
            // A push killed before its acknowledgement may or may not have moved the branch; the
            // mirrors need only follow it once a later push is acknowledged.
            Some((commit, false)) => {
                assert!(
                    hosted_main == acknowledged || hosted_main == *commit,
                    "round {round}: hosted main {hosted_main} is neither the acknowledged \
                     {acknowledged} nor the unacknowledged {commit}"
                );
            }
            _ => {
                assert_eq!(
                    hosted_main, acknowledged,
                    "round {round}: the hosted repository lost an acknowledged push"
                );
                wait_converged(
                    &server,
                    &token,
                    project,
                    &remote_refs,
                    &format!("round {round} (pushed {acknowledged}, then kill -9)"),
                )
                .await;
            }
        }
    }
    wait_converged(
        &server,
        &token,
        project,
        &remote_refs,
        "after the last round",
    )
    .await;
    for refs in remote_refs() {
        assert_eq!(refs.get("refs/heads/main"), Some(&acknowledged));
    }
    // The server has moved to another port since `api` was made.
    let mirrors = server.api(&token).mirrors(project).await;
    assert!(
        mirrors.iter().all(|m| m.update_status == "finished"),
        "{mirrors:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. SIGTERM with a stalled client
// ---------------------------------------------------------------------------------------------

/// The grace the SIGTERM test gives in-flight requests.
const SHUTDOWN_GRACE_SECS: &str = "2";

/// How long after SIGTERM the server must be gone: generous over the 2 s grace for a slow
/// machine, yet a server that waits for a stalled client would never make it.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(15);

/// Opens a connection that sends `head` (request line and headers ending in a blank line; they
/// must announce a body larger than `partial` and `Expect: 100-continue`), waits for the server's
/// `100 Continue` (sent once a handler reads the body: proof the request is in flight), then sends
/// only `partial` and stalls. The connection stays open until the returned stream is dropped.
fn stalled_request(port: u16, head: &str, partial: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream.write_all(head.as_bytes()).expect("send headers");
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        let n = stream
            .read(&mut byte)
            .unwrap_or_else(|e| panic!("no interim answer to {head:?}: {e}"));
        assert_eq!(
            n,
            1,
            "connection closed; got {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.push(byte[0]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 100"),
        "expected 100 Continue to {head:?}, got {answer:?}"
    );
    stream.write_all(partial).expect("send part of the body");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_stalled_client_exits_within_the_grace_and_keeps_the_push() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = create_admin_token(&data, None);
    let http = GitHttpRemote::start(None).await;
    http.create_repo("mirror");
    // The flag is `--shutdown-grace-secs`; the environment variable is the same setting, and
    // unlike an unknown flag a server without the setting still starts, so this test shows what
    // such a server does on SIGTERM instead of failing at startup.
    let mut server = ServerProcess::start(
        &data,
        None,
        ENGINE_FLAGS,
        &[("PUSHMIRROR_SHUTDOWN_GRACE_SECS", SHUTDOWN_GRACE_SECS)],
    );
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    api.create_mirror(project, &http.url("mirror"), true).await;

    // An acknowledged push whose mirror update is stuck on a hanging remote at SIGTERM: shutdown
    // must cancel it without losing it.
    http.set_hang(true);
    let work = Arc::new(Work::new());
    let acknowledged =
        push_acknowledged(&work, &server.push_url(&token, "origin"), "before SIGTERM").await;
    assert!(
        poll_until(CONVERGE, || async { !http.request_log().is_empty() }).await,
        "the mirror update never reached the remote"
    );

    // Two clients that stall mid-body: an API call and a push.
    let host = format!("127.0.0.1:{}", server.port());
    let api_head = format!(
        "POST /api/v4/projects HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n"
    );
    let mut api_partial = b"{\"name\": \"".to_vec();
    api_partial.resize(50_000, b'a');
    let _stalled_api = stalled_request(server.port(), &api_head, &api_partial);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("oauth2:{token}"));
    let push_head = format!(
        "POST /root/origin.git/git-receive-pack HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Basic {basic}\r\nContent-Type: application/x-git-receive-pack-request\r\n\
         Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    );
    // A pkt-line announcing 160 bytes of which only the first old object id arrives.
    let push_partial = format!("00a0{}", "0".repeat(40));
    let _stalled_push = stalled_request(server.port(), &push_head, push_partial.as_bytes());

    server.sigterm();
    let exited = server.wait_exit(SHUTDOWN_BOUND);
    let shutdown_failure = match exited {
        Some(_) => None,
        None => {
            let log = server.log_tail();
            server.kill_9();
            Some(format!(
                "the server still ran {SHUTDOWN_BOUND:?} after SIGTERM with a \
                 {SHUTDOWN_GRACE_SECS} s grace; log:\n{log}"
            ))
        }
    };

    // Whatever the shutdown did, the acknowledged push must reach the mirror after a restart.
    http.set_hang(false);
    server.start_again();
    let remote_refs = || vec![heads_and_tags(http.refs("mirror"))];
    wait_converged(
        &server,
        &token,
        project,
        &remote_refs,
        "after SIGTERM and restart",
    )
    .await;
    assert_eq!(
        http.refs("mirror").get("refs/heads/main"),
        Some(&acknowledged)
    );
    if let Some(failure) = shutdown_failure {
        panic!("{failure}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. No git process survives a killed server
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_git_process_survives_a_killed_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = create_admin_token(&data, None);
    let http = GitHttpRemote::start(None).await;
    http.create_repo("mirror");
    http.set_hang(true);
    let mut server = ServerProcess::start(&data, None, ENGINE_FLAGS, &[]);
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    api.create_mirror(project, &http.url("mirror"), true).await;
    let work = Arc::new(Work::new());
    push_acknowledged(&work, &server.push_url(&token, "origin"), "one").await;

    // The server's git children run with HOME=<data-dir>/git-home. Waiting for the remote to
    // have seen the update's request too means the whole chain is alive (git, and the
    // `git-remote-http` helper it forked, stuck in that request), not just its first process.
    let home = data.join("git-home");
    assert!(
        poll_until(CONVERGE, || async {
            !http.request_log().is_empty() && !processes_with_home(&home).is_empty()
        })
        .await,
        "no git process of the server showed up while its update hangs"
    );
    server.kill_9();
    let gone = poll_until(Duration::from_secs(10), || async {
        processes_with_home(&home).is_empty()
    })
    .await;
    let survivors = processes_with_home(&home);
    for (pid, _) in &survivors {
        // Clean up before failing, so the survivors do not outlive the test too.
        // SAFETY: kill(2) has no memory-safety preconditions; these pids run with our data dir.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    assert!(
        gone,
        "git processes outlived the killed server: {survivors:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. The 10-enabled-mirrors limit under concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_ten_enabled_mirrors_under_concurrency_on_sqlite() {
    at_most_ten_enabled_mirrors_under_concurrency(Backend::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_ten_enabled_mirrors_under_concurrency_on_postgresql() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    at_most_ten_enabled_mirrors_under_concurrency(backend).await;
}

/// How many requests race for the ten places.
const RACERS: usize = 30;

/// Sends every request of `requests` at once and returns the answers in order.
async fn all_at_once(api: &Api, requests: Vec<(&'static str, String, Value)>) -> Vec<(u16, Value)> {
    let mut tasks = Vec::new();
    for (method, path, body) in requests {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let r = api.request(method, &path, Body::Json(body)).await;
            (r.status, r.body)
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("request task"));
    }
    answers
}

/// Exactly ten answers are `ok` and the rest are GitLab's 400 for an eleventh enabled mirror.
fn check_ten_won(answers: &[(u16, Value)], ok: u16, what: &str) {
    let won = answers.iter().filter(|(s, _)| *s == ok).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == 400 && *b == limit_refused())
        .count();
    assert_eq!(
        (won, refused),
        (10, RACERS - 10),
        "{what}: answers {answers:#?}"
    );
}

async fn at_most_ten_enabled_mirrors_under_concurrency(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = create_admin_token(&data, backend.url());
    // No engine: the mirror URLs are never contacted.
    let server = ServerProcess::start(&data, backend.url(), &["--api-only"], &[]);
    let api = server.api(&token);

    // 30 concurrent creations of enabled mirrors.
    let project = api.create_project("created").await.id;
    let creations = (0..RACERS)
        .map(|i| {
            (
                "POST",
                format!("/projects/{project}/remote_mirrors"),
                json!({"url": format!("https://{UNCONTACTED_REMOTE}/m{i}.git"), "enabled": true}),
            )
        })
        .collect();
    let answers = all_at_once(&api, creations).await;
    check_ten_won(&answers, 201, "concurrent POST enabled=true");
    let mirrors = api.mirrors(project).await;
    assert_eq!(mirrors.len(), 10, "{mirrors:#?}");
    assert!(mirrors.iter().all(|m| m.enabled), "{mirrors:#?}");

    // 30 concurrent enablings of disabled mirrors.
    let project = api.create_project("enabled").await.id;
    let mut ids = Vec::new();
    for i in 0..RACERS {
        let url = format!("https://{UNCONTACTED_REMOTE}/d{i}.git");
        ids.push(api.create_mirror(project, &url, false).await.id);
    }
    let enablings = ids
        .iter()
        .map(|id| {
            (
                "PUT",
                format!("/projects/{project}/remote_mirrors/{id}"),
                json!({"enabled": true}),
            )
        })
        .collect();
    let answers = all_at_once(&api, enablings).await;
    check_ten_won(&answers, 200, "concurrent PUT enabled=true");
    let mirrors = api.mirrors(project).await;
    assert_eq!(mirrors.len(), RACERS, "{mirrors:#?}");
    let enabled = mirrors.iter().filter(|m| m.enabled).count();
    assert_eq!(enabled, 10, "{mirrors:#?}");
}

// ---------------------------------------------------------------------------------------------
// 5. Coalescing, counted
// ---------------------------------------------------------------------------------------------

/// The git deadline of the coalescing test: how long its first update stays stuck on the hanging
/// remote. Long enough for four more pushes on a slow machine, short enough for a quick test.
const STUCK_UPDATE_SECS: &str = "10";

/// Whether `r` is a receive-pack POST: one push of an update to the remote.
fn is_receive_pack_post(r: &remotes::LoggedRequest) -> bool {
    r.method == "POST" && r.uri.ends_with("/git-receive-pack")
}

/// Five pushes while the first update is stuck must reach the remote in one receive-pack POST.
///
/// `set_hang` stalls every request, so the stuck first update hangs on its *first* request (the
/// listing of the remote) and never gets as far as a POST; releasing the hang affects new
/// requests only, so that update ends at its git deadline ([`STUCK_UPDATE_SECS`]) and fails.
/// Then exactly one update must carry all five pushes: the GitLab count "the one in flight plus
/// one follow-up" is, with an in-flight update that never POSTs, exactly one POST. An engine that
/// ran one update per push, each pushing its own push's commit, would POST up to five times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_during_a_stuck_update_reach_the_remote_in_one_receive_pack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = create_admin_token(&data, None);
    let http = GitHttpRemote::start(None).await;
    http.create_repo("mirror");
    http.set_hang(true);
    let mut flags = ENGINE_FLAGS.to_vec();
    flags.extend(["--git-timeout-secs", STUCK_UPDATE_SECS]);
    let server = ServerProcess::start(&data, None, &flags, &[]);
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    let mirror = api
        .create_mirror(project, &http.url("mirror"), true)
        .await
        .id;
    let url = server.push_url(&token, "origin");
    let work = Arc::new(Work::new());
    push_acknowledged(&work, &url, "push 1").await;
    assert!(
        poll_until(CONVERGE, || async { !http.request_log().is_empty() }).await,
        "the first update never reached the remote"
    );
    let mut last = String::new();
    for i in 2..=5 {
        last = push_acknowledged(&work, &url, &format!("push {i}")).await;
    }
    // Precondition: all five pushes happened while the first update was stuck, and no second
    // update ran beside it (it would have shown up as a second, equally stuck, request).
    let m = api.mirror(project, mirror).await;
    assert_eq!(
        m.update_status, "started",
        "the first update ended before the pushes were done; raise STUCK_UPDATE_SECS: {m:?}"
    );
    assert_eq!(http.request_log().len(), 1, "{:#?}", http.request_log());

    http.set_hang(false);
    let remote_refs = || vec![heads_and_tags(http.refs("mirror"))];
    wait_converged(
        &server,
        &token,
        project,
        &remote_refs,
        "after the hang ended",
    )
    .await;
    assert_eq!(http.refs("mirror").get("refs/heads/main"), Some(&last));
    let log = http.request_log();
    let posts = log.iter().filter(|r| is_receive_pack_post(r)).count();
    assert_eq!(posts, 1, "receive-pack POSTs to the remote: {log:#?}");
}
