-- Project webhooks (GitLab's `web_hooks` of type ProjectHook) and the log of their deliveries
-- (GitLab's `web_hook_logs`). Deliveries themselves are `hook_delivery` jobs (see 0002).
create table project_hooks (
    id integer primary key autoincrement,
    project_id bigint not null references projects (id) on delete cascade,
    -- The URL as saved, credential-free, `{key}` placeholders of url_variables kept.
    url text not null,
    -- Whether the URL carried a user / a password (they are sealed in secrets): for masking.
    has_user bigint not null default 0,
    has_password bigint not null default 0,
    -- Sealed (secret.rs): the token, the URL's user and password, the url_variables values
    -- and the custom header values. Never returned, never logged.
    secrets blob,
    -- The keys of url_variables and custom_headers (not secret), one per line, as saved.
    url_variable_keys text not null default '',
    custom_header_keys text not null default '',
    name text,
    description text,
    push_events bigint not null default 1,
    push_events_branch_filter text,
    branch_filter_strategy text not null default 'wildcard',
    tag_push_events bigint not null default 0,
    remote_mirror_events bigint not null default 0,
    enable_ssl_verification bigint not null default 1,
    -- GitLab's auto-disabling state: consecutive failures, and the end of a temporary
    -- disabling (model::hooks::HookHealth decides both).
    recent_failures bigint not null default 0,
    disabled_until bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index project_hooks_project on project_hooks (project_id, id);

create table web_hook_logs (
    id integer primary key autoincrement,
    hook_id bigint not null references project_hooks (id) on delete cascade,
    -- `push_hooks`, `tag_push_hooks`, `remote_mirror_hooks`.
    trigger text not null,
    -- The hook's URL as shown (credentials masked, placeholders kept).
    url text not null,
    -- JSON objects; secret header values are `[REDACTED]`, user e-mails too.
    request_headers text not null,
    request_data text not null,
    response_headers text not null,
    -- At most 8 KB of what the receiver answered, or the error for an internal error.
    response_body text not null,
    -- The HTTP status, or `internal error` when no response came.
    response_status text not null,
    execution_duration_us bigint not null,
    -- Kept so a resend carries the event's own key and event UUID.
    idempotency_key text not null,
    event_uuid text not null,
    created_at bigint not null
);
create index web_hook_logs_hook on web_hook_logs (hook_id, created_at);
create index web_hook_logs_created on web_hook_logs (created_at);
