//! A git service process serving one client, streamed: the two services a git endpoint offers
//! ([`Service`]: upload-pack for clone and fetch, receive-pack for push) and the running child
//! ([`serve`]): the client's bytes are copied into git's stdin by a supervising task while git's
//! stdout is handed back as a stream ([`GitStream::stdout`]), so no pack is ever held in memory,
//! and how the process ended is a future ([`GitStream::exit`]), so the caller can act once git is
//! gone (a push is recorded then) without owning the process.
//!
//! The supervisor owns the process: it stops git's whole process group (SIGTERM, then SIGKILL
//! after [`TERM_GRACE`]) when the deadline passes,
//! when the input fails (the client went away mid-upload), when the stdout stream is dropped
//! before git finished writing it (the client went away mid-download) or when the server's
//! shutdown cancels it (after the grace period), and it always reaps it. It is a tracked task
//! ([`Shutdown::spawn`]).
//!
//! Invariant: nothing here knows which face (HTTP, SSH) the client came through; the face turns
//! the stream into its own body type.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitStatus;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::oneshot;
use tokio_util::io::ReaderStream;

use super::{kill_group, terminate_group, GitCommand, GitError, Subcommand};
use crate::shutdown::Shutdown;

/// Most of git's stderr kept for the log: enough for any error it prints, bounded.
const MAX_STDERR: usize = 16 * 1024;

/// How long a git process cut short gets between SIGTERM and SIGKILL: enough for git to remove
/// its lock files (its signal handlers do, in milliseconds), short next to the server's own
/// grace for its tasks at shutdown.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// Bytes copied into git's stdin, or read from its stdout, at once: large enough to move packs
/// quickly, small enough that a slow side holds the other back through the pipe or TCP rather
/// than through our memory. Reading stdout 4 KiB at a time (`ReaderStream`'s default) made each
/// chunk its own SSH packet: a clone over SSH ran at 0.77× of sshd's throughput, at 64 KiB 1.12×.
const COPY_CHUNK: usize = 64 * 1024;

/// The two services a git endpoint offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `git-upload-pack`: clone and fetch.
    UploadPack,
    /// `git-receive-pack`: push.
    ReceivePack,
}

impl Service {
    /// The service named as git names it (`git-upload-pack`), if it is one.
    pub fn parse(s: &str) -> Option<Service> {
        match s {
            "git-upload-pack" => Some(Service::UploadPack),
            "git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }

    /// git's name of the service, as clients send it and content types carry it.
    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }

    /// The subcommand that serves it.
    pub fn subcommand(self) -> Subcommand {
        match self {
            Service::UploadPack => Subcommand::UploadPack,
            Service::ReceivePack => Subcommand::ReceivePack,
        }
    }
}

/// Why a git service process was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// It ran past its deadline.
    Deadline,
    /// The client stopped reading its output.
    ClientGone,
    /// The server is shutting down (whatever else also happened at that moment).
    Shutdown,
    /// Reading the client's input failed.
    Input,
}

/// How a git service process ended; it has been reaped either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited by itself, with this status.
    Exited(ExitStatus),
    /// It was killed.
    Killed(Cut),
}

impl Exit {
    /// Whether the server's shutdown cut the process short: what it did is then left for the next
    /// start to find (a push's intent) rather than acted on by a server on its way out.
    pub fn cut_by_shutdown(&self) -> bool {
        matches!(self, Exit::Killed(Cut::Shutdown))
    }
}

/// A running git service process, seen from its client's side.
pub struct GitStream {
    /// Git's stdout, after the prefix given to [`serve`]. Dropping it before its end kills git.
    pub stdout: GitStdout,
    /// Resolves once git exited (or was killed) and was reaped.
    pub exit: GitExit,
}

/// Starts `cmd`, feeds it `input`, and returns its output as a stream that starts with `prefix`,
/// and its end as a future. Everything else happens in a supervising task bounded by `deadline`.
pub fn serve(
    shutdown: &Shutdown,
    cmd: GitCommand,
    input: impl AsyncRead + Send + Unpin + 'static,
    prefix: Option<Bytes>,
    deadline: Duration,
) -> Result<GitStream, GitError> {
    let mut child = cmd.spawn_piped()?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (done_tx, done_rx) = oneshot::channel();
    let (exit_tx, exit_rx) = oneshot::channel();
    let process = Process {
        child,
        stdin,
        stderr,
    };
    let limits = Limits {
        deadline,
        shutdown: shutdown.clone(),
    };
    shutdown.spawn(async move {
        let exit = supervise(process, input, done_rx, limits).await;
        // Nobody may be waiting (an advertisement's end is not awaited).
        let _ = exit_tx.send(exit);
    });
    Ok(GitStream {
        stdout: GitStdout {
            prefix,
            inner: ReaderStream::with_capacity(stdout, COPY_CHUNK),
            done: Some(done_tx),
        },
        exit: GitExit(exit_rx),
    })
}

/// Git's stdout as a stream; tells the supervisor when it reached its end. Dropping it earlier
/// drops the sender, which the supervisor takes as the client being gone.
pub struct GitStdout {
    prefix: Option<Bytes>,
    inner: ReaderStream<ChildStdout>,
    done: Option<oneshot::Sender<()>>,
}

impl Stream for GitStdout {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(prefix)));
        }
        let next = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        if next.is_none() {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
        Poll::Ready(next)
    }
}

/// The end of a git service process, as a future.
pub struct GitExit(oneshot::Receiver<Exit>);

impl Future for GitExit {
    type Output = Exit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Exit> {
        // The supervisor always sends unless the runtime itself went away under it, which only a
        // shutdown does.
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Exit::Killed(Cut::Shutdown)))
    }
}

/// The child and the pipes the supervisor drives.
struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: tokio::process::ChildStderr,
}

/// What may cut a git process short besides its client: its deadline and the server's shutdown.
struct Limits {
    deadline: Duration,
    shutdown: Shutdown,
}

/// Why the supervisor stopped waiting, before git exited by itself.
#[derive(Debug)]
enum Stop {
    Cut(Cut),
    Input(std::io::Error),
}

async fn supervise(
    process: Process,
    input: impl AsyncRead + Send + Unpin + 'static,
    mut done_rx: oneshot::Receiver<()>,
    limits: Limits,
) -> Exit {
    let Process {
        mut child,
        stdin,
        mut stderr,
    } = process;
    let Limits { deadline, shutdown } = limits;
    let pid = child.id();
    let mut stderr_buf = Vec::new();
    let result = {
        let mut work = Box::pin(async {
            let (fed, _) = tokio::join!(
                feed(input, stdin),
                read_bounded(&mut stderr, &mut stderr_buf)
            );
            fed.map_err(Stop::Input)?;
            child.wait().await.map_err(Stop::Input)
        });
        let sleep = tokio::time::sleep(deadline);
        tokio::pin!(sleep);
        let mut output_done = false;
        loop {
            tokio::select! {
                r = &mut work => break r,
                r = &mut done_rx, if !output_done => match r {
                    Ok(()) => output_done = true,
                    Err(_) => break Err(Stop::Cut(Cut::ClientGone)),
                },
                _ = &mut sleep => break Err(Stop::Cut(Cut::Deadline)),
                _ = shutdown.cancelled() => break Err(Stop::Cut(Cut::Shutdown)),
            }
        }
    };
    let stop = match result {
        Ok(status) => {
            if !status.success() {
                let stderr = String::from_utf8_lossy(&stderr_buf);
                tracing::warn!(%status, stderr = %stderr.trim(), "git service process failed");
            }
            return Exit::Exited(status);
        }
        Err(stop) => stop,
    };
    // Not reaped yet, so the group id is still ours to signal: first asked to stop, so a push
    // cut short leaves no ref lock behind, then killed if it does not stop.
    terminate_group(pid);
    if tokio::time::timeout(TERM_GRACE, child.wait())
        .await
        .is_err()
    {
        kill_group(pid);
        let _ = child.wait().await;
    }
    let cut = match stop {
        Stop::Input(e) => {
            tracing::info!(error = %e, "request body failed; git service process killed");
            Cut::Input
        }
        Stop::Cut(cut) => {
            match cut {
                Cut::Deadline => tracing::warn!(
                    secs = deadline.as_secs(),
                    "git service process hit its deadline and was killed"
                ),
                Cut::ClientGone => tracing::info!("client went away; git service process killed"),
                Cut::Shutdown => tracing::info!("shutting down; git service process killed"),
                Cut::Input => {}
            }
            cut
        }
    };
    // A process cut short while the server is stopping counts as cut by the shutdown, whatever
    // cut it first: its follow-up is left for the next start.
    if shutdown.is_cancelled() {
        Exit::Killed(Cut::Shutdown)
    } else {
        Exit::Killed(cut)
    }
}

/// Copies the client's input into git's stdin, then closes it. A failing read is the client's
/// failure (an error); a failing write means git stopped reading, which its exit status explains.
async fn feed(mut input: impl AsyncRead + Unpin, stdin: Option<ChildStdin>) -> std::io::Result<()> {
    let Some(mut stdin) = stdin else {
        return Ok(());
    };
    let mut buf = vec![0u8; COPY_CHUNK];
    loop {
        let n = input.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if stdin.write_all(&buf[..n]).await.is_err() {
            return Ok(());
        }
    }
}

/// Reads a stream to its end, keeping at most [`MAX_STDERR`] bytes.
async fn read_bounded(r: &mut (impl AsyncRead + Unpin), keep: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            return;
        }
        let room = MAX_STDERR.saturating_sub(keep.len());
        keep.extend_from_slice(&buf[..n.min(room)]);
    }
}
