//! `lfs`: Git LFS, hosted and mirrored, against what a user would otherwise run on the same
//! machine in the same run: the real `git lfs` client against giftless (a real LFS server, from
//! PyPI, with its local storage). Four figures:
//!
//! 1. Hosting throughput of one large object: `git lfs push` into pushmirror vs into giftless,
//!    and `git lfs fetch` of it back from each (both servers on loopback, the same client).
//! 2. A mirror update that carries one large object to the remote (giftless behind the test
//!    remote's front, `git http-backend` for the git part) vs `git lfs push` of the same object
//!    to the same front.
//! 3. A repository with many LFS objects, one new object pushed: the mirror update's duration
//!    (the server's own `last_update_started_at` → `last_update_at`) vs `git lfs push --all` of
//!    the same repository to the same remote (GitLab's way: every object asked about) and vs
//!    `git lfs push <remote> main` of the one ref (only what the ref brings).
//! 4. The server's memory while a very large object is uploaded: this process's peak RSS
//!    (the server runs in it; git and git-lfs are children) above its idle RSS.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::remotes::{Giftless, GitHttpRemote};
use crate::report::Row;
use crate::setup::{ms, BenchServer, Git};
use crate::Sizes;

/// Longest a mirror update may take before the scenario fails.
const LIMIT: Duration = Duration::from_secs(600);
/// How often the mirror's state is polled while waiting.
const POLL: Duration = Duration::from_millis(5);
/// The target for hosting throughput, as a fraction of giftless's.
const TARGET_THROUGHPUT: f64 = 0.9;
/// The target for an incremental mirror update, as a multiple of `git lfs push` of the
/// one ref.
const TARGET_INCREMENTAL: f64 = 1.1;
/// The bound on the server's memory above idle while a large object is uploaded.
const TARGET_RSS_MB: f64 = 64.0;
/// How often the RSS sampler reads `/proc/self/status`.
const RSS_EVERY: Duration = Duration::from_millis(10);

/// Sizes of this scenario: the (200 MB, 1,000 objects, 1 GB) or toy ones.
struct LfsSizes {
    large_mb: usize,
    objects: usize,
    object_kb: usize,
    memory_mb: usize,
}

impl LfsSizes {
    fn new(sizes: Sizes) -> LfsSizes {
        if sizes.tiny {
            LfsSizes {
                large_mb: 4,
                objects: 20,
                object_kb: 4,
                memory_mb: 16,
            }
        } else {
            LfsSizes {
                large_mb: 200,
                objects: 1_000,
                object_kb: 16,
                memory_mb: 1_024,
            }
        }
    }
}

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let Some(giftless) = Giftless::start() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "giftless is missing (.ci/run installs it into target/giftless-venv)"
        );
        eprintln!("bench lfs: skipped, giftless is missing (.ci/run installs it)");
        return vec![Row::note("lfs", "skipped: giftless is missing")];
    };
    let s = LfsSizes::new(sizes);
    let server = BenchServer::start(None, |_| {}).await;
    let git = Lfs::new();
    let mut rows = hosting(&server, &giftless, &git, &s).await;
    rows.extend(mirroring(&server, &giftless, &git, &s).await);
    rows.push(memory(&server, &git, &s).await);
    server.stop().await;
    rows
}

/// The git CLI with git-lfs installed in its private HOME.
struct Lfs {
    git: Git,
}

impl Lfs {
    fn new() -> Lfs {
        let git = Git::new();
        let scratch = tempfile::tempdir().expect("scratch");
        git.run(scratch.path(), false, &["lfs", "install", "--skip-repo"]);
        Lfs { git }
    }

    fn run(&self, dir: &Path, args: &[&str]) -> String {
        self.git.run(dir, false, args)
    }

    /// Times one git command in `dir`.
    fn timed(&self, dir: &Path, args: &[&str]) -> Duration {
        let t0 = Instant::now();
        self.run(dir, args);
        t0.elapsed()
    }

    /// A work tree on `main` tracking `*.bin` with LFS.
    fn work(&self) -> tempfile::TempDir {
        let w = self.git.work();
        std::fs::write(
            w.path().join(".gitattributes"),
            "*.bin filter=lfs diff=lfs merge=lfs -text\n",
        )
        .expect("gitattributes");
        self.run(w.path(), &["add", ".gitattributes"]);
        self.run(w.path(), &["commit", "-q", "-m", "track *.bin"]);
        w
    }
}

/// Writes `bytes` random bytes to `path` in 1 MiB blocks.
fn random_file(path: &Path, bytes: usize) {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut rng = rand::thread_rng();
    let mut block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        rng.fill_bytes(&mut block[..n]);
        file.write_all(&block[..n]).expect("write");
        left -= n;
    }
    file.flush().expect("flush");
}

/// Giftless's own endpoint for repository `name` (`/<org>/<repo>.git/info/lfs`), without the
/// test front.
fn giftless_url(giftless: &Giftless, name: &str) -> String {
    format!(
        "http://127.0.0.1:{}/bench/{name}.git/info/lfs",
        giftless.port()
    )
}

/// MB/s of `mb` megabytes in `took`.
fn rate(mb: usize, took: Duration) -> f64 {
    mb as f64 / took.as_secs_f64()
}

/// Figure 1, and figure 2 on the same object.
async fn hosting(server: &BenchServer, giftless: &Giftless, git: &Lfs, s: &LfsSizes) -> Vec<Row> {
    let work = git.work();
    let w = work.path();
    random_file(&w.join("large.bin"), s.large_mb << 20);
    git.run(w, &["add", "large.bin"]);
    git.run(w, &["commit", "-q", "-m", "large"]);

    let mut conn = server.conn().await;
    let project = server.project(&mut conn, "lfs-host").await;
    let ours = server.push_url("lfs-host");
    let push_ours = git.timed(w, &["lfs", "push", &ours, "main"]);
    let theirs = format!("lfs.url={}", giftless_url(giftless, "host"));
    let remote = GitHttpRemote::start_with_lfs(None, giftless).await;
    let plain = remote.create_repo("bench/host");
    let push_theirs = git.timed(w, &["-c", &theirs, "lfs", "push", &plain, "main"]);
    // The refs, so both can be cloned; the objects are there already.
    git.run(w, &["push", "-q", &ours, "main"]);
    git.run(w, &["-c", &theirs, "push", "-q", &plain, "main"]);

    let fetch = |url: &str, config: Option<&str>| {
        let into = tempfile::tempdir().expect("clone dir");
        let mut clone = git.git.cmd(into.path(), false);
        clone
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .args(["clone", "-q", url, "c"]);
        crate::setup::run_checked(&mut clone);
        let c = into.path().join("c");
        let mut args = Vec::new();
        if let Some(config) = config {
            args.extend(["-c", config]);
        }
        args.extend(["lfs", "fetch", "origin", "main"]);
        let took = git.timed(&c, &args);
        (took, into)
    };
    let (fetch_ours, _a) = fetch(&ours, None);
    let (fetch_theirs, _b) = fetch(&plain, Some(&theirs));

    // Figure 2: the same object carried by a mirror update, and by the client, to the front.
    let mirror_repo = remote.create_repo("bench/mirrored");
    let mirror = server.mirror(&mut conn, project, &mirror_repo, true).await;
    sync(&mut conn, project, mirror).await;
    let update = wait_update(server, &mut conn, project, mirror).await;
    let client_repo = remote.create_repo("bench/client");
    let client = git.timed(w, &["lfs", "push", &client_repo, "main"]);

    let mb = s.large_mb;
    let (up_ours, up_theirs) = (rate(mb, push_ours), rate(mb, push_theirs));
    let (down_ours, down_theirs) = (rate(mb, fetch_ours), rate(mb, fetch_theirs));
    vec![
        Row::new(
            "lfs",
            format!("`git lfs push` of one {mb} MB object into pushmirror"),
            format!("{up_ours:.0} MB/s"),
        )
        .baseline(
            format!("into giftless {up_theirs:.0} MB/s"),
            up_ours / up_theirs,
        )
        .target(
            format!("≥ {TARGET_THROUGHPUT}× giftless"),
            up_ours / up_theirs >= TARGET_THROUGHPUT,
        ),
        Row::new(
            "lfs",
            format!("`git lfs fetch` of one {mb} MB object from pushmirror"),
            format!("{down_ours:.0} MB/s"),
        )
        .baseline(
            format!("from giftless {down_theirs:.0} MB/s"),
            down_ours / down_theirs,
        )
        .target(
            format!("≥ {TARGET_THROUGHPUT}× giftless"),
            down_ours / down_theirs >= TARGET_THROUGHPUT,
        ),
        Row::new(
            "lfs",
            format!("mirror update carrying one {mb} MB object (LFS + git push)"),
            format!("{:.0} ms ({:.0} MB/s)", ms(update), rate(mb, update)),
        )
        .baseline(
            format!("`git lfs push` to the same remote {:.0} ms", ms(client)),
            ms(update) / ms(client),
        ),
    ]
}

/// Figure 3.
async fn mirroring(server: &BenchServer, giftless: &Giftless, git: &Lfs, s: &LfsSizes) -> Vec<Row> {
    let work = git.work();
    let w = work.path();
    for i in 0..s.objects {
        random_file(&w.join(format!("o{i:05}.bin")), s.object_kb << 10);
    }
    git.run(w, &["add", "."]);
    git.run(w, &["commit", "-q", "-m", "many objects"]);

    let mut conn = server.conn().await;
    let project = server.project(&mut conn, "lfs-many").await;
    let ours = server.push_url("lfs-many");
    git.run(w, &["push", "-q", &ours, "main"]);
    let remote = GitHttpRemote::start_with_lfs(None, giftless).await;
    let mirror_url = remote.create_repo("bench/mirror");
    let mirror = server.mirror(&mut conn, project, &mirror_url, true).await;
    sync(&mut conn, project, mirror).await;
    wait_update(server, &mut conn, project, mirror).await;
    // The two baselines' remotes, as complete as the mirror's.
    for name in ["all", "one"] {
        let url = remote.create_repo(&format!("bench/{name}"));
        git.run(w, &["remote", "add", name, &url]);
        git.run(w, &["push", "-q", name, "main"]);
    }

    random_file(&w.join("new.bin"), s.object_kb << 10);
    git.run(w, &["add", "new.bin"]);
    git.run(w, &["commit", "-q", "-m", "one more"]);
    git.run(w, &["push", "-q", &ours, "main"]);
    let update = wait_update(server, &mut conn, project, mirror).await;
    let all = git.timed(w, &["lfs", "push", "--all", "all"]);
    let one = git.timed(w, &["lfs", "push", "one", "main"]);
    let one_and_git = one + git.timed(w, &["push", "-q", "one", "main"]);
    let n = s.objects;
    vec![
        Row::new(
            "lfs",
            format!("mirror update after one new object ({n} objects in the repository)"),
            format!("{:.0} ms", ms(update)),
        )
        .baseline(
            format!("`git lfs push --all` {:.0} ms", ms(all)),
            ms(update) / ms(all),
        ),
        Row::new("lfs", "the same update", format!("{:.0} ms", ms(update)))
            .baseline(
                format!("`git lfs push <remote> main` {:.0} ms", ms(one)),
                ms(update) / ms(one),
            )
            .target(
                format!("≤ {TARGET_INCREMENTAL}× (the update includes its git push)"),
                ms(update) / ms(one) <= TARGET_INCREMENTAL,
            ),
        Row::new("lfs", "the same update", format!("{:.0} ms", ms(update))).baseline(
            format!(
                "`git lfs push` + `git push` of the ref {:.0} ms",
                ms(one_and_git)
            ),
            ms(update) / ms(one_and_git),
        ),
    ]
}

/// Figure 4.
async fn memory(server: &BenchServer, git: &Lfs, s: &LfsSizes) -> Row {
    let work = git.work();
    let w = work.path();
    random_file(&w.join("huge.bin"), s.memory_mb << 20);
    git.run(w, &["add", "huge.bin"]);
    git.run(w, &["commit", "-q", "-m", "huge"]);
    let mut conn = server.conn().await;
    server.project(&mut conn, "lfs-memory").await;
    let url = server.push_url("lfs-memory");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = rss_kb();
    let peak = Arc::new(AtomicU64::new(idle));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(), Ordering::Relaxed);
                std::thread::sleep(RSS_EVERY);
            }
        })
    };
    let dir = w.to_owned();
    let push = git
        .git
        .cmd(&dir, false)
        .args(["lfs", "push", &url, "main"])
        .output();
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let out = push.expect("git lfs push");
    assert!(
        out.status.success(),
        "git lfs push: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let above = (peak.load(Ordering::Relaxed).saturating_sub(idle)) as f64 / 1024.0;
    Row::new(
        "lfs",
        format!(
            "server RSS above idle during a {} MB upload (idle {:.0} MB)",
            s.memory_mb,
            idle as f64 / 1024.0
        ),
        format!("{above:.1} MB"),
    )
    .target(format!("≤ {TARGET_RSS_MB} MB"), above <= TARGET_RSS_MB)
}

/// This process's resident set in KiB (`VmRSS`).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Asks for an update of a new mirror (creating one does not start one, as in GitLab).
async fn sync(conn: &mut crate::client::Conn, project: i64, mirror: i64) {
    let r = conn
        .request(
            "POST",
            &format!("/api/v4/projects/{project}/remote_mirrors/{mirror}/sync"),
            None,
        )
        .await
        .expect("sync mirror");
    assert!(r.status < 300, "sync: {}", String::from_utf8_lossy(&r.body));
}

/// Waits for the mirror's next update to finish and returns how long the server says it took
/// (`last_update_started_at` → `last_update_at`).
async fn wait_update(
    server: &BenchServer,
    conn: &mut crate::client::Conn,
    project: i64,
    mirror: i64,
) -> Duration {
    server.wait_finished(mirror, POLL, LIMIT).await;
    let r = conn
        .request(
            "GET",
            &format!("/api/v4/projects/{project}/remote_mirrors/{mirror}"),
            None,
        )
        .await
        .expect("get mirror");
    let m = r.json();
    let at = |key: &str| {
        chrono::DateTime::parse_from_rfc3339(m[key].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{key} of {m}: {e}"))
    };
    let took = at("last_update_at") - at("last_update_started_at");
    assert!(m["last_error"].is_null(), "mirror failed: {m}");
    took.to_std().unwrap_or_default()
}
