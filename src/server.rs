//! Running a server: serve HTTP (and, when given a listener, SSH) on already-bound listeners and
//! run the job runner beside them, until `stop` resolves; then shut down as one mechanism (see
//! ARCHITECTURE.md, Shutdown). Taking bound listeners lets tests start the real server on
//! `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::app::{App, AppState, StartError};
use crate::http::app as router;
use crate::jobs::Runner;

/// How long tracked tasks get to end once they were cancelled (a git process being killed, a
/// lease being released) before the server exits regardless.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Serves HTTP on `listener` and SSH on `ssh` (none: no SSH) and runs the job runner until
/// `stop` resolves. Then: the runner stops claiming and its running jobs are cancelled (their
/// processes killed, their leases released, so a restart resumes them at once); the listeners
/// stop accepting; in-flight requests and SSH commands get `app.shutdown_grace` to finish;
/// whatever still runs then is cancelled; tracked tasks get [`CANCEL_GRACE`] to end; and the
/// function returns.
pub async fn run(
    listener: TcpListener,
    ssh: Option<TcpListener>,
    app: Arc<App>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // The host key is loaded (or made) before anything is served: a bad one stops the start.
    let ssh = ssh
        .map(|l| crate::ssh::Server::new(l, app.clone()))
        .transpose()?;
    // Before anything can start git here: no git of ours runs, so any lock is a killed one's.
    // Each storage is served by one node, so no other node's git runs in these either.
    match app.storages.remove_stale_locks() {
        Ok(0) => {}
        Ok(n) => tracing::warn!(locks = n, "removed lock files a killed git left behind"),
        Err(e) => tracing::warn!(error = %e, "cannot look for stale lock files"),
    }
    crate::service::projects::record_missing_heads(&app).await;
    crate::service::lfs::gc::at_start(&app).await;
    if !app.tuning.api_only {
        Runner::new(app.clone()).start();
    }
    // Without TCP_NODELAY, a small write that follows another (a streamed git response, the
    // last chunk of a body) waits for the client's delayed ACK: up to 40 ms per exchange.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let shutdown = app.shutdown.clone();
    let draining = tokio_util::sync::CancellationToken::new();
    // The peer address is what the monitoring allowlist checks.
    let service =
        router(AppState(app.clone())).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let serve =
        axum::serve(listener, service).with_graceful_shutdown(draining.clone().cancelled_owned());
    let mut serve = std::pin::pin!(std::future::IntoFuture::into_future(serve));
    let ssh = ssh.map(|s| shutdown.spawn(s.serve(draining.clone())));
    let mut ssh_done = std::pin::pin!(async move {
        if let Some(task) = ssh {
            let _ = task.await;
        }
    });
    let stop = async {
        stop.await;
        tracing::info!(grace_secs = app.shutdown_grace.as_secs(), "shutting down");
    };
    let served = tokio::select! {
        r = &mut serve => {
            shutdown.cancel();
            r
        }
        _ = stop => {
            // The runner stops at once; requests (pushes among them) get the grace period.
            shutdown.cancel_jobs();
            draining.cancel();
            let both = async {
                let r = (&mut serve).await;
                (&mut ssh_done).await;
                r
            };
            match tokio::time::timeout(app.shutdown_grace, both).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("requests still running after the grace period; cancelling them");
                    Ok(())
                }
            }
        }
    };
    shutdown.cancel();
    if !shutdown.wait(CANCEL_GRACE).await {
        tracing::warn!("some tasks did not end in time");
    }
    served.map_err(StartError::Serve)
}
