//! `pull`: imports and pull mirrors (issue 22) against raw git on the same machine, all through
//! GitLab's API. The source is a bare repository served by `git http-backend` on loopback with
//! many refs and incompressible content (100,000 refs and ~100 MB; tiny: 2,000 refs and ~1 MB),
//! made with `git fast-import` and a written `packed-refs`. Measures:
//!
//! - (a) an import: `POST /projects` with `import_url` until `GET /projects/:id/import` says
//!   `finished`, against `git clone --mirror` of the same source (a warm-up clone first, so
//!   both read a warm page cache);
//! - (b) one branch moving in the source: `POST /projects/:id/mirror/pull` until the branch
//!   moved here, against `git fetch` of that one ref into a mirror clone;
//! - (c) a relay: a push to a small source, the sync an upstream's webhook would ask for
//!   (`POST …/mirror/pull`), and the push mirrors to two remotes, from the end of the source
//!   push to both remotes' ref, against `git fetch` + `git push` × 2 back to back.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::Conn;
use crate::remotes::GitHttpRemote;
use crate::report::Row;
use crate::setup::{hosted_repo, ms, percentile, read_ref, wait_ref, BenchServer, Git};
use crate::Sizes;

/// Bound on one import or one first sync of the big source.
const IMPORT_LIMIT: Duration = Duration::from_secs(1800);
/// Bound on one small sync or one relay round.
const SYNC_LIMIT: Duration = Duration::from_secs(120);
/// How often the API or a ref on disk is looked at while waiting.
const POLL: Duration = Duration::from_millis(2);
/// The targets: import ≤ 1.1× the mirror clone, one-ref sync ≤ 1.2× the one-ref fetch,
/// relay p50 ≤ 1.1× the raw steps.
const IMPORT_TARGET: f64 = 1.1;
const SYNC_TARGET: f64 = 1.2;
const RELAY_TARGET: f64 = 1.1;
/// Times one branch moves in (b) (the median is reported).
const MOVES: usize = 5;
/// The branch that moves in (b).
const MOVING: &str = "refs/heads/b0000008";

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let server = BenchServer::start(None, |_| {}).await;
    let source = GitHttpRemote::start(None).await;
    let url = source.create_repo("src");
    let git = Git::new();
    let megabytes = if sizes.tiny { 1 } else { 100 };
    let t = Instant::now();
    populate(&git, &source.repo_path("src"), sizes.refs, megabytes << 20);
    eprintln!(
        "bench: pull: source of {} refs and ~{megabytes} MB made in {:.1} s",
        sizes.refs,
        t.elapsed().as_secs_f64()
    );
    let mut conn = server.conn().await;
    let raws = tempfile::tempdir().expect("raw clones dir");
    let mut rows = Vec::new();

    // (a) The import, between a warm-up mirror clone and the measured one.
    let _ = clone_mirror(&git, &url, &raws.path().join("warm.git"));
    let t0 = Instant::now();
    let project = import(&mut conn, "imported", &url).await;
    let imported = t0.elapsed();
    let raw_dir = raws.path().join("raw.git");
    let raw_clone = clone_mirror(&git, &url, &raw_dir);
    let n = sizes.refs;
    rows.push(
        Row::new(
            "pull",
            format!("(a) import of {n} refs / ~{megabytes} MB (POST → finished)"),
            format!("{:.2} s", imported.as_secs_f64()),
        )
        .baseline(
            format!("git clone --mirror {:.2} s", raw_clone.as_secs_f64()),
            imported.as_secs_f64() / raw_clone.as_secs_f64(),
        )
        .target(
            format!("≤ {IMPORT_TARGET}× clone --mirror"),
            imported.as_secs_f64() <= IMPORT_TARGET * raw_clone.as_secs_f64(),
        ),
    );

    // (b) The imported project becomes a pull mirror of its source; its first sync moves
    // nothing (every ref is here), then one branch moves at a time.
    let t0 = Instant::now();
    let r = conn
        .request(
            "PUT",
            &format!("/api/v4/projects/{project}/mirror/pull"),
            Some(&json!({"enabled": true, "url": url})),
        )
        .await
        .expect("configure the pull mirror");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_synced(&server, project, 0, IMPORT_LIMIT).await;
    let first_sync = t0.elapsed();
    rows.push(Row::new(
        "pull",
        format!("(b) first sync of the imported project ({n} refs, none moved)"),
        format!("{:.2} s", first_sync.as_secs_f64()),
    ));
    let src = source.repo_path("src");
    let here = hosted_repo(&server.state, project);
    let mut syncs = Vec::new();
    let mut fetches = Vec::new();
    let moves = if sizes.tiny { 3 } else { MOVES };
    for i in 0..moves {
        let old = git.run(&src, true, &["rev-parse", MOVING]);
        let new = git.commit_tree(&src, Some(&old), &format!("move {i}"));
        git.run(&src, true, &["update-ref", MOVING, &new, &old]);
        let asked = server.state.now_ms();
        let watcher = watch(&here, MOVING, &new);
        let t0 = Instant::now();
        sync_now(&mut conn, project).await;
        let seen = watcher
            .join()
            .expect("watcher thread")
            .expect("the moved branch arrived");
        syncs.push(seen - t0);
        wait_synced(&server, project, asked, SYNC_LIMIT).await;
        let t0 = Instant::now();
        git.run(
            &raw_dir,
            true,
            &["fetch", "-q", &url, &format!("+{MOVING}:{MOVING}")],
        );
        fetches.push(t0.elapsed());
        assert_eq!(read_ref(&raw_dir, MOVING).as_deref(), Some(new.as_str()));
    }
    let (s, f) = (percentile(&syncs, 50.0), percentile(&fetches, 50.0));
    rows.push(
        Row::new(
            "pull",
            format!("(b) one branch moved in {n} refs: POST → here, p50 of {moves}"),
            format!("{:.1} ms", ms(s)),
        )
        .baseline(
            format!("git fetch of the ref {:.1} ms", ms(f)),
            ms(s) / ms(f),
        )
        .target(
            format!("≤ {SYNC_TARGET}× one-ref fetch"),
            ms(s) <= SYNC_TARGET * ms(f),
        ),
    );

    rows.extend(relay(&server, &mut conn, &git, &source, sizes).await);
    server.stop().await;
    rows
}

/// (c) The relay: source → pull sync → two push mirrors, against the raw steps.
async fn relay(
    server: &BenchServer,
    conn: &mut Conn,
    git: &Git,
    source: &GitHttpRemote,
    sizes: Sizes,
) -> Vec<Row> {
    let remotes = GitHttpRemote::start(None).await;
    let src_url = source.create_repo("relay-src");
    let work = git.work();
    git.run(work.path(), false, &["push", "-q", &src_url, "main"]);
    let raws = tempfile::tempdir().expect("raw relay dir");
    let raw_mirror = raws.path().join("relay.git");
    clone_mirror(git, &src_url, &raw_mirror);
    let project = server.project(conn, "relay").await;
    let r = conn
        .request(
            "PUT",
            &format!("/api/v4/projects/{project}/mirror/pull"),
            Some(&json!({"enabled": true, "url": src_url})),
        )
        .await
        .expect("configure the relay's pull mirror");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_synced(server, project, 0, SYNC_LIMIT).await;
    let mut mirrors = Vec::new();
    for name in ["m1", "m2"] {
        let url = remotes.create_repo(name);
        server.mirror(conn, project, &url, true).await;
        mirrors.push(remotes.repo_path(name));
    }
    let raw_targets = [remotes.create_repo("raw1"), remotes.create_repo("raw2")];
    let warm_up = 2;
    let rounds = sizes.pushes;
    let mut relayed = Vec::new();
    let mut raw = Vec::new();
    for i in 0..warm_up + rounds {
        git.run(
            work.path(),
            false,
            &["commit", "-q", "--allow-empty", "-m", &format!("r{i}")],
        );
        let c = git.run(work.path(), false, &["rev-parse", "HEAD"]);
        let watchers: Vec<_> = mirrors
            .iter()
            .map(|m| watch(m, "refs/heads/main", &c))
            .collect();
        git.run(work.path(), false, &["push", "-q", &src_url, "main"]);
        let pushed = Instant::now();
        // What an upstream's push webhook does.
        sync_now(conn, project).await;
        let mut last = pushed;
        for w in watchers {
            let seen = w
                .join()
                .expect("watcher thread")
                .unwrap_or_else(|| panic!("relay round {i} did not reach a mirror"));
            last = last.max(seen);
        }
        let t0 = Instant::now();
        git.run(
            &raw_mirror,
            true,
            &["fetch", "-q", &src_url, "+refs/heads/main:refs/heads/main"],
        );
        for target in &raw_targets {
            git.run(&raw_mirror, true, &["push", "-q", target, "main"]);
        }
        let raw_took = t0.elapsed();
        if i >= warm_up {
            relayed.push(last - pushed);
            raw.push(raw_took);
        }
        // Let the server finish its bookkeeping so rounds do not overlap.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (p50, r50) = (percentile(&relayed, 50.0), percentile(&raw, 50.0));
    let p95 = percentile(&relayed, 95.0);
    vec![Row::new(
        "pull",
        format!("(c) relay: source push end → both push mirrors' ref, p50 / p95 ({rounds} pushes)"),
        format!("{:.1} ms / {:.1} ms", ms(p50), ms(p95)),
    )
    .baseline(
        format!("git fetch + git push ×2 {:.1} ms", ms(r50)),
        ms(p50) / ms(r50),
    )
    .target(
        format!("≤ {RELAY_TARGET}× the raw steps"),
        ms(p50) <= RELAY_TARGET * ms(r50),
    )]
}

/// `POST /projects` with `import_url`, then `GET /projects/:id/import` until `finished`;
/// returns the project's id.
async fn import(conn: &mut Conn, name: &str, url: &str) -> i64 {
    let r = conn
        .request(
            "POST",
            "/api/v4/projects",
            Some(&json!({"name": name, "import_url": url})),
        )
        .await
        .expect("create the imported project");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().expect("project id");
    let deadline = Instant::now() + IMPORT_LIMIT;
    loop {
        let r = conn
            .request("GET", &format!("/api/v4/projects/{id}/import"), None)
            .await
            .expect("import status");
        let body = r.json();
        match body["import_status"].as_str() {
            Some("finished") => return id,
            Some("failed") | Some("canceled") => panic!("the import ended: {body}"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the import did not finish: {body}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// `POST /projects/:id/mirror/pull` (202).
async fn sync_now(conn: &mut Conn, project: i64) {
    let r = conn
        .request(
            "POST",
            &format!("/api/v4/projects/{project}/mirror/pull"),
            None,
        )
        .await
        .expect("ask for a sync");
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
}

/// Waits until `project`'s pull mirror ended a sync begun at or after `since` (ms) with
/// `finished`.
async fn wait_synced(server: &BenchServer, project: i64, since: i64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let m = server
            .state
            .store
            .pull_mirror(project)
            .await
            .expect("pull_mirror")
            .expect("the pull mirror");
        let ended = m.update_status.as_str() != "started"
            && m.last_update_started_at.is_some_and(|t| t >= since)
            && m.last_update_at.is_some();
        if ended {
            assert_eq!(
                m.update_status.as_str(),
                "finished",
                "the sync failed: {:?}",
                m.last_error
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no sync ended within {limit:?}: {} {:?}",
            m.update_status.as_str(),
            m.last_error
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Watches `repo`'s ref `name` from a thread of its own until it is `want`.
fn watch(repo: &Path, name: &str, want: &str) -> std::thread::JoinHandle<Option<Instant>> {
    let (repo, name, want): (PathBuf, String, String) =
        (repo.to_owned(), name.to_owned(), want.to_owned());
    std::thread::spawn(move || wait_ref(&repo, &name, &want, Duration::from_millis(1), SYNC_LIMIT))
}

/// `git clone --mirror url dir`; how long it took.
fn clone_mirror(git: &Git, url: &str, dir: &Path) -> Duration {
    let t0 = Instant::now();
    let parent = dir.parent().expect("a parent");
    let target = dir.to_str().expect("utf-8 path");
    git.run(parent, false, &["clone", "-q", "--mirror", url, target]);
    t0.elapsed()
}

/// Fills the bare repository `repo` with `n` refs (half branches, half tags) over `n / 10`
/// commits plus `main`, each commit bringing a file of incompressible bytes so the whole is
/// about `bytes`.
fn populate(git: &Git, repo: &Path, n: usize, bytes: usize) {
    let commits = (n / 10).max(1);
    let per_commit = (bytes / commits).max(1);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut stream: Vec<u8> = Vec::with_capacity(bytes + commits * 200);
    for i in 1..=commits {
        let msg = format!("commit {i}\n");
        let _ = write!(
            Stream(&mut stream),
            "commit refs/heads/main\nmark :{i}\ncommitter Bench <bench@example.com> {} +0000\n\
             data {}\n{msg}M 644 inline f\ndata {per_commit}\n",
            1_700_000_000 + i,
            msg.len(),
        );
        for _ in 0..per_commit {
            // xorshift64: fast, and random enough that zlib cannot shrink it.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            stream.push(seed as u8);
        }
        stream.push(b'\n');
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
        &stream,
    );
    drop(stream);
    let text = std::fs::read_to_string(marks.path()).expect("marks");
    let mut oids = vec![String::new(); commits + 1];
    for line in text.lines() {
        if let Some((mark, oid)) = line.split_once(' ') {
            if let Ok(m) = mark.trim_start_matches(':').parse::<usize>() {
                oids[m] = oid.to_owned();
            }
        }
    }
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
}

/// `write!` into a byte buffer.
struct Stream<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Stream<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
