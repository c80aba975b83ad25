//! The pure domain of pushmirror: everything here is deterministic, does no I/O, reads no clock it
//! was not handed, and knows nothing of JSON or SQL. Most unit tests live here.

pub mod access;
pub mod accounts;
pub mod authorized_keys;
pub mod branch_filter;
pub mod cidr;
pub mod clone_url;
pub mod entities;
pub mod errors;
pub mod git_failure;
pub mod go_duration;
pub mod groups;
pub mod hooks;
pub mod host_keys;
pub mod lfs;
pub mod lfs_locks;
pub mod membership;
pub mod mirror_settings;
pub mod naming;
pub mod notifications;
pub mod plan;
pub mod pull;
pub mod pull_health;
pub mod push_rules;
pub mod refmatch;
pub mod sign_in;
pub mod ssh_command;
pub mod ssh_keys;
pub mod status;
pub mod storage;
pub mod time;
pub mod tokens;
pub mod url;

/// The GitLab version pushmirror answers as (`GET /version`, and the `User-Agent: GitLab/<version>`
/// of webhook deliveries): the newest one whose remote-mirror API it matches.
pub const GITLAB_VERSION: &str = "18.6.0";
