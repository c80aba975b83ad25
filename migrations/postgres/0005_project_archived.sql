-- Archived projects (GitLab's `archived`): read-only, and their mirrors are not pushed.
alter table projects add column archived bigint not null default 0;
