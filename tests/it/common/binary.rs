//! The real `pushmirror` binary as a child process, for what an in-process server cannot show:
//! `kill -9`, SIGTERM, process trees, the command line itself, and clients that start the binary
//! as an operator would. [`ServerProcess`] is the only place tests start `pushmirror serve`.
//!
//! **Invariant:** a child never sees the developer's `PUSHMIRROR_*` environment; a test passes
//! every setting it wants explicitly.

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::api::Api;
use super::client::Client;
use super::poll::poll_until_blocking;

/// Bound for a freshly spawned server to answer HTTP (it migrates its database first); generous
/// because the machine is small and shared, and the wait ends as soon as it answers.
const STARTUP: Duration = Duration::from_secs(60);

/// Fresh ports to try when a server loses the race for its port (found by binding port 0 and
/// releasing it, so the race is real but rare).
const PORT_ATTEMPTS: usize = 5;

/// `pushmirror` with the `PUSHMIRROR_*` variables of the test's own environment removed.
pub fn pushmirror() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pushmirror"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PUSHMIRROR_") {
            c.env_remove(k);
        }
    }
    c
}

/// `pushmirror token create --username <user> [--admin] --data-dir <data>` (and
/// `--database-url`, if given): the new token, which must be all the command printed.
pub fn create_token(data: &Path, database_url: Option<&str>, user: &str, admin: bool) -> String {
    let mut cmd = pushmirror();
    cmd.args(["token", "create", "--username", user, "--data-dir"])
        .arg(data);
    if admin {
        cmd.arg("--admin");
    }
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let out = cmd.output().expect("spawn pushmirror token create");
    assert!(
        out.status.success(),
        "token create failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 token")
        .trim()
        .to_owned()
}

/// A token for `root`, the first admin of the data directory `data`.
pub fn create_admin_token(data: &Path, database_url: Option<&str>) -> String {
    create_token(data, database_url, "root", true)
}

/// A `pushmirror serve` process on a data directory that outlives it, so it can be killed and
/// started again. Its stderr goes to `<data>.log`, appended to across restarts and shown when
/// it fails to start. Dropping it kills it.
pub struct ServerProcess {
    /// `None` between a kill and the next start.
    child: Option<Child>,
    /// `--data-dir`, kept across restarts.
    data: PathBuf,
    /// The server's stderr.
    log: PathBuf,
    /// Flags after `serve --data-dir D --listen A`.
    args: Vec<String>,
    /// Extra environment variables.
    envs: Vec<(String, String)>,
    /// The port of the current (or last) process; a restart may pick another.
    port: u16,
}

impl ServerProcess {
    /// Starts `pushmirror serve` on `data` (and `database_url`, if given) with `args` and `envs`
    /// and waits until it answers HTTP.
    pub fn start(
        data: &Path,
        database_url: Option<&str>,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> ServerProcess {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        // The built-in SSH server's default port is one for the whole machine: a test that
        // wants SSH names its own port.
        if !args.iter().any(|a| a == "--ssh-listen") {
            args.extend(["--ssh-listen".to_owned(), "off".to_owned()]);
        }
        if let Some(url) = database_url {
            args.extend(["--database-url".to_owned(), url.to_owned()]);
        }
        let mut server = ServerProcess {
            child: None,
            data: data.to_owned(),
            log: data.with_extension("log"),
            args,
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            port: 0,
        };
        server.start_again();
        server
    }

    /// Starts the process (again, after a kill) on a fresh port and waits until it answers HTTP.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .expect("open server log");
            let mut child = pushmirror()
                .arg("serve")
                .arg("--data-dir")
                .arg(&self.data)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .args(&self.args)
                .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn pushmirror serve");
            let mut exited = None;
            let up = poll_until_blocking(STARTUP, || {
                exited = child.try_wait().expect("poll server");
                exited.is_some() || answers_http(port)
            });
            match exited {
                // Exit 3 with "cannot listen": another process took the port; try another.
                Some(status)
                    if status.code() == Some(3) && self.log_text().contains("cannot listen") =>
                {
                    continue
                }
                Some(status) => panic!(
                    "pushmirror serve exited at startup ({status}); log:\n{}",
                    self.log_tail()
                ),
                None if up => {
                    self.child = Some(child);
                    self.port = port;
                    return;
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "pushmirror serve did not answer within {STARTUP:?}; log:\n{}",
                        self.log_tail()
                    );
                }
            }
        }
        panic!("no free port after {PORT_ATTEMPTS} attempts");
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The port of the running (or last) process.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The API of the running process as `token`'s user. A restart may move the server to
    /// another port: ask again after one.
    pub fn api(&self, token: &str) -> Api {
        Api::new(Client::new(&self.base()), token)
    }

    /// The push URL of `root/<path>` with `token` as the password.
    pub fn push_url(&self, token: &str, path: &str) -> String {
        format!(
            "http://oauth2:{token}@127.0.0.1:{}/root/{path}.git",
            self.port
        )
    }

    /// `<data-dir>/git-home`: the `HOME` of every git process the server runs.
    pub fn git_home(&self) -> PathBuf {
        self.data.join("git-home")
    }

    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref().expect("the server is running");
        i32::try_from(child.id()).expect("pid fits i32")
    }

    /// SIGKILL: no chance to release a lease, finish a request or record anything.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM, the signal a service manager stops the server with.
    pub fn sigterm(&self) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own unreaped child.
        let rc = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM: {}", std::io::Error::last_os_error());
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("the server is running");
        let mut status = None;
        poll_until_blocking(limit, || {
            status = child.try_wait().expect("poll server");
            status.is_some()
        });
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Everything the server wrote to stderr so far, across restarts.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// The last lines of the server log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Whether a server on `port` answers an API request (any HTTP answer; without a token it is a
/// 401). Answering, not accepting, is ready: `serve` binds its port before it opens the database.
fn answers_http(port: u16) -> bool {
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    if conn
        .write_all(b"GET /api/v4/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 9];
    conn.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ")
}

/// Runs the real binary's `hook post-receive` in the bare repository `repo`, as git would run it
/// there (`GIT_DIR=.`, none of the store's settings in the environment but `database_url`),
/// with `updates` (`<old> <new> <ref>` lines) on its standard input.
pub async fn post_receive_hook(
    repo: &std::path::Path,
    updates: &str,
    database_url: Option<&str>,
) -> std::io::Result<std::process::Output> {
    use tokio::io::AsyncWriteExt;
    let mut hook = tokio::process::Command::new(env!("CARGO_BIN_EXE_pushmirror"));
    hook.args(["hook", "post-receive"])
        .current_dir(repo)
        .env("GIT_DIR", ".")
        .env_remove("PUSHMIRROR_DATA_DIR")
        .env_remove("PUSHMIRROR_DATABASE_URL")
        .env_remove("PUSHMIRROR_CONFIG")
        .env_remove("PUSHMIRROR_SECRET_KEY_FILE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = database_url {
        hook.env("PUSHMIRROR_DATABASE_URL", url);
    }
    let mut child = hook.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(updates.as_bytes()).await?;
    }
    child.wait_with_output().await
}
