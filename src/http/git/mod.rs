//! The git endpoints of hosted repositories, and the one reading of every request path that
//! names a project ([`path`]): the router's fallback parses the path once into (project,
//! endpoint) and dispatches to smart HTTP ([`smart`]), GitLab's host-key detection web route, or
//! the project's web pages. [`auth`] reads a git caller's credentials, for smart HTTP now and
//! for git LFS and SSH next.

pub(super) mod auth;
pub(super) mod path;
pub(super) mod smart;
