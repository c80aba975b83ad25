//! `propagation`: how long after a user's `git push` the mirror has the commit. One project, one
//! HTTP mirror (`git http-backend`); each round commits once, pushes it into the server with the
//! real git CLI, and polls the remote's ref on disk every millisecond from the moment the push
//! starts. Baseline: pushing the same commit straight to a second repository of the same remote
//! with raw `git push`.

use std::time::{Duration, Instant};

use crate::remotes::GitHttpRemote;
use crate::report::Row;
use crate::setup::{ms, percentile, read_ref, wait_ref, BenchServer, Git};
use crate::Sizes;

/// How often the remote's ref is read while waiting.
const POLL: Duration = Duration::from_millis(1);
/// Longest wait for one propagation before the scenario fails.
const LIMIT: Duration = Duration::from_secs(60);
/// The target: p50 overhead beyond the raw push.
const TARGET_OVERHEAD_MS: f64 = 50.0;

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let server = BenchServer::start(None, |_| {}).await;
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("mirror");
    let raw_url = remote.create_repo("raw");
    let mut conn = server.conn().await;
    let project = server.project(&mut conn, "prop").await;
    server
        .mirror(&mut conn, project, &remote.url("mirror"), true)
        .await;
    let git = Git::new();
    let work = git.work();
    let push_url = server.push_url("prop");
    let mirror_repo = remote.repo_path("mirror");
    // Warm-up: the first update lists the remote; later ones plan against the recorded state.
    for _ in 0..2 {
        git.run(
            work.path(),
            false,
            &["commit", "-q", "--allow-empty", "-m", "warm"],
        );
        let c = git.run(work.path(), false, &["rev-parse", "HEAD"]);
        git.run(work.path(), false, &["push", "-q", &push_url, "main"]);
        git.run(work.path(), false, &["push", "-q", &raw_url, "main"]);
        wait_ref(&mirror_repo, "refs/heads/main", &c, POLL, LIMIT).expect("warm-up propagated");
    }
    let mut lag = Vec::new();
    let mut end_to_end = Vec::new();
    let mut raw = Vec::new();
    let mut user_push = Vec::new();
    for i in 0..sizes.pushes {
        git.run(
            work.path(),
            false,
            &["commit", "-q", "--allow-empty", "-m", &format!("c{i}")],
        );
        let c = git.run(work.path(), false, &["rev-parse", "HEAD"]);
        // The mirror may have the commit before the user's git has even exited, so its ref is
        // watched from before the push starts, by a thread of its own.
        let (repo, want) = (mirror_repo.clone(), c.clone());
        let watcher =
            std::thread::spawn(move || wait_ref(&repo, "refs/heads/main", &want, POLL, LIMIT));
        let t0 = Instant::now();
        git.run(work.path(), false, &["push", "-q", &push_url, "main"]);
        let pushed = Instant::now();
        user_push.push(pushed - t0);
        let seen = watcher
            .join()
            .expect("watcher thread")
            .unwrap_or_else(|| panic!("push {i} did not reach the mirror within {LIMIT:?}"));
        lag.push(signed_ms(pushed, seen));
        end_to_end.push(seen - t0);
        let t0 = Instant::now();
        git.run(work.path(), false, &["push", "-q", &raw_url, "main"]);
        raw.push(t0.elapsed());
        assert_eq!(
            read_ref(&remote.repo_path("raw"), "refs/heads/main").as_deref(),
            Some(c.as_str())
        );
        // Let the server finish its bookkeeping so rounds do not overlap.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
    let n = sizes.pushes;
    lag.sort_by(f64::total_cmp);
    let pick = |p: f64| lag[(((p / 100.0) * n as f64).ceil() as usize).clamp(1, n) - 1];
    let (p50, p95) = (pick(50.0), pick(95.0));
    let raw50 = ms(percentile(&raw, 50.0));
    let e2e50 = ms(percentile(&end_to_end, 50.0));
    let user50 = ms(percentile(&user_push, 50.0));
    // The measure: from the end of the user's push to the mirror's ref, beyond what a
    // raw push of the same commit straight to the remote takes.
    let overhead = p50 - raw50;
    vec![
        Row::new(
            "propagation",
            format!("user's push end → mirror ref, p50 / p95 ({n} pushes; < 0: before git exited)"),
            format!("{p50:.1} ms / {p95:.1} ms"),
        )
        .baseline(format!("raw git push {raw50:.1} ms"), p50 / raw50)
        .target(
            format!("overhead ≤ {TARGET_OVERHEAD_MS} ms (is {overhead:.1} ms)"),
            overhead <= TARGET_OVERHEAD_MS,
        ),
        Row::new(
            "propagation",
            "user's push start → mirror ref, p50 (end to end)",
            format!("{e2e50:.1} ms"),
        )
        .baseline(format!("raw git push {raw50:.1} ms"), e2e50 / raw50),
        Row::new(
            "propagation",
            "user's git push into pushmirror, p50",
            format!("{user50:.1} ms"),
        )
        .baseline(format!("raw git push {raw50:.1} ms"), user50 / raw50),
    ]
}

/// `to - from` in milliseconds, negative when `to` came first.
fn signed_ms(from: Instant, to: Instant) -> f64 {
    if to >= from {
        ms(to - from)
    } else {
        -ms(from - to)
    }
}
