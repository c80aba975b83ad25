//! `fan-out`: many projects × several mirrors (200 × 5; tiny: 4 × 2), every remote a repository
//! of one `git daemon`. After a warm-up round (every mirror holds the project's first commit),
//! each project gets one new commit and its push bookkeeping runs; the figure is the time until
//! every mirror is `finished` again, as updates per second. Baseline: the same raw `git push`es
//! (server repository → a twin remote repository) with the engine's parallelism.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::remotes::GitDaemonRemote;
use crate::report::Row;
use crate::setup::{copy_tree, ref_update, BenchServer, Git};
use crate::Sizes;

/// Bound on one round of updates.
const ROUND_LIMIT: Duration = Duration::from_secs(1800);
/// How often completion is checked: 0.3 % of a 17 s round at full size.
const POLL: Duration = Duration::from_millis(50);
/// The target: at least this fraction of the raw throughput.
const TARGET: f64 = 0.9;

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let server = BenchServer::start(None, |_| {}).await;
    let parallel = server.state.tuning.max_concurrent_updates;
    let per_host = server.state.tuning.max_updates_per_host;
    // All remotes are on one host, so the per-host limit applies as well.
    let parallel = parallel.min(per_host);
    let daemon = GitDaemonRemote::start();
    let git = Git::new();
    let template = daemon.create_repo("template");
    let _ = template;
    let template_path = daemon.repo_path("template");
    let (p_count, m_count) = (sizes.projects, sizes.mirrors_per_project);
    let mut conn = server.conn().await;
    let mut projects = Vec::new();
    for p in 0..p_count {
        let id = server.project(&mut conn, &format!("fan{p}")).await;
        for m in 0..m_count {
            for kind in ["m", "raw"] {
                copy_tree(
                    &template_path,
                    &daemon.repo_path(&format!("{kind}-{p}-{m}")),
                )
                .expect("copy template repository");
            }
            server
                .mirror(&mut conn, id, &daemon.url(&format!("m-{p}-{m}")), true)
                .await;
        }
        projects.push(id);
    }
    let total = p_count * m_count;
    let mut results = Vec::new();
    let mut tips: Vec<Option<String>> = vec![None; p_count];
    for round in ["cold (first mirror)", "warm (one new commit)"] {
        // New commits in every project's repository before the clock starts.
        let mut updates = Vec::new();
        for (i, &id) in projects.iter().enumerate() {
            let repo = crate::setup::hosted_repo(&server.state, id);
            let new = git.commit_tree(&repo, tips[i].as_deref(), round);
            let old = tips[i].replace(new.clone());
            git.run(&repo, true, &["update-ref", "refs/heads/main", &new]);
            updates.push(ref_update("refs/heads/main", old.as_deref(), &new));
        }
        settle_disk();
        let t0 = Instant::now();
        for (id, u) in projects.iter().zip(&updates) {
            server.record(*id, std::slice::from_ref(u)).await;
        }
        wait_all_finished(&server, total).await;
        let engine = t0.elapsed();
        let jobs: Vec<(PathBuf, String)> = (0..p_count)
            .flat_map(|p| {
                let repo = crate::setup::hosted_repo(&server.state, projects[p]);
                (0..m_count).map(move |m| (repo.clone(), format!("raw-{p}-{m}")))
            })
            .map(|(repo, name)| (repo, daemon.url(&name)))
            .collect();
        settle_disk();
        let raw = raw_pushes(&git, jobs, parallel);
        let (e_rate, r_rate) = (
            total as f64 / engine.as_secs_f64(),
            total as f64 / raw.as_secs_f64(),
        );
        let mut row = Row::new(
            "fan-out",
            format!("{round}: {p_count}×{m_count} updates, {parallel} at once"),
            format!("{e_rate:.1} updates/s ({:.2} s)", engine.as_secs_f64()),
        )
        .baseline(
            format!("raw git push {r_rate:.1}/s ({:.2} s)", raw.as_secs_f64()),
            e_rate / r_rate,
        );
        if round.starts_with("warm") {
            row = row.target(
                format!("≥ {TARGET}× raw throughput"),
                e_rate >= TARGET * r_rate,
            );
        }
        results.push(row);
    }
    server.stop().await;
    results
}

/// Flushes dirty pages to disk before a timed phase, so neither side pays for the other's (or an
/// earlier scenario's) writeback in its own fsyncs: git syncs packs and refs as it receives them.
fn settle_disk() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Waits until every mirror is `finished` with nothing pending. One cheap query per poll, and
/// not too often: the poll competes for the same two cores as the work it watches.
async fn wait_all_finished(server: &BenchServer, total: usize) {
    let deadline = Instant::now() + ROUND_LIMIT;
    loop {
        let (done, failed): (i64, i64) = sqlx::query_as(
            "select coalesce(sum(case when update_status = 'finished' and not exists \
                                  (select 1 from jobs where dedup_key = 'mirror:' || remote_mirrors.id) \
                                  then 1 else 0 end), 0), \
                    coalesce(sum(case when update_status in ('failed', 'to_retry') \
                                  then 1 else 0 end), 0) \
             from remote_mirrors",
        )
        .fetch_one(server.state.store.pool())
        .await
        .expect("count finished mirrors");
        if done as usize >= total {
            return;
        }
        assert!(failed == 0, "fan-out: {failed} mirrors failed");
        assert!(
            Instant::now() < deadline,
            "fan-out: only {done} of {total} mirrors finished within {ROUND_LIMIT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Runs `git push --force <url> main` from each repository with `parallel` pushes at once;
/// returns the wall time.
fn raw_pushes(git: &Git, jobs: Vec<(PathBuf, String)>, parallel: usize) -> Duration {
    let next = AtomicUsize::new(0);
    let jobs = Arc::new(jobs);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((repo, url)) = jobs.get(i) else {
                    return;
                };
                git.run(
                    repo,
                    true,
                    &[
                        "push",
                        "-q",
                        "--force",
                        url,
                        "refs/heads/main:refs/heads/main",
                    ],
                );
            });
        }
    });
    t0.elapsed()
}
