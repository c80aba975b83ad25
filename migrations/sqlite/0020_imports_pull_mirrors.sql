-- Imports and pull mirrors (issue 22). A project's import (`project_imports`, one row per
-- imported project, GitLab's `import_state`): the source URL without credentials (sealed apart
-- in `credentials`, as a mirror's), how far it got (`status`: scheduled, started, finished,
-- failed, canceled), the scrubbed `error`, a `correlation_id` for logs, and what it brought.
create table project_imports (
    project_id bigint primary key references projects (id) on delete cascade,
    url text not null,
    has_user bigint not null default 0,
    user_is_git bigint not null default 0,
    has_password bigint not null default 0,
    credentials blob,
    auth_method text not null default 'password',
    ssh_public_key text,
    ssh_known_hosts text,
    status text not null,
    error text,
    correlation_id text not null,
    created_at bigint not null,
    started_at bigint,
    finished_at bigint,
    refs_imported bigint not null default 0,
    lfs_objects bigint not null default 0
);
-- A project's pull mirror (one at most, GitLab's `mirror` project settings): the upstream and
-- its sealed credentials, the ref filter, the sync interval (`interval_secs`, due again at
-- `next_sync_at`), the status fields push mirrors have, the consecutive failures that pause it
-- (`paused`) and the refs its last sync skipped because they diverged (`diverged_refs`, one per
-- line).
create table pull_mirrors (
    id integer primary key autoincrement,
    project_id bigint not null references projects (id) on delete cascade,
    url text not null,
    has_user bigint not null default 0,
    user_is_git bigint not null default 0,
    has_password bigint not null default 0,
    credentials blob,
    auth_method text not null default 'password',
    ssh_public_key text,
    ssh_known_hosts text,
    enabled bigint not null default 0,
    only_protected_branches bigint not null default 0,
    overwrite_diverged bigint not null default 0,
    mirror_branch_regex text,
    trigger_builds bigint not null default 0,
    interval_secs bigint not null default 1800,
    update_status text not null default 'none',
    last_update_at bigint,
    last_update_started_at bigint,
    last_successful_update_at bigint,
    last_error text,
    failures bigint not null default 0,
    paused bigint not null default 0,
    diverged_refs text,
    next_sync_at bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    constraint pull_mirrors_project_key unique (project_id)
);
create index pull_mirrors_due on pull_mirrors (next_sync_at) where enabled = 1 and paused = 0;
