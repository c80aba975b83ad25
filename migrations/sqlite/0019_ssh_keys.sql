-- SSH public keys (GitLab's `keys` table): a user's own key (`kind = 'user'`) or a deploy key
-- (`kind = 'deploy'`, owned by the user who added it and bound to projects through
-- `deploy_keys_projects`). `key` is the normalised OpenSSH line (`<type> <base64> [comment]`);
-- `fingerprint_sha256` (`SHA256:<base64>`, of the key's wire encoding) is unique across both
-- kinds, as GitLab's, and is how the SSH server finds the key a client proved it holds.
-- `expires_at` and `last_used_at` are epoch milliseconds.
create table ssh_keys (
    id integer primary key autoincrement,
    kind text not null,
    user_id bigint references users (id) on delete set null,
    title text not null,
    key text not null,
    fingerprint_md5 text not null,
    fingerprint_sha256 text not null,
    usage_type text not null default 'auth_and_signing',
    created_at bigint not null,
    expires_at bigint,
    last_used_at bigint,
    constraint ssh_keys_fingerprint_key unique (fingerprint_sha256)
);
create index ssh_keys_user on ssh_keys (user_id, id);
create index ssh_keys_md5 on ssh_keys (fingerprint_md5);
-- A deploy key enabled in a project; `can_push` is per project (GitLab's `deploy_keys_projects`).
create table deploy_keys_projects (
    id integer primary key autoincrement,
    deploy_key_id bigint not null references ssh_keys (id) on delete cascade,
    project_id bigint not null references projects (id) on delete cascade,
    can_push bigint not null default 0,
    created_at bigint not null,
    constraint deploy_keys_projects_pair_key unique (deploy_key_id, project_id)
);
create index deploy_keys_projects_project on deploy_keys_projects (project_id, id);
-- Protected branches may let a deploy key push (GitLab's `allowed_to_push: [{deploy_key_id}]`).
alter table protected_branch_access add column deploy_key_id bigint references ssh_keys (id) on delete cascade;
