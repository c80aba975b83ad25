//! pushmirror: a self-hosted push-mirror server that speaks GitLab's v4 remote-mirrors API.
//!
//! # Layout
//! - [`model`]: the pure domain (mirror URLs, ref matching, ref planning, status machine). No I/O.
pub mod model;
