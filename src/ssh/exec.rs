//! One SSH session's command, run for an authenticated principal: the welcome, a git service
//! (upload-pack, upload-archive, receive-pack through the [`PushSession`]) or
//! `git-lfs-authenticate`, given the client's stdin, stdout and stderr as async streams and the
//! `GIT_PROTOCOL` it asked for; the answer is the exit status to send back. Nothing here knows
//! how the bytes travel: the built-in server (`ssh::server`) passes an SSH channel's streams, and
//! OpenSSH's `AuthorizedKeysCommand` mode can pass a process's own.
//!
//! Every refusal a client sees is one of a few fixed texts on stderr with status 1, as
//! gitlab-shell answers: [`NOT_FOUND`] for any path that names no project the principal may see
//! (never a server path: the path is checked and the project found before git starts),
//! [`DISALLOWED`] for any other command, or GitLab's own reason when the project is visible but
//! the operation is not allowed. One log line per session says who (username or deploy key
//! title, key fingerprint), what (verb, project), how it ended and how long it took; never key
//! material, never the raw command.
//!
//! Invariant: git runs only through [`crate::git::service::serve`] and a push only through
//! [`PushSession`]: judged before git starts, its intent durable, recorded after.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::app::App;
use crate::git::protocol::pktline::read_command_list;
use crate::git::service::{Cut, Exit, GitStdout, GitStream};
use crate::git::Subcommand;
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::model::ssh_command::{self, CommandRefusal, GitVerb, LfsOperation, SshCommand};
use crate::service::lfs::Operation;
use crate::service::push_session::{refusal_report, Begun, Origin, PushSession, RefChange};
use crate::service::ssh_access::{self, AccessRefusal, GitOp, SshPrincipal};

/// What a client sees for a path that names no project it may see, or no project at all.
pub const NOT_FOUND: &str =
    "fatal: The project you were looking for could not be found or you don't have permission to view it.";

/// What a client sees for a command the server does not run (gitlab-shell's words).
pub const DISALLOWED: &str = "Disallowed command";

/// What a client sees when the server failed; the cause is logged.
const INTERNAL: &str = "fatal: Internal server error.";

/// Longest `GIT_PROTOCOL` value passed on to git; real values are a few bytes (`version=2`).
const MAX_GIT_PROTOCOL: usize = 256;

/// The client's three streams.
pub struct Io<I, O, E> {
    /// What the client sends (the SSH channel's data, or a process's stdin).
    pub stdin: I,
    /// Where git's output and answers go.
    pub stdout: O,
    /// Where refusals go (the SSH channel's extended data).
    pub stderr: E,
}

/// The `GIT_PROTOCOL` value a client asked for, when it is safe to hand to git: only
/// `[A-Za-z0-9=:._-]`, at most [`MAX_GIT_PROTOCOL`] bytes.
pub fn git_protocol(value: &str) -> Option<String> {
    let safe = !value.is_empty()
        && value.len() <= MAX_GIT_PROTOCOL
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b':' | b'.' | b'-' | b'_'));
    safe.then(|| value.to_owned())
}

/// Runs `command` (the exec request's bytes; empty for a session without one) for `principal`
/// and returns the exit status to report. Logs one line for the session.
pub async fn run<I, O, E>(
    app: &Arc<App>,
    principal: &SshPrincipal,
    command: &[u8],
    git_protocol: Option<&str>,
    io: Io<I, O, E>,
) -> u32
where
    I: AsyncRead + Send + Unpin + 'static,
    O: AsyncWrite + Send + Unpin,
    E: AsyncWrite + Send + Unpin,
{
    let started = Instant::now();
    let parsed = ssh_command::parse(command);
    let (verb, path) = match &parsed {
        Ok(c) => (c.verb(), c.path().map(str::to_owned)),
        Err(_) => ("refused", None),
    };
    let protocol = git_protocol.and_then(self::git_protocol);
    let status = match parsed {
        Ok(command) => dispatch(app, principal, command, protocol.as_deref(), io).await,
        Err(refusal) => {
            let mut stderr = io.stderr;
            let text = match refusal {
                CommandRefusal::Disallowed => DISALLOWED,
                CommandRefusal::BadPath => NOT_FOUND,
            };
            say(&mut stderr, text).await;
            1
        }
    };
    // The name is a username or a deploy key's title, which its owner chose: quoted, so it
    // cannot forge a log line.
    tracing::info!(
        name = ?principal.name(),
        key_fingerprint = %principal.fingerprint,
        command = verb,
        project = path.as_deref().unwrap_or(""),
        exit_status = status,
        duration_ms = started.elapsed().as_millis() as u64,
        "ssh session"
    );
    status
}

async fn dispatch<I, O, E>(
    app: &Arc<App>,
    principal: &SshPrincipal,
    command: SshCommand,
    protocol: Option<&str>,
    io: Io<I, O, E>,
) -> u32
where
    I: AsyncRead + Send + Unpin + 'static,
    O: AsyncWrite + Send + Unpin,
    E: AsyncWrite + Send + Unpin,
{
    let Io {
        stdin,
        mut stdout,
        mut stderr,
    } = io;
    let result = match command {
        SshCommand::Welcome => {
            // gitlab-shell greets on stdout.
            let hello = format!("Welcome to pushmirror, @{}!", principal.name());
            say(&mut stdout, &hello).await;
            Ok(0)
        }
        SshCommand::LfsAuthenticate { path, operation } => {
            lfs_authenticate(app, principal, &path, operation, &mut stdout).await
        }
        SshCommand::Git { verb, path } => {
            let op = if verb.is_read() {
                GitOp::Fetch
            } else {
                GitOp::Push
            };
            match ssh_access::authorize(app, principal, &path, op).await {
                Ok((project, caller)) => {
                    let session = GitSession {
                        app,
                        principal,
                        project,
                        caller,
                        protocol,
                    };
                    session.run(verb, stdin, &mut stdout, &mut stderr).await
                }
                Err(refusal) => Err(refusal),
            }
        }
    };
    match result {
        Ok(status) => status,
        Err(refusal) => {
            let text = match refusal {
                AccessRefusal::NotFound => NOT_FOUND,
                AccessRefusal::Forbidden(why) => why,
                AccessRefusal::Internal(cause) => {
                    tracing::error!(%cause, "ssh session failed");
                    INTERNAL
                }
            };
            say(&mut stderr, text).await;
            1
        }
    }
}

async fn lfs_authenticate<O: AsyncWrite + Unpin>(
    app: &App,
    principal: &SshPrincipal,
    path: &str,
    operation: LfsOperation,
    stdout: &mut O,
) -> Result<u32, AccessRefusal> {
    let operation = match operation {
        LfsOperation::Upload => Operation::Upload,
        LfsOperation::Download => Operation::Download,
    };
    let answer = ssh_access::lfs_authenticate(app, principal, path, operation).await?;
    // gitlab-shell's answer, which git-lfs reads: where the LFS API is, the header for it, and
    // how long that header is good for.
    let json = serde_json::json!({
        "header": { "Authorization": answer.authorization },
        "href": answer.href,
        "expires_in": answer.expires_in,
    });
    say(stdout, &json.to_string()).await;
    Ok(0)
}

/// Writes `text` and a newline, and flushes. A client that went away cannot be told anything.
async fn say(w: &mut (impl AsyncWrite + Unpin), text: &str) {
    let _ = w.write_all(format!("{text}\n").as_bytes()).await;
    let _ = w.flush().await;
}

/// A git service on one project the principal may use.
struct GitSession<'a> {
    app: &'a Arc<App>,
    principal: &'a SshPrincipal,
    project: Project,
    caller: Caller,
    protocol: Option<&'a str>,
}

impl GitSession<'_> {
    async fn run<I, O, E>(
        self,
        verb: GitVerb,
        stdin: I,
        stdout: &mut O,
        stderr: &mut E,
    ) -> Result<u32, AccessRefusal>
    where
        I: AsyncRead + Send + Unpin + 'static,
        O: AsyncWrite + Send + Unpin,
        E: AsyncWrite + Send + Unpin,
    {
        let app = self.app;
        let repo = match app.storages.open(&self.project.repo()) {
            Ok(repo) if repo.path().is_dir() => repo,
            _ => return Err(AccessRefusal::NotFound),
        };
        let internal = |e: &dyn std::fmt::Display| AccessRefusal::Internal(e.to_string());
        let (sub, protocol) = match verb {
            GitVerb::ReceivePack => return self.receive_pack(&repo, stdin, stdout, stderr).await,
            // Only upload-pack speaks protocol v2; git's client never asks the others for it.
            GitVerb::UploadPack => (Subcommand::UploadPack, self.protocol),
            GitVerb::UploadArchive => (Subcommand::UploadArchive, None),
        };
        let mut cmd = app.git.command(Some(&repo), sub).args([repo.path()]);
        if let Some(p) = protocol {
            cmd = cmd.env("GIT_PROTOCOL", p);
        }
        let GitStream { stdout: out, exit } =
            crate::git::service::serve(&app.shutdown, cmd, stdin, None, app.git.timeout())
                .map_err(|e| internal(&e))?;
        let _ = forward(out, stdout).await;
        Ok(status_of(exit.await))
    }

    /// A push: the advertisement, then the command list judged by a [`PushSession`] before git
    /// sees it, then receive-pack (or the refusal report), then the recording.
    async fn receive_pack<I, O, E>(
        self,
        repo: &crate::storage::LocalRepo,
        mut stdin: I,
        stdout: &mut O,
        stderr: &mut E,
    ) -> Result<u32, AccessRefusal>
    where
        I: AsyncRead + Send + Unpin + 'static,
        O: AsyncWrite + Send + Unpin,
        E: AsyncWrite + Send + Unpin,
    {
        let app = self.app;
        let internal = |e: &dyn std::fmt::Display| AccessRefusal::Internal(e.to_string());
        // The advertisement alone, as git's stateless mode writes it (no `# service=` line
        // over SSH); the client's answer is read here, not by this git.
        let cmd = app
            .git
            .command(Some(repo), Subcommand::ReceivePack)
            .args(["--stateless-rpc", "--advertise-refs"])
            .args([repo.path()]);
        let GitStream { stdout: out, exit } = crate::git::service::serve(
            &app.shutdown,
            cmd,
            tokio::io::empty(),
            None,
            app.git.timeout(),
        )
        .map_err(|e| internal(&e))?;
        if forward(out, stdout).await.is_err() {
            return Ok(status_of(exit.await));
        }
        match exit.await {
            Exit::Exited(s) if s.success() => {}
            other => return Err(internal(&format_args!("advertisement ended: {other:?}"))),
        }
        let list = match read_command_list(&mut stdin).await {
            Ok(list) => list,
            Err(e) => {
                say(stderr, &format!("fatal: {e}")).await;
                return Ok(1);
            }
        };
        // A bare flush: nothing to push (`git push` with everything up to date).
        if list.updates.is_empty() {
            return Ok(0);
        }
        let change = RefChange {
            origin: Origin::SshPush,
            pusher: self.principal.pusher(),
            updates: list.updates.clone(),
        };
        let session = match PushSession::begin(app, &self.project, self.caller, change)
            .await
            .map_err(|e| internal(&e))?
        {
            Begun::Accepted(session) => session,
            Begun::Refused(refused) => {
                if !list.wants_report() {
                    return Err(AccessRefusal::Forbidden(refused[0].1));
                }
                // The report goes out at once; the client sends its whole pack before it reads
                // it, so the rest of its input is read and dropped until it hangs up.
                let report = refusal_report(&list, &refused);
                let _ = stdout.write_all(&report).await;
                let _ = stdout.flush().await;
                let mut sink = tokio::io::sink();
                let drain = tokio::io::copy(&mut stdin, &mut sink);
                if tokio::time::timeout(app.git.timeout(), drain)
                    .await
                    .is_err()
                {
                    tracing::info!("refused push: the client did not hang up within the deadline");
                }
                return Ok(0);
            }
        };
        let mut session = session;
        let cmd = session
            .receive_pack(app, repo)
            .map_err(|e| internal(&e))?
            .args(["--stateless-rpc"])
            .args([repo.path()]);
        let input = Cursor::new(list.raw).chain(stdin);
        // If git cannot start, nothing moved; the intent is recorded by its job (finding no
        // change), as over smart HTTP.
        let GitStream { stdout: out, exit } =
            crate::git::service::serve(&app.shutdown, cmd, input, None, app.git.timeout())
                .map_err(|e| internal(&e))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let exit = async move {
            let exit = exit.await;
            let _ = tx.send(exit);
            exit
        };
        let (_, ()) = tokio::join!(forward_all(out, stdout), session.finish_when(app, exit));
        Ok(status_of(rx.await.unwrap_or(Exit::Killed(Cut::Shutdown))))
    }
}

/// Copies git's output to the client. On a failed write the stream is dropped, which kills git.
async fn forward(mut out: GitStdout, to: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
    while let Some(chunk) = out.next().await {
        to.write_all(&chunk?).await?;
    }
    to.flush().await
}

/// [`forward`] for receive-pack: once the client is gone, git's output is still read to its end
/// rather than dropped, so git is not killed but ends by itself: a pack cut short reaches it as
/// an early end of input, and git then removes the objects it quarantined, which a killed git
/// would leave in the repository. The deadline still bounds it.
async fn forward_all(
    mut out: GitStdout,
    to: &mut (impl AsyncWrite + Unpin),
) -> std::io::Result<()> {
    let mut result = Ok(());
    while let Some(chunk) = out.next().await {
        if result.is_ok() {
            result = to.write_all(&chunk?).await;
        }
    }
    match result {
        Ok(()) => to.flush().await,
        gone => gone,
    }
}

/// The exit status a client is told: git's own, or 1 when it was killed.
fn status_of(exit: Exit) -> u32 {
    match exit {
        Exit::Exited(status) => status.code().map_or(1, |c| c as u32),
        Exit::Killed(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_only_safe_protocol_values() {
        assert_eq!(git_protocol("version=2").as_deref(), Some("version=2"));
        assert_eq!(
            git_protocol("version=2:object-format=sha1").as_deref(),
            Some("version=2:object-format=sha1")
        );
        for bad in ["", "version=2 x", "a;b", "v\n", &"a".repeat(257)] {
            assert_eq!(git_protocol(bad), None, "{bad:?}");
        }
    }
}
