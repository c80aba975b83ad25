-- Groups and subgroups (GitLab's nested namespaces), group memberships, and member expiry.
--
-- `namespaces.path` keeps holding a namespace's full path (`org/team/sub`; a user's username):
-- lookups, git URLs and uniqueness all want it, and full paths are unique regardless of case
-- (0004), which makes sibling paths unique too. A group's own `path` is its last segment.
-- Renaming a group rewrites the full paths (and full names) of its descendants in the same
-- transaction. `full_name` is GitLab's "Org / Team"; null means the namespace's own name.
alter table namespaces add column parent_id bigint references namespaces (id) on delete cascade;
alter table namespaces add column full_name text;
alter table namespaces add column description text;
alter table namespaces add column visibility text not null default 'private';
alter table namespaces add column project_creation_level text not null default 'developer';
alter table namespaces add column subgroup_creation_level text not null default 'maintainer';
alter table namespaces add column created_at bigint not null default 0;
create index namespaces_parent on namespaces (parent_id);
-- GitLab: a group's name is unique among its siblings.
create unique index namespaces_group_name_key on namespaces (coalesce(parent_id, 0), name)
    where kind = 'group';

-- Every group with each of its ancestors and itself (depth 0 is the group): inherited access,
-- descendants and deletion are one indexed join instead of a walk up or down the tree.
create table namespace_ancestors (
    namespace_id bigint not null references namespaces (id) on delete cascade,
    ancestor_id bigint not null references namespaces (id) on delete cascade,
    depth bigint not null,
    primary key (namespace_id, ancestor_id)
);
create index namespace_ancestors_ancestor on namespace_ancestors (ancestor_id);

-- A user's membership in a group: that access on every subgroup and project below it.
-- expires_at is YYYY-MM-DD: the membership grants nothing from the day after.
create table group_members (
    group_id bigint not null references namespaces (id) on delete cascade,
    user_id bigint not null references users (id) on delete cascade,
    access_level bigint not null,
    created_at bigint not null,
    expires_at text,
    primary key (group_id, user_id)
);
create index group_members_user on group_members (user_id);

alter table members add column expires_at text;
