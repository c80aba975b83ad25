//! `chaos`: load and failure together, counted rather than timed. For a while (30 s; tiny: 3 s)
//! API clients read mirror lists and projects as fast as they can, a pusher pushes a new commit
//! into one of the projects every 200 ms with the real git CLI, and the mirrors' one remote
//! host flaps (down, hanging, up). Then the remote stays up, every mirror is synced once, and
//! the scenario waits (bounded) for every mirror to hold its project's newest commit.
//!
//! Printed: API requests and how many were not 2xx, pushes and how many failed, lost updates
//! (mirrors whose remote does not hold the hosted branch after the wait), mirrors left
//! `started`, and the peak RSS of this process (the server runs in it, beside the load).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::remotes::GitHttpRemote;
use crate::report::Row;
use crate::setup::{read_ref, BenchServer, Git};
use crate::Sizes;

const NAME: &str = "chaos";
/// Projects, each with one mirror on the flapping host.
const PROJECTS: usize = 4;
/// API load connections.
const CLIENTS: usize = 4;
/// Time between pushes.
const PUSH_EVERY: Duration = Duration::from_millis(200);
/// Longest wait for every mirror to converge once the remote is back for good.
const CONVERGE_LIMIT: Duration = Duration::from_secs(120);

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let chaos_for = if sizes.tiny {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(30)
    };
    // Short retries and git deadlines, so mirrors keep trying while the remote flaps.
    let server = BenchServer::start(None, |e| {
        e.retry_delay_secs = 1;
        e.retry_delay_protected_secs = 1;
        e.git_timeout_secs = 5;
    })
    .await;
    let remote = Arc::new(GitHttpRemote::start(None).await);
    let git = Arc::new(Git::new());
    let mut conn = server.conn().await;
    let mut projects = Vec::new();
    for p in 0..PROJECTS {
        let name = format!("chaos{p}");
        let id = server.project(&mut conn, &name).await;
        let url = remote.create_repo(&name);
        let mirror = server.mirror(&mut conn, id, &url, true).await;
        let work = git.work();
        git.run(
            work.path(),
            false,
            &["push", "-q", &server.push_url(&name), "main"],
        );
        projects.push((name, id, mirror, work));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let non_2xx = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for c in 0..CLIENTS {
        let mut conn = server.conn().await;
        let (stop, requests, non_2xx) = (stop.clone(), requests.clone(), non_2xx.clone());
        let ids: Vec<i64> = projects.iter().map(|p| p.1).collect();
        load.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let id = ids[i % ids.len()];
                let path = if i % 2 == 0 {
                    format!("/api/v4/projects/{id}/remote_mirrors")
                } else {
                    format!("/api/v4/projects/{id}")
                };
                i += 1;
                let ok = matches!(conn.request("GET", &path, None).await, Ok(r) if (200..300).contains(&r.status));
                requests.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    non_2xx.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let flapper = {
        let (stop, remote) = (stop.clone(), remote.clone());
        tokio::task::spawn_blocking(move || {
            let mut phase = 0u32;
            while !stop.load(Ordering::Relaxed) {
                match phase % 3 {
                    0 => remote.set_down(true),
                    1 => {
                        remote.set_down(false);
                        remote.set_hang(true);
                    }
                    _ => remote.set_hang(false),
                }
                phase += 1;
                std::thread::sleep(Duration::from_millis(700));
            }
            remote.set_hang(false);
            remote.set_down(false);
        })
    };
    let started = Instant::now();
    let (mut pushes, mut push_failures) = (0u64, 0u64);
    while started.elapsed() < chaos_for {
        let (name, _, _, work) = &projects[pushes as usize % PROJECTS];
        let (git, dir, url) = (git.clone(), work.path().to_owned(), server.push_url(name));
        let pushed = tokio::task::spawn_blocking(move || {
            git.run(
                &dir,
                false,
                &["commit", "-q", "--allow-empty", "-m", "chaos"],
            );
            git.cmd(&dir, false)
                .args(["push", "-q", &url, "main"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .await
        .expect("push task");
        pushes += 1;
        if !pushed {
            push_failures += 1;
        }
        tokio::time::sleep(PUSH_EVERY).await;
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        let _ = l.await;
    }
    flapper.await.expect("flapper");

    // The remote is up for good: ask once, then wait for every mirror to hold the newest commit.
    for (_, id, mirror, _) in &projects {
        let _ = conn
            .request(
                "POST",
                &format!("/api/v4/projects/{id}/remote_mirrors/{mirror}/sync"),
                None,
            )
            .await;
    }
    let deadline = Instant::now() + CONVERGE_LIMIT;
    let converged = |name: &str, id: i64| {
        let hosted = read_ref(
            &crate::setup::hosted_repo(&server.state, id),
            "refs/heads/main",
        );
        hosted.is_some() && hosted == read_ref(&remote.repo_path(name), "refs/heads/main")
    };
    while Instant::now() < deadline && !projects.iter().all(|(n, id, _, _)| converged(n, *id)) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lost = projects
        .iter()
        .filter(|(n, id, _, _)| !converged(n, *id))
        .count();
    let mut started_left = 0;
    for (_, _, mirror, _) in &projects {
        let m = server
            .state
            .store
            .mirror_by_id(*mirror)
            .await
            .ok()
            .flatten();
        if m.is_some_and(|m| m.update_status.as_str() == "started") {
            started_left += 1;
        }
    }
    let peak_rss_mb = peak_rss_kb() as f64 / 1024.0;
    server.stop().await;
    let (requests, non_2xx) = (
        requests.load(Ordering::Relaxed),
        non_2xx.load(Ordering::Relaxed),
    );
    vec![
        Row::new(
            NAME,
            format!("API requests under load for {} s", chaos_for.as_secs()),
            requests.to_string(),
        ),
        Row::new(NAME, "API responses not 2xx", non_2xx.to_string()).target("0", non_2xx == 0),
        Row::new(
            NAME,
            "pushes (failed)",
            format!("{pushes} ({push_failures})"),
        )
        .target("0 failed", push_failures == 0),
        Row::new(
            NAME,
            format!(
                "lost updates (of {PROJECTS} mirrors, after ≤ {} s)",
                CONVERGE_LIMIT.as_secs()
            ),
            lost.to_string(),
        )
        .target("0", lost == 0),
        Row::new(NAME, "mirrors left started", started_left.to_string())
            .target("0", started_left == 0),
        Row::new(
            NAME,
            "peak RSS of server + load",
            format!("{peak_rss_mb:.1} MB"),
        ),
    ]
}

/// `VmHWM` (peak resident memory) of this process, in KiB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
