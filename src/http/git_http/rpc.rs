//! Running one streaming git service process for one HTTP request: the request body is copied
//! into git's stdin by a supervising task while git's stdout becomes the response body, so no pack
//! is ever held in memory. The supervisor owns the process: it kills git's whole process group
//! when the deadline passes, when the request body fails (the client went away mid-upload) or when
//! the response body is dropped before git finished writing it (the client went away
//! mid-download) or when the server's shutdown cancels it (after the grace period), and it runs
//! a follow-up (recording a push) once git has exited, whatever its status. The supervisor is a
//! tracked task, so shutdown waits for the follow-up.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::oneshot;
use tokio_util::io::ReaderStream;

use crate::git::{kill_group, GitCommand, GitError};
use crate::shutdown::Shutdown;

/// Most of git's stderr kept for the log: enough for any error it prints, bounded.
const MAX_STDERR: usize = 16 * 1024;

/// Bytes copied into git's stdin per read: large enough to move packs quickly, small enough that
/// a slow git holds back the client through TCP rather than through our memory.
const COPY_CHUNK: usize = 64 * 1024;

/// Work to do once git exited (recording a push).
pub(super) type AfterExit = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Starts `cmd`, feeds it `input`, and returns a response body made of `prefix` followed by
/// git's stdout. Everything else happens in a supervising task bounded by `deadline`.
pub(super) fn stream(
    shutdown: &Shutdown,
    cmd: GitCommand,
    input: impl AsyncRead + Send + Unpin + 'static,
    prefix: Option<Bytes>,
    deadline: Duration,
    after: Option<AfterExit>,
) -> Result<Body, GitError> {
    let mut child = cmd.spawn_piped()?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (done_tx, done_rx) = oneshot::channel();
    let stop = shutdown.clone();
    let limits = Limits {
        deadline,
        shutdown: stop,
    };
    shutdown.spawn(supervise(
        child, stdin, input, stderr, done_rx, limits, after,
    ));
    let output = Output {
        prefix,
        inner: ReaderStream::new(stdout),
        done: Some(done_tx),
    };
    Ok(Body::from_stream(output))
}

/// Git's stdout as a stream; tells the supervisor when it reached its end. Dropping it earlier
/// drops the sender, which the supervisor takes as the client being gone.
struct Output {
    prefix: Option<Bytes>,
    inner: ReaderStream<ChildStdout>,
    done: Option<oneshot::Sender<()>>,
}

impl Stream for Output {
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

/// What may cut a git process short besides its client: its deadline and the server's shutdown.
struct Limits {
    deadline: Duration,
    shutdown: Shutdown,
}

/// Why a git process was cut short.
#[derive(Debug)]
enum Cut {
    Deadline,
    ClientGone,
    Shutdown,
    Input(std::io::Error),
}

async fn supervise(
    mut child: Child,
    stdin: Option<ChildStdin>,
    input: impl AsyncRead + Send + Unpin + 'static,
    mut stderr: tokio::process::ChildStderr,
    mut done_rx: oneshot::Receiver<()>,
    limits: Limits,
    after: Option<AfterExit>,
) {
    let Limits { deadline, shutdown } = limits;
    let pid = child.id();
    let mut stderr_buf = Vec::new();
    let result = {
        let mut work = Box::pin(async {
            let (fed, _) = tokio::join!(
                feed(input, stdin),
                read_bounded(&mut stderr, &mut stderr_buf)
            );
            fed.map_err(Cut::Input)?;
            child.wait().await.map_err(Cut::Input)
        });
        let sleep = tokio::time::sleep(deadline);
        tokio::pin!(sleep);
        let mut output_done = false;
        loop {
            tokio::select! {
                r = &mut work => break r,
                r = &mut done_rx, if !output_done => match r {
                    Ok(()) => output_done = true,
                    Err(_) => break Err(Cut::ClientGone),
                },
                _ = &mut sleep => break Err(Cut::Deadline),
                _ = shutdown.cancelled() => break Err(Cut::Shutdown),
            }
        }
    };
    let exited_by_itself = result.is_ok();
    match result {
        Ok(status) if status.success() => {}
        Ok(status) => {
            let stderr = String::from_utf8_lossy(&stderr_buf);
            tracing::warn!(%status, stderr = %stderr.trim(), "git service process failed");
        }
        Err(cut) => {
            // Not reaped yet, so the group id is still ours to signal.
            kill_group(pid);
            let _ = child.wait().await;
            match cut {
                Cut::Deadline => tracing::warn!(
                    secs = deadline.as_secs(),
                    "git service process hit its deadline and was killed"
                ),
                Cut::ClientGone => tracing::info!("client went away; git service process killed"),
                Cut::Shutdown => tracing::info!("shutting down; git service process killed"),
                Cut::Input(e) => {
                    tracing::info!(error = %e, "request body failed; git service process killed")
                }
            }
        }
    }
    // Even a failed or cut receive-pack may have updated refs; the recording judges by them.
    // Cut by shutdown, the push's intent stays for the next start instead.
    if let Some(after) = after {
        if exited_by_itself || !shutdown.is_cancelled() {
            after().await;
        }
    }
}

/// Copies the request body into git's stdin, then closes it. A failing read is the client's
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
