//! Reaching a remote safely, for every piece of work that does: push mirror updates today, pull
//! mirrors and LFS transfers next, webhook deliveries. A [`PinnedEndpoint`] is a URL checked
//! against the network policy with its host resolved once and the address pinned; a
//! [`GitRemote`] is such an endpoint made ready for git (push, fetch, `ls-remote`; HTTP(S) with
//! an `Authorization` header, ssh through a private agent with pinned host keys); a
//! [`PinnedClient`] is an HTTP client pinned the same way; an [`LfsRemote`] is a remote's Git
//! LFS endpoint spoken to through such clients (batch, upload, verify, download), found from a
//! git remote's URL by [`LfsEndpoint`]; [`HostLimits`] bounds how much work runs against one
//! host at once (one instance, owned by `App`); and a [`RemoteFailure`] says what can fix a
//! failure, in words scrubbed of every secret.
//!
//! Invariant: nothing here knows whether it pushes or fetches, or which job it runs for; it
//! depends only on `git`, `netcheck`, `credentials` and `model`.

mod endpoint;
mod failure;
mod git;
mod host_limits;
mod http;
mod lfs;
mod lfs_endpoint;
mod lfs_wire;

pub use endpoint::PinnedEndpoint;
pub use failure::RemoteFailure;
pub use git::{GitRemote, RemoteSpec};
pub use host_limits::{host_of, HostLimits};
pub use http::PinnedClient;
pub use lfs::{LfsError, LfsRemote};
pub use lfs_endpoint::LfsEndpoint;
pub use lfs_wire::{Action, LfsOperation, ObjectAnswer};
