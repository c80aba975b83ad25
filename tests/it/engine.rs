//! The push-mirror engine end to end: pushes with the real git CLI into the real server (smart
//! HTTP), mirrored by the engine into real git servers on 127.0.0.1 (git http-backend with basic
//! auth, git daemon, sshd), watched until they converge.

use crate::common;
use crate::remotes;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::binary::{create_admin_token, ServerProcess};
use common::{
    blocking, contains_bytes, poll_for, poll_until, read_all_files, refs_of, Api, Mirror,
    TestServer, Work,
};
use pushmirror::clock::ManualClock;
use remotes::{GitDaemonRemote, GitHttpRemote, SshRemote};
use serde_json::{json, Value};

/// Generous bound for convergence: an update takes well under a second; CI machines are slow.
const CONVERGE: Duration = Duration::from_secs(30);

/// The retry delay of the engine tests (both kinds of mirror), in milliseconds.
const RETRY_DELAY_MS: i64 = 1_000;

/// A client repository with one commit on `main`, pushed to `url`.
async fn first_commit_pushed(url: &str) -> Arc<Work> {
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("one");
    })
    .await;
    work_push(&work, url, &["main"]).await;
    work
}

/// A server with the engine on, a project `root/origin` and its owner's API.
struct Fixture {
    server: TestServer,
    api: Api,
    token: String,
    project_id: i64,
    push_url: String,
}

impl Fixture {
    async fn new() -> Fixture {
        Self::with(|_| {}).await
    }

    /// Engine tests run the engine, on loopback remotes, with retries a second apart, then
    /// `tweak`.
    async fn with(
        tweak: impl FnOnce(&mut pushmirror::config::ServeConfig) + Send + 'static,
    ) -> Fixture {
        Self::on(Self::builder().tweak(tweak).start().await).await
    }

    /// The same fixture on PostgreSQL, or `None` where PostgreSQL is missing (never under CI).
    async fn on_postgres() -> Option<Fixture> {
        Some(Self::on(Self::builder().postgres().start().await?).await)
    }

    /// The fixture with the engine off and `clock` as the server's time: the test drains the
    /// queue with `run_pending` and moves the clock past each retry delay itself.
    async fn on_manual_clock(clock: Arc<ManualClock>) -> Fixture {
        Self::on(Self::builder().engine(false).clock(clock).start().await).await
    }

    fn builder() -> common::Builder {
        TestServer::builder()
            .engine(true)
            .local_network(true)
            .tweak(|c| {
                c.tuning.retry_delay_secs = (RETRY_DELAY_MS / 1000) as u64;
                c.tuning.retry_delay_protected_secs = (RETRY_DELAY_MS / 1000) as u64;
            })
    }

    async fn on(server: TestServer) -> Fixture {
        let token = server.token("root", true).await;
        let api = server.api(&token);
        let project = api.create_project("origin").await;
        Fixture {
            push_url: server.push_url(&token, &project.path_with_namespace),
            project_id: project.id,
            api,
            token,
            server,
        }
    }

    async fn add_mirror(&self, body: Value) -> i64 {
        self.api.create_mirror_with(self.project_id, body).await.id
    }

    async fn mirror(&self, id: i64) -> Mirror {
        self.api.mirror(self.project_id, id).await
    }

    async fn sync(&self, id: i64) {
        self.api.sync(self.project_id, id).await
    }

    /// Waits until an update of mirror `id` is queued (a push requests it as it is recorded).
    async fn wait_until_requested(&self, id: i64) {
        let store = &self.server.state.store;
        assert!(
            poll_until(CONVERGE, || async {
                store.mirror_update_pending(id).await.unwrap()
            })
            .await,
            "no update of mirror {id} was requested"
        );
    }

    /// Waits until the mirror's status is `want` and `cond` holds on the remote.
    async fn wait_for(&self, id: i64, want: &str, cond: impl Fn() -> bool) -> Mirror {
        poll_for(
            CONVERGE,
            || self.mirror(id),
            |m| m.update_status == want && cond(),
        )
        .await
        .unwrap_or_else(|last| panic!("mirror {id} never reached {want}: {last:?}"))
    }

    fn local_refs(&self) -> BTreeMap<String, String> {
        let repo = self.server.repo_path(self.project_id);
        refs_of(&repo)
    }
}

fn work_push(
    work: &Arc<Work>,
    url: &str,
    refspecs: &[&str],
) -> impl std::future::Future<Output = ()> {
    let w = work.clone();
    let url = url.to_owned();
    let specs: Vec<String> = refspecs.iter().map(|s| s.to_string()).collect();
    async move {
        blocking(move || {
            let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
            w.push(&url, &refs)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_and_tags_converge_over_http_with_credentials() {
    let fx = Fixture::new().await;
    let remote = GitHttpRemote::start(Some(("mirror-user", "Pa55-word"))).await;
    remote.create_repo("target");
    let id = fx
        .add_mirror(json!({
            "url": remote.url_with_credentials("target", "mirror-user", "Pa55-word"),
            "enabled": true,
        }))
        .await;
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("one");
        w.git(&["tag", "v1"]);
        w.git(&["branch", "feature"]);
    })
    .await;
    // The push alone triggers the update: no sync call.
    work_push(&work, &fx.push_url, &["main", "feature", "v1"]).await;
    fx.wait_for(id, "finished", || remote.refs("target") == fx.local_refs())
        .await;
    assert_eq!(remote.refs("target").len(), 3);

    // Update, force-push and delete: a force-pushed branch follows, an unmerged deleted branch
    // stays on the remote, and new tags arrive.
    let w = work.clone();
    let (rewritten, feature_tip) = blocking(move || {
        let tip = w.commit("two");
        w.git(&["tag", "v2"]);
        w.git(&["checkout", "-q", "-b", "topic"]);
        let topic = w.commit("unmerged work");
        w.git(&["checkout", "-q", "main"]);
        w.git(&["reset", "-q", "--hard", "HEAD~1"]);
        let rewritten = w.commit("rewritten two");
        (rewritten, (tip, topic))
    })
    .await;
    work_push(&work, &fx.push_url, &["+main", "topic", "v2"]).await;
    fx.wait_for(id, "finished", || remote.refs("target") == fx.local_refs())
        .await;
    assert_eq!(remote.refs("target")["refs/heads/main"], rewritten);
    let (_, topic) = feature_tip;
    // Delete `topic` (unmerged) and `feature` (merged: it points at an ancestor of main).
    work_push(&work, &fx.push_url, &[":topic", ":feature"]).await;
    let m = fx
        .wait_for(id, "finished", || {
            let r = remote.refs("target");
            !r.contains_key("refs/heads/feature") && r.get("refs/heads/topic") == Some(&topic)
        })
        .await;
    assert!(m.last_error.is_none(), "{m:?}");
    for (t, at) in [
        ("last_update_at", &m.last_update_at),
        ("last_successful_update_at", &m.last_successful_update_at),
        ("last_update_started_at", &m.last_update_started_at),
    ] {
        assert!(at.as_deref().unwrap().ends_with('Z'), "{t}: {m:?}");
    }
    // Credentials travelled as a header, never in a URL.
    let log = remote.request_log();
    assert!(log.iter().all(|r| !r.uri.contains("Pa55-word")));
    assert!(log.iter().any(|r| r.has_authorization()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_only_and_regex_filters_limit_branches_but_not_tags() {
    let fx = Fixture::new().await;
    let daemon = GitDaemonRemote::start();
    daemon.create_repo("protected");
    daemon.create_repo("regex");
    fx.api.protect_branch(fx.project_id, "release-*").await;
    let protected = fx
        .add_mirror(json!({"url": daemon.url("protected"), "enabled": true, "only_protected_branches": true}))
        .await;
    let regex = fx
        .add_mirror(
            json!({"url": daemon.url("regex"), "enabled": true, "mirror_branch_regex": "^feat/"}),
        )
        .await;
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("base");
        for b in ["release-1.0", "release-x/y", "feat/a", "other"] {
            w.git(&["branch", b]);
        }
        w.git(&["tag", "t1"]);
    })
    .await;
    work_push(
        &work,
        &fx.push_url,
        &[
            "main",
            "release-1.0",
            "release-x/y",
            "feat/a",
            "other",
            "t1",
        ],
    )
    .await;
    let names = |m: BTreeMap<String, String>| m.into_keys().collect::<Vec<_>>();
    fx.wait_for(protected, "finished", || {
        names(daemon.refs("protected"))
            == [
                "refs/heads/release-1.0",
                "refs/heads/release-x/y",
                "refs/tags/t1",
            ]
    })
    .await;
    fx.wait_for(regex, "finished", || {
        names(daemon.refs("regex")) == ["refs/heads/feat/a", "refs/tags/t1"]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_divergent_refs_skips_diverged_refs_and_fails_with_their_names() {
    let fx = Fixture::new().await;
    let daemon = GitDaemonRemote::start();
    let remote_url = daemon.create_repo("kd");
    let id = fx
        .add_mirror(json!({"url": remote_url, "enabled": true, "keep_divergent_refs": true}))
        .await;
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("base");
        w.git(&["branch", "dev"]);
    })
    .await;
    work_push(&work, &fx.push_url, &["main", "dev"]).await;
    fx.wait_for(id, "finished", || daemon.refs("kd").len() == 2)
        .await;
    // Someone commits on the remote's `dev`; we move `dev` elsewhere and `main` forward.
    let other = Arc::new(Work::new());
    let (o, url) = (other.clone(), remote_url.clone());
    let remote_dev = blocking(move || {
        o.git(&[
            "-c",
            "protocol.git.allow=always",
            "fetch",
            "-q",
            &url,
            "dev",
        ]);
        o.git(&["reset", "-q", "--hard", "FETCH_HEAD"]);
        let c = o.commit("remote-only");
        o.git(&[
            "-c",
            "protocol.git.allow=always",
            "push",
            "-q",
            &url,
            "HEAD:dev",
        ]);
        c
    })
    .await;
    let w = work.clone();
    let main_tip = blocking(move || {
        w.git(&["checkout", "-q", "dev"]);
        w.commit("local dev");
        w.git(&["checkout", "-q", "main"]);
        w.commit("main forward")
    })
    .await;
    work_push(&work, &fx.push_url, &["main", "dev"]).await;
    let m = fx
        .wait_for(id, "failed", || {
            daemon.refs("kd")["refs/heads/main"] == main_tip
        })
        .await;
    assert_eq!(
        m.last_error.as_deref(),
        Some("Some refs have diverged and have not been updated on the remote:\n\nrefs/heads/dev")
    );
    assert_eq!(
        daemon.refs("kd")["refs/heads/dev"],
        remote_dev,
        "diverged ref left alone"
    );
}

/// On a manual clock with the queue drained by hand, so the retry schedule costs no waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_fails_scrubbed_retries_and_recovers_after_url_update() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let fx = Fixture::on_manual_clock(clock.clone()).await;
    let remote = GitHttpRemote::start(Some(("bot", "right-Pa55"))).await;
    remote.create_repo("auth");
    let id = fx
        .add_mirror(json!({"url": remote.url_with_credentials("auth", "bot", "wrong-Pa55-Zq9"), "enabled": true}))
        .await;
    first_commit_pushed(&fx.push_url).await;
    fx.wait_until_requested(id).await;
    // Attempt 0 and three retries (1 s apart in tests), then `failed`: each run when it is due.
    for attempt in 0..4 {
        assert_eq!(fx.server.run_pending().await, 1, "attempt {attempt}");
        clock.advance(RETRY_DELAY_MS);
    }
    let m = fx.mirror(id).await;
    assert_eq!(m.update_status, "failed", "{m:?}");
    assert_eq!(fx.server.run_pending().await, 0, "a failed mirror waits");
    let err = m.last_error.unwrap();
    assert!(!err.contains("wrong-Pa55-Zq9"), "{err}");
    assert!(err.contains("127.0.0.1"), "git's own message: {err}");
    let attempts = remote
        .request_log()
        .iter()
        .filter(|r| r.uri.contains("info/refs"))
        .count();
    assert!(
        attempts >= 4,
        "expected the first attempt and 3 retries, saw {attempts}"
    );
    let m = fx
        .api
        .update_mirror(
            fx.project_id,
            id,
            json!({"url": remote.url_with_credentials("auth", "bot", "right-Pa55")}),
        )
        .await;
    assert_eq!(m.update_status, "none");
    assert!(m.last_error.is_none(), "{m:?}");
    fx.sync(id).await;
    assert_eq!(fx.server.run_pending().await, 1, "the sync");
    let m = fx.mirror(id).await;
    assert_eq!(m.update_status, "finished", "{m:?}");
    assert_eq!(remote.refs("auth"), fx.local_refs());
    for body in fx.server.seen_bodies() {
        assert!(
            !body.contains("wrong-Pa55-Zq9") && !body.contains("right-Pa55"),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_down_then_up_is_retried_until_it_converges() {
    let fx = Fixture::new().await;
    let mut daemon = GitDaemonRemote::start();
    daemon.create_repo("flaky");
    let id = fx
        .add_mirror(json!({"url": daemon.url("flaky"), "enabled": true}))
        .await;
    daemon.stop();
    first_commit_pushed(&fx.push_url).await;
    let m = fx.wait_for(id, "to_retry", || true).await;
    assert!(!m.last_error.unwrap().is_empty());
    daemon.resume();
    fx.wait_for(id, "finished", || daemon.refs("flaky") == fx.local_refs())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_remote_hits_the_deadline_and_the_mirror_recovers() {
    let fx = Fixture::with(|c| c.tuning.git_timeout_secs = 2).await;
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("hang");
    remote.set_hang(true);
    let id = fx
        .add_mirror(json!({"url": remote.url("hang"), "enabled": true}))
        .await;
    first_commit_pushed(&fx.push_url).await;
    let m = fx.wait_for(id, "to_retry", || true).await;
    assert!(
        m.last_error.as_deref().unwrap().contains("did not finish"),
        "{m:?}"
    );
    remote.set_hang(false);
    fx.wait_for(id, "finished", || remote.refs("hang") == fx.local_refs())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_mirrors_are_never_pushed_and_bursts_coalesce() {
    let fx = Fixture::new().await;
    let daemon = GitDaemonRemote::start();
    daemon.create_repo("off");
    daemon.create_repo("burst");
    let off = fx
        .add_mirror(json!({"url": daemon.url("off"), "enabled": false}))
        .await;
    let burst = fx
        .add_mirror(json!({"url": daemon.url("burst"), "enabled": true}))
        .await;
    let work = Arc::new(Work::new());
    for i in 0..5 {
        let w = work.clone();
        blocking(move || {
            w.commit(&format!("c{i}"));
        })
        .await;
        work_push(&work, &fx.push_url, &["main"]).await;
    }
    fx.wait_for(burst, "finished", || {
        daemon.refs("burst") == fx.local_refs()
    })
    .await;
    assert!(daemon.refs("off").is_empty());
    assert_eq!(fx.mirror(off).await.update_status, "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_mirror_with_generated_key_and_pinned_host_key() {
    let Some(ssh) = SshRemote::start() else {
        return;
    };
    let fx = Fixture::new().await;
    let url = ssh.create_repo("viassh");
    let id = fx
        .add_mirror(json!({
            "url": url, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": [ssh.host_key_line()],
        }))
        .await;
    let key = fx.api.mirror_public_key(fx.project_id, id).await;
    ssh.authorize_key(&key);
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("one");
        w.git(&["tag", "v1"]);
    })
    .await;
    work_push(&work, &fx.push_url, &["main", "v1"]).await;
    fx.wait_for(id, "finished", || ssh.refs("viassh") == fx.local_refs())
        .await;
    // No key material was left on disk in the data dir.
    for (path, bytes) in read_all_files(&fx.server.data_dir()) {
        assert!(
            !contains_bytes(&bytes, b"OPENSSH PRIVATE KEY"),
            "{}",
            path.display()
        );
    }
}

/// Scans every process's argv for `needle` (this machine's `ps` reads the same files).
fn argv_contains(needle: &str) -> Option<String> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if contains_bytes(&cmdline, needle.as_bytes()) {
                return Some(String::from_utf8_lossy(&cmdline).replace('\0', " "));
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_leak_into_argv_files_or_api_during_and_after_a_sync() {
    // The hung attempt ends at the deadline; the retry then meets a remote that answers.
    let fx = Fixture::with(|c| c.tuning.git_timeout_secs = 3).await;
    let secret = format!("Leak-Test-{}", std::process::id());
    let remote = GitHttpRemote::start(Some(("leaky", secret.as_str()))).await;
    remote.create_repo("leak");
    // A hanging remote keeps git running while we look at every process's argv.
    remote.set_hang(true);
    let id = fx
        .add_mirror(
            json!({"url": remote.url_with_credentials("leak", "leaky", &secret), "enabled": true}),
        )
        .await;
    first_commit_pushed(&fx.push_url).await;
    fx.wait_for(id, "started", || true).await;
    assert!(
        poll_until(Duration::from_secs(10), || async {
            !remote.request_log().is_empty()
        })
        .await,
        "git never reached the remote"
    );
    assert_eq!(
        argv_contains(&secret),
        None,
        "a process's argv holds the secret"
    );
    remote.set_hang(false);
    fx.wait_for(id, "finished", || remote.refs("leak") == fx.local_refs())
        .await;
    assert_eq!(argv_contains(&secret), None);
    for (path, bytes) in read_all_files(&fx.server.data_dir()) {
        assert!(
            !contains_bytes(&bytes, secret.as_bytes()),
            "{} holds the secret",
            path.display()
        );
    }
    for body in fx.server.seen_bodies() {
        assert!(!body.contains(&secret), "{body}");
    }
}

/// Serve flags of the kill test: loopback remotes, a short lease so the restarted server takes
/// over the killed update quickly, retries a second apart, and a git deadline far beyond the test.
const KILL_FLAGS: &[&str] = &[
    "--allow-local-network",
    "--lease-secs",
    "2",
    "--retry-delay-secs",
    "1",
    "--git-timeout-secs",
    "600",
];

/// The real binary, so it can be killed with SIGKILL mid-update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_update_then_restart_converges_and_never_stays_started() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_admin_token(&data, None);
    let secret = format!("Kill9-Secret-{}", std::process::id());
    let remote = GitHttpRemote::start(Some(("k", secret.as_str()))).await;
    remote.create_repo("k9");
    remote.set_hang(true);
    let mut server = ServerProcess::start(&data, None, KILL_FLAGS, &[]);
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    let mirror = api
        .create_mirror(
            project,
            &remote.url_with_credentials("k9", "k", &secret),
            true,
        )
        .await
        .id;
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("one");
    })
    .await;
    work_push(&work, &server.push_url(&token, "origin"), &["main"]).await;
    assert!(
        poll_until(CONVERGE, || async {
            api.mirror(project, mirror).await.update_status == "started"
        })
        .await
    );
    // SIGKILL: no chance to release the lease or record anything.
    server.kill_9();
    remote.set_hang(false);
    server.start_again();
    let api = server.api(&token);
    let repo = data.join(format!("repositories/{project}.git"));
    if let Err(last) = poll_for(
        CONVERGE,
        || api.mirror(project, mirror),
        |m| m.update_status == "finished" && remote.refs("k9") == refs_of(&repo),
    )
    .await
    {
        panic!("not converged after restart: {last:?}");
    }

    assert!(
        !contains_bytes(server.log_text().as_bytes(), secret.as_bytes()),
        "the server log holds the secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_changed_behind_our_back_is_detected_and_forced_back() {
    remote_changed_behind_our_back(Fixture::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_changed_behind_our_back_is_detected_and_forced_back_on_postgresql() {
    let Some(fx) = Fixture::on_postgres().await else {
        return;
    };
    remote_changed_behind_our_back(fx).await;
}

/// The first update lists the remote and records its state, which the node keeps; the second
/// plans from that copy. Then someone force-pushes the remote: the third update, planning from
/// the copy again, hits a stale lease, lists the remote and forces it back.
async fn remote_changed_behind_our_back(fx: Fixture) {
    let daemon = GitDaemonRemote::start();
    let remote_url = daemon.create_repo("drift");
    let id = fx
        .add_mirror(json!({"url": remote_url, "enabled": true}))
        .await;
    let work = first_commit_pushed(&fx.push_url).await;
    fx.wait_for(id, "finished", || daemon.refs("drift") == fx.local_refs())
        .await;
    let w = work.clone();
    blocking(move || w.commit("two")).await;
    work_push(&work, &fx.push_url, &["main"]).await;
    fx.wait_for(id, "finished", || daemon.refs("drift") == fx.local_refs())
        .await;
    // Someone force-pushes the remote's main; the engine's recorded state is now wrong.
    let other = Arc::new(Work::new());
    let (o, url) = (other.clone(), remote_url.clone());
    let foreign = blocking(move || {
        let c = o.commit("foreign");
        o.git(&[
            "-c",
            "protocol.git.allow=always",
            "push",
            "-q",
            "-f",
            &url,
            "HEAD:main",
        ]);
        c
    })
    .await;
    assert_eq!(daemon.refs("drift")["refs/heads/main"], foreign);
    let w = work.clone();
    let ours = blocking(move || w.commit("three")).await;
    work_push(&work, &fx.push_url, &["main"]).await;
    let m = fx
        .wait_for(id, "finished", || {
            daemon.refs("drift")["refs/heads/main"] == ours
        })
        .await;
    assert!(m.last_error.is_none(), "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_never_plans_from_its_copy_of_a_state_another_node_rewrote() {
    let server = TestServer::builder().local_network(true).start().await;
    two_nodes_take_turns(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_never_plans_from_its_copy_of_a_state_another_node_rewrote_on_postgresql() {
    let Some(server) = TestServer::builder()
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    two_nodes_take_turns(server).await;
}

/// Two nodes share one database and one repository root, each with its own runner (so its own
/// cache of remote states), and take turns updating one mirror. Node A records `main` and `t1`;
/// node B reads that state from the database and adds tag `t2`; then `t2` is deleted and branch
/// `feature` created. Node A still holds its copy without `t2`, and the lease cannot tell (it
/// only pushes `feature`, absent in both states): only re-reading the state B wrote makes A
/// delete `t2` from the remote.
async fn two_nodes_take_turns(server: TestServer) {
    use pushmirror::jobs::Runner;
    let fx = Fixture::on(server).await;
    let node_a = Runner::new(fx.server.state.0.clone());
    let mut store =
        pushmirror::config::StoreConfig::resolve(Some(fx.server.data_dir()), None, None);
    store.database_url = fx.server.state.database_url.clone();
    let config = pushmirror::config::ServeConfig {
        store,
        listen: "127.0.0.1:0".parse().unwrap(),
        external_url: fx.server.base.clone(),
        allow_local_network: true,
        tuning: pushmirror::config::Tuning::default(),
        shutdown_grace: Duration::from_secs(5),
        monitoring_allowlist: pushmirror::model::cidr::loopback(),
        smtp: None,
        lfs: Default::default(),
        ssh: Default::default(),
    };
    let node_b = Runner::new(pushmirror::app::App::build(&config).await.unwrap());
    let daemon = GitDaemonRemote::start();
    let id = fx
        .add_mirror(json!({"url": daemon.create_repo("turns"), "enabled": true}))
        .await;
    // Runs `node`'s due jobs until the remote equals the hosted repository.
    let converge = |node: Arc<Runner>, step: &'static str| {
        let (fx, daemon) = (&fx, &daemon);
        async move {
            let converged = poll_until(CONVERGE, || {
                let node = node.clone();
                async move {
                    node.run_pending().await;
                    daemon.refs("turns") == fx.local_refs()
                }
            })
            .await;
            assert!(converged, "{step}: {:?}", daemon.refs("turns"));
            let m = fx.mirror(id).await;
            assert_eq!(m.update_status, "finished", "{step}: {m:?}");
        }
    };
    let work = std::sync::Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("one");
        w.git(&["tag", "t1"]);
    })
    .await;
    work_push(&work, &fx.push_url, &["main", "t1"]).await;
    converge(node_a.clone(), "node A's first update").await;
    let w = work.clone();
    blocking(move || w.git(&["tag", "t2"])).await;
    work_push(&work, &fx.push_url, &["t2"]).await;
    converge(node_b.clone(), "node B's update").await;
    assert!(daemon.refs("turns").contains_key("refs/tags/t2"));
    let w = work.clone();
    blocking(move || w.git(&["branch", "feature"])).await;
    work_push(&work, &fx.push_url, &[":refs/tags/t2", "feature"]).await;
    converge(node_a, "node A's second update").await;
    assert!(!daemon.refs("turns").contains_key("refs/tags/t2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_after_failed_tries_again() {
    let fx = Fixture::with(|c| c.tuning.retry_delay_secs = 0).await;
    let mut daemon = GitDaemonRemote::start();
    daemon.create_repo("again");
    let id = fx
        .add_mirror(json!({"url": daemon.url("again"), "enabled": true}))
        .await;
    daemon.stop();
    first_commit_pushed(&fx.push_url).await;
    fx.wait_for(id, "failed", || true).await;
    daemon.resume();
    fx.sync(id).await;
    fx.wait_for(id, "finished", || daemon.refs("again") == fx.local_refs())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_an_unchanged_remote_does_not_list_it_first() {
    let fx = Fixture::new().await;
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("cheap");
    let id = fx
        .add_mirror(json!({"url": remote.url("cheap"), "enabled": true}))
        .await;
    let work = first_commit_pushed(&fx.push_url).await;
    fx.wait_for(id, "finished", || remote.refs("cheap") == fx.local_refs())
        .await;
    let listings = |log: &[remotes::LoggedRequest]| {
        log.iter()
            .filter(|r| r.uri.contains("service=git-upload-pack"))
            .count()
    };
    let before = listings(&remote.request_log());
    let w = work.clone();
    blocking(move || {
        w.commit("two");
    })
    .await;
    work_push(&work, &fx.push_url, &["main"]).await;
    fx.wait_for(id, "finished", || remote.refs("cheap") == fx.local_refs())
        .await;
    // The second update pushed (one receive-pack advertisement) without an ls-remote first.
    assert_eq!(listings(&remote.request_log()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_runs_on_postgresql_too() {
    let Some(fx) = Fixture::on_postgres().await else {
        return;
    };
    let daemon = GitDaemonRemote::start();
    let ids = [
        fx.add_mirror(json!({"url": daemon.create_repo("pg1"), "enabled": true}))
            .await,
        fx.add_mirror(
            json!({"url": daemon.create_repo("pg2"), "enabled": true, "keep_divergent_refs": true}),
        )
        .await,
    ];
    let work = Arc::new(Work::new());
    for i in 0..3 {
        let w = work.clone();
        blocking(move || {
            w.commit(&format!("c{i}"));
            w.git(&["tag", &format!("t{i}")]);
        })
        .await;
        work_push(&work, &fx.push_url, &["main", "--tags"]).await;
    }
    for (id, name) in ids.into_iter().zip(["pg1", "pg2"]) {
        fx.wait_for(id, "finished", || daemon.refs(name) == fx.local_refs())
            .await;
    }
}

/// GitLab's retry schedule, on a manual clock with the queue drained by hand (the runner is not
/// started): a failing update goes `to_retry`, is not tried again before its delay, is tried at
/// it, and after the third retry the mirror is `failed` and nothing more runs.
#[tokio::test]
async fn retries_follow_gitlabs_schedule_on_a_manual_clock() {
    const DELAY_MS: i64 = 300_000;
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let server = TestServer::builder()
        .local_network(true)
        .clock(clock.clone())
        .tweak(|c| c.tuning.retry_delay_secs = (DELAY_MS / 1000) as u64)
        .start()
        .await;
    let api = server.api(&server.token("root", true).await);
    let project = api.create_project("origin").await.id;
    // A port nobody listens on: every attempt fails at once.
    let url = format!("http://127.0.0.1:{}/m.git", common::binary::free_port());
    let id = api.create_mirror(project, &url, true).await.id;
    api.sync(project, id).await;
    let mirror = || async { server.state.store.mirror_by_id(id).await.unwrap().unwrap() };
    for retries in 1..=3 {
        assert_eq!(
            server.run_pending().await,
            1,
            "attempt before retry {retries}"
        );
        let m = mirror().await;
        assert_eq!(m.update_status.as_str(), "to_retry");
        assert_eq!(m.retry_count, retries);
        assert!(m.last_error.is_some());
        clock.advance(DELAY_MS - 1);
        assert_eq!(server.run_pending().await, 0, "retry {retries} ran early");
        clock.advance(1);
    }
    assert_eq!(server.run_pending().await, 1, "the last retry");
    assert_eq!(mirror().await.update_status.as_str(), "failed");
    clock.advance(10 * DELAY_MS);
    assert_eq!(
        server.run_pending().await,
        0,
        "a failed mirror waits for a push or a sync"
    );
    assert!(!server.state.store.mirror_update_pending(id).await.unwrap());
}

/// A rotated credential is tried at once: after a finished mirror's password changes (same host
/// and path), the next sync talks to the remote, fails loudly in words a person can act on
/// (never the password), and succeeds once the right password is set. A sync with nothing to
/// push still reaches the remote.
async fn a_rotated_credential_is_tried(fx: Fixture) {
    let remote = GitHttpRemote::start(Some(("bot", "right-Pa55"))).await;
    remote.create_repo("rot");
    let right = remote.url_with_credentials("rot", "bot", "right-Pa55");
    let id = fx.add_mirror(json!({"url": right, "enabled": true})).await;
    first_commit_pushed(&fx.push_url).await;
    fx.wait_for(id, "finished", || remote.refs("rot") == fx.local_refs())
        .await;

    // Nothing to push: the sync still lists the remote.
    let seen = remote.request_log().len();
    fx.sync(id).await;
    poll_until(CONVERGE, || async { remote.request_log().len() > seen }).await;
    assert!(
        remote.request_log().len() > seen,
        "a no-op sync never reached the remote"
    );

    let wrong = remote.url_with_credentials("rot", "bot", "rotated-Wr0ng-Qx7");
    let m = fx
        .api
        .update_mirror(fx.project_id, id, json!({"url": wrong}))
        .await;
    assert_eq!(
        m.update_status, "none",
        "a new credential starts the status over"
    );
    fx.sync(id).await;
    let m = poll_for(
        CONVERGE,
        || fx.mirror(id),
        |m| matches!(m.update_status.as_str(), "to_retry" | "failed"),
    )
    .await
    .unwrap_or_else(|m| panic!("the wrong password was never tried: {m:?}"));
    let err = m.last_error.unwrap_or_default();
    assert!(err.starts_with("Authentication failed (HTTP 401)"), "{err}");
    assert!(!err.contains("rotated-Wr0ng-Qx7"), "{err}");

    fx.api
        .update_mirror(fx.project_id, id, json!({"url": right}))
        .await;
    fx.sync(id).await;
    let m = fx
        .wait_for(id, "finished", || remote.refs("rot") == fx.local_refs())
        .await;
    assert!(m.last_error.is_none(), "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_credential_is_tried_sqlite() {
    a_rotated_credential_is_tried(Fixture::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_credential_is_tried_postgres() {
    let Some(fx) = Fixture::on_postgres().await else {
        return;
    };
    a_rotated_credential_is_tried(fx).await;
}

/// An update queued before its project was archived pushes nothing; unarchiving queues the
/// project's mirrors again and they catch up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_projects_mirrors_wait_until_it_is_unarchived() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let fx = Fixture::on_manual_clock(clock).await;
    let daemon = GitDaemonRemote::start();
    daemon.create_repo("arch");
    let id = fx
        .add_mirror(json!({"url": daemon.url("arch"), "enabled": true}))
        .await;
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("a");
    })
    .await;
    work_push(&work, &fx.push_url, &["HEAD:main"]).await;
    fx.wait_until_requested(id).await;
    let archive = format!("/projects/{}/archive", fx.project_id);
    let r = fx.server.post_json(&archive, &fx.token, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    fx.server.run_pending().await;
    assert!(
        daemon.refs("arch").is_empty(),
        "nothing is pushed while archived"
    );
    assert_eq!(fx.mirror(id).await.update_status, "none");

    let unarchive = format!("/projects/{}/unarchive", fx.project_id);
    let r = fx.server.post_json(&unarchive, &fx.token, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        fx.server.run_pending().await >= 1,
        "unarchiving queued the mirror"
    );
    assert_eq!(daemon.refs("arch"), fx.local_refs());
    assert_eq!(fx.mirror(id).await.update_status, "finished");
}

/// An update that ends after its mirror's credentials changed records nothing: the change reset
/// the status, and what the old password achieved must not show as the new one's success (the
/// race `a_rotated_credential_is_tried` met on a busy machine).
async fn an_outcome_reached_with_old_settings_is_not_recorded(s: TestServer) {
    use pushmirror::model::status::{Transition, UpdateStatus};
    let root = s.token("root", true).await;
    let api = s.api(&root);
    let project = api.create_project("stale").await.id;
    let m = api
        .create_mirror_with(
            project,
            json!({"url": "https://bot:old-Pa55@git.example.com/m.git", "enabled": false}),
        )
        .await;
    let store = &s.state.store;
    assert!(store.mark_started(m.id, 1_000).await.unwrap());
    let finished = Transition {
        status: UpdateStatus::Finished,
        error: None,
        retry_count: 0,
        retry_at: None,
        event: None,
    };
    // Meanwhile the password changes: the status starts over.
    let r = s
        .put_json(
            &format!("/projects/{project}/remote_mirrors/{}", m.id),
            &root,
            json!({"url": "https://bot:new-Pa55@git.example.com/m.git"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["update_status"], "none", "{}", r.text);
    assert!(!store
        .record_transition(m.id, &finished, 1_000, 2_000, &[])
        .await
        .unwrap());
    let after = api.mirror(project, m.id).await;
    assert_eq!(
        after.update_status, "none",
        "the stale outcome was discarded"
    );
    assert!(after.last_successful_update_at.is_none());
    // The attempt that is the mirror's own is recorded.
    assert!(store.mark_started(m.id, 3_000).await.unwrap());
    assert!(
        !store
            .record_transition(m.id, &finished, 1_000, 4_000, &[])
            .await
            .unwrap(),
        "an older attempt's outcome"
    );
    assert!(store
        .record_transition(m.id, &finished, 3_000, 4_000, &[])
        .await
        .unwrap());
    assert_eq!(api.mirror(project, m.id).await.update_status, "finished");
}

#[tokio::test]
async fn an_outcome_reached_with_old_settings_is_not_recorded_sqlite() {
    an_outcome_reached_with_old_settings_is_not_recorded(TestServer::builder().start().await).await;
}

#[tokio::test]
async fn an_outcome_reached_with_old_settings_is_not_recorded_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    an_outcome_reached_with_old_settings_is_not_recorded(s).await;
}
