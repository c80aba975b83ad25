//! The use cases, callable from the API, the command line, the web interface and job kinds
//! alike: each takes typed input and returns domain values or a [`error::ServiceError`]. No HTTP
//! types here; handlers extract parameters, authorise, call a service and render its result.
//! Multi-row changes run in one store transaction.
//!
//! - [`dashboard`]: every mirror a person may see, failing first, and how far behind each is.
//! - [`projects`]: find a project as a caller sees it, create one with its repository, move one
//!   to another namespace, delete one.
//! - [`groups`]: find, create, change and delete groups and subgroups.
//! - [`namespaces`]: find a namespace as a caller sees it, and whether they may put projects there.
//! - [`mirrors`]: create, update, sync and delete push mirrors (URL checks, key generation and
//!   rotation, the enabled-mirror limit).
//! - [`mirror_sync`]: one update of one push mirror (GitLab's sync algorithm through `remote`),
//!   and the start-up sweeps of abandoned and stale updates.
//! - [`imports`]: import a repository by URL into a new project (a durable, cancellable job);
//!   [`pull_mirrors`]: a project's pull mirror (settings, syncs now and on schedule);
//!   [`pull_sync`]: bringing an upstream's refs in, recorded as a push; [`upstreams`]: where
//!   both fetch from, checked and sealed as push mirrors' remotes; [`pull_outcomes`]: a sync's
//!   end recorded with its health change (webhooks, the e-mail) and metrics.
//! - [`ssh_host_keys`]: detect a remote's SSH host keys so they can be pinned.
//! - [`members`] (of projects and groups, with expiry), [`protected_branches`]: manage who may do
//!   what.
//! - [`push_session`]: a change of refs as one use case (judge, intent, git moves the refs,
//!   record), whether a push, the repository API, the post-receive hook or a fetch made it.
//! - [`lfs_integrity`]: refuse a push that changes a path another user locked in LFS, or whose
//!   LFS pointers name objects the project lacks.
//! - [`pushes`]: decide which pushed refs are refused, and record pushes (durably, via intents).
//! - [`repository`]: read branches, tags and commits; create and delete branches and tags.
//! - [`auth`]: authenticate tokens and issue them.
//! - [`lfs_locks`]: git LFS file locks (take, list, verify for a push, release).
//! - [`hooks`]: project webhooks (the API's use cases), the push and mirror events they are
//!   sent, and their delivery.
//! - [`lfs`]: git LFS hosting (access, the batch decision, transfer grants, upload and
//!   download, removing unlinked objects).
//! - [`notifications`]: the failure e-mail to a mirror's Maintainers, once per streak.
//! - [`statistics`]: a project's statistics (commits, repository and LFS bytes).
//! - [`users`]: users as administrators manage them (create, change, block).
//! - [`ssh_keys`]: users' SSH keys and projects' deploy keys (add, list, look up, enable,
//!   disable), with GitLab's rules.

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod groups;
pub mod hooks;
pub mod imports;
pub mod lfs;
pub mod lfs_integrity;
pub mod lfs_locks;
pub mod members;
pub mod mirror_jobs;
pub mod mirror_sync;
pub mod mirrors;
pub mod namespaces;
pub mod notifications;
pub mod projects;
pub mod protected_branches;
pub mod pull_mirrors;
pub mod pull_outcomes;
pub mod pull_sync;
pub mod push_session;
pub mod pushes;
pub mod refusal;
pub mod repository;
pub mod sessions;
pub mod ssh_access;
pub mod ssh_host_keys;
pub mod ssh_keys;
pub mod statistics;
pub mod upstreams;
pub mod users;
