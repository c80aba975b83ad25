-- Git LFS file locks (GitLab's `lfs_file_locks`): one user holds one path of one project.
-- `path` is kept as the client sent it (git-lfs matches it byte for byte); `ref_name` is the ref
-- the client named when locking, recorded only (a lock holds its path on every branch). The
-- unique pair is what makes a second lock of a path a 409, whichever node takes it.
create table lfs_locks (
    id integer primary key autoincrement,
    project_id bigint not null references projects (id) on delete cascade,
    path text not null,
    user_id bigint not null references users (id) on delete cascade,
    ref_name text,
    created_at bigint not null,
    constraint lfs_locks_path_key unique (project_id, path)
);
create index lfs_locks_project on lfs_locks (project_id, id);
