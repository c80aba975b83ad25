-- Protected branches get GitLab EE's access lists: each rule lets any of several roles or
-- users push, merge or unprotect (`allowed_to_push` and friends). The single push and merge
-- levels become the first entries of those lists.
create table protected_branch_access (
    id integer primary key autoincrement,
    protected_branch_id bigint not null references protected_branches (id) on delete cascade,
    action text not null,
    access_level bigint,
    user_id bigint references users (id) on delete cascade
);
create index protected_branch_access_rule on protected_branch_access (protected_branch_id);
insert into protected_branch_access (protected_branch_id, action, access_level)
    select id, 'push', push_access_level from protected_branches;
insert into protected_branch_access (protected_branch_id, action, access_level)
    select id, 'merge', merge_access_level from protected_branches;
alter table protected_branches drop column push_access_level;
alter table protected_branches drop column merge_access_level;
alter table protected_branches add column code_owner_approval_required bigint not null default 0;
