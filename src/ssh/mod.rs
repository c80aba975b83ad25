//! The built-in SSH server, an edge beside `http`: git clients clone, fetch and push over SSH
//! with their users' keys or projects' deploy keys, authorised by the same use cases as smart
//! HTTP (`service::ssh_access`, `service::push_session`). It knows `service`, `git`, `model`
//! and `app`, never `http`.
//!
//! - [`server`]: listening, per-connection limits and timeouts, shutdown; started by
//!   `crate::server::run` beside HTTP.
//! - [`handler`]: one connection's SSH protocol decisions (public keys only, the login user,
//!   session channels with `exec` or `shell`, `GIT_PROTOCOL`; everything else refused).
//! - [`auth`]: which key a connection is, set only once its signature was verified.
//! - [`exec`]: one command for an authenticated principal over any three streams; the part an
//!   OpenSSH `AuthorizedKeysCommand` mode reuses.
//! - [`channel_io`], [`limits`], [`host_key`]: a channel's input as a stream, admission limits,
//!   the host key.

pub mod auth;
pub mod channel_io;
pub mod exec;
pub mod handler;
pub mod host_key;
pub mod limits;
pub mod server;

pub use server::Server;
