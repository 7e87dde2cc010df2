-- Audit retention (issue 14).
--
-- audit_anchor is where the kept audit log begins after a prune: the last
-- pruned event's seq, hash and time. leases lets one replica of many run
-- scheduled work (a row with an expiry, not a session advisory lock, so
-- that PgBouncer's transaction pooling keeps working).
--
-- audit_events becomes a table partitioned by time, so that a prune drops
-- whole days instead of deleting rows. The existing table is not copied:
-- it is attached as one partition covering everything up to the UTC
-- midnight after its newest event (audit_events_before_YYYYMMDD), which a
-- prune drops like any other once every event in it is below the anchor.
-- Seq, ids and hashes stay exactly as they were. Daily partitions
-- (audit_events_pYYYYMMDD) are created ahead of time by the server
-- (Store.PrepareAudit); the default partition catches any event whose day
-- has none, so an append never fails for want of a partition.
--
-- A partitioned table cannot have a primary key without the partition
-- column; seq stays unique because every append moves audit_head from
-- seq-1 conditionally (sqlstore InsertAudit), and is indexed per partition.

-- +goose Up
CREATE TABLE audit_anchor (
    id        bigint PRIMARY KEY CHECK (id = 1),
    seq       bigint NOT NULL,
    hash      bytea,
    time      timestamptz,
    pruned_at timestamptz
);
INSERT INTO audit_anchor (id, seq, hash, time, pruned_at) VALUES (1, 0, NULL, NULL, NULL);

CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER INDEX audit_events_target RENAME TO audit_events_unpartitioned_target;
ALTER INDEX audit_events_tenant RENAME TO audit_events_unpartitioned_tenant;
ALTER INDEX audit_events_time RENAME TO audit_events_unpartitioned_time;

CREATE TABLE audit_events (
    seq         bigint NOT NULL,
    id          text NOT NULL,
    time        timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    tenant_id   text NOT NULL,
    outcome     text NOT NULL,
    error_code  text NOT NULL,
    request_id  text NOT NULL,
    client_addr text NOT NULL,
    details     bytea,
    prev_hash   bytea,
    hash        bytea NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX audit_events_seq ON audit_events (seq);
CREATE INDEX audit_events_target ON audit_events (target, time);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, seq);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- +goose StatementBegin
DO $$
DECLARE
    newest timestamptz;
    bound  timestamptz;
    name   text;
BEGIN
    SELECT max(time) INTO newest FROM audit_events_unpartitioned;
    IF newest IS NULL THEN
        DROP TABLE audit_events_unpartitioned;
        RETURN;
    END IF;
    bound := (date_trunc('day', newest AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC';
    name := 'audit_events_before_' || to_char(bound AT TIME ZONE 'UTC', 'YYYYMMDD');
    -- A valid CHECK that implies the partition bound spares ATTACH its
    -- own scan under an exclusive lock.
    EXECUTE format('ALTER TABLE audit_events_unpartitioned ADD CONSTRAINT audit_events_legacy_bound CHECK (time < %L::timestamptz)', bound);
    EXECUTE format('ALTER TABLE audit_events_unpartitioned RENAME TO %I', name);
    EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)', name, bound);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Back to one table. After a prune the log no longer starts at seq 1, and
-- the older verify, which knows no anchor, reports the pruned events as
-- missing.
CREATE TABLE audit_events_flat (
    seq         bigint PRIMARY KEY,
    id          text NOT NULL,
    time        timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    tenant_id   text NOT NULL,
    outcome     text NOT NULL,
    error_code  text NOT NULL,
    request_id  text NOT NULL,
    client_addr text NOT NULL,
    details     bytea,
    prev_hash   bytea,
    hash        bytea NOT NULL
);
INSERT INTO audit_events_flat SELECT * FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_flat RENAME TO audit_events;
ALTER INDEX audit_events_flat_pkey RENAME TO audit_events_pkey;
CREATE INDEX audit_events_target ON audit_events (target, time);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, seq);
CREATE INDEX audit_events_time ON audit_events (time);
DROP TABLE leases;
DROP TABLE audit_anchor;
