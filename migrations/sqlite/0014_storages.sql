-- Named repository storages: every project lives on one (`default` for all that existed before),
-- and a job that touches a repository carries its storage, so only a node serving that storage
-- claims it (null: any node). The default branch's head is recorded with each push, so pages
-- that show how far a mirror is behind read the database, not a node's disk.
alter table projects add column storage text not null default 'default';
alter table projects add column default_branch_head text;
alter table jobs add column storage text;
