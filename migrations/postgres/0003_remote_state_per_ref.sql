-- The recorded remote state moves from one text value per mirror (6 MB for 100,000 refs, read
-- and rewritten whole by every update) to a header per mirror and one row per ref, so an
-- update writes only the refs its push changed (issue 8).
--
-- The refs themselves are not converted. Each header is kept with taken_at = 0, older than any
-- update trusts: the next update of each mirror lists its remote, as after a failed update,
-- and writes the rows it finds. source_digest is kept so the start-up pass does not re-queue
-- every mirror once after the upgrade.
create table mirror_remote_states (
    mirror_id bigint primary key references remote_mirrors (id) on delete cascade,
    -- The URL the state was taken from: a state is read only for the mirror's current URL.
    url text not null,
    taken_at bigint not null,
    -- Digest of the hosted repository's branches and tags the last update pushed from (see
    -- 0002): the start-up pass re-queues every mirror whose repository has moved on since.
    source_digest text not null,
    -- Changes with every write (a random value, not a count: a header deleted and written again
    -- must not repeat a value some node still has cached). A node's cached copy of the refs is
    -- used only while the header still carries the generation it was cached with. 0: converted
    -- by this migration, never written by a node.
    generation bigint not null
);

insert into mirror_remote_states (mirror_id, url, taken_at, source_digest, generation)
select mirror_id, url, 0, source_digest, 0 from mirror_remote_refs;

drop table mirror_remote_refs;

-- One row per branch or tag the remote holds. Deleting the header deletes its refs.
create table mirror_remote_state_refs (
    mirror_id bigint not null references mirror_remote_states (mirror_id) on delete cascade,
    name text not null,
    oid text not null,
    primary key (mirror_id, name)
);
