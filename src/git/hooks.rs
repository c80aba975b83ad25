//! The server's own git hooks: a directory of scripts pushmirror writes at start-up and points
//! `core.hooksPath` at, for receive-pack only and only when a push needs it. Hooks inside a
//! hosted repository are never run.
//!
//! The one hook is `pre-receive`, run inside receive-pack's object quarantine (the pushed
//! objects are visible, nothing is accepted yet). It does two things, in GitLab's order:
//! 1. refuses non-fast-forward updates of the refs listed (one per line) in
//!    [`FAST_FORWARD_ONLY_ENV`], with GitLab's message;
//! 2. when [`PRE_RECEIVE_ENV`] names a [`PreReceiveChannel`]'s directory, asks the server
//!    whether the push may go ahead: it writes git's quarantine variables into the `request`
//!    FIFO and reads one line from the `answer` FIFO, `ok` or GitLab's reason.
//!
//! Either refusal is printed as `GitLab: …`, which git relays to the client as a `remote:` line,
//! and every ref is reported as `pre-receive hook declined`.
//!
//! The channel is a pair of FIFOs in a private directory (0700) rather than a socket because a
//! POSIX shell can use them with no helper program. The server holds both open (read-write) for
//! the whole push, and the hook opens them so that no open waits (read-write first); a server
//! that dies closes its ends, so the hook reads end-of-file and refuses instead of waiting for
//! an answer, and nothing it started is left blocked.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use crate::model::push_rules::FORCE_PUSH_REFUSED;
use crate::storage::LocalRepo;

/// The variable that carries the refs which may only move forward.
pub(crate) const FAST_FORWARD_ONLY_ENV: &str = "PUSHMIRROR_FAST_FORWARD_ONLY";

/// The variable that names the directory of the push's [`PreReceiveChannel`].
pub(crate) const PRE_RECEIVE_ENV: &str = "PUSHMIRROR_PRE_RECEIVE";

/// What the hook reads from the server when the push may go ahead.
const ANSWER_OK: &str = "ok";

/// What the hook says when the server did not answer (it died mid-check): GitLab's words when
/// its internal API cannot be reached.
const NO_ANSWER: &str = "Internal API unreachable";

/// Longest request the server reads from the hook: three paths under the repository's objects
/// directory, far shorter in practice; anything longer is not our hook's.
const MAX_REQUEST: usize = 16 * 1024;

/// The quarantine variables the hook passes on, in the order it writes them.
const QUARANTINE_VARS: [&str; 3] = [
    "GIT_QUARANTINE_PATH",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
];

/// The name receive-pack gives its quarantine directory inside `objects/`.
const QUARANTINE_PREFIX: &str = "tmp_objdir-incoming-";

/// The `pre-receive` script. Created and deleted refs (all-zero ids) are not the fast-forward
/// check's business.
fn pre_receive_script() -> String {
    format!(
        r#"#!/bin/sh
# Written by pushmirror at start-up; edits are overwritten. Refuses non-fast-forward updates
# of the refs listed in ${ff}, one per line; then, when ${channel} names a
# directory, asks the server whether the push may go ahead.
status=0
while read -r old new ref; do
  [ -n "${ff}" ] || continue
  case "$old" in *[!0]*) ;; *) continue ;; esac
  case "$new" in *[!0]*) ;; *) continue ;; esac
  if printf '%s\n' "${ff}" | grep -qxF -e "$ref"; then
    if ! git merge-base --is-ancestor "$old" "$new" 2>/dev/null; then
      echo "GitLab: {force}" >&2
      status=1
    fi
  fi
done
[ "$status" -eq 0 ] || exit "$status"
[ -n "${channel}" ] || exit 0
# Opened read-write first, neither open waits: fd 5 reads the answer and sees end-of-file
# once the server is gone; fd 3 takes the request whether or not anyone reads it.
exec 4<>"${channel}/answer" 5<"${channel}/answer" 4>&- 3<>"${channel}/request" || exit 1
printf '%s\n%s\n%s\n' "${q0}" "${q1}" "${q2}" >&3
exec 3>&-
IFS= read -r answer <&5 || answer="{no_answer}"
[ "$answer" = "{ok}" ] && exit 0
printf 'GitLab: %s\n' "$answer" >&2
exit 1
"#,
        ff = FAST_FORWARD_ONLY_ENV,
        channel = PRE_RECEIVE_ENV,
        force = FORCE_PUSH_REFUSED,
        q0 = QUARANTINE_VARS[0],
        q1 = QUARANTINE_VARS[1],
        q2 = QUARANTINE_VARS[2],
        ok = ANSWER_OK,
        no_answer = NO_ANSWER,
    )
}

/// Writes the hooks into `dir` (created if missing), replacing what is there atomically.
pub(crate) fn install(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join("pre-receive");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(pre_receive_script().as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(dir.to_owned())
}

/// The server's side of one push's pre-receive hook: a private directory with the `request` and
/// `answer` FIFOs, both held open (read-write) until this is dropped, which also removes the
/// directory. Give it to [`super::GitRunner::receive_pack`].
#[derive(Debug)]
pub struct PreReceiveChannel {
    dir: tempfile::TempDir,
    request: pipe::Receiver,
    answer: pipe::Sender,
}

/// What the hook asked: the quarantine's variables, to run git inside it, or a request that is
/// not our hook's (its paths are not the repository's quarantine).
#[derive(Debug)]
pub enum HookRequest {
    Quarantine(Vec<(String, OsString)>),
    Malformed,
}

impl PreReceiveChannel {
    /// A new channel in `dir`, a private directory (see [`super::GitRunner::private_dir`]).
    pub(crate) fn open(dir: tempfile::TempDir) -> std::io::Result<PreReceiveChannel> {
        let request = dir.path().join("request");
        let answer = dir.path().join("answer");
        mkfifo(&request)?;
        mkfifo(&answer)?;
        let request = pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&request)?;
        let answer = pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(&answer)?;
        Ok(PreReceiveChannel {
            dir,
            request,
            answer,
        })
    }

    /// The directory the hook is told about.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits for the hook's request about a push into `repo`. Never resolves when the hook does
    /// not run (a push git refused before its hooks): callers race it against git's exit.
    pub async fn request(&mut self, repo: &LocalRepo) -> std::io::Result<HookRequest> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while buf.iter().filter(|&&b| b == b'\n').count() < QUARANTINE_VARS.len() {
            let n = self.request.read(&mut chunk).await?;
            buf.extend_from_slice(&chunk[..n]);
            if n == 0 || buf.len() > MAX_REQUEST {
                return Ok(HookRequest::Malformed);
            }
        }
        let values: Vec<&[u8]> = buf.split(|&b| b == b'\n').take(3).collect();
        let quarantine = Path::new(std::ffi::OsStr::from_bytes(values[0]));
        let objects = repo.join("objects");
        let in_repo = quarantine.is_absolute()
            && quarantine
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(QUARANTINE_PREFIX))
            && quarantine.parent().is_some_and(|p| same_dir(p, &objects))
            && values[1] == values[0];
        if !in_repo {
            return Ok(HookRequest::Malformed);
        }
        Ok(HookRequest::Quarantine(
            QUARANTINE_VARS
                .iter()
                .zip(&values)
                .map(|(k, v)| ((*k).to_owned(), std::ffi::OsStr::from_bytes(v).to_owned()))
                .collect(),
        ))
    }

    /// Lets the push go ahead (`None`) or refuses it with `reason` (one line, GitLab's words).
    pub async fn answer(&mut self, refusal: Option<&str>) -> std::io::Result<()> {
        let line = refusal.unwrap_or(ANSWER_OK).replace('\n', " ");
        self.answer.write_all(format!("{line}\n").as_bytes()).await
    }
}

/// Whether two paths name the same directory (receive-pack may have resolved symlinks).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

/// Creates a FIFO only the server's user may open.
fn mkfifo(path: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    /// The installed script against a channel: it passes git's quarantine variables, goes ahead
    /// on `ok`, refuses with the server's reason, and refuses when the server is gone.
    #[tokio::test]
    async fn the_hook_asks_the_server_and_refuses_without_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        let hooks = install(&dir.path().join("hooks")).unwrap();
        let repo_dir = dir.path().join("r.git");
        let objects = repo_dir.join("objects");
        let quarantine = objects.join("tmp_objdir-incoming-abc");
        std::fs::create_dir_all(&quarantine).unwrap();
        let repo = LocalRepo::for_tests(&repo_dir);
        let cases: [(Option<Option<&str>>, bool, &str); 3] = [
            (Some(None), true, ""),
            (Some(Some("No.")), false, "GitLab: No.\n"),
            (None, false, "GitLab: Internal API unreachable\n"),
        ];
        for (verdict, passes, stderr) in cases {
            let private = tempfile::tempdir_in(dir.path()).unwrap();
            let mut channel = PreReceiveChannel::open(private).unwrap();
            let hook = tokio::process::Command::new(hooks.join("pre-receive"))
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env(PRE_RECEIVE_ENV, channel.dir())
                .env("GIT_QUARANTINE_PATH", &quarantine)
                .env("GIT_OBJECT_DIRECTORY", &quarantine)
                .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &objects)
                .stdin(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let HookRequest::Quarantine(env) = channel.request(&repo).await.unwrap() else {
                panic!("the hook's request was refused");
            };
            assert_eq!(
                env[0],
                ("GIT_QUARANTINE_PATH".into(), quarantine.clone().into())
            );
            assert_eq!(env[2].1, objects.as_os_str());
            match verdict {
                Some(refusal) => channel.answer(refusal).await.unwrap(),
                None => drop(channel),
            }
            let out = hook.wait_with_output().await.unwrap();
            assert_eq!(out.status.success(), passes, "{verdict:?}");
            assert_eq!(String::from_utf8_lossy(&out.stderr), stderr);
        }
    }

    /// A request naming anything but the repository's own quarantine is not acted on.
    #[tokio::test]
    async fn a_request_outside_the_repository_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let repo = LocalRepo::for_tests(&dir.path().join("r.git"));
        let elsewhere = dir.path().join("tmp_objdir-incoming-x");
        let mut channel = PreReceiveChannel::open(tempfile::tempdir().unwrap()).unwrap();
        let line = format!("{0}\n{0}\n\n", elsewhere.display());
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(channel.dir().join("request"))
            .unwrap();
        w.write_all(line.as_bytes()).unwrap();
        assert!(matches!(
            channel.request(&repo).await.unwrap(),
            HookRequest::Malformed
        ));
    }
}
