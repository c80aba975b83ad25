-- Usernames, namespace paths and project paths are unique regardless of case, as in GitLab:
-- `Victor` and `victor` are one name, so a lookup can never pick "the first match". An
-- installation that already holds two such names must rename one before upgrading.
create unique index users_username_lower_key on users (lower(username));
create unique index namespaces_path_lower_key on namespaces (lower(path));
create unique index projects_path_lower_key on projects (namespace_id, lower(path));
