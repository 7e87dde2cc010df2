-- Counters for the migration report (issue 19): per tenant and per day of
-- last use, how many active keys there are. The report's active and
-- never-used counts, and its used-in-7/30-days counts but for the one day
-- the window starts in, are sums over a few hundred of these rows, not
-- counts over a million index entries. Triggers keep them exact whatever
-- changes a key (status change, use, reassignment to another tenant,
-- delete); the store adds the keys it inserts itself, one upsert per
-- tenant and day per batch (sqlstore's Dialect.TallyInserts: a row trigger
-- on INSERT would make every one-row insert of a bulk import keep a
-- statement journal, a third of its CPU at a million keys). storetest's
-- KeyTally compares them with a recount.
-- day is the UTC day of last_used_at (Unix microseconds / 86,400,000,000),
-- -1 for a key never used.

-- +goose Up
CREATE TABLE legacy_key_tally (
    tenant_id TEXT NOT NULL,
    day       INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
) STRICT;

INSERT INTO legacy_key_tally (tenant_id, day, n)
SELECT tenant_id, COALESCE(last_used_at / 86400000000, -1), COUNT(*)
FROM legacy_keys WHERE status = 'active'
GROUP BY 1, 2;

-- +goose StatementBegin
CREATE TRIGGER legacy_key_tally_update AFTER UPDATE OF tenant_id, status, last_used_at ON legacy_keys
WHEN OLD.tenant_id IS NOT NEW.tenant_id OR OLD.status IS NOT NEW.status
    OR COALESCE(OLD.last_used_at / 86400000000, -1) <> COALESCE(NEW.last_used_at / 86400000000, -1)
BEGIN
    UPDATE legacy_key_tally SET n = n - 1
    WHERE OLD.status = 'active' AND tenant_id = OLD.tenant_id
        AND day = COALESCE(OLD.last_used_at / 86400000000, -1);
    INSERT INTO legacy_key_tally (tenant_id, day, n)
    SELECT NEW.tenant_id, COALESCE(NEW.last_used_at / 86400000000, -1), 1 WHERE NEW.status = 'active'
    ON CONFLICT (tenant_id, day) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER legacy_key_tally_delete AFTER DELETE ON legacy_keys
WHEN OLD.status = 'active'
BEGIN
    UPDATE legacy_key_tally SET n = n - 1
    WHERE tenant_id = OLD.tenant_id AND day = COALESCE(OLD.last_used_at / 86400000000, -1);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER legacy_key_tally_delete;
DROP TRIGGER legacy_key_tally_update;
DROP TABLE legacy_key_tally;
