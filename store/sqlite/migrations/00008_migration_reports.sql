-- Reports at a million keys (issue 19): the migration report's counts come
-- from indexes instead of a scan of every key, holders carry the time
-- their newest key entered authz (so that a just-imported holder is "new",
-- not "token-only"), an import batch resolves its owners by external id
-- without reading the whole tenant, and the holder-state counts are kept
-- per tenant per day.

-- +goose Up
-- When the key entered authz (issued, imported, rotated in). created_at
-- may be the old system's creation time; this is when authz began to
-- watch the key.
ALTER TABLE legacy_keys ADD COLUMN added_at INTEGER;
UPDATE legacy_keys SET added_at = created_at;

-- Replaces legacy_keys_owner (a prefix of it): per holder, the counts of
-- the migration report read this index only.
DROP INDEX legacy_keys_owner;
CREATE INDEX legacy_keys_holder ON legacy_keys (owner_id, tenant_id, status, last_used_at, added_at);
-- Per tenant: active, used since, never used, each an index range. New
-- keys land at one end of it (last_used_at NULL), so imports pay little.
CREATE INDEX legacy_keys_usage ON legacy_keys (tenant_id, status, last_used_at);

-- Every principal, tombstones included, by external id.
CREATE INDEX principals_tenant_external ON principals (tenant_id, external_id);

-- One row per tenant per day: counts by holder state (JSON object
-- state → count) and active keys. Kept a year.
CREATE TABLE migration_history (
    tenant_id   TEXT NOT NULL,
    day         INTEGER NOT NULL,
    counts      TEXT NOT NULL,
    active_keys INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
) STRICT;
CREATE INDEX migration_history_day ON migration_history (day);

-- +goose Down
DROP TABLE migration_history;
DROP INDEX principals_tenant_external;
DROP INDEX legacy_keys_usage;
DROP INDEX legacy_keys_holder;
CREATE INDEX legacy_keys_owner ON legacy_keys (owner_id, tenant_id);
ALTER TABLE legacy_keys DROP COLUMN added_at;
