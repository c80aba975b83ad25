//! [`GitDaemonRemote`]: the real `git daemon` serving `git://127.0.0.1:<port>/<name>.git` with
//! `receive-pack` enabled (no authentication: git:// has none). It can be stopped and resumed
//! on the same port to model a remote that goes down and comes back.
//!
//! Clients must allow the transport explicitly: `-c protocol.git.allow=always`.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

/// A `git daemon` on 127.0.0.1, killed on drop.
pub struct GitDaemonRemote {
    /// Owns the repositories, the daemon's HOME and its log; deleted on drop.
    dir: TempDir,
    /// `--base-path`: `git://host:port/<name>.git` maps to `<repos>/<name>.git`.
    repos: PathBuf,
    /// Private HOME for the daemon and for `refs()`.
    home: PathBuf,
    /// Chosen once; `resume()` reuses it so URLs stay valid.
    port: u16,
    /// `None` while stopped.
    child: Option<Child>,
}

impl GitDaemonRemote {
    /// Starts `git daemon` on a free port of 127.0.0.1 and waits until it accepts connections.
    pub fn start() -> GitDaemonRemote {
        let dir = tempfile::tempdir().expect("tempdir");
        let repos = dir.path().join("repos");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&repos).expect("mkdir repos");
        std::fs::create_dir_all(&home).expect("mkdir home");
        let mut remote = GitDaemonRemote {
            dir,
            repos,
            home,
            port: 0,
            child: None,
        };
        for _ in 0..super::PORT_ATTEMPTS {
            remote.port = super::free_port();
            if remote.try_spawn() {
                return remote;
            }
        }
        panic!(
            "git daemon: no free port after {} attempts; log:\n{}",
            super::PORT_ATTEMPTS,
            remote.log()
        );
    }

    /// The port the daemon listens on (stable across stop/resume).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates the bare repository `<name>.git` and returns `git://127.0.0.1:<port>/<name>.git`.
    pub fn create_repo(&self, name: &str) -> String {
        super::init_bare(&self.repos, &self.home, name);
        self.url(name)
    }

    /// `git://127.0.0.1:<port>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }

    /// Path of the bare repository on disk.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.repos.join(format!("{name}.git"))
    }

    /// Every ref of repository `name` (ref name → object id), read directly from disk.
    pub fn refs(&self, name: &str) -> BTreeMap<String, String> {
        super::read_refs(&self.repo_path(name), &self.home)
    }

    /// Kills the daemon: new connections are refused until [`resume`](Self::resume).
    /// Connections already being served finish in their forked children.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::kill_process_group(&mut child);
        }
    }

    /// Starts the daemon again on the same port (`--reuseaddr`). Panics if the port was taken
    /// by another process meanwhile.
    pub fn resume(&mut self) {
        if self.child.is_none() {
            assert!(
                self.try_spawn(),
                "git daemon: cannot listen on port {} again; log:\n{}",
                self.port,
                self.log()
            );
        }
    }

    /// Whether the daemon is running (not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The daemon's stderr so far (it logs there, including its children's errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Spawns the daemon on `self.port`; false if it exited before listening (port taken).
    fn try_spawn(&mut self) -> bool {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open daemon log");
        let mut child = Command::new(super::git_program("daemon"))
            .env_clear()
            .envs(super::server_git_env(&self.home))
            .args([
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={}", self.port))
            .arg(format!("--base-path={}", self.repos.display()))
            .arg(&self.repos)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own group, so stop() also ends the connection handlers it forked.
            .process_group(0)
            .spawn()
            .expect("spawn git daemon");
        if super::wait_listening(&mut child, self.port, "git daemon") {
            self.child = Some(child);
            true
        } else {
            super::kill_process_group(&mut child);
            false
        }
    }
}

impl Drop for GitDaemonRemote {
    fn drop(&mut self) {
        self.stop();
    }
}
