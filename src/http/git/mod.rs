//! The git endpoints of hosted repositories, and the one reading of every request path that
//! names a project ([`path`]): the router's fallback parses the path once into (project,
//! endpoint) and dispatches to smart HTTP ([`smart`]), git LFS ([`lfs`]), GitLab's host-key
//! detection web route, or the project's web pages. [`auth`] reads a git caller's credentials,
//! for smart HTTP and git LFS now and for SSH next.

pub(super) mod auth;
pub(super) mod lfs;
pub(super) mod path;
pub(super) mod smart;
