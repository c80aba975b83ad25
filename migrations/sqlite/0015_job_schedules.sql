-- Recurring schedules: a job kind (with its payload) that runs every `every_ms` plus up to
-- `jitter_ms` at random, claimed with a lease like a job so one node runs each due schedule.
-- Periodic sweeps live here, and pull mirrors' intervals will.
create table job_schedules (
    name text primary key,
    kind text not null,
    payload text not null,
    every_ms bigint not null,
    jitter_ms bigint not null default 0,
    next_at bigint not null,
    lease_owner text,
    lease_until bigint
);
