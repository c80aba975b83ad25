-- pushmirror schema, SQLite flavour. Times are milliseconds since the Unix epoch (UTC);
-- booleans are 0/1 integers so one query text serves SQLite and PostgreSQL.
create table users (
    id integer primary key autoincrement,
    username text not null constraint users_username_key unique,
    name text not null,
    is_admin bigint not null default 0,
    created_at bigint not null
);

create table personal_access_tokens (
    id integer primary key autoincrement,
    user_id bigint not null references users (id) on delete cascade,
    token_hash text not null constraint tokens_hash_key unique,
    name text not null,
    created_at bigint not null
);

create table namespaces (
    id integer primary key autoincrement,
    path text not null constraint namespaces_path_key unique,
    name text not null,
    kind text not null,
    owner_id bigint references users (id) on delete cascade
);

create table projects (
    id integer primary key autoincrement,
    namespace_id bigint not null references namespaces (id) on delete cascade,
    name text not null,
    path text not null,
    description text,
    default_branch text,
    visibility text not null,
    creator_id bigint not null,
    empty_repo bigint not null default 1,
    created_at bigint not null,
    last_activity_at bigint not null,
    constraint projects_path_key unique (namespace_id, path),
    constraint projects_name_key unique (namespace_id, name)
);

create table members (
    project_id bigint not null references projects (id) on delete cascade,
    user_id bigint not null references users (id) on delete cascade,
    access_level bigint not null,
    created_at bigint not null,
    primary key (project_id, user_id)
);

create table protected_branches (
    id integer primary key autoincrement,
    project_id bigint not null references projects (id) on delete cascade,
    name text not null,
    push_access_level bigint not null,
    merge_access_level bigint not null,
    allow_force_push bigint not null default 0,
    created_at bigint not null,
    constraint protected_branches_name_key unique (project_id, name)
);

create table remote_mirrors (
    id integer primary key autoincrement,
    project_id bigint not null references projects (id) on delete cascade,
    url text not null,
    has_user bigint not null default 0,
    user_is_git bigint not null default 0,
    has_password bigint not null default 0,
    credentials blob,
    enabled bigint not null default 0,
    only_protected_branches bigint not null default 0,
    keep_divergent_refs bigint not null default 0,
    mirror_branch_regex text,
    auth_method text not null default 'password',
    ssh_public_key text,
    ssh_known_hosts text,
    update_status text not null default 'none',
    last_update_at bigint,
    last_update_started_at bigint,
    last_successful_update_at bigint,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null,
    -- The engine's durable queue: an update is wanted while wanted_seq > done_seq.
    wanted_seq bigint not null default 0,
    done_seq bigint not null default 0,
    -- The wanted_seq the running (or last) attempt covers.
    claimed_seq bigint not null default 0,
    retry_count bigint not null default 0,
    next_attempt_at bigint not null default 0,
    lease_owner text,
    lease_until bigint
);

create index remote_mirrors_project on remote_mirrors (project_id, id);
create index remote_mirrors_pending on remote_mirrors (next_attempt_at) where wanted_seq > done_seq;
