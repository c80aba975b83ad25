//! pushmirror: a self-hosted git server that keeps push mirrors in sync, speaking GitLab's v4 API.
//!
//! # Layout
//! Dependencies point one way: `http`, `ssh` → `service` → `store` / `remote` / `git` → `model`
//! (`remote` → `git`), and `jobs` → `service`; `app` builds them all; only the entry points (`cli`, `server`) import `http` or
//! `jobs`.
//! - [`cli`]: the command line (`serve`, `token create`, `user create`, `user set-password`,
//!   `hook post-receive`, `ssh host-key`).
//! - [`app`]: the composition root, [`app::App`], built the same way by every entry point.
//! - [`server`]: serves HTTP (and SSH) and runs the job runner until shutdown.
//! - [`shutdown`]: the one cancellation and task-tracking mechanism.
//! - [`clock`]: the one source of "now" (a manual clock in tests).
//! - [`config`]: flags > environment > TOML file > defaults.
//! - [`storage`]: the named repository storages this node serves; the one maker of repository
//!   paths.
//! - [`lfs_store`]: where git LFS objects' bytes live (each storage's directory or S3).
//! - [`metrics`]: this node's Prometheus metrics (bounded label sets).
//! - [`mail`]: notification e-mail over SMTP.
//! - [`http`]: GitLab's `/api/v4` and git smart HTTP.
//! - [`ssh`]: the built-in SSH server, a face beside `http` (git over SSH with users' and deploy
//!   keys, through the same use cases); started by [`server`] beside HTTP.
//! - [`service`]: the use cases (projects, mirrors, members, protected branches, pushes, tokens,
//!   users, webhooks),
//!   free of HTTP; handlers extract, authorise, call one and render.
//! - [`jobs`]: the durable job runner (per-queue slots, leases, recurring schedules) and the one
//!   registry of what each kind does (mirror updates, push intents, webhook deliveries, mail,
//!   sweeps).
//! - [`queue`]: typed job kinds (name, queue, dedup key, storage, JSON payload) and `enqueue`,
//!   below `service` so use cases ask for work without importing the runner.
//! - [`store`]: the database (SQLite or PostgreSQL).
//! - [`remote`]: reaching a remote safely (pinned endpoints, git remotes for push and fetch, a
//!   pinned HTTP client, per-host limits, scrubbed failures).
//! - [`git`]: the one module that spawns processes.
//! - [`model`]: the pure domain (mirror URLs, ref matching, ref planning, status machine).
//! - [`credentials`], [`secret`], [`password`], [`netcheck`]: sealed mirror credentials, the key
//!   and tokens, password hashes, resolving and checking a host against the network policy.
//! - [`token_cache`], [`sign_in_throttle`]: this node's in-memory caches of authenticated tokens
//!   and failed sign-ins, held by the composition root.
#![cfg_attr(
    fuzzing,
    doc = "- [`fuzzing`]: the HTTP edge's crate-private parsers for the fuzz targets in `fuzz/` \
           (only under `--cfg fuzzing`)."
)]
// Items are `pub(crate)` unless they are the crate's interface, which the binaries and the
// integration tests use (`unreachable_pub` flags the rest).
#![warn(unreachable_pub)]

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod credentials;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod git;
pub mod http;
pub mod jobs;
pub mod lfs_store;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod netcheck;
pub mod password;
pub mod queue;
pub mod remote;
pub mod secret;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod sign_in_throttle;
pub mod ssh;
pub mod storage;
pub mod store;
pub mod token_cache;
