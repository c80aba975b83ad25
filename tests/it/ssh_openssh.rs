//! OpenSSH's `AuthorizedKeysCommand` mode end to end (SQLite and PostgreSQL): the real `sshd`
//! (the `remotes` harness's, as root, login `git`) asks `pushmirror ssh authorized-keys %u %k`
//! about every key a client offers, and runs the `ssh serve key-<id>` line it prints as the
//! `git` user against the test server's own data directory; the real OpenSSH client and git
//! clone and push through it. A push must be recorded exactly as over HTTP: it reaches the
//! project's push mirror, which the running server's engine pushes.
//!
//! sshd runs an `AuthorizedKeysCommand` only if the file and every directory above it are
//! root's and not group- or world-writable, so the command is a 0755 wrapper script in a fresh
//! directory under `/run/pushmirror-tests/` that execs the test build's `pushmirror` binary; the
//! data directory is handed to `git` (as on a real install) once the test has set it up.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pushmirror::model::ssh_keys::{KeyKind, PublicKey, UsageType};
use pushmirror::service::ssh_access::DEPLOY_KEY_READ_ONLY;
use pushmirror::store::NewSshKey;

use crate::common::{
    blocking, poll_until, poll_until_blocking, processes_with_home, TestServer, Work,
};
use crate::remotes::{GitDaemonRemote, SshRemote};

/// Generous bound for a mirror to converge: an update takes well under a second.
const CONVERGE: Duration = Duration::from_secs(30);

/// The login the `AuthorizedKeysCommand` serves (the default `--ssh-user`) and sshd's login.
const LOGIN: &str = "git";

/// Where the wrapper scripts go: root's, 0755, outside the world-writable /tmp.
const SCRIPTS: &str = "/run/pushmirror-tests";

/// A client with its own Ed25519 key, knowing only the sshd's host key.
struct Client {
    dir: tempfile::TempDir,
    port: u16,
}

impl Client {
    fn new(remote: &SshRemote) -> Client {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "someone@laptop",
                "-f",
            ])
            .arg(dir.path().join("id"))
            .status()
            .expect("ssh-keygen");
        assert!(status.success());
        std::fs::write(
            dir.path().join("known_hosts"),
            format!("{}\n", remote.known_hosts_line()),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Client {
            dir,
            port: remote.port(),
        }
    }

    /// `ssh-ed25519 AAAA… someone@laptop`.
    fn public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("id.pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The key's base64, as sshd's `%k` gives it.
    fn base64(&self) -> String {
        self.public_key()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    fn options(&self) -> Vec<String> {
        let d = self.dir.path();
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            d.join("id").display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "IdentityAgent=none".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", d.join("known_hosts").display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-p".into(),
            self.port.to_string(),
        ]
    }

    fn url(&self, full_path: &str) -> String {
        format!("ssh://{LOGIN}@127.0.0.1:{}/{full_path}.git", self.port)
    }

    /// `ssh git@127.0.0.1 [command]`.
    fn ssh(&self, command: &[&str]) -> Output {
        Command::new("ssh")
            .args(self.options())
            .arg(format!("{LOGIN}@127.0.0.1"))
            .args(command)
            .env("HOME", self.dir.path().join("home"))
            .stdin(Stdio::null())
            .output()
            .expect("spawn ssh")
    }

    /// git through this client's ssh: stdout, or stderr as the error.
    fn git(&self, cwd: &Path, args: &[&str]) -> Result<String, String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env(
                "GIT_SSH_COMMAND",
                format!("ssh {}", self.options().join(" ")),
            )
            .stdin(Stdio::null())
            .output()
            .expect("spawn git");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// The `ssh authorized-keys` settings that open the test server's installation.
fn store_args(server: &TestServer) -> Vec<String> {
    let mut args = vec![
        "--data-dir".to_owned(),
        server.data_dir().display().to_string(),
    ];
    if server.state.database_url.starts_with("postgres") {
        args.extend([
            "--database-url".to_owned(),
            server.state.database_url.clone(),
        ]);
    }
    args
}

/// The wrapper sshd runs as `AuthorizedKeysCommand`, in a directory of its own (removed on
/// drop), and that directory.
fn wrapper(server: &TestServer) -> (tempfile::TempDir, PathBuf) {
    std::fs::create_dir_all(SCRIPTS).expect("mkdir scripts");
    std::fs::set_permissions(SCRIPTS, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("keys-")
        .tempdir_in(SCRIPTS)
        .expect("script dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let quoted: Vec<String> = store_args(server)
        .iter()
        .map(|a| format!("'{a}'"))
        .collect();
    let script = dir.path().join("authorized-keys");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' ssh authorized-keys {} \"$@\"\n",
            env!("CARGO_BIN_EXE_pushmirror"),
            quoted.join(" ")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, script)
}

/// `pushmirror ssh authorized-keys <store args> <user> <key>`, run here (as root).
fn authorized_keys(server: &TestServer, user: &str, key: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushmirror"))
        .args(["ssh", "authorized-keys"])
        .args(store_args(server))
        .args([user, key])
        .env_remove("PUSHMIRROR_SSH_USER")
        .output()
        .expect("run authorized-keys")
}

/// Adds `public_key` as `kind` for user `user_id` (a deploy key enabled in `deploy_in`,
/// read-only), returning its id.
async fn add_key(
    server: &TestServer,
    user_id: i64,
    public_key: &str,
    deploy_in: Option<i64>,
) -> i64 {
    let key = PublicKey::parse(public_key).expect("a valid key");
    let new = NewSshKey {
        kind: if deploy_in.is_some() {
            KeyKind::Deploy
        } else {
            KeyKind::User
        },
        user_id: Some(user_id),
        title: "openssh test key",
        key: &key.line,
        fingerprint_md5: &key.fingerprint_md5,
        fingerprint_sha256: &key.fingerprint_sha256,
        usage_type: UsageType::default(),
        created_at: chrono::Utc::now().timestamp_millis(),
        expires_at: None,
    };
    let store = &server.state.store;
    match deploy_in {
        Some(project) => {
            store
                .create_deploy_key(&new, project, false)
                .await
                .unwrap()
                .key
                .id
        }
        None => store.create_ssh_key(&new).await.unwrap().id,
    }
}

/// Hands the test server's data directory to `git`, as a real install's belongs to the user
/// sshd runs `ssh serve` as.
fn hand_to_git(server: &TestServer) {
    let data = server.data_dir();
    let parent = data.parent().unwrap();
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new("chown")
        .args(["-R", &format!("{LOGIN}:")])
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success(), "chown the data dir");
}

async fn through_openssh(server: TestServer) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: the OpenSSH mode test must run as root"
        );
        eprintln!("skipping: sshd's AuthorizedKeysCommandUser needs root");
        return;
    }
    let (_scripts, script) = wrapper(&server);
    let extra = format!(
        "AuthorizedKeysCommand {} %u %k\nAuthorizedKeysCommandUser {LOGIN}\nAcceptEnv GIT_PROTOCOL\n",
        script.display()
    );
    let Some(remote) = SshRemote::start_with_config(&extra) else {
        return;
    };
    assert_eq!(remote.user(), LOGIN);

    let token = server.token("alice", false).await;
    let api = server.api(&token);
    let alice = server.user_id("alice").await;
    let project = api.create_project("hello").await;
    let daemon = GitDaemonRemote::start();
    api.create_mirror(project.id, &daemon.create_repo("m"), true)
        .await;
    let client = Client::new(&remote);
    let key_id = add_key(&server, alice, &client.public_key(), None).await;
    let deploy = Client::new(&remote);
    add_key(&server, alice, &deploy.public_key(), Some(project.id)).await;
    let stranger = Client::new(&remote);
    let victim = Client::new(&remote);
    add_key(&server, alice, &victim.public_key(), None).await;
    hand_to_git(&server);

    // The line for a known key, exactly; nothing for another login or an unknown key.
    let out = authorized_keys(&server, LOGIN, &client.base64());
    assert!(out.status.success(), "{out:?}");
    let mut expected = format!(
        "command=\"{} ssh serve --data-dir {}",
        std::fs::canonicalize(env!("CARGO_BIN_EXE_pushmirror"))
            .unwrap()
            .display(),
        server.data_dir().display()
    );
    if server.state.database_url.starts_with("postgres") {
        expected.push_str(&format!(" --database-url {}", server.state.database_url));
    }
    expected.push_str(&format!(
        " key-{key_id}\",restrict ssh-ed25519 {}\n",
        client.base64()
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // A key past its expires_at lets no one in: no line either.
    let expired = Client::new(&remote);
    let parsed = PublicKey::parse(&expired.public_key()).unwrap();
    let yesterday = chrono::Utc::now().timestamp_millis() - 86_400_000;
    server
        .state
        .store
        .create_ssh_key(&NewSshKey {
            kind: KeyKind::User,
            user_id: Some(alice),
            title: "expired",
            key: &parsed.line,
            fingerprint_md5: &parsed.fingerprint_md5,
            fingerprint_sha256: &parsed.fingerprint_sha256,
            usage_type: UsageType::default(),
            created_at: yesterday - 86_400_000,
            expires_at: Some(yesterday),
        })
        .await
        .unwrap();
    for (user, key) in [
        ("alice", client.base64()),
        (LOGIN, stranger.base64()),
        (LOGIN, expired.base64()),
    ] {
        let out = authorized_keys(&server, user, &key);
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty(), "{user}: {out:?}");
    }

    let url = client.url(&project.path_with_namespace);
    let outcome = blocking(move || {
        // `ssh -T`: the welcome, from `ssh serve` with no command.
        let hello = client.ssh(&["-T"]);
        let welcome = String::from_utf8_lossy(&hello.stdout).into_owned();
        // A key sshd never heard of: refused by sshd itself.
        let refused = stranger.ssh(&["-T"]);
        let work = Work::new();
        let head = work.commit("through sshd");
        let push = client.git(work.path(), &["push", "-q", &url, "main"]);
        let clone_dir = tempfile::tempdir().unwrap();
        let clone = client.git(
            clone_dir.path(),
            &["-c", "protocol.version=2", "clone", "-q", &url, "c"],
        );
        let cloned_head = client.git(&clone_dir.path().join("c"), &["rev-parse", "HEAD"]);
        // The read-only deploy key clones, and may not push.
        let deploy_dir = tempfile::tempdir().unwrap();
        let deploy_clone = deploy.git(deploy_dir.path(), &["clone", "-q", &url, "d"]);
        work.commit("deploy key's");
        let deploy_push = deploy.git(work.path(), &["push", "-q", &url, "main"]);
        (
            hello.status.success(),
            welcome,
            refused,
            head,
            push,
            clone,
            cloned_head,
            deploy_clone,
            deploy_push,
        )
    })
    .await;
    let (hello_ok, welcome, refused, head, push, clone, cloned_head, deploy_clone, deploy_push) =
        outcome;
    assert!(hello_ok, "ssh -T failed; sshd log:\n{}", remote.log());
    assert_eq!(welcome, "Welcome to pushmirror, @alice!\n");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Permission denied (publickey)"),
        "{refused:?}"
    );
    push.expect("push through sshd");
    clone.expect("clone through sshd");
    assert_eq!(cloned_head.unwrap(), head);
    deploy_clone.expect("a read-only deploy key clones");
    let refusal = deploy_push.expect_err("a read-only deploy key's push");
    assert!(refusal.contains(DEPLOY_KEY_READ_ONLY), "{refusal}");

    // Recorded as a push: the project knows its branch, and the running server's engine pushed
    // the new commit to the mirror (a job the `ssh serve` process enqueued).
    let p = api.project(project.id).await;
    assert_eq!(p.default_branch.as_deref(), Some("main"));
    let reached = poll_until(CONVERGE, || async {
        daemon.refs("m").get("refs/heads/main") == Some(&head)
    })
    .await;
    assert!(
        reached,
        "the mirror never got the push: {:?}",
        daemon.refs("m")
    );

    // A session whose `ssh serve` is killed (-9) leaves no git behind: its upload-pack waits
    // for the client when the process dies.
    let data_dir = server.data_dir().display().to_string();
    let path = format!("'{}.git'", project.path_with_namespace);
    let git_home = server.data_dir().join("git-home");
    let upload_packs = move || {
        processes_with_home(&git_home)
            .into_iter()
            .filter(|(_, cmd)| cmd.contains("upload-pack"))
            .count()
    };
    let left = blocking(move || {
        let mut session = Command::new("ssh")
            .args(victim.options())
            .arg(format!("{LOGIN}@127.0.0.1"))
            .arg(format!("git-upload-pack {path}"))
            .env("HOME", victim.dir.path().join("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ssh");
        let mut first = [0u8; 4];
        std::io::Read::read_exact(session.stdout.as_mut().unwrap(), &mut first)
            .expect("the advertisement");
        let serving = serve_processes(&data_dir);
        assert_eq!(serving.len(), 1, "one ssh serve process: {serving:?}");
        assert!(upload_packs() > 0, "upload-pack runs for the session");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid was just read.
        unsafe { libc::kill(serving[0] as i32, libc::SIGKILL) };
        let gone = poll_until_blocking(CONVERGE, || upload_packs() == 0);
        let _ = session.kill();
        let _ = session.wait();
        gone
    })
    .await;
    assert!(left, "git outlived its killed ssh serve process");
}

/// Live `pushmirror ssh serve` processes (not the shell sshd started them with) on `data_dir`.
fn serve_processes(data_dir: &str) -> Vec<u32> {
    let bin = std::fs::canonicalize(env!("CARGO_BIN_EXE_pushmirror")).unwrap();
    let program = format!("{} ssh serve ", bin.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.starts_with(&program) && cmdline.contains(data_dir) {
            found.push(pid);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_authorized_keys_command_sqlite() {
    through_openssh(
        TestServer::builder()
            .engine(true)
            .local_network(true)
            .start()
            .await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_authorized_keys_command_postgres() {
    let Some(server) = TestServer::builder()
        .engine(true)
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    through_openssh(server).await;
}
