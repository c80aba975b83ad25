//! The built-in SSH server's listening side: [`Server::new`] loads (or makes) the host key and
//! configures russh; [`Server::serve`] accepts connections on an already-bound listener (tests
//! use `127.0.0.1:0`) until the server drains, each as a tracked task that runs russh's session
//! under the limits: connections an address may have before they authenticate (over the limit,
//! a connection is closed at once), the time a connection has to authenticate, the idle time
//! (russh's inactivity timeout), and commands per principal (`handler`).
//!
//! Shutdown, as for HTTP requests: on `draining` nothing new is accepted and each connection is
//! closed as soon as it runs no command; commands get the grace period (`serve` resolves when
//! every connection ended, which `crate::server::run` awaits within it); on the server's
//! cancellation whatever still runs is cut (its git killed by `git::service`'s supervisor) and
//! the connection closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::Config;
use russh::{MethodKind, MethodSet, SshId};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handler::{Connection, Signals};
use super::host_key;
use super::limits::{Counter, Limits, Place};
use crate::app::{App, StartError};

/// How long an authentication refusal takes, whatever was refused (russh makes every refusal
/// last this long, so timing tells nothing about which keys exist). OpenSSH's client offers
/// each of its keys in turn; one second each is what OpenSSH itself costs a wrong guess.
const AUTH_REJECTION_TIME: Duration = Duration::from_secs(1);

/// How long a connection told to go away gets to close before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The SSH server, ready to serve.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    config: Arc<Config>,
    limits: Limits,
}

impl Server {
    /// Prepares to serve `listener`: loads the host key (made at first start).
    pub fn new(listener: TcpListener, app: Arc<App>) -> Result<Server, StartError> {
        let key = host_key::load_or_create(&app.ssh_host_key_file)?;
        let listen = listener
            .local_addr()
            .map_or_else(|e| e.to_string(), |a| a.to_string());
        tracing::info!(
            %listen,
            host_key = %host_key::fingerprint(&key),
            "ssh serving"
        );
        let config = Arc::new(russh_config(key, &app));
        let limits = Limits {
            unauthenticated: Counter::new(app.ssh.max_unauthenticated_per_ip),
            sessions: Counter::new(app.ssh.max_sessions_per_user),
        };
        Ok(Server {
            listener,
            app,
            config,
            limits,
        })
    }

    /// Accepts connections until `draining`, then resolves once every connection ended.
    pub async fn serve(self, draining: CancellationToken) {
        let connections = TaskTracker::new();
        let shutdown = self.app.shutdown.clone();
        loop {
            let (socket, peer) = tokio::select! {
                _ = draining.cancelled() => break,
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, most likely: wait rather than spin.
                        tracing::warn!(error = %e, "ssh accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            self.app.metrics.ssh_connection();
            let Some(place) = self.limits.unauthenticated.take(peer.ip()) else {
                self.app.metrics.ssh_refused("unauthenticated_per_ip");
                tracing::warn!(%peer, "ssh connection refused: too many unauthenticated connections from this address");
                continue;
            };
            let connection = self.connection(socket, peer, place, draining.clone());
            self.app
                .shutdown
                .spawn(connections.track_future(connection));
        }
        connections.close();
        connections.wait().await;
    }

    /// One connection, from its first byte to its end.
    fn connection(
        &self,
        socket: TcpStream,
        peer: SocketAddr,
        place: Place<std::net::IpAddr>,
        draining: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let app = self.app.clone();
        let config = self.config.clone();
        let limits = self.limits.clone();
        async move {
            let (authenticated, mut authenticated_rx) = watch::channel(false);
            let (running, mut running_rx) = watch::channel(0usize);
            let signals = Signals {
                authenticated,
                running,
            };
            let handler =
                Connection::new(app.clone(), limits, Some(peer.ip()), Some(place), signals);
            let handshake = app.ssh.handshake_timeout;
            let session = tokio::time::timeout(
                handshake,
                russh::server::run_stream(config, socket, handler),
            )
            .await;
            let session = match session {
                Ok(Ok(session)) => session,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "ssh connection failed before its key exchange");
                    return;
                }
                Err(_) => {
                    app.metrics.ssh_refused("handshake_timeout");
                    tracing::info!(%peer, "ssh connection sent no identification in time");
                    return;
                }
            };
            let handle = session.handle();
            tokio::pin!(session);
            let authenticated = async {
                tokio::time::timeout(handshake, authenticated_rx.wait_for(|a| *a))
                    .await
                    .is_ok()
            };
            let idle_after_drain = async {
                draining.cancelled().await;
                let _ = running_rx.wait_for(|n| *n == 0).await;
            };
            let end = tokio::select! {
                ended = &mut session => {
                    if let Err(e) = ended {
                        tracing::debug!(%peer, error = %e, "ssh connection ended with an error");
                    }
                    return;
                }
                false = authenticated => {
                    app.metrics.ssh_refused("handshake_timeout");
                    tracing::info!(%peer, "ssh connection did not authenticate in time");
                    End::Refuse("authentication timed out")
                }
                () = idle_after_drain => End::Drained,
                () = app.shutdown.cancelled() => End::Refuse("the server is shutting down"),
            };
            let reason = match end {
                // Its last command answered, a client hangs up by itself; one that does not
                // is told to.
                End::Drained => {
                    if tokio::time::timeout(CLOSE_GRACE, &mut session)
                        .await
                        .is_ok()
                    {
                        return;
                    }
                    "the server is shutting down"
                }
                End::Refuse(reason) => reason,
            };
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, reason.into(), "en".into())
                .await;
            let _ = tokio::time::timeout(CLOSE_GRACE, &mut session).await;
        }
    }
}

/// Why the server ends a connection.
enum End {
    /// The server drains and the connection runs no command.
    Drained,
    /// It must go now, for this reason.
    Refuse(&'static str),
}

/// russh's configuration: the host key, public keys only, the idle limit, no Nagle delay.
fn russh_config(key: PrivateKey, app: &App) -> Config {
    Config {
        server_id: SshId::Standard(
            format!("SSH-2.0-pushmirror_{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: AUTH_REJECTION_TIME,
        // OpenSSH's client starts with a "none" request to learn the methods: answering it at
        // once costs nothing and keeps a burst of clones from waiting a second each.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        inactivity_timeout: Some(app.ssh.idle_timeout),
        // Small writes (a pkt-line answer) otherwise wait for the client's delayed ACK.
        nodelay: true,
        ..Config::default()
    }
}
