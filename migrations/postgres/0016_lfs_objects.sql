-- Git LFS objects. The bytes live in the object store (each storage's `lfs-objects/` directory,
-- or one S3 bucket), content-addressed by oid, one copy however many projects use it; a project
-- sees an object only through its link, so knowing an oid grants nothing. `lfs_enabled` is
-- GitLab's project switch (0/1): when off, every LFS route of the project answers 404 and a push
-- of pointers is not checked.
create table lfs_objects (
    oid text primary key,
    size bigint not null,
    created_at bigint not null
);
create table lfs_object_projects (
    project_id bigint not null references projects (id) on delete cascade,
    oid text not null references lfs_objects (oid),
    created_at bigint not null,
    primary key (project_id, oid)
);
create index lfs_object_projects_oid on lfs_object_projects (oid);
alter table projects add column lfs_enabled integer not null default 1;
