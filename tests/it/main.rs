//! The one integration-test binary. Every area is a module, so `cargo test --test it <area>::`
//! runs one of them, and the crate is linked once instead of once per file.
//!
//! `common` is the harness: the in-process server and its builder, the typed API client, the
//! real `pushmirror` binary as a child process, fresh PostgreSQL databases and bounded polling.
//! `remotes` (real git servers on 127.0.0.1) stays at `tests/remotes/` because the bench binary
//! (`src/bin/bench`) includes it from there.

mod common;
#[path = "../remotes/mod.rs"]
mod remotes;

mod acceptance;
mod api;
mod bad_input;
mod bench_smoke;
mod case_insensitive;
mod contract;
mod durability;
mod engine;
mod gitea_api;
mod gitea_api_contract;
mod group_members;
mod groups_api;
mod hooks;
mod import_graph;
mod job_runner;
mod lfs_fetch;
mod lfs_hosting;
mod lfs_integrity;
mod lfs_lock_push;
mod lfs_locks;
mod lfs_memory;
mod lfs_mirror;
mod members_users;
mod monitoring;
mod nested_projects;
mod notifications;
mod process_lifetime;
mod projects_api;
mod protected_ee;
mod protected_push;
mod pull_durability;
mod pull_mirror_events;
mod pull_mirrors;
mod pull_sources;
mod push_session;
mod remote_fetch;
mod remotes_selftest;
mod repository_api;
mod smart_http;
mod ssh;
mod ssh_hosting;
mod ssh_keys_api;
mod ssh_openssh;
mod storages;
mod tidy;
mod tokens_api;
mod users_admin;
mod web_browser;
mod web_dashboard;
mod web_imports;
mod web_pages;
mod web_projects;
mod web_settings;
mod web_sign_in;
mod web_ssh_keys;
