//! pushmirror: a self-hosted push-mirror server that speaks GitLab's v4 remote-mirrors API.
//!
//! # Layout
//! - [`model`]: the pure domain (mirror URLs, ref matching, ref planning, status machine). No I/O.
pub mod cli;
pub mod config;
pub mod credentials;
pub mod engine;
pub mod git;
pub mod hosting;
pub mod http;
pub mod model;
pub mod netcheck;
pub mod secret;
pub mod server;
pub mod store;
