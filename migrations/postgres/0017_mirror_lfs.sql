-- Push mirrors carry Git LFS objects. `lfs_sync` is what a mirror does with the objects of the
-- refs it pushes: `required` (upload first; refs are not pushed unless all objects arrived),
-- `best_effort` (upload, push the refs anyway, fail the update) or `off` (no LFS request).
-- `mirror_lfs_objects` holds the oids a mirror's remote confirmed having (its batch answer or a
-- verified upload), so each update asks only about objects new since; a full check asks about
-- all of a project's objects again and records `lfs_full_check_at` (ms).
alter table remote_mirrors add column lfs_sync text not null default 'required';
alter table remote_mirrors add column lfs_full_check_at bigint;
create table mirror_lfs_objects (
    mirror_id bigint not null references remote_mirrors (id) on delete cascade,
    oid text not null,
    confirmed_at bigint not null,
    primary key (mirror_id, oid)
);
