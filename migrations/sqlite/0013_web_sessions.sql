-- Web interface sign-ins: one row per session, found by the SHA-256 of its cookie's value (the
-- value itself is never stored). A session ends at `expires_at`, at sign-out, or with its user.
create table web_sessions (
    id integer primary key autoincrement,
    token_hash text not null constraint web_sessions_token_hash_key unique,
    user_id bigint not null references users (id) on delete cascade,
    created_at bigint not null,
    expires_at bigint not null
);
create index web_sessions_user_id on web_sessions (user_id);
