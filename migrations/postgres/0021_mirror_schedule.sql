-- Gitea's push-mirror fields, beside GitLab's. `remote_name` is the name the Gitea-compatible
-- API (`/api/v1`) knows a mirror by: made by the server once (`remote_mirror_<random>`), never
-- changed, unique in its project; mirrors that existed before get `remote_mirror_<id>`.
-- `sync_interval_secs` is a periodic update beside the updates pushes trigger (0: only on push),
-- due when the last update started that long ago (or the mirror was created that long ago);
-- `sync_on_commit` = 0 makes pushes leave the mirror alone (syncs and the interval still update it).
alter table remote_mirrors add column remote_name text;
alter table remote_mirrors add column sync_interval_secs bigint not null default 0;
alter table remote_mirrors add column sync_on_commit bigint not null default 1;
update remote_mirrors set remote_name = 'remote_mirror_' || id;
create unique index remote_mirrors_remote_name on remote_mirrors (project_id, remote_name);
create index remote_mirrors_periodic on remote_mirrors (id) where sync_interval_secs > 0;
