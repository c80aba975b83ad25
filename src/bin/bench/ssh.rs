//! `ssh`: git over SSH to the built-in server (the real `pushmirror serve` binary as a child,
//! `--ssh-listen` on loopback) against OpenSSH's `sshd` with `git-shell` (`ForceCommand
//! git-shell -c "$SSH_ORIGINAL_COMMAND"`, what a user whose login shell is git-shell gets)
//! serving the same repository, on the same machine in the same run, with the same OpenSSH
//! client and key. Four figures:
//!
//! 1. Clone throughput of a repository of incompressible files (100 MB; tiny: 4 MB), median
//!    of a few bare clones each, alternating servers.
//! 2. A small push (one new commit of a small file): p50 latency.
//! 3. Handshake + `git ls-remote`: p50 latency (a new SSH connection each time).
//! 4. Memory per idle session: N clients each run `git-upload-pack` and then wait after the
//!    advertisement (channel open, git waiting for the client); the server process's `VmRSS`
//!    delta per session, against the sshd processes' own (privileged monitor and session
//!    process) per session. git's processes are not counted on either side.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::client::Conn;
use crate::footprint::{rss_kb, server_binary, wait_listening, KillOnDrop, SERVE_AS_PUSHMIRROR};
use crate::remotes::SshRemote;
use crate::report::Row;
use crate::setup::{ms, percentile, Git};
use crate::Sizes;

/// The targets: clone throughput at least this fraction of sshd's, push p50 at most
/// this multiple of sshd's.
const TARGET_CLONE: f64 = 0.9;
const TARGET_PUSH: f64 = 1.1;
/// How long the sessions idle before memory is read, so their start-up settles.
const SETTLE: Duration = Duration::from_secs(1);

/// Sizes of this scenario.
struct SshSizes {
    /// Megabytes of incompressible content in the cloned repository.
    repo_mb: usize,
    clones: usize,
    pushes: usize,
    ls_remotes: usize,
    idle_sessions: usize,
}

impl SshSizes {
    fn new(sizes: Sizes) -> SshSizes {
        if sizes.tiny {
            SshSizes {
                repo_mb: 4,
                clones: 1,
                pushes: 3,
                ls_remotes: 3,
                idle_sessions: 4,
            }
        } else {
            SshSizes {
                repo_mb: 100,
                clones: 5,
                pushes: 20,
                ls_remotes: 20,
                idle_sessions: 50,
            }
        }
    }
}

pub async fn run(sizes: Sizes) -> Vec<Row> {
    let s = SshSizes::new(sizes);
    // sshd first: without it there is no baseline, and nothing else is worth starting.
    let Some(sshd) =
        SshRemote::start_with_config("ForceCommand git-shell -c \"$SSH_ORIGINAL_COMMAND\"\n")
    else {
        return vec![Row::note("ssh", "skipped: /usr/sbin/sshd is missing")];
    };
    let pm = Pushmirror::start().await;
    let client = Client::new(&pm, &sshd);
    sshd.authorize_key(&client.public_key());
    pm.add_key(&client.public_key()).await;
    let mut conn = Conn::connect(pm.http, &pm.token)
        .await
        .expect("connect to pushmirror");
    let r = conn
        .request(
            "POST",
            "/api/v4/projects",
            Some(&serde_json::json!({ "name": "big" })),
        )
        .await
        .expect("create project");
    assert_eq!(r.status, 201, "create project");

    let pm_url = format!("ssh://git@127.0.0.1:{}/root/big.git", pm.ssh.port());
    let sshd_url = sshd.create_repo("big");
    let work = client.git.work();
    fill(work.path(), s.repo_mb);
    client.run(work.path(), &["add", "."]);
    client.run(work.path(), &["commit", "-q", "-m", "content"]);
    for url in [&pm_url, &sshd_url] {
        client.run(work.path(), &["push", "-q", url, "main"]);
    }

    let rows = tokio::task::spawn_blocking(move || {
        let rows = vec![
            clones(&client, &pm_url, &sshd_url, &s),
            pushes(&client, work.path(), &pm_url, &sshd_url, &s),
            ls_remotes(&client, &pm_url, &sshd_url, &s),
            idle_sessions(&client, &pm, &sshd, &s),
        ];
        drop(sshd);
        rows
    })
    .await
    .expect("the ssh scenario");
    rows
}

/// The real binary serving HTTP and SSH on loopback, with an admin token.
struct Pushmirror {
    child: KillOnDrop,
    dir: tempfile::TempDir,
    http: SocketAddr,
    ssh: SocketAddr,
    token: String,
    store: pushmirror::store::Store,
}

impl Pushmirror {
    async fn start() -> Pushmirror {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
        };
        let (http, ssh) = (free(), free());
        let (bin, real) = server_binary();
        let mut cmd = Command::new(&bin);
        cmd.args(["serve", "--data-dir"])
            .arg(&data)
            .arg("--listen")
            .arg(http.to_string())
            .arg("--ssh-listen")
            .arg(ssh.to_string())
            .env("PUSHMIRROR_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if !real {
            cmd.env(SERVE_AS_PUSHMIRROR, "1");
        }
        let child = KillOnDrop(cmd.spawn().expect("spawn pushmirror serve"));
        wait_listening(http);
        wait_listening(ssh);
        // The server listens before it has migrated its database: wait for that, never race it.
        let url = format!("sqlite://{}?mode=rw", data.join("pushmirror.db").display());
        let deadline = Instant::now() + Duration::from_secs(30);
        let store = loop {
            match pushmirror::store::Store::open_migrated(&url).await {
                Ok(store) => break store,
                Err(e) => assert!(Instant::now() < deadline, "the server's database: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let now = chrono::Utc::now().timestamp_millis();
        let user = store.ensure_user("root", true, now).await.expect("user");
        let (token, hash) = pushmirror::secret::mint_token();
        store
            .insert_token(user.id, &hash, "bench", now)
            .await
            .expect("token");
        use secrecy::ExposeSecret as _;
        Pushmirror {
            child,
            dir,
            http,
            ssh,
            token: token.expose_secret().to_owned(),
            store,
        }
    }

    /// Adds `line` as root's SSH key.
    async fn add_key(&self, line: &str) {
        use pushmirror::model::ssh_keys::{KeyKind, PublicKey, UsageType};
        let key = PublicKey::parse(line).expect("a valid key");
        let user = self.store.ensure_user("root", true, 0).await.expect("root");
        let new = pushmirror::store::NewSshKey {
            kind: KeyKind::User,
            user_id: Some(user.id),
            title: "bench",
            key: &key.line,
            fingerprint_md5: &key.fingerprint_md5,
            fingerprint_sha256: &key.fingerprint_sha256,
            usage_type: UsageType::default(),
            created_at: chrono::Utc::now().timestamp_millis(),
            expires_at: None,
        };
        self.store.create_ssh_key(&new).await.expect("add the key");
    }

    /// `<type> <base64>` of the server's host key.
    fn host_key_line(&self) -> String {
        let path = self
            .dir
            .path()
            .join("data")
            .join(pushmirror::ssh::host_key::HOST_KEY_FILE);
        let key = pushmirror::ssh::host_key::load_or_create(&path).expect("the host key");
        pushmirror::ssh::host_key::public_line(&key)
    }
}

/// The OpenSSH client with its own key, knowing both servers' host keys, and git through it.
struct Client {
    dir: tempfile::TempDir,
    git: Git,
}

impl Client {
    fn new(pm: &Pushmirror, sshd: &SshRemote) -> Client {
        let dir = tempfile::tempdir().expect("client dir");
        crate::setup::run_checked(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f"])
                .arg(dir.path().join("id")),
        );
        std::fs::write(
            dir.path().join("known_hosts"),
            format!(
                "[127.0.0.1]:{} {}\n{}\n",
                pm.ssh.port(),
                pm.host_key_line(),
                sshd.known_hosts_line()
            ),
        )
        .expect("known_hosts");
        Client {
            dir,
            git: Git::new(),
        }
    }

    fn public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("id.pub"))
            .expect("public key")
            .trim()
            .to_owned()
    }

    fn ssh_options(&self) -> Vec<String> {
        let d = self.dir.path();
        [
            "-F",
            "/dev/null",
            "-i",
            &d.join("id").display().to_string(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            &format!("UserKnownHostsFile={}", d.join("known_hosts").display()),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn cmd(&self, dir: &Path) -> Command {
        let mut c = self.git.cmd(dir, false);
        c.env(
            "GIT_SSH_COMMAND",
            format!("ssh {}", self.ssh_options().join(" ")),
        );
        c
    }

    fn run(&self, dir: &Path, args: &[&str]) -> String {
        crate::setup::run_checked(self.cmd(dir).args(args))
    }

    fn timed(&self, dir: &Path, args: &[&str]) -> Duration {
        let t0 = Instant::now();
        self.run(dir, args);
        t0.elapsed()
    }
}

/// Writes `mb` files of 1 MB of random bytes (nothing for git's delta or zlib to shrink).
fn fill(dir: &Path, mb: usize) {
    let mut rng = rand::thread_rng();
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..mb {
        rng.fill_bytes(&mut buf);
        std::fs::write(dir.join(format!("blob-{i:04}.bin")), &buf).expect("write content");
    }
}

/// Bytes under `dir`.
fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => total += size_of(&e.path()),
            Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => {}
        }
    }
    total
}

fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

fn clones(client: &Client, pm: &str, sshd: &str, s: &SshSizes) -> Row {
    let scratch = tempfile::tempdir().expect("scratch");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for i in 0..s.clones {
        // Alternate which server goes first, so neither always has the warmer cache.
        let order: [(&str, &mut Vec<Duration>); 2] = if i % 2 == 0 {
            [(pm, &mut ours), (sshd, &mut theirs)]
        } else {
            [(sshd, &mut theirs), (pm, &mut ours)]
        };
        for (url, into) in order {
            let target = scratch.path().join(format!("c{i}-{}", into.len()));
            let t = client.timed(
                scratch.path(),
                &[
                    "clone",
                    "-q",
                    "--bare",
                    url,
                    target.to_str().expect("utf-8"),
                ],
            );
            bytes = size_of(&target.join("objects"));
            into.push(t);
            let _ = std::fs::remove_dir_all(&target);
        }
    }
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    let (a, b) = (mbps(median(&ours)), mbps(median(&theirs)));
    Row::new(
        "ssh",
        format!(
            "clone of {:.0} MB over SSH (median of {})",
            bytes as f64 / 1e6,
            s.clones
        ),
        format!("{a:.0} MB/s ({:.0} ms)", ms(median(&ours))),
    )
    .baseline(
        format!(
            "sshd + git-shell {b:.0} MB/s ({:.0} ms)",
            ms(median(&theirs))
        ),
        a / b,
    )
    .target(format!("≥ {TARGET_CLONE}×"), a / b >= TARGET_CLONE)
}

fn pushes(client: &Client, work: &Path, pm: &str, sshd: &str, s: &SshSizes) -> Row {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..s.pushes {
        std::fs::write(work.join("small.txt"), format!("push {i}\n")).expect("write");
        client.run(work, &["add", "small.txt"]);
        client.run(work, &["commit", "-q", "-m", &format!("push {i}")]);
        let order: [(&str, &mut Vec<Duration>); 2] = if i % 2 == 0 {
            [(pm, &mut ours), (sshd, &mut theirs)]
        } else {
            [(sshd, &mut theirs), (pm, &mut ours)]
        };
        for (url, into) in order {
            into.push(client.timed(work, &["push", "-q", url, "main"]));
        }
    }
    let (a, b) = (median(&ours), median(&theirs));
    Row::new(
        "ssh",
        format!("small push over SSH (p50 of {})", s.pushes),
        format!("{:.1} ms", ms(a)),
    )
    .baseline(format!("sshd + git-shell {:.1} ms", ms(b)), ms(a) / ms(b))
    .target(format!("≤ {TARGET_PUSH}×"), ms(a) <= TARGET_PUSH * ms(b))
}

fn ls_remotes(client: &Client, pm: &str, sshd: &str, s: &SshSizes) -> Row {
    let scratch = tempfile::tempdir().expect("scratch");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..s.ls_remotes {
        let order: [(&str, &mut Vec<Duration>); 2] = if i % 2 == 0 {
            [(pm, &mut ours), (sshd, &mut theirs)]
        } else {
            [(sshd, &mut theirs), (pm, &mut ours)]
        };
        for (url, into) in order {
            into.push(client.timed(scratch.path(), &["ls-remote", url]));
        }
    }
    let (a, b) = (median(&ours), median(&theirs));
    Row::new(
        "ssh",
        format!("handshake + ls-remote (p50 of {})", s.ls_remotes),
        format!("{:.1} ms", ms(a)),
    )
    .baseline(format!("sshd + git-shell {:.1} ms", ms(b)), ms(a) / ms(b))
}

/// `n` sessions running `git-upload-pack` on `host:port`, each past its advertisement.
fn open_sessions(client: &Client, port: u16, path: &str, n: usize) -> Vec<Child> {
    let mut sessions = Vec::new();
    for _ in 0..n {
        let mut child = Command::new("ssh")
            .args(client.ssh_options())
            .args(["-p", &port.to_string(), "git@127.0.0.1"])
            .arg(format!("git-upload-pack '{path}'"))
            .env("HOME", client.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ssh");
        let mut first = [0u8; 4];
        child
            .stdout
            .as_mut()
            .expect("stdout")
            .read_exact(&mut first)
            .expect("the advertisement");
        sessions.push(child);
    }
    sessions
}

fn close_sessions(sessions: Vec<Child>) {
    for mut c in sessions {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Every descendant of `root` whose command name is `name`.
fn descendants_named(root: u32, name: &str) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so split after its closing paren.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = head.split_once(" (").map_or("", |(_, c)| c).to_owned();
        let ppid: Option<u32> = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid, comm));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid, comm) in &parent_of {
            if *ppid == p {
                frontier.push(*pid);
                if comm == name {
                    found.push(*pid);
                }
            }
        }
    }
    found
}

fn idle_sessions(client: &Client, pm: &Pushmirror, sshd: &SshRemote, s: &SshSizes) -> Row {
    let n = s.idle_sessions;
    let server = pm.child.0.id();
    std::thread::sleep(SETTLE);
    let before = rss_kb(server);
    let ours = open_sessions(client, pm.ssh.port(), "root/big.git", n);
    std::thread::sleep(SETTLE);
    let during = rss_kb(server);
    close_sessions(ours);

    let repo: PathBuf = sshd.repo_path("big");
    let theirs = open_sessions(client, sshd.port(), repo.to_str().expect("utf-8"), n);
    std::thread::sleep(SETTLE);
    let sshd_kb: u64 = descendants_named(sshd.pid(), "sshd")
        .into_iter()
        .map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).map(|_| rss_kb(pid)))
        .filter_map(Result::ok)
        .sum();
    close_sessions(theirs);

    let per = during.saturating_sub(before) as f64 / n as f64;
    let theirs_per = sshd_kb as f64 / n as f64;
    Row::new(
        "ssh",
        format!("server RSS per idle session ({n} sessions, git excluded)"),
        format!("{per:.0} KiB (idle {:.1} MB)", before as f64 / 1024.0),
    )
    .baseline(
        format!("sshd's processes {theirs_per:.0} KiB"),
        per / theirs_per.max(1.0),
    )
}
