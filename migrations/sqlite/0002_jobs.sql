-- The generic durable job queue (src/jobs): one row per pending job, unique per dedup_key.
-- Enqueuing a job whose dedup_key is pending raises its seq instead of adding a row, so any
-- number of requests while a job waits or runs coalesce into one (follow-up) run. A worker
-- claims a due job with a lease (lease_owner, lease_until), remembers the seq it covers in
-- claimed_seq, and on success deletes the row only if seq did not move meanwhile.
create table jobs (
    id integer primary key autoincrement,
    kind text not null,
    dedup_key text not null constraint jobs_dedup_key_key unique,
    payload text not null,
    run_at bigint not null,
    seq bigint not null default 1,
    claimed_seq bigint not null default 0,
    attempts bigint not null default 0,
    lease_owner text,
    lease_until bigint,
    last_error text,
    created_at bigint not null
);

create index jobs_due on jobs (run_at, id);

-- Updates wanted under the old per-mirror queue become mirror_update jobs.
insert into jobs (kind, dedup_key, payload, run_at, created_at)
select 'mirror_update', 'mirror:' || id, cast(id as text), next_attempt_at, updated_at
from remote_mirrors where wanted_seq > done_seq and enabled = 1;

drop index remote_mirrors_pending;
alter table remote_mirrors drop column wanted_seq;
alter table remote_mirrors drop column done_seq;
alter table remote_mirrors drop column claimed_seq;
alter table remote_mirrors drop column next_attempt_at;
alter table remote_mirrors drop column lease_owner;
alter table remote_mirrors drop column lease_until;

-- What the last successful update left on the remote (was a per-node file): the next update
-- plans against it instead of listing the remote. refs is "<oid> <name>" lines.
create table mirror_remote_refs (
    mirror_id bigint primary key references remote_mirrors (id) on delete cascade,
    url text not null,
    taken_at bigint not null,
    refs text not null,
    -- Digest of the hosted repository's branches and tags that update pushed from: a start-up
    -- pass re-queues every mirror whose repository has moved on since (a push whose recording
    -- was lost, a change made behind the server's back).
    source_digest text not null
);
