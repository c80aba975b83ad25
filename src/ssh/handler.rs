//! One SSH connection's protocol decisions (russh's [`Handler`]): public keys only, through
//! [`Authentication`]; session channels only, at most [`MAX_CHANNELS`] at once; on a session,
//! `env GIT_PROTOCOL` (kept when safe), then one `exec` (the command) or `shell` (the welcome),
//! run by [`exec::run`] in a tracked task while the connection goes on. Refused: pty, X11, agent
//! forwarding, subsystems, other environment variables, every kind of port forwarding (russh
//! refuses channel kinds and global requests this handler does not accept).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use russh::keys::ssh_key;
use russh::server::{
    Auth, ChannelOpenHandle, Handler, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, ChannelOpenFailure, ChannelWriteHalf, Pty};
use tokio::sync::watch;

use super::auth::{AppKeys, Authentication, Decision};
use super::channel_io;
use super::exec::{self, Io};
use super::limits::{Limits, Place, PrincipalKey};
use crate::app::App;
use crate::service::ssh_access::{KeyHolder, SshPrincipal};

/// Session channels one connection may have open at once (OpenSSH's `MaxSessions`): git uses
/// one; the bound keeps one connection from holding many idle channels.
pub const MAX_CHANNELS: usize = 10;

/// What a connection reports to the server's loop around it.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Becomes true once the connection authenticated.
    pub authenticated: watch::Sender<bool>,
    /// How many commands the connection runs now.
    pub running: watch::Sender<usize>,
}

/// One connection's state.
pub struct Connection {
    app: Arc<App>,
    limits: Limits,
    keys: AppKeys,
    auth: Authentication,
    peer: Option<IpAddr>,
    /// The connection's place among its address's unauthenticated ones, until it authenticates.
    unauthenticated: Option<Place<IpAddr>>,
    signals: Signals,
    /// Session channels opened and not yet running a command, with the `GIT_PROTOCOL` asked for.
    channels: HashMap<ChannelId, (Channel<Msg>, Option<String>)>,
}

impl Connection {
    /// A new connection from `peer`, holding `unauthenticated` until it authenticates.
    pub fn new(
        app: Arc<App>,
        limits: Limits,
        peer: Option<IpAddr>,
        unauthenticated: Option<Place<IpAddr>>,
        signals: Signals,
    ) -> Connection {
        Connection {
            keys: AppKeys(app.clone()),
            auth: Authentication::new(&app.ssh.user),
            app,
            limits,
            peer,
            unauthenticated,
            signals,
            channels: HashMap::new(),
        }
    }

    fn reject(&self, decision: Decision) -> Auth {
        if let Decision::Reject(result) = decision {
            self.app.metrics.ssh_auth(result);
            tracing::debug!(peer = ?self.peer, result, "ssh key refused");
        }
        Auth::reject()
    }

    /// Starts `command` on `channel`: the channel is acknowledged and handed to a tracked task.
    fn start(
        &mut self,
        channel: ChannelId,
        command: Vec<u8>,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        let (Some((opened, protocol)), Some(principal)) = (
            self.channels.remove(&channel),
            self.auth.principal().cloned(),
        ) else {
            // A second command on one channel, or none authenticated: not a thing git does.
            return session.channel_failure(channel);
        };
        session.channel_success(channel)?;
        // Counted before the task starts, so a server draining meanwhile waits for it.
        self.signals.running.send_modify(|n| *n += 1);
        let run = Run {
            app: self.app.clone(),
            limits: self.limits.clone(),
            running: self.signals.running.clone(),
            principal,
        };
        self.app.shutdown.spawn(run.on(opened, command, protocol));
        Ok(())
    }
}

/// One command and what it needs, moved into its task.
struct Run {
    app: Arc<App>,
    limits: Limits,
    running: watch::Sender<usize>,
    principal: Arc<SshPrincipal>,
}

impl Run {
    async fn on(self, channel: Channel<Msg>, command: Vec<u8>, protocol: Option<String>) {
        let (read, write) = channel.split();
        let mut stderr = write.make_writer_ext(Some(1));
        let key = match &self.principal.holder {
            KeyHolder::User(user) => PrincipalKey::User(user.id),
            KeyHolder::Deploy { .. } => PrincipalKey::Key(self.principal.key_id),
        };
        let status = match self.limits.sessions.take(key) {
            None => {
                self.app.metrics.ssh_refused("sessions_per_user");
                tracing::warn!(name = ?self.principal.name(), "too many ssh sessions at once");
                let text = b"fatal: Too many concurrent sessions for this user; try again later.\n";
                let _ = tokio::io::AsyncWriteExt::write_all(&mut stderr, text).await;
                1
            }
            Some(_place) => {
                let _metric = self.app.metrics.ssh_session_started();
                let io = Io {
                    stdin: channel_io::reader(read),
                    stdout: write.make_writer(),
                    stderr,
                };
                exec::run(
                    &self.app,
                    &self.principal,
                    &command,
                    protocol.as_deref(),
                    io,
                )
                .await
            }
        };
        self.answer(&write, status).await;
        // Only now, its answer queued, is the command over for a draining server (counted
        // from `Connection::start`).
        self.running.send_modify(|n| *n -= 1);
    }

    /// Tells the client how its command ended, then closes the channel; a client already gone
    /// cannot be told.
    async fn answer(&self, write: &ChannelWriteHalf<Msg>, status: u32) {
        let _ = write.exit_status(status).await;
        let _ = write.eof().await;
        let _ = write.close().await;
    }
}

/// The SSH wire encoding of a public key, which keys are looked up by.
fn blob(key: &ssh_key::PublicKey) -> Option<Vec<u8>> {
    key.to_bytes().ok()
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let Some(blob) = blob(offer.public_key) else {
            return Ok(self.reject(Decision::Reject("unknown_key")));
        };
        Ok(match self.auth.offered(&self.keys, user, &blob).await {
            Decision::Accept => Auth::Accept,
            refused => self.reject(refused),
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let Some(blob) = blob(key.public_key) else {
            return Ok(self.reject(Decision::Reject("unknown_key")));
        };
        Ok(match self.auth.verified(&self.keys, user, &blob).await {
            Decision::Accept => {
                self.app.metrics.ssh_auth("accepted");
                Auth::Accept
            }
            refused => self.reject(refused),
        })
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        self.unauthenticated = None;
        let _ = self.signals.authenticated.send(true);
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.auth.principal().is_none() || self.channels.len() >= MAX_CHANNELS {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channels.insert(channel.id(), (channel, None));
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        variable_name: &str,
        variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let safe = (variable_name == "GIT_PROTOCOL")
            .then(|| exec::git_protocol(variable_value))
            .flatten();
        match (safe, self.channels.get_mut(&channel)) {
            (Some(value), Some((_, protocol))) => {
                *protocol = Some(value);
                session.channel_success(channel)
            }
            _ => session.channel_failure(channel),
        }
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // No shell ever runs, so no terminal is ever needed (gitlab-sshd refuses it too).
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, Vec::new(), session)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, data.to_vec(), session)
    }
}
