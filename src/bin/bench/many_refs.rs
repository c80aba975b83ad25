//! `many-refs`: a project with many branches and tags (100,000; tiny: 2,000), created fast on the
//! server's bare repository (`git fast-import` for the commits, `packed-refs` written directly),
//! then recorded by the push bookkeeping. Measures (a) the first full mirror against raw
//! `git push --mirror` to an empty remote, and (b) one branch moving: the mirror's update time
//! against a raw single-ref `git push` (the physical limit) and against `git push --mirror`
//! (what Gitea runs on every change). Remotes are served by one `git daemon`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::remotes::GitDaemonRemote;
use crate::report::Row;
use crate::setup::{ms, percentile, ref_update, wait_ref, BenchServer, Git};
use crate::Sizes;

/// Bound on the first full mirror: generous for a slow machine, still finite.
const FIRST_LIMIT: Duration = Duration::from_secs(1800);
/// Bound on one single-branch update.
const UPDATE_LIMIT: Duration = Duration::from_secs(120);
/// Times one branch is moved (the median is reported).
const MOVES: usize = 5;
/// The target for (b): update time ≤ 1.2 × the raw single-ref push.
const TARGET_RATIO: f64 = 1.2;
/// The branch that moves in (b).
const MOVING: &str = "refs/heads/b0000008";

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let server = BenchServer::start(None, |_| {}).await;
    let daemon = GitDaemonRemote::start();
    let mirror_url = daemon.create_repo("mirror");
    let raw_single_url = daemon.create_repo("raw-single");
    let raw_mirror_url = daemon.create_repo("raw-mirror");
    let mut conn = server.conn().await;
    let project = server.project(&mut conn, "many").await;
    let repo = crate::setup::hosted_repo(&server.state, project);
    let git = Git::new();
    let t = Instant::now();
    let main = populate(&git, &repo, sizes.refs);
    eprintln!(
        "bench: many-refs: {} refs created in {:.1} s",
        sizes.refs,
        t.elapsed().as_secs_f64()
    );
    server
        .record(project, &[ref_update("refs/heads/main", None, &main)])
        .await;
    let mirror = server.mirror(&mut conn, project, &mirror_url, true).await;

    // (a) The first full mirror, from the sync request to `finished`.
    let t0 = Instant::now();
    let r = conn
        .request(
            "POST",
            &format!("/api/v4/projects/{project}/remote_mirrors/{mirror}/sync"),
            None,
        )
        .await
        .expect("sync");
    assert_eq!(r.status, 204);
    server
        .wait_finished(mirror, Duration::from_millis(5), FIRST_LIMIT)
        .await;
    let first = t0.elapsed();
    let t0 = Instant::now();
    git.run(&repo, true, &["push", "-q", "--mirror", &raw_mirror_url]);
    let raw_first = t0.elapsed();
    git.run(&repo, true, &["push", "-q", "--mirror", &raw_single_url]);

    // (b) One branch moves, MOVES times.
    let mut update = Vec::new();
    let mut raw_single = Vec::new();
    let mut raw_mirror = Vec::new();
    let mirror_repo = daemon.repo_path("mirror");
    let moves = if sizes.tiny { 3 } else { MOVES };
    for i in 0..moves {
        let old = git.run(&repo, true, &["rev-parse", MOVING]);
        let new = git.commit_tree(&repo, Some(&old), &format!("move {i}"));
        git.run(&repo, true, &["update-ref", MOVING, &new, &old]);
        let t0 = Instant::now();
        server
            .record(project, &[ref_update(MOVING, Some(&old), &new)])
            .await;
        let seen = wait_ref(
            &mirror_repo,
            MOVING,
            &new,
            Duration::from_millis(1),
            UPDATE_LIMIT,
        )
        .expect("the moved branch reached the mirror");
        update.push(seen - t0);
        server
            .wait_finished(mirror, Duration::from_millis(5), UPDATE_LIMIT)
            .await;
        let t0 = Instant::now();
        git.run(
            &repo,
            true,
            &["push", "-q", &raw_single_url, &format!("{new}:{MOVING}")],
        );
        raw_single.push(t0.elapsed());
        let t0 = Instant::now();
        git.run(&repo, true, &["push", "-q", "--mirror", &raw_mirror_url]);
        raw_mirror.push(t0.elapsed());
    }
    server.stop().await;
    let (u, s, m) = (
        percentile(&update, 50.0),
        percentile(&raw_single, 50.0),
        percentile(&raw_mirror, 50.0),
    );
    let n = sizes.refs;
    vec![
        Row::new(
            "many-refs",
            format!("(a) first full mirror, {n} refs"),
            format!("{:.2} s", first.as_secs_f64()),
        )
        .baseline(
            format!("raw push --mirror {:.2} s", raw_first.as_secs_f64()),
            first.as_secs_f64() / raw_first.as_secs_f64(),
        ),
        Row::new(
            "many-refs",
            format!("(b) one branch moves, p50 of {moves}"),
            format!("{:.1} ms", ms(u)),
        )
        .baseline(
            format!("raw single-ref push {:.1} ms", ms(s)),
            ms(u) / ms(s),
        )
        .target(
            format!("≤ {TARGET_RATIO}× raw single-ref push"),
            ms(u) <= TARGET_RATIO * ms(s),
        ),
        Row::new(
            "many-refs",
            "(b) one branch moves vs Gitea's way",
            format!("{:.1} ms", ms(u)),
        )
        .baseline(format!("raw push --mirror {:.1} ms", ms(m)), ms(u) / ms(m)),
    ]
}

/// Creates `n` refs (half branches, half tags) over `n / 10` commits, plus `main`; returns
/// `main`'s commit id.
fn populate(git: &Git, repo: &Path, n: usize) -> String {
    let commits = (n / 10).max(1);
    let mut stream = String::new();
    for i in 1..=commits {
        let msg = format!("commit {i}\n");
        let content = format!("{i}\n");
        let _ = write!(
            stream,
            "commit refs/heads/main\nmark :{i}\ncommitter Bench <bench@example.com> {} +0000\n\
             data {}\n{msg}M 644 inline f\ndata {}\n{content}\n",
            1_700_000_000 + i,
            msg.len(),
            content.len()
        );
    }
    let marks = tempfile::NamedTempFile::new().expect("marks file");
    let marks_path = marks.path().to_str().expect("utf-8 temp path").to_owned();
    git.run_input(
        repo,
        true,
        &[
            "fast-import",
            "--quiet",
            &format!("--export-marks={marks_path}"),
        ],
        stream.as_bytes(),
    );
    let text = std::fs::read_to_string(marks.path()).expect("marks");
    let mut oids = vec![String::new(); commits + 1];
    for line in text.lines() {
        if let Some((mark, oid)) = line.split_once(' ') {
            if let Ok(m) = mark.trim_start_matches(':').parse::<usize>() {
                oids[m] = oid.to_owned();
            }
        }
    }
    // `packed-refs` sorted by name; lightweight tags point at commits, so nothing needs peeling.
    let mut refs: Vec<(String, &str)> = (0..n)
        .map(|j| {
            let kind = if j % 2 == 0 { "heads/b" } else { "tags/t" };
            (format!("refs/{kind}{j:07}"), oids[j % commits + 1].as_str())
        })
        .collect();
    refs.sort();
    let mut packed = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    for (name, oid) in &refs {
        let _ = writeln!(packed, "{oid} {name}");
    }
    std::fs::write(repo.join("packed-refs"), packed).expect("write packed-refs");
    oids[commits].clone()
}
