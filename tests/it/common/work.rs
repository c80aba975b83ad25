//! A client's working repository, driven with the real git CLI in a sealed-off environment (its
//! own `HOME`, no system config, never a prompt), the way a developer pushes to pushmirror.

use std::process::Command;

/// A working repository on `main` in a temporary directory.
pub struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Work {
        let w = Work {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        w.git(&["init", "-q", "-b", "main"]);
        w
    }

    /// The working tree.
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs git in the working repository: its stdout (trimmed), or its stderr as the error.
    pub fn try_git(&self, args: &[&str]) -> Result<String, String> {
        let home = self.dir.path().join(".home");
        std::fs::create_dir_all(&home).expect("mkdir home");
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@example.com",
                "-c",
                "protocol.version=2",
            ])
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", &home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .expect("spawn git");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// [`Work::try_git`] that must succeed.
    pub fn git(&self, args: &[&str]) -> String {
        self.try_git(args)
            .unwrap_or_else(|stderr| panic!("git {args:?} failed: {stderr}"))
    }

    /// Commits an empty change and returns the new commit id.
    pub fn commit(&self, msg: &str) -> String {
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// `git push <url> <refspecs>`. Git returns success only after the server answered `ok` for
    /// every ref: an `Ok` is an acknowledged push.
    pub fn try_push(&self, url: &str, refspecs: &[&str]) -> Result<(), String> {
        let mut args = vec!["push", "-q", url];
        args.extend_from_slice(refspecs);
        self.try_git(&args).map(drop)
    }

    /// [`Work::try_push`] that must succeed.
    pub fn push(&self, url: &str, refspecs: &[&str]) {
        self.try_push(url, refspecs)
            .unwrap_or_else(|stderr| panic!("push {refspecs:?} to {url} failed: {stderr}"));
    }
}

/// Runs blocking work (git, a process scan) off the runtime's workers, so an in-process server
/// on the same runtime keeps serving meanwhile.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}
